/* test_safetensors_write.c - what the safetensors writer promises: the byte layout, the
 * header JSON (read back with jansson), canonical order, refusals, atomicity; and an
 * independent reader (tests/oracle/safetensors_check.py, json + numpy) agreeing. */
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
#include "util/fileio.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static const float weight[6] = {1, 2, 3, 4, 5, 6};
static const double bias[3] = {0.5, -1.5, 2.25};
static const int64_t ids[2] = {-3, (int64_t)1 << 40};
static const uint8_t mask[3] = {1, 0, 1};
static const uint8_t bytes3[3] = {1, 2, 250};
static const uint16_t half[2] = {0x3c00, 0xc000};   /* 1.0, -2.0 */
static const uint16_t bf[1] = {0x3f80};             /* 1.0 */
static const int32_t scalar[1] = {7};
static const float odd_name_value[1] = {3.0f};

/* Deliberately out of canonical order, with mixed element sizes. */
static void sample_tensors(ml_tensor_view t[10]) {
    memset(t, 0, 10 * sizeof *t);
    t[0] = (ml_tensor_view){"weight", ML_DTYPE_F32, 2, {2, 3}, weight};
    t[1] = (ml_tensor_view){"mask", ML_DTYPE_BOOL, 1, {3}, mask};
    t[2] = (ml_tensor_view){"bias", ML_DTYPE_F64, 1, {3}, bias};
    t[3] = (ml_tensor_view){"bytes", ML_DTYPE_U8, 1, {3}, bytes3};
    t[4] = (ml_tensor_view){"ids", ML_DTYPE_I64, 1, {2}, ids};
    t[5] = (ml_tensor_view){"half", ML_DTYPE_F16, 1, {2}, half};
    t[6] = (ml_tensor_view){"bf", ML_DTYPE_BF16, 1, {1}, bf};
    t[7] = (ml_tensor_view){"empty", ML_DTYPE_F32, 2, {0, 4}, NULL};
    t[8] = (ml_tensor_view){"scalar", ML_DTYPE_I32, 0, {0}, scalar};
    t[9] = (ml_tensor_view){"emb\"ed/\xc3\xbc", ML_DTYPE_F32, 1, {1}, odd_name_value};
}

static const ml_kv meta[2] = {{"generator", "test"}, {"quote", "a\"b\\c\n"}};

static uint64_t read_u64_le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void test_safetensors__layout_header_and_bytes_round_trip(void) {
    ml_tensor_view t[10];
    sample_tensors(t);
    const char *path = tmp_path("a.safetensors");
    CHECK_STATUS(ml_safetensors_write(path, t, 10, meta, 2), ML_OK);
    char *buf = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 20, &buf, &len), ML_OK);
    if (!buf) return;
    uint64_t n = read_u64_le((const unsigned char *)buf);
    CHECK((8 + n) % 8 == 0);
    CHECK(8 + n <= len);
    json_error_t jerr;
    json_t *h = json_loadb(buf + 8, (size_t)n, 0, &jerr);
    CHECK(h != NULL);
    if (!h) {
        free(buf);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(json_object_get(h, "__metadata__"), "quote")),
              "a\"b\\c\n");
    CHECK_EQ_INT(json_object_size(h), 11);
    const unsigned char *data = (const unsigned char *)buf + 8 + n;
    size_t data_len = len - 8 - (size_t)n, covered = 0;
    for (size_t i = 0; i < 10; i++) {
        json_t *e = json_object_get(h, t[i].name);
        CHECK(e != NULL);
        if (!e) continue;
        CHECK_STR(json_string_value(json_object_get(e, "dtype")), ml_dtype_name(t[i].dtype));
        json_t *shape = json_object_get(e, "shape");
        CHECK_EQ_INT(json_array_size(shape), t[i].n_dims);
        size_t count = 1;
        for (size_t d = 0; d < t[i].n_dims; d++) {
            CHECK_EQ_INT(json_integer_value(json_array_get(shape, d)), t[i].shape[d]);
            count *= t[i].shape[d];
        }
        json_t *off = json_object_get(e, "data_offsets");
        size_t b = (size_t)json_integer_value(json_array_get(off, 0));
        size_t end = (size_t)json_integer_value(json_array_get(off, 1));
        size_t nb = count * ml_dtype_size(t[i].dtype);
        CHECK_EQ_INT(end - b, nb);
        CHECK(end <= data_len);
        CHECK_EQ_INT(b % ml_dtype_size(t[i].dtype), 0); /* natural alignment */
        if (nb && end <= data_len) CHECK(memcmp(data + b, t[i].data, nb) == 0);
        covered += nb;
    }
    CHECK_EQ_INT(covered, data_len); /* no gaps, nothing extra */
    /* Canonical order: 8-byte types first (bias < ids by name), then 4, 2, 1. */
    const char *order[] = {"bias", "ids", "emb\"ed/\xc3\xbc", "empty", "scalar", "weight",
                           "bf", "half", "bytes", "mask"};
    size_t prev_end = 0;
    for (size_t i = 0; i < 10; i++) {
        json_t *off = json_object_get(json_object_get(h, order[i]), "data_offsets");
        CHECK_EQ_INT(json_integer_value(json_array_get(off, 0)), prev_end);
        prev_end = (size_t)json_integer_value(json_array_get(off, 1));
    }
    json_decref(h);
    free(buf);
}

