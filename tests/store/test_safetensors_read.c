/* test_safetensors_read.c - what the strict safetensors reader promises: the reference
 * implementation's sample files and a PEFT adapter read with the right dtypes, shapes and
 * values (checked against tests/oracle/safetensors_values.py, json + numpy), a round trip
 * with the writer, one refusal per rule with the rule named, and pickled checkpoints refused. */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/safetensors.h"
#include "ml_test.h"

#define SAMPLES ML_SOURCE_DIR "/../shared/fixtures/safetensors-samples/"
#define PEFT ML_SOURCE_DIR "/../shared/fixtures/peft-tiny-lora/"
#define ORACLE "/usr/bin/python3 " ML_SOURCE_DIR "/tests/oracle/safetensors_values.py"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* A file image: an 8-byte length (header_len, or strlen(json) when ~0), json, data_len bytes
 * of 0xab. Returns its length. */
static unsigned char image[1 << 16];

static size_t build_with_len(uint64_t header_len, const char *json, size_t json_len,
                             size_t data_len) {
    for (int i = 0; i < 8; i++) image[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(image + 8, json, json_len);
    memset(image + 8 + json_len, 0xab, data_len);
    return 8 + json_len + data_len;
}

static size_t build(const char *json, size_t data_len) {
    return build_with_len(strlen(json), json, strlen(json), data_len);
}

static int is_oracle_missing(void) {
    if (access("/usr/bin/python3", X_OK) == 0) return 0;
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        CHECK(!"CI=true requires /usr/bin/python3 (with numpy) for the oracle");
    } else {
        fprintf(stderr, "skip: /usr/bin/python3 not found\n");
    }
    return 1;
}

/* ---- reading files written by the reference implementation ------------------------------ */

static int is_float_dtype(ml_dtype d) {
    return d == ML_DTYPE_F32 || d == ML_DTYPE_F16 || d == ML_DTYPE_BF16 || d == ML_DTYPE_F64;
}

static void format_shape(char *dst, size_t cap, const ml_tensor_view *t) {
    size_t len = 0;
    dst[0] = '\0';
    if (t->n_dims == 0) snprintf(dst, cap, "scalar");
    for (size_t d = 0; d < t->n_dims && len < cap; d++)
        len += (size_t)snprintf(dst + len, cap - len, d ? "x%zu" : "%zu", t->shape[d]);
}

/* Element k of an integer tensor, sign-extended for signed dtypes, as text. */
static void format_int(char *dst, size_t cap, const ml_tensor_view *t, size_t k) {
    size_t size = ml_dtype_size(t->dtype);
    const unsigned char *p = (const unsigned char *)t->data + k * size;
    uint64_t v = 0;
    for (size_t i = size; i-- > 0;) v = (v << 8) | p[i];
    int is_signed = t->dtype == ML_DTYPE_I8 || t->dtype == ML_DTYPE_I16 ||
                    t->dtype == ML_DTYPE_I32 || t->dtype == ML_DTYPE_I64;
    if (is_signed && size < 8 && (v >> (8 * size - 1)) & 1) v |= ~(uint64_t)0 << (8 * size);
    if (is_signed)
        snprintf(dst, cap, "%lld", (long long)v);
    else
        snprintf(dst, cap, "%llu", (unsigned long long)v);
}

/* Splits off the next space-separated word of *p (NUL-terminating it), or returns NULL. */
static char *next_word(char **p) {
    char *s = *p + strspn(*p, " \n");
    if (!*s) return NULL;
    char *e = s + strcspn(s, " \n");
    *p = *e ? e + 1 : e;
    *e = '\0';
    return s;
}

