/* lrsched.c - learning-rate schedule detection from the learning_rate series: a linear
 * warm-up, then the shape after it (constant, linear, cosine, step, exponential) chosen by the
 * least relative RMS error of a fit (docs/analyze.md, "Learning rate"). It knows no trainer's
 * schedule code: only the logged values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Two learning rates closer than this share of the peak are equal: schedules are computed in
 * double and logged exactly, so anything above rounding is a real change. */
#define LR_TOL 1e-6
/* A warm-up starts at or below this share of the peak: schedulers ramp from 0 (HF, microlens)
 * or from a small fraction; a start at half the peak or more is not a warm-up. */
#define WARMUP_START_FRACTION 0.5
/* Fewer points than this after the warm-up cannot tell shapes apart (two points fit anything). */
#define LR_MIN_POINTS 3
/* A shape is named only when its fit's RMS error is below this share of the peak: 5% is far
 * above the error of the right shape (~0) and below that of a wrong one on real schedules. */
#define LR_FIT_MAX 0.05
/* A step schedule holds its value between drops: at most this many drops, and at most one
 * change per two consecutive pairs of points (a sampled smooth decay changes at every point). */
#define STEP_MAX_DROPS 10
/* Cosine fits search the period T (the step where the cosine reaches its floor) from the
 * observed span to this multiple of it: a run stopped at a quarter of its schedule still fits. */
#define COSINE_MAX_SPAN_MULTIPLE 4.0
#define COSINE_GRID_POINTS 600
#define COSINE_REFINE_ITERATIONS 40
/* Fits use at most this many evenly spaced points: the shape of a schedule is smooth, and a
 * million logged steps would make the cosine search slow for no gain in accuracy. */
#define FIT_MAX_POINTS 2000
#define PI 3.14159265358979323846

const char *ml_lr_schedule_shape_name(ml_lr_schedule_shape s) {
    switch (s) {
    case ML_LR_SHAPE_UNKNOWN: return "unknown";
    case ML_LR_SHAPE_CONSTANT: return "constant";
    case ML_LR_SHAPE_LINEAR: return "linear";
    case ML_LR_SHAPE_COSINE: return "cosine";
    case ML_LR_SHAPE_STEP: return "step";
    case ML_LR_SHAPE_EXPONENTIAL: return "exponential";
    }
    return "unknown";
}

typedef struct fit_data {
    size_t n;
    double *x; /* steps after the warm-up, from 0 */
    double *y;
    double peak;
} fit_data;

/* Least squares y ~ a + b f over the points; returns the RMS error relative to the peak. */
static double fit_basis(const fit_data *d, const double *f) {
    double mf = 0, my = 0;
    for (size_t i = 0; i < d->n; i++) {
        mf += f[i];
        my += d->y[i];
    }
    mf /= (double)d->n;
    my /= (double)d->n;
    double sff = 0, sfy = 0;
    for (size_t i = 0; i < d->n; i++) {
        sff += (f[i] - mf) * (f[i] - mf);
        sfy += (f[i] - mf) * (d->y[i] - my);
    }
    double b = sff > 0 ? sfy / sff : 0, a = my - b * mf, ss = 0;
    for (size_t i = 0; i < d->n; i++) {
        double r = d->y[i] - (a + b * f[i]);
        ss += r * r;
    }
    return sqrt(ss / (double)d->n) / d->peak;
}

static double fit_linear(const fit_data *d) { return fit_basis(d, d->x); }

static double cosine_error(const fit_data *d, double *f, double period) {
    for (size_t i = 0; i < d->n; i++) f[i] = 0.5 * (1.0 + cos(PI * fmin(d->x[i] / period, 1.0)));
    return fit_basis(d, f);
}

/* Grid over the period, then golden-section refinement around the best grid point. */
static double fit_cosine(const fit_data *d, double *f) {
    double span = d->x[d->n - 1], best = INFINITY, best_t = span;
    double hi_t = COSINE_MAX_SPAN_MULTIPLE * span, step = (hi_t - span) / COSINE_GRID_POINTS;
    for (size_t g = 0; g <= COSINE_GRID_POINTS; g++) {
        double t = span + step * (double)g, e = cosine_error(d, f, t);
        if (e < best) {
            best = e;
            best_t = t;
        }
    }
    double a = fmax(span, best_t - step), b = fmin(hi_t, best_t + step);
    const double phi = 0.6180339887498949; /* golden-section ratio */
    for (int it = 0; it < COSINE_REFINE_ITERATIONS; it++) {
        double c = b - phi * (b - a), e = a + phi * (b - a);
        if (cosine_error(d, f, c) < cosine_error(d, f, e)) b = e;
        else a = c;
    }
    return fmin(best, cosine_error(d, f, 0.5 * (a + b)));
}

/* y ~ a exp(-b x): linear in log y, error measured on y itself. */
static double fit_exponential(const fit_data *d) {
    for (size_t i = 0; i < d->n; i++)
        if (!(d->y[i] > 0)) return INFINITY;
    double mx = 0, ml = 0;
    for (size_t i = 0; i < d->n; i++) {
        mx += d->x[i];
        ml += log(d->y[i]);
    }
    mx /= (double)d->n;
    ml /= (double)d->n;
    double sxx = 0, sxl = 0;
    for (size_t i = 0; i < d->n; i++) {
        sxx += (d->x[i] - mx) * (d->x[i] - mx);
        sxl += (d->x[i] - mx) * (log(d->y[i]) - ml);
    }
    double b = sxx > 0 ? sxl / sxx : 0, a = ml - b * mx, ss = 0;
    for (size_t i = 0; i < d->n; i++) {
        double r = d->y[i] - exp(a + b * d->x[i]);
        ss += r * r;
    }
    return sqrt(ss / (double)d->n) / d->peak;
}

