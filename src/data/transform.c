/* transform.c - fits feature filters and a standard scaler on training samples and applies
 * them with the chosen value transform. It never looks at labels and never reorders features. */
#include "microlens/transform.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/strmap.h"

struct ml_transform {
    ml_transform_kind kind;
    double log_pseudocount, clr_pseudocount;
    bool has_scale;
    size_t n_features; /* of the fitted table */
    size_t n_out;
    size_t *kept;      /* (n_out) table feature indices, ascending */
    char **kept_ids;   /* (n_out) copies of their IDs */
    size_t *out_of;    /* (n_features) output index, or SIZE_MAX when dropped */
    double *mean;      /* (n_out) scaler, NULL without scaling */
    double *scale;     /* (n_out) */
};

static const char *const kind_names[] = {"none", "relab", "log", "clr"};
#define N_KINDS (sizeof kind_names / sizeof *kind_names)

ml_status ml_transform_kind_parse(ml_transform_kind *out, const char *name) {
    for (size_t i = 0; i < N_KINDS; i++) {
        if (strcasecmp(name, kind_names[i]) == 0) {
            *out = (ml_transform_kind)i;
            return ML_OK;
        }
    }
    return ML_FAIL(ML_EINVAL, "unknown transform \"%.40s\" (expected none, relab, log or clr)",
                   name);
}

const char *ml_transform_kind_name(ml_transform_kind k) {
    return (unsigned)k < N_KINDS ? kind_names[k] : "unknown";
}

void ml_transform_free(ml_transform *tf) {
    if (!tf) return;
    if (tf->kept_ids)
        for (size_t k = 0; k < tf->n_out; k++) free(tf->kept_ids[k]);
    free(tf->kept_ids);
    free(tf->kept);
    free(tf->out_of);
    free(tf->mean);
    free(tf->scale);
    free(tf);
}

size_t ml_transform_n_outputs(const ml_transform *tf) { return tf->n_out; }
size_t ml_transform_output_feature(const ml_transform *tf, size_t k) { return tf->kept[k]; }
const char *ml_transform_output_feature_id(const ml_transform *tf, size_t k) {
    return tf->kept_ids[k];
}

static ml_status check_options(const ml_transform_options *o) {
    if (o->version != ML_TRANSFORM_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "transform options: version %d (expected %d)", o->version,
                       ML_TRANSFORM_OPTIONS_VERSION);
    if ((unsigned)o->kind >= N_KINDS)
        return ML_FAIL(ML_EINVAL, "transform options: kind %d (expected none, relab, log or clr)",
                       (int)o->kind);
    if (!(o->min_prevalence >= 0.0 && o->min_prevalence <= 1.0))
        return ML_FAIL(ML_EINVAL, "transform options: min_prevalence %g (expected a fraction "
                       "in [0, 1])", o->min_prevalence);
    if (!(o->min_abundance >= 0.0 && o->min_abundance <= 1.0))
        return ML_FAIL(ML_EINVAL, "transform options: min_abundance %g (expected a fraction "
                       "in [0, 1])", o->min_abundance);
    if (!(o->log_pseudocount > 0.0 && isfinite(o->log_pseudocount)))
        return ML_FAIL(ML_EINVAL, "transform options: log_pseudocount %g (expected > 0)",
                       o->log_pseudocount);
    if (!(o->clr_pseudocount > 0.0 && isfinite(o->clr_pseudocount)))
        return ML_FAIL(ML_EINVAL, "transform options: clr_pseudocount %g (expected > 0)",
                       o->clr_pseudocount);
    return ML_OK;
}

/* rows NULL stands for 0..n_samples-1; n_rows must then say so, since dst is sized by it. */
static ml_status check_rows(const ml_table *t, const size_t *rows, size_t n_rows) {
    size_t n_samples = ml_table_n_samples(t);
    if (!rows) {
        if (n_rows != n_samples)
            return ML_FAIL(ML_EINVAL, "rows is NULL (all samples) but n_rows is %zu, not the "
                           "table's %zu samples", n_rows, n_samples);
        return ML_OK;
    }
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i] >= n_samples)
            return ML_FAIL(ML_EINVAL, "rows[%zu] = %zu is out of range (table has %zu samples)",
                           i, rows[i], n_samples);
    return ML_OK;
}

