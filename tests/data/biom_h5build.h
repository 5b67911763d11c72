/* biom_h5build.h - writes small BIOM 2.1 HDF5 images in memory from a recipe (libhdf5 core
 * driver, nothing on disk), so tests and the structure-aware fuzzer can make valid and
 * deliberately broken files; it is test code and checks nothing about what it writes. */
#ifndef ML_TESTS_BIOM_H5BUILD_H
#define ML_TESTS_BIOM_H5BUILD_H

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    H5B_OMIT_VERSION = 1u << 0,
    H5B_OMIT_SHAPE = 1u << 1,
    H5B_OMIT_NNZ = 1u << 2,
    H5B_OMIT_OBS_IDS = 1u << 3,
    H5B_OMIT_SAMPLE_IDS = 1u << 4,
    H5B_OMIT_INDPTR = 1u << 5,
    H5B_OMIT_INDICES = 1u << 6,
    H5B_OMIT_DATA = 1u << 7,
    H5B_OBS_MATRIX = 1u << 8,      /* also write /observation/matrix/data (obs_matrix_len) */
    H5B_FIXED_IDS = 1u << 9,       /* fixed-length instead of variable-length ID strings */
    H5B_INT_DATA = 1u << 10,       /* data as int64 (values truncated) instead of float64 */
    H5B_COMPRESS = 1u << 11,       /* chunked + gzip */
    H5B_IDS_AS_INTS = 1u << 12,    /* /sample/ids written as integers */
    H5B_FLOAT_INDICES = 1u << 13,  /* /sample/matrix/indices written as float64 */
    H5B_SHAPE_AS_FLOAT = 1u << 14, /* shape attribute written as float64 */
    H5B_IDS_2D = 1u << 15,         /* /sample/ids written as an (n, 1) dataset */
    H5B_DATA_GROUP = 1u << 16,     /* /sample/matrix/data is a group, not a dataset */
    H5B_EXTERNAL_LINK = 1u << 17,  /* /sample/matrix/data is an external link */
    H5B_HUGE_EMPTY = 1u << 18,     /* /sample/matrix/indices has nnz entries, none stored */
    H5B_NBIT_FILTER = 1u << 19     /* data compressed with the N-bit filter */
};

typedef struct h5b_recipe {
    unsigned flags;
    int64_t version[2], shape[2], nnz;
    const char *const *obs_ids;
    size_t n_obs_ids;
    const char *const *sample_ids;
    size_t n_sample_ids;
    const int64_t *indptr;
    size_t n_indptr;
    const int64_t *indices;
    size_t n_indices;
    const double *data;
    size_t n_data;
    const char *const *taxonomy; /* (n_obs_ids, tax_levels) row-major, or NULL */
    size_t tax_levels;
    size_t obs_matrix_len;
} h5b_recipe;

