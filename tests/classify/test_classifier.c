/* test_classifier.c - what classifier.c, logreg.c and svm.c promise: scikit-learn's
 * coefficients (L2, L1, elastic-net, none, balanced, weighted; hinge SVM), optimality at the
 * solution, separable data, the shared interface's refusals and the tensor round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "microlens/classify.h"
#include "ml_test.h"
#include "sklearn_oracle.h"
#include "util/rng.h"

#define N 240
#define D 6

/* Correlated Gaussian features, unequal scales, an imbalanced logistic label. */
static void make_data(double *X, int *y, double *w, size_t n, size_t d, uint64_t seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double z = -0.8, common = ml__rng_normal(&r);
        for (size_t j = 0; j < d; j++) {
            double x = (ml__rng_normal(&r) + 0.5 * common) * (1.0 + 0.5 * (double)j);
            X[i * d + j] = x;
            z += (j % 2 ? 0.6 : -0.4) * x / (1.0 + 0.5 * (double)j);
        }
        y[i] = ml__rng_uniform(&r) < 1.0 / (1.0 + exp(-z));
        w[i] = 0.5 + ml__rng_uniform(&r);
    }
}

typedef struct lin_case {
    ml_classifier_kind kind;
    ml_penalty penalty;
    double C, l1_ratio;
    int balanced, weighted;
    double tol; /* relative to max |sklearn coefficient| */
    int is_newton_cg; /* oracle solver newton-cg instead of the default lbfgs */
} lin_case;

static const lin_case cases[] = {
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 0.01, 0, 0, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 0.1, 0, 0, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 1.0, 0, 0, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 10.0, 0, 0, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 0.1, 0, 1, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 1.0, 0, 1, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 1.0, 0, 1, 1, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 1.0, 0, 0, 0, 1e-8, 1},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L2, 0.1, 0, 1, 1, 1e-8, 1},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_NONE, 1.0, 0, 0, 0, 1e-4, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_NONE, 1.0, 0, 0, 0, 1e-8, 1},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L1, 0.03, 0, 0, 0, 1e-3, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L1, 0.1, 0, 0, 0, 1e-3, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_L1, 1.0, 0, 1, 0, 1e-3, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_ELASTICNET, 0.05, 0.5, 0, 0, 1e-3, 0},
    {ML_CLASSIFIER_LOGREG, ML_PENALTY_ELASTICNET, 1.0, 0.3, 1, 1, 1e-3, 0},
    {ML_CLASSIFIER_SVM, ML_PENALTY_L2, 0.1, 0, 0, 0, 1e-3, 0},
    {ML_CLASSIFIER_SVM, ML_PENALTY_L2, 1.0, 0, 1, 0, 1e-3, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static ml_classifier *fit_case(const lin_case *k, const double *X, const int *y,
                               const double *w) {
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = k->kind;
    o.penalty = k->penalty;
    o.C = k->C;
    o.l1_ratio = k->l1_ratio;
    o.is_balanced = k->balanced;
    if (k->kind == ML_CLASSIFIER_SVM) {
        o.tol = 1e-10;
        o.max_iter = 200000;
    }
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, k->weighted ? w : NULL), ML_OK);
    return c;
}