static void test_safetensors__output_does_not_depend_on_input_order(void) {
    ml_tensor_view t[10], r[10];
    sample_tensors(t);
    for (size_t i = 0; i < 10; i++) r[i] = t[9 - i];
    char a[256], b[256];
    snprintf(a, sizeof a, "%s", tmp_path("order1.safetensors"));
    snprintf(b, sizeof b, "%s", tmp_path("order2.safetensors"));
    CHECK_STATUS(ml_safetensors_write(a, t, 10, meta, 2), ML_OK);
    CHECK_STATUS(ml_safetensors_write(b, r, 10, meta, 2), ML_OK);
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    CHECK_STATUS(ml__file_read(a, 1 << 20, &da, &la), ML_OK);
    CHECK_STATUS(ml__file_read(b, 1 << 20, &db, &lb), ML_OK);
    CHECK(la == lb && da && db && memcmp(da, db, la) == 0);
    free(da);
    free(db);
}

static void test_safetensors__empty_file_has_minimal_header(void) {
    const char *path = tmp_path("empty.safetensors");
    CHECK_STATUS(ml_safetensors_write(path, NULL, 0, NULL, 0), ML_OK);
    char *buf = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 20, &buf, &len), ML_OK);
    CHECK_EQ_INT(len, 16);
    if (buf && len == 16) {
        CHECK_EQ_INT(read_u64_le((const unsigned char *)buf), 8);
        CHECK(memcmp(buf + 8, "{}      ", 8) == 0);
    }
    free(buf);
}

static void test_safetensors__python_reader_agrees(void) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "skip: /usr/bin/python3 not found\n");
        return;
    }
    ml_tensor_view t[10];
    sample_tensors(t);
    const char *path = tmp_path("py.safetensors");
    CHECK_STATUS(ml_safetensors_write(path, t, 10, meta, 2), ML_OK);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/oracle/safetensors_check.py '%s'", path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    const char *want = "bf BF16 1 1\n"
                       "bias F64 3 1.25\n"
                       "bytes U8 3 253\n"
                       "emb\"ed/\xc3\xbc F32 1 3\n"
                       "empty F32 0x4 0\n"
                       "half F16 2 -1\n"
                       "ids I64 2 1099511627773\n"
                       "mask BOOL 3 2\n"
                       "scalar I32 scalar 7\n"
                       "weight F32 2x3 21\n"
                       "meta generator=test\n"
                       "meta quote=a\"b\\c\n\n"
                       "ok\n";
    CHECK_STR(out, want);
}

static void check_refused(ml_tensor_view *t, size_t n, const char *sub) {
    const char *path = tmp_path("refused.safetensors");
    CHECK_STATUS(ml_safetensors_write(path, t, n, NULL, 0), ML_EINVAL);
    CHECK_ERR_CONTAINS(sub);
    CHECK(access(path, F_OK) != 0);
}