/* Checks one oracle line "name dtype shape count fsum v0 v1 ..." against the open file. */
static void check_oracle_line(const ml_safetensors *st, char *line) {
    char *name = next_word(&line), *dtype = next_word(&line), *shape = next_word(&line);
    char *count = next_word(&line), *fsum = next_word(&line);
    if (name && dtype && shape && strcmp(name, "meta") == 0) { /* "meta key value" */
        CHECK_STR(ml_safetensors_metadata_find(st, dtype), shape);
        return;
    }
    CHECK(name && dtype && shape && count && fsum);
    if (!name || !dtype || !shape || !count || !fsum) return;
    const ml_tensor_view *t = ml_safetensors_find(st, name);
    CHECK(t != NULL);
    if (!t) return;
    char got[128];
    CHECK_STR(ml_dtype_name(t->dtype), dtype);
    format_shape(got, sizeof got, t);
    CHECK_STR(got, shape);
    size_t n = ml_tensor_view_n_elements(t);
    CHECK_EQ_INT(n, strtoll(count, NULL, 10));
    float *f = is_float_dtype(t->dtype) ? malloc((n ? n : 1) * sizeof *f) : NULL;
    if (f) {
        CHECK_STATUS(ml_safetensors_read_f32(t, f), ML_OK);
        double sum = 0;
        for (size_t k = 0; k < n; k++) sum += f[k];
        CHECK_NEAR(sum, strtod(fsum, NULL), 1e-9 * (1.0 + fabs(sum)));
    }
    char *v;
    for (size_t k = 0; (v = next_word(&line)); k++) {
        CHECK(k < n);
        if (k >= n) break;
        if (f) {
            CHECK(f[k] == (float)strtod(v, NULL));
        } else {
            format_int(got, sizeof got, t, k);
            CHECK_STR(got, v);
        }
    }
    free(f);
}

/* Opens path, runs the oracle on it and compares every line; returns the tensor count. */
static size_t check_against_oracle(const char *path) {
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_OK);
    if (!st) return 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, ORACLE " '%s'", path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n_lines = 0, n_meta = 0;
    static char line[1 << 16];
    while (p && fgets(line, sizeof line, p)) {
        if (strncmp(line, "meta ", 5) == 0) n_meta++;
        else n_lines++;
        check_oracle_line(st, line);
    }
    if (p) CHECK_EQ_INT(pclose(p), 0);
    CHECK_EQ_INT(ml_safetensors_n_tensors(st), n_lines);
    CHECK_EQ_INT(ml_safetensors_n_metadata(st), n_meta);
    ml_safetensors_close(st);
    return n_lines;
}

static void test_safetensors_read__reads_every_reference_sample_like_numpy(void) {
    if (is_oracle_missing()) return;
    DIR *d = opendir(SAMPLES);
    CHECK(d != NULL);
    if (!d) return;
    size_t n_files = 0, n_tensors = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s%s", SAMPLES, e->d_name);
        n_tensors += check_against_oracle(path);
        n_files++;
    }
    closedir(d);
    CHECK_EQ_INT(n_files, 10);   /* B H I b d e f h i overall */
    CHECK_EQ_INT(n_tensors, 18); /* one each, nine in overall */
}

static void test_safetensors_read__reads_sample_values_without_python(void) {
    /* Values computed at test-writing time with numpy from the raw bytes. */
    static const float want[6] = {-3, -2, -1, 0, 1, 2};
    const char *files[] = {SAMPLES "f.safetensors", SAMPLES "e.safetensors",
                           SAMPLES "d.safetensors"};
    const ml_dtype dtypes[] = {ML_DTYPE_F32, ML_DTYPE_F16, ML_DTYPE_F64};
    for (size_t i = 0; i < 3; i++) {
        ml_safetensors *st = NULL;
        CHECK_STATUS(ml_safetensors_open(&st, files[i]), ML_OK);
        if (!st) continue;
        CHECK_EQ_INT(ml_safetensors_n_tensors(st), 1);
        const ml_tensor_view *t = ml_safetensors_tensor(st, 0);
        CHECK_EQ_INT(t->dtype, dtypes[i]);
        CHECK_EQ_INT(t->n_dims, 1);
        CHECK_EQ_INT(t->shape[0], 6);
        float got[6] = {0};
        CHECK_STATUS(ml_safetensors_read_f32(t, got), ML_OK);
        for (int k = 0; k < 6; k++) CHECK(got[k] == want[k]);
        CHECK_STR(ml_safetensors_metadata_find(st, "test"), "a");
        CHECK(ml_safetensors_tensor(st, 1) == NULL);
        ml_safetensors_close(st);
    }
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, SAMPLES "I.safetensors"), ML_OK);
    if (!st) return;
    const ml_tensor_view *t = ml_safetensors_find(st, "I");
    CHECK(t && t->dtype == ML_DTYPE_U32 && ml_tensor_view_n_bytes(t) == 24);
    uint32_t first = 0;
    if (t) memcpy(&first, t->data, sizeof first);
    CHECK(t && first == 4294967293u);
    ml_safetensors_close(st);
}

