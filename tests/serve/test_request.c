/* test_request.c - what POST /v1/predict promises about bodies: every malformed shape is a 400
 * (413 for too many samples or bytes) whose reason names the field path; duplicate keys,
 * huge numbers, non-UTF-8 and NULs are refused; escapes and numbers decode as jansson decodes
 * them; a body that parses but cannot be scored is a 422; and no raw sample ID appears in any
 * reason, body or pseudonym. fuzz/fuzz_serve_request.c compares the reader with jansson on
 * arbitrary bytes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/evaluate.h"
#include "microlens/serve.h"
#include "ml_test.h"
#include "serve/request.h"

/* Every body below uses this ID: it must never come back. */
#define RAW "RAW-ID-7f3a"
#define MAX_SAMPLES 4

static ml__serve_request req = ML__SERVE_REQUEST_INIT;

/* Parses body (a C string); returns the status and leaves the reason in reason. */
static int parse_status(const char *body, char *reason) {
    int status = 0;
    CHECK_STATUS(ml__serve_request_parse(&req, body, strlen(body), MAX_SAMPLES, &status, reason,
                                         ML__SERVE_REASON_BYTES),
                 ML_OK);
    CHECK(!strstr(reason, RAW));
    if (status != 200) CHECK(req.n_samples == 0);
    return status;
}

#define EXPECT(body, status, want)                                                           \
    do {                                                                                     \
        char ml_reason[ML__SERVE_REASON_BYTES];                                              \
        CHECK_EQ_INT(parse_status((body), ml_reason), (status));                             \
        if (!strstr(ml_reason, (want))) {                                                    \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: reason \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,       \
                    ml_reason, (want));                                                      \
        }                                                                                    \
        ml__serve_request_free(&req);                                                        \
    } while (0)

static void test_request__accepts_batch_and_single(void) {
    char reason[ML__SERVE_REASON_BYTES];
    const char *batch = "{\"samples\":[{\"id\":\"" RAW "\",\"abundances\":{\"OTU_1\":3,\"OTU_2\""
                        ":0.5}},{\"id\":\"b\",\"otus\":[\"OTU_1\",\"OTU_9\"]}]}";
    CHECK_EQ_INT(parse_status(batch, reason), 200);
    CHECK_EQ_INT(req.n_samples, 2);
    if (req.n_samples == 2) {
        CHECK(req.samples[0].id_len == strlen(RAW) && !memcmp(req.samples[0].id, RAW, 11));
        CHECK_NEAR(req.samples[0].total, 3.5, 0);
        CHECK(!req.samples[0].is_otus && req.samples[0].n == 2);
        CHECK_STR(req.entries[req.samples[0].first + 1].key, "OTU_2");
        CHECK_NEAR(req.entries[req.samples[0].first + 1].value, 0.5, 0);
        CHECK(req.samples[1].is_otus && req.samples[1].n == 2);
        CHECK_STR(req.entries[req.samples[1].first + 1].key, "OTU_9");
    }
    ml__serve_request_free(&req);
    const char *single = "{\"id\":\"" RAW "\",\"abundances\":{}}";
    CHECK_EQ_INT(parse_status(single, reason), 200);
    CHECK_EQ_INT(req.n_samples, 1);
    ml__serve_request_free(&req);
    /* integers beyond 64 bits are numbers too (read as doubles) */
    const char *big = "{\"id\":\"x\",\"abundances\":{\"A\":123456789012345678901234567890}}";
    CHECK_EQ_INT(parse_status(big, reason), 200);
    ml__serve_request_free(&req);
    ml__serve_request_free(NULL);
}