static hid_t h5b_string_type(int fixed, const char *const *s, size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    size_t width = 1;
    for (size_t i = 0; fixed && i < n; i++) width = strlen(s[i]) > width ? strlen(s[i]) : width;
    H5Tset_size(t, fixed ? width : H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    if (fixed) H5Tset_strpad(t, H5T_STR_NULLPAD);
    return t;
}

/* Chunked + gzip when asked (and non-empty); plain contiguous otherwise. */
static hid_t h5b_dcpl(unsigned flags, hsize_t n) {
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if ((flags & (H5B_COMPRESS | H5B_NBIT_FILTER)) && n > 0) {
        hsize_t chunk = n < 64 ? n : 64;
        H5Pset_chunk(p, 1, &chunk);
        if (flags & H5B_COMPRESS) H5Pset_deflate(p, 6);
        if (flags & H5B_NBIT_FILTER) H5Pset_nbit(p);
    }
    return p;
}

static void h5b_write(hid_t loc, const char *path, hid_t ftype, hid_t mtype, int rank,
                      const hsize_t *dims, const void *buf, unsigned flags) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = h5b_dcpl(flags, rank == 1 ? dims[0] : 0);
    hid_t d = H5Dcreate2(loc, path, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && dims[0] > 0) H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

static void h5b_strings(hid_t f, const char *path, const char *const *s, size_t n, size_t cols,
                        unsigned flags) {
    size_t total = n * (cols ? cols : 1);
    int fixed = (flags & H5B_FIXED_IDS) != 0;
    hid_t t = h5b_string_type(fixed, s, total);
    hsize_t dims[2] = {n, cols};
    if (!fixed) {
        h5b_write(f, path, t, t, cols ? 2 : 1, dims, s, flags & ~(unsigned)H5B_NBIT_FILTER);
    } else {
        size_t width = H5Tget_size(t);
        char *flat = calloc(total ? total * width : 1, 1);
        for (size_t i = 0; flat && i < total; i++) memcpy(flat + i * width, s[i], strlen(s[i]));
        if (flat) h5b_write(f, path, t, t, cols ? 2 : 1, dims, flat, flags & H5B_COMPRESS);
        free(flat);
    }
    H5Tclose(t);
}

static void h5b_attr(hid_t f, const char *name, const int64_t *v, size_t n, int as_float) {
    hsize_t dims = n;
    hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(f, name, as_float ? H5T_IEEE_F64LE : H5T_STD_I64LE, sp, H5P_DEFAULT,
                         H5P_DEFAULT);
    double d[2] = {(double)v[0], n > 1 ? (double)v[1] : 0.0};
    if (a >= 0) H5Awrite(a, as_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, as_float ? (void *)d
                                                                                    : (void *)v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
}

static void h5b_root(hid_t f, const h5b_recipe *r) {
    if (!(r->flags & H5B_OMIT_VERSION)) h5b_attr(f, "format-version", r->version, 2, 0);
    if (!(r->flags & H5B_OMIT_SHAPE))
        h5b_attr(f, "shape", r->shape, 2, (r->flags & H5B_SHAPE_AS_FLOAT) != 0);
    if (!(r->flags & H5B_OMIT_NNZ)) h5b_attr(f, "nnz", &r->nnz, 1, 0);
    const char *groups[] = {"/observation", "/observation/matrix", "/observation/metadata",
                            "/sample", "/sample/matrix"};
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++)
        H5Gclose(H5Gcreate2(f, groups[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

static void h5b_ids(hid_t f, const h5b_recipe *r) {
    unsigned fl = r->flags;
    if (!(fl & H5B_OMIT_OBS_IDS))
        h5b_strings(f, "/observation/ids", r->obs_ids, r->n_obs_ids, 0, fl);
    if (r->taxonomy)
        h5b_strings(f, "/observation/metadata/taxonomy", r->taxonomy, r->n_obs_ids, r->tax_levels,
                    fl);
    if (fl & H5B_OMIT_SAMPLE_IDS) return;
    if (fl & H5B_IDS_AS_INTS) {
        hsize_t n = r->n_sample_ids;
        int64_t *v = calloc(n ? n : 1, sizeof *v);
        if (v) h5b_write(f, "/sample/ids", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, v, 0);
        free(v);
    } else {
        h5b_strings(f, "/sample/ids", r->sample_ids, r->n_sample_ids, (fl & H5B_IDS_2D) ? 1 : 0,
                    fl);
    }
}

static void h5b_matrix(hid_t f, const h5b_recipe *r) {
    unsigned fl = r->flags;
    hsize_t n = r->n_indptr;
    if (!(fl & H5B_OMIT_INDPTR))
        h5b_write(f, "/sample/matrix/indptr", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, r->indptr,
                  fl);
    n = r->n_indices;
    if (fl & H5B_HUGE_EMPTY) {
        hsize_t huge = r->nnz > 0 ? (hsize_t)r->nnz : 1, chunk = 1024;
        hid_t sp = H5Screate_simple(1, &huge, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 1, &chunk);
        H5Dclose(H5Dcreate2(f, "/sample/matrix/indices", H5T_STD_I64LE, sp, H5P_DEFAULT, dcpl,
                            H5P_DEFAULT));
        H5Pclose(dcpl);
        H5Sclose(sp);
    } else if (!(fl & H5B_OMIT_INDICES)) {
        if (fl & H5B_FLOAT_INDICES) {
            double *v = calloc(n ? n : 1, sizeof *v);
            for (size_t i = 0; v && i < n; i++) v[i] = (double)r->indices[i];
            if (v) h5b_write(f, "/sample/matrix/indices", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n,
                             v, fl);
            free(v);
        } else {
            h5b_write(f, "/sample/matrix/indices", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                      r->indices, fl);
        }
    }
    n = r->n_data;
    if (fl & H5B_DATA_GROUP) {
        H5Gclose(H5Gcreate2(f, "/sample/matrix/data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    } else if (fl & H5B_EXTERNAL_LINK) {
        H5Lcreate_external("elsewhere.h5", "/data", f, "/sample/matrix/data", H5P_DEFAULT,
                           H5P_DEFAULT);
    } else if (!(fl & H5B_OMIT_DATA)) {
        /* N-bit needs an integer type narrower than its container to be meaningful. */
        hid_t ft = (fl & H5B_INT_DATA) ? H5T_STD_I64LE : H5T_IEEE_F64LE;
        h5b_write(f, "/sample/matrix/data", ft, H5T_NATIVE_DOUBLE, 1, &n, r->data, fl);
    }
    if (fl & H5B_OBS_MATRIX) {
        double *v = calloc(r->obs_matrix_len ? r->obs_matrix_len : 1, sizeof *v);
        hsize_t m = r->obs_matrix_len;
        if (v) h5b_write(f, "/observation/matrix/data", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &m,
                         v, 0);
        free(v);
    }
}

/* Builds the image into *img (malloc'd, caller frees) and *len; returns 0, or -1 if libhdf5
 * could not produce an image at all. libhdf5's error printing is silenced meanwhile. */
static int h5b_build(const h5b_recipe *r, unsigned char **img, size_t *len) {
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 4096, 0);
    hid_t f = H5Fcreate("h5build-in-memory.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f >= 0) {
        h5b_root(f, r);
        h5b_ids(f, r);
        h5b_matrix(f, r);
        H5Fflush(f, H5F_SCOPE_GLOBAL);
        ssize_t n = H5Fget_file_image(f, NULL, 0);
        if (n > 0 && (*img = malloc((size_t)n)) != NULL) {
            if (H5Fget_file_image(f, *img, (size_t)n) == n) {
                *len = (size_t)n;
                rc = 0;
            } else {
                free(*img);
            }
        }
        H5Fclose(f);
    }
    H5Pclose(fapl);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return rc;
}

#endif
