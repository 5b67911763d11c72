/* fuzz_labels.c - hostile bytes into ml_labels_parse (options picked by the first byte), then
 * a join against a table holding every other parsed ID, so that join.c sees fuzzed labels. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "microlens/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const label_names[4] = {NULL, "label", "Diagnosis", "sid"};
static const char *const group_names[4] = {NULL, "group", "subject", "label"};
static const char *const positives[4] = {NULL, "1", "Cesarean", "A"};

/* A one-feature table with every other label ID, in reverse order. */
static ml_table *table_from_labels(const ml_labels *l) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    size_t idx, dup, f;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    if (ml__tb_add_feature(tb, "otu", 3, NULL, &f, &dup) != ML_OK) goto fail;
    for (size_t i = ml_labels_count(l); i-- > 0;) {
        if (i % 2) continue;
        const char *id = ml_labels_raw_id(l, i);
        if (ml__tb_add_sample(tb, id, strlen(id), &idx, &dup) != ML_OK) goto fail;
        if (ml__tb_add_value(tb, idx, f, 1.0 + (double)i) != ML_OK) goto fail;
    }
    if (ml__tb_finish(tb, "fuzz", "tsv", "", &t) != ML_OK) return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

static void exercise_join(const ml_labels *l, uint8_t opt) {
    ml_table *t = table_from_labels(l);
    ml_join *j = NULL;
    if (t && ml_join_new(&j, t, l, positives[(opt >> 4) & 3]) == ML_OK) {
        size_t sum = 0;
        for (size_t c = 0; c < ml_join_n_classes(j); c++) sum += ml_join_class_count(j, c);
        for (size_t s = 0; s < ml_table_n_samples(t); s++)
            if (ml_join_class_of(j, s) < 0) sum++;
        if (sum != ml_table_n_samples(t)) abort(); /* every sample has a class or none */
        for (size_t k = 0; k < ml_join_n_labels_without_sample(j); k++)
            if (ml_join_label_without_sample(j, k) >= ml_labels_count(l)) abort();
        ml_join_free(j);
    }
    ml_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t opt = data[0];
    ml_labels_options o = ML_LABELS_OPTIONS_INIT;
    o.label_col = label_names[opt & 3];
    o.group_col = group_names[(opt >> 2) & 3];
    ml_labels *l = NULL;
    if (ml_labels_parse(&l, (const char *)data + 1, size - 1, "fuzz.csv", &o) != ML_OK) return 0;
    for (size_t i = 0; i < ml_labels_count(l); i++) {
        const char *v = ml_labels_value(l, i), *g = ml_labels_group(l, i);
        if (!ml_labels_raw_id(l, i)[0]) abort(); /* empty IDs are refused */
        if (v && !v[0]) abort();                 /* empty labels are missing */
        if (g && !g[0]) abort();
    }
    if (!ml_labels_label_column(l) || !ml_labels_id_column(l)) abort();
    if (opt & 0x40) exercise_join(l, opt);
    ml_labels_free(l);
    return 0;
}
