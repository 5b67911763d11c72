/* biom_hdf5.c - BIOM 2.1 HDF5 file image in memory -> ml_table, read from /sample/matrix (CSR
 * over samples); it keeps observation taxonomy but no other metadata and never writes HDF5. */
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5image.h"
#include "data/readers.h"
#include "data/table.h"
#include "util/error.h"
#include "util/text.h"

/* Deflate cannot expand data more than about 1032:1, so a dataset whose logical size exceeds
 * its stored bytes by more is corrupt (or a decompression bomb); never allocate for it. */
#define GZIP_MAX_RATIO 1032u
/* Small datasets may be compact or unallocated (fill value only): allow this much anyway. */
#define STORAGE_SLACK_BYTES 65536u
#define REASON_MAX 160 /* bytes of libhdf5's error text kept in a message */
#define ECHO_MAX 64    /* bytes of an echoed observation ID */

/* What one parse carries between its steps. */
typedef struct hctx {
    const char *name;
    size_t len; /* bytes of the image */
    hid_t file;
    int64_t shape[2]; /* [n_observations, n_samples] from the root attribute */
    int64_t nnz;
    size_t n_obs, n_samples;
    ml__table_builder *tb;
} hctx;

/* Strings read from one dataset: variable-length (v, reclaimed through mtype/space) or
 * fixed-length (flat, width bytes each, not NUL-terminated). */
typedef struct strs {
    size_t n, width;
    char **v;
    char *flat;
    hid_t mtype, space;
    bool spacepad;
} strs;

/* ---- libhdf5 errors ------------------------------------------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *dst = data;
    if (n == 0 && e->desc) ml__sanitize(dst, REASON_MAX, e->desc, strlen(e->desc));
    return 0;
}

/* The innermost description on libhdf5's error stack ("addr overflow, ..."). */
static void hdf5_reason(char dst[REASON_MAX]) {
    dst[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, dst);
    if (!dst[0]) snprintf(dst, REASON_MAX, "no detail from libhdf5");
}

static ml_status hdf5_fail(const hctx *c, const char *obj, const char *what) {
    char why[REASON_MAX];
    hdf5_reason(why);
    return ML_FAIL(ML_EFORMAT, "%s: %s: %s (truncated or corrupt HDF5: %s)", c->name, obj, what,
                   why);
}

static void close_id(hid_t id, herr_t (*closer)(hid_t)) {
    if (id >= 0) closer(id);
}

/* ---- objects -------------------------------------------------------------------------- */

/* True if every link on path is a hard link. Soft and external links are refused: an external
 * link would make libhdf5 open another file from disk. *exists false if a link is missing. */
static ml_status resolve(const hctx *c, const char *path, bool *exists) {
    char prefix[64];
    size_t n = strlen(path);
    *exists = false;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/') continue;
        if (i >= sizeof prefix) return ML_FAIL(ML_EINVAL, "HDF5 path too long");
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        htri_t e = H5Lexists(c->file, prefix, H5P_DEFAULT);
        if (e < 0) return hdf5_fail(c, prefix, "cannot look up (expected a group)");
        if (e == 0) return ML_OK;
        H5L_info_t info;
        if (H5Lget_info(c->file, prefix, &info, H5P_DEFAULT) < 0)
            return hdf5_fail(c, prefix, "cannot read link");
        if (info.type != H5L_TYPE_HARD)
            return ML_FAIL(ML_EFORMAT, "%s: %s: is a soft or external link (expected a group or "
                           "dataset stored in this file)", c->name, prefix);
    }
    *exists = true;
    return ML_OK;
}

/* Refuses storage that lives outside the image (external files, virtual datasets) and
 * filters that libhdf5 would look for as plugins on disk. */
