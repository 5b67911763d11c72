/* evaluate.c - the outer cross-validation loop of ml_evaluate: folds per repeat, a pipeline
 * fitted per training fold (after the inner search when tuning), out-of-fold scores and their
 * metrics. Formatting the result is report.c's job. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluate.h"
#include "util/error.h"

void ml_evaluation_free(ml_evaluation *e) {
    if (!e) return;
    free(e->grid_spec);
    ml_grid_free(e->grid);
    free(e->y);
    free(e->fold);
    free(e->score);
    free(e->folds);
    free(e->pooled);
    free(e->pooled_ci);
    free(e->ci_used);
    free(e->class_name[0]);
    free(e->class_name[1]);
    free(e);
}

size_t ml_evaluation_n_repeats(const ml_evaluation *e) { return e->n_repeats; }
size_t ml_evaluation_n_folds(const ml_evaluation *e) { return e->n_folds; }
const char *ml_evaluation_fingerprint(const ml_evaluation *e) { return e->fingerprint; }

int ml_evaluation_fold_of(const ml_evaluation *e, size_t repeat, size_t sample) {
    if (repeat >= e->n_repeats || sample >= e->n) return -1;
    return e->fold[repeat * e->n + sample];
}

double ml_evaluation_score(const ml_evaluation *e, size_t repeat, size_t sample) {
    if (repeat >= e->n_repeats || sample >= e->n) return NAN;
    return e->score[repeat * e->n + sample];
}

double ml_evaluation_pooled_roc_auc(const ml_evaluation *e) {
    double s = 0;
    for (size_t r = 0; r < e->n_repeats; r++) s += e->pooled[r].roc_auc;
    return s / (double)e->n_repeats;
}

ml_status ml__evaluate_options_check(const ml_evaluate_options *o) {
    if (!o || o->version != ML_EVALUATE_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "evaluate options: version %d (expected %d)",
                       o ? o->version : -1, ML_EVALUATE_OPTIONS_VERSION);
    if ((unsigned)o->split > ML_SPLIT_LEAVE_ONE_GROUP_OUT)
        return ML_FAIL(ML_EINVAL, "evaluate options: split %d (expected a ml_split_kind)",
                       (int)o->split);
    if (o->n_folds < 2 && o->split != ML_SPLIT_LEAVE_ONE_GROUP_OUT)
        return ML_FAIL(ML_EINVAL, "evaluate options: n_folds %zu (expected >= 2)", o->n_folds);
    if (o->n_repeats < 1 || o->n_repeats > 1000)
        return ML_FAIL(ML_EINVAL, "evaluate options: n_repeats %zu (expected 1 to 1000)",
                       o->n_repeats);
    if (o->split == ML_SPLIT_LEAVE_ONE_GROUP_OUT && o->n_repeats > 1)
        return ML_FAIL(ML_EINVAL, "evaluate options: %zu repeats with leave-one-group-out "
                       "(its folds do not change; expected 1 repeat)", o->n_repeats);
    if (o->n_inner_folds < 2)
        return ML_FAIL(ML_EINVAL, "evaluate options: n_inner_folds %zu (expected >= 2)",
                       o->n_inner_folds);
    if (o->n_boot < 1)
        return ML_FAIL(ML_EINVAL, "evaluate options: n_boot 0 (expected >= 1, e.g. 1000)");
    ML_TRY(ml_classifier_options_check(&o->model));
    ml_transform_options to = o->transform;
    if (to.version != ML_TRANSFORM_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "evaluate options: transform version %d (expected %d)",
                       to.version, ML_TRANSFORM_OPTIONS_VERSION);
    return ML_OK;
}

static char *dup_str(const char *s) {
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d) memcpy(d, s, len);
    return d;
}

/* The evaluation object with its arrays, before any fit. */
static ml_status alloc_evaluation(ml_evaluation **out, const ml__eval_data *d, const ml_join *j,
                                  const ml_evaluate_options *o) {
    ml_evaluation *e = calloc(1, sizeof *e);
    if (!e) return ML_NOMEM();
    size_t R = o->n_repeats, n = d->n ? d->n : 1;
    e->opts = *o;
    e->opts.grid = NULL;
    e->opts.progress = NULL;
    e->opts.on_fit = NULL;
    e->n = d->n;
    e->n_repeats = R;
    e->n_labelled = d->n_rows;
    e->n_positive = d->n_positive;
    e->y = malloc(n * sizeof *e->y);
    e->fold = malloc(R * n * sizeof *e->fold);
    e->score = malloc(R * n * sizeof *e->score);
    e->pooled = calloc(R, sizeof *e->pooled);
    e->pooled_ci = calloc(2 * R, sizeof *e->pooled_ci);
    e->ci_used = calloc(R, sizeof *e->ci_used);
    e->class_name[0] = dup_str(ml_join_class_name(j, 0));
    e->class_name[1] = dup_str(ml_join_class_name(j, 1));
    if (!e->y || !e->fold || !e->score || !e->pooled || !e->pooled_ci || !e->ci_used ||
        !e->class_name[0] || !e->class_name[1]) {
        ml_evaluation_free(e);
        return ML_NOMEM();
    }
    memcpy(e->y, d->y, d->n * sizeof *e->y);
    for (size_t i = 0; i < R * d->n; i++) e->score[i] = NAN;
    if (o->grid && *o->grid) {
        ml_status st = ML_OK;
        if (!(e->grid_spec = dup_str(o->grid))) st = ML_NOMEM();
        if (st == ML_OK) st = ml_grid_parse(&e->grid, o->grid, &o->model);
        if (st != ML_OK) {
            ml_evaluation_free(e);
            return st;
        }
    }
    *out = e;
    return ML_OK;
}

