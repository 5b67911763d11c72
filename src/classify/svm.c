/* svm.c - linear SVM with hinge loss by dual coordinate descent (liblinear's L2-regularised
 * L1-loss SVC dual, Hsieh et al. 2008), no shrinking; it produces decision values only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classifier.h"
#include "util/error.h"
#include "util/rng.h"

/* Primal: 1/2 |w~|^2 + C sum_i s_i max(0, 1 - y_i w~.x~_i) with x~ = (x, 1) when an intercept
 * is fitted: like liblinear (bias = 1), the intercept is penalised as one more weight.
 * Dual: min_a 1/2 a^T Q a - sum a, 0 <= a_i <= C s_i, Q_ij = y_i y_j x~_i.x~_j. */
ml_status ml__svm_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                      const double *s) {
    size_t d = c->n_features, m = d + 1;
    double bias = c->opts.has_intercept ? 1.0 : 0.0;
    ml_status st = ML_OK;
    double *wt = calloc(m, sizeof *wt), *alpha = calloc(n, sizeof *alpha);
    double *qd = malloc(n * sizeof *qd);
    size_t *order = malloc(n * sizeof *order);
    if (!wt || !alpha || !qd || !order) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const double *x = X + i * d;
        double q = bias * bias;
        for (size_t j = 0; j < d; j++) q += x[j] * x[j];
        qd[i] = q;
        order[i] = i;
    }
    ml__rng rng;
    ml__rng_seed(&rng, c->opts.seed);
    c->is_converged = 0;
    for (c->n_iter = 0; c->n_iter < c->opts.max_iter; c->n_iter++) {
        double pg_max = -INFINITY, pg_min = INFINITY;
        ml__rng_shuffle(&rng, order, n);
        for (size_t k = 0; k < n; k++) {
            size_t i = order[k];
            const double *x = X + i * d;
            double yi = y[i] ? 1.0 : -1.0, upper = c->opts.C * s[i];
            double G = wt[d] * bias;
            for (size_t j = 0; j < d; j++) G += wt[j] * x[j];
            G = yi * G - 1.0;
            /* Projected gradient: zero where the bound blocks the move. */
            double pg = alpha[i] <= 0 ? fmin(G, 0.0) : alpha[i] >= upper ? fmax(G, 0.0) : G;
            pg_max = fmax(pg_max, pg);
            pg_min = fmin(pg_min, pg);
            if (fabs(pg) < 1e-12 || qd[i] <= 0) continue;
            double old = alpha[i];
            alpha[i] = fmin(fmax(old - G / qd[i], 0.0), upper);
            double step = (alpha[i] - old) * yi;
            for (size_t j = 0; j < d; j++) wt[j] += step * x[j];
            wt[d] += step * bias;
        }
        if (pg_max - pg_min <= c->opts.tol) {
            c->is_converged = 1;
            c->n_iter++;
            break;
        }
    }
    double *coef = ml__classifier_add(c, "coef", ML_DTYPE_F64, 2, 1, d);
    double *icpt = coef ? ml__classifier_add(c, "intercept", ML_DTYPE_F64, 1, 1, 0) : NULL;
    if (!icpt) {
        st = ml_error_last()->code;
        goto done;
    }
    memcpy(coef, wt, d * sizeof *coef);
    *icpt = wt[d] * bias;
done:
    free(order);
    free(qd);
    free(alpha);
    free(wt);
    return st;
}
