/* metrics.c - ranking and threshold metrics of binary scores, the bootstrap CI of ROC-AUC and
 * ROC/PR curve points; it fits nothing and writes no files. */
#include "microlens/eval.h"

#include <math.h>
#include <stdlib.h>

#include "util/error.h"
#include "util/rng.h"

typedef struct scored {
    double s;
    int y;
} scored;

/* Descending score; ties keep no particular order because every consumer walks tie blocks. */
static int cmp_desc(const void *a, const void *b) {
    double x = ((const scored *)a)->s, z = ((const scored *)b)->s;
    return (x < z) - (x > z);
}

static ml_status check_inputs(const double *score, const int *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return ML_FAIL(ML_EINVAL, "y[%zu] is %d (expected 0 or 1)", i, y[i]);
        if (!isfinite(score[i]))
            return ML_FAIL(ML_EINVAL, "score[%zu] is not finite (expected a finite score)", i);
    }
    return ML_OK;
}

static void count_classes(const int *y, size_t n, size_t *n_pos, size_t *n_neg) {
    size_t p = 0;
    for (size_t i = 0; i < n; i++) p += (size_t)(y[i] == 1);
    *n_pos = p;
    *n_neg = n - p;
}

static ml_status need_both_classes(size_t n_pos, size_t n_neg) {
    if (n_pos == 0 || n_neg == 0)
        return ML_FAIL(ML_EINVAL, "only class %d present among %zu samples (ROC-AUC needs both "
                       "classes)", n_pos ? 1 : 0, n_pos + n_neg);
    return ML_OK;
}

/* Sorted copy of (score, y), descending; NULL on allocation failure. */
static scored *sorted_pairs(const double *score, const int *y, size_t n) {
    scored *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = (scored){score[i], y[i]};
    qsort(v, n, sizeof *v, cmp_desc);
    return v;
}

/* Trapezoid over tie blocks in integers: a block adding dfp negatives and dtp positives above
 * tp positives contributes dfp * (2 tp + dtp) / 2 pairs (ties as 1/2). Exact below 2^53. */
static double auc_sorted(const scored *v, size_t n, size_t n_pos, size_t n_neg) {
    double twice_pairs = 0;
    size_t tp = 0;
    for (size_t i = 0; i < n;) {
        size_t dtp = 0, dfp = 0, j = i;
        for (; j < n && v[j].s == v[i].s; j++) {
            if (v[j].y) dtp++;
            else dfp++;
        }
        twice_pairs += (double)dfp * (double)(2 * tp + dtp);
        tp += dtp;
        i = j;
    }
    return twice_pairs / (2.0 * (double)n_pos * (double)n_neg);
}

ml_status ml_roc_auc(double *auc, const double *score, const int *y, size_t n) {
    size_t n_pos, n_neg;
    ML_TRY(check_inputs(score, y, n));
    count_classes(y, n, &n_pos, &n_neg);
    ML_TRY(need_both_classes(n_pos, n_neg));
    scored *v = sorted_pairs(score, y, n);
    if (!v) return ML_NOMEM();
    *auc = auc_sorted(v, n, n_pos, n_neg);
    free(v);
    return ML_OK;
}

ml_status ml_average_precision(double *ap, const double *score, const int *y, size_t n) {
    size_t n_pos, n_neg;
    ML_TRY(check_inputs(score, y, n));
    count_classes(y, n, &n_pos, &n_neg);
    if (n_pos == 0)
        return ML_FAIL(ML_EINVAL, "no positive among %zu samples (average precision needs "
                       "one)", n);
    scored *v = sorted_pairs(score, y, n);
    if (!v) return ML_NOMEM();
    /* scikit-learn: recall_k = tps_k / P and precision_k = tps_k / (tps_k + fps_k) at each
     * distinct threshold, AP = sum (recall_k - recall_{k-1}) * precision_k, recall_0 = 0. */
    double sum = 0, prev_recall = 0;
    size_t tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        for (; j < n && v[j].s == v[i].s; j++) {
            if (v[j].y) tp++;
            else fp++;
        }
        double recall = (double)tp / (double)n_pos;
        sum += (recall - prev_recall) * ((double)tp / (double)(tp + fp));
        prev_recall = recall;
        i = j;
    }
    free(v);
    *ap = sum;
    return ML_OK;
}

