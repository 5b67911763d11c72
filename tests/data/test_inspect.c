/* test_inspect.c - what inspect.c promises: every number of a small hand-made cohort, the JSON
 * shape, capped lists, and raw sample IDs and group names kept out unless asked for. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "microlens/inspect.h"
#include "microlens/memory.h"
#include "ml_test.h"

#define HEX_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* The cohort: 8 samples x 4 features. rawid-06 duplicates rawid-01; rawid-07 is dominated by
 * one feature (the outlier). Depths 40 42 42 41 41 40 1001 42, total 1289. */
static const char *const cohort_ids[8] = {"rawid-01", "rawid-02", "rawid-03", "rawid-04",
                                          "rawid-05", "rawid-06", "rawid-07", "rawid-08"};
static const double cohort[8][4] = {{10, 10, 10, 10}, {12, 9, 11, 10}, {9, 11, 10, 12},
                                    {11, 10, 9, 11},  {10, 12, 10, 9}, {10, 10, 10, 10},
                                    {1000, 0, 0, 1},  {11, 11, 10, 10}};
/* A, B three times each; rawid-06 NA, rawid-08 absent; extra-1/2 are not in the table.
 * Groups: p1 {01, 02}, p2 {03, 04}, p3 {05, 06, 07}. */
static const char cohort_labels[] =
    "sid,label,group\n"
    "rawid-01,A,patient-p1\nrawid-02,B,patient-p1\nrawid-03,A,patient-p2\n"
    "rawid-04,B,patient-p2\nrawid-05,A,patient-p3\nrawid-06,NA,patient-p3\n"
    "rawid-07,B,patient-p3\nextra-1,A,patient-p9\nextra-2,B,patient-p9\n";

static ml_table *table_from(const char *const *ids, const double *values, size_t n, size_t f) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    size_t idx, dup;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    for (size_t j = 0; j < f; j++) {
        char name[32];
        snprintf(name, sizeof name, "otu%zu", j + 1);
        if (ml__tb_add_feature(tb, name, strlen(name), NULL, &idx, &dup) != ML_OK) goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (ml__tb_add_sample(tb, ids[i], strlen(ids[i]), &idx, &dup) != ML_OK) goto fail;
        for (size_t j = 0; j < f; j++)
            if (ml__tb_add_value(tb, idx, j, values[i * f + j]) != ML_OK) goto fail;
    }
    if (ml__tb_finish(tb, "test", "biom-hdf5", "samples are columns (BIOM)", &t) != ML_OK)
        return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

typedef struct fixture {
    ml_table *t;
    ml_labels *l;
    ml_pseudonym_key *key;
} fixture;

static bool fixture_open(fixture *fx, bool with_labels) {
    memset(fx, 0, sizeof *fx);
    fx->t = table_from(cohort_ids, &cohort[0][0], 8, 4);
    CHECK(fx->t != NULL);
    CHECK_STATUS(ml_pseudonym_key_from_secret(&fx->key, HEX_KEY), ML_OK);
    if (with_labels)
        CHECK_STATUS(ml_labels_parse(&fx->l, cohort_labels, strlen(cohort_labels), "l.csv", NULL),
                     ML_OK);
    return fx->t && fx->key && (!with_labels || fx->l);
}

static void fixture_close(fixture *fx) {
    ml_table_free(fx->t);
    ml_labels_free(fx->l);
    ml_pseudonym_key_free(fx->key);
}

static void pseudo(const fixture *fx, const char *raw, char out[ML_PSEUDONYM_SIZE]) {
    ml_pseudonym_make(fx->key, raw, strlen(raw), out);
}

/* Report as parsed JSON (and its text form in *text if given). */
static json_t *report_json(const fixture *fx, const ml_inspect_options *o, char **text) {
    ml_inspect_report *r = NULL;
    CHECK_STATUS(ml_inspect(&r, fx->t, fx->l, NULL, fx->key, o), ML_OK);
    if (!r) return NULL;
    char *s = NULL;
    CHECK_STATUS(ml_inspect_report_json(r, &s), ML_OK);
    if (text) CHECK_STATUS(ml_inspect_report_text(r, text), ML_OK);
    ml_inspect_report_free(r);
    if (!s) return NULL;
    json_error_t err;
    json_t *root = json_loads(s, 0, &err);
    CHECK(root != NULL);
    ml_free(s);
    return root;
}

