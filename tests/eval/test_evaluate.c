/* test_evaluate.c - what evaluate.c and bundle.c promise: out-of-fold scores equal a pipeline
 * fitted on the training rows only (and differ from one fitted on all rows), grouped folds
 * keep groups whole, the nested search never sees the outer test fold, pooled metrics, the
 * data fingerprint, refusals, and model bundles that load back and score new tables by ID. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/table.h"
#include "eval/evaluate.h"
#include "microlens/evaluate.h"
#include "microlens/memory.h"
#include "ml_test.h"
#include "util/fileio.h"

#define NS 60
#define NF 12
#define GROUP_SIZE 3

/* Counts with a planted signal: positives (group index odd) have more of f0 and f1. Feature
 * f5 is large in samples 40.. only, so a scaler fitted on all rows differs from one fitted
 * on training rows. order permutes the features written (NULL: identity); extra adds a
 * feature "zz_extra" that no model knows. */
static ml_table *make_table(const size_t *order, int extra, int bump_value) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    char id[32];
    size_t idx, dup;
    for (size_t i = 0; i < NS; i++) {
        int n = snprintf(id, sizeof id, "sample%02zu", i);
        if (ml__tb_add_sample(tb, id, (size_t)n, &idx, &dup) != ML_OK) goto fail;
    }
    size_t fidx[NF + 1];
    for (size_t k = 0; k < NF; k++) {
        size_t j = order ? order[k] : k;
        int n = snprintf(id, sizeof id, "f%zu", j);
        if (ml__tb_add_feature(tb, id, (size_t)n, NULL, &fidx[j], &dup) != ML_OK) goto fail;
    }
    if (extra && ml__tb_add_feature(tb, "zz_extra", 8, NULL, &fidx[NF], &dup) != ML_OK) goto fail;
    uint64_t s = 12345;
    for (size_t i = 0; i < NS; i++) {
        int pos = (int)((i / GROUP_SIZE) % 2);
        for (size_t j = 0; j < NF; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double v = (double)((s >> 33) % 20);
            if (j < 2 && pos) v += 6;
            if (j == 5 && i >= 40) v += 200;
            if (bump_value && i == 7 && j == 3) v += 1;
            if (ml__tb_add_value(tb, i, fidx[j], v) != ML_OK) goto fail;
        }
        if (extra && ml__tb_add_value(tb, i, fidx[NF], 50.0 + (double)i) != ML_OK) goto fail;
    }
    if (ml__tb_finish(tb, "test", "test", NULL, &t) != ML_OK) return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

/* Labels "neg"/"pos" by group parity; n_classes 3 makes every fifth group "other". */
static ml_join *make_join(const ml_table *t, int n_classes, int with_groups) {
    char *buf = malloc(NS * 64 + 64);
    size_t len = (size_t)sprintf(buf, with_groups ? "sid,label,group\n" : "sid,label\n");
    for (size_t i = 0; i < NS; i++) {
        size_t g = i / GROUP_SIZE;
        const char *lab = n_classes == 3 && g % 5 == 4 ? "other" : g % 2 ? "pos" : "neg";
        if (with_groups) len += (size_t)sprintf(buf + len, "sample%02zu,%s,g%zu\n", i, lab, g);
        else len += (size_t)sprintf(buf + len, "sample%02zu,%s\n", i, lab);
    }
    ml_labels *l = NULL;
    ml_join *j = NULL;
    ml_labels_options lo = ML_LABELS_OPTIONS_INIT;
    CHECK_STATUS(ml_labels_parse(&l, buf, len, "labels.csv", &lo), ML_OK);
    if (l) CHECK_STATUS(ml_join_new(&j, t, l, n_classes == 2 ? "pos" : NULL), ML_OK);
    ml_labels_free(l);
    free(buf);
    return j;
}

static ml_evaluate_options base_options(void) {
    ml_evaluate_options o = ML_EVALUATE_OPTIONS_INIT;
    o.n_folds = 3;
    o.n_boot = 200;
    return o;
}