static ml_status check_layout(const hctx *c, hid_t d, const char *path) {
    ml_status st = ML_OK;
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) return hdf5_fail(c, path, "cannot read its creation properties");
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_VIRTUAL || H5Pget_external_count(dcpl) != 0) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: data stored outside the file (expected data inside "
                     "the BIOM file)", c->name, path);
        goto done;
    }
    int n_filters = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n_filters; i++) {
        unsigned flags, config;
        size_t n_cd = 0;
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, NULL, 0, NULL, &config);
        if (f != H5Z_FILTER_DEFLATE && f != H5Z_FILTER_SHUFFLE && f != H5Z_FILTER_FLETCHER32) {
            st = ML_FAIL(ML_EFORMAT, "%s: %s: compressed with HDF5 filter %d (expected gzip, "
                         "shuffle or fletcher32)", c->name, path, (int)f);
            goto done;
        }
    }
done:
    H5Pclose(dcpl);
    return st;
}

/* Opens the dataset at path. *d is -1 (and ML_OK) when it is absent and not required. */
static ml_status open_dataset(const hctx *c, const char *path, bool required, hid_t *d) {
    bool exists;
    *d = -1;
    ML_TRY(resolve(c, path, &exists));
    if (!exists) {
        if (!required) return ML_OK;
        return ML_FAIL(ML_EFORMAT, "%s: %s: missing (required by BIOM 2.1)", c->name, path);
    }
    H5O_info_t oi;
    if (H5Oget_info_by_name2(c->file, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return hdf5_fail(c, path, "cannot read object header");
    if (oi.type != H5O_TYPE_DATASET)
        return ML_FAIL(ML_EFORMAT, "%s: %s: is not a dataset (expected a dataset)", c->name, path);
    hid_t id = H5Dopen2(c->file, path, H5P_DEFAULT);
    if (id < 0) return hdf5_fail(c, path, "cannot open dataset");
    ml_status st = check_layout(c, id, path);
    if (st != ML_OK) {
        H5Dclose(id);
        return st;
    }
    *d = id;
    return ML_OK;
}

/* Rank and extent of a dataset; rank must lie in [min_rank, max_rank] (at most 2). */
static ml_status get_dims(const hctx *c, hid_t d, const char *path, int min_rank, int max_rank,
                          hsize_t dims[2]) {
    hid_t space = H5Dget_space(d);
    if (space < 0) return hdf5_fail(c, path, "cannot read dataspace");
    int rank = H5Sget_simple_extent_ndims(space);
    ml_status st = ML_OK;
    dims[0] = dims[1] = 1;
    if (rank < 0) {
        st = hdf5_fail(c, path, "cannot read dataspace");
    } else if (rank < min_rank || rank > max_rank ||
               H5Sget_simple_extent_type(space) != H5S_SIMPLE) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: has %d dimensions (expected %d%s)", c->name, path, rank,
                     min_rank, max_rank > min_rank ? " or 2" : "");
    } else if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        st = hdf5_fail(c, path, "cannot read dataspace");
    }
    H5Sclose(space);
    return st;
}

/* Bounds what a read may allocate by what the file actually stores (see GZIP_MAX_RATIO). */
static ml_status check_storage(const hctx *c, hid_t d, const char *path, uint64_t n,
                               size_t elem_size) {
    uint64_t stored = H5Dget_storage_size(d);
    uint64_t limit = (stored < c->len ? stored : c->len) * GZIP_MAX_RATIO + STORAGE_SLACK_BYTES;
    if (elem_size == 0 || n > limit / elem_size)
        return ML_FAIL(ML_EFORMAT, "%s: %s: %" PRIu64 " entries of %zu bytes but the file stores "
                       "%" PRIu64 " bytes for it (truncated or corrupt HDF5)", c->name, path, n,
                       elem_size, stored);
    return ML_OK;
}

/* Reads a 1-D numeric dataset of exactly n entries (n checked against storage first) as
 * int64 (want_float false; integer class required) or double. */