static void test_classifier__coefficients_match_sklearn(void) {
    int avail = oracle_available();
    if (avail <= 0) {
        CHECK(avail == 0);
        return;
    }
    static double X[N * D], w[N], ref[N_CASES * (D + 1)];
    static int y[N];
    make_data(X, y, w, N, D, 2024);
    char dir[32], text[4096];
    size_t text_len = 0;
    CHECK(oracle_tmpdir(dir) == 0);
    for (size_t k = 0; k < N_CASES; k++) {
        const char *kind = cases[k].kind == ML_CLASSIFIER_SVM ? "svm"
                           : cases[k].is_newton_cg            ? "logreg-newton-cg"
                                                              : "logreg";
        text_len += (size_t)snprintf(text + text_len, sizeof text - text_len,
                                     "%s,%s,%g,%g,%d,%d\n", kind,
                                     ml_penalty_name(cases[k].penalty), cases[k].C,
                                     cases[k].l1_ratio, cases[k].balanced, cases[k].weighted);
    }
    CHECK(oracle_write_doubles(dir, "X.csv", X, N, D) == 0);
    CHECK(oracle_write_ints(dir, "y.csv", y, N) == 0);
    CHECK(oracle_write_doubles(dir, "w.csv", w, N, 1) == 0);
    CHECK(oracle_write_text(dir, "cases.csv", text) == 0);
    CHECK(oracle_run("sklearn_linear.py", dir) == 0);
    CHECK_EQ_INT(oracle_read_doubles(dir, "out.csv", ref, N_CASES * (D + 1)),
                 (long)(N_CASES * (D + 1)));
    for (size_t k = 0; k < N_CASES; k++) {
        ml_classifier *c = fit_case(&cases[k], X, y, w);
        if (!c) continue;
        const double *coef, *r = ref + k * (D + 1);
        double b, scale = 0, diff = 0;
        CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_OK);
        for (size_t j = 0; j <= D; j++) scale = fmax(scale, fabs(r[j]));
        for (size_t j = 0; j <= D; j++) diff = fmax(diff, fabs((j < D ? coef[j] : b) - r[j]));
        fprintf(stderr, "  %-6s %-10s C=%-5g l1_ratio=%-3g balanced=%d weighted=%d%s: "
                "max |diff| %.3g, relative %.3g (tol %g), %zu iterations\n",
                ml_classifier_kind_name(cases[k].kind), ml_penalty_name(cases[k].penalty),
                cases[k].C, cases[k].l1_ratio, cases[k].balanced, cases[k].weighted,
                cases[k].is_newton_cg ? " (newton-cg)" : "", diff,
                diff / scale, cases[k].tol, ml_classifier_n_iter(c));
        CHECK(diff / scale <= cases[k].tol);
        CHECK(ml_classifier_converged(c));
        ml_classifier_free(c);
    }
    oracle_cleanup(dir);
}

/* The L2 objective's gradient, computed here independently, vanishes at the fit. */
static void test_logreg__gradient_vanishes_at_solution(void) {
    static double X[N * D], w[N];
    static int y[N];
    make_data(X, y, w, N, D, 77);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.C = 0.3;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, w), ML_OK);
    if (!c) return;
    const double *coef;
    double b, g[D + 1] = {0}, g0 = 0;
    CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_OK);
    for (size_t i = 0; i < N; i++) {
        double z = b;
        for (size_t j = 0; j < D; j++) z += X[i * D + j] * coef[j];
        double r = o.C * w[i] * (1.0 / (1.0 + exp(-z)) - y[i]);
        double r0 = o.C * w[i] * (0.5 - y[i]);
        for (size_t j = 0; j < D; j++) g[j] += r * X[i * D + j];
        g[D] += r;
        g0 += fabs(r0);
    }
    double gmax = 0;
    for (size_t j = 0; j < D; j++) gmax = fmax(gmax, fabs(g[j] + coef[j]));
    gmax = fmax(gmax, fabs(g[D]));
    fprintf(stderr, "  max |gradient| at the fit: %.3g (|gradient| scale %.3g)\n", gmax, g0);
    CHECK(gmax <= 1e-9 * g0);
    ml_classifier_free(c);
}

