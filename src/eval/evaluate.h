/* evaluate.h - internals shared by evaluate.c (the CV loop), pipeline.c (fits), report.c
 * (JSON and text) and bundle.c (saved models); not part of the public API. */
#ifndef ML_EVAL_EVALUATE_H
#define ML_EVAL_EVALUATE_H

#include <jansson.h>
#include <stddef.h>

#include "microlens/evaluate.h"

/* "sha256:" + 64 hex digits + NUL */
#define ML__FINGERPRINT_SIZE 72

/* Metrics of one set of scores. NaN where undefined (AUC without both classes). */
typedef struct ml__metric_set {
    double roc_auc, average_precision, f1, accuracy, balanced_accuracy;
    size_t tp, fp, tn, fn;
} ml__metric_set;

typedef struct ml__fold_result {
    size_t repeat, fold, n_train, n_test;
    ml__metric_set m;
    size_t chosen;          /* grid point picked by the inner search; SIZE_MAX without grid */
    double chosen_inner_auc;
} ml__fold_result;

struct ml_evaluation {
    ml_evaluate_options opts; /* grid, hooks cleared */
    char *grid_spec;          /* NULL without nested CV */
    ml_grid *grid;
    size_t n, n_labelled, n_positive, n_repeats, n_folds;
    int *y;                   /* (n) 1, 0 or -1 */
    int *fold;                /* (n_repeats, n) */
    double *score;            /* (n_repeats, n), NaN when unlabelled */
    ml__fold_result *folds;   /* (n_repeats * n_folds) */
    ml__metric_set *pooled;   /* (n_repeats) */
    double *pooled_ci;        /* (n_repeats, 2) bootstrap CI of each repeat's pooled AUC */
    size_t *ci_used;          /* (n_repeats) resamples that counted */
    ml__metric_set mean, sd;  /* over folds of all repeats; NaN-valued metrics skipped */
    double threshold;
    int score_is_probability;
    char *class_name[2];
    char fingerprint[ML__FINGERPRINT_SIZE];
};

/* ML_EINVAL naming the first bad field of o. */
ml_status ml__evaluate_options_check(const ml_evaluate_options *o);

/* Labels and groups of the join as arrays over table samples. */
typedef struct ml__eval_data {
    size_t n;
    int *y;         /* (n) 1 positive, 0 negative, -1 unlabelled */
    long *group;    /* (n) or NULL when the split does not use groups */
    size_t *rows;   /* labelled samples, ascending */
    size_t n_rows, n_positive;
} ml__eval_data;

/* ML_EINVAL unless the join has exactly 2 classes (and groups when use_groups). */
ml_status ml__eval_data_init(ml__eval_data *d, const ml_table *t, const ml_join *j,
                             int use_groups);
void ml__eval_data_free(ml__eval_data *d);

/* A fitted transform (+ scaler) and classifier. */
typedef struct ml__pipeline {
    ml_transform *tf;
    ml_classifier *clf;
} ml__pipeline;

/* Fits p on rows (their y) of t: transform (+ scaler) first, then the classifier. */
ml_status ml__pipeline_fit(ml__pipeline *p, const ml_table *t, const int *y, const size_t *rows,
                           size_t n_rows, const ml_transform_options *to,
                           const ml_classifier_options *co);
ml_status ml__pipeline_score(const ml__pipeline *p, const ml_table *t, const size_t *rows,
                             size_t n_rows, double *score);
void ml__pipeline_free(ml__pipeline *p);

/* Picks the grid point with the best mean inner ROC-AUC (ties: the first) by inner CV over
 * rows only. info carries stage/repeat/fold for the hook; stream seeds the inner split. */
ml_status ml__grid_search(size_t *best, double *best_auc, const ml_table *t,
                          const ml__eval_data *d, const size_t *rows, size_t n_rows,
                          const ml_evaluate_options *o, const ml_grid *g,
                          const ml_evaluate_fit_info *info, uint64_t stream);

/* Metrics of n scores against y at threshold. */
ml_status ml__metrics(ml__metric_set *m, const double *score, const int *y, size_t n,
                      double threshold);

/* The data fingerprint (see ml_evaluation_fingerprint). */
/* dst: ML__FINGERPRINT_SIZE bytes. */
ml_status ml__fingerprint(char *dst, const ml_table *t, const ml_join *j);

/* JSON of options (new references; NULL when out of memory). */
json_t *ml__model_options_json(const ml_classifier_options *o);
json_t *ml__transform_options_json(const ml_transform_options *o);
json_t *ml__metric_set_json(const ml__metric_set *m, int with_confusion);
/* The cv settings and summary (kind, k, repeats, seed, nested, grid, pooled, mean, sd, ci95). */
json_t *ml__cv_summary_json(const ml_evaluation *e);

#endif