static void test_safetensors_read__unaligned_tensors_read_safely(void) {
    /* overall.safetensors has a 526-byte header, so "d" (F64 at data offset 48) starts at
     * file byte 582 and "f" (F32 at 108) at 642: neither is aligned in the map. */
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, SAMPLES "overall.safetensors"), ML_OK);
    if (!st) return;
    CHECK_EQ_INT(ml_safetensors_n_tensors(st), 9);
    static const char *by_offset[] = {"B", "H", "I", "b", "d", "e", "f", "h", "i"};
    for (size_t i = 0; i < 9; i++) CHECK_STR(ml_safetensors_tensor(st, i)->name, by_offset[i]);
    const ml_tensor_view *d = ml_safetensors_find(st, "d"), *f = ml_safetensors_find(st, "f");
    CHECK(d && f);
    if (!d || !f) goto done;
    CHECK_EQ_INT(ml_tensor_view_is_aligned(d), 0);
    CHECK_EQ_INT(ml_tensor_view_is_aligned(f), 0);
    CHECK_EQ_INT(ml_tensor_view_is_aligned(ml_safetensors_find(st, "B")), 1);
    float got[6];
    CHECK_STATUS(ml_safetensors_read_f32(d, got), ML_OK);
    CHECK(got[0] == -3.0f && got[5] == 2.0f);
    CHECK_STATUS(ml_safetensors_read_f32(f, got), ML_OK);
    CHECK(got[0] == -3.0f && got[5] == 2.0f);
    CHECK(ml_safetensors_find(st, "missing") == NULL);
    CHECK(ml_safetensors_find(st, "__metadata__") == NULL);
    CHECK_STR(ml_safetensors_metadata(st, 0)->key, "test");
    CHECK(ml_safetensors_metadata(st, 1) == NULL);
done:
    ml_safetensors_close(st);
}

static void test_safetensors_read__reads_peft_adapter_matching_its_config(void) {
    json_error_t jerr;
    json_t *cfg = json_load_file(PEFT "adapter_config.json", 0, &jerr);
    CHECK(cfg != NULL);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, PEFT "adapter_model.safetensors"), ML_OK);
    if (!cfg || !st) goto done;
    size_t r = (size_t)json_integer_value(json_object_get(cfg, "r"));
    json_t *targets = json_object_get(cfg, "target_modules");
    CHECK_EQ_INT(r, 8);
    CHECK_EQ_INT(json_array_size(targets), 2);
    size_t n = ml_safetensors_n_tensors(st), n_a = 0, n_b = 0;
    CHECK_EQ_INT(n, 24);
    for (size_t i = 0; i < n; i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        int layer = -1, used = 0;
        char module[32] = "", ab = 0;
        CHECK(sscanf(t->name, "base_model.model.transformer.h.%d.attn.%31[a-z_].lora_%c.weight%n",
                     &layer, module, &ab, &used) == 3 && t->name[used] == '\0');
        CHECK(layer >= 0 && layer < 6);
        int is_target = 0;
        for (size_t k = 0; k < json_array_size(targets); k++)
            is_target |= strcmp(module, json_string_value(json_array_get(targets, k))) == 0;
        CHECK(is_target);
        CHECK_EQ_INT(t->dtype, ML_DTYPE_F32);
        CHECK_EQ_INT(t->n_dims, 2);
        if (ab == 'A') { /* (r, in_features) */
            n_a++;
            CHECK_EQ_INT(t->shape[0], r);
            CHECK_EQ_INT(t->shape[1], 768);
        } else { /* (out_features, r): c_attn projects to q, k, v */
            n_b++;
            CHECK_EQ_INT(t->shape[0], strcmp(module, "c_attn") == 0 ? 2304 : 768);
            CHECK_EQ_INT(t->shape[1], r);
        }
        CHECK(ml_tensor_view_is_aligned(t));
        CHECK(ml_safetensors_find(st, t->name) == t);
    }
    CHECK_EQ_INT(n_a, 12);
    CHECK_EQ_INT(n_b, 12);
    ml_safetensors_close(st);
    st = NULL;
    if (!is_oracle_missing())
        CHECK_EQ_INT(check_against_oracle(PEFT "adapter_model.safetensors"), 24);
done:
    ml_safetensors_close(st);
    json_decref(cfg);
}

/* ---- round trip with the writer -------------------------------------------------------- */