/* Scores of the test rows of fold f when the transform is fitted on fit_rows. */
static void manual_scores(const ml_table *t, const ml_evaluation *e, const int *y, int f,
                          int fit_on_all, double *score) {
    size_t train[NS], test[NS], all[NS], n_train, n_test;
    int fold[NS];
    for (size_t i = 0; i < NS; i++) {
        fold[i] = ml_evaluation_fold_of(e, 0, i);
        all[i] = i;
    }
    ml_split_indices(fold, NS, f, train, &n_train, test, &n_test);
    ml_evaluate_options o = base_options();
    ml_transform *tf = NULL;
    ml_classifier *c = NULL;
    double *X = malloc(NS * NF * sizeof *X);
    int yt[NS];
    CHECK_STATUS(ml_transform_fit(&tf, t, fit_on_all ? all : train, fit_on_all ? NS : n_train,
                                  &o.transform), ML_OK);
    CHECK_STATUS(ml_transform_apply(tf, t, train, n_train, X), ML_OK);
    for (size_t i = 0; i < n_train; i++) yt[i] = y[train[i]];
    CHECK_STATUS(ml_classifier_fit(&c, &o.model, X, n_train, NF, yt, NULL), ML_OK);
    CHECK_STATUS(ml_transform_apply(tf, t, test, n_test, X), ML_OK);
    double s[NS];
    CHECK_STATUS(ml_classifier_predict_score(c, X, n_test, s), ML_OK);
    for (size_t i = 0; i < n_test; i++) score[test[i]] = s[i];
    ml_classifier_free(c);
    ml_transform_free(tf);
    free(X);
}