static void test_request__malformed_json(void) {
    EXPECT("{\"samples\":[", 400, "ends early");
    EXPECT("{\"samples\":[{\"id\":\"" RAW "\",}]}", 400, "line 1, column 33 (byte 32): "
           "expected a string");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":01}}", 400, "an invalid number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1.}}", 400, "an invalid number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":-}}", 400, "an invalid number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1e}}", 400, "an invalid number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1x}}", 400, "expected ',' or '}'");
    EXPECT("{\"id\":\"\\ud800\",\"abundances\":{}}", 400, "unpaired UTF-16 surrogate");
    EXPECT("{\"id\":\"\\udc00x\",\"abundances\":{}}", 400, "unpaired UTF-16 surrogate");
    EXPECT("{\"id\":\"\\q\",\"abundances\":{}}", 400, "an invalid escape");
    EXPECT("{\"id\":\"\\u12G4\",\"abundances\":{}}", 400, "an invalid \\u escape");
    EXPECT("{\"id\":\"a\tb\",\"abundances\":{}}", 400, "a control character");
    EXPECT("{\"id\":\"\xc0\xaf\",\"abundances\":{}}", 400, "not valid UTF-8"); /* overlong */
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{\"A\":", 400, "ends early");
    EXPECT("", 400, "body: line");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{}} trailing", 400, "text after");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1e999}}", 400, "number out of range");
    EXPECT("{\"id\":\"RAW-ID-7f3a\xff\",\"abundances\":{}}", 400, "not valid UTF-8");
    EXPECT("{\"id\":\"RAW-ID-7f3a\\u0000\",\"abundances\":{}}", 400, "\\u0000");
    char nul[] = "{\"id\":\"RAW-ID-7f3a\",\"abundances\":{}}";
    nul[4] = '\0'; /* a NUL byte inside the body */
    int status = 0;
    char reason[ML__SERVE_REASON_BYTES];
    CHECK_STATUS(ml__serve_request_parse(&req, nul, sizeof nul - 1, MAX_SAMPLES, &status, reason,
                                         sizeof reason),
                 ML_OK);
    CHECK_EQ_INT(status, 400);
    CHECK(!strstr(reason, RAW));
}

static void test_request__duplicate_keys(void) {
    EXPECT("{\"samples\":[{\"id\":\"a\",\"otus\":[]}],\"samples\":[]}", 400, "a key repeated");
    EXPECT("{\"id\":\"" RAW "\",\"id\":\"" RAW "\",\"abundances\":{}}", 400, "a key repeated");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1,\"A\":2}}", 400, "a key repeated");
}

/* The schema fixes the nesting: nothing deeper is read, whatever its depth. */
static void test_request__nesting_bounded_by_schema(void) {
    char deep[4096];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"samples\":[");
    memset(deep + n, '[', 4000);
    deep[n + 4000] = '\0';
    EXPECT(deep, 400, "samples[0]: expected an object");
    EXPECT("{\"id\":\"x\",\"abundances\":{\"A\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}", 400,
           "body.abundances.A: expected a non-negative number");
    /* brackets inside strings are only text */
    EXPECT("{\"id\":\"[[[[[[[[[[[[\",\"abundances\":{\"{{{{{{{{{{\\\"{{\":1}}", 200, "");
}

