/* test_bundle.c - what the bundle reader promises for bytes in memory (ml__model_bundle_parse,
 * the fuzzer's entry point) and on disk: a saved bundle loads the same either way, and every
 * broken card field or misfitting tensor file is refused naming the field. Fixtures:
 * tests/data/fixtures/bundle/ (see its SOURCE.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/bundle.h"
#include "microlens/evaluate.h"
#include "microlens/safetensors.h"
#include "ml_test.h"
#include "util/fileio.h"

#define FIX "tests/data/fixtures/bundle/"

typedef struct bytes {
    char *p;
    size_t len;
} bytes;

static bytes slurp(const char *path) {
    bytes b = {NULL, 0};
    if (ml__file_read(path, 1u << 20, &b.p, &b.len) != ML_OK)
        fprintf(stderr, "cannot read %s: %s\n", path, ml_error_last()->message);
    return b;
}

static ml_status parse(ml_model_bundle **out, const char *card, size_t card_len,
                       const bytes *tensors) {
    return ml__model_bundle_parse(out, card, card_len, "mem/card.json", tensors->p, tensors->len,
                                  "mem/model.safetensors");
}

static void test_bundle__parse_accepts_saved_bundle_like_load(void) {
    bytes card = slurp(FIX "logreg/card.json"), st = slurp(FIX "logreg/model.safetensors");
    ml_model_bundle *a = NULL, *b = NULL;
    CHECK_STATUS(parse(&a, card.p, card.len, &st), ML_OK);
    CHECK_STATUS(ml_model_bundle_load(&b, FIX "logreg"), ML_OK);
    if (a && b) {
        CHECK_EQ_INT(ml_model_bundle_n_features(a), 12);
        CHECK_EQ_INT(ml_model_bundle_n_features(b), 12);
        CHECK_STR(ml_model_bundle_feature_id(a, 11), "90_1;96_3;97_12");
        CHECK_STR(ml_model_bundle_positive(a), "healthy");
        CHECK_STR(ml_model_bundle_fingerprint(a), ml_model_bundle_fingerprint(b));
        CHECK_NEAR(ml_model_bundle_threshold(a), 0.5, 0);
    }
    ml_model_bundle_free(a);
    ml_model_bundle_free(b);
    free(card.p);
    free(st.p);
}

/* The logreg card changed by one edit, parsed against the logreg tensors. */
typedef void (*card_edit)(json_t *card);

static void expect_card_refused(card_edit edit, const char *want) {
    bytes st = slurp(FIX "logreg/model.safetensors");
    json_t *card = json_load_file(FIX "logreg/card.json", 0, NULL);
    CHECK(card != NULL);
    if (!card) return;
    edit(card);
    char *text = json_dumps(card, 0);
    ml_model_bundle *b = (ml_model_bundle *)0x1;
    CHECK_STATUS(parse(&b, text, strlen(text), &st), ML_EFORMAT);
    CHECK(b == (ml_model_bundle *)0x1);
    CHECK_ERR_CONTAINS(want);
    if (b != (ml_model_bundle *)0x1) ml_model_bundle_free(b);
    free(text);
    json_decref(card);
    free(st.p);
}

static json_t *sub(json_t *card, const char *key) { return json_object_get(card, key); }

static void version_2(json_t *c) { json_object_set_new(c, "format_version", json_integer(2)); }
static void no_format(json_t *c) { json_object_del(c, "format"); }
static void model_array(json_t *c) { json_object_set_new(c, "model", json_array()); }
static void model_object_value(json_t *c) { json_object_set_new(sub(c, "model"), "C", json_object()); }
static void model_bad_hidden(json_t *c) {
    json_object_set_new(sub(c, "model"), "hidden", json_pack("[i,s]", 3, "x"));
}
static void model_unknown_key(json_t *c) {
    json_object_set_new(sub(c, "model"), "colour", json_string("red"));
}
static void model_negative_c(json_t *c) { json_object_set_new(sub(c, "model"), "C", json_real(-1)); }
static void no_transform(json_t *c) { json_object_del(c, "transform"); }
static void transform_kind(json_t *c) {
    json_object_set_new(sub(c, "transform"), "kind", json_string("sqrt"));
}
static void transform_pseudo(json_t *c) {
    json_object_set_new(sub(c, "transform"), "clr_pseudocount", json_string("1"));
}
static void transform_scale(json_t *c) { json_object_set_new(sub(c, "transform"), "scale", json_integer(1)); }
static void one_class(json_t *c) { json_object_set_new(c, "classes", json_pack("[s]", "a")); }
static void positive_first(json_t *c) {
    json_object_set_new(c, "positive_class", json_string("allergy"));
}
static void no_fingerprint(json_t *c) { json_object_del(c, "data_fingerprint"); }
static void long_fingerprint(json_t *c) {
    char fp[101];
    memset(fp, 'f', 100);
    fp[100] = '\0';
    json_object_set_new(c, "data_fingerprint", json_string(fp));
}
static void no_features(json_t *c) { json_object_set_new(c, "features", json_array()); }
static void feature_number(json_t *c) { json_array_set_new(sub(c, "features"), 3, json_integer(3)); }
static void feature_repeated(json_t *c) {
    json_array_set_new(sub(c, "features"), 1, json_string("90_1;96_1;97_1"));
}
static void fewer_features(json_t *c) { json_array_remove(sub(c, "features"), 0); }
static void kind_rf(json_t *c) { json_object_set_new(sub(c, "model"), "kind", json_string("rf")); }