static void test_logreg__scores_are_probabilities_of_the_decision(void) {
    static double X[N * D], w[N], s[N];
    static int y[N];
    make_data(X, y, w, N, D, 3);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, NULL), ML_OK);
    if (!c) return;
    CHECK_STATUS(ml_classifier_predict_score(c, X, N, s), ML_OK);
    const double *coef;
    double b;
    CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_OK);
    double z = b;
    for (size_t j = 0; j < D; j++) z += X[j] * coef[j];
    CHECK_NEAR(s[0], 1.0 / (1.0 + exp(-z)), 1e-15);
    CHECK(ml_classifier_score_is_probability(c));
    CHECK_NEAR(ml_classifier_threshold(c), 0.5, 0);
    CHECK_EQ_INT(ml_classifier_kind_of(c), ML_CLASSIFIER_LOGREG);
    CHECK_EQ_INT(ml_classifier_n_features(c), D);
    CHECK_NEAR(ml_classifier_options_of(c)->tol, 1e-10, 0);
    ml_classifier_free(c);
}

static void test_logreg__l1_zeroes_noise_features(void) {
    static double X[N * D], w[N];
    static int y[N];
    make_data(X, y, w, N, D, 9);
    ml__rng r;
    ml__rng_seed(&r, 1);
    for (size_t i = 0; i < N; i++) X[i * D + 5] = ml__rng_normal(&r) * 0.01; /* pure noise */
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.penalty = ML_PENALTY_L1;
    o.C = 0.05;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, NULL), ML_OK);
    if (!c) return;
    const double *coef;
    double b;
    CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_OK);
    CHECK(coef[5] == 0.0);
    ml_classifier_free(c);
}

/* With L1 strong enough every coefficient is 0 and the intercept alone fits the base rate:
 * b = logit(mean y) (scikit-learn's saga stops short of it, so it is checked by hand). */
static void test_logreg__strong_l1_leaves_logit_of_base_rate(void) {
    static double X[N * D], w[N];
    static int y[N];
    make_data(X, y, w, N, D, 2024);
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.penalty = ML_PENALTY_L1;
    o.C = 0.01;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, NULL), ML_OK);
    if (!c) return;
    const double *coef;
    double b, pos = 0;
    CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_OK);
    for (size_t j = 0; j < D; j++) CHECK(coef[j] == 0.0);
    for (size_t i = 0; i < N; i++) pos += y[i];
    CHECK_NEAR(b, log(pos / (N - pos)), 1e-10);
    ml_classifier_free(c);
}

static void test_svm__separable_data_is_classified_with_margin(void) {
    double X[80 * 2], s[80];
    int y[80];
    ml__rng r;
    ml__rng_seed(&r, 4);
    for (size_t i = 0; i < 80; i++) {
        y[i] = i % 2;
        X[2 * i] = (y[i] ? 2.0 : -2.0) + 0.5 * ml__rng_normal(&r);
        X[2 * i + 1] = ml__rng_normal(&r);
    }
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_SVM;
    o.C = 10;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 80, 2, y, NULL), ML_OK);
    if (!c) return;
    CHECK_STATUS(ml_classifier_predict_score(c, X, 80, s), ML_OK);
    size_t correct = 0;
    for (size_t i = 0; i < 80; i++) correct += (size_t)((s[i] > 0) == y[i]);
    CHECK_EQ_INT(correct, 80);
    CHECK(!ml_classifier_score_is_probability(c));
    CHECK_NEAR(ml_classifier_threshold(c), 0.0, 0);
    ml_classifier_free(c);
}

