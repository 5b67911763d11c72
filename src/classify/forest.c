/* forest.c - random forest of Gini trees on bootstrap samples (scikit-learn's
 * RandomForestClassifier defaults: sqrt(d) features per split, grown to purity); binary only,
 * one seeded stream per tree so that results depend on the seed alone. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classifier.h"
#include "util/error.h"
#include "util/rng.h"

/* Growable node arrays of the whole forest; indices inside a tree are tree-local. */
typedef struct nodes {
    size_t len, cap;
    int32_t *feature, *left, *right;
    double *threshold, *value;
} nodes;

static void nodes_free(nodes *t) {
    free(t->feature);
    free(t->left);
    free(t->right);
    free(t->threshold);
    free(t->value);
}

static int grow_i32(int32_t **p, size_t cap) {
    int32_t *t = realloc(*p, cap * sizeof *t);
    if (!t) return 0;
    *p = t;
    return 1;
}

static int grow_f64(double **p, size_t cap) {
    double *t = realloc(*p, cap * sizeof *t);
    if (!t) return 0;
    *p = t;
    return 1;
}

/* Appends a leaf; returns its forest-wide index through *at. */
static ml_status nodes_push(nodes *t, size_t *at) {
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        if (!grow_i32(&t->feature, cap) || !grow_i32(&t->left, cap) ||
            !grow_i32(&t->right, cap) || !grow_f64(&t->threshold, cap) ||
            !grow_f64(&t->value, cap))
            return ML_NOMEM();
        t->cap = cap;
    }
    *at = t->len++;
    t->feature[*at] = -1;
    t->left[*at] = t->right[*at] = -1;
    t->threshold[*at] = 0;
    t->value[*at] = 0;
    return ML_OK;
}

typedef struct sorted_item {
    double v, w;
    int y;
} sorted_item;

static int cmp_item(const void *a, const void *b) {
    double x = ((const sorted_item *)a)->v, z = ((const sorted_item *)b)->v;
    return (x > z) - (x < z);
}

/* Everything one tree build needs; buffers sized for n samples and d features. */
typedef struct builder {
    const double *X;
    const int *y;
    size_t n, d;
    const ml_classifier_options *o;
    double *w;          /* (n) bootstrap count times sample weight */
    size_t *idx;        /* (n) in-bag samples, partitioned node by node */
    size_t *feat;       /* (d) feature order, reshuffled per node */
    sorted_item *items; /* (n) */
    ml__rng rng;
} builder;

typedef struct split {
    int found;
    size_t feature;
    double threshold, score;
} split;

/* Best Gini split of idx[lo, hi) on feature f: maximises sum over children of
 * (w0^2 + w1^2) / w, which is minimising the weighted Gini impurity. Returns 0 when the
 * feature is constant in the node. */
static int best_on_feature(builder *B, size_t lo, size_t hi, size_t f, const double tot[2],
                           split *best) {
    size_t m = hi - lo, min_leaf = B->o->min_samples_leaf;
    for (size_t k = 0; k < m; k++) {
        size_t i = B->idx[lo + k];
        B->items[k] = (sorted_item){B->X[i * B->d + f], B->w[i], B->y[i]};
    }
    qsort(B->items, m, sizeof *B->items, cmp_item);
    if (B->items[0].v == B->items[m - 1].v) return 0;
    double left[2] = {0, 0};
    for (size_t k = 1; k < m; k++) {
        left[B->items[k - 1].y] += B->items[k - 1].w;
        if (B->items[k].v == B->items[k - 1].v || k < min_leaf || m - k < min_leaf) continue;
        double r0 = tot[0] - left[0], r1 = tot[1] - left[1];
        double wl = left[0] + left[1], wr = r0 + r1;
        if (!(wl > 0) || !(wr > 0)) continue;
        double score = (left[0] * left[0] + left[1] * left[1]) / wl + (r0 * r0 + r1 * r1) / wr;
        if (!best->found || score > best->score) {
            double thr = 0.5 * (B->items[k - 1].v + B->items[k].v);
            /* As scikit-learn: a midpoint that rounds up to the right value goes left. */
            if (thr == B->items[k].v || !isfinite(thr)) thr = B->items[k - 1].v;
            *best = (split){1, f, thr, score};
        }
    }
    return 1;
}

/* Tries features in random order until max_features non-constant ones were examined. */
static split find_split(builder *B, size_t lo, size_t hi, const double tot[2]) {
    split best = {0, 0, 0, 0};
    size_t examined = 0;
    for (size_t k = 0; k < B->d && examined < B->o->max_features; k++) {
        size_t r = k + (size_t)ml__rng_below(&B->rng, B->d - k);
        size_t f = B->feat[r];
        B->feat[r] = B->feat[k];
        B->feat[k] = f;
        examined += (size_t)best_on_feature(B, lo, hi, f, tot, &best);
    }
    return best;
}

