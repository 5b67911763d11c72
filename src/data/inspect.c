/* inspect.c - the dataset report: sizes, depth, label balance, unmatched IDs, duplicate and
 * outlier samples, as JSON or text. It only reads the table; sample IDs leave it as
 * pseudonyms unless the caller asked for raw IDs. */
#include "microlens/inspect.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/text.h"

/* The modified z-score's constant: 0.6745 = the 0.75 quantile of N(0,1), which makes the MAD
 * of normal data comparable to its standard deviation (Iglewicz & Hoaglin 1993). */
#define ML_INSPECT_MODIFIED_Z_SCALE 0.6745
/* Cap on any text (labels, notes, raw IDs) echoed into the report; layout notes are < 512. */
#define ML_INSPECT_MAX_ECHO 1024

typedef struct summary {
    double min, median, max;
} summary;

typedef struct id_entry {
    char pseudo[ML_PSEUDONYM_SIZE];
    char *raw; /* NULL unless show_raw_ids */
} id_entry;

/* A listed set: count is its full size, items the first min(count, max_listed). */
typedef struct id_list {
    size_t count, n_listed;
    id_entry *items;
} id_list;

typedef struct outlier {
    size_t sample;
    double distance, z;
} outlier;

typedef struct sample_row {
    id_entry id;
    double depth;
    size_t observed;
} sample_row;

struct ml_inspect_report {
    ml_inspect_options o;
    char *format, *layout;
    size_t n_samples, n_features, nnz;
    double total;
    summary depth, observed;
    char (*pseudo)[ML_PSEUDONYM_SIZE]; /* (n_samples) */
    char **raw;                        /* (n_samples) copies, only with show_raw_ids */
    /* labels */
    bool has_labels, has_groups;
    char *label_col, *group_col, *positive;
    size_t n_classes;
    char **class_names;
    size_t *class_counts;
    id_list without_label, without_sample;
    size_t n_groups;
    summary per_group;
    /* duplicates: sets of samples with identical rows */
    size_t n_duplicates, n_sets, n_sets_listed;
    id_list *sets;
    /* outliers, sorted by z descending */
    size_t n_outliers, n_outliers_listed;
    outlier *outliers;
    id_entry *outlier_ids;
    double mad;
    /* per_sample */
    sample_row *samples;
};

static char *str_dup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void id_list_free(id_list *l) {
    if (!l->items) return;
    for (size_t i = 0; i < l->n_listed; i++) free(l->items[i].raw);
    free(l->items);
    l->items = NULL;
}

void ml_inspect_report_free(ml_inspect_report *r) {
    if (!r) return;
    free(r->format);
    free(r->layout);
    free(r->pseudo);
    if (r->raw)
        for (size_t i = 0; i < r->n_samples; i++) free(r->raw[i]);
    free(r->raw);
    free(r->label_col);
    free(r->group_col);
    free(r->positive);
    if (r->class_names)
        for (size_t c = 0; c < r->n_classes; c++) free(r->class_names[c]);
    free(r->class_names);
    free(r->class_counts);
    id_list_free(&r->without_label);
    id_list_free(&r->without_sample);
    if (r->sets)
        for (size_t s = 0; s < r->n_sets_listed; s++) id_list_free(&r->sets[s]);
    free(r->sets);
    free(r->outliers);
    if (r->outlier_ids)
        for (size_t i = 0; i < r->n_outliers_listed; i++) free(r->outlier_ids[i].raw);
    free(r->outlier_ids);
    if (r->samples)
        for (size_t i = 0; i < r->n_samples; i++) free(r->samples[i].id.raw);
    free(r->samples);
    free(r);
}

/* ---- order statistics ---- */

static void swap_d(double *a, double *b) {
    double t = *a;
    *a = *b;
    *b = t;
}

/* k-th smallest of a[0..n) (0-based); reorders a so that a[0..k) <= a[k] <= a(k..n).
 * Three-way partitioning keeps runs of equal values (common in sparse columns) linear. */
