/* loss.c - the training loss series to initial / final / best values, reduction, smoothness,
 * the current plateau and the convergence step (docs/analyze.md, "Loss"). It judges nothing:
 * diagnose.c turns these numbers into findings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Convergence: two consecutive windows of W points whose means differ by less than this share
 * of the loss' scale (its current level or, when larger, the improvement the run made). 1% is
 * below what a human reads off a loss curve as "still going down". */
#define CONV_REL_EPS 0.01
/* ... or by less than this many standard errors of that difference: a change within two
 * standard errors of minibatch noise is not a trend (a two-sided 95% band). */
#define CONV_Z 2.0
/* Plateau: the smoothed loss stays within this share of its whole range from some point to the
 * end. 2% of the range is what a final stretch can still gain without changing a conclusion. */
#define PLATEAU_BAND_FRACTION 0.02
/* ... and that stretch holds at least this share of the points: a quarter of the run spent
 * without progress is compute worth saving; shorter tails are ordinary convergence. */
#define PLATEAU_MIN_FRACTION 0.25

/* Mean absolute deviation of x from its centred moving average (half-width h), as a share of
 * mean |x|; 1 minus it is the smoothness. */
static double smoothness(const double *x, size_t n, size_t h) {
    double dev = 0.0, mag = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t a = i >= h ? i - h : 0, b = i + h < n ? i + h : n - 1;
        double sum = 0.0;
        for (size_t j = a; j <= b; j++) sum += x[j];
        dev += fabs(x[i] - sum / (double)(b - a + 1));
        mag += fabs(x[i]);
    }
    if (!(mag > 0.0)) return 1.0;
    double r = dev / mag;
    return r >= 1.0 ? 0.0 : 1.0 - r;
}

/* Mean of x and the variance of its residuals around their least-squares line: the noise of a
 * window without its trend, so that a steadily moving loss is never taken for a noisy one. */
static void mean_var(const double *x, size_t n, double *mean, double *var) {
    *mean = ml__mean(x, n);
    *var = 0.0;
    if (n < 3) {
        for (size_t i = 0; i < n; i++) *var += (x[i] - *mean) * (x[i] - *mean);
        if (n > 1) *var /= (double)(n - 1);
        return;
    }
    double mt = 0.5 * (double)(n - 1), stt = 0.0, sty = 0.0;
    for (size_t i = 0; i < n; i++) {
        stt += ((double)i - mt) * ((double)i - mt);
        sty += ((double)i - mt) * (x[i] - *mean);
    }
    double b = sty / stt, ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = x[i] - (*mean + b * ((double)i - mt));
        ss += r * r;
    }
    *var = ss / (double)(n - 2);
}

/* Does the rule hold at i (windows x[i-2w+1 .. i-w] and x[i-w+1 .. i])? */
static bool converged_at(const double *x, size_t i, size_t w, double range) {
    double ma, va, mb, vb;
    mean_var(x + i + 1 - 2 * w, w, &ma, &va);
    mean_var(x + i + 1 - w, w, &mb, &vb);
    double scale = fmax(fabs(mb), range);
    double se = sqrt(va / (double)w + vb / (double)w);
    return fabs(ma - mb) <= fmax(CONV_REL_EPS * scale, CONV_Z * se);
}

/* First index from which the rule held at every later point, for at least w points. */
static void convergence(ml_loss_analysis *out, const ml__points *p, size_t w, double range) {
    out->converged = false;
    out->converged_step = -1;
    size_t n = p->n;
    if (n < 3 * w) return; /* two windows to compare, then w points of holding */
    size_t first_held = n;
    for (size_t i = n; i-- > 2 * w - 1;) {
        if (!converged_at(p->values, i, w, range)) break;
        first_held = i;
    }
    if (first_held <= n - w) {
        out->converged = true;
        out->converged_step = p->steps[first_held];
    }
}

static void plateau(ml_loss_analysis *out, const ml__points *p, const double *s, size_t w) {
    size_t n = p->n;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = w - 1; i < n; i++) {
        lo = fmin(lo, s[i]);
        hi = fmax(hi, s[i]);
    }
    double band = PLATEAU_BAND_FRACTION * (hi - lo);
    double tlo = INFINITY, thi = -INFINITY;
    size_t start = n;
    for (size_t i = n; i-- > w - 1;) {
        tlo = fmin(tlo, s[i]);
        thi = fmax(thi, s[i]);
        if (thi - tlo > band) break;
        start = i;
    }
    out->plateau = start < n && (double)(n - start) >= PLATEAU_MIN_FRACTION * (double)n &&
                   n - start >= 2;
    out->plateau_step = out->plateau ? p->steps[start] : -1;
}

ml_status ml__loss_analyze(ml_loss_analysis *out, const ml_series *loss) {
    memset(out, 0, sizeof *out);
    out->best_step = out->plateau_step = out->converged_step = -1;
    out->initial = out->final = out->best = out->reduction = out->smoothness = NAN;
    ml__points p;
    ML_TRY(ml__points_finite(&p, loss));
    out->n_points = p.n;
    if (p.n < 2) {
        ml__points_free(&p);
        return ML_OK;
    }
    out->present = true;
    size_t n = p.n, w = ml__edge_points(n);
    double *s = malloc(n * sizeof *s);
    if (!s) {
        ml__points_free(&p);
        return ML_NOMEM();
    }
    ml__trailing_mean(s, p.values, n, w);
    out->initial = ml__mean(p.values, w);
    out->final = ml__mean(p.values + n - w, w);
    out->reduction = out->initial != 0.0 ? (out->initial - out->final) / fabs(out->initial) : NAN;
    size_t best = w - 1;
    for (size_t i = w; i < n; i++)
        if (s[i] < s[best]) best = i;
    out->best = s[best];
    out->best_step = p.steps[best];
    out->smoothness = smoothness(p.values, n, w / 2 > 0 ? w / 2 : 1);
    double range = fmax(0.0, s[w - 1] - out->best);
    plateau(out, &p, s, w);
    /* a loss that ends in NaN or infinity has not converged, whatever its finite part did */
    if (isfinite(loss->values[loss->n - 1])) convergence(out, &p, w, range);
    free(s);
    ml__points_free(&p);
    return ML_OK;
}
