/* split.c - cross-validation fold assignment (stratified, stratified by group, one group out)
 * with leakage guarantees checked before returning; it never looks at features. */
#include "microlens/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/rng.h"

/* Attempts of the greedy group assignment (each a fresh shuffle) before refusing. */
#define GROUP_KFOLD_ATTEMPTS 16

/* Labelled samples, classes and dense groups shared by the strategies. */
typedef struct split_data {
    size_t n, n_labelled, n_classes, n_groups;
    size_t *class_count; /* (n_classes) */
    size_t *group_of;    /* (n) dense group id, meaningful for labelled samples */
    size_t *gcount;      /* (n_groups, n_classes) labelled samples per group and class */
} split_data;

static void split_data_free(split_data *s) {
    free(s->class_count);
    free(s->group_of);
    free(s->gcount);
}

static ml_status read_classes(split_data *s, const int *y, size_t n) {
    int max_y = -1;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < -1)
            return ML_FAIL(ML_EINVAL, "y[%zu] is %d (expected a class >= 0 or -1)", i, y[i]);
        if (y[i] > max_y) max_y = y[i];
        if (y[i] >= 0) s->n_labelled++;
    }
    s->n = n;
    s->n_classes = (size_t)(max_y + 1);
    if (s->n_classes == 0) return ML_FAIL(ML_EINVAL, "no labelled sample (nothing to split)");
    s->class_count = calloc(s->n_classes, sizeof *s->class_count);
    if (!s->class_count) return ML_NOMEM();
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0) s->class_count[y[i]]++;
    return ML_OK;
}

typedef struct keyed {
    long g;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *z = b;
    if (x->g != z->g) return (x->g > z->g) - (x->g < z->g);
    return (x->i > z->i) - (x->i < z->i);
}

/* Dense group ids in ascending group order; ungrouped labelled samples get their own ids after
 * the named groups, in sample order. */
static ml_status read_groups(split_data *s, const int *y, const long *group) {
    ml_status st = ML_OK;
    keyed *k = malloc((s->n_labelled ? s->n_labelled : 1) * sizeof *k);
    s->group_of = calloc(s->n ? s->n : 1, sizeof *s->group_of);
    if (!k || !s->group_of) {
        st = ML_NOMEM();
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (y[i] >= 0 && group[i] >= 0) k[m++] = (keyed){group[i], i};
    qsort(k, m, sizeof *k, cmp_keyed);
    size_t g = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0 && k[j].g != k[j - 1].g) g++;
        s->group_of[k[j].i] = g;
    }
    g = m ? g + 1 : 0;
    for (size_t i = 0; i < s->n; i++)
        if (y[i] >= 0 && group[i] < 0) s->group_of[i] = g++;
    s->n_groups = g;
    s->gcount = calloc(g * s->n_classes + 1, sizeof *s->gcount);
    if (!s->gcount) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < s->n; i++)
        if (y[i] >= 0) s->gcount[s->group_of[i] * s->n_classes + (size_t)y[i]]++;
done:
    free(k);
    return st;
}

static ml_status stratified_kfold(int *fold, const split_data *s, const int *y, size_t k,
                                  ml__rng *rng) {
    for (size_t c = 0; c < s->n_classes; c++)
        if (s->class_count[c] > 0 && s->class_count[c] < k)
            return ML_FAIL(ML_EINVAL, "class %zu has %zu labelled samples, fewer than the %zu "
                           "folds (every test fold needs each class; use fewer folds)",
                           c, s->class_count[c], k);
    size_t *idx = malloc(s->n_labelled * sizeof *idx);
    size_t *perm = malloc(k * sizeof *perm);
    if (!idx || !perm) {
        free(idx);
        free(perm);
        return ML_NOMEM();
    }
    /* Class by class, shuffled, dealt round-robin with the position carried across classes:
     * each class lands in consecutive folds mod k, so its per-fold counts differ by <= 1 and
     * so do the fold sizes. The fold labels are then permuted so that no fold is favoured. */
    for (size_t f = 0; f < k; f++) perm[f] = f;
    ml__rng_shuffle(rng, perm, k);
    size_t pos = 0;
    for (size_t c = 0; c < s->n_classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (y[i] == (int)c) idx[m++] = i;
        ml__rng_shuffle(rng, idx, m);
        for (size_t j = 0; j < m; j++, pos++) fold[idx[j]] = (int)perm[pos % k];
    }
    free(perm);
    free(idx);
    return ML_OK;
}

static double std_pop(const double *v, size_t m) {
    double mean = 0, ss = 0;
    for (size_t i = 0; i < m; i++) mean += v[i];
    mean /= (double)m;
    for (size_t i = 0; i < m; i++) ss += (v[i] - mean) * (v[i] - mean);
    return sqrt(ss / (double)m);
}

/* scikit-learn's StratifiedGroupKFold._find_best_fold: the fold whose addition keeps the mean
 * over classes of the spread (std over folds) of class proportions smallest; near-ties
 * (numpy.isclose) go to the smaller fold. fcount: (k, n_classes); scratch: (k). */
