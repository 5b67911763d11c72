/* table.h - the one in-memory abundance table (samples x features, CSR over samples) and
 * the readers that fill it from TSV/CSV, MetaPhlAn, BIOM 1.0 JSON and BIOM 2.1 HDF5. */
#ifndef MICROLENS_TABLE_H
#define MICROLENS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ml_table ml_table;

typedef enum ml_table_format {
    ML_FORMAT_AUTO = 0,  /* sniffed from the bytes (HDF5 magic, '{', clade_name, delimiter) */
    ML_FORMAT_TSV,
    ML_FORMAT_CSV,
    ML_FORMAT_METAPHLAN,
    ML_FORMAT_BIOM_JSON, /* BIOM 1.0 */
    ML_FORMAT_BIOM_HDF5  /* BIOM 2.1 */
} ml_table_format;

typedef enum ml_orientation {
    ML_ORIENT_AUTO = 0,        /* detected; the reason is kept (ml_table_layout_note) */
    ML_ORIENT_SAMPLES_AS_ROWS,
    ML_ORIENT_SAMPLES_AS_COLUMNS
} ml_orientation;

typedef enum ml_rank {
    ML_RANK_KINGDOM = 0, ML_RANK_PHYLUM, ML_RANK_CLASS, ML_RANK_ORDER, ML_RANK_FAMILY,
    ML_RANK_GENUS, ML_RANK_SPECIES, ML_RANK_STRAIN
} ml_rank;

#define ML_TABLE_READ_OPTIONS_VERSION 1
typedef struct ml_table_read_options {
    int version;                 /* ML_TABLE_READ_OPTIONS_VERSION */
    ml_table_format format;      /* default ML_FORMAT_AUTO */
    ml_orientation orientation;  /* TSV/CSV only; default ML_ORIENT_AUTO */
    ml_rank rank;                /* MetaPhlAn only; default ML_RANK_SPECIES */
    /* Optional sample IDs known from a label file: when given, orientation detection picks the
     * axis whose names match them. Borrowed for the duration of the call. */
    const char *const *hint_sample_ids;
    size_t n_hint_sample_ids;
    /* Feature matrices such as embeddings: any finite value, negatives included; default
     * false (abundances: a negative value is an error). TSV/CSV only; the MetaPhlAn and BIOM
     * readers ignore it and always refuse negatives. */
    bool allow_negative;
} ml_table_read_options;
#define ML_TABLE_READ_OPTIONS_INIT                                                            \
    { ML_TABLE_READ_OPTIONS_VERSION, ML_FORMAT_AUTO, ML_ORIENT_AUTO, ML_RANK_SPECIES, NULL, 0, \
      false }

/* ^Reads the table at path into *out (caller frees with ml_table_free).
 * ^ML_EFORMAT with "FILE:LINE[:COL]: what (expected)" or the BIOM field path on bad input;
 * ML_EIO if the file cannot be read; *out untouched on failure. */
ml_status ml_table_read(ml_table **out, const char *path, const ml_table_read_options *opts);

/* ^Same as ml_table_read over bytes in memory; name is used in messages. */
ml_status ml_table_parse(ml_table **out, const void *data, size_t len, const char *name,
                         const ml_table_read_options *opts);

void ml_table_free(ml_table *t); /* NULL: no-op */

size_t ml_table_n_samples(const ml_table *t);
size_t ml_table_n_features(const ml_table *t);
size_t ml_table_nnz(const ml_table *t);

/* The raw sample identifier as it stands in the input. Sensitive: callers must not print,
 * log or store it (use ml_pseudonym_make); borrowed from t. */
const char *ml_table_sample_raw_id(const ml_table *t, size_t sample);
const char *ml_table_feature_id(const ml_table *t, size_t feature);       /* borrowed */
const char *ml_table_feature_taxonomy(const ml_table *t, size_t feature); /* NULL if none */

/* CSR view of sample i: *n entries with ascending feature indices and non-zero finite
 * values, all > 0 unless the table was read with allow_negative. Pointers borrowed from t. */
void ml_table_row(const ml_table *t, size_t sample, const uint32_t **features,
                  const double **values, size_t *n);
/* Sum of sample i's values (its sequencing depth for count tables). */
double ml_table_row_sum(const ml_table *t, size_t sample);

/* Which reader filled the table ("tsv", "csv", "metaphlan", "biom-json", "biom-hdf5"). */
const char *ml_table_format_name(const ml_table *t);
/* One sentence on the layout and why it was chosen, e.g. orientation detection. */
const char *ml_table_layout_note(const ml_table *t);

/* ^Copies sample i into a dense row of length n_features (zeros where absent). */
void ml_table_dense_row(const ml_table *t, size_t sample, double *dst);

/* ^Parses "species", "genus", ... (case-insensitive) into *out; ML_EINVAL otherwise. */
ml_status ml_rank_parse(ml_rank *out, const char *name);
const char *ml_rank_name(ml_rank r);

#ifdef __cplusplus
}
#endif
#endif
