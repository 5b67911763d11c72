/* test_metrics.c - what metrics.c promises: hand-computed ROC-AUC, AP, confusion metrics and
 * curves, refusals, the bootstrap CI, and agreement with scikit-learn on tied scores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "microlens/eval.h"
#include "ml_test.h"
#include "sklearn_oracle.h"
#include "util/rng.h"

/* scikit-learn's documentation example for roc_auc_score / average_precision_score. */
static const double doc_score[4] = {0.1, 0.4, 0.35, 0.8};
static const int doc_y[4] = {0, 0, 1, 1};

static void test_roc_auc__doc_example_is_three_quarters(void) {
    double auc = -1;
    CHECK_STATUS(ml_roc_auc(&auc, doc_score, doc_y, 4), ML_OK);
    CHECK_NEAR(auc, 0.75, 1e-15);
}

static void test_roc_auc__ties_count_half(void) {
    /* Pairs (pos, neg): 0.5 vs 0.5 tie (1/2), 0.9 vs 0.5 win, 0.5 vs 0.2 win, 0.9 vs 0.2 win:
     * (0.5 + 1 + 1 + 1) / 4. */
    const double s[4] = {0.5, 0.9, 0.5, 0.2};
    const int y[4] = {1, 1, 0, 0};
    double auc = -1;
    CHECK_STATUS(ml_roc_auc(&auc, s, y, 4), ML_OK);
    CHECK_NEAR(auc, 3.5 / 4, 1e-15);
    const double flat[4] = {1, 1, 1, 1};
    CHECK_STATUS(ml_roc_auc(&auc, flat, y, 4), ML_OK);
    CHECK_NEAR(auc, 0.5, 1e-15);
}

static void test_roc_auc__separable_is_one_and_reversed_is_zero(void) {
    double s[50];
    int y[50];
    for (int i = 0; i < 50; i++) {
        y[i] = i % 3 == 0;
        s[i] = y[i] ? 10.0 + i : (double)i / 100;
    }
    double auc = -1;
    CHECK_STATUS(ml_roc_auc(&auc, s, y, 50), ML_OK);
    CHECK_NEAR(auc, 1.0, 0);
    for (int i = 0; i < 50; i++) s[i] = -s[i];
    CHECK_STATUS(ml_roc_auc(&auc, s, y, 50), ML_OK);
    CHECK_NEAR(auc, 0.0, 0);
}