static double ratio_or_zero(size_t num, size_t den) {
    return den ? (double)num / (double)den : 0.0;
}

ml_status ml_binary_metrics_compute(ml_binary_metrics *out, const double *score, const int *y,
                                    size_t n, double threshold) {
    if (n == 0) return ML_FAIL(ML_EINVAL, "no samples (metrics need at least one)");
    ml_binary_metrics m = {0};
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return ML_FAIL(ML_EINVAL, "y[%zu] is %d (expected 0 or 1)", i, y[i]);
        if (isnan(score[i])) return ML_FAIL(ML_EINVAL, "score[%zu] is NaN (expected a number)", i);
        int pred = score[i] > threshold;
        if (y[i]) {
            if (pred) m.tp++;
            else m.fn++;
        } else {
            if (pred) m.fp++;
            else m.tn++;
        }
    }
    size_t pos = m.tp + m.fn, neg = m.tn + m.fp;
    m.accuracy = (double)(m.tp + m.tn) / (double)n;
    m.precision = ratio_or_zero(m.tp, m.tp + m.fp);
    m.recall = ratio_or_zero(m.tp, pos);
    m.specificity = ratio_or_zero(m.tn, neg);
    m.f1 = ratio_or_zero(2 * m.tp, 2 * m.tp + m.fp + m.fn);
    /* scikit-learn averages recall over the classes present in y only. */
    m.balanced_accuracy = (pos && neg) ? (m.recall + m.specificity) / 2
                          : pos        ? m.recall
                                       : m.specificity;
    *out = m;
    return ML_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

/* numpy.percentile's default ("linear"): position q * (m - 1) between sorted values. */
static double percentile_sorted(const double *v, size_t m, double q) {
    double pos = q * (double)(m - 1);
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= m) return v[m - 1];
    double frac = pos - (double)lo;
    return v[lo] + frac * (v[lo + 1] - v[lo]);
}

ml_status ml_roc_auc_bootstrap_ci(double ci95[2], size_t *n_used, const double *score,
                                  const int *y, size_t n, size_t n_boot, uint64_t seed) {
    size_t n_pos, n_neg, used = 0;
    ML_TRY(check_inputs(score, y, n));
    count_classes(y, n, &n_pos, &n_neg);
    ML_TRY(need_both_classes(n_pos, n_neg));
    if (n_boot == 0) return ML_FAIL(ML_EINVAL, "n_boot is 0 (expected >= 1, e.g. 1000)");
    ml_status st = ML_OK;
    scored *v = malloc(n * sizeof *v);
    double *aucs = malloc(n_boot * sizeof *aucs);
    if (!v || !aucs) {
        st = ML_NOMEM();
        goto done;
    }
    ml__rng rng;
    ml__rng_seed(&rng, seed);
    for (size_t b = 0; b < n_boot; b++) {
        size_t p = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)ml__rng_below(&rng, n);
            v[i] = (scored){score[k], y[k]};
            p += (size_t)(y[k] == 1);
        }
        if (p == 0 || p == n) continue; /* one class: no AUC, skipped (documented) */
        qsort(v, n, sizeof *v, cmp_desc);
        aucs[used++] = auc_sorted(v, n, p, n - p);
    }
    if (used == 0) {
        st = ML_FAIL(ML_EINVAL, "all %zu bootstrap resamples held one class only", n_boot);
        goto done;
    }
    qsort(aucs, used, sizeof *aucs, cmp_double);
    ci95[0] = percentile_sorted(aucs, used, 0.025);
    ci95[1] = percentile_sorted(aucs, used, 0.975);
    *n_used = used;
done:
    free(aucs);
    free(v);
    return st;
}

