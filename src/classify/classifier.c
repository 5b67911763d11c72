/* classifier.c - the one interface over every classifier kind: input checks, default
 * resolution, dispatch, and the fitted tensors; the solvers live in their own files. */
#include "classify/classifier.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

ml_classifier *ml__classifier_alloc(const ml_classifier_options *opts, size_t d) {
    ml_classifier *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->opts = *opts;
    c->n_features = d;
    c->is_converged = 1;
    return c;
}

void *ml__classifier_add(ml_classifier *c, const char *name, ml_dtype dtype, size_t n_dims,
                         size_t rows, size_t cols) {
    if (c->n_params >= ML__CLF_MAX_PARAMS) {
        ML_FAIL(ML_EINVAL, "internal: too many tensors in a classifier");
        return NULL;
    }
    size_t count = n_dims == 2 ? rows * cols : rows;
    void *data = calloc(count ? count : 1, ml_dtype_size(dtype));
    if (!data) {
        ML_NOMEM();
        return NULL;
    }
    ml__param *p = &c->params[c->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->dtype = dtype;
    p->n_dims = n_dims;
    p->shape[0] = rows;
    p->shape[1] = n_dims == 2 ? cols : 0;
    p->data = data;
    return data;
}

const ml__param *ml__classifier_find(const ml_classifier *c, const char *name) {
    for (size_t i = 0; i < c->n_params; i++)
        if (strcmp(c->params[i].name, name) == 0) return &c->params[i];
    return NULL;
}

void ml_classifier_free(ml_classifier *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_params; i++) free(c->params[i].data);
    free(c);
}

double *ml__effective_weights(const int *y, size_t n, const double *sample_weight,
                              int is_balanced) {
    double *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) {
        ML_NOMEM();
        return NULL;
    }
    size_t count[2] = {0, 0};
    for (size_t i = 0; i < n; i++) count[y[i]]++;
    for (size_t i = 0; i < n; i++) {
        w[i] = sample_weight ? sample_weight[i] : 1.0;
        /* scikit-learn's compute_class_weight("balanced"): n / (n_classes * bincount(y)). */
        if (is_balanced) w[i] *= (double)n / (2.0 * (double)count[y[i]]);
    }
    return w;
}

/* Fills the kind-dependent defaults that 0 stands for. */
static void resolve_defaults(ml_classifier_options *o, size_t d) {
    if (o->tol == 0) o->tol = o->kind == ML_CLASSIFIER_SVM ? 1e-6 : 1e-10;
    if (o->max_iter == 0) o->max_iter = 1000;
    if (o->max_features == 0) {
        size_t m = (size_t)floor(sqrt((double)d));
        o->max_features = m ? m : 1;
    }
    if (o->max_features > d) o->max_features = d;
}

static ml_status check_data(const double *X, size_t n, size_t d, const int *y,
                            const double *sw) {
    if (n < 2 || d == 0)
        return ML_FAIL(ML_EINVAL, "%zu samples x %zu features (a classifier needs >= 2 samples "
                       "and >= 1 feature)", n, d);
    size_t count[2] = {0, 0};
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return ML_FAIL(ML_EINVAL, "y[%zu] is %d (expected 0 or 1)", i, y[i]);
        count[y[i]]++;
        if (sw && (!isfinite(sw[i]) || sw[i] < 0))
            return ML_FAIL(ML_EINVAL, "sample_weight[%zu] is %g (expected finite and >= 0)",
                           i, sw[i]);
        wsum += sw ? sw[i] : 1.0;
        for (size_t j = 0; j < d; j++)
            if (!isfinite(X[i * d + j]))
                return ML_FAIL(ML_EINVAL, "X[%zu][%zu] is not finite (expected a number; "
                               "transform or impute first)", i, j);
    }
    if (count[0] == 0 || count[1] == 0)
        return ML_FAIL(ML_EINVAL, "only class %d among %zu samples (a classifier needs both)",
                       count[1] ? 1 : 0, n);
    if (!(wsum > 0)) return ML_FAIL(ML_EINVAL, "sample weights sum to 0 (expected > 0)");
    return ML_OK;
}