static size_t best_fold(double *fcount, const split_data *s, const size_t *gc, size_t k,
                        double *scratch) {
    size_t best = 0, nc = s->n_classes;
    double min_eval = INFINITY, min_size = INFINITY;
    for (size_t f = 0; f < k; f++) {
        for (size_t c = 0; c < nc; c++) fcount[f * nc + c] += (double)gc[c];
        double eval = 0;
        size_t present = 0;
        for (size_t c = 0; c < nc; c++) {
            if (s->class_count[c] == 0) continue;
            for (size_t g = 0; g < k; g++)
                scratch[g] = fcount[g * nc + c] / (double)s->class_count[c];
            eval += std_pop(scratch, k);
            present++;
        }
        for (size_t c = 0; c < nc; c++) fcount[f * nc + c] -= (double)gc[c];
        eval /= (double)present;
        double size = 0;
        for (size_t c = 0; c < nc; c++) size += fcount[f * nc + c];
        int close = fabs(eval - min_eval) <= 1e-8 + 1e-5 * fabs(min_eval);
        if (eval < min_eval || (close && size < min_size)) {
            min_eval = eval;
            min_size = size;
            best = f;
        }
    }
    return best;
}

typedef struct spread_order {
    double neg_std;
    size_t pos, g;
} spread_order;

static int cmp_spread(const void *a, const void *b) {
    const spread_order *x = a, *z = b;
    if (x->neg_std != z->neg_std) return (x->neg_std > z->neg_std) - (x->neg_std < z->neg_std);
    return (x->pos > z->pos) - (x->pos < z->pos); /* stable, as numpy's mergesort */
}

/* One greedy pass; gfold[g] receives the fold of each group. Returns the first fold lacking a
 * present class as (*bad_fold, *bad_class), or *bad_fold = k when every fold has every class. */
static ml_status group_pass(size_t *gfold, const split_data *s, size_t k, ml__rng *rng,
                            size_t *bad_fold, size_t *bad_class) {
    size_t ng = s->n_groups, nc = s->n_classes;
    ml_status st = ML_OK;
    size_t *order = malloc(ng * sizeof *order);
    spread_order *so = malloc(ng * sizeof *so);
    double *fcount = calloc(k * nc, sizeof *fcount), *scratch = malloc(k * sizeof *scratch);
    double *row = malloc(nc * sizeof *row);
    if (!order || !so || !fcount || !scratch || !row) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t g = 0; g < ng; g++) order[g] = g;
    ml__rng_shuffle(rng, order, ng);
    for (size_t p = 0; p < ng; p++) {
        for (size_t c = 0; c < nc; c++) row[c] = (double)s->gcount[order[p] * nc + c];
        so[p] = (spread_order){-std_pop(row, nc), p, order[p]};
    }
    qsort(so, ng, sizeof *so, cmp_spread);
    for (size_t p = 0; p < ng; p++) {
        const size_t *gc = s->gcount + so[p].g * nc;
        size_t f = best_fold(fcount, s, gc, k, scratch);
        for (size_t c = 0; c < nc; c++) fcount[f * nc + c] += (double)gc[c];
        gfold[so[p].g] = f;
    }
    *bad_fold = k;
    for (size_t f = 0; f < k && *bad_fold == k; f++)
        for (size_t c = 0; c < nc; c++)
            if (s->class_count[c] > 0 && fcount[f * nc + c] == 0) {
                *bad_fold = f;
                *bad_class = c;
                break;
            }
done:
    free(row);
    free(scratch);
    free(fcount);
    free(so);
    free(order);
    return st;
}

static ml_status check_group_feasible(const split_data *s, size_t k) {
    if (s->n_groups < k)
        return ML_FAIL(ML_EINVAL, "%zu groups with labelled samples, fewer than the %zu folds "
                       "(a group cannot be split across folds; use fewer folds)", s->n_groups, k);
    for (size_t c = 0; c < s->n_classes; c++) {
        if (s->class_count[c] == 0) continue;
        size_t in = 0;
        for (size_t g = 0; g < s->n_groups; g++)
            in += (size_t)(s->gcount[g * s->n_classes + c] > 0);
        if (in < k)
            return ML_FAIL(ML_EINVAL, "class %zu occurs in only %zu groups, fewer than the %zu "
                           "folds (a test fold would have no sample of it; use fewer folds or "
                           "leave-one-group-out)", c, in, k);
    }
    return ML_OK;
}