static double select_kth(double *a, size_t n, size_t k) {
    size_t lo = 0, hi = n; /* the answer lies in a[lo..hi) */
    while (hi - lo > 1) {
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        double pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (a[i] < pivot)
                swap_d(&a[lt++], &a[i++]);
            else if (a[i] > pivot)
                swap_d(&a[i], &a[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[k];
}

/* Median of a[0..n) (mean of the two middle values when n is even); reorders a. 0 if n == 0. */
static double median_inplace(double *a, size_t n) {
    if (n == 0) return 0.0;
    double hi = select_kth(a, n, n / 2);
    if (n % 2) return hi;
    double lo = a[0];
    for (size_t i = 1; i < n / 2; i++)
        if (a[i] > lo) lo = a[i];
    return (lo + hi) / 2.0;
}

/* min / median / max of a[0..n); reorders a. */
static summary summarize(double *a, size_t n) {
    summary s = {0.0, 0.0, 0.0};
    if (n == 0) return s;
    s.min = s.max = a[0];
    for (size_t i = 1; i < n; i++) {
        if (a[i] < s.min) s.min = a[i];
        if (a[i] > s.max) s.max = a[i];
    }
    s.median = median_inplace(a, n);
    return s;
}

/* ---- sizes and depth ---- */

static ml_status compute_sizes(ml_inspect_report *r, const ml_table *t) {
    size_t n = r->n_samples;
    double *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf) return ML_NOMEM();
    r->total = 0.0;
    for (size_t i = 0; i < n; i++) {
        buf[i] = ml_table_row_sum(t, i);
        r->total += buf[i];
    }
    r->depth = summarize(buf, n);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *f;
        const double *v;
        size_t k;
        ml_table_row(t, i, &f, &v, &k);
        buf[i] = (double)k;
    }
    r->observed = summarize(buf, n);
    free(buf);
    return ML_OK;
}

/* ---- identifiers ---- */

static ml_status make_entry(id_entry *e, const ml_pseudonym_key *key, const char *raw,
                            bool keep_raw) {
    ml_pseudonym_make(key, raw, strlen(raw), e->pseudo);
    e->raw = NULL;
    if (keep_raw && !(e->raw = str_dup(raw))) return ML_NOMEM();
    return ML_OK;
}

/* Copies sample s's pseudonym (and raw ID with show_raw_ids) into e. */
static ml_status sample_entry(const ml_inspect_report *r, size_t s, id_entry *e) {
    memcpy(e->pseudo, r->pseudo[s], ML_PSEUDONYM_SIZE);
    e->raw = NULL;
    if (r->raw && !(e->raw = str_dup(r->raw[s]))) return ML_NOMEM();
    return ML_OK;
}

static ml_status id_list_init(id_list *l, size_t count, size_t max_listed) {
    l->count = count;
    l->n_listed = 0;
    size_t cap = count < max_listed ? count : max_listed;
    l->items = calloc(cap ? cap : 1, sizeof *l->items);
    return l->items ? ML_OK : ML_NOMEM();
}

static ml_status compute_ids(ml_inspect_report *r, const ml_table *t,
                             const ml_pseudonym_key *key) {
    size_t n = r->n_samples;
    r->pseudo = malloc((n ? n : 1) * sizeof *r->pseudo);
    if (!r->pseudo) return ML_NOMEM();
    if (r->o.show_raw_ids && !(r->raw = calloc(n ? n : 1, sizeof *r->raw))) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) {
        const char *id = ml_table_sample_raw_id(t, i);
        ml_pseudonym_make(key, id, strlen(id), r->pseudo[i]);
        if (r->raw && !(r->raw[i] = str_dup(id))) return ML_NOMEM();
    }
    return ML_OK;
}

/* ---- labels ---- */

static ml_status compute_classes(ml_inspect_report *r, const ml_join *j) {
    r->n_classes = ml_join_n_classes(j);
    size_t n = r->n_classes ? r->n_classes : 1;
    if (!(r->class_names = calloc(n, sizeof *r->class_names)) ||
        !(r->class_counts = calloc(n, sizeof *r->class_counts)))
        return ML_NOMEM();
    for (size_t c = 0; c < r->n_classes; c++) {
        if (!(r->class_names[c] = str_dup(ml_join_class_name(j, c)))) return ML_NOMEM();
        r->class_counts[c] = ml_join_class_count(j, c);
    }
    const char *p = ml_join_positive(j);
    if (p && !(r->positive = str_dup(p))) return ML_NOMEM();
    return ML_OK;
}

static ml_status compute_unmatched(ml_inspect_report *r, const ml_labels *l, const ml_join *j,
                                   const ml_pseudonym_key *key) {
    ML_TRY(id_list_init(&r->without_label, ml_join_n_samples_without_label(j), r->o.max_listed));
    for (size_t s = 0; s < r->n_samples && r->without_label.n_listed < r->o.max_listed; s++) {
        if (ml_join_class_of(j, s) >= 0) continue;
        ML_TRY(sample_entry(r, s, &r->without_label.items[r->without_label.n_listed]));
        r->without_label.n_listed++;
    }
    id_list *w = &r->without_sample;
    ML_TRY(id_list_init(w, ml_join_n_labels_without_sample(j), r->o.max_listed));
    for (size_t k = 0; k < w->count && w->n_listed < r->o.max_listed; k++) {
        const char *raw = ml_labels_raw_id(l, ml_join_label_without_sample(j, k));
        ML_TRY(make_entry(&w->items[w->n_listed], key, raw, r->o.show_raw_ids));
        w->n_listed++;
    }
    return ML_OK;
}