static void test_safetensors_read__round_trips_the_writer(void) {
    static const float w[6] = {1, 2, 3, 4, 5, 6};
    static const uint16_t half[3] = {0x3c00, 0xc000, 0x7c00}; /* 1, -2, inf */
    static const uint16_t u16[2] = {1, 65535};
    static const uint32_t u32[1] = {4000000000u};
    static const uint64_t u64[1] = {UINT64_MAX};
    static const int8_t i8[3] = {-128, 0, 127};
    static const double scalar[1] = {0.25};
    ml_tensor_view t[8] = {
        {"w", ML_DTYPE_F32, 2, {2, 3}, w},       {"half", ML_DTYPE_F16, 1, {3}, half},
        {"u16", ML_DTYPE_U16, 1, {2}, u16},      {"u32", ML_DTYPE_U32, 1, {1}, u32},
        {"u64", ML_DTYPE_U64, 1, {1}, u64},      {"i8", ML_DTYPE_I8, 1, {3}, i8},
        {"empty", ML_DTYPE_F64, 2, {3, 0}, NULL}, {"s", ML_DTYPE_F64, 0, {0}, scalar}};
    const ml_kv md[2] = {{"format", "pt"}, {"note", "caf\xc3\xa9"}};
    const char *path = tmp_path("rt.safetensors");
    CHECK_STATUS(ml_safetensors_write(path, t, 8, md, 2), ML_OK);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_OK);
    if (!st) return;
    CHECK_EQ_INT(ml_safetensors_n_tensors(st), 8);
    for (size_t i = 0; i < 8; i++) {
        const ml_tensor_view *g = ml_safetensors_find(st, t[i].name);
        CHECK(g != NULL);
        if (!g) continue;
        CHECK_EQ_INT(g->dtype, t[i].dtype);
        CHECK_EQ_INT(g->n_dims, t[i].n_dims);
        for (size_t d = 0; d < t[i].n_dims; d++) CHECK_EQ_INT(g->shape[d], t[i].shape[d]);
        size_t nb = ml_tensor_view_n_bytes(&t[i]);
        CHECK_EQ_INT(ml_tensor_view_n_bytes(g), nb);
        CHECK(nb == 0 ? g->data == NULL : memcmp(g->data, t[i].data, nb) == 0);
        CHECK(ml_tensor_view_is_aligned(g)); /* the writer's promise */
    }
    CHECK_STR(ml_safetensors_metadata_find(st, "note"), "caf\xc3\xa9");
    CHECK_STR(ml_safetensors_metadata(st, 0)->key, "format");
    CHECK(ml_safetensors_metadata_find(st, "absent") == NULL);
    float h[3];
    CHECK_STATUS(ml_safetensors_read_f32(ml_safetensors_find(st, "half"), h), ML_OK);
    CHECK(h[0] == 1.0f && h[1] == -2.0f && isinf(h[2]) && h[2] > 0);
    float s = 0;
    CHECK_STATUS(ml_safetensors_read_f32(ml_safetensors_find(st, "s"), &s), ML_OK);
    CHECK(s == 0.25f);
    CHECK_EQ_INT(ml_tensor_view_n_elements(ml_safetensors_find(st, "s")), 1);
    ml_safetensors_close(st);
}

/* ---- accepted edge cases ---------------------------------------------------------------- */

static void test_safetensors_read__accepts_empty_tensors_and_whitespace_padding(void) {
    ml_safetensors *st = NULL;
    size_t n = build("{}", 0);
    CHECK_STATUS(ml_safetensors_parse_buffer(&st, image, n, "empty.safetensors"), ML_OK);
    CHECK(st && ml_safetensors_n_tensors(st) == 0 && ml_safetensors_n_metadata(st) == 0);
    ml_safetensors_close(st);
    st = NULL;
    n = build("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
              "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
              "\"e\":{\"dtype\":\"I64\",\"shape\":[4,0],\"data_offsets\":[0,0]}} \t\r\n  ",
              2);
    CHECK_STATUS(ml_safetensors_parse_buffer(&st, image, n, NULL), ML_OK);
    if (!st) return;
    CHECK_STR(ml_safetensors_tensor(st, 0)->name, "e"); /* (0,0) before (0,2) before (2,2) */
    CHECK_STR(ml_safetensors_tensor(st, 1)->name, "a");
    CHECK_STR(ml_safetensors_tensor(st, 2)->name, "z");
    CHECK(ml_safetensors_find(st, "z")->data == NULL);
    CHECK_EQ_INT(ml_tensor_view_n_elements(ml_safetensors_find(st, "z")), 0);
    CHECK(ml_safetensors_find(st, "a")->data == image + n - 2);
    ml_safetensors_close(st);
    ml_safetensors_close(NULL);
}