/* Escapes and numbers decode to what jansson (and strtod) give. */
static void test_request__decodes_like_jansson(void) {
    const char *body = "{\"sam\\u0070les\" :\t[ {\"id\":\"\\ud83d\\ude00 \\u00e9\\\"\\/\\n\","
                       "\"abundances\":{\"k__\\u0042a\":1E2,\"B\":0.5e-3,\"C\":-0,\"D\":"
                       "12345678901234567,\"E\":1e-400,\"F\":0.1}}\r\n]}\n";
    char reason[ML__SERVE_REASON_BYTES];
    CHECK_EQ_INT(parse_status(body, reason), 200);
    json_t *ref = json_loads(body, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    json_t *s0 = json_array_get(json_object_get(ref, "samples"), 0);
    json_t *ab = json_object_get(s0, "abundances");
    if (req.n_samples == 1 && ab) {
        const ml__serve_sample *s = &req.samples[0];
        CHECK(s->id_len == json_string_length(json_object_get(s0, "id")) &&
              !memcmp(s->id, json_string_value(json_object_get(s0, "id")), s->id_len));
        CHECK_EQ_INT(s->n, 6);
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(ab, key, v) {
            const ml__serve_entry *e = &req.entries[s->first + k++];
            CHECK_STR(e->key, key);
            double a = e->value, b = json_number_value(v);
            CHECK(memcmp(&a, &b, sizeof a) == 0);
        }
        CHECK_STR(req.entries[s->first].key, "k__Ba");
    }
    json_decref(ref);
    ml__serve_request_free(&req);
}

static void test_request__schema_reasons(void) {
    EXPECT("[1,2]", 400, "body: expected an object");
    EXPECT("{\"rows\":[]}", 400, "body: a member other than \"samples\"");
    EXPECT("{}", 400, "body: expected {\"samples\": [...]} or one sample");
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{}}],\"x\":1}", 400,
           "a member besides \"samples\"");
    EXPECT("{\"id\":\"a\",\"abundances\":{},\"samples\":[]}", 400,
           "\"samples\" beside a sample's members");
    EXPECT("{\"samples\":{}}", 400, "samples: expected an array of 1 to 4 samples");
    EXPECT("{\"samples\":[]}", 400, "samples: expected an array of 1 to 4 samples");
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{}},7]}", 400,
           "samples[1]: expected an object");
    EXPECT("{\"samples\":[{\"abundances\":{}}]}", 400, "samples[0].id: expected a string of 1 "
           "to 256 bytes");
    EXPECT("{\"samples\":[{\"id\":\"\",\"abundances\":{}}]}", 400, "samples[0].id: expected");
    EXPECT("{\"samples\":[{\"id\":17,\"abundances\":{}}]}", 400, "samples[0].id: expected");
    EXPECT("{\"samples\":[{\"id\":\"" RAW "\"}]}", 400, "samples[0]: expected exactly one of");
    EXPECT("{\"samples\":[{\"id\":\"" RAW "\",\"abundances\":{},\"otus\":[]}]}", 400,
           "samples[0]: expected exactly one of");
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{}},{\"id\":\"b\",\"abundances\":{}},"
           "{\"id\":\"" RAW "\",\"abundances\":[1]}]}",
           400, "samples[2].abundances: expected an object of OTU ID -> count");
    EXPECT("{\"samples\":[{\"id\":\"" RAW "\",\"abundances\":{\"OTU_7\":-1}}]}", 400,
           "samples[0].abundances.OTU_7: expected a non-negative number");
    EXPECT("{\"samples\":[{\"id\":\"" RAW "\",\"abundances\":{\"OTU_7\":\"5\"}}]}", 400,
           "samples[0].abundances.OTU_7: expected a non-negative number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"OTU_7\":null}}", 400,
           "body.abundances.OTU_7: expected a non-negative number");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"OTU_7\":true}}", 400, "OTU_7: expected");
    EXPECT("{\"id\":\"" RAW "\",\"abundances\":{\"A\":1e308,\"B\":1e308}}", 400,
           "body.abundances: the counts add up beyond");
    EXPECT("{\"id\":\"" RAW "\",\"otus\":{}}", 400, "body.otus: expected an array of OTU IDs");
    EXPECT("{\"id\":\"" RAW "\",\"otus\":[\"A\",3]}", 400, "body.otus[1]: expected a string");
    EXPECT("{\"id\":\"" RAW "\",\"otus\":[\"A\",\"B\",\"A\"]}", 400, "body.otus[2]: repeats "
           "otus[0]");
}

/* A member name could be an ID sent in the wrong place: it is never shown. */
static void test_request__unknown_member_not_echoed(void) {
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{},\"" RAW "\":1}]}", 400,
           "samples[0]: a member other than");
    EXPECT("{\"samples\":[{\"id\":\"a\",\"abundances\":{},\"" RAW "\":{}}]}", 400,
           "not shown");
}