static void test_roc_auc__rejects_one_class_bad_label_and_nan(void) {
    const int one[3] = {1, 1, 1}, bad[3] = {0, 2, 1};
    const double s[3] = {0.1, 0.2, 0.3}, nan_s[3] = {0.1, NAN, 0.3};
    const int ok[3] = {0, 1, 1};
    double auc = 42;
    CHECK_STATUS(ml_roc_auc(&auc, s, one, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("needs both classes");
    CHECK_STATUS(ml_roc_auc(&auc, s, bad, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("y[1] is 2");
    CHECK_STATUS(ml_roc_auc(&auc, nan_s, ok, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("score[1] is not finite");
    CHECK_NEAR(auc, 42, 0);
}

static void test_average_precision__doc_example_and_refusal(void) {
    double ap = -1;
    CHECK_STATUS(ml_average_precision(&ap, doc_score, doc_y, 4), ML_OK);
    CHECK_NEAR(ap, 0.5 * 1.0 + 0.5 * (2.0 / 3.0), 1e-15); /* sklearn doc: 0.83... */
    const int none[4] = {0, 0, 0, 0};
    CHECK_STATUS(ml_average_precision(&ap, doc_score, none, 4), ML_EINVAL);
    CHECK_ERR_CONTAINS("no positive");
}

static void test_average_precision__tied_block_is_one_threshold(void) {
    /* All tied: one threshold with precision 2/4 at recall 1. */
    const double s[4] = {0.3, 0.3, 0.3, 0.3};
    const int y[4] = {1, 0, 1, 0};
    double ap = -1;
    CHECK_STATUS(ml_average_precision(&ap, s, y, 4), ML_OK);
    CHECK_NEAR(ap, 0.5, 1e-15);
}

static void test_binary_metrics__hand_computed_and_threshold_is_strict(void) {
    const double s[6] = {0.9, 0.5, 0.2, 0.7, 0.4, 0.6};
    const int y[6] = {1, 1, 1, 0, 0, 0};
    ml_binary_metrics m;
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, y, 6, 0.5), ML_OK);
    /* 0.5 is not > 0.5: predicted negative. Positives: 0.9 tp, 0.5 fn, 0.2 fn. Negatives:
     * 0.7 fp, 0.4 tn, 0.6 fp. */
    CHECK_EQ_INT(m.tp, 1);
    CHECK_EQ_INT(m.fn, 2);
    CHECK_EQ_INT(m.fp, 2);
    CHECK_EQ_INT(m.tn, 1);
    CHECK_NEAR(m.accuracy, 2.0 / 6, 1e-15);
    CHECK_NEAR(m.precision, 1.0 / 3, 1e-15);
    CHECK_NEAR(m.recall, 1.0 / 3, 1e-15);
    CHECK_NEAR(m.specificity, 1.0 / 3, 1e-15);
    CHECK_NEAR(m.f1, 2.0 / 6, 1e-15);
    CHECK_NEAR(m.balanced_accuracy, 1.0 / 3, 1e-15);
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, y, 6, 0.0), ML_OK);
    CHECK_EQ_INT(m.tp + m.fp, 6);
}

static void test_binary_metrics__one_class_and_empty(void) {
    const double s[3] = {0.9, 0.1, 0.2};
    const int y[3] = {0, 0, 0};
    ml_binary_metrics m;
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, y, 3, 0.5), ML_OK);
    CHECK_NEAR(m.balanced_accuracy, 2.0 / 3, 1e-15); /* recall of class 0 only */
    CHECK_NEAR(m.f1, 0.0, 0);
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, y, 0, 0.5), ML_EINVAL);
    const double nan_s[1] = {NAN};
    CHECK_STATUS(ml_binary_metrics_compute(&m, nan_s, y, 1, 0.5), ML_EINVAL);
    const int bad[1] = {-1};
    CHECK_STATUS(ml_binary_metrics_compute(&m, s, bad, 1, 0.5), ML_EINVAL);
}

static void test_curves__doc_example_points(void) {
    ml_curve *roc = NULL, *pr = NULL;
    CHECK_STATUS(ml_roc_curve(&roc, doc_score, doc_y, 4), ML_OK);
    if (roc) {
        const double fpr[5] = {0, 0, 0.5, 0.5, 1}, tpr[5] = {0, 0.5, 0.5, 1, 1};
        const double thr[5] = {INFINITY, 0.8, 0.4, 0.35, 0.1};
        CHECK_EQ_INT(roc->n_points, 5);
        for (int i = 0; i < 5 && roc->n_points == 5; i++) {
            CHECK_NEAR(roc->x[i], fpr[i], 0);
            CHECK_NEAR(roc->y[i], tpr[i], 0);
            CHECK(roc->threshold[i] == thr[i]);
        }
    }
    CHECK_STATUS(ml_pr_curve(&pr, doc_score, doc_y, 4), ML_OK);
    if (pr) {
        const double prec[5] = {0.5, 2.0 / 3, 0.5, 1, 1}, rec[5] = {1, 1, 0.5, 0.5, 0};
        CHECK_EQ_INT(pr->n_points, 5);
        for (int i = 0; i < 5 && pr->n_points == 5; i++) {
            CHECK_NEAR(pr->y[i], prec[i], 1e-15);
            CHECK_NEAR(pr->x[i], rec[i], 0);
        }
    }
    ml_curve_free(roc);
    ml_curve_free(pr);
    ml_curve_free(NULL);
    const int one[4] = {1, 1, 1, 1};
    ml_curve *untouched = NULL;
    CHECK_STATUS(ml_roc_curve(&untouched, doc_score, one, 4), ML_EINVAL);
    CHECK(untouched == NULL);
    const int none[4] = {0, 0, 0, 0};
    CHECK_STATUS(ml_pr_curve(&untouched, doc_score, none, 4), ML_EINVAL);
    CHECK(untouched == NULL);
}