static size_t row_at(const size_t *rows, size_t i) { return rows ? rows[i] : i; }

/* Relative abundances, logs and log-ratios mean nothing for negative values (embeddings read
 * with allow_negative); only the raw values may pass through. */
static ml_status check_non_negative(const ml_table *t, const size_t *rows, size_t n_rows,
                                    const char *what) {
    for (size_t i = 0; i < n_rows; i++) {
        const uint32_t *feat;
        const double *val;
        size_t n;
        ml_table_row(t, row_at(rows, i), &feat, &val, &n);
        for (size_t e = 0; e < n; e++)
            if (val[e] < 0.0)
                return ML_FAIL(ML_EINVAL, "%s needs non-negative abundances but the table has "
                               "negative values (an embedding or other feature matrix? use "
                               "--transform none)", what);
    }
    return ML_OK;
}

/* The first step of o that needs non-negative inputs, or NULL. */
static const char *needs_non_negative(ml_transform_kind kind, const ml_transform_options *o) {
    static const char *const steps[] = {NULL, "the relab transform", "the log transform",
                                        "the clr transform"};
    if ((unsigned)kind < N_KINDS && steps[kind]) return steps[kind];
    if (o && o->min_abundance > 0.0) return "the min_abundance filter";
    if (o && o->top_k > 0) return "the top_k filter";
    return NULL;
}

static void finish_row(const ml_transform *tf, double *out, double total);

/* One sample's kept values, transformed (without scaling), into out (n_out). */
static void transform_row(const ml_transform *tf, const ml_table *t, size_t sample,
                          double *out) {
    const uint32_t *feat;
    const double *val;
    size_t n;
    ml_table_row(t, sample, &feat, &val, &n);
    for (size_t k = 0; k < tf->n_out; k++) out[k] = 0.0;
    for (size_t e = 0; e < n; e++) {
        size_t k = tf->out_of[feat[e]];
        if (k != SIZE_MAX) out[k] = val[e];
    }
    finish_row(tf, out, ml_table_row_sum(t, sample));
}

/* The value transform of one sample's kept values in place; total is over all its features. */
static void finish_row(const ml_transform *tf, double *out, double total) {
    double mean = 0.0;
    switch (tf->kind) {
    case ML_TRANSFORM_NONE:
        break;
    case ML_TRANSFORM_RELAB:
    case ML_TRANSFORM_LOG:
        for (size_t k = 0; k < tf->n_out; k++) {
            double r = total > 0.0 ? out[k] / total : 0.0;
            out[k] = tf->kind == ML_TRANSFORM_LOG ? log(r + tf->log_pseudocount) : r;
        }
        break;
    case ML_TRANSFORM_CLR:
        for (size_t k = 0; k < tf->n_out; k++) {
            out[k] = log(out[k] + tf->clr_pseudocount);
            mean += out[k];
        }
        mean /= (double)tf->n_out;
        for (size_t k = 0; k < tf->n_out; k++) out[k] -= mean;
        break;
    }
}

/* Per-feature prevalence (count of samples > 0) and summed relative abundance over rows. */
static void feature_stats(const ml_table *t, const size_t *rows, size_t n_rows, size_t *present,
                          double *relab_sum) {
    for (size_t i = 0; i < n_rows; i++) {
        size_t s = row_at(rows, i);
        const uint32_t *feat;
        const double *val;
        size_t n;
        ml_table_row(t, s, &feat, &val, &n);
        double total = ml_table_row_sum(t, s);
        for (size_t e = 0; e < n; e++) {
            present[feat[e]]++;
            if (total > 0.0) relab_sum[feat[e]] += val[e] / total;
        }
    }
}

typedef struct ranked {
    double mean;
    size_t index;
} ranked;

static int ranked_cmp(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->mean != b->mean) return a->mean > b->mean ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int size_cmp(const void *pa, const void *pb) {
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return a < b ? -1 : a > b;
}

