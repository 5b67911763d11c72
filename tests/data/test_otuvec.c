/* test_otuvec.c - what ml_otuvec_read promises for both layouts (safetensors, HDF5
 * /embeddings/<OTU_ID>): exact ID lookup (';' included), float conversion, and a refusal
 * naming the OTU for every broken rule. Files are written by the test (safetensors writer,
 * libhdf5). */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/otuvec.h"
#include "microlens/safetensors.h"
#include "ml_test.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static const char *const ids[3] = {"90_217;96_789;97_918", "90_1;96_2;97_3", "OTU 7"};
static const float vals[3][4] = {{1, 2, 3, 4}, {-1.5f, 0.25f, 0, 8}, {1e-3f, -7, 5, 6}};

static const char *write_st(const char *name, const ml_tensor_view *t, size_t n) {
    const char *path = tmp_path(name);
    if (ml_safetensors_write(path, t, n, NULL, 0) != ML_OK)
        fprintf(stderr, "cannot write %s: %s\n", path, ml_error_last()->message);
    return path;
}

static void good_views(ml_tensor_view t[3]) {
    memset(t, 0, 3 * sizeof *t);
    for (size_t i = 0; i < 3; i++) t[i] = (ml_tensor_view){ids[i], ML_DTYPE_F32, 1, {4}, vals[i]};
}

static void check_good(const ml_otuvec *v, const char *format) {
    CHECK_EQ_INT(ml_otuvec_count(v), 3);
    CHECK_EQ_INT(ml_otuvec_dim(v), 4);
    CHECK_STR(ml_otuvec_format_name(v), format);
    for (size_t i = 0; i < 3; i++) {
        const float *x = ml_otuvec_find(v, ids[i]);
        CHECK(x != NULL);
        if (x) CHECK(memcmp(x, vals[i], sizeof vals[i]) == 0);
    }
    CHECK(ml_otuvec_find(v, "90_217;96_789") == NULL); /* a prefix is no match */
    CHECK(ml_otuvec_find(v, "otu 7") == NULL);         /* case matters */
    CHECK(ml_otuvec_id(v, 3) == NULL);
    CHECK(ml_otuvec_vector(v, 3) == NULL);
    for (size_t i = 0; i < 3; i++) CHECK(ml_otuvec_find(v, ml_otuvec_id(v, i)) ==
                                         ml_otuvec_vector(v, i));
}

static void test_otuvec__reads_safetensors(void) {
    ml_tensor_view t[3];
    good_views(t);
    double as_f64[4] = {-1.5, 0.25, 0, 8};
    t[1].dtype = ML_DTYPE_F64;
    t[1].data = as_f64;
    ml_otuvec *v = NULL;
    CHECK_STATUS(ml_otuvec_read(&v, write_st("good.safetensors", t, 3)), ML_OK);
    if (v) check_good(v, "safetensors");
    ml_otuvec_free(v);
}

static void expect_refused(const char *path, ml_status st, const char *sub) {
    ml_otuvec *v = (ml_otuvec *)0x1;
    CHECK_STATUS(ml_otuvec_read(&v, path), st);
    CHECK(v == (ml_otuvec *)0x1);
    CHECK_ERR_CONTAINS(sub);
}

static void test_otuvec__safetensors_errors(void) {
    ml_tensor_view t[3];
    good_views(t);
    t[2].shape[0] = 3;
    expect_refused(write_st("len.safetensors", t, 3), ML_EFORMAT,
                   "tensor OTU 7: length 3 (expected 4");
    good_views(t);
    t[1].n_dims = 2;
    t[1].shape[0] = 2;
    t[1].shape[1] = 2;
    expect_refused(write_st("rank.safetensors", t, 3), ML_EFORMAT, "has 2 dimensions");
    good_views(t);
    int32_t ints[4] = {1, 2, 3, 4};
    t[0].dtype = ML_DTYPE_I32;
    t[0].data = ints;
    expect_refused(write_st("int.safetensors", t, 3), ML_EFORMAT, "dtype I32");
    good_views(t);
    float nan4[4] = {0, 0, 0, (float)INFINITY};
    t[1].data = nan4;
    expect_refused(write_st("inf.safetensors", t, 3), ML_EFORMAT,
                   "90_1;96_2;97_3: value 3 is not finite");
    expect_refused(write_st("none.safetensors", t, 0), ML_EFORMAT, "no tensors");
    good_views(t);
    t[0].shape[0] = 0;
    t[0].data = NULL;
    expect_refused(write_st("zero.safetensors", t, 1), ML_EFORMAT, "length 0");
    expect_refused(tmp_path("absent.safetensors"), ML_ENOTFOUND, "absent.safetensors");
}