static void test_safetensors__rejects_bad_tensors(void) {
    ml_tensor_view t[2];
    float v[2] = {1, 2};
    t[0] = (ml_tensor_view){"a", ML_DTYPE_F32, 1, {2}, v};
    t[1] = (ml_tensor_view){"a", ML_DTYPE_F64, 1, {1}, v};
    check_refused(t, 2, "tensor 1 \"a\": name repeats tensor 0");
    t[1].name = "";
    check_refused(t, 2, "tensor 1 \"\": empty name");
    t[1].name = NULL;
    check_refused(t, 2, "empty name");
    t[1].name = "bad\xc3";
    check_refused(t, 2, "tensor 1: name is not valid UTF-8");
    t[1].name = "over\xc0\xaflong";
    check_refused(t, 2, "not valid UTF-8");
    t[1].name = "surrogate\xed\xa0\x80";
    check_refused(t, 2, "not valid UTF-8");
    t[1].name = "__metadata__";
    check_refused(t, 2, "reserved for the metadata");
    t[1].name = "b";
    t[1].dtype = (ml_dtype)42;
    check_refused(t, 2, "unknown dtype");
    t[1].dtype = ML_DTYPE_F32;
    t[1].n_dims = ML_TENSOR_MAX_DIMS + 1;
    check_refused(t, 2, "too many dimensions");
    t[1].n_dims = 3;
    t[1].shape[0] = t[1].shape[1] = t[1].shape[2] = (size_t)1 << 30;
    check_refused(t, 2, "overflows");
    t[1].n_dims = 1;
    t[1].shape[0] = 1;
    t[1].data = NULL;
    check_refused(t, 2, "data is NULL");
    CHECK_STATUS(ml_safetensors_write(tmp_path("x"), NULL, 1, NULL, 0), ML_EINVAL);
}

static void test_safetensors__rejects_bad_metadata(void) {
    float v[1] = {1};
    ml_tensor_view t = {"a", ML_DTYPE_F32, 1, {1}, v};
    ml_kv dup[2] = {{"k", "1"}, {"k", "2"}};
    CHECK_STATUS(ml_safetensors_write(tmp_path("m"), &t, 1, dup, 2), ML_EINVAL);
    CHECK_ERR_CONTAINS("metadata 1: key \"k\" repeats metadata 0");
    ml_kv bad[1] = {{"k", "\xff"}};
    CHECK_STATUS(ml_safetensors_write(tmp_path("m"), &t, 1, bad, 1), ML_EINVAL);
    CHECK_ERR_CONTAINS("not valid UTF-8");
    ml_kv null_value[1] = {{"k", NULL}};
    CHECK_STATUS(ml_safetensors_write(tmp_path("m"), &t, 1, null_value, 1), ML_EINVAL);
    CHECK_ERR_CONTAINS("NULL");
    CHECK_STATUS(ml_safetensors_write(tmp_path("m"), &t, 1, NULL, 1), ML_EINVAL);
    CHECK(access(tmp_path("m"), F_OK) != 0);
}

static int count_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_safetensors__io_failure_leaves_no_temporary_file(void) {
    float v[1] = {1};
    ml_tensor_view t = {"a", ML_DTYPE_F32, 1, {1}, v};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("is_a_dir"));
    CHECK(mkdir(dir, 0755) == 0);
    CHECK_STATUS(ml_safetensors_write(dir, &t, 1, NULL, 0), ML_EIO); /* rename onto a folder */
    CHECK_EQ_INT(count_tmp_files(), 0);
    CHECK_STATUS(ml_safetensors_write(tmp_path("no/such/dir/x.safetensors"), &t, 1, NULL, 0),
                 ML_EIO);
    rmdir(dir);
}

static void test_safetensors__dtype_names_sizes_and_parse(void) {
    static const char *names[] = {"F64", "F32", "F16", "BF16", "I64",
                                  "I32", "I16", "I8",  "U8",   "BOOL"};
    static const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
    for (int i = 0; i < 10; i++) {
        ml_dtype d = ML_DTYPE_BOOL;
        CHECK_STATUS(ml_dtype_parse(&d, names[i]), ML_OK);
        CHECK_EQ_INT(d, i);
        CHECK_STR(ml_dtype_name((ml_dtype)i), names[i]);
        CHECK_EQ_INT(ml_dtype_size((ml_dtype)i), sizes[i]);
    }
    ml_dtype d = ML_DTYPE_F32;
    CHECK_STATUS(ml_dtype_parse(&d, "f32"), ML_EINVAL);
    CHECK_ERR_CONTAINS("unknown dtype \"f32\"");
    CHECK_EQ_INT(d, ML_DTYPE_F32);
    CHECK_STR(ml_dtype_name((ml_dtype)99), "unknown");
    CHECK_EQ_INT(ml_dtype_size((ml_dtype)99), 0);
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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ml_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_safetensors__layout_header_and_bytes_round_trip);
    RUN(test_safetensors__output_does_not_depend_on_input_order);
    RUN(test_safetensors__empty_file_has_minimal_header);
    RUN(test_safetensors__python_reader_agrees);
    RUN(test_safetensors__rejects_bad_tensors);
    RUN(test_safetensors__rejects_bad_metadata);
    RUN(test_safetensors__io_failure_leaves_no_temporary_file);
    RUN(test_safetensors__dtype_names_sizes_and_parse);
    remove_tmpdir();
    TEST_MAIN_END();
}