/* Fills tf->kept / n_out. cand is scratch of n_features entries. */
static void select_features(ml_transform *tf, const size_t *present, const double *relab_sum,
                            size_t n_rows, const ml_transform_options *o, ranked *cand) {
    size_t n_cand = 0;
    for (size_t j = 0; j < tf->n_features; j++) {
        double prevalence = (double)present[j] / (double)n_rows;
        double mean = relab_sum[j] / (double)n_rows;
        /* min_abundance 0 keeps all, even a feature of negative mean (embeddings) */
        bool abundant = o->min_abundance <= 0.0 || mean >= o->min_abundance;
        if (prevalence >= o->min_prevalence && abundant)
            cand[n_cand++] = (ranked){mean, j};
    }
    if (o->top_k > 0 && n_cand > o->top_k) {
        qsort(cand, n_cand, sizeof *cand, ranked_cmp);
        n_cand = o->top_k;
    }
    for (size_t k = 0; k < n_cand; k++) tf->kept[k] = cand[k].index;
    qsort(tf->kept, n_cand, sizeof *tf->kept, size_cmp);
    tf->n_out = n_cand;
}

/* scikit-learn's StandardScaler: population variance; a feature whose variance is within
 * rounding of zero (sklearn.preprocessing._data._is_constant_feature) gets scale 1. */
static ml_status fit_scaler(ml_transform *tf, const ml_table *t, const size_t *rows,
                            size_t n_rows) {
    size_t m = tf->n_out;
    double *buf = NULL;
    if (n_rows > SIZE_MAX / sizeof *buf / m) return ML_NOMEM();
    tf->mean = calloc(m, sizeof *tf->mean);
    tf->scale = calloc(m, sizeof *tf->scale);
    buf = malloc(n_rows * m * sizeof *buf);
    if (!tf->mean || !tf->scale || !buf) {
        free(buf);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n_rows; i++) transform_row(tf, t, row_at(rows, i), buf + i * m);
    double n = (double)n_rows;
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; k < m; k++) tf->mean[k] += buf[i * m + k];
    for (size_t k = 0; k < m; k++) tf->mean[k] /= n;
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; k < m; k++) {
            double d = buf[i * m + k] - tf->mean[k];
            tf->scale[k] += d * d;
        }
    for (size_t k = 0; k < m; k++) {
        double var = tf->scale[k] / n, mu = tf->mean[k];
        double bound = n * DBL_EPSILON * var + (n * mu * DBL_EPSILON) * (n * mu * DBL_EPSILON);
        double sd = sqrt(var);
        tf->scale[k] = (var <= bound || sd < 10.0 * DBL_EPSILON) ? 1.0 : sd;
    }
    free(buf);
    return ML_OK;
}

static ml_status copy_ids(ml_transform *tf, const ml_table *t) {
    if (!(tf->kept_ids = calloc(tf->n_out, sizeof *tf->kept_ids))) return ML_NOMEM();
    for (size_t k = 0; k < tf->n_out; k++) {
        const char *id = ml_table_feature_id(t, tf->kept[k]);
        size_t len = strlen(id) + 1;
        if (!(tf->kept_ids[k] = malloc(len))) return ML_NOMEM();
        memcpy(tf->kept_ids[k], id, len);
    }
    return ML_OK;
}