ml_status ml_classifier_fit(ml_classifier **out, const ml_classifier_options *opts,
                            const double *X, size_t n, size_t d, const int *y,
                            const double *sample_weight) {
    ML_TRY(ml_classifier_options_check(opts));
    ML_TRY(check_data(X, n, d, y, sample_weight));
    ml_status st = ML_OK;
    double *w = NULL;
    ml_classifier *c = ml__classifier_alloc(opts, d);
    if (!c) return ML_NOMEM();
    resolve_defaults(&c->opts, d);
    w = ml__effective_weights(y, n, sample_weight, opts->is_balanced);
    if (!w) {
        st = ML_ENOMEM;
        goto done;
    }
    switch (opts->kind) {
    case ML_CLASSIFIER_LOGREG: st = ml__logreg_fit(c, X, n, y, w); break;
    case ML_CLASSIFIER_SVM: st = ml__svm_fit(c, X, n, y, w); break;
    case ML_CLASSIFIER_RF: st = ml__forest_fit(c, X, n, y, w); break;
    case ML_CLASSIFIER_MLP: st = ml__mlp_fit(c, X, n, y, w); break;
    }
    if (st == ML_OK) {
        *out = c;
        c = NULL;
    }
done:
    free(w);
    ml_classifier_free(c);
    return st;
}

void ml__linear_decision(const ml_classifier *c, const double *X, size_t n, double *score) {
    const double *coef = ml__classifier_find(c, "coef")->data;
    double b = *(const double *)ml__classifier_find(c, "intercept")->data;
    size_t d = c->n_features;
    for (size_t i = 0; i < n; i++) {
        double z = b;
        for (size_t j = 0; j < d; j++) z += X[i * d + j] * coef[j];
        score[i] = z;
    }
}

/* Logistic function without overflow for large |z|. */
static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

ml_status ml_classifier_predict_score(const ml_classifier *c, const double *X, size_t n,
                                      double *score) {
    size_t d = c->n_features;
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(X[i]))
            return ML_FAIL(ML_EINVAL, "X[%zu][%zu] is not finite (expected a number)", i / d,
                           i % d);
    switch (c->opts.kind) {
    case ML_CLASSIFIER_LOGREG:
        ml__linear_decision(c, X, n, score);
        for (size_t i = 0; i < n; i++) score[i] = sigmoid(score[i]);
        return ML_OK;
    case ML_CLASSIFIER_SVM: ml__linear_decision(c, X, n, score); return ML_OK;
    case ML_CLASSIFIER_RF: ml__forest_predict(c, X, n, score); return ML_OK;
    case ML_CLASSIFIER_MLP: return ml__mlp_predict(c, X, n, score);
    }
    return ML_FAIL(ML_EINVAL, "classifier kind %d unknown", (int)c->opts.kind);
}

double ml_classifier_threshold(const ml_classifier *c) {
    return ml_classifier_score_is_probability(c) ? 0.5 : 0.0;
}

int ml_classifier_score_is_probability(const ml_classifier *c) {
    return c->opts.kind != ML_CLASSIFIER_SVM;
}

ml_classifier_kind ml_classifier_kind_of(const ml_classifier *c) { return c->opts.kind; }
size_t ml_classifier_n_features(const ml_classifier *c) { return c->n_features; }
const ml_classifier_options *ml_classifier_options_of(const ml_classifier *c) { return &c->opts; }
size_t ml_classifier_n_iter(const ml_classifier *c) { return c->n_iter; }
int ml_classifier_converged(const ml_classifier *c) { return c->is_converged; }

ml_status ml_classifier_coef(const ml_classifier *c, const double **coef, double *intercept) {
    if (c->opts.kind != ML_CLASSIFIER_LOGREG && c->opts.kind != ML_CLASSIFIER_SVM)
        return ML_FAIL(ML_EINVAL, "%s has no coefficients (only logreg and svm are linear)",
                       ml_classifier_kind_name(c->opts.kind));
    *coef = ml__classifier_find(c, "coef")->data;
    *intercept = *(const double *)ml__classifier_find(c, "intercept")->data;
    return ML_OK;
}

size_t ml_classifier_n_params(const ml_classifier *c) { return c->n_params; }

ml_status ml_classifier_param(const ml_classifier *c, size_t idx, ml_tensor_view *out) {
    if (idx >= c->n_params)
        return ML_FAIL(ML_EINVAL, "parameter %zu of %zu requested", idx, c->n_params);
    const ml__param *p = &c->params[idx];
    memset(out, 0, sizeof *out);
    out->name = p->name;
    out->dtype = p->dtype;
    out->n_dims = p->n_dims;
    out->shape[0] = p->shape[0];
    out->shape[1] = p->shape[1];
    out->data = p->data;
    return ML_OK;
}

/* ---- Rebuilding from tensors ---- */

typedef struct expected_param {
    char name[ML__PARAM_NAME_MAX];
    ml_dtype dtype;
    size_t n_dims, rows, cols; /* rows == SIZE_MAX: any length (rf node arrays) */
} expected_param;

