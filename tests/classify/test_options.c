/* test_options.c - what options.c promises: fields set by name from text, range checks with
 * the field named, and grids that expand, describe themselves and refuse bad specs early. */
#include <string.h>

#include "microlens/classify.h"
#include "ml_test.h"

static void test_options__set_by_name(void) {
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    CHECK_STATUS(ml_classifier_options_set(&o, "kind", "rf"), ML_OK);
    CHECK_EQ_INT(o.kind, ML_CLASSIFIER_RF);
    CHECK_STATUS(ml_classifier_options_set(&o, "C", " 0.25 "), ML_OK);
    CHECK_NEAR(o.C, 0.25, 0);
    CHECK_STATUS(ml_classifier_options_set(&o, "penalty", "ElasticNet"), ML_OK);
    CHECK_EQ_INT(o.penalty, ML_PENALTY_ELASTICNET);
    CHECK_STATUS(ml_classifier_options_set(&o, "class_weight", "balanced"), ML_OK);
    CHECK_EQ_INT(o.is_balanced, 1);
    CHECK_STATUS(ml_classifier_options_set(&o, "hidden", "256x64x8"), ML_OK);
    CHECK_EQ_INT(o.n_hidden, 3);
    CHECK_EQ_INT(o.hidden[1], 64);
    CHECK_STATUS(ml_classifier_options_set(&o, "seed", "18446744073709551615"), ML_OK);
    CHECK(o.seed == UINT64_MAX);
    CHECK_STATUS(ml_classifier_options_set(&o, "n_trees", "500"), ML_OK);
    CHECK_EQ_INT(o.n_trees, 500);
}

static void test_options__refuses_bad_names_and_values_untouched(void) {
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT, before = o;
    CHECK_STATUS(ml_classifier_options_set(&o, "gamma", "1"), ML_EINVAL);
    CHECK_ERR_CONTAINS("unknown classifier option \"gamma\"");
    CHECK_STATUS(ml_classifier_options_set(&o, "C", "-1"), ML_EINVAL);
    CHECK_ERR_CONTAINS("option C=\"-1\" (expected a number > 0)");
    CHECK_STATUS(ml_classifier_options_set(&o, "C", "abc"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "n_trees", "2.5"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "l1_ratio", "1.5"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "hidden", "8x0"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "hidden", "1x2x3x4x5x6x7x8x9"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "kind", "knn"), ML_EINVAL);
    CHECK_ERR_CONTAINS("logreg, svm, rf or mlp");
    CHECK_STATUS(ml_classifier_options_set(&o, "seed", "-3"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "validation_fraction", "0.9"), ML_EINVAL);
    CHECK_STATUS(ml_classifier_options_set(&o, "C", "1\x1b[31m"), ML_EINVAL);
    CHECK(strchr(ml_error_last()->message, '\x1b') == NULL);
    CHECK(memcmp(&o, &before, sizeof o) == 0);
    o.version = 0;
    CHECK_STATUS(ml_classifier_options_check(&o), ML_EINVAL);
    CHECK_ERR_CONTAINS("version");
}

static void test_grid__expands_last_name_fastest(void) {
    ml_classifier_options base = ML_CLASSIFIER_OPTIONS_INIT, o;
    ml_grid *g = NULL;
    CHECK_STATUS(ml_grid_parse(&g, " penalty = l1, l2 ; C=0.01,0.1,1", &base), ML_OK);
    if (!g) return;
    CHECK_EQ_INT(ml_grid_size(g), 6);
    CHECK_STATUS(ml_grid_point(g, 4, &base, &o), ML_OK);
    CHECK_EQ_INT(o.penalty, ML_PENALTY_L2);
    CHECK_NEAR(o.C, 0.1, 0);
    char buf[64];
    size_t need = ml_grid_describe(g, 4, buf, sizeof buf);
    CHECK_STR(buf, "penalty=l2;C=0.1");
    CHECK_EQ_INT(need, strlen("penalty=l2;C=0.1"));
    CHECK_EQ_INT(ml_grid_describe(g, 4, buf, 5), need);
    CHECK_STR(buf, "pena");
    o.C = 77;
    CHECK_STATUS(ml_grid_point(g, 6, &base, &o), ML_EINVAL);
    CHECK_NEAR(o.C, 77, 0);
    ml_grid_free(g);
    ml_grid_free(NULL);
    CHECK_STATUS(ml_grid_parse(&g, "", &base), ML_OK);
    if (g) CHECK_EQ_INT(ml_grid_size(g), 1);
    ml_grid_free(g);
}

static void test_grid__refuses_bad_specs(void) {
    ml_classifier_options base = ML_CLASSIFIER_OPTIONS_INIT;
    ml_grid *g = NULL;
    CHECK_STATUS(ml_grid_parse(&g, "C=0.1,zero", &base), ML_EINVAL);
    CHECK_ERR_CONTAINS("grid: option C=\"zero\"");
    CHECK_STATUS(ml_grid_parse(&g, "C 0.1", &base), ML_EINVAL);
    CHECK_ERR_CONTAINS("has no '='");
    CHECK_STATUS(ml_grid_parse(&g, "depth=3", &base), ML_EINVAL);
    CHECK_ERR_CONTAINS("grid: unknown option \"depth\"");
    CHECK_STATUS(ml_grid_parse(&g, "C=1;C=2", &base), ML_EINVAL);
    CHECK_ERR_CONTAINS("given twice");
    CHECK_STATUS(ml_grid_parse(&g, "C=1,,2", &base), ML_EINVAL);
    CHECK(g == NULL);
}

int main(void) {
    RUN(test_options__set_by_name);
    RUN(test_options__refuses_bad_names_and_values_untouched);
    RUN(test_grid__expands_last_name_fastest);
    RUN(test_grid__refuses_bad_specs);
    TEST_MAIN_END();
}