/* Per-fold scratch: train and test rows, their scores and labels. */
typedef struct fold_work {
    size_t *train, *test;
    double *score;
    int *y;
} fold_work;

/* Fits on the training rows of fold f (after the inner search when tuning), scores the test
 * rows into e->score and records the fold's metrics. */
static ml_status run_fold(ml_evaluation *e, const ml_table *t, const ml__eval_data *d,
                          const ml_evaluate_options *o, size_t r, size_t f, fold_work *w) {
    const int *fold = e->fold + r * e->n;
    size_t n_train, n_test;
    ml_split_indices(fold, e->n, (int)f, w->train, &n_train, w->test, &n_test);
    ml__fold_result *fr = &e->folds[r * e->n_folds + f];
    *fr = (ml__fold_result){.repeat = r, .fold = f, .n_train = n_train, .n_test = n_test,
                            .chosen = SIZE_MAX, .chosen_inner_auc = NAN};
    ml_evaluate_fit_info info = {ML_EVALUATE_OUTER, r, f, 0, 0, 0, w->train, n_train,
                                 w->test, n_test};
    ml_classifier_options co = o->model;
    if (e->grid) {
        uint64_t stream = (uint64_t)o->n_repeats + (uint64_t)r * e->n_folds + f;
        ML_TRY(ml__grid_search(&fr->chosen, &fr->chosen_inner_auc, t, d, w->train, n_train, o,
                               e->grid, &info, stream));
        ML_TRY(ml_grid_point(e->grid, fr->chosen, &o->model, &co));
        info.grid_point = fr->chosen;
    }
    if (o->on_fit) o->on_fit(o->on_fit_ctx, &info);
    ml__pipeline p = {NULL, NULL};
    ML_TRY(ml__pipeline_fit(&p, t, d->y, w->train, n_train, &o->transform, &co));
    ml_status st = ml__pipeline_score(&p, t, w->test, n_test, w->score);
    if (r == 0 && f == 0) {
        e->threshold = ml_classifier_threshold(p.clf);
        e->score_is_probability = ml_classifier_score_is_probability(p.clf);
    }
    ml__pipeline_free(&p);
    if (st != ML_OK) return st;
    for (size_t i = 0; i < n_test; i++) {
        e->score[r * e->n + w->test[i]] = w->score[i];
        w->y[i] = d->y[w->test[i]];
    }
    return ml__metrics(&fr->m, w->score, w->y, n_test, e->threshold);
}

/* Pooled out-of-fold metrics of repeat r and the bootstrap CI of its ROC-AUC. */
static ml_status pool_repeat(ml_evaluation *e, const ml__eval_data *d, size_t r, fold_work *w) {
    for (size_t i = 0; i < d->n_rows; i++) {
        w->score[i] = e->score[r * e->n + d->rows[i]];
        w->y[i] = d->y[d->rows[i]];
    }
    ML_TRY(ml__metrics(&e->pooled[r], w->score, w->y, d->n_rows, e->threshold));
    return ml_roc_auc_bootstrap_ci(e->pooled_ci + 2 * r, &e->ci_used[r], w->score, w->y,
                                   d->n_rows, e->opts.n_boot, e->opts.seed + r);
}