ml_status ml_transform_fit(ml_transform **out, const ml_table *t, const size_t *rows,
                           size_t n_rows, const ml_transform_options *opts) {
    ml_transform_options defaults = ML_TRANSFORM_OPTIONS_INIT;
    const ml_transform_options *o = opts ? opts : &defaults;
    ML_TRY(check_options(o));
    ML_TRY(check_rows(t, rows, n_rows));
    if (n_rows == 0) return ML_FAIL(ML_EINVAL, "no training samples to fit the transform on");
    const char *needs = needs_non_negative(o->kind, o);
    if (needs) ML_TRY(check_non_negative(t, rows, n_rows, needs));
    size_t nf = ml_table_n_features(t);
    ml_status st = ML_OK;
    size_t *present = calloc(nf ? nf : 1, sizeof *present);
    double *relab_sum = calloc(nf ? nf : 1, sizeof *relab_sum);
    ranked *cand = malloc((nf ? nf : 1) * sizeof *cand);
    ml_transform *tf = calloc(1, sizeof *tf);
    if (!present || !relab_sum || !cand || !tf) {
        st = ML_NOMEM();
        goto done;
    }
    *tf = (ml_transform){o->kind, o->log_pseudocount, o->clr_pseudocount, o->scale, nf, 0,
                         NULL, NULL, NULL, NULL, NULL};
    tf->kept = malloc((nf ? nf : 1) * sizeof *tf->kept);
    tf->out_of = malloc((nf ? nf : 1) * sizeof *tf->out_of);
    if (!tf->kept || !tf->out_of) {
        st = ML_NOMEM();
        goto done;
    }
    feature_stats(t, rows, n_rows, present, relab_sum);
    select_features(tf, present, relab_sum, n_rows, o, cand);
    if (tf->n_out == 0) {
        st = ML_FAIL(ML_EINVAL, "no feature passes the filters (min_prevalence %g, "
                     "min_abundance %g over %zu training samples, %zu features)",
                     o->min_prevalence, o->min_abundance, n_rows, nf);
        goto done;
    }
    for (size_t j = 0; j < nf; j++) tf->out_of[j] = SIZE_MAX;
    for (size_t k = 0; k < tf->n_out; k++) tf->out_of[tf->kept[k]] = k;
    if ((st = copy_ids(tf, t)) != ML_OK) goto done;
    if (o->scale && (st = fit_scaler(tf, t, rows, n_rows)) != ML_OK) goto done;
    *out = tf;
    tf = NULL;
done:
    ml_transform_free(tf);
    free(cand);
    free(relab_sum);
    free(present);
    return st;
}

ml_status ml_transform_apply(const ml_transform *tf, const ml_table *t, const size_t *rows,
                             size_t n_rows, double *dst) {
    if (ml_table_n_features(t) != tf->n_features)
        return ML_FAIL(ML_EINVAL, "table has %zu features but the transform was fitted on %zu "
                       "(expected the same feature set)", ml_table_n_features(t),
                       tf->n_features);
    for (size_t k = 0; k < tf->n_out; k++) {
        const char *id = ml_table_feature_id(t, tf->kept[k]);
        if (strcmp(id, tf->kept_ids[k]) != 0)
            return ML_FAIL(ML_EINVAL, "feature %zu is \"%.60s\" but was \"%.60s\" when fitted "
                           "(expected features in the same order)", tf->kept[k], id,
                           tf->kept_ids[k]);
    }
    ML_TRY(check_rows(t, rows, n_rows));
    const char *needs = needs_non_negative(tf->kind, NULL);
    if (needs) ML_TRY(check_non_negative(t, rows, n_rows, needs));
    size_t m = tf->n_out;
    for (size_t i = 0; i < n_rows; i++) {
        double *out = dst + i * m;
        transform_row(tf, t, row_at(rows, i), out);
        if (tf->has_scale)
            for (size_t k = 0; k < m; k++) out[k] = (out[k] - tf->mean[k]) / tf->scale[k];
    }
    return ML_OK;
}

ml_status ml_transform_scaler(const ml_transform *tf, const double **mean, const double **scale) {
    if (!tf->has_scale)
        return ML_FAIL(ML_EINVAL, "the transform was fitted without scaling (no scaler)");
    *mean = tf->mean;
    *scale = tf->scale;
    return ML_OK;
}