static ml_status read_numbers(const hctx *c, hid_t d, const char *path, size_t n, bool as_float,
                              void **out) {
    ml_status st = ML_OK;
    void *buf = NULL;
    hid_t ftype = H5Dget_type(d);
    if (ftype < 0) return hdf5_fail(c, path, "cannot read datatype");
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls != H5T_INTEGER && (cls != H5T_FLOAT || !as_float)) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: has HDF5 type class %d (expected %s)", c->name, path,
                     (int)cls, as_float ? "integers or floating-point numbers" : "integers");
        goto done;
    }
    if ((st = check_storage(c, d, path, n, H5Tget_size(ftype))) != ML_OK) goto done;
    buf = malloc((n ? n : 1) * 8);
    if (!buf) {
        st = ML_NOMEM();
        goto done;
    }
    if (n > 0 && H5Dread(d, as_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                         H5P_DEFAULT, buf) < 0) {
        st = hdf5_fail(c, path, "cannot read values");
        goto done;
    }
    *out = buf;
    buf = NULL;
done:
    free(buf);
    H5Tclose(ftype);
    return st;
}

/* ---- strings -------------------------------------------------------------------------- */

static void strs_free(strs *s) {
    if (s->v && s->n > 0) H5Dvlen_reclaim(s->mtype, s->space, H5P_DEFAULT, s->v); /* 1.10 API */
    free(s->v);
    free(s->flat);
    close_id(s->mtype, H5Tclose);
    close_id(s->space, H5Sclose);
}

static void strs_get(const strs *s, size_t i, const char **p, size_t *len) {
    if (s->v) {
        *p = s->v[i] ? s->v[i] : "";
        *len = strlen(*p);
        return;
    }
    *p = s->flat + i * s->width;
    size_t n = 0;
    while (n < s->width && (*p)[n]) n++;
    while (s->spacepad && n > 0 && (*p)[n - 1] == ' ') n--;
    *len = n;
}

/* Reads every string of dataset d (n entries in all) into *s; fixed or variable length. */
static ml_status read_strings(const hctx *c, hid_t d, const char *path, size_t n, strs *s) {
    *s = (strs){n, 0, NULL, NULL, -1, -1, false};
    ml_status st = ML_OK;
    hid_t ftype = H5Dget_type(d);
    if (ftype < 0) return hdf5_fail(c, path, "cannot read datatype");
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: is not a string dataset (expected strings)", c->name,
                     path);
        goto done;
    }
    htri_t is_var = H5Tis_variable_str(ftype);
    size_t width = H5Tget_size(ftype);
    if (is_var < 0 || width == 0) {
        st = hdf5_fail(c, path, "cannot read string type");
        goto done;
    }
    if ((st = check_storage(c, d, path, n, width)) != ML_OK) goto done;
    s->space = H5Dget_space(d);
    s->mtype = H5Tcopy(ftype);
    if (s->space < 0 || s->mtype < 0) {
        st = hdf5_fail(c, path, "cannot prepare string read");
        goto done;
    }
    if (is_var) {
        /* Heap strings are stored uncompressed, but many references may point at one big
         * string and libhdf5 would copy it for each: bound the total before reading. */
        hsize_t need = 0;
        if (n > 0 && H5Dvlen_get_buf_size(d, s->mtype, s->space, &need) < 0) {
            st = hdf5_fail(c, path, "cannot read strings");
            goto done;
        }
        if (need > (hsize_t)c->len + n) {
            st = ML_FAIL(ML_EFORMAT, "%s: %s: strings total %" PRIu64 " bytes, more than the "
                         "file holds (truncated or corrupt HDF5)", c->name, path, (uint64_t)need);
            goto done;
        }
        s->v = calloc(n ? n : 1, sizeof *s->v);
        if (!s->v) goto nomem;
    } else {
        s->width = width;
        s->spacepad = H5Tget_strpad(ftype) == H5T_STR_SPACEPAD;
        s->flat = malloc(n ? n * width : 1);
        if (!s->flat) goto nomem;
    }
    /* A read that fails half-way leaves the strings converted so far in s->v (the rest NULL
     * from calloc); strs_free reclaims them. */
    if (n > 0 && H5Dread(d, s->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         is_var ? (void *)s->v : (void *)s->flat) < 0)
        st = hdf5_fail(c, path, "cannot read strings");
    goto done;