/* Group names are patient identifiers: only their sizes enter the report. */
static ml_status compute_groups(ml_inspect_report *r, const ml_join *j) {
    r->n_groups = ml_join_n_groups(j);
    double *size = calloc(r->n_groups ? r->n_groups : 1, sizeof *size);
    if (!size) return ML_NOMEM();
    for (size_t s = 0; s < r->n_samples; s++) {
        long g = ml_join_group_of(j, s);
        if (g >= 0) size[g] += 1.0;
    }
    r->per_group = summarize(size, r->n_groups);
    free(size);
    return ML_OK;
}

static ml_status compute_labels(ml_inspect_report *r, const ml_labels *l, const ml_join *j,
                                const ml_pseudonym_key *key) {
    r->has_labels = true;
    if (!(r->label_col = str_dup(ml_labels_label_column(l)))) return ML_NOMEM();
    if (ml_labels_group_column(l)) {
        r->has_groups = true;
        if (!(r->group_col = str_dup(ml_labels_group_column(l)))) return ML_NOMEM();
    }
    ML_TRY(compute_classes(r, j));
    ML_TRY(compute_unmatched(r, l, j, key));
    if (r->has_groups) ML_TRY(compute_groups(r, j));
    return ML_OK;
}

/* ---- duplicates ---- */

typedef struct row_key {
    uint64_t hash;
    size_t sample, n;
    const uint32_t *f;
    const double *v;
} row_key;

static uint64_t hash_row(const uint32_t *f, const double *v, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 over features and value bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char b[sizeof(uint32_t) + sizeof(double)];
        memcpy(b, &f[i], sizeof f[i]);
        memcpy(b + sizeof f[i], &v[i], sizeof v[i]);
        for (size_t k = 0; k < sizeof b; k++) {
            h ^= b[k];
            h *= 1099511628211ULL;
        }
    }
    return h;
}

/* Orders rows by content; equal rows end up adjacent, by ascending sample index. */
static int cmp_content(const row_key *a, const row_key *b) {
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (size_t i = 0; i < a->n; i++) {
        if (a->f[i] != b->f[i]) return a->f[i] < b->f[i] ? -1 : 1;
        if (a->v[i] != b->v[i]) return a->v[i] < b->v[i] ? -1 : 1;
    }
    return 0;
}

static int cmp_row_key(const void *pa, const void *pb) {
    const row_key *a = pa, *b = pb;
    int c = cmp_content(a, b);
    if (c) return c;
    return a->sample < b->sample ? -1 : a->sample > b->sample;
}

typedef struct dup_set {
    size_t offset, size, first_sample; /* into the sorted keys; members; lowest sample */
} dup_set;

static int cmp_dup_set(const void *pa, const void *pb) {
    const dup_set *a = pa, *b = pb;
    return a->first_sample < b->first_sample ? -1 : a->first_sample > b->first_sample;
}

/* Lists the first max_listed sets in table order, each with its first max_listed members. */
static ml_status list_sets(ml_inspect_report *r, const row_key *keys, dup_set *sets) {
    qsort(sets, r->n_sets, sizeof *sets, cmp_dup_set);
    size_t n_list = r->n_sets < r->o.max_listed ? r->n_sets : r->o.max_listed;
    if (!(r->sets = calloc(n_list ? n_list : 1, sizeof *r->sets))) return ML_NOMEM();
    for (size_t s = 0; s < n_list; s++) {
        const row_key *m = keys + sets[s].offset;
        id_list *l = &r->sets[s];
        r->n_sets_listed = s + 1;
        ML_TRY(id_list_init(l, sets[s].size, r->o.max_listed));
        for (size_t k = 0; k < l->count && l->n_listed < r->o.max_listed; k++) {
            ML_TRY(sample_entry(r, m[k].sample, &l->items[k]));
            l->n_listed++;
        }
    }
    return ML_OK;
}

static ml_status compute_duplicates(ml_inspect_report *r, const ml_table *t) {
    size_t n = r->n_samples;
    row_key *keys = malloc((n ? n : 1) * sizeof *keys);
    dup_set *sets = malloc((n ? n : 1) * sizeof *sets);
    ml_status st = ML_OK;
    if (!keys || !sets) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        ml_table_row(t, i, &keys[i].f, &keys[i].v, &keys[i].n);
        keys[i].sample = i;
        keys[i].hash = hash_row(keys[i].f, keys[i].v, keys[i].n);
    }
    qsort(keys, n, sizeof *keys, cmp_row_key);
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;
        while (e < n && cmp_content(&keys[i], &keys[e]) == 0) e++;
        if (e - i > 1) {
            sets[r->n_sets++] = (dup_set){i, e - i, keys[i].sample};
            r->n_duplicates += e - i - 1;
        }
        i = e;
    }
    st = list_sets(r, keys, sets);
done:
    free(keys);
    free(sets);
    return st;
}