static void noisy_scores(double *s, int *y, size_t n, uint64_t seed, double round_to) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        y[i] = ml__rng_uniform(&r) < 0.4;
        double v = 0.5 + 0.2 * (y[i] ? 1 : -1) * ml__rng_uniform(&r) + 0.25 * ml__rng_normal(&r);
        s[i] = round_to > 0 ? round(v / round_to) * round_to : v;
    }
}

static void test_bootstrap_ci__brackets_auc_and_is_seeded(void) {
    double s[300], ci[2] = {0, 0}, ci2[2] = {0, 0}, auc = 0;
    int y[300];
    size_t used = 0, used2 = 0;
    noisy_scores(s, y, 300, 7, 0.1);
    CHECK_STATUS(ml_roc_auc(&auc, s, y, 300), ML_OK);
    CHECK_STATUS(ml_roc_auc_bootstrap_ci(ci, &used, s, y, 300, 1000, 11), ML_OK);
    CHECK_EQ_INT(used, 1000);
    CHECK(ci[0] < auc && auc < ci[1]);
    CHECK(ci[1] - ci[0] > 0.02 && ci[1] - ci[0] < 0.3);
    CHECK_STATUS(ml_roc_auc_bootstrap_ci(ci2, &used2, s, y, 300, 1000, 11), ML_OK);
    CHECK(ci[0] == ci2[0] && ci[1] == ci2[1]);
    CHECK_STATUS(ml_roc_auc_bootstrap_ci(ci2, &used2, s, y, 300, 1000, 12), ML_OK);
    CHECK(ci[0] != ci2[0] || ci[1] != ci2[1]);
    CHECK_STATUS(ml_roc_auc_bootstrap_ci(ci2, &used2, s, y, 300, 0, 11), ML_EINVAL);
}

static void test_bootstrap_ci__skips_one_class_resamples(void) {
    /* One positive in 3: a resample misses it with probability (2/3)^3 ~ 0.3. */
    const double s[3] = {0.9, 0.1, 0.2};
    const int y[3] = {1, 0, 0};
    double ci[2];
    size_t used = 0;
    CHECK_STATUS(ml_roc_auc_bootstrap_ci(ci, &used, s, y, 3, 1000, 3), ML_OK);
    CHECK(used > 500 && used < 1000);
    CHECK_NEAR(ci[0], 1.0, 0); /* every resample with both classes ranks them perfectly */
}

static double max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && isinf(b[i])) continue;
        m = fmax(m, fabs(a[i] - b[i]));
    }
    return m;
}

static void compare_curve(const char *dir, const char *file, const ml_curve *c, int is_roc) {
    size_t n = c->n_points;
    double *ref = malloc(3 * (n + 1) * sizeof *ref), *mine = malloc(3 * n * sizeof *mine);
    long got = oracle_read_doubles(dir, file, ref, 3 * (n + 1));
    CHECK_EQ_INT(got, (long)(3 * n));
    for (size_t i = 0; i < n; i++) {
        /* sklearn columns: roc fpr,tpr,thr; pr precision,recall,thr */
        mine[3 * i] = is_roc ? c->x[i] : c->y[i];
        mine[3 * i + 1] = is_roc ? c->y[i] : c->x[i];
        /* sklearn 1.2 puts max + 1 where we put +inf at the ROC start */
        mine[3 * i + 2] = (is_roc && i == 0) ? ref[2] : c->threshold[i];
    }
    double diff = got == (long)(3 * n) ? max_abs_diff(mine, ref, 3 * n) : INFINITY;
    fprintf(stderr, "  %s: %zu points, max |diff| vs sklearn %.3g\n", file, n, diff);
    CHECK(diff <= 1e-12);
    free(mine);
    free(ref);
}