/* ---- one refusal per rule --------------------------------------------------------------- */

static void check_refused_n(size_t n, const char *rule) {
    ml_safetensors *st = (ml_safetensors *)&st; /* sentinel: must stay untouched */
    CHECK_STATUS(ml_safetensors_parse_buffer(&st, image, n, "bad.safetensors"), ML_EFORMAT);
    CHECK(st == (ml_safetensors *)&st);
    CHECK_ERR_CONTAINS("bad.safetensors: ");
    CHECK_ERR_CONTAINS(rule);
}

static void check_refused(const char *json, size_t data_len, const char *rule) {
    check_refused_n(build(json, data_len), rule);
}

#define T(name, dtype, shape, offsets)                                                       \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static void test_safetensors_read__rejects_short_file_and_bad_header_length(void) {
    memcpy(image, "\x02\0\0\0\0\0\0", 7);
    check_refused_n(7, "(rule: a file starts with its header length)");
    check_refused_n(0, "0 bytes, shorter than the 8-byte header length");
    check_refused_n(build_with_len(100000001, "{}", 2, 0), "(rule: header at most 100 MB)");
    check_refused_n(build_with_len(UINT64_MAX, "{}", 2, 0), "(rule: header at most 100 MB)");
    check_refused_n(build_with_len(3, "{}", 2, 0), "(rule: the header must fit in the file)");
}

static void test_safetensors_read__rejects_bad_header_text(void) {
    check_refused("{\"a\xff\":{}}", 0,
                  "byte 3 is not valid UTF-8 (rule: the header must be UTF-8)");
    check_refused("{\"\xed\xa0\x80\":{}}", 0, "(rule: the header must be UTF-8)");
    check_refused("{\"a\":", 0, "(rule: the header must be valid JSON)");
    check_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", 4,
                  "(rule: the header must be valid JSON)");
    check_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,"
                  "99999999999999999999]}}", 0, "(rule: the header must be valid JSON)");
    check_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8,
                  "(rule: tensor names and keys must be unique)");
    check_refused("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],"
                  "\"data_offsets\":[0,4]}}", 4, "(rule: tensor names and keys must be unique)");
    check_refused("[1]", 0, "(rule: the header must be a JSON object from its first byte)");
    check_refused(" {}", 0, "(rule: the header must be a JSON object from its first byte)");
    check_refused("", 0, "(rule: the header must be a JSON object from its first byte)");
    check_refused("{} x", 0, "byte 3 after the JSON object is not padding (rule: the header "
                             "may end only with spaces)");
    check_refused_n(build_with_len(4, "{}\0\0", 4, 0),
                    "(rule: the header may end only with spaces)");
}

static void test_safetensors_read__rejects_bad_dtype_and_entries(void) {
    check_refused("{" T("w", "F8_E4M3", "[1]", "[0,1]") "}", 1,
                  "\"w\": unknown dtype \"F8_E4M3\" (rule: dtype must be one of");
    check_refused("{" T("w", "f32", "[1]", "[0,4]") "}", 4, "(rule: dtype must be one of");
    check_refused("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "\"w\": dtype is not a string");
    check_refused("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "\"w\": no dtype (rule: each tensor has dtype, shape and data_offsets)");
    check_refused("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                  "\"w\": no shape (rule: each tensor has dtype, shape and data_offsets)");
    check_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                  "\"w\": no data_offsets (rule: each tensor has dtype, shape and data_offsets)");
    check_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                  "\"w\": entry has keys other than dtype, shape and data_offsets (rule: no "
                  "extra keys)");
    check_refused("{\"w\":[1]}", 0,
                  "\"w\": entry is not an object (rule: each tensor is an object");
}

static void test_safetensors_read__rejects_bad_shape(void) {
    static const char *shapes[] = {"{}", "[-1]", "[1.0]", "[\"2\"]", "[null]", "2"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"w\":{\"dtype\":\"U8\",\"shape\":%s,\"data_offsets\":[0,1]}}", shapes[i]);
        check_refused(json, 1, "(rule: shape must be an array of non-negative integers)");
    }
    check_refused("{" T("w", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1,
                  "(rule: at most 8 dimensions, a microlens limit)");
}

