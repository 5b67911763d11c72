/* pipeline.c - the fits evaluate is made of: labels from a join, transform + classifier fitted
 * on given rows only, scoring, the inner grid search and per-set metrics. It chooses no
 * folds for the outer loop and writes nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluate.h"
#include "util/error.h"

void ml__eval_data_free(ml__eval_data *d) {
    free(d->y);
    free(d->group);
    free(d->rows);
    memset(d, 0, sizeof *d);
}

ml_status ml__eval_data_init(ml__eval_data *d, const ml_table *t, const ml_join *j,
                             int use_groups) {
    memset(d, 0, sizeof *d);
    size_t n = ml_table_n_samples(t);
    if (ml_join_n_samples(j) != n)
        return ML_FAIL(ML_EINVAL, "the join has %zu samples but the table %zu (expected the "
                       "join of this table)", ml_join_n_samples(j), n);
    if (ml_join_n_classes(j) != 2)
        return ML_FAIL(ML_EINVAL, "evaluate needs exactly 2 classes, the labels have %zu "
                       "(binary classification only; recode the label column)",
                       ml_join_n_classes(j));
    if (use_groups && ml_join_n_groups(j) == 0)
        return ML_FAIL(ML_EINVAL, "a grouped split needs a group column (give one, or use "
                       "stratified K-fold)");
    d->n = n;
    d->y = malloc((n ? n : 1) * sizeof *d->y);
    d->rows = malloc((n ? n : 1) * sizeof *d->rows);
    if (use_groups) d->group = malloc((n ? n : 1) * sizeof *d->group);
    if (!d->y || !d->rows || (use_groups && !d->group)) {
        ml__eval_data_free(d);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n; i++) {
        int c = ml_join_class_of(j, i);
        d->y[i] = c; /* classes are 0 and 1, the positive last */
        if (c >= 0) d->rows[d->n_rows++] = i;
        if (c == 1) d->n_positive++;
        if (use_groups) d->group[i] = ml_join_group_of(j, i);
    }
    return ML_OK;
}

void ml__pipeline_free(ml__pipeline *p) {
    ml_classifier_free(p->clf);
    ml_transform_free(p->tf);
    p->clf = NULL;
    p->tf = NULL;
}

/* *X (n, n_outputs), malloc'd: rows of t under tf. */
static ml_status transformed(double **X, const ml_transform *tf, const ml_table *t,
                             const size_t *rows, size_t n) {
    size_t m = ml_transform_n_outputs(tf);
    if (n > SIZE_MAX / sizeof(double) / m) return ML_NOMEM();
    double *x = malloc((n ? n : 1) * m * sizeof *x);
    if (!x) return ML_NOMEM();
    ml_status st = ml_transform_apply(tf, t, rows, n, x);
    if (st != ML_OK) {
        free(x);
        return st;
    }
    *X = x;
    return ML_OK;
}

static ml_status gather_y(int **out, const int *y, const size_t *rows, size_t n) {
    int *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) v[i] = y[rows[i]];
    *out = v;
    return ML_OK;
}

ml_status ml__pipeline_fit(ml__pipeline *p, const ml_table *t, const int *y, const size_t *rows,
                           size_t n_rows, const ml_transform_options *to,
                           const ml_classifier_options *co) {
    ml__pipeline q = {NULL, NULL};
    double *X = NULL;
    int *yy = NULL;
    ml_status st = ml_transform_fit(&q.tf, t, rows, n_rows, to);
    if (st == ML_OK) st = transformed(&X, q.tf, t, rows, n_rows);
    if (st == ML_OK) st = gather_y(&yy, y, rows, n_rows);
    if (st == ML_OK)
        st = ml_classifier_fit(&q.clf, co, X, n_rows, ml_transform_n_outputs(q.tf), yy, NULL);
    free(yy);
    free(X);
    if (st != ML_OK) {
        ml__pipeline_free(&q);
        return st;
    }
    *p = q;
    return ML_OK;
}