nomem:
    st = ML_NOMEM();
done:
    H5Tclose(ftype);
    return st;
}

/* ---- BIOM structure ------------------------------------------------------------------- */

/* Reads root attribute name: integers, exactly n of them. */
static ml_status read_int_attr(const hctx *c, const char *name, size_t n, int64_t *vals) {
    char path[48];
    snprintf(path, sizeof path, "attribute %s", name);
    htri_t e = H5Aexists(c->file, name);
    if (e < 0) return hdf5_fail(c, path, "cannot look up");
    if (e == 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s: missing (required by BIOM 2.1)", c->name, path);
    ml_status st = ML_OK;
    hid_t a = H5Aopen(c->file, name, H5P_DEFAULT), t = -1, sp = -1;
    if (a < 0 || (t = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
        st = hdf5_fail(c, path, "cannot open");
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(t) != H5T_INTEGER || np != (hssize_t)n) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: not %zu integer%s (expected %s)", c->name, path, n,
                     n == 1 ? "" : "s", n == 1 ? "one integer" : "a pair of integers");
        goto done;
    }
    if (H5Aread(a, H5T_NATIVE_INT64, vals) < 0) st = hdf5_fail(c, path, "cannot read");
done:
    close_id(sp, H5Sclose);
    close_id(t, H5Tclose);
    close_id(a, H5Aclose);
    return st;
}

static ml_status read_header(hctx *c) {
    int64_t version[2];
    ML_TRY(read_int_attr(c, "format-version", 2, version));
    if (version[0] != 2)
        return ML_FAIL(ML_EFORMAT, "%s: attribute format-version: %" PRId64 ".%" PRId64
                       " (expected 2.x, BIOM 2.1 HDF5)", c->name, version[0], version[1]);
    ML_TRY(read_int_attr(c, "shape", 2, c->shape));
    ML_TRY(read_int_attr(c, "nnz", 1, &c->nnz));
    for (int i = 0; i < 2; i++) {
        if (c->shape[i] < 0 || c->shape[i] > (int64_t)UINT32_MAX)
            return ML_FAIL(ML_EFORMAT, "%s: attribute shape: shape[%d] is %" PRId64 " (expected "
                           "0 to 4294967295)", c->name, i, c->shape[i]);
    }
    if (c->nnz < 0)
        return ML_FAIL(ML_EFORMAT, "%s: attribute nnz: %" PRId64 " is negative (expected the "
                       "number of stored values)", c->name, c->nnz);
    return ML_OK;
}

/* Reads an ID dataset whose length must equal shape[axis]; adds the IDs to the builder. */
static ml_status read_ids(hctx *c, const char *path, int axis, char *const *taxonomy) {
    hid_t d;
    hsize_t dims[2];
    strs s = {0, 0, NULL, NULL, -1, -1, false};
    ML_TRY(open_dataset(c, path, true, &d));
    ml_status st = get_dims(c, d, path, 1, 1, dims);
    if (st != ML_OK) goto done;
    if (dims[0] != (uint64_t)c->shape[axis]) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: %" PRIu64 " IDs but shape[%d] is %" PRId64 " (expected "
                     "them to agree)", c->name, path, (uint64_t)dims[0], axis, c->shape[axis]);
        goto done;
    }
    if ((st = read_strings(c, d, path, (size_t)dims[0], &s)) != ML_OK) goto done;
    for (size_t i = 0; i < s.n; i++) {
        const char *id;
        size_t len, idx, dup_of;
        strs_get(&s, i, &id, &len);
        if (len == 0) {
            st = ML_FAIL(ML_EFORMAT, "%s: %s[%zu]: empty ID (expected a non-empty string)",
                         c->name, path, i);
            goto done;
        }
        st = axis == 0 ? ml__tb_add_feature(c->tb, id, len, taxonomy ? taxonomy[i] : NULL, &idx,
                                            &dup_of)
                       : ml__tb_add_sample(c->tb, id, len, &idx, &dup_of);
        if (st != ML_OK) goto done;
        if (dup_of != SIZE_MAX && axis == 0) {
            char clean[ECHO_MAX];
            ml__sanitize(clean, sizeof clean, id, len);
            st = ML_FAIL(ML_EFORMAT, "%s: %s[%zu]: duplicate observation ID \"%s\" (first at "
                         "%s[%zu])", c->name, path, i, clean, path, dup_of);
            goto done;
        }
        if (dup_of != SIZE_MAX) {
            st = ML_FAIL(ML_EFORMAT, "%s: %s[%zu]: duplicate sample ID (first at %s[%zu])",
                         c->name, path, i, path, dup_of);
            goto done;
        }
    }
