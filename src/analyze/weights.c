/* weights.c - weight stability per tensor from weight_norm/<tensor> (and update_ratio/<tensor>):
 * coefficient of variation, CUSUM change points of the step-to-step change, the largest jump
 * (docs/analyze.md, "Weights"). It reads no weights: the trainer's collectors measured them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Page's two-sided CUSUM on standardised step-to-step changes with the textbook pair
 * k = 0.5, h = 5 (Montgomery, Introduction to Statistical Quality Control): it detects a shift
 * of one standard deviation within ~10 steps and raises a false alarm once in ~465 steps. */
#define CUSUM_K 0.5
#define CUSUM_H 5.0
/* Changes that set the reference regime (at the start and after each alarm): 20 points give
 * a median and MAD stable to ~20% while leaving most of a run to be monitored. */
#define CUSUM_REF_POINTS 20
/* MAD to standard deviation for normal data: sigma = 1.4826 MAD. */
#define MAD_TO_SIGMA 1.4826
/* A tensor whose norm changes by the same amount every step has MAD 0; its sigma is floored at
 * this share of the mean norm, float32 rounding's order, so rounding alone never alarms. */
#define SIGMA_FLOOR_REL 1e-6

void ml__weights_free(ml_weight_analysis *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_tensors; i++) free((char *)w->tensors[i].name);
    free(w->tensors);
    w->tensors = NULL;
    w->n_tensors = 0;
}

/* Robust centre and spread of the differences d (n values). */
static ml_status centre_spread(const double *d, size_t n, double *mu, double *sigma) {
    ML_TRY(ml__median(d, n, mu));
    double *dev = malloc(n * sizeof *dev);
    if (!dev) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) dev[i] = fabs(d[i] - *mu);
    double mad;
    ml_status st = ml__median(dev, n, &mad);
    free(dev);
    *sigma = MAD_TO_SIGMA * mad;
    return st;
}

/* Page's CUSUM against a reference regime: the first CUSUM_REF_POINTS changes give the centre
 * and spread; after an alarm the next CUSUM_REF_POINTS changes become the new reference, so a
 * lasting change of regime counts once and the following one is measured against it. */
static ml_status change_points(ml_tensor_stability *t, const ml__points *p) {
    size_t m = p->n - 1;
    double *d = malloc(m * sizeof *d);
    if (!d) return ML_NOMEM();
    for (size_t i = 0; i < m; i++) d[i] = p->values[i + 1] - p->values[i];
    double floor_sigma = SIGMA_FLOOR_REL * fabs(ml__mean(p->values, p->n));
    double mu = 0.0, sigma = 0.0, hi = 0.0, lo = 0.0;
    ml_status st = ML_OK;
    for (size_t i = 0, ref = 0; st == ML_OK && i < m; i++) {
        if (i == ref) {
            size_t k = m - ref < CUSUM_REF_POINTS ? m - ref : CUSUM_REF_POINTS;
            st = centre_spread(d + ref, k, &mu, &sigma);
            if (!(sigma > floor_sigma)) sigma = floor_sigma;
            hi = lo = 0.0;
        }
        if (!(sigma > 0.0)) continue;
        double z = (d[i] - mu) / sigma;
        hi = fmax(0.0, hi + z - CUSUM_K);
        lo = fmax(0.0, lo - z - CUSUM_K);
        if (hi > CUSUM_H || lo > CUSUM_H) {
            if (t->n_change_points++ == 0) t->first_change_step = p->steps[i + 1];
            ref = i + 1;
        }
    }
    free(d);
    return st;
}

static double last_finite(const ml_series *s) {
    for (size_t i = s->n; i-- > 0;)
        if (isfinite(s->values[i])) return s->values[i];
    return NAN;
}

static ml_status one_tensor(ml_tensor_stability *t, const ml__named_series *norm,
                            const ml__named_series *ratios, size_t n_ratios) {
    t->cv = t->max_jump = t->final_update_ratio = NAN;
    t->first_change_step = t->max_jump_step = -1;
    if (!(t->name = strdup(norm->name))) return ML_NOMEM();
    for (size_t i = 0; i < n_ratios; i++)
        if (strcmp(ratios[i].name, norm->name) == 0)
            t->final_update_ratio = last_finite(&ratios[i].series);
    ml__points p;
    ML_TRY(ml__points_finite(&p, &norm->series));
    ml_status st = ML_OK;
    if (p.n >= 1) {
        double mean = ml__mean(p.values, p.n);
        t->cv = mean != 0.0 ? ml__stddev(p.values, p.n) / fabs(mean) : NAN;
    }
    for (size_t i = 1; i < p.n; i++) {
        if (p.values[i - 1] == 0.0) continue;
        /* norms are collected every k steps: a change over k steps counts k-th per step */
        double jump = fabs(p.values[i] - p.values[i - 1]) / fabs(p.values[i - 1]) /
                      (double)(p.steps[i] - p.steps[i - 1]);
        if (isnan(t->max_jump) || jump > t->max_jump) {
            t->max_jump = jump;
            t->max_jump_step = p.steps[i];
        }
    }
    if (p.n >= 3) st = change_points(t, &p);
    ml__points_free(&p);
    return st;
}

ml_status ml__weights_analyze(ml_weight_analysis *out, const ml__named_series *norms,
                              size_t n_norms, const ml__named_series *ratios, size_t n_ratios) {
    memset(out, 0, sizeof *out);
    out->present = n_norms > 0;
    if (n_norms == 0) return ML_OK;
    if (!(out->tensors = calloc(n_norms, sizeof *out->tensors))) return ML_NOMEM();
    ml_status st = ML_OK;
    for (size_t i = 0; i < n_norms && st == ML_OK; i++) {
        out->n_tensors = i + 1;
        st = one_tensor(&out->tensors[i], &norms[i], ratios, n_ratios);
    }
    if (st != ML_OK) ml__weights_free(out);
    return st;
}
