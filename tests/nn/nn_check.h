/* nn_check.h - helpers shared by the tests/nn programs: seeded random arrays, float/double
 * copies, max |diff| and central finite differences in double. */
#ifndef ML_TEST_NN_CHECK_H
#define ML_TEST_NN_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* Central-difference step for double-precision references: error ~ h^2 f''' + eps/h, so
 * 1e-5 leaves about 1e-10 relative. */
#define NN_FD_STEP 1e-5
/* Tolerance for a double reference gradient against central differences. */
#define NN_FD_TOL 1e-7
/* Tolerance for a float kernel against its double reference, relative to max(1, |ref|). */
#define NN_FAST_TOL 2e-5

static inline void nn_fill(double *x, size_t n, ml__rng *r, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * ml__rng_uniform(r);
}

static inline void nn_to_float(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

static inline void nn_to_double(double *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (double)src[i];
}

/* Rounds a double array to float precision in place, so that float and double runs start
 * from identical inputs. */
static inline void nn_round_to_float(double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (double)(float)x[i];
}

/* max_i |a_i - b_i| / max(1, |b_i|): absolute for small values, relative for large ones. */
static inline double nn_max_diff_fd(const float *a, const double *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (d > m) m = d;
    }
    return m;
}

static inline double nn_max_diff_dd(const double *a, const double *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (d > m) m = d;
    }
    return m;
}

/* A scalar function of the test's state, evaluated by finite differences. */
typedef double (*nn_scalar_fn)(void *ctx);

/* Largest |central difference - analytic| / max(1, |analytic|) over x[0..n), perturbing x in
 * place (restored afterwards). */
static inline double nn_fd_max_err(double *x, size_t n, const double *analytic, nn_scalar_fn f,
                                   void *ctx) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + NN_FD_STEP;
        double up = f(ctx);
        x[i] = keep - NN_FD_STEP;
        double down = f(ctx);
        x[i] = keep;
        double fd = (up - down) / (2.0 * NN_FD_STEP);
        double err = fabs(fd - analytic[i]) / fmax(1.0, fabs(analytic[i]));
        if (err > worst) worst = err;
    }
    return worst;
}

/* sum_i out_i * g_i: a loss whose gradient with respect to out is g. */
static inline double nn_dot(const double *out, const double *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += out[i] * g[i];
    return s;
}

#endif