static double *metric_at(ml__metric_set *m, size_t k) {
    double *v[5] = {&m->roc_auc, &m->average_precision, &m->f1, &m->accuracy,
                    &m->balanced_accuracy};
    return v[k];
}

/* Mean and sample sd (n-1) of each metric over all folds; NaN values are skipped. */
static void summarise(ml_evaluation *e) {
    size_t nf = e->n_repeats * e->n_folds;
    for (size_t k = 0; k < 5; k++) {
        double s = 0, ss = 0;
        size_t c = 0;
        for (size_t i = 0; i < nf; i++) {
            double v = *metric_at(&e->folds[i].m, k);
            if (isnan(v)) continue;
            s += v;
            c++;
        }
        double mean = c ? s / (double)c : NAN;
        for (size_t i = 0; i < nf; i++) {
            double v = *metric_at(&e->folds[i].m, k);
            if (!isnan(v)) ss += (v - mean) * (v - mean);
        }
        *metric_at(&e->mean, k) = mean;
        *metric_at(&e->sd, k) = c > 1 ? sqrt(ss / (double)(c - 1)) : NAN;
    }
}

static ml_status assign_folds(ml_evaluation *e, const ml__eval_data *d,
                              const ml_evaluate_options *o, size_t r) {
    ml_split_options so = ML_SPLIT_OPTIONS_INIT;
    so.kind = o->split;
    so.n_folds = o->n_folds;
    so.seed = o->seed;
    so.repeat = r;
    size_t k = 0;
    ML_TRY(ml_split_assign(e->fold + r * e->n, &k, &so, d->y, d->group, d->n));
    if (r > 0) return ML_OK;
    e->n_folds = k;
    if (!(e->folds = calloc(e->n_repeats * k, sizeof *e->folds))) return ML_NOMEM();
    return ML_OK;
}

static ml_status run_all(ml_evaluation *e, const ml_table *t, const ml__eval_data *d,
                         const ml_evaluate_options *o, fold_work *w) {
    for (size_t r = 0; r < e->n_repeats; r++) {
        ML_TRY(assign_folds(e, d, o, r));
        for (size_t f = 0; f < e->n_folds; f++) {
            ml_status st = run_fold(e, t, d, o, r, f, w);
            if (st != ML_OK) {
                ml__error_prefix("repeat %zu, fold %zu", r, f);
                return st;
            }
            if (o->progress)
                o->progress(o->progress_ctx, r * e->n_folds + f + 1, e->n_repeats * e->n_folds);
        }
        ML_TRY(pool_repeat(e, d, r, w));
    }
    summarise(e);
    return ML_OK;
}

static ml_status fingerprint_and_run(ml_evaluation *e, const ml_table *t, const ml_join *j,
                                     const ml__eval_data *d, const ml_evaluate_options *o,
                                     fold_work *w) {
    ML_TRY(ml__fingerprint(e->fingerprint, t, j));
    return run_all(e, t, d, o, w);
}

ml_status ml_evaluate(ml_evaluation **out, const ml_table *t, const ml_join *j,
                      const ml_evaluate_options *o) {
    ML_TRY(ml__evaluate_options_check(o));
    ml__eval_data d;
    ML_TRY(ml__eval_data_init(&d, t, j, o->split != ML_SPLIT_STRATIFIED_KFOLD));
    ml_evaluation *e = NULL;
    size_t n = d.n ? d.n : 1;
    fold_work w = {malloc(n * sizeof(size_t)), malloc(n * sizeof(size_t)),
                   malloc(n * sizeof(double)), malloc(n * sizeof(int))};
    ml_status st = w.train && w.test && w.score && w.y ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = alloc_evaluation(&e, &d, j, o);
    if (st == ML_OK) st = fingerprint_and_run(e, t, j, &d, o, &w);
    if (st == ML_OK) {
        *out = e;
        e = NULL;
    }
    ml_evaluation_free(e);
    free(w.train);
    free(w.test);
    free(w.score);
    free(w.y);
    ml__eval_data_free(&d);
    return st;
}
