/* evaluate.h - leakage-safe cross-validated evaluation of a binary classifier on a table
 * (transform and scaler fitted inside each training fold, optional nested grid search), its
 * report (JSON, text, fold assignment), and model bundles: the final refit saved to a folder
 * and loaded back to score new tables. No plotting and no multi-class problems. */
#ifndef MICROLENS_EVALUATE_H
#define MICROLENS_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/classify.h"
#include "microlens/error.h"
#include "microlens/eval.h"
#include "microlens/labels.h"
#include "microlens/table.h"
#include "microlens/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CLR pseudocount for evaluate: 1, as the issue specifies for counts (ln(x+1)), where
 * transform.h's own default is 0.5. */
#define ML_EVALUATE_CLR_PSEUDOCOUNT 1.0
/* Bootstrap resamples of the pooled ROC-AUC CI: the usual choice. */
#define ML_EVALUATE_N_BOOT 1000

/* Which fit a hook call reports (see ml_evaluate_options.on_fit). */
typedef enum ml_evaluate_stage {
    ML_EVALUATE_OUTER = 0, /* an outer training fold; scored = the outer test fold */
    ML_EVALUATE_INNER,     /* a grid point on an inner fold; scored = the inner validation fold */
    ML_EVALUATE_FINAL      /* the final refit of a bundle (scored empty) or its inner search */
} ml_evaluate_stage;

/* One fit, as seen by the hook. Arrays are borrowed for the call; rows are table samples. */
typedef struct ml_evaluate_fit_info {
    ml_evaluate_stage stage;
    size_t repeat, fold;     /* outer repeat and fold (0 for FINAL) */
    size_t inner_fold;       /* INNER, or FINAL's search: the inner fold; else 0 */
    size_t grid_point;       /* grid combination fitted; 0 without a grid */
    int is_search;           /* 1 for inner-search fits (INNER, and FINAL's search) */
    const size_t *train;
    size_t n_train;
    const size_t *scored;
    size_t n_scored;
} ml_evaluate_fit_info;

#define ML_EVALUATE_OPTIONS_VERSION 1
typedef struct ml_evaluate_options {
    int version;                  /* ML_EVALUATE_OPTIONS_VERSION */
    ml_classifier_options model;  /* default ML_CLASSIFIER_OPTIONS_INIT (logreg, L2, C=1) */
    /* Fitted on each training fold only. Default: CLR, pseudocount 1, scale true, no filters. */
    ml_transform_options transform;
    /* Stratified K-fold (default), stratified group K-fold or leave-one-group-out; the group
     * kinds need the join's groups. */
    ml_split_kind split;
    size_t n_folds;               /* K >= 2; default 5; ignored by leave-one-group-out */
    size_t n_repeats;             /* >= 1; default 1; each repeat reshuffles (stream = repeat) */
    uint64_t seed;                /* splits and bootstrap; default 42 */
    /* Nested CV: the grid (ml_grid_parse syntax, e.g. "C=0.01,0.1,1") searched by inner CV
     * on each outer training fold; NULL or "" (default): no tuning. Borrowed for the call. */
    const char *grid;
    size_t n_inner_folds;         /* inner K >= 2; default 3 (grouped when the split is) */
    size_t n_boot;                /* bootstrap resamples; default 1000 */
    /* Called after each outer fold (done, total = repeats x folds); NULL: none. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
    /* Called before every classifier fit with the rows it trains on and scores (tests use it
     * to prove no test row is ever seen in training or tuning); NULL: none. */
    void (*on_fit)(void *ctx, const ml_evaluate_fit_info *info);
    void *on_fit_ctx;
} ml_evaluate_options;
#define ML_EVALUATE_OPTIONS_INIT                                                              \
    {ML_EVALUATE_OPTIONS_VERSION, ML_CLASSIFIER_OPTIONS_INIT,                                 \
     {ML_TRANSFORM_OPTIONS_VERSION, ML_TRANSFORM_CLR, 0.0, 0.0, 0,                            \
      ML_TRANSFORM_LOG_PSEUDOCOUNT, ML_EVALUATE_CLR_PSEUDOCOUNT, true},                       \
     ML_SPLIT_STRATIFIED_KFOLD, 5, 1, 42, NULL, 3, ML_EVALUATE_N_BOOT, NULL, NULL, NULL, NULL}

typedef struct ml_evaluation ml_evaluation;

/* ^Cross-validates the pipeline (transform [+ scaler] + classifier) on the labelled samples of
 * t joined with j: exactly 2 classes, the join's positive class is 1; unlabelled samples are in
 * no fold. Every transform, scaler and classifier is fitted on training rows only; with a grid
 * the inner search sees only the outer training rows. Metrics per fold and pooled out-of-fold
 * per repeat (ROC-AUC, average precision, F1, accuracy, balanced accuracy, confusion at the
 * classifier's threshold), mean and sample sd (n-1) over folds, and a percentile bootstrap
 * 95% CI of repeat 0's pooled ROC-AUC.
 * ^ML_EINVAL for bad options, not exactly 2 classes, a group split without groups, more
 * repeats than 1 with leave-one-group-out, folds that cannot be made (see ml_split_assign),
 * or a fit that fails (the message says which repeat and fold). *out untouched on failure;
 * the caller frees it with ml_evaluation_free. t and j must stay unchanged during the call. */
