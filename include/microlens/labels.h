/* labels.h - sample metadata (label CSV, QIIME 2 metadata TSV) and its join with a table. */
#ifndef MICROLENS_LABELS_H
#define MICROLENS_LABELS_H

#include <stddef.h>

#include "microlens/error.h"
#include "microlens/pseudonym.h"
#include "microlens/table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ml_labels ml_labels;

#define ML_LABELS_OPTIONS_VERSION 1
typedef struct ml_labels_options {
    int version;            /* ML_LABELS_OPTIONS_VERSION */
    /* Label column by header name; NULL: "label" if present, else the second column. */
    const char *label_col;
    /* Group (patient) column by name; NULL: "group" if present, else no groups. */
    const char *group_col;
} ml_labels_options;
#define ML_LABELS_OPTIONS_INIT {ML_LABELS_OPTIONS_VERSION, NULL, NULL}

/* ^Reads a label file. Separator: tab if the header has tabs, else comma (RFC 4180 quotes).
 * The ID column is the leftmost header among sid, SID, srs_id, ERS_ID, #SampleID, sample-id,
 * sampleid, sample_id, id, #Sample ID, #OTU ID (QIIME 2 spellings, case-insensitive where
 * QIIME is), else the first column. A QIIME "#q2:types" line and '#' comment lines are skipped.
 * Without label_col the label column is "label", else the first column that is not the ID
 * column. Blank rows are skipped; fields are trimmed of spaces. Missing-value markers (empty,
 * NA, N/A, nan, null, None, #N/A, and QIIME's INSDC:missing terms such as "not applicable",
 * "missing", "not collected", "not provided", "restricted access"; any case) give no label.
 * ^ML_EFORMAT "FILE:LINE: ..." on ragged rows, duplicate or empty IDs; ML_ENOTFOUND if a
 * named column is absent (the message lists the columns). *out untouched on failure. */
ml_status ml_labels_read(ml_labels **out, const char *path, const ml_labels_options *opts);
ml_status ml_labels_parse(ml_labels **out, const char *buf, size_t len, const char *name,
                          const ml_labels_options *opts);
void ml_labels_free(ml_labels *l); /* NULL: no-op */

size_t ml_labels_count(const ml_labels *l);
const char *ml_labels_raw_id(const ml_labels *l, size_t i);   /* sensitive, borrowed */
/* Label text of row i, or NULL when empty or a missing-value marker (NA, nan, empty). */
const char *ml_labels_value(const ml_labels *l, size_t i);
const char *ml_labels_group(const ml_labels *l, size_t i);    /* NULL when no group column */
const char *ml_labels_label_column(const ml_labels *l);       /* the column actually used */
const char *ml_labels_group_column(const ml_labels *l);       /* NULL when none */
const char *ml_labels_id_column(const ml_labels *l);

/* The join of a table with labels: per table sample, its class and group. */
typedef struct ml_join ml_join;

/* ^Joins on raw IDs. positive: the class value counted as positive (index 1) in a binary
 * problem; NULL picks the second class in sorted order. Classes are the distinct labels of
 * the table's samples, sorted by strcmp, with the positive class moved last; a sample whose
 * label is a missing-value marker has no class. ML_EINVAL if positive names no class present
 * (the message lists the classes). *out untouched on failure; t and l may be freed after. */
ml_status ml_join_new(ml_join **out, const ml_table *t, const ml_labels *l, const char *positive);
/* ^As ml_join_new, for tables whose IDs may already be pseudonyms (an embeddings file):
 * when key is given and EVERY table sample ID has the pseudonym shape, each label ID is
 * pseudonymised with key and matched against them (a label ID that already is a pseudonym
 * is matched as it stands, never hashed again); otherwise raw IDs are matched. key NULL:
 * exactly ml_join_new. With the wrong key nothing matches: every sample is without label. */
ml_status ml_join_new_keyed(ml_join **out, const ml_table *t, const ml_labels *l,
                            const char *positive, const ml_pseudonym_key *key);
void ml_join_free(ml_join *j); /* NULL: no-op */

size_t ml_join_n_samples(const ml_join *j);                      /* the table's sample count */
size_t ml_join_n_classes(const ml_join *j);
const char *ml_join_class_name(const ml_join *j, size_t c);
/* The positive class (the last one): the one named to ml_join_new, else the second of exactly
 * two classes; NULL when none was named and there are not exactly two. Borrowed from j. */
const char *ml_join_positive(const ml_join *j);
/* Class index of table sample i, or -1 when it has no label. */
int ml_join_class_of(const ml_join *j, size_t sample);
size_t ml_join_class_count(const ml_join *j, size_t c);          /* labelled samples in c */
size_t ml_join_n_groups(const ml_join *j);                       /* 0 without group column */
/* Group index of table sample i, or -1 when it has none. */
long ml_join_group_of(const ml_join *j, size_t sample);
size_t ml_join_n_samples_without_label(const ml_join *j);
size_t ml_join_n_labels_without_sample(const ml_join *j);
/* Index (into the label file's rows) of the k-th label whose ID is not in the table. */
size_t ml_join_label_without_sample(const ml_join *j, size_t k);

#ifdef __cplusplus
}
#endif
#endif