done:
    strs_free(&s);
    H5Dclose(d);
    return st;
}

/* Joins the non-empty levels of row i of an (n_obs, levels) string dataset with "; ". */
static ml_status join_levels(const strs *s, size_t i, size_t levels, char **out) {
    size_t total = 1;
    for (size_t j = 0; j < levels; j++) {
        const char *p;
        size_t n;
        strs_get(s, i * levels + j, &p, &n);
        total += n + 2;
    }
    char *t = malloc(total), *w = t;
    if (!t) return ML_NOMEM();
    for (size_t j = 0; j < levels; j++) {
        const char *p;
        size_t n;
        strs_get(s, i * levels + j, &p, &n);
        if (n == 0) continue;
        if (w != t) {
            memcpy(w, "; ", 2);
            w += 2;
        }
        memcpy(w, p, n);
        w += n;
    }
    *w = '\0';
    if (w == t) {
        free(t);
        t = NULL;
    }
    *out = t;
    return ML_OK;
}

/* Optional /observation/metadata/taxonomy -> one joined string (or NULL) per observation. */
static ml_status read_taxonomy(const hctx *c, char ***out) {
    static const char path[] = "/observation/metadata/taxonomy";
    hid_t d;
    hsize_t dims[2];
    strs s = {0, 0, NULL, NULL, -1, -1, false};
    char **tax = NULL;
    size_t n_obs = (size_t)c->shape[0];
    *out = NULL;
    ML_TRY(open_dataset(c, path, false, &d));
    if (d < 0) return ML_OK;
    ml_status st = get_dims(c, d, path, 1, 2, dims);
    if (st != ML_OK) goto done;
    if (dims[0] != n_obs) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: %" PRIu64 " rows but shape[0] is %zu (expected one row "
                     "per observation)", c->name, path, (uint64_t)dims[0], n_obs);
        goto done;
    }
    size_t levels = (size_t)dims[1];
    if (levels > 0 && n_obs > SIZE_MAX / levels) {
        st = ML_FAIL(ML_EFORMAT, "%s: %s: %zu levels per observation (truncated or corrupt "
                     "HDF5)", c->name, path, levels);
        goto done;
    }
    if ((st = read_strings(c, d, path, n_obs * levels, &s)) != ML_OK) goto done;
    tax = calloc(n_obs ? n_obs : 1, sizeof *tax);
    if (!tax) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n_obs && st == ML_OK; i++) st = join_levels(&s, i, levels, &tax[i]);
    if (st == ML_OK) {
        *out = tax;
        tax = NULL;
    }
done:
    if (tax) {
        for (size_t i = 0; i < n_obs; i++) free(tax[i]);
        free(tax);
    }
    strs_free(&s);
    H5Dclose(d);
    return st;
}