static size_t partition(builder *B, size_t lo, size_t hi, size_t f, double thr) {
    size_t a = lo, b = hi;
    while (a < b) {
        if (B->X[B->idx[a] * B->d + f] <= thr) a++;
        else {
            size_t t = B->idx[a];
            B->idx[a] = B->idx[--b];
            B->idx[b] = t;
        }
    }
    return a;
}

typedef struct pending {
    size_t lo, hi, depth, node;
} pending;

static ml_status grow_node(builder *B, nodes *T, size_t root, pending p, pending *stack,
                           size_t *top) {
    double tot[2] = {0, 0};
    for (size_t k = p.lo; k < p.hi; k++) tot[B->y[B->idx[k]]] += B->w[B->idx[k]];
    T->value[p.node] = tot[1] / (tot[0] + tot[1]);
    size_t m = p.hi - p.lo;
    int is_leaf = tot[0] == 0 || tot[1] == 0 || m < 2 * B->o->min_samples_leaf ||
                  (B->o->max_depth && p.depth >= B->o->max_depth);
    if (is_leaf) return ML_OK;
    split s = find_split(B, p.lo, p.hi, tot);
    if (!s.found) return ML_OK;
    size_t mid = partition(B, p.lo, p.hi, s.feature, s.threshold), l, r;
    ML_TRY(nodes_push(T, &l));
    ML_TRY(nodes_push(T, &r));
    T->feature[p.node] = (int32_t)s.feature;
    T->threshold[p.node] = s.threshold;
    T->left[p.node] = (int32_t)(l - root);
    T->right[p.node] = (int32_t)(r - root);
    stack[(*top)++] = (pending){mid, p.hi, p.depth + 1, r};
    stack[(*top)++] = (pending){p.lo, mid, p.depth + 1, l};
    return ML_OK;
}

/* Depth-first with an explicit stack (at most one pending sibling per level plus the node, so
 * n + 1 entries suffice). */
static ml_status grow_tree(builder *B, nodes *T, const double *s, pending *stack) {
    memset(B->w, 0, B->n * sizeof *B->w);
    for (size_t k = 0; k < B->n; k++) B->w[ml__rng_below(&B->rng, B->n)] += 1.0;
    size_t m = 0;
    for (size_t i = 0; i < B->n; i++) {
        B->w[i] *= s[i];
        if (B->w[i] > 0) B->idx[m++] = i; /* scikit-learn drops zero-weight samples */
    }
    size_t root, top = 0;
    ML_TRY(nodes_push(T, &root));
    if (m == 0) return ML_OK;
    stack[top++] = (pending){0, m, 0, root};
    while (top > 0) ML_TRY(grow_node(B, T, root, stack[--top], stack, &top));
    return ML_OK;
}

static ml_status store(ml_classifier *c, const nodes *T, const int64_t *offset, size_t n_trees) {
    int64_t *off = ml__classifier_add(c, "tree_offset", ML_DTYPE_I64, 1, n_trees + 1, 0);
    int32_t *f = off ? ml__classifier_add(c, "feature", ML_DTYPE_I32, 1, T->len, 0) : NULL;
    double *th = f ? ml__classifier_add(c, "threshold", ML_DTYPE_F64, 1, T->len, 0) : NULL;
    int32_t *l = th ? ml__classifier_add(c, "left", ML_DTYPE_I32, 1, T->len, 0) : NULL;
    int32_t *r = l ? ml__classifier_add(c, "right", ML_DTYPE_I32, 1, T->len, 0) : NULL;
    double *v = r ? ml__classifier_add(c, "value", ML_DTYPE_F64, 1, T->len, 0) : NULL;
    if (!v) return ml_error_last()->code;
    memcpy(off, offset, (n_trees + 1) * sizeof *off);
    memcpy(f, T->feature, T->len * sizeof *f);
    memcpy(th, T->threshold, T->len * sizeof *th);
    memcpy(l, T->left, T->len * sizeof *l);
    memcpy(r, T->right, T->len * sizeof *r);
    memcpy(v, T->value, T->len * sizeof *v);
    return ML_OK;
}

