/* gradient.c - gradient health from the collected series: spikes against a running median,
 * non-finite steps, vanishing norms, consistency of successive gradients and per-tensor flow
 * (docs/analyze.md, "Gradients"). Norms are the ones the trainer measured before clipping and
 * before the optimizer step; nothing here recomputes a gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* A spike: a global norm this many times the median of the previous steps. Minibatch norms of
 * a healthy run vary by 2-3x step to step; an order of magnitude is a different regime. */
#define SPIKE_RATIO 10.0
/* Steps in the running median: long enough that one spike does not move it, short enough to
 * follow the slow decline of norms during training. */
#define SPIKE_WINDOW 20
/* A median over fewer points than this is not a baseline: the first steps are never spikes. */
#define SPIKE_MIN_HISTORY 5
/* Vanishing: median global norm below Adam's default epsilon (1e-8). Below it Adam's update
 * shrinks with the gradient instead of being normalised, and SGD's is below float32's
 * resolution for weights of order 1: learning has stopped. */
#define VANISH_NORM 1e-8
/* A tensor whose gradient norm never exceeds this is dead (frozen, detached or behind a dead
 * activation): float32 products of live activations are never this small in every step. */
#define DEAD_NORM 1e-12

void ml__gradient_free(ml_gradient_analysis *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->spike_steps);
    free(g->spike_norms);
    g->tensors = NULL;
    g->spike_steps = NULL;
    g->spike_norms = NULL;
    g->n_tensors = g->n_spike_steps = 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Steps with a non-finite norm, a non-finite loss or a non-zero non-finite fraction. */
static ml_status nonfinite_steps(ml_gradient_analysis *out, const ml__gradient_inputs *in) {
    size_t cap = (in->norm ? in->norm->n : 0) + (in->loss ? in->loss->n : 0) +
                 (in->nonfinite ? in->nonfinite->n : 0);
    if (cap == 0) return ML_OK;
    int64_t *steps = malloc(cap * sizeof *steps);
    if (!steps) return ML_NOMEM();
    size_t k = 0;
    const ml_series *src[2] = {in->norm, in->loss};
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; src[s] && i < src[s]->n; i++)
            if (!isfinite(src[s]->values[i])) steps[k++] = src[s]->steps[i];
    for (size_t i = 0; in->nonfinite && i < in->nonfinite->n; i++)
        if (!(in->nonfinite->values[i] == 0.0)) steps[k++] = in->nonfinite->steps[i];
    qsort(steps, k, sizeof *steps, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || steps[i] != steps[u - 1]) steps[u++] = steps[i];
    out->n_nonfinite = u;
    out->first_nonfinite_step = u ? steps[0] : -1;
    free(steps);
    return ML_OK;
}

/* Appends one flagged step; the arrays grow by doubling (cap in *cap). */
static ml_status spike_add(ml_gradient_analysis *out, size_t *cap, int64_t step, double norm) {
    if (out->n_spike_steps == *cap) {
        size_t n = *cap ? 2 * *cap : 16;
        int64_t *s = realloc(out->spike_steps, n * sizeof *s);
        if (!s) return ML_NOMEM();
        out->spike_steps = s;
        double *v = realloc(out->spike_norms, n * sizeof *v);
        if (!v) return ML_NOMEM();
        out->spike_norms = v;
        *cap = n;
    }
    out->spike_steps[out->n_spike_steps] = step;
    out->spike_norms[out->n_spike_steps++] = norm;
    return ML_OK;
}

/* p is in step order (the series'), so the flagged steps are too. */
static ml_status spikes(ml_gradient_analysis *out, const ml__points *p) {
    double *med = malloc(p->n * sizeof *med);
    if (!med) return ML_NOMEM();
    ml_status st = ml__running_median_before(med, p->values, p->n, SPIKE_WINDOW);
    size_t cap = 0;
    for (size_t i = SPIKE_MIN_HISTORY; st == ML_OK && i < p->n; i++) {
        if (!(p->values[i] > SPIKE_RATIO * med[i])) continue;
        if (out->n_spikes++ == 0) {
            out->first_spike_step = p->steps[i];
            out->first_spike_norm = p->values[i];
            out->first_spike_median = med[i];
        }
        st = spike_add(out, &cap, p->steps[i], p->values[i]);
    }
    free(med);
    return st;
}