static double num(const json_t *root, const char *path) {
    /* "a.b.c" lookup of a number */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = root;
    for (char *p = buf, *dot; v && p; p = dot ? dot + 1 : NULL) {
        dot = strchr(p, '.');
        if (dot) *dot = '\0';
        v = json_object_get(v, p);
    }
    CHECK(v && json_is_number(v));
    return v ? json_number_value(v) : -1.0;
}

static void test_inspect__table_numbers_match_hand_count(void) {
    fixture fx;
    if (!fixture_open(&fx, false)) goto done;
    json_t *root = report_json(&fx, NULL, NULL);
    if (!root) goto done;
    const json_t *table = json_object_get(root, "table");
    CHECK_STR(json_string_value(json_object_get(table, "format")), "biom-hdf5");
    CHECK_STR(json_string_value(json_object_get(table, "layout")), "samples are columns (BIOM)");
    CHECK(json_object_get(table, "path") == NULL); /* the CLI adds it */
    CHECK_EQ_INT(num(root, "table.n_samples"), 8);
    CHECK_EQ_INT(num(root, "table.n_features"), 4);
    CHECK_EQ_INT(num(root, "table.nnz"), 30);
    CHECK_NEAR(num(root, "table.total"), 1289, 0);
    CHECK_NEAR(num(root, "table.depth.min"), 40, 0);
    CHECK_NEAR(num(root, "table.depth.median"), 41.5, 0); /* 40 40 41 41 | 42 42 42 1001 */
    CHECK_NEAR(num(root, "table.depth.max"), 1001, 0);
    CHECK_NEAR(num(root, "table.observed.min"), 2, 0);
    CHECK_NEAR(num(root, "table.observed.median"), 4, 0);
    CHECK_NEAR(num(root, "table.observed.max"), 4, 0);
    CHECK(json_is_null(json_object_get(root, "labels")));
    CHECK(json_object_get(root, "samples") == NULL);
    json_decref(root);
done:
    fixture_close(&fx);
}

static void test_inspect__json_keys_come_in_documented_order(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    ml_inspect_report *r = NULL;
    char *s = NULL;
    CHECK_STATUS(ml_inspect(&r, fx.t, fx.l, NULL, fx.key, NULL), ML_OK);
    if (r) CHECK_STATUS(ml_inspect_report_json(r, &s), ML_OK);
    if (s) {
        const char *keys[] = {"\"table\"", "\"format\"", "\"layout\"", "\"n_samples\"",
                              "\"n_features\"", "\"nnz\"", "\"total\"", "\"depth\"",
                              "\"observed\"", "\"labels\"", "\"label_column\"",
                              "\"group_column\"", "\"classes\"", "\"positive\"",
                              "\"samples_without_label\"", "\"labels_without_sample\"",
                              "\"groups\"", "\"duplicates\"", "\"sets\"", "\"outliers\"",
                              "\"method\"", "\"threshold\"", "\"count\"", "\"samples\""};
        const char *at = s;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *next = strstr(at, keys[i]);
            CHECK(next != NULL);
            if (next) at = next;
        }
    }
    ml_free(s);
    ml_inspect_report_free(r);
done:
    fixture_close(&fx);
}

