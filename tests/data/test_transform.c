/* test_transform.c - what transform.c promises: each filter and transform by hand-computed
 * values, fit statistics from training samples only, refusals, and CLR/log + scaling against
 * numpy (golden from tests/oracle/transform_numpy.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "microlens/transform.h"
#include "ml_test.h"
#include "util/fileio.h"

/* A table from a dense (n_samples, n_features) array; features "f0", "f1"... */
static ml_table *make_table(const double *x, size_t ns, size_t nf) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    char id[32];
    size_t idx, dup;
    for (size_t i = 0; i < ns; i++) {
        int n = snprintf(id, sizeof id, "s%zu", i);
        if (ml__tb_add_sample(tb, id, (size_t)n, &idx, &dup) != ML_OK) goto fail;
    }
    for (size_t j = 0; j < nf; j++) {
        int n = snprintf(id, sizeof id, "f%zu", j);
        if (ml__tb_add_feature(tb, id, (size_t)n, NULL, &idx, &dup) != ML_OK) goto fail;
    }
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < nf; j++)
            if (ml__tb_add_value(tb, i, j, x[i * nf + j]) != ML_OK) goto fail;
    if (ml__tb_finish(tb, "test", "test", NULL, &t) != ML_OK) return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

/* s0 total 100, s1 total 20, s2 empty. Relative abundances: s0 .1 0 .3 .6; s1 0 0 .25 .75.
 * Prevalence f0 1/3, f1 0, f2 2/3, f3 2/3; mean relab f0 .0333, f1 0, f2 .1833, f3 .45. */
static const double small_x[12] = {10, 0, 30, 60, 0, 0, 5, 15, 0, 0, 0, 0};

static ml_transform *fit(const ml_table *t, const size_t *rows, size_t n, ml_transform_options o) {
    ml_transform *tf = NULL;
    CHECK_STATUS(ml_transform_fit(&tf, t, rows, n, &o), ML_OK);
    return tf;
}

static void check_outputs(const ml_transform *tf, const size_t *want, size_t n) {
    CHECK_EQ_INT(ml_transform_n_outputs(tf), n);
    for (size_t k = 0; k < n && k < ml_transform_n_outputs(tf); k++)
        CHECK_EQ_INT(ml_transform_output_feature(tf, k), want[k]);
}

