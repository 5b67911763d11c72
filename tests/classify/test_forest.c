/* test_forest.c - what forest.c promises: same seed same forest, sensible accuracy on an
 * easy problem, depth limits, probabilities in [0,1], and tensors that round trip or are
 * refused when they do not describe trees. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/classify.h"
#include "microlens/eval.h"
#include "ml_test.h"
#include "util/rng.h"

#define N 300
#define D 8

/* Label: x0 + x1 > 0 and x2 > -0.5 (an axis-friendly rule); the other features are noise. */
static void make_data(double *X, int *y, size_t n, uint64_t seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < D; j++) X[i * D + j] = ml__rng_normal(&r);
        y[i] = X[i * D] + X[i * D + 1] > 0 && X[i * D + 2] > -0.5;
    }
}

static ml_classifier *fit(const ml_classifier_options *o, const double *X, const int *y) {
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, o, X, N, D, y, NULL), ML_OK);
    return c;
}

static void test_forest__same_seed_same_scores_other_seed_differs(void) {
    static double X[N * D], a[N], b[N];
    static int y[N];
    make_data(X, y, N, 1);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    o.n_trees = 30;
    ml_classifier *c1 = fit(&o, X, y), *c2 = fit(&o, X, y);
    o.seed = 43;
    ml_classifier *c3 = fit(&o, X, y);
    if (c1 && c2 && c3) {
        CHECK_STATUS(ml_classifier_predict_score(c1, X, N, a), ML_OK);
        CHECK_STATUS(ml_classifier_predict_score(c2, X, N, b), ML_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK_STATUS(ml_classifier_predict_score(c3, X, N, b), ML_OK);
        CHECK(memcmp(a, b, sizeof a) != 0);
        for (size_t i = 0; i < N; i++) CHECK(a[i] >= 0 && a[i] <= 1);
    }
    ml_classifier_free(c1);
    ml_classifier_free(c2);
    ml_classifier_free(c3);
}

static void test_forest__learns_an_easy_rule(void) {
    static double X[N * D], Xt[N * D], s[N];
    static int y[N], yt[N];
    make_data(X, y, N, 2);
    make_data(Xt, yt, N, 3);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    ml_classifier *c = fit(&o, X, y);
    if (!c) return;
    CHECK_STATUS(ml_classifier_predict_score(c, Xt, N, s), ML_OK);
    double auc = 0;
    ml_binary_metrics m;
    CHECK_STATUS(ml_roc_auc(&auc, s, yt, N), ML_OK);
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, yt, N, ml_classifier_threshold(c)), ML_OK);
    fprintf(stderr, "  held-out AUC %.3f, accuracy %.3f\n", auc, m.accuracy);
    CHECK(auc > 0.9);
    CHECK(m.accuracy > 0.8);
    ml_classifier_free(c);
}

static size_t max_tree_nodes(const ml_classifier *c) {
    ml_tensor_view t;
    CHECK_STATUS(ml_classifier_param(c, 0, &t), ML_OK);
    CHECK_STR(t.name, "tree_offset");
    const int64_t *off = t.data;
    size_t most = 0;
    for (size_t k = 0; k + 1 < t.shape[0]; k++)
        most = (size_t)(off[k + 1] - off[k]) > most ? (size_t)(off[k + 1] - off[k]) : most;
    return most;
}

static void test_forest__max_depth_one_gives_stumps(void) {
    static double X[N * D];
    static int y[N];
    make_data(X, y, N, 4);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    o.n_trees = 20;
    o.max_depth = 1;
    ml_classifier *c = fit(&o, X, y);
    if (!c) return;
    CHECK_EQ_INT(max_tree_nodes(c), 3);
    ml_classifier_free(c);
}