static void test_inspect__label_section_matches_hand_count(void) {
    fixture fx;
    char p[ML_PSEUDONYM_SIZE];
    if (!fixture_open(&fx, true)) goto done;
    json_t *root = report_json(&fx, NULL, NULL);
    if (!root) goto done;
    const json_t *labels = json_object_get(root, "labels");
    CHECK_STR(json_string_value(json_object_get(labels, "label_column")), "label");
    CHECK_STR(json_string_value(json_object_get(labels, "group_column")), "group");
    const json_t *classes = json_object_get(labels, "classes");
    CHECK_EQ_INT(json_array_size(classes), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(classes, 0), "name")), "A");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(classes, 0), "count")), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(classes, 1), "name")), "B");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(classes, 1), "count")), 3);
    CHECK_STR(json_string_value(json_object_get(labels, "positive")), "B");
    CHECK_EQ_INT(num(root, "labels.samples_without_label.count"), 2);
    const json_t *ids = json_object_get(json_object_get(labels, "samples_without_label"), "ids");
    CHECK_EQ_INT(json_array_size(ids), 2);
    pseudo(&fx, "rawid-06", p);
    CHECK_STR(json_string_value(json_array_get(ids, 0)), p);
    pseudo(&fx, "rawid-08", p);
    CHECK_STR(json_string_value(json_array_get(ids, 1)), p);
    CHECK_EQ_INT(num(root, "labels.labels_without_sample.count"), 2);
    ids = json_object_get(json_object_get(labels, "labels_without_sample"), "ids");
    pseudo(&fx, "extra-1", p);
    CHECK_STR(json_string_value(json_array_get(ids, 0)), p);
    pseudo(&fx, "extra-2", p);
    CHECK_STR(json_string_value(json_array_get(ids, 1)), p);
    CHECK_EQ_INT(num(root, "labels.groups.count"), 3); /* p9 has no table sample */
    CHECK_NEAR(num(root, "labels.groups.samples_per_group.min"), 2, 0);
    CHECK_NEAR(num(root, "labels.groups.samples_per_group.median"), 2, 0);
    CHECK_NEAR(num(root, "labels.groups.samples_per_group.max"), 3, 0);
    json_decref(root);
done:
    fixture_close(&fx);
}

static void test_inspect__finds_the_duplicated_pair(void) {
    fixture fx;
    char p[ML_PSEUDONYM_SIZE];
    if (!fixture_open(&fx, false)) goto done;
    json_t *root = report_json(&fx, NULL, NULL);
    if (!root) goto done;
    CHECK_EQ_INT(num(root, "duplicates.count"), 1);
    const json_t *sets = json_object_get(json_object_get(root, "duplicates"), "sets");
    CHECK_EQ_INT(json_array_size(sets), 1);
    const json_t *set = json_array_get(sets, 0);
    CHECK_EQ_INT(json_array_size(set), 2);
    pseudo(&fx, "rawid-01", p);
    CHECK_STR(json_string_value(json_array_get(set, 0)), p);
    pseudo(&fx, "rawid-06", p);
    CHECK_STR(json_string_value(json_array_get(set, 1)), p);
    json_decref(root);
done:
    fixture_close(&fx);
}

/* Expected distance and z from numpy on the same cohort (/usr/bin/python3, numpy 1.24):
 *   L = log(X + 0.5); clr = L - L.mean(1); med = median(clr, 0); d = |clr - med|_2
 *   z = 0.6745 (d - median(d)) / median(|d - median(d)|)
 * gives d[6] = 6.296508365462815, z[6] = 48.134225127655206 and every other z < 0.53. */
static void test_inspect__flags_the_outlier_like_numpy(void) {
    fixture fx;
    char p[ML_PSEUDONYM_SIZE];
    if (!fixture_open(&fx, false)) goto done;
    json_t *root = report_json(&fx, NULL, NULL);
    if (!root) goto done;
    const json_t *out = json_object_get(root, "outliers");
    CHECK(strstr(json_string_value(json_object_get(out, "method")), "Aitchison") != NULL);
    CHECK_NEAR(num(root, "outliers.threshold"), 3.5, 0);
    CHECK_EQ_INT(num(root, "outliers.count"), 1);
    const json_t *s = json_array_get(json_object_get(out, "samples"), 0);
    pseudo(&fx, "rawid-07", p);
    CHECK_STR(json_string_value(json_object_get(s, "id")), p);
    CHECK_NEAR(json_number_value(json_object_get(s, "distance")), 6.296508365462815, 1e-9);
    CHECK_NEAR(json_number_value(json_object_get(s, "z")), 48.134225127655206, 1e-7);
    CHECK(json_object_get(s, "raw_id") == NULL);
    json_decref(root);
done:
    fixture_close(&fx);
}

