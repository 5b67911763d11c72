/* fuzz_serve_request.c - hostile bytes as a POST /v1/predict body (ml__serve_request_parse),
 * held to an oracle: jansson (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL) plus the
 * schema checked on its tree. Both must accept the same bodies and, when they do, agree on
 * every sample ID's bytes, every key's bytes and order, every value's bits and each total.
 * A refusal must be 400 or 413 with a reason of printable ASCII that becomes a JSON error body
 * jansson reads back. Each input is parsed twice into one request, as a pool worker reuses it.
 * A NUL byte is never valid JSON, and must be refused; jansson is not asked about it, since it
 * skips a NUL it has pushed back after a number (it reads {"A":1\0} as {"A":1}). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SAMPLES 8 /* small, so that 413 is reachable */

/* ---- The oracle: jansson's tree, the schema checked on it ------------------------------------ */

static int ref_abundances(json_t *a) {
    const char *key;
    json_t *v;
    double total = 0;
    if (!json_is_object(a)) return 0;
    json_object_foreach(a, key, v) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0)) return 0;
        total += json_number_value(v);
    }
    return isfinite(total);
}

static int ref_otus(json_t *a) {
    if (!json_is_array(a)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i))) return 0;
        for (size_t k = 0; k < i; k++)
            if (json_equal(json_array_get(a, i), json_array_get(a, k))) return 0;
    }
    return 1;
}

static int ref_sample(json_t *o) {
    if (!json_is_object(o)) return 0;
    json_t *id = json_object_get(o, "id"), *ab = json_object_get(o, "abundances");
    json_t *otus = json_object_get(o, "otus");
    size_t known = (size_t)(id != NULL) + (size_t)(ab != NULL) + (size_t)(otus != NULL);
    if (json_object_size(o) != known || !json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > ML__SERVE_ID_MAX_BYTES || (ab != NULL) == (otus != NULL))
        return 0;
    return ab ? ref_abundances(ab) : ref_otus(otus);
}

/* The samples jansson's tree holds when the schema accepts it, else NULL. */
static json_t *ref_samples(json_t *root) {
    if (!json_is_object(root)) return NULL;
    json_t *s = json_object_get(root, "samples");
    if (!s) return ref_sample(root) ? json_pack("[O]", root) : NULL;
    if (json_object_size(root) != 1 || !json_is_array(s) || json_array_size(s) == 0 ||
        json_array_size(s) > MAX_SAMPLES)
        return NULL;
    for (size_t i = 0; i < json_array_size(s); i++)
        if (!ref_sample(json_array_get(s, i))) return NULL;
    return json_incref(s);
}

/* ---- The comparison ------------------------------------------------------------------------- */

static void same_bytes(const char *a, size_t na, const char *b, size_t nb) {
    if (na != nb || memcmp(a, b, na) != 0 || a[na] != '\0') __builtin_trap();
}

static void same_number(double a, double b) {
    if (memcmp(&a, &b, sizeof a) != 0) __builtin_trap();
}

static void compare_sample(const ml__serve_request *req, const ml__serve_sample *s, json_t *o) {
    json_t *id = json_object_get(o, "id"), *ab = json_object_get(o, "abundances");
    same_bytes(s->id, s->id_len, json_string_value(id), json_string_length(id));
    if (s->is_otus != (ab == NULL)) __builtin_trap();
    const ml__serve_entry *e = req->entries + s->first;
    if (s->is_otus) {
        json_t *otus = json_object_get(o, "otus");
        if (s->n != json_array_size(otus) || s->total != 0) __builtin_trap();
        for (size_t k = 0; k < s->n; k++) {
            json_t *x = json_array_get(otus, k);
            same_bytes(e[k].key, e[k].key_len, json_string_value(x), json_string_length(x));
        }
        return;
    }
    if (s->n != json_object_size(ab)) __builtin_trap();
    size_t k = 0;
    double total = 0;
    for (void *it = json_object_iter(ab); it; it = json_object_iter_next(ab, it), k++) {
        same_bytes(e[k].key, e[k].key_len, json_object_iter_key(it), json_object_iter_key_len(it));
        same_number(e[k].value, json_number_value(json_object_iter_value(it)));
        total += e[k].value;
    }
    same_number(s->total, total);
}

static void check_refused(int status, const char *reason) {
    if ((status != 400 && status != 413) || !reason[0]) __builtin_trap();
    for (const char *p = reason; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) __builtin_trap();
    ml_serve_outcome out;
    memset(&out, 0, sizeof out);
    if (ml__serve_error_body(&out, status, reason) != ML_OK) return; /* out of memory */
    json_t *doc = json_loadb(out.body, out.body_len, 0, NULL);
    json_t *r = json_object_get(json_object_get(doc, "error"), "reason");
    if (!json_is_string(r) || strcmp(json_string_value(r), reason) != 0) __builtin_trap();
    json_decref(doc);
    ml_serve_outcome_clear(&out);
}

static void check_once(ml__serve_request *req, const uint8_t *data, size_t size, json_t *want) {
    int status = 0;
    char reason[ML__SERVE_REASON_BYTES];
    if (ml__serve_request_parse(req, (const char *)data, size, MAX_SAMPLES, &status, reason,
                                sizeof reason) != ML_OK)
        return; /* out of memory */
    if ((status == 200) != (want != NULL)) __builtin_trap();
    if (status != 200) {
        if (req->n_samples != 0) __builtin_trap();
        check_refused(status, reason);
        return;
    }
    if (req->n_samples != json_array_size(want)) __builtin_trap();
    for (size_t i = 0; i < req->n_samples; i++)
        compare_sample(req, &req->samples[i], json_array_get(want, i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int has_nul = size > 0 && memchr(data, 0, size) != NULL;
    json_t *root = has_nul ? NULL : json_loadb((const char *)data, size,
                                               JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                                               NULL);
    json_t *want = ref_samples(root);
    ml__serve_request req = ML__SERVE_REQUEST_INIT;
    check_once(&req, data, size, want);
    check_once(&req, data, size, want);
    ml__serve_request_free(&req);
    json_decref(want);
    json_decref(root);
    return 0;
}
