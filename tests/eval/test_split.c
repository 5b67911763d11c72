/* test_split.c - what split.c promises: stratified folds balanced per class, whole groups per
 * fold over many random group structures, refusals with reasons, seeds and repeats. */
#include <stdlib.h>
#include <string.h>

#include "microlens/eval.h"
#include "ml_test.h"
#include "util/rng.h"

#define N_MAX 400

static void per_fold_class_counts(const int *fold, const int *y, size_t n, size_t k,
                                  size_t counts[][2]) {
    memset(counts, 0, k * sizeof counts[0]);
    for (size_t i = 0; i < n; i++)
        if (fold[i] >= 0) counts[fold[i]][y[i]]++;
}

static void test_stratified_kfold__class_counts_per_fold_differ_by_at_most_one(void) {
    ml__rng r;
    ml__rng_seed(&r, 5);
    for (int trial = 0; trial < 50; trial++) {
        size_t n = 20 + (size_t)ml__rng_below(&r, 300), k = 2 + (size_t)ml__rng_below(&r, 9);
        int y[N_MAX], fold[N_MAX];
        size_t counts[10][2];
        for (size_t i = 0; i < n; i++) y[i] = ml__rng_uniform(&r) < 0.3 ? 1 : 0;
        y[0] = 0; /* unlabelled samples appear below; make sure each class has k members */
        for (size_t i = 1; i <= k; i++) y[i] = 1;
        for (size_t i = k + 1; i <= 2 * k; i++) y[i] = 0;
        y[n - 1] = -1;
        ml_split_options o = ML_SPLIT_OPTIONS_INIT;
        o.n_folds = k;
        o.seed = (uint64_t)trial;
        size_t nf = 0;
        CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, NULL, n), ML_OK);
        CHECK_EQ_INT(nf, k);
        CHECK_EQ_INT(fold[n - 1], -1);
        per_fold_class_counts(fold, y, n, k, counts);
        for (int c = 0; c < 2; c++) {
            size_t lo = SIZE_MAX, hi = 0;
            for (size_t f = 0; f < k; f++) {
                lo = counts[f][c] < lo ? counts[f][c] : lo;
                hi = counts[f][c] > hi ? counts[f][c] : hi;
            }
            CHECK(hi - lo <= 1);
            CHECK(lo >= 1);
        }
    }
}

static void test_stratified_kfold__same_seed_same_folds_and_repeats_differ(void) {
    int y[100], a[100], b[100], c[100];
    for (int i = 0; i < 100; i++) y[i] = i % 4 == 0;
    ml_split_options o = ML_SPLIT_OPTIONS_INIT;
    size_t nf;
    CHECK_STATUS(ml_split_assign(a, &nf, &o, y, NULL, 100), ML_OK);
    CHECK_STATUS(ml_split_assign(b, &nf, &o, y, NULL, 100), ML_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    o.repeat = 1;
    CHECK_STATUS(ml_split_assign(c, &nf, &o, y, NULL, 100), ML_OK);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

static void test_stratified_kfold__refuses_rare_class_and_bad_options(void) {
    int y[10] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, fold[10];
    for (int i = 0; i < 10; i++) fold[i] = 77;
    size_t nf = 99;
    ml_split_options o = ML_SPLIT_OPTIONS_INIT; /* 5 folds, class 1 has 3 */
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, NULL, 10), ML_EINVAL);
    CHECK_ERR_CONTAINS("class 1 has 3 labelled samples, fewer than the 5 folds");
    CHECK_EQ_INT(fold[0], 77);
    CHECK_EQ_INT(nf, 99);
    o.n_folds = 1;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, NULL, 10), ML_EINVAL);
    CHECK_ERR_CONTAINS("n_folds is 1");
    o = (ml_split_options)ML_SPLIT_OPTIONS_INIT;
    o.version = 9;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, NULL, 10), ML_EINVAL);
    o = (ml_split_options)ML_SPLIT_OPTIONS_INIT;
    o.kind = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, NULL, 10), ML_EINVAL);
    CHECK_ERR_CONTAINS("needs a group");
    int bad[3] = {0, -2, 1};
    o = (ml_split_options)ML_SPLIT_OPTIONS_INIT;
    o.n_folds = 2;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, bad, NULL, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("y[1] is -2");
    int none[3] = {-1, -1, -1};
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, none, NULL, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("no labelled sample");
}

/* Random patients with 1..6 samples each; a patient's label mostly constant (as in cohorts). */
static size_t random_groups(ml__rng *r, int *y, long *g, size_t n_groups) {
    size_t n = 0;
    for (size_t p = 0; p < n_groups && n < N_MAX - 6; p++) {
        size_t m = 1 + (size_t)ml__rng_below(r, 6);
        int label = ml__rng_uniform(r) < 0.4;
        for (size_t j = 0; j < m; j++, n++) {
            y[n] = ml__rng_uniform(r) < 0.1 ? 1 - label : label;
            if (ml__rng_uniform(r) < 0.03) y[n] = -1;
            g[n] = (long)(p * 7 + 3); /* sparse group numbers */
        }
    }
    return n;
}