static void test_inspect__identical_samples_have_no_outliers(void) {
    const char *ids[] = {"a", "b", "c"};
    const double v[] = {1, 2, 1, 2, 1, 2};
    ml_table *t = table_from(ids, v, 3, 2);
    ml_pseudonym_key *key = NULL;
    ml_inspect_report *r = NULL;
    char *text = NULL, *json = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&key, HEX_KEY), ML_OK);
    if (!t || !key) goto done;
    CHECK_STATUS(ml_inspect(&r, t, NULL, NULL, key, NULL), ML_OK);
    if (!r) goto done;
    CHECK_STATUS(ml_inspect_report_text(r, &text), ML_OK);
    CHECK_STATUS(ml_inspect_report_json(r, &json), ML_OK);
    if (text) CHECK(strstr(text, "MAD is 0") != NULL);
    if (json) CHECK(strstr(json, "\"count\": 2") != NULL); /* b and c duplicate a */
done:
    ml_free(text);
    ml_free(json);
    ml_inspect_report_free(r);
    ml_pseudonym_key_free(key);
    ml_table_free(t);
}

static void test_inspect__per_sample_lists_every_sample_in_order(void) {
    fixture fx;
    char p[ML_PSEUDONYM_SIZE];
    if (!fixture_open(&fx, false)) goto done;
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.per_sample = true;
    json_t *root = report_json(&fx, &o, NULL);
    if (!root) goto done;
    const json_t *samples = json_object_get(root, "samples");
    CHECK_EQ_INT(json_array_size(samples), 8);
    pseudo(&fx, "rawid-07", p);
    const json_t *s7 = json_array_get(samples, 6);
    CHECK_STR(json_string_value(json_object_get(s7, "id")), p);
    CHECK_NEAR(json_number_value(json_object_get(s7, "depth")), 1001, 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(s7, "observed")), 2);
    json_decref(root);
done:
    fixture_close(&fx);
}

static void test_inspect__lists_are_capped_at_max_listed(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.max_listed = 1;
    char *text = NULL;
    json_t *root = report_json(&fx, &o, &text);
    if (!root) goto done;
    const json_t *w = json_object_get(json_object_get(root, "labels"), "samples_without_label");
    CHECK_EQ_INT(json_integer_value(json_object_get(w, "count")), 2);
    CHECK_EQ_INT(json_array_size(json_object_get(w, "ids")), 1);
    const json_t *set = json_array_get(
        json_object_get(json_object_get(root, "duplicates"), "sets"), 0);
    CHECK_EQ_INT(json_array_size(set), 1);
    if (text) CHECK(strstr(text, "... and 1 more") != NULL);
    json_decref(root);
done:
    ml_free(text);
    fixture_close(&fx);
}

static void check_no_raw(const char *s) {
    const char *secrets[] = {"rawid-", "extra-", "patient-p"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        CHECK(strstr(s, secrets[i]) == NULL);
        if (strstr(s, secrets[i])) fprintf(stderr, "  leaked \"%s\"\n", secrets[i]);
    }
}

static void test_inspect__keeps_raw_ids_and_group_names_out(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.per_sample = true;
    ml_inspect_report *r = NULL;
    char *json = NULL, *text = NULL;
    CHECK_STATUS(ml_inspect(&r, fx.t, fx.l, NULL, fx.key, &o), ML_OK);
    if (r) {
        CHECK_STATUS(ml_inspect_report_json(r, &json), ML_OK);
        CHECK_STATUS(ml_inspect_report_text(r, &text), ML_OK);
    }
    if (json) check_no_raw(json);
    if (text) check_no_raw(text);
    if (json) CHECK(strstr(json, "raw_id") == NULL);
    ml_free(json);
    ml_free(text);
    ml_inspect_report_free(r);
done:
    fixture_close(&fx);
}