static void test_bundle__parse_refuses_each_broken_card_field(void) {
    expect_card_refused(version_2, "mem/card.json: format_version: unsupported");
    expect_card_refused(no_format, "mem/card.json: format: missing or not a string");
    expect_card_refused(model_array, "model: missing or not an object");
    expect_card_refused(model_object_value, "model.C: not a classifier setting");
    expect_card_refused(model_bad_hidden, "model.hidden: not a classifier setting");
    expect_card_refused(model_unknown_key, "model.colour: unknown classifier option");
    /* The inner message is kept whole (it was once formatted over itself). */
    expect_card_refused(model_negative_c, "mem/card.json: model.C: option C=\"-1\" (expected a "
                        "number > 0)");
    expect_card_refused(no_transform, "transform: missing or not an object");
    expect_card_refused(transform_kind, "transform.kind: not none, relab, log or clr");
    expect_card_refused(transform_pseudo, "transform.clr_pseudocount: missing or not a number");
    expect_card_refused(transform_scale, "transform.scale: missing or not a boolean");
    expect_card_refused(one_class, "classes: expected an array of 2 class names");
    expect_card_refused(positive_first, "positive_class: not the second class");
    expect_card_refused(no_fingerprint, "data_fingerprint: missing or not a string");
    expect_card_refused(long_fingerprint, "data_fingerprint: too long");
    expect_card_refused(no_features, "features: missing or empty");
    expect_card_refused(feature_number, "features[3]: not a string");
    expect_card_refused(feature_repeated, "mem/card.json: transform: ");
    expect_card_refused(fewer_features, "transform.mean: tensor missing or not F64 [n_features]");
    expect_card_refused(kind_rf, "mem/card.json: model.safetensors: ");
}

static void test_bundle__parse_refuses_text_that_is_not_a_card(void) {
    bytes st = slurp(FIX "logreg/model.safetensors");
    ml_model_bundle *b = NULL;
    CHECK_STATUS(parse(&b, "[1, 2]", 6, &st), ML_EFORMAT);
    CHECK_ERR_CONTAINS("mem/card.json: not an object (expected a JSON object)");
    CHECK_STATUS(parse(&b, "{\"format\": ", 11, &st), ML_EFORMAT);
    CHECK_ERR_CONTAINS("mem/card.json:1:");
    CHECK_STATUS(parse(&b, "{\"a\": 1, \"a\": 2}", 16, &st), ML_EFORMAT);
    CHECK_ERR_CONTAINS("duplicate");
    /* The length is refused before a byte is read: a 1-byte buffer stands for 300 MiB. */
    CHECK_STATUS(parse(&b, "{", (size_t)300 << 20, &st), ML_EFORMAT);
    CHECK_ERR_CONTAINS("expected at most 268435456 for a card");
    CHECK(b == NULL);
    free(st.p);
}

static void test_bundle__parse_refuses_tensors_that_do_not_fit_the_card(void) {
    bytes card = slurp(FIX "logreg/card.json"), st = slurp(FIX "logreg/model.safetensors");
    bytes svm_st = slurp(FIX "svm/model.safetensors"), none = {NULL, 0};
    ml_model_bundle *b = NULL;
    CHECK_STATUS(parse(&b, card.p, card.len, &none), ML_EFORMAT);
    CHECK_ERR_CONTAINS("mem/model.safetensors");
    bytes cut = {st.p, st.len / 2};
    CHECK_STATUS(parse(&b, card.p, card.len, &cut), ML_EFORMAT);
    CHECK_ERR_CONTAINS("mem/model.safetensors");
    /* svm tensors: no scaler although the card scales. */
    CHECK_STATUS(parse(&b, card.p, card.len, &svm_st), ML_EFORMAT);
    CHECK_ERR_CONTAINS("mem/card.json: transform.mean: tensor missing");

    /* The logreg tensors plus one that is neither classifier.* nor the scaler. */
    ml_safetensors *s = NULL;
    CHECK_STATUS(ml_safetensors_parse_buffer(&s, st.p, st.len, "logreg"), ML_OK);
    size_t n = s ? ml_safetensors_n_tensors(s) : 0;
    ml_tensor_view v[8];
    double extra = 1;
    for (size_t i = 0; i < n && i < 7; i++) v[i] = *ml_safetensors_tensor(s, i);
    v[n] = (ml_tensor_view){"stray", ML_DTYPE_F64, 1, {1}, &extra};
    char path[] = "/tmp/ml_test_bundle.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && n > 0 && n < 8);
    if (fd >= 0) close(fd);
    CHECK_STATUS(ml_safetensors_write(path, v, n + 1, NULL, 0), ML_OK);
    bytes stray = slurp(path);
    unlink(path);
    CHECK_STATUS(parse(&b, card.p, card.len, &stray), ML_EFORMAT);
    CHECK_ERR_CONTAINS("model.safetensors: unexpected tensor");
    CHECK(b == NULL);
    ml_safetensors_close(s);
    free(stray.p);
    free(card.p);
    free(st.p);
    free(svm_st.p);
}

int main(void) {
    RUN(test_bundle__parse_accepts_saved_bundle_like_load);
    RUN(test_bundle__parse_refuses_each_broken_card_field);
    RUN(test_bundle__parse_refuses_text_that_is_not_a_card);
    RUN(test_bundle__parse_refuses_tensors_that_do_not_fit_the_card);
    TEST_MAIN_END();
}
