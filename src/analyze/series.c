/* series.c - arithmetic on metric series for the analyses: finite copies, means, medians,
 * slopes, moving averages and running medians, step windows. It reads no file and decides
 * nothing: thresholds live with the analyses that use them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

ml_status ml__points_finite(ml__points *out, const ml_series *s) {
    memset(out, 0, sizeof *out);
    size_t n = s ? s->n : 0, k = 0;
    if (n == 0) return ML_OK;
    out->steps = malloc(n * sizeof *out->steps);
    out->values = malloc(n * sizeof *out->values);
    if (!out->steps || !out->values) {
        ml__points_free(out);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(s->values[i])) continue;
        out->steps[k] = s->steps[i];
        out->values[k++] = s->values[i];
    }
    out->n = k;
    return ML_OK;
}

void ml__points_free(ml__points *p) {
    free(p->steps);
    free(p->values);
    memset(p, 0, sizeof *p);
}

double ml__mean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (double)n;
}

double ml__stddev(const double *x, size_t n) {
    if (n < 2) return 0.0;
    double m = ml__mean(x, n), ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (double)n);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

ml_status ml__median(const double *x, size_t n, double *out) {
    if (n == 0) {
        *out = NAN;
        return ML_OK;
    }
    double *c = malloc(n * sizeof *c);
    if (!c) return ML_NOMEM();
    memcpy(c, x, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    *out = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return ML_OK;
}

double ml__slope(const int64_t *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    /* centred on the first step so that large step numbers lose no precision */
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < n; i++) {
        mx += (double)(x[i] - x[0]);
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < n; i++) {
        double dx = (double)(x[i] - x[0]) - mx;
        sxy += dx * (y[i] - my);
        sxx += dx * dx;
    }
    return sxx > 0.0 ? sxy / sxx : NAN;
}

void ml__trailing_mean(double *out, const double *x, size_t n, size_t w) {
    if (w == 0) w = 1;
    /* each window summed afresh: a running sum would keep the rounding of a huge value (an
     * exploding loss of 1e30) long after it left the window; w <= 200 keeps this cheap */
    for (size_t i = 0; i < n; i++) {
        size_t k = i + 1 < w ? i + 1 : w;
        double sum = 0.0;
        for (size_t j = i + 1 - k; j <= i; j++) sum += x[j];
        out[i] = sum / (double)k;
    }
}

/* Sorted window of the last w values: insertion and removal by binary search + memmove,
 * O(w) per point, so n points cost O(n w) with w ~ 20. */
static size_t lower_index(const double *a, size_t n, double v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

ml_status ml__running_median_before(double *out, const double *x, size_t n, size_t w) {
    if (n == 0) return ML_OK;
    if (w == 0) w = 1;
    double *win = malloc(w * sizeof *win);
    if (!win) return ML_NOMEM();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = k == 0 ? NAN : k % 2 ? win[k / 2] : 0.5 * (win[k / 2 - 1] + win[k / 2]);
        if (k == w) { /* drop x[i - w] */
            size_t j = lower_index(win, k, x[i - w]);
            memmove(win + j, win + j + 1, (k - j - 1) * sizeof *win);
            k--;
        }
        size_t j = lower_index(win, k, x[i]);
        memmove(win + j + 1, win + j, (k - j) * sizeof *win);
        win[j] = x[i];
        k++;
    }
    free(win);
    return ML_OK;
}

size_t ml__lower_bound(const int64_t *steps, size_t n, int64_t step) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (steps[mid] < step) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

ml_series ml__series_window(const ml_series *s, int64_t first, int64_t last) {
    ml_series w = {0, NULL, NULL, NULL};
    if (!s || s->n == 0 || first > last) return w;
    size_t a = ml__lower_bound(s->steps, s->n, first);
    size_t b = last == INT64_MAX ? s->n : ml__lower_bound(s->steps, s->n, last + 1);
    if (b <= a) return w;
    w.n = b - a;
    w.steps = s->steps + a;
    w.values = s->values + a;
    w.wall_times = s->wall_times ? s->wall_times + a : NULL;
    return w;
}

size_t ml__edge_points(size_t n) {
    size_t k = (n + 9) / 10;
    if (k < 1) k = 1;
    if (k > ML__EDGE_MAX_POINTS) k = ML__EDGE_MAX_POINTS;
    return k;
}