static void test_safetensors_read__rejects_bad_offsets_and_sizes(void) {
    static const char *offsets[] = {"[0]", "[0,4,8]", "[0,\"4\"]", "[-1,3]", "{}", "[0,4.0]"};
    for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":%s}}",
                 offsets[i]);
        check_refused(json, 4, "(rule: data_offsets must be two non-negative integers)");
    }
    check_refused("{" T("w", "F32", "[1]", "[4,0]") "}", 4, "(rule: begin <= end)");
    check_refused("{" T("w", "F32", "[2]", "[0,4]") "}", 4,
                  "\"w\": shape and dtype give 8 bytes but data_offsets span 4 (rule: byte size "
                  "must equal end - begin)");
    check_refused("{" T("w", "F32", "[]", "[0,0]") "}", 0, "give 4 bytes but data_offsets span 0");
    check_refused("{" T("w", "F32", "[4294967296,4294967296]", "[0,0]") "}", 0,
                  "byte size of the shape overflows 63 bits");
    check_refused("{" T("w", "U8", "[0,4294967296,4294967296]", "[0,0]") "}", 0,
                  "overflows 63 bits");
}

static void test_safetensors_read__rejects_bad_layout(void) {
    check_refused("{" T("w", "F32", "[1]", "[4,8]") "}", 8,
                  "data_offsets of \"w\" start at 4, the first tensor (rule: offsets must start "
                  "at 0)");
    check_refused("{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}", 12,
                  "data_offsets of \"b\" [4, 12] overlap \"a\" [0, 8] (rule: tensors must not "
                  "overlap)");
    check_refused("{" T("a", "F32", "[2]", "[0,8]") "," T("z", "F32", "[0]", "[4,4]") "}", 8,
                  "(rule: tensors must not overlap)");
    check_refused("{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}", 12,
                  "4 bytes between \"a\" (ends at 4) and \"b\" belong to no tensor (rule: no "
                  "gaps between tensors)");
    check_refused("{" T("a", "F32", "[1]", "[0,4]") "}", 8,
                  "tensors end at offset 4 of a 8-byte data section (rule: tensors must cover "
                  "the data section exactly)");
    check_refused("{" T("a", "F32", "[2]", "[0,8]") "}", 4,
                  "(rule: tensors must cover the data section exactly)");
    check_refused("{}", 3, "(rule: tensors must cover the data section exactly)");
}

