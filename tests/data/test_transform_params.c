/* test_transform_params.c - what transform.c's save/rebuild functions promise: the scaler
 * accessor, a transform rebuilt from saved parameters giving the fitted one's outputs on
 * tables and on dense values, and their refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/table.h"
#include "microlens/transform.h"
#include "ml_test.h"

/* f3 is present in s2 only, which is not a training row, so the filter drops it while s2's
 * total still counts it (relab and log divide by the total over all features). */
static const double x4[16] = {10, 0, 30, 0, 1, 2, 3, 0, 0, 7, 0, 5, 4, 4, 4, 0};

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

/* Fits on rows {0, 1, 3} of x4 with f3 dropped, rebuilds from the parameters, and compares
 * both on every sample: through the table and through dense values with the table's totals. */
static void check_round_trip(ml_transform_kind kind, bool scale) {
    ml_table *t = make_table(x4, 4, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    o.kind = kind;
    o.scale = scale;
    o.min_prevalence = 0.1; /* drops f3, so totals over all features matter for relab/log */
    size_t rows[3] = {0, 1, 3};
    ml_transform *tf = NULL, *re = NULL;
    CHECK_STATUS(ml_transform_fit(&tf, t, rows, 3, &o), ML_OK);
    if (!tf) goto done;
    size_t m = ml_transform_n_outputs(tf);
    CHECK_EQ_INT(m, 3);
    const double *mean = NULL, *sc = NULL;
    CHECK_STATUS(ml_transform_scaler(tf, &mean, &sc), scale ? ML_OK : ML_EINVAL);
    const char *ids[3];
    for (size_t k = 0; k < m; k++) ids[k] = ml_transform_output_feature_id(tf, k);
    CHECK_STATUS(ml_transform_from_params(&re, &o, ids, m, mean, sc), ML_OK);
    if (!re) goto done;
    double want[12], got[12], dense[12], totals[4];
    CHECK_STATUS(ml_transform_apply(tf, t, NULL, 4, want), ML_OK);
    for (size_t i = 0; i < 4; i++) {
        totals[i] = ml_table_row_sum(t, i);
        for (size_t k = 0; k < m; k++) dense[i * m + k] = x4[i * 4 + ml_transform_output_feature(tf, k)];
    }
    CHECK_STATUS(ml_transform_apply_dense(re, dense, totals, 4, got), ML_OK);
    double worst = 0;
    for (size_t i = 0; i < 12; i++) worst = fmax(worst, fabs(want[i] - got[i]));
    CHECK_NEAR(worst, 0.0, 1e-15);
    CHECK_STATUS(ml_transform_apply_dense(re, dense, totals, 4, dense), ML_OK); /* in place */
    for (size_t i = 0; i < 12; i++) CHECK_NEAR(dense[i], want[i], 1e-15);
done:
    ml_transform_free(re);
    ml_transform_free(tf);
    ml_table_free(t);
}

static void test_transform_params__rebuilt_transform_matches_fitted_one(void) {
    check_round_trip(ML_TRANSFORM_CLR, true);
    check_round_trip(ML_TRANSFORM_LOG, true);
    check_round_trip(ML_TRANSFORM_RELAB, false);
    check_round_trip(ML_TRANSFORM_NONE, true);
}

static void test_transform_params__rebuilt_transform_applies_to_its_own_feature_table(void) {
    ml_table *t = make_table(x4, 4, 4);
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    const char *ids[4] = {"f0", "f1", "f2", "f3"};
    ml_transform *re = NULL;
    CHECK_STATUS(ml_transform_from_params(&re, &o, ids, 4, NULL, NULL), ML_OK);
    double a[16], b[16];
    if (re) CHECK_STATUS(ml_transform_apply(re, t, NULL, 4, a), ML_OK);
    if (re) CHECK_STATUS(ml_transform_apply_dense(re, x4, NULL, 4, b), ML_OK);
    for (size_t i = 0; re && i < 16; i++) CHECK_NEAR(a[i], b[i], 1e-15);
    ml_transform_free(re);
    ml_table_free(t);
}

static void test_transform_params__refuses_bad_parameters(void) {
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    ml_transform *re = NULL;
    const char *ids[2] = {"a", "a"}, *ok_ids[2] = {"a", "b"}, *null_ids[2] = {"a", NULL};
    double mean[2] = {0, 0}, scale[2] = {1, 0};
    CHECK_STATUS(ml_transform_from_params(&re, &o, ids, 2, NULL, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("repeats");
    CHECK_STATUS(ml_transform_from_params(&re, &o, null_ids, 2, NULL, NULL), ML_EINVAL);
    CHECK_STATUS(ml_transform_from_params(&re, &o, ok_ids, 0, NULL, NULL), ML_EINVAL);
    o.scale = true;
    CHECK_STATUS(ml_transform_from_params(&re, &o, ok_ids, 2, NULL, NULL), ML_EINVAL);
    CHECK_STATUS(ml_transform_from_params(&re, &o, ok_ids, 2, mean, scale), ML_EINVAL);
    CHECK_ERR_CONTAINS("scale > 0");
    o.scale = false;
    o.clr_pseudocount = 0;
    CHECK_STATUS(ml_transform_from_params(&re, &o, ok_ids, 2, NULL, NULL), ML_EINVAL);
    CHECK(re == NULL);
    o.clr_pseudocount = 1;
    CHECK_STATUS(ml_transform_from_params(&re, &o, ok_ids, 2, NULL, NULL), ML_OK);
    double x[2] = {1, -1}, out[2] = {7, 7}, bad_total = -1, good[2] = {1, 1};
    if (re) CHECK_STATUS(ml_transform_apply_dense(re, x, NULL, 1, out), ML_EINVAL);
    if (re) CHECK_STATUS(ml_transform_apply_dense(re, good, &bad_total, 1, out), ML_EINVAL);
    CHECK_NEAR(out[0], 7, 0); /* untouched on failure */
    ml_transform_free(re);
}

int main(void) {
    RUN(test_transform_params__rebuilt_transform_matches_fitted_one);
    RUN(test_transform_params__rebuilt_transform_applies_to_its_own_feature_table);
    RUN(test_transform_params__refuses_bad_parameters);
    TEST_MAIN_END();
}