static void test_transform__prevalence_filter_keeps_fraction_at_or_above(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.min_prevalence = 0.5;
    ml_transform *tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){2, 3}, 2);
    ml_transform_free(tf);
    o.min_prevalence = 1.0 / 3.0; /* f0 is present in exactly one third */
    tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){0, 2, 3}, 3);
    if (tf) CHECK_STR(ml_transform_output_feature_id(tf, 0), "f0");
    ml_transform_free(tf);
    o.min_prevalence = 0; /* keeps even the never-seen f1 */
    tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){0, 1, 2, 3}, 4);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__abundance_filter_uses_mean_relative_abundance(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.min_abundance = 0.05; /* f0 mean .0333 goes, f2 .1833 stays */
    ml_transform *tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){2, 3}, 2);
    ml_transform_free(tf);
    o.min_abundance = 0.2; /* only f3 (.45) */
    tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){3}, 1);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__top_k_by_mean_abundance_ties_by_index(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.top_k = 2;
    ml_transform *tf = fit(t, NULL, 3, o);
    if (tf) check_outputs(tf, (const size_t[]){2, 3}, 2);
    ml_transform_free(tf);
    ml_table_free(t);
    /* f0, f2, f3 tie at mean relab (5/24 + 1/3) / 2; f1 has 0.1875. Of the tie, the lower
     * indices win. */
    static const double x[8] = {5, 9, 5, 5, 5, 0, 5, 5};
    t = make_table(x, 2, 4);
    o.top_k = 2;
    tf = fit(t, NULL, 2, o);
    if (tf) check_outputs(tf, (const size_t[]){0, 2}, 2);
    ml_transform_free(tf);
    o.top_k = 3;
    tf = fit(t, NULL, 2, o);
    if (tf) check_outputs(tf, (const size_t[]){0, 2, 3}, 3);
    ml_transform_free(tf);
    o.top_k = 10; /* more than there are: all kept */
    tf = fit(t, NULL, 2, o);
    if (tf) check_outputs(tf, (const size_t[]){0, 1, 2, 3}, 4);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void apply_all(const ml_transform *tf, const ml_table *t, double *dst) {
    CHECK_STATUS(ml_transform_apply(tf, t, NULL, ml_table_n_samples(t), dst), ML_OK);
}

static void test_transform__none_gives_raw_values(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_NONE;
    o.min_prevalence = 0.5;
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[6] = {-1, -1, -1, -1, -1, -1};
    if (tf) apply_all(tf, t, d);
    const double want[6] = {30, 60, 5, 15, 0, 0};
    for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], want[i], 0);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__relab_divides_by_full_sample_total(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_RELAB;
    o.min_prevalence = 0.5; /* drops f0 and f1, but not from the denominators */
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[6];
    if (tf) apply_all(tf, t, d);
    const double want[6] = {0.3, 0.6, 0.25, 0.75, 0, 0}; /* empty sample: zeros */
    for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], want[i], 1e-15);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__log_is_ln_of_relab_plus_pseudocount(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_LOG;
    o.min_prevalence = 0.5;
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[6];
    if (tf) apply_all(tf, t, d);
    /* ln(0.3 + 1e-6), ln(0.6 + 1e-6), ln(0.25 + 1e-6), ln(0.75 + 1e-6), ln(1e-6) twice */
    const double want[6] = {-1.2039694709981583, -0.5108239571007129, -1.3862903611278907,
                            -0.28768073911933645, -13.815510557964274, -13.815510557964274};
    for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], want[i], 1e-12);
    ml_transform_free(tf);
    o.log_pseudocount = 0.01;
    tf = fit(t, NULL, 3, o);
    if (tf) apply_all(tf, t, d);
    CHECK_NEAR(d[4], -4.605170185988091, 1e-12); /* ln(0.01) */
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__clr_centres_log_counts_over_kept_features(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT; /* CLR, pseudocount 0.5 */
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[12];
    if (tf) apply_all(tf, t, d);
    /* s0: ln 10.5, ln 0.5, ln 30.5, ln 60.5 = 2.3514, -0.6931, 3.4177, 4.1026; mean 2.2947 */
    const double want0[4] = {0.056725725850053976, -2.987796711873369, 1.1230771522999423,
                             1.8079938337233723};
    for (int j = 0; j < 4; j++) CHECK_NEAR(d[j], want0[j], 1e-12);
    double sum1 = 0;
    for (int j = 4; j < 8; j++) sum1 += d[j];
    CHECK_NEAR(sum1, 0.0, 1e-12);
    for (int j = 8; j < 12; j++) CHECK_NEAR(d[j], 0.0, 1e-15); /* empty sample */
    ml_transform_free(tf);
    /* Over f2, f3 only: ln(5.5) - mean(ln 5.5, ln 15.5) = -0.5180 for s1. */
    o.min_prevalence = 0.5;
    tf = fit(t, NULL, 3, o);
    if (tf) apply_all(tf, t, d);
    CHECK_NEAR(d[2], -0.5180459658433878, 1e-12);
    CHECK_NEAR(d[3], 0.5180459658433878, 1e-12);
    ml_transform_free(tf);
    ml_table_free(t);
}

/* Train s0, s1; test s2, s3. f2 appears only in the test samples; the test samples' f0 is huge.
 * Fitting on all samples would keep f2 and shift the scaler, so these checks fail on a leak. */