static ml_status read_axes(hctx *c) {
    char **tax;
    ML_TRY(read_taxonomy(c, &tax));
    ml_status st = read_ids(c, "/observation/ids", 0, tax);
    if (tax) {
        for (size_t i = 0; i < (size_t)c->shape[0]; i++) free(tax[i]);
        free(tax);
    }
    if (st != ML_OK) return st;
    ML_TRY(read_ids(c, "/sample/ids", 1, NULL));
    c->n_obs = (size_t)c->shape[0];
    c->n_samples = (size_t)c->shape[1];
    return ML_OK;
}

/* Opens a 1-D dataset of want entries; what says where want comes from. */
static ml_status open_vector(const hctx *c, const char *path, size_t want, const char *what,
                             hid_t *d, size_t *n) {
    hsize_t dims[2];
    ML_TRY(open_dataset(c, path, true, d));
    ml_status st = get_dims(c, *d, path, 1, 1, dims);
    if (st == ML_OK && dims[0] != want)
        st = ML_FAIL(ML_EFORMAT, "%s: %s: %" PRIu64 " entries (expected %zu, %s)", c->name, path,
                     (uint64_t)dims[0], want, what);
    if (st != ML_OK) {
        H5Dclose(*d);
        return st;
    }
    *n = (size_t)dims[0];
    return ML_OK;
}

static ml_status read_vector(const hctx *c, const char *path, size_t want, const char *what,
                             bool as_float, void **out, size_t *n) {
    hid_t d;
    ML_TRY(open_vector(c, path, want, what, &d, n));
    ml_status st = read_numbers(c, d, path, *n, as_float, out);
    H5Dclose(d);
    return st;
}

static ml_status check_indptr(const hctx *c, const int64_t *indptr, size_t nnz) {
    static const char path[] = "/sample/matrix/indptr";
    if (indptr[0] != 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s[0]: %" PRId64 " (expected 0)", c->name, path,
                       indptr[0]);
    for (size_t s = 1; s <= c->n_samples; s++) {
        if (indptr[s] < indptr[s - 1])
            return ML_FAIL(ML_EFORMAT, "%s: %s[%zu]: %" PRId64 " is less than the %" PRId64
                           " before it (expected non-decreasing offsets)", c->name, path, s,
                           indptr[s], indptr[s - 1]);
    }
    if ((uint64_t)indptr[c->n_samples] != nnz)
        return ML_FAIL(ML_EFORMAT, "%s: %s[%zu]: %" PRId64 " (expected %zu, the number of "
                       "stored values)", c->name, path, c->n_samples, indptr[c->n_samples], nnz);
    return ML_OK;
}

/* Adds sample s's values; last_sample[i] remembers which sample last used observation i,
 * so a repeated index is found in O(1) without requiring sorted indices. */
static ml_status add_sample_values(hctx *c, size_t s, const int64_t *indptr,
                                   const int64_t *indices, const double *data,
                                   size_t *last_sample) {
    for (size_t k = (size_t)indptr[s]; k < (size_t)indptr[s + 1]; k++) {
        if (indices[k] < 0 || (uint64_t)indices[k] >= c->n_obs)
            return ML_FAIL(ML_EFORMAT, "%s: /sample/matrix/indices[%zu]: %" PRId64 " is out of "
                           "range (expected 0 to %zu for %zu observations)", c->name, k,
                           indices[k], c->n_obs ? c->n_obs - 1 : 0, c->n_obs);
        size_t i = (size_t)indices[k];
        if (last_sample[i] == s)
            return ML_FAIL(ML_EFORMAT, "%s: /sample/matrix/indices[%zu]: observation %zu appears "
                           "twice in sample #%zu (expected one value per cell)", c->name, k, i,
                           s + 1);
        last_sample[i] = s;
        if (!isfinite(data[k]))
            return ML_FAIL(ML_EFORMAT, "%s: /sample/matrix/data[%zu]: value is not finite "
                           "(expected a non-negative count)", c->name, k);
        if (data[k] < 0)
            return ML_FAIL(ML_EFORMAT, "%s: /sample/matrix/data[%zu]: value %g is negative "
                           "(expected a non-negative count)", c->name, k, data[k]);
        ML_TRY(ml__tb_add_value(c->tb, s, i, data[k]));
    }
    return ML_OK;
}

