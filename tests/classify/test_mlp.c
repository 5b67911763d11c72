/* test_mlp.c - what mlp.c promises: the backward pass against central finite differences,
 * XOR-like data learned, seeded determinism, early stopping, and the tensor round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/mlp.h"
#include "microlens/classify.h"
#include "microlens/eval.h"
#include "ml_test.h"
#include "util/rng.h"

static void test_mlp__backward_matches_finite_differences(void) {
    enum { B = 7, DIN = 5 };
    const size_t hidden[2] = {6, 4};
    ml__mlp net;
    CHECK_STATUS(ml__mlp_init(&net, DIN, hidden, 2, B), ML_OK);
    size_t P = net.n_params;
    double *p = malloc(P * sizeof *p), *g = calloc(P, sizeof *g), X[B * DIN], w[B], logit[B];
    int y[B];
    ml__rng r;
    ml__rng_seed(&r, 8);
    for (size_t k = 0; k < P; k++) p[k] = 0.6 * ml__rng_normal(&r);
    for (size_t i = 0; i < B * DIN; i++) X[i] = ml__rng_normal(&r);
    for (size_t i = 0; i < B; i++) {
        y[i] = i % 3 == 0;
        w[i] = 0.5 + ml__rng_uniform(&r);
    }
    ml__mlp_forward(&net, p, X, NULL, B, logit);
    ml__mlp_loss_backward(&net, p, g, logit, y, w, NULL, B);
    double worst = 0;
    const double h = 1e-6;
    for (size_t k = 0; k < P; k++) {
        double keep = p[k];
        p[k] = keep + h;
        ml__mlp_forward(&net, p, X, NULL, B, logit);
        double up = ml__mlp_loss_backward(&net, p, NULL, logit, y, w, NULL, B);
        p[k] = keep - h;
        ml__mlp_forward(&net, p, X, NULL, B, logit);
        double down = ml__mlp_loss_backward(&net, p, NULL, logit, y, w, NULL, B);
        p[k] = keep;
        double fd = (up - down) / (2 * h);
        worst = fmax(worst, fabs(fd - g[k]) / fmax(1e-3, fabs(fd)));
    }
    fprintf(stderr, "  %zu parameters, max relative |backward - finite difference| %.3g "
            "(tol 1e-6)\n", P, worst);
    CHECK(worst < 1e-6);
    free(g);
    free(p);
    ml__mlp_free(&net);
}

/* XOR of the signs of x0 and x1, plus two noise features. */
static void xor_data(double *X, int *y, size_t n, uint64_t seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 4; j++) X[i * 4 + j] = 2 * ml__rng_uniform(&r) - 1;
        y[i] = (X[i * 4] > 0) != (X[i * 4 + 1] > 0);
    }
}

static void test_mlp__learns_xor(void) {
    static double X[400 * 4], Xt[400 * 4], s[400];
    static int y[400], yt[400];
    xor_data(X, y, 400, 1);
    xor_data(Xt, yt, 400, 2);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_MLP;
    o.hidden[0] = 32;
    o.lr = 1e-2;
    o.weight_decay = 0;
    o.max_epochs = 300;
    o.patience = 30;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 400, 4, y, NULL), ML_OK);
    if (!c) return;
    CHECK_STATUS(ml_classifier_predict_score(c, Xt, 400, s), ML_OK);
    double auc = 0;
    ml_binary_metrics m;
    CHECK_STATUS(ml_roc_auc(&auc, s, yt, 400), ML_OK);
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, yt, 400, 0.5), ML_OK);
    fprintf(stderr, "  XOR held-out AUC %.3f, accuracy %.3f after %zu epochs (early stop %d)\n",
            auc, m.accuracy, ml_classifier_n_iter(c), ml_classifier_converged(c));
    CHECK(auc > 0.95);
    CHECK(m.accuracy > 0.85);
    ml_classifier_free(c);
}

static void test_mlp__seeded_and_tensors_round_trip(void) {
    static double X[200 * 4], a[200], b[200];
    static int y[200];
    xor_data(X, y, 200, 3);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_MLP;
    o.n_hidden = 2;
    o.hidden[0] = 8;
    o.hidden[1] = 4;
    o.max_epochs = 20;
    ml_classifier *c1 = NULL, *c2 = NULL, *c3 = NULL;
    CHECK_STATUS(ml_classifier_fit(&c1, &o, X, 200, 4, y, NULL), ML_OK);
    CHECK_STATUS(ml_classifier_fit(&c2, &o, X, 200, 4, y, NULL), ML_OK);
    if (!c1 || !c2) return;
    CHECK_STATUS(ml_classifier_predict_score(c1, X, 200, a), ML_OK);
    CHECK_STATUS(ml_classifier_predict_score(c2, X, 200, b), ML_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    ml_tensor_view t[6];
    CHECK_EQ_INT(ml_classifier_n_params(c1), 6);
    for (size_t k = 0; k < 6; k++) CHECK_STATUS(ml_classifier_param(c1, k, &t[k]), ML_OK);
    CHECK_STR(t[0].name, "layers.0.weight");
    CHECK_EQ_INT(t[0].shape[0], 8);
    CHECK_EQ_INT(t[0].shape[1], 4);
    CHECK_STR(t[5].name, "layers.2.bias");
    CHECK_STATUS(ml_classifier_from_params(&c3, &o, 4, t, 6), ML_OK);
    if (c3) {
        CHECK_STATUS(ml_classifier_predict_score(c3, X, 200, b), ML_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    o.hidden[1] = 5; /* shapes no longer match the tensors */
    ml_classifier *none = NULL;
    CHECK_STATUS(ml_classifier_from_params(&none, &o, 4, t, 6), ML_EFORMAT);
    CHECK_ERR_CONTAINS("layers.1.weight");
    CHECK(none == NULL);
    ml_classifier_free(c1);
    ml_classifier_free(c2);
    ml_classifier_free(c3);
}

static void test_mlp__early_stopping_stops_on_pure_noise(void) {
    static double X[300 * 4];
    static int y[300];
    ml__rng r;
    ml__rng_seed(&r, 12);
    for (size_t i = 0; i < 300; i++) {
        for (size_t j = 0; j < 4; j++) X[i * 4 + j] = ml__rng_normal(&r);
        y[i] = ml__rng_uniform(&r) < 0.5;
    }
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_MLP;
    o.lr = 1e-2;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 300, 4, y, NULL), ML_OK);
    if (!c) return;
    CHECK(ml_classifier_converged(c));
    CHECK(ml_classifier_n_iter(c) < o.max_epochs);
    ml_classifier_free(c);
}

int main(void) {
    RUN(test_mlp__backward_matches_finite_differences);
    RUN(test_mlp__learns_xor);
    RUN(test_mlp__seeded_and_tensors_round_trip);
    RUN(test_mlp__early_stopping_stops_on_pure_noise);
    TEST_MAIN_END();
}