/* ---- outliers ---- */

/* CLR of every sample with pseudocount p, as a per-sample offset: clr[i][j] = log(x_ij + p)
 * - mean_i, so absent features share log(p) - mean_i. mean: (n_samples). */
static void clr_means(const ml_table *t, size_t n, size_t f, double *mean) {
    double log_p = log(ML_INSPECT_CLR_PSEUDOCOUNT);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *idx;
        const double *v;
        size_t k;
        ml_table_row(t, i, &idx, &v, &k);
        double s = (double)(f - k) * log_p;
        for (size_t m = 0; m < k; m++) s += log(v[m] + ML_INSPECT_CLR_PSEUDOCOUNT);
        mean[i] = s / (double)f;
    }
}

/* Feature-wise median of the CLR profiles, one dense column at a time. med: (n_features) */
static ml_status clr_median_profile(const ml_table *t, size_t n, size_t f, const double *mean,
                                    double *med) {
    size_t nnz = ml_table_nnz(t);
    size_t *col_ptr = calloc(f + 1, sizeof *col_ptr), *fill = NULL, *rows = NULL;
    double *vals = NULL, *col = malloc((n ? n : 1) * sizeof *col);
    ml_status st = ML_OK;
    if (!col_ptr || !col || !(fill = malloc((f + 1) * sizeof *fill)) ||
        !(rows = malloc((nnz ? nnz : 1) * sizeof *rows)) ||
        !(vals = malloc((nnz ? nnz : 1) * sizeof *vals))) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++) { /* transpose CSR into CSC */
        const uint32_t *idx;
        const double *v;
        size_t k;
        ml_table_row(t, i, &idx, &v, &k);
        for (size_t m = 0; m < k; m++) col_ptr[idx[m] + 1]++;
    }
    for (size_t j = 0; j < f; j++) col_ptr[j + 1] += col_ptr[j];
    memcpy(fill, col_ptr, (f + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *idx;
        const double *v;
        size_t k;
        ml_table_row(t, i, &idx, &v, &k);
        for (size_t m = 0; m < k; m++) {
            rows[fill[idx[m]]] = i;
            vals[fill[idx[m]]++] = v[m];
        }
    }
    double log_p = log(ML_INSPECT_CLR_PSEUDOCOUNT);
    for (size_t j = 0; j < f; j++) {
        for (size_t i = 0; i < n; i++) col[i] = log_p - mean[i];
        for (size_t m = col_ptr[j]; m < col_ptr[j + 1]; m++)
            col[rows[m]] = log(vals[m] + ML_INSPECT_CLR_PSEUDOCOUNT) - mean[rows[m]];
        med[j] = median_inplace(col, n);
    }
done:
    free(col_ptr);
    free(fill);
    free(rows);
    free(vals);
    free(col);
    return st;
}

/* Aitchison distance of each sample to the median profile. dist: (n_samples) */
static void aitchison_to_profile(const ml_table *t, size_t n, size_t f, const double *mean,
                                 const double *med, double *dist) {
    double log_p = log(ML_INSPECT_CLR_PSEUDOCOUNT);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *idx;
        const double *v;
        size_t k, m = 0;
        ml_table_row(t, i, &idx, &v, &k);
        double s = 0.0;
        for (size_t j = 0; j < f; j++) {
            double x = log_p;
            if (m < k && idx[m] == j) x = log(v[m++] + ML_INSPECT_CLR_PSEUDOCOUNT);
            double d = x - mean[i] - med[j];
            s += d * d;
        }
        dist[i] = sqrt(s);
    }
}

static int cmp_outlier(const void *pa, const void *pb) {
    const outlier *a = pa, *b = pb;
    if (a->z != b->z) return a->z > b->z ? -1 : 1;
    return a->sample < b->sample ? -1 : a->sample > b->sample;
}

/* Modified z-scores of dist; fills r->outliers (all of them, sorted) and r->mad. */
static ml_status score_outliers(ml_inspect_report *r, const double *dist) {
    size_t n = r->n_samples;
    double *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return ML_NOMEM();
    memcpy(tmp, dist, n * sizeof *tmp);
    double med = median_inplace(tmp, n);
    for (size_t i = 0; i < n; i++) tmp[i] = fabs(dist[i] - med);
    r->mad = median_inplace(tmp, n);
    free(tmp);
    if (!(r->outliers = malloc((n ? n : 1) * sizeof *r->outliers))) return ML_NOMEM();
    if (r->mad == 0.0) return ML_OK; /* half the samples sit at one distance: no scale */
    for (size_t i = 0; i < n; i++) {
        double z = ML_INSPECT_MODIFIED_Z_SCALE * (dist[i] - med) / r->mad;
        if (z > ML_INSPECT_OUTLIER_Z) r->outliers[r->n_outliers++] = (outlier){i, dist[i], z};
    }
    qsort(r->outliers, r->n_outliers, sizeof *r->outliers, cmp_outlier);
    return ML_OK;
}