static size_t expected_params(const ml_classifier_options *o, size_t d, expected_param *e) {
    size_t k = 0;
    switch (o->kind) {
    case ML_CLASSIFIER_LOGREG:
    case ML_CLASSIFIER_SVM:
        e[k++] = (expected_param){"coef", ML_DTYPE_F64, 2, 1, d};
        e[k++] = (expected_param){"intercept", ML_DTYPE_F64, 1, 1, 0};
        break;
    case ML_CLASSIFIER_RF:
        e[k++] = (expected_param){"tree_offset", ML_DTYPE_I64, 1, SIZE_MAX, 0};
        e[k++] = (expected_param){"feature", ML_DTYPE_I32, 1, SIZE_MAX, 0};
        e[k++] = (expected_param){"threshold", ML_DTYPE_F64, 1, SIZE_MAX, 0};
        e[k++] = (expected_param){"left", ML_DTYPE_I32, 1, SIZE_MAX, 0};
        e[k++] = (expected_param){"right", ML_DTYPE_I32, 1, SIZE_MAX, 0};
        e[k++] = (expected_param){"value", ML_DTYPE_F64, 1, SIZE_MAX, 0};
        break;
    case ML_CLASSIFIER_MLP: {
        size_t in = d;
        for (size_t l = 0; l <= o->n_hidden; l++) {
            size_t outw = l < o->n_hidden ? o->hidden[l] : 1;
            e[k] = (expected_param){"", ML_DTYPE_F64, 2, outw, in};
            snprintf(e[k++].name, ML__PARAM_NAME_MAX, "layers.%zu.weight", l);
            e[k] = (expected_param){"", ML_DTYPE_F64, 1, outw, 0};
            snprintf(e[k++].name, ML__PARAM_NAME_MAX, "layers.%zu.bias", l);
            in = outw;
        }
        break;
    }
    }
    return k;
}

static const ml_tensor_view *find_view(const ml_tensor_view *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (t[i].name && strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

static ml_status copy_expected(ml_classifier *c, const expected_param *e,
                               const ml_tensor_view *t, size_t n_tensors) {
    const ml_tensor_view *v = find_view(t, n_tensors, e->name);
    if (!v) return ML_FAIL(ML_EFORMAT, "tensor \"%s\" is missing (a %s model needs it)",
                           e->name, ml_classifier_kind_name(c->opts.kind));
    int shape_ok = v->n_dims == e->n_dims && (e->rows == SIZE_MAX || v->shape[0] == e->rows) &&
                   (e->n_dims < 2 || v->shape[1] == e->cols);
    if (v->dtype != e->dtype || !shape_ok)
        return ML_FAIL(ML_EFORMAT, "tensor \"%s\": %s with %zu dims (expected %s [%zu%s])",
                       e->name, ml_dtype_name(v->dtype), v->n_dims, ml_dtype_name(e->dtype),
                       e->rows == SIZE_MAX ? 0 : e->rows, e->n_dims == 2 ? ", d" : "");
    void *dst = ml__classifier_add(c, e->name, e->dtype, e->n_dims, v->shape[0],
                                   e->n_dims == 2 ? v->shape[1] : 0);
    if (!dst) return ml_error_last()->code;
    size_t count = e->n_dims == 2 ? v->shape[0] * v->shape[1] : v->shape[0];
    if (count) memcpy(dst, v->data, count * ml_dtype_size(e->dtype));
    return ML_OK;
}

ml_status ml_classifier_from_params(ml_classifier **out, const ml_classifier_options *opts,
                                    size_t d, const ml_tensor_view *tensors, size_t n_tensors) {
    ML_TRY(ml_classifier_options_check(opts));
    if (d == 0) return ML_FAIL(ML_EINVAL, "0 features (expected >= 1)");
    expected_param e[ML__CLF_MAX_PARAMS];
    size_t k = expected_params(opts, d, e);
    if (n_tensors != k)
        return ML_FAIL(ML_EFORMAT, "%zu tensors for a %s model (expected %zu)", n_tensors,
                       ml_classifier_kind_name(opts->kind), k);
    ml_classifier *c = ml__classifier_alloc(opts, d);
    if (!c) return ML_NOMEM();
    resolve_defaults(&c->opts, d);
    ml_status st = ML_OK;
    for (size_t i = 0; i < k && st == ML_OK; i++) st = copy_expected(c, &e[i], tensors, n_tensors);
    if (st == ML_OK && opts->kind == ML_CLASSIFIER_RF) st = ml__forest_validate(c);
    if (st == ML_OK) {
        *out = c;
        c = NULL;
    }
    ml_classifier_free(c);
    return st;
}