static ml_status check_params(const ml_transform_options *o, const char *const *ids, size_t n,
                              const double *mean, const double *scale) {
    ML_TRY(check_options(o));
    if (n == 0) return ML_FAIL(ML_EINVAL, "no features (expected at least one)");
    for (size_t k = 0; k < n; k++)
        if (!ids[k]) return ML_FAIL(ML_EINVAL, "feature_ids[%zu] is NULL", k);
    if (!o->scale) return ML_OK;
    if (!mean || !scale) return ML_FAIL(ML_EINVAL, "scale is set but mean or scale is NULL");
    for (size_t k = 0; k < n; k++)
        if (!isfinite(mean[k]) || !(scale[k] > 0.0) || !isfinite(scale[k]))
            return ML_FAIL(ML_EINVAL, "scaler entry %zu: mean %g, scale %g (expected finite, "
                           "scale > 0)", k, mean[k], scale[k]);
    return ML_OK;
}

static ml_status check_unique(const char *const *ids, size_t n) {
    ml__strmap seen = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    for (size_t k = 0; k < n && st == ML_OK; k++) {
        size_t first;
        st = ml__strmap_put(&seen, ids[k], strlen(ids[k]), k, &first);
        if (st == ML_OK && first != SIZE_MAX)
            st = ML_FAIL(ML_EINVAL, "feature ID \"%.60s\" at %zu repeats the one at %zu "
                         "(expected unique IDs)", ids[k], k, first);
    }
    ml__strmap_free(&seen);
    return st;
}

ml_status ml_transform_from_params(ml_transform **out, const ml_transform_options *opts,
                                   const char *const *feature_ids, size_t n, const double *mean,
                                   const double *scale) {
    ML_TRY(check_params(opts, feature_ids, n, mean, scale));
    ML_TRY(check_unique(feature_ids, n));
    ml_status st = ML_OK;
    ml_transform *tf = calloc(1, sizeof *tf);
    if (!tf) return ML_NOMEM();
    *tf = (ml_transform){opts->kind, opts->log_pseudocount, opts->clr_pseudocount, opts->scale,
                         n, n, NULL, NULL, NULL, NULL, NULL};
    tf->kept = malloc(n * sizeof *tf->kept);
    tf->out_of = malloc(n * sizeof *tf->out_of);
    tf->kept_ids = calloc(n, sizeof *tf->kept_ids);
    if (!tf->kept || !tf->out_of || !tf->kept_ids) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(feature_ids[k]) + 1;
        tf->kept[k] = tf->out_of[k] = k;
        if (!(tf->kept_ids[k] = malloc(len))) {
            st = ML_NOMEM();
            goto done;
        }
        memcpy(tf->kept_ids[k], feature_ids[k], len);
    }
    if (opts->scale) {
        tf->mean = malloc(n * sizeof *tf->mean);
        tf->scale = malloc(n * sizeof *tf->scale);
        if (!tf->mean || !tf->scale) {
            st = ML_NOMEM();
            goto done;
        }
        memcpy(tf->mean, mean, n * sizeof *mean);
        memcpy(tf->scale, scale, n * sizeof *scale);
    }
    *out = tf;
    tf = NULL;
done:
    ml_transform_free(tf);
    return st;
}

ml_status ml_transform_apply_dense(const ml_transform *tf, const double *x, const double *totals,
                                   size_t n_rows, double *dst) {
    size_t m = tf->n_out;
    for (size_t i = 0; i < n_rows; i++) {
        if (totals && !(totals[i] >= 0.0 && isfinite(totals[i])))
            return ML_FAIL(ML_EINVAL, "totals[%zu] is %g (expected finite and >= 0)", i,
                           totals[i]);
        for (size_t k = 0; k < m; k++)
            if (!(x[i * m + k] >= 0.0 && isfinite(x[i * m + k])))
                return ML_FAIL(ML_EINVAL, "x[%zu][%zu] is %g (expected finite and >= 0)", i, k,
                               x[i * m + k]);
    }
    for (size_t i = 0; i < n_rows; i++) {
        double *out = dst + i * m, total = 0.0;
        memmove(out, x + i * m, m * sizeof *out);
        for (size_t k = 0; k < m; k++) total += out[k];
        finish_row(tf, out, totals ? totals[i] : total);
        if (tf->has_scale)
            for (size_t k = 0; k < m; k++) out[k] = (out[k] - tf->mean[k]) / tf->scale[k];
    }
    return ML_OK;
}