static void test_safetensors_read__rejects_bad_metadata(void) {
    check_refused("{\"__metadata__\":[]}", 0,
                  "__metadata__ is not an object (rule: __metadata__ must map strings to "
                  "strings)");
    check_refused("{\"__metadata__\":null}", 0, "(rule: __metadata__ must map strings to strings)");
    check_refused("{\"__metadata__\":{\"a\":\"x\",\"n\":1}}", 0,
                  "__metadata__.\"n\" is not a string (rule: __metadata__ values must be "
                  "strings)");
    check_refused("{\"__metadata__\":{\"a\":{}}}", 0,
                  "(rule: __metadata__ values must be strings)");
    check_refused("{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                  "(rule: tensor names and keys must be unique)");
}

static void test_safetensors_read__open_names_the_path_and_reports_io(void) {
    const char *path = tmp_path("gap.safetensors");
    size_t n = build("{" T("a", "U8", "[1]", "[0,1]") "}", 2);
    write_bytes(path, image, n);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_EFORMAT);
    CHECK(st == NULL);
    CHECK_ERR_CONTAINS(path);
    CHECK_ERR_CONTAINS("(rule: tensors must cover the data section exactly)");
    write_bytes(tmp_path("zero.safetensors"), "", 0);
    CHECK_STATUS(ml_safetensors_open(&st, tmp_path("zero.safetensors")), ML_EFORMAT);
    CHECK_ERR_CONTAINS("shorter than the 8-byte header length");
    CHECK_STATUS(ml_safetensors_open(&st, tmp_path("absent.safetensors")), ML_ENOTFOUND);
    CHECK_STATUS(ml_safetensors_open(&st, tmpdir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("not a regular file");
    CHECK(mkfifo(tmp_path("fifo"), 0600) == 0); /* must not block waiting for a writer */
    CHECK_STATUS(ml_safetensors_open(&st, tmp_path("fifo")), ML_EFORMAT);
    CHECK_ERR_CONTAINS("not a regular file");
    CHECK_STATUS(ml_pickle_refuse(tmp_path("fifo")), ML_OK);
    CHECK_STATUS(ml_safetensors_parse_buffer(&st, NULL, 4, "x"), ML_EINVAL);
    CHECK(st == NULL);
}

/* ---- pickled checkpoints ---------------------------------------------------------------- */

static void check_pickle_refused(const char *name, const void *bytes, size_t n, const char *why) {
    const char *path = tmp_path(name);
    write_bytes(path, bytes, n);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_EFORMAT);
    CHECK(st == NULL);
    CHECK_ERR_CONTAINS("tools/convert-upstream-checkpoint");
    CHECK_ERR_CONTAINS(why);
    CHECK_STATUS(ml_pickle_refuse(path), ML_EFORMAT);
    CHECK_ERR_CONTAINS("tools/convert-upstream-checkpoint");
    CHECK_STATUS(ml_safetensors_parse_buffer(&st, bytes, n, name), ML_EFORMAT);
    CHECK(st == NULL);
    CHECK_ERR_CONTAINS(why);
}

static void test_safetensors_read__refuses_pickled_checkpoints(void) {
    /* pickle.dumps({}, protocol=2) and protocol=4; torch.save's zip starts "PK\3\4". */
    static const char p2[] = "\x80\x02}q\x00.";
    static const char p4[] = "\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00}\x94.";
    static const char zip[] = "PK\x03\x04\x00\x00\x08\x08\x00\x00archive/data.pkl";
    check_pickle_refused("p2.safetensors", p2, sizeof p2 - 1, "pickle protocol 2 opcode");
    check_pickle_refused("p4.safetensors", p4, sizeof p4 - 1, "pickle protocol 4 opcode");
    check_pickle_refused("zip.safetensors", zip, sizeof zip - 1, "zip header");
    size_t n = build("{}", 0); /* a valid file, refused for its name alone */
    check_pickle_refused("pytorch_model.bin", image, n, "a .bin file is a pickled PyTorch");
    check_pickle_refused("model.PT", image, n, "a .pt file");
    check_pickle_refused("m.pth", image, n, "a .pth file");
    check_pickle_refused("m.pkl", image, n, "a .pkl file");
    check_pickle_refused("last.ckpt", image, n, "a .ckpt file");
    CHECK_STATUS(ml_pickle_refuse(tmp_path("absent.safetensors")), ML_ENOTFOUND);
    CHECK_STATUS(ml_pickle_refuse_bytes("x.safetensors", "\x80\x01", 2), ML_OK);
    CHECK_STATUS(ml_pickle_refuse_bytes(NULL, NULL, 0), ML_OK);
}

static void test_safetensors_read__640_byte_header_is_not_taken_for_a_pickle(void) {
    /* A header of 0x280 bytes starts the file with 0x80 0x02, like a protocol 2 pickle. */
    char json[641];
    memset(json, ' ', 640);
    json[640] = '\0';
    memcpy(json, "{\"__metadata__\":{\"k\":\"v\"}}", 26);
    size_t n = build(json, 0);
    CHECK(image[0] == 0x80 && image[1] == 0x02);
    const char *path = tmp_path("h640.safetensors");
    write_bytes(path, image, n);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_OK);
    CHECK(st && strcmp(ml_safetensors_metadata_find(st, "k"), "v") == 0);
    ml_safetensors_close(st);
    CHECK_STATUS(ml_pickle_refuse(path), ML_OK);
}

/* ---- float conversion ------------------------------------------------------------------- */