static void test_transform__fit_uses_training_rows_only(void) {
    static const double x[12] = {10, 30, 0, 30, 10, 0, 1000, 1, 5, 2000, 1, 5};
    ml_table *t = make_table(x, 4, 3);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_RELAB;
    o.min_prevalence = 0.5;
    o.scale = true;
    const size_t train[2] = {0, 1}, test[2] = {2, 3};
    ml_transform *tf = fit(t, train, 2, o);
    if (!tf) {
        ml_table_free(t);
        return;
    }
    check_outputs(tf, (const size_t[]){0, 1}, 2);
    /* Train relab f0: .25, .75 -> mean .5, sd .25; f1: .75, .25 -> mean .5, sd .25. */
    double d[4];
    CHECK_STATUS(ml_transform_apply(tf, t, train, 2, d), ML_OK);
    const double want_train[4] = {-1, 1, 1, -1};
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], want_train[i], 1e-12);
    CHECK_STATUS(ml_transform_apply(tf, t, test, 2, d), ML_OK);
    /* s2 relab f0 = 1000/1006, f1 = 1/1006; s3: 2000/2006, 1/2006. */
    const double want_test[4] = {(1000.0 / 1006 - 0.5) / 0.25, (1.0 / 1006 - 0.5) / 0.25,
                                 (2000.0 / 2006 - 0.5) / 0.25, (1.0 / 2006 - 0.5) / 0.25};
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], want_test[i], 1e-12);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__constant_feature_gets_scale_one(void) {
    static const double x[6] = {3, 1, 3, 2, 3, 5}; /* f0 constant 3 */
    ml_table *t = make_table(x, 3, 2);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_NONE;
    o.scale = true;
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[6];
    if (tf) apply_all(tf, t, d);
    CHECK_NEAR(d[0], 0, 0);
    CHECK_NEAR(d[2], 0, 0);
    /* f1: 1, 2, 5: mean 8/3, population sd sqrt(78/27) */
    CHECK_NEAR(d[5], (5 - 8.0 / 3) / 1.699673171197595, 1e-12);
    ml_transform_free(tf);
    ml_table_free(t);
}

/* Same generator as tests/oracle/transform_numpy.py. */
static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static ml_table *golden_table(void) {
    double x[12 * 9];
    for (uint64_t i = 0; i < 12; i++)
        for (uint64_t j = 0; j < 9; j++) {
            uint64_t h = mix(i * 1000 + j + 1);
            x[i * 9 + j] = h % 10 < 4 ? 0.0 : (double)((h >> 16) % 300 + 1);
        }
    return make_table(x, 12, 9);
}

/* Compares one block ("clr" or "log") of the golden file with tf applied to all samples. */
static void check_golden_block(const char *golden, const char *name, const ml_transform *tf,
                               const ml_table *t) {
    char key[32];
    snprintf(key, sizeof key, "\n%s kept", name);
    const char *p = strstr(golden, key);
    CHECK(p != NULL);
    if (!p) return;
    p += strlen(key);
    size_t m = ml_transform_n_outputs(tf);
    for (size_t k = 0; k < m; k++)
        CHECK_EQ_INT(strtol(p, (char **)&p, 10), ml_transform_output_feature(tf, k));
    CHECK(*p == '\n');
    double d[12 * 9], max_diff = 0;
    apply_all(tf, t, d);
    for (size_t i = 0; i < 12; i++) {
        snprintf(key, sizeof key, "\n%s %zu ", name, i);
        const char *q = strstr(golden, key);
        CHECK(q != NULL);
        if (!q) return;
        q += strlen(key);
        for (size_t k = 0; k < m; k++) {
            double want = strtod(q, (char **)&q);
            double diff = fabs(want - d[i * m + k]);
            if (diff > max_diff) max_diff = diff;
        }
    }
    if (max_diff > 1e-12) fprintf(stderr, "%s: max |diff| %.3g > 1e-12\n", name, max_diff);
    CHECK(max_diff <= 1e-12);
}

static void test_transform__clr_log_and_scaling_match_numpy(void) {
    char *golden = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read("tests/data/fixtures/transform/numpy.golden", 1 << 16, &golden,
                               &len),
                 ML_OK);
    ml_table *t = golden_table();
    if (!golden || !t) {
        free(golden);
        ml_table_free(t);
        return;
    }
    const size_t train[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.min_prevalence = 0.5;
    o.scale = true;
    ml_transform *tf = fit(t, train, 8, o);
    if (tf) check_golden_block(golden, "clr", tf, t);
    ml_transform_free(tf);
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_LOG;
    o.top_k = 5;
    o.scale = true;
    tf = fit(t, train, 8, o);
    if (tf) check_golden_block(golden, "log", tf, t);
    ml_transform_free(tf);
    ml_table_free(t);
    free(golden);
}

static void check_bad_option(ml_transform_options o, const char *sub) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform *tf = (ml_transform *)0x1;
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 3, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS(sub);
    CHECK(tf == (ml_transform *)0x1);
    ml_table_free(t);
}

