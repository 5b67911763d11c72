/* eval.h - binary classification metrics (ROC-AUC, average precision, threshold metrics,
 * bootstrap CI, curves) and leakage-safe cross-validation fold assignment. No model fitting
 * here (classify.h) and no file output. */
#ifndef MICROLENS_EVAL_H
#define MICROLENS_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Metrics. y[i] in {0, 1}; score[i] finite (higher means more likely positive). ---- */

/* ^ROC-AUC as the Mann-Whitney statistic: the probability that a random positive scores
 * above a random negative, ties counted as 1/2 (equal to scikit-learn's roc_auc_score).
 * O(n log n). ML_EINVAL if a label is not 0/1, a score is not finite, or one class is
 * absent (AUC undefined); *auc untouched on failure. */
ml_status ml_roc_auc(double *auc, const double *score, const int *y, size_t n);

/* ^Average precision exactly as scikit-learn's average_precision_score: sum over distinct
 * score thresholds (descending) of (R_k - R_{k-1}) * P_k, no interpolation; tied scores form
 * one threshold. ML_EINVAL as ml_roc_auc, and when there is no positive. */
ml_status ml_average_precision(double *ap, const double *score, const int *y, size_t n);

/* Counts and rates at one threshold; predicted positive means score > threshold. */
typedef struct ml_binary_metrics {
    size_t tp, fp, tn, fn;
    double accuracy;          /* (tp+tn)/n */
    double balanced_accuracy; /* mean recall over the classes present in y (scikit-learn) */
    double precision;         /* tp/(tp+fp); 0 when tp+fp = 0 (scikit-learn's zero_division) */
    double recall;            /* tp/(tp+fn); 0 when there is no positive */
    double specificity;       /* tn/(tn+fp); 0 when there is no negative */
    double f1;                /* 2tp/(2tp+fp+fn); 0 when that is 0/0 */
} ml_binary_metrics;

/* ^Confusion matrix and threshold metrics; threshold is 0.5 for probabilities and 0 for
 * decision values (see ml_classifier_threshold). A score equal to the threshold counts as
 * negative, like scikit-learn's predict. ML_EINVAL for a bad label, a NaN score or n == 0;
 * *out untouched on failure. */
ml_status ml_binary_metrics_compute(ml_binary_metrics *out, const double *score, const int *y,
                                    size_t n, double threshold);

/* ^Percentile-bootstrap 95% CI of ROC-AUC: n_boot resamples of n with replacement (seeded),
 * AUC of each, then the 2.5th and 97.5th percentiles with linear interpolation (numpy's
 * default). Resamples holding one class only have no AUC and are skipped; *n_used says how
 * many counted. ML_EINVAL as ml_roc_auc, if n_boot == 0, or if every resample was skipped;
 * outputs untouched on failure. n_boot: 1000 is the usual choice. */
ml_status ml_roc_auc_bootstrap_ci(double ci95[2], size_t *n_used, const double *score,
                                  const int *y, size_t n, size_t n_boot, uint64_t seed);

/* Points of a curve: n_points entries per array, owned by the curve. */
typedef struct ml_curve {
    size_t n_points;
    double *x;          /* ROC: false positive rate; PR: recall */
    double *y;          /* ROC: true positive rate; PR: precision */
    double *threshold;  /* score threshold (predict positive when score >= threshold) */
} ml_curve;

/* ^ROC curve at every distinct score (scikit-learn's roc_curve with drop_intermediate=False):
 * first point (0, 0) at threshold +inf, then thresholds descending, last point (1, 1).
 * ML_EINVAL as ml_roc_auc; *out untouched on failure; free with ml_curve_free. */
ml_status ml_roc_curve(ml_curve **out, const double *score, const int *y, size_t n);
/* ^Precision-recall curve as scikit-learn 1.2's precision_recall_curve: every distinct score
 * in ascending threshold order, then the final point (recall 0, precision 1, threshold +inf).
 * ML_EINVAL as ml_average_precision. */
ml_status ml_pr_curve(ml_curve **out, const double *score, const int *y, size_t n);
void ml_curve_free(ml_curve *c); /* NULL: no-op */

/* ---- Cross-validation folds ---- */

typedef enum ml_split_kind {
    ML_SPLIT_STRATIFIED_KFOLD = 0,   /* shuffled; per fold, each class count within 1 */
    ML_SPLIT_STRATIFIED_GROUP_KFOLD, /* whole groups per fold, class balance greedy */
    ML_SPLIT_LEAVE_ONE_GROUP_OUT     /* one fold per group (n_folds ignored) */
} ml_split_kind;

#define ML_SPLIT_OPTIONS_VERSION 1
typedef struct ml_split_options {
    int version;        /* ML_SPLIT_OPTIONS_VERSION */
    ml_split_kind kind; /* default ML_SPLIT_STRATIFIED_KFOLD */
    size_t n_folds;     /* K >= 2; default 5 */
    uint64_t seed;      /* default 42 */
    size_t repeat;      /* repetition number: each gives an independent shuffle of the same
                         * seed (stream `repeat`); default 0. Leave-one-group-out ignores it. */
} ml_split_options;
#define ML_SPLIT_OPTIONS_INIT {ML_SPLIT_OPTIONS_VERSION, ML_SPLIT_STRATIFIED_KFOLD, 5, 42, 0}

/* ^Assigns a test fold to each sample: fold[i] in [0, *n_folds_out), or -1 when y[i] < 0
 * (unlabelled: in no fold and in no training set). y: class index >= 0 (any number of
 * classes) or -1. group: group index per sample, required for the group kinds (NULL
 * otherwise); a labelled sample with group < 0 forms a group of its own.
 * Guarantees: stratified K-fold - per class, fold counts differ by at most 1, and every class
 * has >= K samples (else refused, since a fold would lack it); group kinds - no group in two
 * folds (checked before returning). Stratified group K-fold follows scikit-learn's
 * StratifiedGroupKFold (shuffled groups, largest class spread first, each to the fold that
 * keeps class proportions closest) and is refused when there are fewer groups than K or a
 * class occurs in fewer than K groups (a test fold would lack it), or if the greedy
 * assignment leaves a fold without a class. Leave-one-group-out numbers folds by ascending
 * group index and needs 2 groups.
 * ML_EINVAL with the reason and a remedy; fold and *n_folds_out untouched on failure. */
ml_status ml_split_assign(int *fold, size_t *n_folds_out, const ml_split_options *opts,
                          const int *y, const long *group, size_t n);

/* ^Indices of the training samples (fold >= 0 and != f) and test samples (fold == f), in
 * ascending order, into caller arrays of capacity n. Never fails. */
void ml_split_indices(const int *fold, size_t n, int f, size_t *train, size_t *n_train,
                      size_t *test, size_t *n_test);

#ifdef __cplusplus
}
#endif
#endif