static ml_status compute_outliers(ml_inspect_report *r, const ml_table *t) {
    size_t n = r->n_samples, f = r->n_features;
    double *mean = malloc((n ? n : 1) * sizeof *mean);
    double *med = malloc((f ? f : 1) * sizeof *med);
    double *dist = calloc(n ? n : 1, sizeof *dist);
    ml_status st = ML_OK;
    if (!mean || !med || !dist) {
        st = ML_NOMEM();
        goto done;
    }
    if (f > 0) {
        clr_means(t, n, f, mean);
        if ((st = clr_median_profile(t, n, f, mean, med)) != ML_OK) goto done;
        aitchison_to_profile(t, n, f, mean, med, dist);
    }
    if ((st = score_outliers(r, dist)) != ML_OK) goto done;
    r->n_outliers_listed = r->n_outliers < r->o.max_listed ? r->n_outliers : r->o.max_listed;
    r->outlier_ids = calloc(r->n_outliers_listed ? r->n_outliers_listed : 1,
                            sizeof *r->outlier_ids);
    if (!r->outlier_ids) {
        r->n_outliers_listed = 0;
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < r->n_outliers_listed && st == ML_OK; i++)
        st = sample_entry(r, r->outliers[i].sample, &r->outlier_ids[i]);
done:
    free(mean);
    free(med);
    free(dist);
    return st;
}

static ml_status compute_samples(ml_inspect_report *r, const ml_table *t) {
    if (!(r->samples = calloc(r->n_samples ? r->n_samples : 1, sizeof *r->samples)))
        return ML_NOMEM();
    for (size_t i = 0; i < r->n_samples; i++) {
        const uint32_t *f;
        const double *v;
        ml_table_row(t, i, &f, &v, &r->samples[i].observed);
        r->samples[i].depth = ml_table_row_sum(t, i);
        ML_TRY(sample_entry(r, i, &r->samples[i].id));
    }
    return ML_OK;
}

static ml_status compute_all(ml_inspect_report *r, const ml_table *t, const ml_labels *l,
                             const ml_join *j, const ml_pseudonym_key *key) {
    r->n_samples = ml_table_n_samples(t);
    r->n_features = ml_table_n_features(t);
    r->nnz = ml_table_nnz(t);
    if (!(r->format = str_dup(ml_table_format_name(t))) ||
        !(r->layout = str_dup(ml_table_layout_note(t))))
        return ML_NOMEM();
    ML_TRY(compute_ids(r, t, key));
    ML_TRY(compute_sizes(r, t));
    if (l) ML_TRY(compute_labels(r, l, j, key));
    ML_TRY(compute_duplicates(r, t));
    ML_TRY(compute_outliers(r, t));
    if (r->o.per_sample) ML_TRY(compute_samples(r, t));
    return ML_OK;
}

ml_status ml_inspect(ml_inspect_report **out, const ml_table *t, const ml_labels *l,
                     const ml_join *j, const ml_pseudonym_key *key,
                     const ml_inspect_options *opts) {
    ml_inspect_options defaults = ML_INSPECT_OPTIONS_INIT;
    const ml_inspect_options *o = opts ? opts : &defaults;
    if (o->version != ML_INSPECT_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "ml_inspect_options.version is %d (expected %d)", o->version,
                       ML_INSPECT_OPTIONS_VERSION);
    if (!t || !key) return ML_FAIL(ML_EINVAL, "ml_inspect: a table and an ID key are required");
    if (j && !l) return ML_FAIL(ML_EINVAL, "ml_inspect: a join needs the labels it was made from");
    if (j && ml_join_n_samples(j) != ml_table_n_samples(t))
        return ML_FAIL(ML_EINVAL, "ml_inspect: the join has %zu samples, the table %zu (expected "
                       "a join made from this table)", ml_join_n_samples(j), ml_table_n_samples(t));
    ml_join *own_join = NULL;
    if (l && !j) {
        ML_TRY(ml_join_new(&own_join, t, l, NULL));
        j = own_join;
    }
    ml_inspect_report *r = calloc(1, sizeof *r);
    ml_status st = r ? ML_OK : ML_NOMEM();
    if (r) {
        r->o = *o;
        st = compute_all(r, t, l, j, key);
    }
    ml_join_free(own_join);
    if (st != ML_OK) {
        ml_inspect_report_free(r);
        return st;
    }
    *out = r;
    return ML_OK;
}

/* ---- JSON ---- */

