/* transform.h - feature filters and value transforms (relative abundance, log, CLR, standard
 * scaling) fitted on training samples and applied to any samples, so that cross-validation
 * never lets test samples shape their own features. */
#ifndef MICROLENS_TRANSFORM_H
#define MICROLENS_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"
#include "microlens/table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_transform_kind {
    ML_TRANSFORM_NONE = 0, /* "none": raw table values */
    ML_TRANSFORM_RELAB,    /* "relab": value / sample total over ALL features */
    ML_TRANSFORM_LOG,      /* "log": ln(relab + log_pseudocount) */
    ML_TRANSFORM_CLR       /* "clr": centred log-ratio of raw values over the kept features */
} ml_transform_kind;

/* Defaults and where they come from.
 * LOG works on relative abundances, not counts: ln(count + c) keeps sequencing depth in every
 * feature and a classifier then learns depth; relative abundances remove it, and are what
 * MetaPhlAn reports anyway (MetAML, Pasolli et al. 2016, use them). 1e-6 sits below the
 * smallest non-zero relative abundance of a 10^5-read sample, so zeros stay the lowest value.
 * CLR works on the raw values with 0.5 added, as for counts in ALDEx2/Aitchison practice and
 * in microlens inspect (ML_INSPECT_CLR_PSEUDOCOUNT); CLR ignores the scale of x but not the
 * pseudocount's size relative to x, so for relative-abundance tables (MetaPhlAn, values that
 * sum to 1 or 100) pass a smaller one, e.g. 1e-6 or half the smallest non-zero value. */
#define ML_TRANSFORM_LOG_PSEUDOCOUNT 1e-6
#define ML_TRANSFORM_CLR_PSEUDOCOUNT 0.5

#define ML_TRANSFORM_OPTIONS_VERSION 1
typedef struct ml_transform_options {
    int version;            /* ML_TRANSFORM_OPTIONS_VERSION */
    ml_transform_kind kind; /* value transform; default ML_TRANSFORM_CLR */
    /* Keep a feature if the fraction of training samples where it is > 0 is >= this.
     * Fraction in [0, 1]; default 0 (keep all); example 0.1 (present in 10% of samples). */
    double min_prevalence;
    /* Keep a feature if its mean relative abundance over training samples is >= this.
     * Fraction in [0, 1]; default 0 (keep all); example 1e-4 (0.01%). Zero-total samples
     * count as all-zero. */
    double min_abundance;
    /* After the two filters, keep only the top_k features by mean relative abundance over
     * training samples (ties: lower table index first). Count; default 0 (no limit);
     * example 256. */
    size_t top_k;
    /* Added to relative abundances before ln() in LOG. > 0; default 1e-6. */
    double log_pseudocount;
    /* Added to raw values before ln() in CLR. > 0; default 0.5 (counts). */
    double clr_pseudocount;
    /* Standardise each output to mean 0, population std 1 over the training samples, as
     * scikit-learn's StandardScaler (ddof 0; a constant feature gets scale 1); default false. */
    bool scale;
} ml_transform_options;
#define ML_TRANSFORM_OPTIONS_INIT                                                             \
    { ML_TRANSFORM_OPTIONS_VERSION, ML_TRANSFORM_CLR, 0.0, 0.0, 0, ML_TRANSFORM_LOG_PSEUDOCOUNT, \
      ML_TRANSFORM_CLR_PSEUDOCOUNT, false }

typedef struct ml_transform ml_transform;

/* ^Fits filters (and the scaler) on the training samples `rows[0..n_rows)` of t; rows == NULL
 * means every sample, and then n_rows must equal ml_table_n_samples(t). opts NULL: defaults.
 * Kept features keep their table order.
 * ^ML_EINVAL naming the option for a bad version, kind, fraction or pseudocount; for no rows,
 * a row index out of range, or when no feature passes the filters. *out untouched on failure. */
ml_status ml_transform_fit(ml_transform **out, const ml_table *t, const size_t *rows,
                           size_t n_rows, const ml_transform_options *opts);

/* ^Number of outputs (kept features). */
size_t ml_transform_n_outputs(const ml_transform *tf);
/* ^Table feature index of output k (k < ml_transform_n_outputs). */
size_t ml_transform_output_feature(const ml_transform *tf, size_t k);
/* ^Feature ID of output k as it was in the fitted table; borrowed from tf. */
const char *ml_transform_output_feature_id(const ml_transform *tf, size_t k);

/* ^Transforms samples rows[0..n_rows) of t (rows NULL: all, n_rows must equal the sample count)
 * into dst, (n_rows, n_outputs) row-major, using only statistics from the fit.
 * ^ML_EINVAL if t's feature count differs from the fitted table's, if a kept feature's ID
 * differs, or a row index is out of range; dst is then untouched. */
ml_status ml_transform_apply(const ml_transform *tf, const ml_table *t, const size_t *rows,
                             size_t n_rows, double *dst);

/* ^The fitted scaler: *mean and *scale (ml_transform_n_outputs values each), borrowed from tf,
 * so that a fitted transform can be saved. ML_EINVAL when tf was fitted without scaling;
 * out-params untouched then. */
ml_status ml_transform_scaler(const ml_transform *tf, const double **mean, const double **scale);

/* ^Rebuilds a fitted transform from saved parameters: outputs are feature_ids[0..n) in that
 * order (all kept; opts' filters are not applied again), kind and pseudocounts from opts, and,
 * when opts->scale, the scaler's mean and scale (n values each; scale > 0). The result acts on
 * tables whose features are exactly feature_ids (ml_transform_apply) or on dense values
 * (ml_transform_apply_dense). Strings and arrays are copied.
 * ^ML_EINVAL for bad options, n == 0, a NULL or repeated ID, a missing, non-finite or
 * non-positive scaler value; *out untouched on failure. */
ml_status ml_transform_from_params(ml_transform **out, const ml_transform_options *opts,
                                   const char *const *feature_ids, size_t n, const double *mean,
                                   const double *scale);

/* ^Transforms samples given as raw values of the outputs' features: x (n_rows, n_outputs)
 * row-major, each value finite and >= 0, aligned with ml_transform_output_feature_id; totals
 * (n_rows) each sample's sum over ALL its features (relab and log divide by it; NULL: the
 * row sums of x). Writes (n_rows, n_outputs) to dst, which may be x. Lets a caller whose
 * table has other features (a saved model on new data) map them by ID first.
 * ^ML_EINVAL for a negative or non-finite value in x or totals; dst untouched then. */
ml_status ml_transform_apply_dense(const ml_transform *tf, const double *x, const double *totals,
                                   size_t n_rows, double *dst);

void ml_transform_free(ml_transform *tf); /* NULL: no-op */

/* ^Parses "none", "relab", "log" or "clr" (case-insensitive); ML_EINVAL otherwise. */
ml_status ml_transform_kind_parse(ml_transform_kind *out, const char *name);
/* ^"none", "relab", "log", "clr"; "unknown" outside the enum. */
const char *ml_transform_kind_name(ml_transform_kind k);

#ifdef __cplusplus
}
#endif
#endif