/* ---- HDF5 ------------------------------------------------------------------------------- */

enum { H_NO_GROUP = 1, H_BAD_LEN = 2, H_INT = 4, H_2D = 8, H_NAN = 16, H_SUBGROUP = 32,
       H_SOFTLINK = 64, H_EMPTY = 128, H_F64 = 256 };

static void h5_vec(hid_t g, const char *name, hid_t type, const void *data, int rank,
                   const hsize_t *dims) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t mem = type == H5T_IEEE_F64LE ? H5T_NATIVE_DOUBLE
              : type == H5T_STD_I32LE  ? H5T_NATIVE_INT
                                       : H5T_NATIVE_FLOAT;
    H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Sclose(sp);
}

static const char *write_h5(const char *name, unsigned flags) {
    const char *path = tmp_path(name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, (flags & H_NO_GROUP) ? "vectors" : "embeddings", H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {4, 1};
    for (size_t i = 0; i < 3 && !(flags & H_EMPTY); i++) {
        if (i == 1 && (flags & H_F64)) {
            double d[4] = {-1.5, 0.25, 0, 8};
            h5_vec(g, ids[i], H5T_IEEE_F64LE, d, 1, dims);
        } else if (i == 1 && (flags & H_INT)) {
            int d[4] = {1, 2, 3, 4};
            h5_vec(g, ids[i], H5T_STD_I32LE, d, 1, dims);
        } else if (i == 1 && (flags & H_2D)) {
            hsize_t d2[2] = {2, 2};
            h5_vec(g, ids[i], H5T_IEEE_F32LE, vals[i], 2, d2);
        } else if (i == 1 && (flags & H_NAN)) {
            float d[4] = {0, (float)NAN, 0, 0};
            h5_vec(g, ids[i], H5T_IEEE_F32LE, d, 1, dims);
        } else if (i == 2 && (flags & H_BAD_LEN)) {
            hsize_t d5[1] = {5};
            float d[5] = {0};
            h5_vec(g, ids[i], H5T_IEEE_F32LE, d, 1, d5);
        } else {
            h5_vec(g, ids[i], H5T_IEEE_F32LE, vals[i], 1, dims);
        }
    }
    if (flags & H_SUBGROUP) H5Gclose(H5Gcreate2(g, "nested", H5P_DEFAULT, H5P_DEFAULT,
                                                H5P_DEFAULT));
    if (flags & H_SOFTLINK) H5Lcreate_soft("/embeddings/OTU 7", g, "alias", H5P_DEFAULT,
                                           H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
    return path;
}

static void test_otuvec__reads_hdf5_layout(void) {
    ml_otuvec *v = NULL;
    CHECK_STATUS(ml_otuvec_read(&v, write_h5("good.h5", H_F64)), ML_OK);
    if (v) check_good(v, "hdf5");
    ml_otuvec_free(v);
}

static void test_otuvec__hdf5_errors(void) {
    expect_refused(write_h5("nogroup.h5", H_NO_GROUP), ML_EFORMAT, "no group /embeddings");
    expect_refused(write_h5("len.h5", H_BAD_LEN), ML_EFORMAT,
                   "/embeddings/OTU 7: length 5 (expected 4");
    expect_refused(write_h5("int.h5", H_INT), ML_EFORMAT,
                   "/embeddings/90_1;96_2;97_3: is not a float dataset");
    expect_refused(write_h5("2d.h5", H_2D), ML_EFORMAT, "is not 1-dimensional");
    expect_refused(write_h5("nan.h5", H_NAN), ML_EFORMAT, "value 1 is not finite");
    expect_refused(write_h5("sub.h5", H_SUBGROUP), ML_EFORMAT,
                   "/embeddings/nested: is not a dataset");
    expect_refused(write_h5("soft.h5", H_SOFTLINK), ML_EFORMAT,
                   "/embeddings/alias: is a soft or external link");
    expect_refused(write_h5("empty.h5", H_EMPTY), ML_EFORMAT, "no OTU vectors");
}

static void test_otuvec__truncated_hdf5_is_a_format_error(void) {
    const char *good = write_h5("whole.h5", 0);
    FILE *f = fopen(good, "rb");
    char buf[600];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    const char *path = tmp_path("cut.h5");
    FILE *o = fopen(path, "wb");
    if (o) {
        fwrite(buf, 1, n, o);
        fclose(o);
    }
    ml_otuvec *v = NULL;
    ml_status st = ml_otuvec_read(&v, path);
    CHECK(st == ML_EFORMAT);
    CHECK(v == NULL);
    CHECK_ERR_CONTAINS("cut.h5");
}

/* ---- bytes in memory (ml_otuvec_parse) ------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 16);
    *len = f && buf ? fread(buf, 1, 1 << 16, f) : 0;
    if (f) fclose(f);
    return buf;
}

static void test_otuvec__parse_reads_both_layouts_from_memory(void) {
    ml_tensor_view t[3];
    good_views(t);
    size_t len;
    char *st = slurp(write_st("mem.safetensors", t, 3), &len);
    ml_otuvec *v = NULL;
    CHECK_STATUS(ml_otuvec_parse(&v, st, len, "mem.safetensors"), ML_OK);
    if (v) check_good(v, "safetensors");
    ml_otuvec_free(v);
    free(st);
    char *h5 = slurp(write_h5("mem.h5", H_F64), &len);
    v = NULL;
    CHECK_STATUS(ml_otuvec_parse(&v, h5, len, "mem.h5"), ML_OK);
    if (v) check_good(v, "hdf5");
    ml_otuvec_free(v);
    free(h5);
}

static void expect_parse_refused(const void *buf, size_t len, const char *name, ml_status st,
                                 const char *sub) {
    ml_otuvec *v = (ml_otuvec *)0x1;
    CHECK_STATUS(ml_otuvec_parse(&v, buf, len, name), st);
    CHECK(v == (ml_otuvec *)0x1);
    CHECK_ERR_CONTAINS(sub);
}

static void test_otuvec__parse_refuses_cut_images_and_bad_buffers(void) {
    size_t len;
    char *h5 = slurp(write_h5("cut_mem.h5", 0), &len);
    /* libhdf5 would read zeros past the end of an image; the superblock check refuses it. */
    expect_parse_refused(h5, 600, "cut.h5", ML_EFORMAT,
                         "cut.h5: truncated or corrupt HDF5 (the superblock says the file has");
    expect_parse_refused(h5, 12, "cut.h5", ML_EFORMAT, "cut.h5: truncated or corrupt HDF5");
    free(h5);
    h5 = slurp(write_h5("int_mem.h5", H_INT), &len);
    expect_parse_refused(h5, len, NULL, ML_EFORMAT,
                         "<buffer>: /embeddings/90_1;96_2;97_3: is not a float dataset");
    free(h5);
    expect_parse_refused(NULL, 8, "x", ML_EINVAL, "x: buffer is NULL with len = 8");
    expect_parse_refused(NULL, 0, NULL, ML_EFORMAT, "<buffer>");
    expect_parse_refused("\x80\x02}q\x00.", 6, "weights.pt", ML_EFORMAT, "weights.pt");
}

static void test_otuvec__checks_every_shape_before_reserving_vectors(void) {
    /* First vector 4 floats, then a tensor of another length after one of a bad dtype: the
     * shape pass reports the length (sized by the file, not by n x the first length). */
    ml_tensor_view t[3];
    good_views(t);
    int32_t ints[4] = {1, 2, 3, 4};
    t[1].dtype = ML_DTYPE_I32;
    t[1].data = ints;
    t[2].shape[0] = 2;
    expect_refused(write_st("order.safetensors", t, 3), ML_EFORMAT,
                   "tensor OTU 7: length 2 (expected 4");
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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ml_test_otuvec.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_otuvec__reads_safetensors);
    RUN(test_otuvec__safetensors_errors);
    RUN(test_otuvec__reads_hdf5_layout);
    RUN(test_otuvec__hdf5_errors);
    RUN(test_otuvec__truncated_hdf5_is_a_format_error);
    RUN(test_otuvec__parse_reads_both_layouts_from_memory);
    RUN(test_otuvec__parse_refuses_cut_images_and_bad_buffers);
    RUN(test_otuvec__checks_every_shape_before_reserving_vectors);
    remove_tmpdir();
    TEST_MAIN_END();
}