static void test_safetensors_read__read_f32_converts_special_values(void) {
    /* F16: 0, -0, smallest subnormal 2^-24, largest subnormal, 65504, -inf, NaN, 1/3-ish */
    static const unsigned char f16[] = {0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0xff, 0x03,
                                        0xff, 0x7b, 0x00, 0xfc, 0x01, 0x7e, 0x55, 0x35};
    unsigned char buf[1 + sizeof f16];
    memcpy(buf + 1, f16, sizeof f16); /* odd address: no unaligned loads allowed */
    ml_tensor_view t = {"h", ML_DTYPE_F16, 1, {8}, buf + 1};
    float out[8];
    CHECK_STATUS(ml_safetensors_read_f32(&t, out), ML_OK);
    CHECK(out[0] == 0.0f && !signbit(out[0]));
    CHECK(out[1] == 0.0f && signbit(out[1]));
    CHECK(out[2] == 0x1p-24f);
    CHECK(out[3] == 1023 * 0x1p-24f);
    CHECK(out[4] == 65504.0f);
    CHECK(isinf(out[5]) && out[5] < 0);
    CHECK(isnan(out[6]));
    CHECK(out[7] == 0x1.554p-2f);
    /* BF16 0x3fc0 = 1.5, 0xc080 = -4 */
    static const unsigned char bf16[] = {0xc0, 0x3f, 0x80, 0xc0};
    ml_tensor_view b = {"b", ML_DTYPE_BF16, 1, {2}, bf16};
    CHECK_STATUS(ml_safetensors_read_f32(&b, out), ML_OK);
    CHECK(out[0] == 1.5f && out[1] == -4.0f);
    /* F64 beyond float range saturates to inf; just under the rounding point to FLT_MAX. */
    double d[4] = {1e300, -1e300, 0x1.fffffefffffffp127, 0.1};
    ml_tensor_view f = {"d", ML_DTYPE_F64, 1, {4}, d};
    CHECK_STATUS(ml_safetensors_read_f32(&f, out), ML_OK);
    CHECK(isinf(out[0]) && out[0] > 0);
    CHECK(isinf(out[1]) && out[1] < 0);
    CHECK(out[2] == 0x1.fffffep127f);
    CHECK(out[3] == 0.1f);
}

static void test_safetensors_read__read_f32_rejects_integer_dtypes(void) {
    static const int32_t v[2] = {1, 2};
    ml_tensor_view t = {"i", ML_DTYPE_I32, 1, {2}, v};
    float out[2] = {7, 7};
    CHECK_STATUS(ml_safetensors_read_f32(&t, out), ML_EINVAL);
    CHECK_ERR_CONTAINS("dtype I32 is not floating point");
    CHECK(out[0] == 7 && out[1] == 7);
    ml_tensor_view big = {"x", ML_DTYPE_F32, 2, {SIZE_MAX / 2, 4}, v};
    CHECK_EQ_INT(ml_tensor_view_n_elements(&big) == SIZE_MAX, 1);
    CHECK_EQ_INT(ml_tensor_view_n_bytes(&big) == SIZE_MAX, 1);
    CHECK_STATUS(ml_safetensors_read_f32(&big, out), ML_EINVAL);
    ml_tensor_view deep = {"x", ML_DTYPE_F32, ML_TENSOR_MAX_DIMS + 1, {1}, v};
    CHECK_EQ_INT(ml_tensor_view_n_elements(&deep) == SIZE_MAX, 1);
    CHECK_EQ_INT(ml_tensor_view_n_bytes(&(ml_tensor_view){"u", (ml_dtype)99, 1, {3}, v}), 0);
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        unlink(tmp_path(e->d_name));
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ml_st_read_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_safetensors_read__reads_every_reference_sample_like_numpy);
    RUN(test_safetensors_read__reads_sample_values_without_python);
    RUN(test_safetensors_read__unaligned_tensors_read_safely);
    RUN(test_safetensors_read__reads_peft_adapter_matching_its_config);
    RUN(test_safetensors_read__round_trips_the_writer);
    RUN(test_safetensors_read__accepts_empty_tensors_and_whitespace_padding);
    RUN(test_safetensors_read__rejects_short_file_and_bad_header_length);
    RUN(test_safetensors_read__rejects_bad_header_text);
    RUN(test_safetensors_read__rejects_bad_dtype_and_entries);
    RUN(test_safetensors_read__rejects_bad_shape);
    RUN(test_safetensors_read__rejects_bad_offsets_and_sizes);
    RUN(test_safetensors_read__rejects_bad_layout);
    RUN(test_safetensors_read__rejects_bad_metadata);
    RUN(test_safetensors_read__open_names_the_path_and_reports_io);
    RUN(test_safetensors_read__refuses_pickled_checkpoints);
    RUN(test_safetensors_read__640_byte_header_is_not_taken_for_a_pickle);
    RUN(test_safetensors_read__read_f32_converts_special_values);
    RUN(test_safetensors_read__read_f32_rejects_integer_dtypes);
    remove_tmpdir();
    TEST_MAIN_END();
}