static ml_status group_kfold(int *fold, const split_data *s, const int *y, size_t k,
                             const ml_split_options *o) {
    ML_TRY(check_group_feasible(s, k));
    size_t *gfold = malloc(s->n_groups * sizeof *gfold);
    if (!gfold) return ML_NOMEM();
    ml_status st = ML_OK;
    size_t bad_fold = k, bad_class = 0;
    for (uint64_t a = 0; a < GROUP_KFOLD_ATTEMPTS; a++) {
        ml__rng rng;
        /* Attempt a of repeat r: its own stream, disjoint from other repeats' first tries. */
        ml__rng_seed_stream(&rng, o->seed, (uint64_t)o->repeat + (a << 32));
        st = group_pass(gfold, s, k, &rng, &bad_fold, &bad_class);
        if (st != ML_OK || bad_fold == k) break;
    }
    if (st == ML_OK && bad_fold < k)
        st = ML_FAIL(ML_EINVAL, "no grouping into %zu folds found in %d shuffles that gives "
                     "every fold a sample of class %zu (groups are too uneven; use fewer "
                     "folds)", k, GROUP_KFOLD_ATTEMPTS, bad_class);
    if (st == ML_OK)
        for (size_t i = 0; i < s->n; i++)
            fold[i] = y[i] >= 0 ? (int)gfold[s->group_of[i]] : -1;
    free(gfold);
    return st;
}

/* The leakage guarantee, checked rather than trusted: every group's samples share one fold. */
static ml_status assert_groups_whole(const int *fold, const split_data *s, const int *y) {
    int *seen = malloc((s->n_groups ? s->n_groups : 1) * sizeof *seen);
    if (!seen) return ML_NOMEM();
    for (size_t g = 0; g < s->n_groups; g++) seen[g] = -1;
    ml_status st = ML_OK;
    for (size_t i = 0; i < s->n && st == ML_OK; i++) {
        if (y[i] < 0) continue;
        size_t g = s->group_of[i];
        if (seen[g] >= 0 && seen[g] != fold[i])
            st = ML_FAIL(ML_EINVAL, "internal: group %zu split across folds %d and %d", g,
                         seen[g], fold[i]);
        seen[g] = fold[i];
    }
    free(seen);
    return st;
}

static ml_status check_options(const ml_split_options *o, const long *group) {
    if (!o || o->version != ML_SPLIT_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "split options: version %d (expected %d)", o ? o->version : 0,
                       ML_SPLIT_OPTIONS_VERSION);
    if (o->kind > ML_SPLIT_LEAVE_ONE_GROUP_OUT)
        return ML_FAIL(ML_EINVAL, "split options: kind %d unknown", (int)o->kind);
    if (o->kind != ML_SPLIT_LEAVE_ONE_GROUP_OUT && (o->n_folds < 2 || o->n_folds > INT32_MAX))
        return ML_FAIL(ML_EINVAL, "split options: n_folds is %zu (expected >= 2)", o->n_folds);
    if (o->kind != ML_SPLIT_STRATIFIED_KFOLD && !group)
        return ML_FAIL(ML_EINVAL, "split options: this split needs a group per sample");
    return ML_OK;
}

static ml_status assign(int *tmp, size_t *n_folds, const ml_split_options *o, const int *y,
                        const long *group, split_data *s) {
    ML_TRY(read_classes(s, y, s->n));
    if (o->kind == ML_SPLIT_STRATIFIED_KFOLD) {
        if (s->n_labelled < o->n_folds)
            return ML_FAIL(ML_EINVAL, "%zu labelled samples, fewer than the %zu folds",
                           s->n_labelled, o->n_folds);
        ml__rng rng;
        ml__rng_seed_stream(&rng, o->seed, (uint64_t)o->repeat);
        for (size_t i = 0; i < s->n; i++) tmp[i] = -1;
        ML_TRY(stratified_kfold(tmp, s, y, o->n_folds, &rng));
        *n_folds = o->n_folds;
        return ML_OK;
    }
    ML_TRY(read_groups(s, y, group));
    if (o->kind == ML_SPLIT_STRATIFIED_GROUP_KFOLD) {
        ML_TRY(group_kfold(tmp, s, y, o->n_folds, o));
        *n_folds = o->n_folds;
    } else {
        if (s->n_groups < 2 || s->n_groups > INT32_MAX)
            return ML_FAIL(ML_EINVAL, "%zu groups with labelled samples (leave-one-group-out "
                           "needs at least 2)", s->n_groups);
        for (size_t i = 0; i < s->n; i++) tmp[i] = y[i] >= 0 ? (int)s->group_of[i] : -1;
        *n_folds = s->n_groups;
    }
    return assert_groups_whole(tmp, s, y);
}

ml_status ml_split_assign(int *fold, size_t *n_folds_out, const ml_split_options *opts,
                          const int *y, const long *group, size_t n) {
    ML_TRY(check_options(opts, group));
    split_data s = {0};
    s.n = n;
    size_t n_folds = 0;
    int *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return ML_NOMEM();
    ml_status st = assign(tmp, &n_folds, opts, y, group, &s);
    if (st == ML_OK) {
        memcpy(fold, tmp, n * sizeof *tmp);
        *n_folds_out = n_folds;
    }
    free(tmp);
    split_data_free(&s);
    return st;
}

void ml_split_indices(const int *fold, size_t n, int f, size_t *train, size_t *n_train,
                      size_t *test, size_t *n_test) {
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (fold[i] < 0) continue;
        if (fold[i] == f) test[b++] = i;
        else train[a++] = i;
    }
    *n_train = a;
    *n_test = b;
}
