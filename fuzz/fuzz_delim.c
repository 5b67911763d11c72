/* fuzz_delim.c - hostile bytes into the TSV/CSV reader with automatic orientation; the
 * separator is the one a first line with a tab suggests, as the format sniffer would pick. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "data/readers.h"
#include "microlens/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A table that came back must keep the promises of microlens/table.h. */
static void check_table(const ml_table *t, bool allow_negative) {
    size_t n_features = ml_table_n_features(t), nnz = 0;
    for (size_t i = 0; i < ml_table_n_samples(t); i++) {
        const uint32_t *f;
        const double *v;
        size_t n;
        ml_table_row(t, i, &f, &v, &n);
        for (size_t k = 0; k < n; k++) {
            if (f[k] >= n_features || (k > 0 && f[k] <= f[k - 1])) __builtin_trap();
            if (!(allow_negative ? v[k] != 0.0 : v[k] > 0.0) || !isfinite(v[k])) __builtin_trap();
        }
        nnz += n;
        if (!ml_table_sample_raw_id(t, i)) __builtin_trap();
    }
    if (nnz != ml_table_nnz(t)) __builtin_trap();
    volatile size_t touched = 0; /* reading every string lets ASan see a bad one */
    for (size_t j = 0; j < n_features; j++) {
        const char *tax = ml_table_feature_taxonomy(t, j);
        touched += strlen(ml_table_feature_id(t, j)) + (tax ? strlen(tax) : 0);
    }
    (void)touched;
    if (strncmp(ml_table_layout_note(t), "samples as ", 11) != 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const hints[] = {"S1", "S2", "P1"};
    const char *buf = (const char *)data;
    const char *nl = memchr(buf, '\n', size);
    size_t first = nl ? (size_t)(nl - buf) : size;
    char sep = memchr(buf, '\t', first) ? '\t' : ',';
    ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
    o.hint_sample_ids = hints;
    o.n_hint_sample_ids = 3;
    o.allow_negative = size % 2 == 1; /* feature matrices (embeddings) on odd-length inputs */
    ml_table *t = NULL;
    if (ml__delim_parse(&t, buf, size, "fuzz.tsv", sep, &o) == ML_OK) {
        check_table(t, o.allow_negative);
        ml_table_free(t);
    }
    return 0;
}