static void test_inspect__show_raw_ids_puts_them_beside_pseudonyms(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.show_raw_ids = true;
    o.per_sample = true;
    char *text = NULL;
    json_t *root = report_json(&fx, &o, &text);
    if (!root) goto done;
    const json_t *labels = json_object_get(root, "labels");
    const json_t *raw = json_object_get(json_object_get(labels, "labels_without_sample"),
                                        "raw_ids");
    CHECK_STR(json_string_value(json_array_get(raw, 0)), "extra-1");
    const json_t *out = json_array_get(json_object_get(json_object_get(root, "outliers"),
                                                       "samples"), 0);
    CHECK_STR(json_string_value(json_object_get(out, "raw_id")), "rawid-07");
    const json_t *raw_set = json_array_get(
        json_object_get(json_object_get(root, "duplicates"), "raw_sets"), 0);
    CHECK_STR(json_string_value(json_array_get(raw_set, 1)), "rawid-06");
    const json_t *s0 = json_array_get(json_object_get(root, "samples"), 0);
    CHECK_STR(json_string_value(json_object_get(s0, "raw_id")), "rawid-01");
    if (text) CHECK(strstr(text, "(raw: rawid-07)") != NULL);
    if (text) CHECK(strstr(text, "patient-p") == NULL); /* group names never */
    json_decref(root);
done:
    ml_free(text);
    fixture_close(&fx);
}

static void test_inspect__text_summary_reads_well(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    char *text = NULL;
    json_t *root = report_json(&fx, NULL, &text);
    json_decref(root);
    if (!text) goto done;
    CHECK(strstr(text, "depth:") && strstr(text, "min 40, median 41.5, max 1001"));
    CHECK(strstr(text, "samples without label:   2: s_") != NULL);
    CHECK(strstr(text, "positive class:") != NULL);
    CHECK(strstr(text, "Iglewicz & Hoaglin") != NULL);
    CHECK(strstr(text, "groups:") != NULL);
    ml_free(text);
done:
    fixture_close(&fx);
}

static void test_inspect__median_of_many_depths(void) {
    /* depths 1..101 shuffled with a run of equal values: median 51 (odd) */
    enum { N = 101 };
    char names[N][32];
    const char *ids[N];
    double v[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "x%zu", i);
        ids[i] = names[i];
        v[i] = (double)((i * 37) % N + 1);
    }
    for (size_t i = 0; i < 10; i++) v[i] = 51; /* ten extra 51s replace 10 values */
    ml_table *t = table_from(ids, v, N, 1);
    ml_pseudonym_key *key = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&key, HEX_KEY), ML_OK);
    fixture fx = {t, NULL, key};
    json_t *root = (t && key) ? report_json(&fx, NULL, NULL) : NULL;
    if (root) {
        /* sorted reference */
        double sorted[N];
        memcpy(sorted, v, sizeof sorted);
        for (size_t i = 1; i < N; i++)
            for (size_t k = i; k > 0 && sorted[k - 1] > sorted[k]; k--) {
                double x = sorted[k];
                sorted[k] = sorted[k - 1];
                sorted[k - 1] = x;
            }
        CHECK_NEAR(num(root, "table.depth.median"), sorted[N / 2], 0);
        CHECK_NEAR(num(root, "table.depth.min"), sorted[0], 0);
        CHECK_NEAR(num(root, "table.depth.max"), sorted[N - 1], 0);
    }
    json_decref(root);
    fixture_close(&fx);
}

static void test_inspect__empty_table_reports_zeros(void) {
    ml_table *t = table_from(NULL, NULL, 0, 0);
    ml_pseudonym_key *key = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&key, HEX_KEY), ML_OK);
    fixture fx = {t, NULL, key};
    json_t *root = (t && key) ? report_json(&fx, NULL, NULL) : NULL;
    if (root) {
        CHECK_EQ_INT(num(root, "table.n_samples"), 0);
        CHECK_EQ_INT(num(root, "outliers.count"), 0);
        CHECK_EQ_INT(num(root, "duplicates.count"), 0);
    }
    json_decref(root);
    fixture_close(&fx);
}

