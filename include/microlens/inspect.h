/* inspect.h - the dataset report behind `microlens data inspect`: size, depth, label
 * balance, groups, unmatched IDs, duplicate and outlier samples (poisoning defence). */
#ifndef MICROLENS_INSPECT_H
#define MICROLENS_INSPECT_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"
#include "microlens/labels.h"
#include "microlens/pseudonym.h"
#include "microlens/table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outliers: a sample's Aitchison distance (Euclidean distance between CLR vectors, pseudocount
 * 0.5) to the feature-wise median CLR profile, scored by the modified z-score
 * 0.6745 (d - median(d)) / MAD(d) of Iglewicz & Hoaglin (1993); above 3.5 is an outlier. */
#define ML_INSPECT_OUTLIER_Z 3.5
#define ML_INSPECT_CLR_PSEUDOCOUNT 0.5

typedef struct ml_inspect_report ml_inspect_report;

#define ML_INSPECT_OPTIONS_VERSION 1
typedef struct ml_inspect_options {
    int version;         /* ML_INSPECT_OPTIONS_VERSION */
    bool show_raw_ids;   /* put raw IDs beside pseudonyms in lists; default false */
    size_t max_listed;   /* cap on each listed set (duplicates, outliers, unmatched); 20 */
    bool per_sample;     /* also list every sample: pseudonym, depth, observed features */
} ml_inspect_options;
#define ML_INSPECT_OPTIONS_INIT {ML_INSPECT_OPTIONS_VERSION, false, 20, false}

/* ^Computes the report. j may be NULL (no labels). key makes the pseudonyms in lists. */
ml_status ml_inspect(ml_inspect_report **out, const ml_table *t, const ml_labels *l,
                     const ml_join *j, const ml_pseudonym_key *key,
                     const ml_inspect_options *opts);
void ml_inspect_report_free(ml_inspect_report *r); /* NULL: no-op */

/* ^The report as one JSON document (caller frees with ml_free). */
ml_status ml_inspect_report_json(const ml_inspect_report *r, char **json);
/* ^The report as human-readable text (caller frees with ml_free). */
ml_status ml_inspect_report_text(const ml_inspect_report *r, char **text);

#ifdef __cplusplus
}
#endif
#endif