ml_status ml__forest_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                         const double *s) {
    size_t d = c->n_features, n_trees = c->opts.n_trees;
    builder B = {X, y, n, d, &c->opts, NULL, NULL, NULL, NULL, {{0}}};
    nodes T = {0};
    ml_status st = ML_OK;
    int64_t *offset = malloc((n_trees + 1) * sizeof *offset);
    pending *stack = malloc((n + 1) * sizeof *stack);
    B.w = malloc(n * sizeof *B.w);
    B.idx = malloc(n * sizeof *B.idx);
    B.feat = malloc(d * sizeof *B.feat);
    B.items = malloc(n * sizeof *B.items);
    if (!offset || !stack || !B.w || !B.idx || !B.feat || !B.items) {
        st = ML_NOMEM();
        goto done;
    }
    offset[0] = 0;
    for (size_t t = 0; t < n_trees && st == ML_OK; t++) {
        for (size_t j = 0; j < d; j++) B.feat[j] = j;
        ml__rng_seed_stream(&B.rng, c->opts.seed, t);
        st = grow_tree(&B, &T, s, stack);
        offset[t + 1] = (int64_t)T.len;
    }
    if (st == ML_OK) st = store(c, &T, offset, n_trees);
done:
    free(B.items);
    free(B.feat);
    free(B.idx);
    free(B.w);
    free(stack);
    free(offset);
    nodes_free(&T);
    return st;
}

void ml__forest_predict(const ml_classifier *c, const double *X, size_t n, double *score) {
    const int64_t *off = ml__classifier_find(c, "tree_offset")->data;
    const int32_t *f = ml__classifier_find(c, "feature")->data;
    const int32_t *l = ml__classifier_find(c, "left")->data;
    const int32_t *r = ml__classifier_find(c, "right")->data;
    const double *th = ml__classifier_find(c, "threshold")->data;
    const double *v = ml__classifier_find(c, "value")->data;
    size_t n_trees = ml__classifier_find(c, "tree_offset")->shape[0] - 1, d = c->n_features;
    for (size_t i = 0; i < n; i++) {
        const double *x = X + i * d;
        double sum = 0;
        for (size_t t = 0; t < n_trees; t++) {
            size_t root = (size_t)off[t], k = root;
            while (f[k] >= 0) k = root + (size_t)(x[f[k]] <= th[k] ? l[k] : r[k]);
            sum += v[k];
        }
        score[i] = sum / (double)n_trees;
    }
}

static ml_status check_node(const ml_classifier *c, size_t t, size_t k, size_t size,
                            size_t root) {
    const int32_t *f = ml__classifier_find(c, "feature")->data;
    const int32_t *l = ml__classifier_find(c, "left")->data;
    const int32_t *r = ml__classifier_find(c, "right")->data;
    const double *v = ml__classifier_find(c, "value")->data;
    const double *th = ml__classifier_find(c, "threshold")->data;
    size_t local = k - root;
    if (!(v[k] >= 0 && v[k] <= 1))
        return ML_FAIL(ML_EFORMAT, "value[%zu] is %g (expected a fraction in [0, 1])", k, v[k]);
    if (f[k] == -1) return ML_OK;
    if (f[k] < 0 || (size_t)f[k] >= c->n_features || isnan(th[k]))
        return ML_FAIL(ML_EFORMAT, "feature[%zu] is %d (expected -1 or a feature below %zu, "
                       "with a threshold)", k, f[k], c->n_features);
    if (l[k] <= (int64_t)local || (size_t)l[k] >= size || r[k] <= (int64_t)local ||
        (size_t)r[k] >= size)
        return ML_FAIL(ML_EFORMAT, "tree %zu node %zu: children %d, %d (expected nodes after "
                       "it, below %zu)", t, local, l[k], r[k], size);
    return ML_OK;
}

ml_status ml__forest_validate(const ml_classifier *c) {
    const ml__param *off_p = ml__classifier_find(c, "tree_offset");
    const int64_t *off = off_p->data;
    size_t n_nodes = ml__classifier_find(c, "feature")->shape[0];
    static const char *const same[] = {"threshold", "left", "right", "value"};
    for (size_t k = 0; k < 4; k++)
        if (ml__classifier_find(c, same[k])->shape[0] != n_nodes)
            return ML_FAIL(ML_EFORMAT, "tensor \"%s\" has %zu nodes (\"feature\" has %zu)",
                           same[k], ml__classifier_find(c, same[k])->shape[0], n_nodes);
    size_t n_trees = off_p->shape[0] ? off_p->shape[0] - 1 : 0;
    if (n_trees == 0 || off[0] != 0 || off[n_trees] != (int64_t)n_nodes)
        return ML_FAIL(ML_EFORMAT, "tree_offset must start at 0, end at the node count %zu and "
                       "hold >= 2 entries", n_nodes);
    for (size_t t = 0; t < n_trees; t++)
        if (off[t + 1] <= off[t])
            return ML_FAIL(ML_EFORMAT, "tree_offset[%zu] does not increase (a tree needs a "
                           "node)", t + 1);
    for (size_t t = 0; t < n_trees; t++) {
        size_t root = (size_t)off[t], size = (size_t)(off[t + 1] - off[t]);
        for (size_t k = root; k < root + size; k++) ML_TRY(check_node(c, t, k, size, root));
    }
    return ML_OK;
}