/* Piecewise constant with only drops: RMS error of the segment means; INFINITY if the series
 * is not step-shaped. Uses every point, not the subsample: a drop must not be skipped. */
static double fit_step(const double *v, size_t n, double peak) {
    size_t changes = 0;
    for (size_t i = 1; i < n; i++) {
        double dlt = v[i] - v[i - 1];
        if (fabs(dlt) <= LR_TOL * peak) continue;
        if (dlt > 0) return INFINITY;
        changes++;
    }
    if (changes == 0 || changes > STEP_MAX_DROPS || 2 * changes > n - 1) return INFINITY;
    double ss = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && fabs(v[b] - v[b - 1]) <= LR_TOL * peak) b++;
        double m = ml__mean(v + a, b - a);
        for (size_t i = a; i < b; i++) ss += (v[i] - m) * (v[i] - m);
        a = b;
    }
    return sqrt(ss / (double)n) / peak;
}

/* Warm-up: the points up to the first peak value, rising from a low start. Its length is
 * peak / slope of the ramp: the steps a linear ramp from 0 takes, whichever step logging
 * started at (microlens logs the rate of step s - 1 at s, Hugging Face that of s + 1). */
static size_t warmup(ml_lr_analysis *out, const ml__points *p) {
    size_t k = 0;
    while (k < p->n && p->values[k] < out->peak * (1 - LR_TOL)) k++;
    if (k == 0 || !(p->values[0] <= WARMUP_START_FRACTION * out->peak)) return 0;
    for (size_t i = 1; i <= k; i++)
        if (p->values[i] < p->values[i - 1] * (1 - LR_TOL)) return 0;
    double slope = ml__slope(p->steps, p->values, k + 1);
    double len = slope > 0 ? out->peak / slope : (double)(p->steps[k] - p->steps[0]);
    double lo = (double)(p->steps[k] - p->steps[0]), hi = (double)p->steps[k];
    out->warmup_steps = (int64_t)llround(fmin(fmax(len, lo), hi));
    return k;
}

static ml_status classify(ml_lr_analysis *out, const ml__points *p, size_t k) {
    size_t m = p->n - k;
    const double *v = p->values + k;
    double lo = v[0], hi = v[0];
    for (size_t i = 1; i < m; i++) {
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    if (hi - lo <= LR_TOL * out->peak) {
        out->shape = ML_LR_SHAPE_CONSTANT;
        out->fit_rmse = out->peak > 0 ? ml__stddev(v, m) / out->peak : 0.0;
        return ML_OK;
    }
    if (m < LR_MIN_POINTS) return ML_OK;
    size_t n = m < FIT_MAX_POINTS ? m : FIT_MAX_POINTS;
    fit_data d = {n, malloc(n * sizeof(double)), malloc(n * sizeof(double)), out->peak};
    double *f = malloc(n * sizeof *f);
    if (!d.x || !d.y || !f) {
        free(d.x);
        free(d.y);
        free(f);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = n > 1 ? (size_t)((double)i * (double)(m - 1) / (double)(n - 1)) : 0;
        d.x[i] = (double)(p->steps[k + j] - p->steps[k]);
        d.y[i] = v[j];
    }
    double err[] = {fit_step(v, m, out->peak), fit_linear(&d), fit_cosine(&d, f),
                    fit_exponential(&d)};
    ml_lr_schedule_shape shapes[] = {ML_LR_SHAPE_STEP, ML_LR_SHAPE_LINEAR, ML_LR_SHAPE_COSINE,
                                     ML_LR_SHAPE_EXPONENTIAL};
    size_t best = 0;
    for (size_t i = 1; i < 4; i++)
        if (err[i] < err[best]) best = i;
    out->fit_rmse = isfinite(err[best]) ? err[best] : NAN;
    if (err[best] <= LR_FIT_MAX) out->shape = shapes[best];
    free(d.x);
    free(d.y);
    free(f);
    return ML_OK;
}

ml_status ml__lr_analyze(ml_lr_analysis *out, const ml_series *lr) {
    memset(out, 0, sizeof *out);
    out->initial = out->peak = out->final = out->fit_rmse = NAN;
    ml__points p;
    ML_TRY(ml__points_finite(&p, lr));
    ml_status st = ML_OK;
    if (p.n > 0) {
        out->present = true;
        out->initial = p.values[0];
        out->final = p.values[p.n - 1];
        out->peak = p.values[0];
        for (size_t i = 1; i < p.n; i++) out->peak = fmax(out->peak, p.values[i]);
        size_t k = out->peak > 0 ? warmup(out, &p) : 0;
        if (out->peak > 0) {
            st = classify(out, &p, k);
        } else { /* all zero (or negative): constant, and diagnose calls it zero */
            out->shape = ML_LR_SHAPE_CONSTANT;
            out->fit_rmse = 0.0;
        }
    }
    ml__points_free(&p);
    return st;
}
