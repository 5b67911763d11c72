/* fuzz_biom_json.c - hostile bytes into the BIOM 1.0 JSON reader; it checks only that the
 * reader returns (a table or a message) without crashing, leaking or invoking UB. */
#include <stdint.h>
#include <stdlib.h>

#include "data/readers.h"
#include "microlens/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ml_table *t = NULL;
    if (ml__biom_json_parse(&t, (const char *)data, size, "fuzz.json", NULL) == ML_OK) {
        for (size_t i = 0; i < ml_table_n_samples(t); i++) (void)ml_table_row_sum(t, i);
        ml_table_free(t);
    }
    return 0;
}