ml_status ml__pipeline_score(const ml__pipeline *p, const ml_table *t, const size_t *rows,
                             size_t n_rows, double *score) {
    double *X = NULL;
    ML_TRY(transformed(&X, p->tf, t, rows, n_rows));
    ml_status st = ml_classifier_predict_score(p->clf, X, n_rows, score);
    free(X);
    return st;
}

static int has_both_classes(const int *y, size_t n) {
    int seen[2] = {0, 0};
    for (size_t i = 0; i < n; i++) seen[y[i] == 1] = 1;
    return seen[0] && seen[1];
}

ml_status ml__metrics(ml__metric_set *m, const double *score, const int *y, size_t n,
                      double threshold) {
    ml__metric_set r;
    ml_binary_metrics b;
    ML_TRY(ml_binary_metrics_compute(&b, score, y, n, threshold));
    r.roc_auc = r.average_precision = NAN;
    if (has_both_classes(y, n)) {
        ML_TRY(ml_roc_auc(&r.roc_auc, score, y, n));
        ML_TRY(ml_average_precision(&r.average_precision, score, y, n));
    } else if (b.tp + b.fn > 0) {
        ML_TRY(ml_average_precision(&r.average_precision, score, y, n));
    }
    r.f1 = b.f1;
    r.accuracy = b.accuracy;
    r.balanced_accuracy = b.balanced_accuracy;
    r.tp = b.tp;
    r.fp = b.fp;
    r.tn = b.tn;
    r.fn = b.fn;
    *m = r;
    return ML_OK;
}

/* Inner-search scratch: one inner fold's features, reused across grid points. */
typedef struct inner_fold {
    size_t *train, *val;
    size_t n_train, n_val;
    double *Xtr, *Xval, *score;
    int *ytr, *yval;
} inner_fold;

static void inner_fold_free(inner_fold *f) {
    free(f->train);
    free(f->val);
    free(f->Xtr);
    free(f->Xval);
    free(f->score);
    free(f->ytr);
    free(f->yval);
    memset(f, 0, sizeof *f);
}

/* Fits the transform on the inner training rows and applies it to both sides. */
static ml_status inner_features(inner_fold *f, size_t *m, const ml_table *t, const int *y,
                                const ml_transform_options *to) {
    ml_transform *tf = NULL;
    ML_TRY(ml_transform_fit(&tf, t, f->train, f->n_train, to));
    ml_status st = transformed(&f->Xtr, tf, t, f->train, f->n_train);
    if (st == ML_OK) st = transformed(&f->Xval, tf, t, f->val, f->n_val);
    if (st == ML_OK) st = gather_y(&f->ytr, y, f->train, f->n_train);
    if (st == ML_OK) st = gather_y(&f->yval, y, f->val, f->n_val);
    if (st == ML_OK && !(f->score = malloc((f->n_val ? f->n_val : 1) * sizeof *f->score)))
        st = ML_NOMEM();
    *m = ml_transform_n_outputs(tf);
    ml_transform_free(tf);
    return st;
}

/* Adds grid point k's validation AUC on this inner fold to sum/count (skipped when the
 * validation fold lacks a class, where AUC is undefined). */
static ml_status inner_point(double *sum, size_t *count, const inner_fold *f, size_t m,
                             const ml_evaluate_options *o, const ml_grid *g, size_t k,
                             ml_evaluate_fit_info *info) {
    ml_classifier_options co;
    ml_classifier *c = NULL;
    ML_TRY(ml_grid_point(g, k, &o->model, &co));
    info->grid_point = k;
    if (o->on_fit) o->on_fit(o->on_fit_ctx, info);
    ML_TRY(ml_classifier_fit(&c, &co, f->Xtr, f->n_train, m, f->ytr, NULL));
    ml_status st = ml_classifier_predict_score(c, f->Xval, f->n_val, f->score);
    ml_classifier_free(c);
    if (st != ML_OK || !has_both_classes(f->yval, f->n_val)) return st;
    double auc;
    ML_TRY(ml_roc_auc(&auc, f->score, f->yval, f->n_val));
    *sum += auc;
    (*count)++;
    return ML_OK;
}

