/* table.h - internals of ml_table and the builder every reader fills it through. */
#ifndef ML_DATA_TABLE_H
#define ML_DATA_TABLE_H

#include <stdbool.h>

#include "microlens/table.h"
#include "util/strmap.h"

struct ml_table {
    size_t n_samples, n_features, nnz;
    char **sample_ids;       /* raw, sensitive */
    char **feature_ids;
    char **feature_taxonomy; /* NULL, or one entry per feature (entries may be NULL) */
    size_t *row_ptr;         /* (n_samples + 1) */
    uint32_t *col_idx;       /* (nnz), ascending within a row */
    double *values;          /* (nnz), finite and > 0 */
    char format[16];
    char layout_note[512];
};

/* Collects samples, features and (sample, feature, value) entries in any order, then sorts
 * them into CSR. Readers own one, and either finish it or free it. */
typedef struct ml__table_builder ml__table_builder;

ml_status ml__tb_new(ml__table_builder **out);
void ml__tb_free(ml__table_builder *tb); /* NULL: no-op */

/* Adds a sample ID (copied). If the ID was already added, *dup_of receives the index of
 * the first one and nothing is added; otherwise *dup_of is SIZE_MAX and *idx the new index. */
ml_status ml__tb_add_sample(ml__table_builder *tb, const char *id, size_t id_len, size_t *idx,
                            size_t *dup_of);
/* Same for a feature; taxonomy may be NULL. */
ml_status ml__tb_add_feature(ml__table_builder *tb, const char *id, size_t id_len,
                             const char *taxonomy, size_t *idx, size_t *dup_of);
/* Records a value; zeros are dropped. The caller has checked v is finite and >= 0.
 * The same (sample, feature) pair added twice is an error raised by ml__tb_finish. */
ml_status ml__tb_add_value(ml__table_builder *tb, size_t sample, size_t feature, double v);

size_t ml__tb_n_samples(const ml__table_builder *tb);
size_t ml__tb_n_features(const ml__table_builder *tb);

/* Finishes into *out; the builder is consumed (freed) whatever the result.
 * format and note fill ml_table_format_name / ml_table_layout_note.
 * ML_EFORMAT (message names source) if one (sample, feature) pair was given twice. */
ml_status ml__tb_finish(ml__table_builder *tb, const char *source, const char *format,
                        const char *note, ml_table **out);

#endif