void ml_curve_free(ml_curve *c) {
    if (!c) return;
    free(c->x);
    free(c->y);
    free(c->threshold);
    free(c);
}

static ml_curve *curve_alloc(size_t cap) {
    ml_curve *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->x = malloc(cap * sizeof *c->x);
    c->y = malloc(cap * sizeof *c->y);
    c->threshold = malloc(cap * sizeof *c->threshold);
    if (!c->x || !c->y || !c->threshold) {
        ml_curve_free(c);
        return NULL;
    }
    return c;
}

/* Cumulative (tp, fp) at each distinct threshold, descending; returns how many. */
static size_t tie_blocks(const scored *v, size_t n, size_t *tps, size_t *fps, double *thr) {
    size_t k = 0, tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        for (; j < n && v[j].s == v[i].s; j++) {
            if (v[j].y) tp++;
            else fp++;
        }
        tps[k] = tp;
        fps[k] = fp;
        thr[k++] = v[i].s;
        i = j;
    }
    return k;
}

typedef enum curve_kind { CURVE_ROC, CURVE_PR } curve_kind;

static void fill_roc(ml_curve *c, const size_t *tps, const size_t *fps, const double *thr,
                     size_t k, size_t n_pos, size_t n_neg) {
    c->x[0] = 0;
    c->y[0] = 0;
    c->threshold[0] = INFINITY;
    for (size_t i = 0; i < k; i++) {
        c->x[i + 1] = (double)fps[i] / (double)n_neg;
        c->y[i + 1] = (double)tps[i] / (double)n_pos;
        c->threshold[i + 1] = thr[i];
    }
    c->n_points = k + 1;
}

static void fill_pr(ml_curve *c, const size_t *tps, const size_t *fps, const double *thr,
                    size_t k, size_t n_pos) {
    for (size_t i = 0; i < k; i++) { /* ascending thresholds: reverse of the blocks */
        size_t b = k - 1 - i;
        c->x[i] = (double)tps[b] / (double)n_pos;
        c->y[i] = (double)tps[b] / (double)(tps[b] + fps[b]);
        c->threshold[i] = thr[b];
    }
    c->x[k] = 0;
    c->y[k] = 1;
    c->threshold[k] = INFINITY;
    c->n_points = k + 1;
}

static ml_status make_curve(ml_curve **out, const double *score, const int *y, size_t n,
                            curve_kind kind) {
    size_t n_pos, n_neg;
    ML_TRY(check_inputs(score, y, n));
    count_classes(y, n, &n_pos, &n_neg);
    if (kind == CURVE_ROC) ML_TRY(need_both_classes(n_pos, n_neg));
    if (kind == CURVE_PR && n_pos == 0)
        return ML_FAIL(ML_EINVAL, "no positive among %zu samples (a PR curve needs one)", n);
    ml_status st = ML_OK;
    ml_curve *c = curve_alloc(n + 1);
    scored *v = sorted_pairs(score, y, n);
    size_t *tps = malloc(n * sizeof *tps), *fps = malloc(n * sizeof *fps);
    double *thr = malloc(n * sizeof *thr);
    if (!c || !v || !tps || !fps || !thr) {
        st = ML_NOMEM();
        goto done;
    }
    size_t k = tie_blocks(v, n, tps, fps, thr);
    if (kind == CURVE_ROC) fill_roc(c, tps, fps, thr, k, n_pos, n_neg);
    else fill_pr(c, tps, fps, thr, k, n_pos);
    *out = c;
    c = NULL;
done:
    free(thr);
    free(fps);
    free(tps);
    free(v);
    ml_curve_free(c);
    return st;
}

ml_status ml_roc_curve(ml_curve **out, const double *score, const int *y, size_t n) {
    return make_curve(out, score, y, n, CURVE_ROC);
}

ml_status ml_pr_curve(ml_curve **out, const double *score, const int *y, size_t n) {
    return make_curve(out, score, y, n, CURVE_PR);
}
