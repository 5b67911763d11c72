/* test_npy.c - what npy.c promises: a format 1.0 preamble (magic, version, little-endian
 * header length), numpy's header dict for 0, 1 and 2 dims and for a record descr, data
 * starting at a multiple of 64 after a '\n', refusals for too many dims or a small buffer,
 * and whole files that hold exactly preamble + data. numpy.load itself reads our files in
 * tests/oracle/export_numpy.sh. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ml_test.h"
#include "report/npy.h"
#include "util/fileio.h"

static char dir[64];

/* Checks the preamble and returns the dict text with its padding cut (NUL-terminated). */
static void check_preamble(const char *h, size_t len, char *dict, size_t dict_cap) {
    CHECK(memcmp(h, "\x93NUMPY\x01\x00", 8) == 0);
    size_t header_len = (size_t)(unsigned char)h[8] | (size_t)(unsigned char)h[9] << 8;
    CHECK_EQ_INT(header_len + 10, len);
    CHECK_EQ_INT(len % ML__NPY_ALIGN, 0);
    CHECK(h[len - 1] == '\n');
    size_t end = len - 1;
    while (end > 10 && h[end - 1] == ' ') end--;
    size_t n = end - 10 < dict_cap - 1 ? end - 10 : dict_cap - 1;
    memcpy(dict, h + 10, n);
    dict[n] = '\0';
}

static void test_npy__header_is_numpy_1_0(void) {
    char h[256], dict[256];
    size_t len = 0, shape[2] = {3, 4};
    CHECK_STATUS(ml__npy_header(h, sizeof h, &len, "'<f8'", shape, 1), ML_OK);
    check_preamble(h, len, dict, sizeof dict);
    CHECK_STR(dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }");
    CHECK_EQ_INT(len, 128); /* 10 + 58 + '\n' is over 64 */
    CHECK_STATUS(ml__npy_header(h, sizeof h, &len, "'<f4'", shape, 2), ML_OK);
    check_preamble(h, len, dict, sizeof dict);
    CHECK_STR(dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }");
    CHECK_STATUS(ml__npy_header(h, sizeof h, &len, "'<i8'", NULL, 0), ML_OK);
    check_preamble(h, len, dict, sizeof dict);
    CHECK_STR(dict, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }");
    const char *rec = "[('step', '<i8'), ('value', '<f8'), ('wall_time', '<f8')]";
    CHECK_STATUS(ml__npy_header(h, sizeof h, &len, rec, shape, 1), ML_OK);
    check_preamble(h, len, dict, sizeof dict);
    CHECK(strstr(dict, rec) != NULL);
    CHECK_EQ_INT(len, 128);
}

static void test_npy__refuses_what_does_not_fit(void) {
    char h[256];
    size_t len = 7, shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_STATUS(ml__npy_header(h, sizeof h, &len, "'<f8'", shape, 9), ML_EINVAL);
    CHECK_ERR_CONTAINS("9 dims");
    CHECK_STATUS(ml__npy_header(h, 32, &len, "'<f8'", shape, 1), ML_EINVAL);
    CHECK_EQ_INT(len, 7); /* untouched */
}

static void test_npy__file_is_preamble_then_data(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    double v[6] = {1, 2, 3, 4, 5, 6.5};
    size_t shape[2] = {2, 3};
    CHECK_STATUS(ml__npy_write(path, "'<f8'", shape, 2, v, sizeof v), ML_OK);
    char *got = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 20, &got, &len), ML_OK);
    CHECK_EQ_INT(len, 128 + sizeof v);
    if (got && len == 128 + sizeof v) CHECK(memcmp(got + 128, v, sizeof v) == 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    free(got);
    unlink(path);
    CHECK_STATUS(ml__npy_write("/nonexistent-dir/x/a.npy", "'<f8'", shape, 2, v, sizeof v),
                 ML_EIO);
    CHECK(rmdir(dir) == 0); /* nothing left behind */
    CHECK(mkdir(dir, 0700) == 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_npy_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_npy__header_is_numpy_1_0);
    RUN(test_npy__refuses_what_does_not_fit);
    RUN(test_npy__file_is_preamble_then_data);
    rmdir(dir);
    TEST_MAIN_END();
}