ml_status ml_evaluate(ml_evaluation **out, const ml_table *t, const ml_join *j,
                      const ml_evaluate_options *o);
void ml_evaluation_free(ml_evaluation *e); /* NULL: no-op */

size_t ml_evaluation_n_repeats(const ml_evaluation *e);
size_t ml_evaluation_n_folds(const ml_evaluation *e); /* folds per repeat */
/* ^Fold of table sample i in a repeat, or -1 when it has no label (or out of range). */
int ml_evaluation_fold_of(const ml_evaluation *e, size_t repeat, size_t sample);
/* ^Out-of-fold score of sample i in a repeat; NaN when it has no label (or out of range). */
double ml_evaluation_score(const ml_evaluation *e, size_t repeat, size_t sample);
/* ^Pooled out-of-fold ROC-AUC, averaged over repeats. */
double ml_evaluation_pooled_roc_auc(const ml_evaluation *e);
/* ^"sha256:" + 64 hex digits over the table's (sample ID, feature ID, value) entries and each
 * sample's class, independent of sample and feature order; borrowed from e. It reveals no ID. */
const char *ml_evaluation_fingerprint(const ml_evaluation *e);

/* ^The report as one JSON document (model, transform, cv, n_samples, n_positive, pooled,
 * pooled_by_repeat, mean, sd, ci95, folds[], fingerprint); caller frees with ml_free. */
ml_status ml_evaluation_json(const ml_evaluation *e, char **json);
/* ^The same as human-readable text; caller frees with ml_free. */
ml_status ml_evaluation_text(const ml_evaluation *e, char **text);
/* ^Writes "sample_index,repeat,fold" lines (header first; sample_index the 0-based table row;
 * unlabelled samples omitted) to path atomically. ML_EIO if it cannot be written; a previous
 * file at path is then untouched. */
ml_status ml_evaluation_write_folds(const ml_evaluation *e, const char *path);

/* ---- Model bundles -------------------------------------------------------------------- */

/* A fitted pipeline with what is needed to use it on new data: the feature list, transform
 * and scaler parameters, the classifier and a card of provenance. */
typedef struct ml_model_bundle ml_model_bundle;

/* ^Fits the final model on all labelled samples with o's settings. With a grid, the grid is
 * searched by inner CV (o->n_inner_folds, grouped when o->split is a group kind) on all
 * labelled samples - legitimate for a final model, whose performance estimate comes from the
 * nested CV, and the card says so. Errors as ml_evaluate; *out untouched on failure. */
ml_status ml_model_bundle_fit(ml_model_bundle **out, const ml_table *t, const ml_join *j,
                              const ml_evaluate_options *o);

/* ^Saves the bundle into folder dir (created if missing): model.safetensors (tensors
 * "classifier.<name>" as ml_classifier_param lists them, "transform.mean" and
 * "transform.scale" F64 [n_features] when scaled) and card.json (settings, features,
 * transform, classes, positive class, data fingerprint, cv summary from cv when not NULL,
 * microlens version). Each file is written atomically, card.json last.
 * ^ML_EIO if a file cannot be written. */
ml_status ml_model_bundle_save(const ml_model_bundle *b, const char *dir,
                               const ml_evaluation *cv);

/* ^Loads a bundle saved by ml_model_bundle_save. ML_ENOTFOUND if a file is missing;
 * ML_EFORMAT "DIR/card.json: field: what (expected)" for a malformed card or tensors that do
 * not fit it. *out untouched on failure. */
ml_status ml_model_bundle_load(ml_model_bundle **out, const char *dir);

/* ^Scores samples rows[0..n) of t (rows NULL: all, n must equal the sample count): t's
 * features are matched to the bundle's by ID; unknown ones are ignored (but still count in a
 * sample's total for relab and log), missing ones are zero. ML_EINVAL for a row out of range;
 * score untouched on failure. */
ml_status ml_model_bundle_predict(const ml_model_bundle *b, const ml_table *t,
                                  const size_t *rows, size_t n, double *score);
/* ^Counts t's features unknown to the bundle and the bundle's features absent from t. */
ml_status ml_model_bundle_match(const ml_model_bundle *b, const ml_table *t, size_t *n_unknown,
                                size_t *n_missing);

size_t ml_model_bundle_n_features(const ml_model_bundle *b);
const char *ml_model_bundle_feature_id(const ml_model_bundle *b, size_t k); /* borrowed */
const char *ml_model_bundle_positive(const ml_model_bundle *b);             /* borrowed */
const char *ml_model_bundle_fingerprint(const ml_model_bundle *b);          /* borrowed */
/* ^The score above which a sample is predicted positive (0.5, or 0 for svm). */
double ml_model_bundle_threshold(const ml_model_bundle *b);
void ml_model_bundle_free(ml_model_bundle *b); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