/* Feature IDs are shown as printable ASCII, cut to 64 bytes. */
static void test_request__feature_ids_shown_safely(void) {
    EXPECT("{\"id\":\"a\",\"abundances\":{\"bad\\u001b[31m\\u00e9\":-1}}", 400,
           "body.abundances.bad?[31m??: expected");
    char body[512], want[128];
    snprintf(body, sizeof body, "{\"id\":\"a\",\"abundances\":{\"%0100d\":-2}}", 7);
    snprintf(want, sizeof want, "body.abundances.%064d...: expected", 0);
    EXPECT(body, 400, want);
}

static void test_request__limits(void) {
    EXPECT("{\"samples\":[{\"id\":\"1\",\"otus\":[]},{\"id\":\"2\",\"otus\":[]},{\"id\":\"3\","
           "\"otus\":[]},{\"id\":\"4\",\"otus\":[]},{\"id\":\"" RAW "\",\"otus\":[]}]}",
           413, "samples: more than 4 samples (at most 4 in one request)");
    char id[300];
    memset(id, 'i', 257);
    id[257] = '\0';
    char body[400];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"abundances\":{}}", id);
    EXPECT(body, 400, "body.id: expected a string of 1 to 256 bytes");
    size_t big = ML__SERVE_MAX_BODY_BYTES + 1;
    char *huge = malloc(big);
    if (huge) {
        memset(huge, ' ', big);
        int status = 0;
        char reason[ML__SERVE_REASON_BYTES];
        CHECK_STATUS(ml__serve_request_parse(&req, huge, big, MAX_SAMPLES, &status, reason,
                                             sizeof reason),
                     ML_OK);
        CHECK_EQ_INT(status, 413);
        free(huge);
    }
}

/* ---- Through ml_serve_predict: JSON error bodies, 422, pseudonyms --------------------------- */

static ml_serve_model *small_model(ml_pseudonym_key *key, char *dir) {
    const char *table = "sample\tA\tB\tC\ns1\t5\t1\t0\ns2\t6\t0\t1\ns3\t1\t7\t2\ns4\t0\t8\t1\n"
                        "s5\t7\t1\t1\ns6\t1\t6\t0\n";
    const char *labels = "sid,label\ns1,x\ns2,x\ns3,y\ns4,y\ns5,x\ns6,y\n";
    ml_table *t = NULL;
    ml_labels *l = NULL;
    ml_join *j = NULL;
    ml_model_bundle *b = NULL;
    ml_serve_model *m = NULL;
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    ro.orientation = ML_ORIENT_SAMPLES_AS_ROWS;
    ml_evaluate_options eo = ML_EVALUATE_OPTIONS_INIT;
    eo.n_folds = 2;
    CHECK_STATUS(ml_table_parse(&t, table, strlen(table), "t.tsv", &ro), ML_OK);
    CHECK_STATUS(ml_labels_parse(&l, labels, strlen(labels), "l.csv", NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&j, t, l, "y"), ML_OK);
    CHECK_STATUS(ml_model_bundle_fit(&b, t, j, &eo), ML_OK);
    CHECK_STATUS(ml_model_bundle_save(b, dir, NULL), ML_OK);
    ml_serve_model_options o = ML_SERVE_MODEL_OPTIONS_INIT;
    o.id_key = key;
    o.max_samples = MAX_SAMPLES;
    CHECK_STATUS(ml_serve_model_load(&m, dir, &o), ML_OK);
    ml_model_bundle_free(b);
    ml_join_free(j);
    ml_labels_free(l);
    ml_table_free(t);
    return m;
}