/* Input text may be any bytes, JSON strings must be UTF-8: fall back to a sanitized copy. */
static json_t *jstr(const char *s) {
    if (!s) return json_null();
    size_t n = strlen(s);
    json_t *v = n <= ML_INSPECT_MAX_ECHO ? json_string(s) : NULL;
    if (v) return v;
    char buf[ML_INSPECT_MAX_ECHO + 1];
    ml__sanitize(buf, sizeof buf, s, n);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    return json_string(buf);
}

/* Integral values print as integers (depths of count tables), others as reals. */
static json_t *jnum(double d) {
    if (d == floor(d) && fabs(d) < 9007199254740992.0) return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *jcount(size_t n) { return json_integer((json_int_t)n); }

static void put(json_t *obj, const char *key, json_t *val, bool *ok) {
    if (json_object_set_new(obj, key, val) != 0) *ok = false;
}

static void push(json_t *arr, json_t *val, bool *ok) {
    if (json_array_append_new(arr, val) != 0) *ok = false;
}

static json_t *json_summary(const summary *s, bool *ok) {
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "min", jnum(s->min), ok);
    put(o, "median", jnum(s->median), ok);
    put(o, "max", jnum(s->max), ok);
    return o;
}

/* {"count": n, "ids": [...]} plus "raw_ids" with show_raw_ids. */
static json_t *json_id_list(const ml_inspect_report *r, const id_list *l, bool *ok) {
    json_t *o = json_object(), *ids = json_array(), *raw = r->o.show_raw_ids ? json_array() : NULL;
    if (!o || !ids || (r->o.show_raw_ids && !raw)) *ok = false;
    for (size_t i = 0; i < l->n_listed && *ok; i++) {
        push(ids, json_string(l->items[i].pseudo), ok);
        if (raw) push(raw, jstr(l->items[i].raw), ok);
    }
    if (o) {
        put(o, "count", jcount(l->count), ok);
        put(o, "ids", ids, ok);
        if (r->o.show_raw_ids) put(o, "raw_ids", raw, ok);
        return o;
    }
    json_decref(ids);
    json_decref(raw);
    return NULL;
}

static json_t *json_table(const ml_inspect_report *r, bool *ok) {
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "format", jstr(r->format), ok);
    put(o, "layout", jstr(r->layout), ok);
    put(o, "n_samples", jcount(r->n_samples), ok);
    put(o, "n_features", jcount(r->n_features), ok);
    put(o, "nnz", jcount(r->nnz), ok);
    put(o, "total", jnum(r->total), ok);
    put(o, "depth", json_summary(&r->depth, ok), ok);
    put(o, "observed", json_summary(&r->observed, ok), ok);
    return o;
}

static json_t *json_labels(const ml_inspect_report *r, bool *ok) {
    if (!r->has_labels) return json_null();
    json_t *o = json_object(), *classes = json_array();
    if (!o || !classes) {
        json_decref(o);
        json_decref(classes);
        *ok = false;
        return NULL;
    }
    for (size_t c = 0; c < r->n_classes; c++) {
        json_t *e = json_object();
        if (!e) *ok = false;
        put(e, "name", jstr(r->class_names[c]), ok);
        put(e, "count", jcount(r->class_counts[c]), ok);
        push(classes, e, ok);
    }
    put(o, "label_column", jstr(r->label_col), ok);
    put(o, "group_column", jstr(r->group_col), ok);
    put(o, "classes", classes, ok);
    put(o, "positive", jstr(r->positive), ok);
    put(o, "samples_without_label", json_id_list(r, &r->without_label, ok), ok);
    put(o, "labels_without_sample", json_id_list(r, &r->without_sample, ok), ok);
    json_t *g = json_null();
    if (r->has_groups && (g = json_object())) {
        put(g, "count", jcount(r->n_groups), ok);
        put(g, "samples_per_group", json_summary(&r->per_group, ok), ok);
    }
    put(o, "groups", g, ok);
    return o;
}

static json_t *json_duplicates(const ml_inspect_report *r, bool *ok) {
    json_t *o = json_object(), *sets = json_array(), *raw = r->o.show_raw_ids ? json_array() : NULL;
    if (!o || !sets || (r->o.show_raw_ids && !raw)) *ok = false;
    for (size_t s = 0; s < r->n_sets_listed && *ok; s++) {
        json_t *set = json_array(), *raw_set = raw ? json_array() : NULL;
        for (size_t k = 0; k < r->sets[s].n_listed; k++) {
            push(set, json_string(r->sets[s].items[k].pseudo), ok);
            if (raw_set) push(raw_set, jstr(r->sets[s].items[k].raw), ok);
        }
        push(sets, set, ok);
        if (raw) push(raw, raw_set, ok);
    }
    if (!o) {
        json_decref(sets);
        json_decref(raw);
        return NULL;
    }
    put(o, "count", jcount(r->n_duplicates), ok);
    put(o, "sets", sets, ok);
    if (r->o.show_raw_ids) put(o, "raw_sets", raw, ok);
    return o;
}