static ml_status norms(ml_gradient_analysis *out, const ml_series *norm) {
    ml__points p;
    ML_TRY(ml__points_finite(&p, norm));
    ml_status st = ml__median(p.values, p.n, &out->median_norm);
    for (size_t i = 0; i < p.n; i++)
        if (i == 0 || p.values[i] > out->max_norm) {
            out->max_norm = p.values[i];
            out->max_norm_step = p.steps[i];
        }
    out->vanishing = p.n > 0 && out->median_norm < VANISH_NORM;
    if (st == ML_OK && p.n > SPIKE_MIN_HISTORY) st = spikes(out, &p);
    ml__points_free(&p);
    return st;
}

static ml_status consistency(ml_gradient_analysis *out, const ml_series *cosine) {
    ml__points p;
    ML_TRY(ml__points_finite(&p, cosine));
    out->has_cosine = p.n > 0;
    out->cosine_mean = ml__mean(p.values, p.n);
    out->cosine_std = p.n ? ml__stddev(p.values, p.n) : NAN;
    ml__points_free(&p);
    return ML_OK;
}

static int cmp_flow(const void *a, const void *b) {
    const ml_tensor_flow *x = a, *y = b;
    bool nx = isnan(x->share), ny = isnan(y->share);
    if (nx != ny) return nx ? 1 : -1;
    if (!nx && x->share != y->share) return x->share < y->share ? 1 : -1;
    return strcmp(x->name, y->name);
}

static ml_status flow(ml_gradient_analysis *out, const ml__named_series *ts, size_t n) {
    if (n == 0) return ML_OK;
    if (!(out->tensors = calloc(n, sizeof *out->tensors))) return ML_NOMEM();
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        ml_tensor_flow *f = &out->tensors[i];
        if (!(f->name = strdup(ts[i].name))) return ML_NOMEM();
        out->n_tensors = i + 1;
        double sum = 0.0, max = 0.0;
        size_t k = 0;
        for (size_t j = 0; j < ts[i].series.n; j++) {
            double v = ts[i].series.values[j];
            if (!isfinite(v)) continue;
            sum += v;
            max = fmax(max, fabs(v));
            k++;
        }
        f->mean_grad_norm = k ? sum / (double)k : NAN;
        f->dead = k > 0 && max <= DEAD_NORM;
        if (k) total += f->mean_grad_norm;
    }
    for (size_t i = 0; i < n; i++)
        out->tensors[i].share = total > 0.0 ? out->tensors[i].mean_grad_norm / total : NAN;
    qsort(out->tensors, n, sizeof *out->tensors, cmp_flow);
    return ML_OK;
}

ml_status ml__gradient_analyze(ml_gradient_analysis *out, const ml__gradient_inputs *in) {
    memset(out, 0, sizeof *out);
    out->median_norm = out->max_norm = out->cosine_mean = out->cosine_std = NAN;
    out->first_spike_norm = out->first_spike_median = NAN;
    out->max_norm_step = out->first_spike_step = out->first_nonfinite_step = -1;
    out->spike_ratio = SPIKE_RATIO;
    out->present = in->norm && in->norm->n > 0;
    ml_status st = nonfinite_steps(out, in);
    if (st == ML_OK && out->present) st = norms(out, in->norm);
    if (st == ML_OK && in->cosine) st = consistency(out, in->cosine);
    if (st == ML_OK) st = flow(out, in->tensors, in->n_tensors);
    if (st != ML_OK) ml__gradient_free(out);
    return st;
}