static void test_transform__rejects_bad_options(void) {
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.version = 99;
    check_bad_option(o, "version 99");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.kind = (ml_transform_kind)7;
    check_bad_option(o, "kind 7");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.min_prevalence = 1.5;
    check_bad_option(o, "min_prevalence 1.5");
    o.min_prevalence = NAN;
    check_bad_option(o, "min_prevalence nan");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.min_abundance = -0.1;
    check_bad_option(o, "min_abundance -0.1");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.log_pseudocount = 0;
    check_bad_option(o, "log_pseudocount 0");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.clr_pseudocount = INFINITY;
    check_bad_option(o, "clr_pseudocount inf");
    o = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    o.min_prevalence = 0.9; /* nothing is in 90% of the samples */
    check_bad_option(o, "no feature passes the filters");
}

static void test_transform__rejects_bad_rows(void) {
    ml_table *t = make_table(small_x, 3, 4);
    ml_transform *tf = NULL;
    const size_t bad[2] = {0, 3};
    CHECK_STATUS(ml_transform_fit(&tf, t, bad, 2, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("rows[1] = 3 is out of range (table has 3 samples)");
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 2, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("n_rows is 2");
    CHECK_STATUS(ml_transform_fit(&tf, t, bad, 0, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("no training samples");
    CHECK(tf == NULL);
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 3, NULL), ML_OK);
    double d[8] = {42, 42, 42, 42, 42, 42, 42, 42};
    if (tf) {
        CHECK_STATUS(ml_transform_apply(tf, t, bad, 2, d), ML_EINVAL);
        CHECK_ERR_CONTAINS("rows[1] = 3");
        CHECK_STATUS(ml_transform_apply(tf, t, NULL, 2, d), ML_EINVAL);
        CHECK(d[0] == 42 && d[7] == 42); /* untouched */
    }
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__apply_rejects_other_feature_sets(void) {
    ml_table *t = make_table(small_x, 3, 4), *narrow = make_table(small_x, 4, 3);
    ml_transform *tf = NULL;
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 3, NULL), ML_OK);
    double d[16];
    if (tf) {
        CHECK_STATUS(ml_transform_apply(tf, narrow, NULL, 4, d), ML_EINVAL);
        CHECK_ERR_CONTAINS("table has 3 features but the transform was fitted on 4");
    }
    ml_transform_free(tf);
    /* Same count, different IDs: fitted on "f0".."f3", applied to "g0".. */
    ml__table_builder *tb = NULL;
    ml_table *other = NULL;
    size_t idx, dup;
    CHECK_STATUS(ml__tb_new(&tb), ML_OK);
    CHECK_STATUS(ml__tb_add_sample(tb, "a", 1, &idx, &dup), ML_OK);
    CHECK_STATUS(ml__tb_add_feature(tb, "f0", 2, NULL, &idx, &dup), ML_OK);
    CHECK_STATUS(ml__tb_add_feature(tb, "f1", 2, NULL, &idx, &dup), ML_OK);
    CHECK_STATUS(ml__tb_add_feature(tb, "g2", 2, NULL, &idx, &dup), ML_OK);
    CHECK_STATUS(ml__tb_add_feature(tb, "f3", 2, NULL, &idx, &dup), ML_OK);
    CHECK_STATUS(ml__tb_add_value(tb, 0, 0, 1), ML_OK);
    CHECK_STATUS(ml__tb_finish(tb, "test", "test", NULL, &other), ML_OK);
    tf = NULL;
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 3, NULL), ML_OK);
    if (tf && other) {
        CHECK_STATUS(ml_transform_apply(tf, other, NULL, 1, d), ML_EINVAL);
        CHECK_ERR_CONTAINS("feature 2 is \"g2\" but was \"f2\" when fitted");
    }
    ml_transform_free(tf);
    ml_table_free(other);
    ml_table_free(narrow);
    ml_table_free(t);
}