static void test_group_kfold__never_splits_a_group_over_random_structures(void) {
    ml__rng r;
    ml__rng_seed(&r, 99);
    size_t ok = 0, refused = 0;
    for (int trial = 0; trial < 300; trial++) {
        int y[N_MAX], fold[N_MAX];
        long g[N_MAX];
        size_t n = random_groups(&r, y, g, 4 + (size_t)ml__rng_below(&r, 60));
        ml_split_options o = ML_SPLIT_OPTIONS_INIT;
        o.kind = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
        o.n_folds = 2 + (size_t)ml__rng_below(&r, 6);
        o.seed = (uint64_t)trial;
        size_t nf = 0;
        ml_status st = ml_split_assign(fold, &nf, &o, y, g, n);
        if (st != ML_OK) {
            CHECK_EQ_INT(st, ML_EINVAL);
            CHECK(strstr(ml_error_last()->message, "fold") != NULL);
            refused++;
            continue;
        }
        ok++;
        for (size_t i = 0; i < n; i++) {
            CHECK(y[i] >= 0 ? fold[i] >= 0 && fold[i] < (int)nf : fold[i] == -1);
            for (size_t j = 0; j < i; j++)
                if (g[i] == g[j] && y[i] >= 0 && y[j] >= 0) CHECK(fold[i] == fold[j]);
        }
        size_t counts[8][2];
        per_fold_class_counts(fold, y, n, nf, counts);
        for (size_t f = 0; f < nf; f++) CHECK(counts[f][0] > 0 && counts[f][1] > 0);
    }
    fprintf(stderr, "  %zu structures split, %zu refused\n", ok, refused);
    CHECK(ok > 150);
}

static void test_group_kfold__refuses_too_few_groups_with_reason(void) {
    int y[6] = {0, 0, 1, 1, 0, 1}, fold[6];
    long g[6] = {1, 1, 2, 2, 3, 3};
    ml_split_options o = ML_SPLIT_OPTIONS_INIT;
    o.kind = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    size_t nf;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, g, 6), ML_EINVAL);
    CHECK_ERR_CONTAINS("3 groups with labelled samples, fewer than the 5 folds");
    /* Class 1 lives in 2 groups only. */
    int y2[8] = {0, 0, 1, 1, 0, 0, 0, 1};
    long g2[8] = {1, 2, 3, 3, 4, 5, 6, 7};
    o.n_folds = 3;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y2, g2, 8), ML_EINVAL);
    CHECK_ERR_CONTAINS("class 1 occurs in only 2 groups, fewer than the 3 folds");
}

static void test_group_kfold__ungrouped_samples_are_their_own_groups(void) {
    int y[8] = {0, 1, 0, 1, 0, 1, 0, 1}, fold[8];
    long g[8] = {-1, -1, -1, -1, 5, 5, -1, -1};
    ml_split_options o = ML_SPLIT_OPTIONS_INIT;
    o.kind = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    o.n_folds = 2;
    size_t nf;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, g, 8), ML_OK);
    CHECK_EQ_INT(fold[4], fold[5]);
}

static void test_leave_one_group_out__one_fold_per_group_in_group_order(void) {
    int y[7] = {0, 1, 1, 0, -1, 1, 0}, fold[7];
    long g[7] = {30, 10, 30, 20, 10, 20, 10};
    ml_split_options o = ML_SPLIT_OPTIONS_INIT;
    o.kind = ML_SPLIT_LEAVE_ONE_GROUP_OUT;
    size_t nf = 0;
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, g, 7), ML_OK);
    CHECK_EQ_INT(nf, 3);
    const int want[7] = {2, 0, 2, 1, -1, 1, 0};
    for (int i = 0; i < 7; i++) CHECK_EQ_INT(fold[i], want[i]);
    long one[3] = {4, 4, 4};
    CHECK_STATUS(ml_split_assign(fold, &nf, &o, y, one, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("needs at least 2");
}

static void test_split_indices__partition_labelled_samples(void) {
    const int fold[6] = {0, 1, -1, 1, 0, 2};
    size_t train[6], test[6], ntr, nte;
    ml_split_indices(fold, 6, 1, train, &ntr, test, &nte);
    CHECK_EQ_INT(ntr, 3);
    CHECK_EQ_INT(nte, 2);
    CHECK_EQ_INT(test[0], 1);
    CHECK_EQ_INT(test[1], 3);
    CHECK_EQ_INT(train[0], 0);
    CHECK_EQ_INT(train[1], 4);
    CHECK_EQ_INT(train[2], 5);
}

int main(void) {
    RUN(test_stratified_kfold__class_counts_per_fold_differ_by_at_most_one);
    RUN(test_stratified_kfold__same_seed_same_folds_and_repeats_differ);
    RUN(test_stratified_kfold__refuses_rare_class_and_bad_options);
    RUN(test_group_kfold__never_splits_a_group_over_random_structures);
    RUN(test_group_kfold__refuses_too_few_groups_with_reason);
    RUN(test_group_kfold__ungrouped_samples_are_their_own_groups);
    RUN(test_leave_one_group_out__one_fold_per_group_in_group_order);
    RUN(test_split_indices__partition_labelled_samples);
    TEST_MAIN_END();
}