static void test_inspect__rejects_bad_arguments(void) {
    fixture fx;
    if (!fixture_open(&fx, true)) goto done;
    ml_inspect_report *sentinel = (ml_inspect_report *)&sentinel, *r = sentinel;
    CHECK_STATUS(ml_inspect(&r, fx.t, NULL, NULL, NULL, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("ID key");
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.version = 0;
    CHECK_STATUS(ml_inspect(&r, fx.t, NULL, NULL, fx.key, &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("version is 0");
    /* a join made from another table */
    const char *ids[] = {"rawid-01"};
    const double v[] = {1};
    ml_table *other = table_from(ids, v, 1, 1);
    ml_join *j = NULL;
    if (other) CHECK_STATUS(ml_join_new(&j, other, fx.l, NULL), ML_OK);
    if (j) {
        CHECK_STATUS(ml_inspect(&r, fx.t, fx.l, j, fx.key, NULL), ML_EINVAL);
        CHECK_ERR_CONTAINS("the join has 1 samples, the table 8");
        CHECK_STATUS(ml_inspect(&r, fx.t, NULL, j, fx.key, NULL), ML_EINVAL);
    }
    CHECK(r == sentinel);
    ml_join_free(j);
    ml_table_free(other);
    ml_inspect_report_free(NULL);
done:
    fixture_close(&fx);
}

static void test_inspect__non_utf8_text_still_gives_valid_json(void) {
    const char *ids[] = {"a\xff", "b"};
    const double v[] = {1, 2};
    ml_table *t = table_from(ids, v, 2, 1);
    ml_pseudonym_key *key = NULL;
    const char text[] = "sid,label\na\xff,caf\xe9\nb,ok\n";
    ml_labels *l = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&key, HEX_KEY), ML_OK);
    CHECK_STATUS(ml_labels_parse(&l, text, sizeof text - 1, "l.csv", NULL), ML_OK);
    fixture fx = {t, l, key};
    ml_inspect_options o = ML_INSPECT_OPTIONS_INIT;
    o.show_raw_ids = true;
    o.per_sample = true;
    json_t *root = (t && key && l) ? report_json(&fx, &o, NULL) : NULL;
    CHECK(root != NULL);
    if (root) {
        const json_t *c0 = json_array_get(
            json_object_get(json_object_get(root, "labels"), "classes"), 0);
        CHECK_STR(json_string_value(json_object_get(c0, "name")), "caf?");
        const json_t *s0 = json_array_get(json_object_get(root, "samples"), 0);
        CHECK_STR(json_string_value(json_object_get(s0, "raw_id")), "a?");
    }
    json_decref(root);
    fixture_close(&fx);
}

int main(void) {
    RUN(test_inspect__table_numbers_match_hand_count);
    RUN(test_inspect__json_keys_come_in_documented_order);
    RUN(test_inspect__label_section_matches_hand_count);
    RUN(test_inspect__finds_the_duplicated_pair);
    RUN(test_inspect__flags_the_outlier_like_numpy);
    RUN(test_inspect__identical_samples_have_no_outliers);
    RUN(test_inspect__per_sample_lists_every_sample_in_order);
    RUN(test_inspect__lists_are_capped_at_max_listed);
    RUN(test_inspect__keeps_raw_ids_and_group_names_out);
    RUN(test_inspect__show_raw_ids_puts_them_beside_pseudonyms);
    RUN(test_inspect__text_summary_reads_well);
    RUN(test_inspect__median_of_many_depths);
    RUN(test_inspect__empty_table_reports_zeros);
    RUN(test_inspect__rejects_bad_arguments);
    RUN(test_inspect__non_utf8_text_still_gives_valid_json);
    TEST_MAIN_END();
}