static void test_evaluate__scores_come_from_transforms_fitted_on_training_rows_only(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j = make_join(t, 2, 0);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    if (!e) goto done;
    int y[NS];
    for (size_t i = 0; i < NS; i++) y[i] = ml_join_class_of(j, i);
    double honest[NS], leaky[NS];
    for (int f = 0; f < 3; f++) {
        manual_scores(t, e, y, f, 0, honest);
        manual_scores(t, e, y, f, 1, leaky);
    }
    double max_honest = 0, max_leaky = 0;
    for (size_t i = 0; i < NS; i++) {
        double s = ml_evaluation_score(e, 0, i);
        max_honest = fmax(max_honest, fabs(s - honest[i]));
        max_leaky = fmax(max_leaky, fabs(s - leaky[i]));
    }
    CHECK_NEAR(max_honest, 0.0, 1e-12);
    CHECK(max_leaky > 1e-6); /* so this test would catch a scaler fitted on all rows */
done:
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

static void test_evaluate__pooled_auc_is_auc_of_out_of_fold_scores(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j = make_join(t, 2, 0);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    if (!e) goto done;
    double s[NS], auc = 0;
    int y[NS];
    for (size_t i = 0; i < NS; i++) {
        s[i] = ml_evaluation_score(e, 0, i);
        y[i] = ml_join_class_of(j, i);
    }
    CHECK_STATUS(ml_roc_auc(&auc, s, y, NS), ML_OK);
    CHECK_NEAR(ml_evaluation_pooled_roc_auc(e), auc, 1e-15);
    CHECK(auc > 0.8); /* the planted signal is found */
    char *json = NULL;
    CHECK_STATUS(ml_evaluation_json(e, &json), ML_OK);
    if (json) CHECK(strstr(json, "\"balanced_accuracy\"") && strstr(json, "\"ci95\""));
    if (json) CHECK(!strstr(json, "sample0")); /* no sample ID in the report */
    ml_free(json);
done:
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

static void test_evaluate__group_kfold_never_splits_a_group(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j = make_join(t, 2, 1);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    o.split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    o.n_repeats = 2;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    if (!e) goto done;
    CHECK_EQ_INT(ml_evaluation_n_folds(e), 3);
    int differs = 0;
    for (size_t r = 0; r < 2; r++)
        for (size_t i = 0; i < NS; i++) {
            CHECK_EQ_INT(ml_evaluation_fold_of(e, r, i),
                         ml_evaluation_fold_of(e, r, i - i % GROUP_SIZE));
            differs |= ml_evaluation_fold_of(e, 0, i) != ml_evaluation_fold_of(e, 1, i);
        }
    CHECK(differs); /* each repeat reshuffles */
done:
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

static void test_evaluate__leave_one_group_out_makes_a_fold_per_group(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j = make_join(t, 2, 1);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    o.split = ML_SPLIT_LEAVE_ONE_GROUP_OUT;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    if (e) CHECK_EQ_INT(ml_evaluation_n_folds(e), NS / GROUP_SIZE);
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

/* Records every fit the nested search makes, to check it against the outer folds after. */
typedef struct fit_log {
    size_t n_events, n_inner, n_outer, bad_overlap, bad_cover;
    unsigned char test_of[3][NS]; /* filled from the evaluation afterwards */
    struct {
        size_t fold, n_train, n_scored;
        size_t rows[NS];
        int is_inner;
    } ev[256];
} fit_log;

static void record(void *ctx, const ml_evaluate_fit_info *info) {
    fit_log *L = ctx;
    if (L->n_events == 256) return;
    L->ev[L->n_events].fold = info->fold;
    L->ev[L->n_events].is_inner = info->stage == ML_EVALUATE_INNER;
    L->ev[L->n_events].n_train = info->n_train;
    L->ev[L->n_events].n_scored = info->n_scored;
    memcpy(L->ev[L->n_events].rows, info->train, info->n_train * sizeof(size_t));
    memcpy(L->ev[L->n_events].rows + info->n_train, info->scored,
           info->n_scored * sizeof(size_t));
    L->n_events++;
    if (info->stage == ML_EVALUATE_INNER) L->n_inner++;
    else L->n_outer++;
}

static void test_evaluate__nested_search_never_sees_the_outer_test_fold(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j = make_join(t, 2, 1);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    o.split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    o.grid = "C=0.01,1";
    o.n_inner_folds = 2;
    fit_log *L = calloc(1, sizeof *L);
    o.on_fit = record;
    o.on_fit_ctx = L;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    if (!e) goto done;
    CHECK_EQ_INT(L->n_outer, 3);
    CHECK_EQ_INT(L->n_inner, 3 * 2 * 2); /* outer folds x inner folds x grid points */
    for (size_t k = 0; k < L->n_events; k++) {
        if (!L->ev[k].is_inner) continue;
        size_t f = L->ev[k].fold, n = L->ev[k].n_train + L->ev[k].n_scored, outer_train = 0;
        for (size_t i = 0; i < n; i++)
            if (ml_evaluation_fold_of(e, 0, L->ev[k].rows[i]) == (int)f) L->bad_overlap++;
        for (size_t i = 0; i < NS; i++)
            outer_train += ml_evaluation_fold_of(e, 0, i) != (int)f;
        if (n != outer_train) L->bad_cover++; /* inner train + validation = outer training */
    }
    CHECK_EQ_INT(L->bad_overlap, 0);
    CHECK_EQ_INT(L->bad_cover, 0);
    char *json = NULL;
    CHECK_STATUS(ml_evaluation_json(e, &json), ML_OK);
    if (json) CHECK(strstr(json, "\"chosen\": \"C=") != NULL);
    ml_free(json);
done:
    free(L);
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

static void test_evaluate__refuses_bad_problems(void) {
    ml_table *t = make_table(NULL, 0, 0);
    ml_join *j3 = make_join(t, 3, 1), *j = make_join(t, 2, 0);
    ml_evaluation *e = NULL;
    ml_evaluate_options o = base_options();
    CHECK_STATUS(ml_evaluate(&e, t, j3, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("exactly 2 classes");
    o.split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("group column");
    o = base_options();
    o.split = ML_SPLIT_LEAVE_ONE_GROUP_OUT;
    o.n_repeats = 2;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("leave-one-group-out");
    o = base_options();
    o.version = 99;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    o = base_options();
    o.n_folds = 1;
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    o = base_options();
    o.grid = "C=0.1,banana";
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("grid");
    o = base_options();
    o.n_folds = 40; /* more folds than samples of a class */
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_EINVAL);
    CHECK(e == NULL);
    ml_join_free(j);
    ml_join_free(j3);
    ml_table_free(t);
}

static void test_evaluate__fingerprint_ignores_order_but_not_values(void) {
    size_t perm[NF] = {11, 3, 0, 7, 1, 9, 2, 10, 4, 8, 6, 5};
    ml_table *a = make_table(NULL, 0, 0), *b = make_table(perm, 0, 0), *c = make_table(NULL, 0, 1);
    ml_join *ja = make_join(a, 2, 0), *jb = make_join(b, 2, 0), *jc = make_join(c, 2, 0);
    char fa[ML__FINGERPRINT_SIZE], fb[ML__FINGERPRINT_SIZE], fc[ML__FINGERPRINT_SIZE];
    CHECK_STATUS(ml__fingerprint(fa, a, ja), ML_OK);
    CHECK_STATUS(ml__fingerprint(fb, b, jb), ML_OK);
    CHECK_STATUS(ml__fingerprint(fc, c, jc), ML_OK);
    CHECK_STR(fa, fb);
    CHECK(strcmp(fa, fc) != 0);
    CHECK_EQ_INT(strlen(fa), 71);
    CHECK(strncmp(fa, "sha256:", 7) == 0);
    ml_join_free(ja);
    ml_join_free(jb);
    ml_join_free(jc);
    ml_table_free(a);
    ml_table_free(b);
    ml_table_free(c);
}

static void tmp_dir(char *dst, size_t cap) {
    snprintf(dst, cap, "/tmp/ml-test-evaluate-%ld", (long)getpid());
}

static void test_bundle__saved_model_loads_and_scores_by_feature_id(void) {
    size_t perm[NF] = {11, 3, 0, 7, 1, 9, 2, 10, 4, 8, 6, 5};
    ml_table *t = make_table(NULL, 0, 0), *shuffled = make_table(perm, 1, 0);
    ml_join *j = make_join(t, 2, 1);
    ml_evaluation *e = NULL;
    ml_model_bundle *b = NULL, *loaded = NULL;
    ml_evaluate_options o = base_options();
    o.split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    o.grid = "C=0.1,1";
    o.n_inner_folds = 2;
    char dir[128], path[256];
    tmp_dir(dir, sizeof dir);
    CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    CHECK_STATUS(ml_model_bundle_fit(&b, t, j, &o), ML_OK);
    if (!b || !e) goto done;
    CHECK_STATUS(ml_model_bundle_save(b, dir, e), ML_OK);
    CHECK_STATUS(ml_model_bundle_load(&loaded, dir), ML_OK);
    if (!loaded) goto done;
    double s1[NS], s2[NS], s3[NS];
    CHECK_STATUS(ml_model_bundle_predict(b, t, NULL, NS, s1), ML_OK);
    CHECK_STATUS(ml_model_bundle_predict(loaded, t, NULL, NS, s2), ML_OK);
    CHECK_STATUS(ml_model_bundle_predict(loaded, shuffled, NULL, NS, s3), ML_OK);
    double d12 = 0, d13 = 0;
    for (size_t i = 0; i < NS; i++) {
        d12 = fmax(d12, fabs(s1[i] - s2[i]));
        d13 = fmax(d13, fabs(s1[i] - s3[i])); /* CLR over the bundle's features only */
    }
    CHECK_NEAR(d12, 0.0, 0.0);
    CHECK_NEAR(d13, 0.0, 1e-12);
    size_t unknown = 9, missing = 9;
    CHECK_STATUS(ml_model_bundle_match(loaded, shuffled, &unknown, &missing), ML_OK);
    CHECK_EQ_INT(unknown, 1);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(ml_model_bundle_n_features(loaded), NF);
    CHECK_STR(ml_model_bundle_positive(loaded), "pos");
    CHECK_STR(ml_model_bundle_fingerprint(loaded), ml_evaluation_fingerprint(e));
    CHECK_NEAR(ml_model_bundle_threshold(loaded), 0.5, 0);
    size_t bad_row = NS;
    CHECK_STATUS(ml_model_bundle_predict(loaded, t, &bad_row, 1, s3), ML_EINVAL);
    snprintf(path, sizeof path, "%s/card.json", dir);
    char *card = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1u << 24, &card, &len), ML_OK);
    if (card) CHECK(strstr(card, "for this final model only") != NULL);
    if (card) CHECK(strstr(card, "sample0") == NULL);
    free(card);
done:
    snprintf(path, sizeof path, "%s/card.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    ml_model_bundle_free(loaded);
    ml_model_bundle_free(b);
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(shuffled);
    ml_table_free(t);
}

static void write_card(const char *dir, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/card.json", dir);
    CHECK_STATUS(ml__file_write_atomic(path, text, strlen(text), 0644), ML_OK);
}

static void test_bundle__load_refuses_missing_and_malformed_bundles(void) {
    ml_model_bundle *b = NULL;
    char dir[128], path[256];
    tmp_dir(dir, sizeof dir);
    CHECK_STATUS(ml_model_bundle_load(&b, "/nonexistent/bundle"), ML_ENOTFOUND);
    CHECK_STATUS(ml__mkdir_p(dir, 0755), ML_OK);
    write_card(dir, "[1, 2]");
    CHECK_STATUS(ml_model_bundle_load(&b, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("card.json");
    write_card(dir, "{\"format\": \"something-else\"}");
    CHECK_STATUS(ml_model_bundle_load(&b, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("format");
    write_card(dir, "{\"format\": \"microlens-model-bundle\", \"format_version\": 1, "
                    "\"model\": {\"kind\": \"logreg\", \"C\": -1}}");
    CHECK_STATUS(ml_model_bundle_load(&b, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("model.C");
    write_card(dir, "{\"format\": \"microlens-model-bundle\", \"format_version\": 1, "
                    "\"model\": {\"kind\": \"logreg\"}, \"transform\": {\"kind\": \"clr\", "
                    "\"log_pseudocount\": 1e-6, \"clr_pseudocount\": 1, \"scale\": false}, "
                    "\"classes\": [\"a\", \"b\"], \"positive_class\": \"b\", "
                    "\"data_fingerprint\": \"sha256:00\", \"features\": [\"f0\", 3]}");
    CHECK_STATUS(ml_model_bundle_load(&b, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("features[1]");
    write_card(dir, "{\"format\": \"microlens-model-bundle\", \"format_version\": 1, "
                    "\"model\": {\"kind\": \"logreg\"}, \"transform\": {\"kind\": \"clr\", "
                    "\"log_pseudocount\": 1e-6, \"clr_pseudocount\": 1, \"scale\": false}, "
                    "\"classes\": [\"a\", \"b\"], \"positive_class\": \"b\", "
                    "\"data_fingerprint\": \"sha256:00\", \"features\": [\"f0\"]}");
    CHECK_STATUS(ml_model_bundle_load(&b, dir), ML_ENOTFOUND); /* no model.safetensors */
    CHECK(b == NULL);
    snprintf(path, sizeof path, "%s/card.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    RUN(test_evaluate__scores_come_from_transforms_fitted_on_training_rows_only);
    RUN(test_evaluate__pooled_auc_is_auc_of_out_of_fold_scores);
    RUN(test_evaluate__group_kfold_never_splits_a_group);
    RUN(test_evaluate__leave_one_group_out_makes_a_fold_per_group);
    RUN(test_evaluate__nested_search_never_sees_the_outer_test_fold);
    RUN(test_evaluate__refuses_bad_problems);
    RUN(test_evaluate__fingerprint_ignores_order_but_not_values);
    RUN(test_bundle__saved_model_loads_and_scores_by_feature_id);
    RUN(test_bundle__load_refuses_missing_and_malformed_bundles);
    TEST_MAIN_END();
}