static void method_sentence(const ml_inspect_report *r, char *dst, size_t cap) {
    snprintf(dst, cap, "Aitchison distance (Euclidean distance between CLR vectors over all %zu "
             "features, pseudocount %g) from each sample to the feature-wise median CLR profile, "
             "scored by the modified z-score %.4g*(d - median(d))/MAD(d) (Iglewicz & Hoaglin "
             "1993); z > %g is an outlier%s", r->n_features, ML_INSPECT_CLR_PSEUDOCOUNT,
             ML_INSPECT_MODIFIED_Z_SCALE, ML_INSPECT_OUTLIER_Z,
             r->mad == 0.0 ? " (MAD is 0 here, so no sample is scored as an outlier)" : "");
}

static json_t *json_outliers(const ml_inspect_report *r, bool *ok) {
    json_t *o = json_object(), *list = json_array();
    if (!o || !list) {
        json_decref(o);
        json_decref(list);
        *ok = false;
        return NULL;
    }
    char method[512];
    method_sentence(r, method, sizeof method);
    for (size_t i = 0; i < r->n_outliers_listed; i++) {
        json_t *e = json_object();
        if (!e) *ok = false;
        put(e, "id", json_string(r->outlier_ids[i].pseudo), ok);
        if (r->o.show_raw_ids) put(e, "raw_id", jstr(r->outlier_ids[i].raw), ok);
        put(e, "distance", json_real(r->outliers[i].distance), ok);
        put(e, "z", json_real(r->outliers[i].z), ok);
        push(list, e, ok);
    }
    put(o, "method", json_string(method), ok);
    put(o, "threshold", json_real(ML_INSPECT_OUTLIER_Z), ok);
    put(o, "count", jcount(r->n_outliers), ok);
    put(o, "samples", list, ok);
    return o;
}

static json_t *json_samples(const ml_inspect_report *r, bool *ok) {
    json_t *list = json_array();
    if (!list) *ok = false;
    for (size_t i = 0; i < r->n_samples && list; i++) {
        json_t *e = json_object();
        if (!e) *ok = false;
        put(e, "id", json_string(r->samples[i].id.pseudo), ok);
        if (r->o.show_raw_ids) put(e, "raw_id", jstr(r->samples[i].id.raw), ok);
        put(e, "depth", jnum(r->samples[i].depth), ok);
        put(e, "observed", jcount(r->samples[i].observed), ok);
        push(list, e, ok);
    }
    return list;
}

ml_status ml_inspect_report_json(const ml_inspect_report *r, char **json) {
    bool ok = true;
    json_t *root = json_object();
    if (!root) return ML_NOMEM();
    put(root, "table", json_table(r, &ok), &ok);
    put(root, "labels", json_labels(r, &ok), &ok);
    put(root, "duplicates", json_duplicates(r, &ok), &ok);
    put(root, "outliers", json_outliers(r, &ok), &ok);
    if (r->o.per_sample) put(root, "samples", json_samples(r, &ok), &ok);
    char *s = ok ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!s) return ML_NOMEM();
    /* jansson allocates with its own allocator; hand the caller a malloc'd copy for ml_free */
    char *copy = str_dup(s);
    free(s);
    if (!copy) return ML_NOMEM();
    *json = copy;
    return ML_OK;
}

/* ---- text ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) ML_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->failed = true;
            return;
        }
        if (b->s && (size_t)w < b->cap - b->len) {
            b->len += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)w;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A number as text: integers without decimals, others to 6 significant digits. */
static const char *fmt_num(char *buf, size_t cap, double d) {
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(buf, cap, "%.0f", d);
    else
        snprintf(buf, cap, "%.6g", d);
    return buf;
}

static void text_summary(strbuf *b, const char *key, const summary *s) {
    char x[32], y[32], z[32];
    sb_printf(b, "  %-24s min %s, median %s, max %s\n", key, fmt_num(x, sizeof x, s->min),
              fmt_num(y, sizeof y, s->median), fmt_num(z, sizeof z, s->max));
}

static void text_id(strbuf *b, const id_entry *e) {
    char raw[ML_INSPECT_MAX_ECHO];
    if (!e->raw) {
        sb_printf(b, "%s", e->pseudo);
        return;
    }
    ml__sanitize(raw, sizeof raw, e->raw, strlen(e->raw));
    sb_printf(b, "%s (raw: %s)", e->pseudo, raw);
}

static void text_id_list(strbuf *b, const char *key, const id_list *l) {
    sb_printf(b, "  %-24s %zu", key, l->count);
    for (size_t i = 0; i < l->n_listed; i++) {
        sb_printf(b, "%s", i ? ", " : ": ");
        text_id(b, &l->items[i]);
    }
    if (l->count > l->n_listed) sb_printf(b, " ... and %zu more", l->count - l->n_listed);
    sb_printf(b, "\n");
}