/* Only the length of /observation/matrix is checked: it holds the same values by observation. */
static ml_status check_observation_matrix(const hctx *c) {
    static const char path[] = "/observation/matrix/data";
    bool exists;
    hid_t d;
    size_t n;
    ML_TRY(resolve(c, path, &exists));
    if (!exists) return ML_OK;
    ML_TRY(open_vector(c, path, (size_t)c->nnz, "the nnz attribute", &d, &n));
    H5Dclose(d);
    return ML_OK;
}

static ml_status read_matrix(hctx *c) {
    int64_t *indptr = NULL, *indices = NULL;
    double *data = NULL;
    size_t *last_sample = NULL, n_ptr, n_idx, n_data;
    ml_status st;
    if ((st = read_vector(c, "/sample/matrix/indptr", c->n_samples + 1, "number of samples + 1",
                          false, (void **)&indptr, &n_ptr)) != ML_OK ||
        (st = read_vector(c, "/sample/matrix/indices", (size_t)c->nnz, "the nnz attribute", false,
                          (void **)&indices, &n_idx)) != ML_OK ||
        (st = read_vector(c, "/sample/matrix/data", (size_t)c->nnz, "the nnz attribute", true,
                          (void **)&data, &n_data)) != ML_OK ||
        (st = check_observation_matrix(c)) != ML_OK ||
        (st = check_indptr(c, indptr, n_data)) != ML_OK)
        goto done;
    last_sample = malloc((c->n_obs ? c->n_obs : 1) * sizeof *last_sample);
    if (!last_sample) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < c->n_obs; i++) last_sample[i] = SIZE_MAX;
    for (size_t s = 0; s < c->n_samples && st == ML_OK; s++)
        st = add_sample_values(c, s, indptr, indices, data, last_sample);
done:
    free(last_sample);
    free(indptr);
    free(indices);
    free(data);
    return st;
}

static ml_status parse_open(hctx *c) {
    ML_TRY(read_header(c));
    if ((uint64_t)c->nnz > (uint64_t)c->len * GZIP_MAX_RATIO)
        return ML_FAIL(ML_EFORMAT, "%s: attribute nnz: %" PRId64 " values cannot fit in %zu bytes "
                       "(truncated or corrupt HDF5)", c->name, c->nnz, c->len);
    ML_TRY(ml__tb_new(&c->tb));
    ML_TRY(read_axes(c));
    return read_matrix(c);
}

ml_status ml__biom_hdf5_parse(ml_table **out, const void *buf, size_t len, const char *name,
                              const ml_table_read_options *o) {
    (void)o;
    hctx c = {name, len, -1, {0, 0}, 0, 0, 0, NULL};
    ML_TRY(ml__h5image_check(name, buf, len));

    /* libhdf5 prints its error stack to stderr unless told not to; restored before return. */
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    ml_status st = ML_OK;
    ml__h5image ref = {buf, len};
    c.file = ml__h5image_open(&ref);
    if (c.file < 0) {
        char why[REASON_MAX];
        hdf5_reason(why);
        st = ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (libhdf5 cannot open it: %s)",
                     name, why);
        goto done;
    }
    if ((st = parse_open(&c)) != ML_OK) goto done;
    char note[160];
    snprintf(note, sizeof note, "BIOM 2.1 HDF5, %zu samples x %zu observations, read from "
             "/sample/matrix (CSR)", c.n_samples, c.n_obs);
    st = ml__tb_finish(c.tb, name, "biom-hdf5", note, out);
    c.tb = NULL; /* consumed whatever the result */
done:
    ml__tb_free(c.tb);
    close_id(c.file, H5Fclose);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return st;
}