static void test_forest__tensors_round_trip_and_bad_trees_are_refused(void) {
    static double X[N * D], a[N], b[N];
    static int y[N];
    make_data(X, y, N, 5);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    o.n_trees = 10;
    ml_classifier *c = fit(&o, X, y), *c2 = NULL;
    if (!c) return;
    ml_tensor_view t[6];
    CHECK_EQ_INT(ml_classifier_n_params(c), 6);
    for (size_t k = 0; k < 6; k++) CHECK_STATUS(ml_classifier_param(c, k, &t[k]), ML_OK);
    CHECK_STATUS(ml_classifier_from_params(&c2, &o, D, t, 6), ML_OK);
    if (c2) {
        CHECK_STATUS(ml_classifier_predict_score(c, X, N, a), ML_OK);
        CHECK_STATUS(ml_classifier_predict_score(c2, X, N, b), ML_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    /* A child pointing back at its parent would loop forever: refused. */
    size_t n_nodes = t[3].shape[0];
    int32_t *left = malloc(n_nodes * sizeof *left);
    memcpy(left, t[3].data, n_nodes * sizeof *left);
    CHECK(((const int32_t *)t[1].data)[0] >= 0); /* the root of tree 0 is a split */
    left[0] = 0;
    ml_tensor_view bad[6];
    memcpy(bad, t, sizeof bad);
    bad[3].data = left;
    ml_classifier *none = NULL;
    CHECK_STATUS(ml_classifier_from_params(&none, &o, D, bad, 6), ML_EFORMAT);
    CHECK_ERR_CONTAINS("tree 0 node 0: children");
    /* A feature index beyond d. */
    int32_t *feat = malloc(n_nodes * sizeof *feat);
    memcpy(feat, t[1].data, n_nodes * sizeof *feat);
    feat[0] = D;
    memcpy(bad, t, sizeof bad);
    bad[1].data = feat;
    CHECK_STATUS(ml_classifier_from_params(&none, &o, D, bad, 6), ML_EFORMAT);
    CHECK_ERR_CONTAINS("feature[0]");
    /* Offsets that overrun the node arrays. */
    int64_t off[11];
    memcpy(off, t[0].data, sizeof off);
    off[5] = off[10] + 100;
    memcpy(bad, t, sizeof bad);
    bad[0].data = off;
    CHECK_STATUS(ml_classifier_from_params(&none, &o, D, bad, 6), ML_EFORMAT);
    CHECK_ERR_CONTAINS("does not increase");
    memcpy(bad, t, sizeof bad);
    bad[4].dtype = ML_DTYPE_F64;
    CHECK_STATUS(ml_classifier_from_params(&none, &o, D, bad, 6), ML_EFORMAT);
    CHECK_ERR_CONTAINS("tensor \"right\"");
    CHECK(none == NULL);
    free(feat);
    free(left);
    ml_classifier_free(c2);
    ml_classifier_free(c);
}

static void test_forest__zero_weight_samples_are_ignored(void) {
    static double X[N * D], w[N], a[N], b[N];
    static int y[N];
    make_data(X, y, N, 6);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    o.n_trees = 10;
    for (size_t i = 0; i < N; i++) w[i] = 1;
    ml_classifier *c1 = NULL, *c2 = NULL;
    CHECK_STATUS(ml_classifier_fit(&c1, &o, X, N, D, y, w), ML_OK);
    /* Flipping the labels of zero-weight samples must not change the forest. */
    for (size_t i = 0; i < N; i += 7) {
        w[i] = 0;
        y[i] = 1 - y[i];
    }
    CHECK_STATUS(ml_classifier_fit(&c2, &o, X, N, D, y, w), ML_OK);
    for (size_t i = 0; i < N; i += 7) y[i] = 1 - y[i];
    ml_classifier *c3 = NULL;
    CHECK_STATUS(ml_classifier_fit(&c3, &o, X, N, D, y, w), ML_OK);
    if (c2 && c3) {
        CHECK_STATUS(ml_classifier_predict_score(c2, X, N, a), ML_OK);
        CHECK_STATUS(ml_classifier_predict_score(c3, X, N, b), ML_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    ml_classifier_free(c1);
    ml_classifier_free(c2);
    ml_classifier_free(c3);
}

int main(void) {
    RUN(test_forest__same_seed_same_scores_other_seed_differs);
    RUN(test_forest__learns_an_easy_rule);
    RUN(test_forest__max_depth_one_gives_stumps);
    RUN(test_forest__tensors_round_trip_and_bad_trees_are_refused);
    RUN(test_forest__zero_weight_samples_are_ignored);
    TEST_MAIN_END();
}