static void expect_outcome(const ml_serve_model *m, const char *body, int status,
                           const char *want) {
    ml_serve_outcome out;
    CHECK_STATUS(ml_serve_predict(m, body, strlen(body), &out), ML_OK);
    CHECK_EQ_INT(out.http_status, status);
    CHECK(out.body && !strstr(out.body, RAW) && strlen(out.body) == out.body_len);
    json_t *doc = out.body ? json_loads(out.body, 0, NULL) : NULL;
    if (status != 200) {
        json_t *e = json_object_get(doc, "error");
        CHECK_EQ_INT(json_integer_value(json_object_get(e, "status")), status);
        const char *reason = json_string_value(json_object_get(e, "reason"));
        CHECK(reason && strstr(reason, want));
        CHECK(status == 422 ? out.pseudonyms != NULL : out.pseudonyms == NULL);
    }
    for (size_t i = 0; out.pseudonyms && i < out.n_samples; i++) {
        CHECK(ml_pseudonym_is_pseudonym(out.pseudonyms[i]));
        CHECK(!strstr(out.pseudonyms[i], RAW));
    }
    json_decref(doc);
    ml_serve_outcome_clear(&out);
}

static void test_request__predict_outcomes(void) {
    ml_pseudonym_key *key = NULL;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&key, "0123456789abcdef0123456789abcdef"), ML_OK);
    char dir[] = "/tmp/ml_test_request_XXXXXX";
    if (!mkdtemp(dir)) return;
    ml_serve_model *m = small_model(key, dir);
    if (m) {
        expect_outcome(m, "{\"samples\":[", 400, "ends early");
        expect_outcome(m, "{\"samples\":[{\"id\":\"1\",\"otus\":[]},{\"id\":\"2\",\"otus\":[]},"
                          "{\"id\":\"3\",\"otus\":[]},{\"id\":\"4\",\"otus\":[]},"
                          "{\"id\":\"5\",\"otus\":[]}]}",
                       413, "at most 4");
        expect_outcome(m, "{\"id\":\"" RAW "\",\"otus\":[\"A\"]}", 422,
                       "samples[0].otus: this model needs abundances");
        expect_outcome(m, "{\"samples\":[{\"id\":\"a\",\"abundances\":{\"A\":1}},{\"id\":\"" RAW
                          "\",\"abundances\":{\"Q\":1,\"R\":2}}]}",
                       422, "samples[1]: none of its 2 features is known");
        expect_outcome(m, "{\"id\":\"" RAW "\",\"abundances\":{\"A\":3,\"B\":1,\"Q\":9}}", 200, "");
        ml_serve_outcome out;
        const char *ok = "{\"id\":\"" RAW "\",\"abundances\":{\"A\":3,\"Q\":9,\"R\":1}}";
        CHECK_STATUS(ml_serve_predict(m, ok, strlen(ok), &out), ML_OK);
        CHECK_EQ_INT(out.n_unknown_features, 2);
        CHECK_EQ_INT(out.n_samples, 1);
        char want[ML_PSEUDONYM_SIZE];
        ml_pseudonym_make(key, RAW, strlen(RAW), want);
        CHECK(out.pseudonyms && strcmp(out.pseudonyms[0], want) == 0);
        CHECK(out.body && strstr(out.body, want) && strstr(out.body, "\"unknown_features\":2"));
        ml_serve_outcome_clear(&out);
        CHECK(out.body == NULL && out.pseudonyms == NULL);
    }
    ml_serve_model_release(m);
    char p[64];
    snprintf(p, sizeof p, "%s/card.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
    ml_pseudonym_key_free(key);
}

int main(void) {
    RUN(test_request__accepts_batch_and_single);
    RUN(test_request__malformed_json);
    RUN(test_request__duplicate_keys);
    RUN(test_request__nesting_bounded_by_schema);
    RUN(test_request__decodes_like_jansson);
    RUN(test_request__schema_reasons);
    RUN(test_request__unknown_member_not_echoed);
    RUN(test_request__feature_ids_shown_safely);
    RUN(test_request__limits);
    RUN(test_request__predict_outcomes);
    TEST_MAIN_END();
}