static void test_transform__kind_parse_and_names(void) {
    ml_transform_kind k = ML_TRANSFORM_NONE;
    CHECK_STATUS(ml_transform_kind_parse(&k, "CLR"), ML_OK);
    CHECK_EQ_INT(k, ML_TRANSFORM_CLR);
    CHECK_STATUS(ml_transform_kind_parse(&k, "relab"), ML_OK);
    CHECK_EQ_INT(k, ML_TRANSFORM_RELAB);
    CHECK_STATUS(ml_transform_kind_parse(&k, "log"), ML_OK);
    CHECK_STATUS(ml_transform_kind_parse(&k, "none"), ML_OK);
    CHECK_EQ_INT(k, ML_TRANSFORM_NONE);
    CHECK_STATUS(ml_transform_kind_parse(&k, "ilr"), ML_EINVAL);
    CHECK_ERR_CONTAINS("unknown transform \"ilr\" (expected none, relab, log or clr)");
    CHECK_EQ_INT(k, ML_TRANSFORM_NONE);
    CHECK_STR(ml_transform_kind_name(ML_TRANSFORM_LOG), "log");
    CHECK_STR(ml_transform_kind_name((ml_transform_kind)9), "unknown");
    ml_transform_free(NULL);
}

/* An embedding-like table: real values of either sign. */
static const double signed_x[6] = {-1.5, 2, 0.5, 1, -0.25, 3};

static void check_refuses_negative(ml_transform_options o, const char *name) {
    ml_table *t = make_table(signed_x, 3, 2);
    ml_transform *tf = NULL;
    CHECK(t != NULL);
    CHECK_STATUS(ml_transform_fit(&tf, t, NULL, 3, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS(name);
    CHECK_ERR_CONTAINS("negative values");
    CHECK_ERR_CONTAINS("--transform none");
    CHECK(tf == NULL);
    ml_table_free(t);
}

static void test_transform__abundance_steps_refuse_negative_values(void) {
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    check_refuses_negative(o, "the clr transform needs non-negative abundances");
    o.kind = ML_TRANSFORM_RELAB;
    check_refuses_negative(o, "the relab transform");
    o.kind = ML_TRANSFORM_LOG;
    check_refuses_negative(o, "the log transform");
    o.kind = ML_TRANSFORM_NONE;
    o.min_abundance = 0.01;
    check_refuses_negative(o, "the min_abundance filter");
    o.min_abundance = 0;
    o.top_k = 1;
    check_refuses_negative(o, "the top_k filter");
}

static void test_transform__none_passes_negative_values_through(void) {
    ml_table *t = make_table(signed_x, 3, 2);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = ML_TRANSFORM_NONE;
    o.min_prevalence = 1.0; /* prevalence counts non-zero values, sign aside */
    ml_transform *tf = fit(t, NULL, 3, o);
    double d[6] = {0};
    if (tf) apply_all(tf, t, d);
    for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], signed_x[i], 0);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform__apply_refuses_negative_values_for_clr(void) {
    ml_table *counts = make_table(small_x, 3, 4);
    const double neg[4] = {1, -2, 3, 4};
    ml_table *t = make_table(neg, 1, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    ml_transform *tf = fit(counts, NULL, 3, o);
    double d[4];
    CHECK(t != NULL);
    if (tf && t) {
        CHECK_STATUS(ml_transform_apply(tf, t, NULL, 1, d), ML_EINVAL);
        CHECK_ERR_CONTAINS("the clr transform needs non-negative abundances");
    }
    ml_transform_free(tf);
    ml_table_free(t);
    ml_table_free(counts);
}

int main(void) {
    RUN(test_transform__prevalence_filter_keeps_fraction_at_or_above);
    RUN(test_transform__abundance_filter_uses_mean_relative_abundance);
    RUN(test_transform__top_k_by_mean_abundance_ties_by_index);
    RUN(test_transform__none_gives_raw_values);
    RUN(test_transform__relab_divides_by_full_sample_total);
    RUN(test_transform__log_is_ln_of_relab_plus_pseudocount);
    RUN(test_transform__clr_centres_log_counts_over_kept_features);
    RUN(test_transform__fit_uses_training_rows_only);
    RUN(test_transform__constant_feature_gets_scale_one);
    RUN(test_transform__clr_log_and_scaling_match_numpy);
    RUN(test_transform__rejects_bad_options);
    RUN(test_transform__rejects_bad_rows);
    RUN(test_transform__apply_rejects_other_feature_sets);
    RUN(test_transform__kind_parse_and_names);
    RUN(test_transform__abundance_steps_refuse_negative_values);
    RUN(test_transform__none_passes_negative_values_through);
    RUN(test_transform__apply_refuses_negative_values_for_clr);
    TEST_MAIN_END();
}