static void test_metrics__agree_with_sklearn_on_tied_scores(void) {
    int avail = oracle_available();
    if (avail <= 0) {
        CHECK(avail == 0);
        return;
    }
    char dir[32];
    CHECK(oracle_tmpdir(dir) == 0);
    double worst[5] = {0, 0, 0, 0, 0};
    static const double rounding[4] = {0.1, 0.05, 0.01, 0};
    for (int t = 0; t < 8; t++) {
        size_t n = 50 + 97 * (size_t)t;
        double *s = malloc(n * sizeof *s), ref[9];
        int *y = malloc(n * sizeof *y);
        noisy_scores(s, y, n, 100 + (uint64_t)t, rounding[t % 4]);
        CHECK(oracle_write_doubles(dir, "score.csv", s, n, 1) == 0);
        CHECK(oracle_write_ints(dir, "y.csv", y, n) == 0);
        CHECK(oracle_run("sklearn_metrics.py", dir) == 0);
        CHECK_EQ_INT(oracle_read_doubles(dir, "out.csv", ref, 9), 9);
        double auc = 0, ap = 0;
        ml_binary_metrics m;
        ml_curve *roc = NULL, *pr = NULL;
        CHECK_STATUS(ml_roc_auc(&auc, s, y, n), ML_OK);
        CHECK_STATUS(ml_average_precision(&ap, s, y, n), ML_OK);
        CHECK_STATUS(ml_binary_metrics_compute(&m, s, y, n, 0.5), ML_OK);
        worst[0] = fmax(worst[0], fabs(auc - ref[0]));
        worst[1] = fmax(worst[1], fabs(ap - ref[1]));
        worst[2] = fmax(worst[2], fabs(m.f1 - ref[2]));
        worst[3] = fmax(worst[3], fabs(m.accuracy - ref[3]));
        worst[4] = fmax(worst[4], fabs(m.balanced_accuracy - ref[4]));
        CHECK_EQ_INT(m.tn, (long long)ref[5]);
        CHECK_EQ_INT(m.fp, (long long)ref[6]);
        CHECK_EQ_INT(m.fn, (long long)ref[7]);
        CHECK_EQ_INT(m.tp, (long long)ref[8]);
        CHECK_STATUS(ml_roc_curve(&roc, s, y, n), ML_OK);
        CHECK_STATUS(ml_pr_curve(&pr, s, y, n), ML_OK);
        if (roc) compare_curve(dir, "roc.csv", roc, 1);
        if (pr) compare_curve(dir, "pr.csv", pr, 0);
        ml_curve_free(roc);
        ml_curve_free(pr);
        free(s);
        free(y);
    }
    fprintf(stderr, "  max |diff| vs sklearn: roc_auc %.3g, average_precision %.3g, f1 %.3g, "
            "accuracy %.3g, balanced_accuracy %.3g\n", worst[0], worst[1], worst[2], worst[3],
            worst[4]);
    CHECK(worst[0] <= 1e-12);
    CHECK(worst[1] <= 1e-12);
    CHECK(worst[2] <= 1e-15 && worst[3] <= 1e-15 && worst[4] <= 1e-15);
    oracle_cleanup(dir);
}

int main(void) {
    RUN(test_roc_auc__doc_example_is_three_quarters);
    RUN(test_roc_auc__ties_count_half);
    RUN(test_roc_auc__separable_is_one_and_reversed_is_zero);
    RUN(test_roc_auc__rejects_one_class_bad_label_and_nan);
    RUN(test_average_precision__doc_example_and_refusal);
    RUN(test_average_precision__tied_block_is_one_threshold);
    RUN(test_binary_metrics__hand_computed_and_threshold_is_strict);
    RUN(test_binary_metrics__one_class_and_empty);
    RUN(test_curves__doc_example_points);
    RUN(test_bootstrap_ci__brackets_auc_and_is_seeded);
    RUN(test_bootstrap_ci__skips_one_class_resamples);
    RUN(test_metrics__agree_with_sklearn_on_tied_scores);
    TEST_MAIN_END();
}