/* Inner fold labels: the rows' classes, -1 for every other sample, so that the inner split
 * can only place the rows. */
static ml_status inner_split(int **fold, size_t *k, const ml__eval_data *d, const size_t *rows,
                             size_t n_rows, const ml_evaluate_options *o, uint64_t stream) {
    int *y_in = malloc(d->n * sizeof *y_in), *f = malloc(d->n * sizeof *f);
    ml_status st = ML_OK;
    if (!y_in || !f) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < d->n; i++) y_in[i] = -1;
    for (size_t i = 0; i < n_rows; i++) y_in[rows[i]] = d->y[rows[i]];
    ml_split_options so = ML_SPLIT_OPTIONS_INIT;
    so.kind = d->group ? ML_SPLIT_STRATIFIED_GROUP_KFOLD : ML_SPLIT_STRATIFIED_KFOLD;
    so.n_folds = o->n_inner_folds;
    so.seed = o->seed;
    so.repeat = (size_t)stream;
    if ((st = ml_split_assign(f, k, &so, y_in, d->group, d->n)) != ML_OK) {
        ml__error_prefix("inner %zu-fold split", o->n_inner_folds);
        goto done;
    }
    *fold = f;
    f = NULL;
done:
    free(y_in);
    free(f);
    return st;
}

ml_status ml__grid_search(size_t *best, double *best_auc, const ml_table *t,
                          const ml__eval_data *d, const size_t *rows, size_t n_rows,
                          const ml_evaluate_options *o, const ml_grid *g,
                          const ml_evaluate_fit_info *info, uint64_t stream) {
    size_t n_points = ml_grid_size(g), k_in = 0;
    int *fold = NULL;
    double *sum = calloc(n_points, sizeof *sum);
    size_t *count = calloc(n_points, sizeof *count);
    inner_fold f = {0};
    ml_status st = sum && count ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = inner_split(&fold, &k_in, d, rows, n_rows, o, stream);
    ml_evaluate_fit_info in = *info;
    in.is_search = 1;
    if (in.stage == ML_EVALUATE_OUTER) in.stage = ML_EVALUATE_INNER;
    for (size_t kf = 0; kf < k_in && st == ML_OK; kf++) {
        size_t m = 0;
        if (!(f.train = malloc(d->n * sizeof *f.train)) || !(f.val = malloc(d->n * sizeof *f.val))) {
            st = ML_NOMEM();
            break;
        }
        ml_split_indices(fold, d->n, (int)kf, f.train, &f.n_train, f.val, &f.n_val);
        in.inner_fold = kf;
        in.train = f.train;
        in.n_train = f.n_train;
        in.scored = f.val;
        in.n_scored = f.n_val;
        st = inner_features(&f, &m, t, d->y, &o->transform);
        for (size_t k = 0; k < n_points && st == ML_OK; k++)
            st = inner_point(&sum[k], &count[k], &f, m, o, g, k, &in);
        inner_fold_free(&f);
    }
    size_t pick = SIZE_MAX;
    for (size_t k = 0; k < n_points && st == ML_OK; k++)
        if (count[k] > 0 && (pick == SIZE_MAX || sum[k] / (double)count[k] >
                                                     sum[pick] / (double)count[pick]))
            pick = k;
    if (st == ML_OK && pick == SIZE_MAX)
        st = ML_FAIL(ML_EINVAL, "grid search: no inner validation fold holds both classes "
                     "(use fewer inner folds)");
    if (st == ML_OK) {
        *best = pick;
        *best_auc = sum[pick] / (double)count[pick];
    }
    inner_fold_free(&f);
    free(fold);
    free(count);
    free(sum);
    return st;
}