static void test_classifier__tensors_round_trip_to_identical_scores(void) {
    static double X[N * D], w[N], s1[N], s2[N];
    static int y[N];
    make_data(X, y, w, N, D, 12);
    for (int kind = 0; kind < 2; kind++) {
        ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
        o.kind = kind ? ML_CLASSIFIER_SVM : ML_CLASSIFIER_LOGREG;
        ml_classifier *c = NULL, *c2 = NULL;
        CHECK_STATUS(ml_classifier_fit(&c, &o, X, N, D, y, NULL), ML_OK);
        if (!c) continue;
        ml_tensor_view t[2];
        CHECK_EQ_INT(ml_classifier_n_params(c), 2);
        CHECK_STATUS(ml_classifier_param(c, 0, &t[1]), ML_OK); /* any order */
        CHECK_STATUS(ml_classifier_param(c, 1, &t[0]), ML_OK);
        CHECK_STR(t[1].name, "coef");
        CHECK_EQ_INT(t[1].shape[1], D);
        CHECK_STATUS(ml_classifier_param(c, 2, &t[0]), ML_EINVAL);
        CHECK_STATUS(ml_classifier_param(c, 1, &t[0]), ML_OK);
        CHECK_STATUS(ml_classifier_from_params(&c2, &o, D, t, 2), ML_OK);
        if (c2) {
            CHECK_STATUS(ml_classifier_predict_score(c, X, N, s1), ML_OK);
            CHECK_STATUS(ml_classifier_predict_score(c2, X, N, s2), ML_OK);
            CHECK(memcmp(s1, s2, sizeof s1) == 0);
        }
        ml_classifier *none = NULL;
        CHECK_STATUS(ml_classifier_from_params(&none, &o, D + 1, t, 2), ML_EFORMAT);
        CHECK_ERR_CONTAINS("tensor \"coef\"");
        CHECK_STATUS(ml_classifier_from_params(&none, &o, D, t, 1), ML_EFORMAT);
        CHECK(none == NULL);
        ml_classifier_free(c2);
        ml_classifier_free(c);
    }
}

static void test_classifier__refuses_bad_inputs_with_reasons(void) {
    double X[8] = {0, 1, 2, 3, 4, 5, 6, 7}, s[4];
    int y[4] = {0, 1, 0, 1}, one[4] = {1, 1, 1, 1}, two[4] = {0, 2, 0, 1};
    double neg[4] = {1, -1, 1, 1};
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, one, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("only class 1");
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, two, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("y[1] is 2");
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, neg), ML_EINVAL);
    CHECK_ERR_CONTAINS("sample_weight[1]");
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 1, 2, y, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("needs >= 2 samples");
    double zero_w[4] = {0, 0, 0, 0};
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, zero_w), ML_EINVAL);
    X[5] = NAN;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("X[2][1] is not finite");
    X[5] = 5;
    o.C = 0;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("C out of range");
    CHECK(c == NULL);
    o.C = 1;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, NULL), ML_OK);
    if (!c) return;
    X[0] = INFINITY;
    s[0] = 42;
    CHECK_STATUS(ml_classifier_predict_score(c, X, 4, s), ML_EINVAL);
    CHECK_NEAR(s[0], 42, 0);
    ml_classifier_free(c);
    ml_classifier_free(NULL);
}

static void test_classifier__coef_refused_for_nonlinear_kinds(void) {
    double X[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int y[4] = {0, 1, 0, 1};
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    o.kind = ML_CLASSIFIER_RF;
    o.n_trees = 3;
    ml_classifier *c = NULL;
    CHECK_STATUS(ml_classifier_fit(&c, &o, X, 4, 2, y, NULL), ML_OK);
    if (!c) return;
    const double *coef = NULL;
    double b = 7;
    CHECK_STATUS(ml_classifier_coef(c, &coef, &b), ML_EINVAL);
    CHECK_ERR_CONTAINS("rf has no coefficients");
    CHECK(coef == NULL && b == 7);
    ml_classifier_free(c);
}

int main(void) {
    RUN(test_classifier__coefficients_match_sklearn);
    RUN(test_logreg__gradient_vanishes_at_solution);
    RUN(test_logreg__scores_are_probabilities_of_the_decision);
    RUN(test_logreg__l1_zeroes_noise_features);
    RUN(test_logreg__strong_l1_leaves_logit_of_base_rate);
    RUN(test_svm__separable_data_is_classified_with_margin);
    RUN(test_classifier__tensors_round_trip_to_identical_scores);
    RUN(test_classifier__refuses_bad_inputs_with_reasons);
    RUN(test_classifier__coef_refused_for_nonlinear_kinds);
    TEST_MAIN_END();
}
