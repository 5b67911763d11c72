/* fuzz_metaphlan.c - hostile bytes into the MetaPhlAn reader and sniffer; the first byte
 * picks the rank (byte % 8, so ASCII '0'..'7' name kingdom..strain in corpus files). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "data/readers.h"
#include "microlens/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_table(const ml_table *t) {
    size_t n_features = ml_table_n_features(t);
    for (size_t i = 0; i < ml_table_n_samples(t); i++) {
        const uint32_t *f;
        const double *v;
        size_t n;
        ml_table_row(t, i, &f, &v, &n);
        for (size_t k = 0; k < n; k++) {
            if (f[k] >= n_features || (k > 0 && f[k] <= f[k - 1])) __builtin_trap();
            if (!(v[k] > 0.0) || !isfinite(v[k])) __builtin_trap();
        }
    }
    for (size_t j = 0; j < n_features; j++) {
        const char *tax = ml_table_feature_taxonomy(t, j);
        if (!tax || strcmp(tax, ml_table_feature_id(t, j)) != 0) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
    o.rank = (ml_rank)(data[0] % 8);
    const char *buf = (const char *)data + 1;
    (void)ml__metaphlan_sniff(buf, size - 1);
    ml_table *t = NULL;
    if (ml__metaphlan_parse(&t, buf, size - 1, "fuzz/P1.profile.txt", &o) == ML_OK) {
        check_table(t);
        ml_table_free(t);
    }
    return 0;
}