static void text_echo(strbuf *b, const char *key, const char *s) {
    char buf[ML_INSPECT_MAX_ECHO];
    if (s) ml__sanitize(buf, sizeof buf, s, strlen(s));
    sb_printf(b, "  %-24s %s\n", key, s ? buf : "(none)");
}

static void text_table(strbuf *b, const ml_inspect_report *r) {
    char x[32];
    sb_printf(b, "table\n");
    text_echo(b, "format:", r->format);
    text_echo(b, "layout:", r->layout);
    sb_printf(b, "  %-24s %zu\n", "samples:", r->n_samples);
    sb_printf(b, "  %-24s %zu\n", "features:", r->n_features);
    sb_printf(b, "  %-24s %zu\n", "non-zero entries:", r->nnz);
    sb_printf(b, "  %-24s %s\n", "total:", fmt_num(x, sizeof x, r->total));
    text_summary(b, "depth:", &r->depth);
    text_summary(b, "observed features:", &r->observed);
}

static void text_labels(strbuf *b, const ml_inspect_report *r) {
    sb_printf(b, "labels\n");
    if (!r->has_labels) {
        sb_printf(b, "  (no label file)\n");
        return;
    }
    text_echo(b, "label column:", r->label_col);
    text_echo(b, "group column:", r->group_col);
    sb_printf(b, "  %-24s %zu\n", "classes:", r->n_classes);
    for (size_t c = 0; c < r->n_classes; c++) {
        char name[ML_INSPECT_MAX_ECHO];
        ml__sanitize(name, sizeof name, r->class_names[c], strlen(r->class_names[c]));
        sb_printf(b, "    %-22s %zu\n", name, r->class_counts[c]);
    }
    text_echo(b, "positive class:", r->positive);
    text_id_list(b, "samples without label:", &r->without_label);
    text_id_list(b, "labels without sample:", &r->without_sample);
    if (r->has_groups) {
        sb_printf(b, "  %-24s %zu\n", "groups:", r->n_groups);
        text_summary(b, "samples per group:", &r->per_group);
    }
}

static void text_duplicates(strbuf *b, const ml_inspect_report *r) {
    sb_printf(b, "duplicates (samples with identical composition)\n");
    sb_printf(b, "  %-24s %zu\n", "count:", r->n_duplicates);
    for (size_t s = 0; s < r->n_sets_listed; s++) {
        sb_printf(b, "  set %zu:", s + 1);
        for (size_t k = 0; k < r->sets[s].n_listed; k++) {
            sb_printf(b, "%s", k ? ", " : " ");
            text_id(b, &r->sets[s].items[k]);
        }
        if (r->sets[s].count > r->sets[s].n_listed)
            sb_printf(b, " ... and %zu more", r->sets[s].count - r->sets[s].n_listed);
        sb_printf(b, "\n");
    }
    if (r->n_sets > r->n_sets_listed)
        sb_printf(b, "  ... and %zu more sets\n", r->n_sets - r->n_sets_listed);
}

static void text_outliers(strbuf *b, const ml_inspect_report *r) {
    char method[512];
    method_sentence(r, method, sizeof method);
    sb_printf(b, "outliers\n");
    sb_printf(b, "  %-24s %s\n", "method:", method);
    sb_printf(b, "  %-24s %g\n", "threshold:", ML_INSPECT_OUTLIER_Z);
    sb_printf(b, "  %-24s %zu\n", "count:", r->n_outliers);
    for (size_t i = 0; i < r->n_outliers_listed; i++) {
        sb_printf(b, "    ");
        text_id(b, &r->outlier_ids[i]);
        sb_printf(b, "  distance %.6g  z %.3f\n", r->outliers[i].distance, r->outliers[i].z);
    }
    if (r->n_outliers > r->n_outliers_listed)
        sb_printf(b, "    ... and %zu more\n", r->n_outliers - r->n_outliers_listed);
}

static void text_samples(strbuf *b, const ml_inspect_report *r) {
    sb_printf(b, "samples\n");
    for (size_t i = 0; i < r->n_samples; i++) {
        char x[32];
        sb_printf(b, "  ");
        text_id(b, &r->samples[i].id);
        sb_printf(b, "  depth %s  observed %zu\n",
                  fmt_num(x, sizeof x, r->samples[i].depth), r->samples[i].observed);
    }
}

ml_status ml_inspect_report_text(const ml_inspect_report *r, char **text) {
    strbuf b = {NULL, 0, 0, false};
    text_table(&b, r);
    text_labels(&b, r);
    text_duplicates(&b, r);
    text_outliers(&b, r);
    if (r->o.per_sample) text_samples(&b, r);
    if (b.failed || !b.s) {
        free(b.s);
        return ML_NOMEM();
    }
    *text = b.s;
    return ML_OK;
}
