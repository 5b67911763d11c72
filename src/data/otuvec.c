/* otuvec.c - reads OTU vectors (safetensors, or HDF5 /embeddings/<OTU_ID>) into one float
 * block with an ID -> row hash map; it never writes vectors and keeps no file open. */
#include "microlens/otuvec.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5image.h"
#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/text.h"

#define GROUP "/embeddings"
#define SHOWN_BYTES 96 /* bytes of an OTU ID echoed in a message */
#define REASON_MAX 160 /* bytes of libhdf5's error text kept in a message */
/* Deflate expands at most about 1032:1, so a dataset claiming more than that over its stored
 * bytes is corrupt (as in biom_hdf5.c); small datasets may be compact, hence the slack. */
#define GZIP_MAX_RATIO 1032u
#define STORAGE_SLACK_BYTES 65536u

static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

struct ml_otuvec {
    size_t n, dim, cap;
    char *names;      /* NUL-terminated IDs back to back */
    size_t names_len, names_cap;
    size_t *name_off; /* (n) offsets into names */
    float *data;      /* (n, dim) */
    const char **keys; /* (n) pointers into names, made once names stop moving */
    ml__strmap map;
    const char *format;
};

static void shown(char dst[SHOWN_BYTES], const char *s) {
    ml__sanitize(dst, SHOWN_BYTES, s, strlen(s));
}

void ml_otuvec_free(ml_otuvec *v) {
    if (!v) return;
    free(v->names);
    free(v->name_off);
    free(v->data);
    free(v->keys);
    ml__strmap_free(&v->map);
    free(v);
}

/* Sizes the float block for cap vectors of dim floats. */
static ml_status reserve(ml_otuvec *v, size_t cap, size_t dim) {
    if (cap > SIZE_MAX / sizeof(float) / dim) return ML_NOMEM();
    v->cap = cap;
    v->dim = dim;
    v->data = malloc(cap * dim * sizeof(float));
    v->name_off = malloc(cap * sizeof *v->name_off);
    if (!v->data || !v->name_off) return ML_NOMEM();
    return ML_OK;
}

static ml_status add_name(ml_otuvec *v, const char *name) {
    size_t len = strlen(name) + 1;
    if (v->names_len + len > v->names_cap) {
        size_t cap = v->names_cap ? v->names_cap : 4096;
        while (cap < v->names_len + len) cap *= 2;
        char *p = realloc(v->names, cap);
        if (!p) return ML_NOMEM();
        v->names = p;
        v->names_cap = cap;
    }
    memcpy(v->names + v->names_len, name, len);
    v->name_off[v->n++] = v->names_len;
    v->names_len += len;
    return ML_OK;
}

static ml_status check_finite(const char *path, const char *where, const char *name,
                              const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i])) continue;
        char s[SHOWN_BYTES];
        shown(s, name);
        return ML_FAIL(ML_EFORMAT, "%s: %s%s: value %zu is not finite (expected finite "
                       "floats)", path, where, s, i);
    }
    return ML_OK;
}

/* Builds the hash map once every name is in place (names no longer move). */
static ml_status index_names(const char *path, ml_otuvec *v) {
    if (v->n == 0)
        return ML_FAIL(ML_EFORMAT, "%s: no OTU vectors (expected at least one)", path);
    v->keys = malloc(v->n * sizeof *v->keys);
    if (!v->keys) return ML_NOMEM();
    for (size_t i = 0; i < v->n; i++) {
        v->keys[i] = v->names + v->name_off[i];
        size_t existing;
        ML_TRY(ml__strmap_put(&v->map, v->keys[i], strlen(v->keys[i]), i, &existing));
        if (existing != SIZE_MAX) {
            char s[SHOWN_BYTES];
            shown(s, v->keys[i]);
            return ML_FAIL(ML_EFORMAT, "%s: OTU ID \"%s\" appears twice (expected unique IDs)",
                           path, s);
        }
    }
    return ML_OK;
}

/* ---- safetensors ----------------------------------------------------------------------- */

static ml_status st_shape(const char *path, size_t dim, const ml_tensor_view *t) {
    char s[SHOWN_BYTES];
    shown(s, t->name);
    if (t->n_dims != 1)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s: has %zu dimensions (expected one [D] "
                       "vector per OTU ID)", path, s, t->n_dims);
    if (t->shape[0] != dim)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s: length %zu (expected %zu, the length of "
                       "the first vector)", path, s, t->shape[0], dim);
    return ML_OK;
}

static ml_status st_tensor(const char *path, ml_otuvec *v, const ml_tensor_view *t) {
    char s[SHOWN_BYTES];
    shown(s, t->name);
    float *dst = v->data + v->n * v->dim;
    if (ml_safetensors_read_f32(t, dst) != ML_OK)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s: dtype %s (expected F32, F16, BF16 or F64)",
                       path, s, ml_dtype_name(t->dtype));
    ML_TRY(check_finite(path, "tensor ", t->name, dst, v->dim));
    return add_name(v, t->name);
}

/* Where the vectors come from: a file (path) or bytes in memory (buf, len); name stands for
 * either in messages. */
typedef struct source {
    const char *name, *path;
    const void *buf;
    size_t len;
} source;

static ml_status read_safetensors(const source *src, ml_otuvec *v) {
    const char *path = src->name;
    ml_safetensors *st = NULL;
    ML_TRY(src->path ? ml_safetensors_open(&st, src->path)
                     : ml_safetensors_parse_buffer(&st, src->buf, src->len, src->name));
    ml_status s = ML_OK;
    size_t n = ml_safetensors_n_tensors(st);
    if (n == 0) {
        s = ML_FAIL(ML_EFORMAT, "%s: no tensors (expected one [D] tensor per OTU ID)", path);
        goto done;
    }
    const ml_tensor_view *t0 = ml_safetensors_tensor(st, 0);
    size_t dim = t0->n_dims == 1 ? t0->shape[0] : 1;
    if (dim == 0 || dim > ML_OTUVEC_MAX_DIM) {
        char sh[SHOWN_BYTES];
        shown(sh, t0->name);
        s = ML_FAIL(ML_EFORMAT, "%s: tensor %s: length %zu (expected 1 .. %zu)", path, sh, dim,
                    ML_OTUVEC_MAX_DIM);
        goto done;
    }
    /* Shapes first: the float block is then sized by what the file really holds. */
    for (size_t i = 0; i < n && s == ML_OK; i++) s = st_shape(path, dim, ml_safetensors_tensor(st, i));
    if (s == ML_OK) s = reserve(v, n, dim);
    if (s != ML_OK) goto done;
    for (size_t i = 0; i < n && s == ML_OK; i++) s = st_tensor(path, v, ml_safetensors_tensor(st, i));
done:
    ml_safetensors_close(st);
    return s;
}

/* ---- HDF5 ------------------------------------------------------------------------------ */

/* What the HDF5 reader carries; names collects link names before any dataset is read. */
typedef struct h5ctx {
    const char *path;
    hid_t file, group;
    char **names;
    size_t n, cap;
    ml_status st; /* set by the iteration callback */
} h5ctx;

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *dst = data;
    if (n == 0 && e->desc) ml__sanitize(dst, REASON_MAX, e->desc, strlen(e->desc));
    return 0;
}

static ml_status h5_fail(const h5ctx *c, const char *name, const char *what) {
    char why[REASON_MAX] = "", s[SHOWN_BYTES];
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, why);
    shown(s, name);
    return ML_FAIL(ML_EFORMAT, "%s: " GROUP "%s%s: %s (truncated or corrupt HDF5: %s)", c->path,
                   s[0] ? "/" : "", s, what, why[0] ? why : "no detail from libhdf5");
}

/* A well-formed file breaking one of our rules: no libhdf5 reason to add. */
static ml_status h5_bad(const h5ctx *c, const char *name, const char *what) {
    char s[SHOWN_BYTES];
    shown(s, name);
    return ML_FAIL(ML_EFORMAT, "%s: " GROUP "/%s: %s", c->path, s, what);
}

static herr_t collect_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    h5ctx *c = data;
    if (info->type != H5L_TYPE_HARD) {
        char s[SHOWN_BYTES];
        shown(s, name);
        c->st = ML_FAIL(ML_EFORMAT, "%s: " GROUP "/%s: is a soft or external link (expected a "
                        "dataset stored in this file)", c->path, s);
        return -1;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        char **p = realloc(c->names, cap * sizeof *p);
        if (!p) goto nomem;
        c->names = p;
        c->cap = cap;
    }
    size_t len = strlen(name) + 1;
    if (!(c->names[c->n] = malloc(len))) goto nomem;
    memcpy(c->names[c->n++], name, len);
    return 0;
nomem:
    c->st = ML_NOMEM();
    return -1;
}

/* Refuses data stored outside the file and filters libhdf5 would look for as plugins. */
static ml_status h5_check_layout(const h5ctx *c, hid_t d, const char *name) {
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) return h5_fail(c, name, "cannot read its creation properties");
    ml_status st = ML_OK;
    if (H5Pget_layout(dcpl) == H5D_VIRTUAL || H5Pget_external_count(dcpl) != 0)
        st = h5_bad(c, name, "data stored outside the file");
    int n_filters = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n_filters && st == ML_OK; i++) {
        unsigned flags, config;
        size_t n_cd = 0;
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, NULL, 0, NULL, &config);
        if (f != H5Z_FILTER_DEFLATE && f != H5Z_FILTER_SHUFFLE && f != H5Z_FILTER_FLETCHER32)
            st = h5_bad(c, name, "compressed with a filter other than gzip, shuffle or "
                         "fletcher32");
    }
    H5Pclose(dcpl);
    return st;
}

/* Length of the 1-D float dataset d, bounded by what the file stores for it. */
static ml_status h5_length(const h5ctx *c, hid_t d, const char *name, size_t *len) {
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    ml_status st = ML_OK;
    hsize_t dims[1] = {0};
    if (type < 0 || space < 0) {
        st = h5_fail(c, name, "cannot read its type or dataspace");
    } else if (H5Tget_class(type) != H5T_FLOAT) {
        st = h5_bad(c, name, "is not a float dataset (expected float32 or float64)");
    } else if (H5Sget_simple_extent_type(space) != H5S_SIMPLE ||
               H5Sget_simple_extent_ndims(space) != 1 ||
               H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        st = h5_bad(c, name, "is not 1-dimensional (expected one vector per OTU)");
    } else {
        uint64_t stored = H5Dget_storage_size(d);
        if (dims[0] > (stored * GZIP_MAX_RATIO + STORAGE_SLACK_BYTES) / 2)
            st = h5_bad(c, name, "claims more values than the file stores");
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    *len = (size_t)dims[0];
    return st;
}

static ml_status h5_vector(h5ctx *c, ml_otuvec *v, const char *name) {
    H5O_info_t oi;
    if (H5Oget_info_by_name2(c->group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return h5_fail(c, name, "cannot read object header");
    if (oi.type != H5O_TYPE_DATASET)
        return h5_bad(c, name, "is not a dataset (expected one dataset per OTU)");
    hid_t d = H5Dopen2(c->group, name, H5P_DEFAULT);
    if (d < 0) return h5_fail(c, name, "cannot open dataset");
    size_t len = 0;
    ml_status st = h5_check_layout(c, d, name);
    if (st == ML_OK) st = h5_length(c, d, name, &len);
    if (st == ML_OK && v->n == 0) {
        if (len == 0 || len > ML_OTUVEC_MAX_DIM) {
            char s[SHOWN_BYTES];
            shown(s, name);
            st = ML_FAIL(ML_EFORMAT, "%s: " GROUP "/%s: length %zu (expected 1 .. %zu)",
                         c->path, s, len, ML_OTUVEC_MAX_DIM);
        } else {
            st = reserve(v, c->n, len);
        }
    }
    if (st == ML_OK && len != v->dim) {
        char s[SHOWN_BYTES];
        shown(s, name);
        st = ML_FAIL(ML_EFORMAT, "%s: " GROUP "/%s: length %zu (expected %zu, the length of "
                     "the first vector)", c->path, s, len, v->dim);
    }
    float *dst = v->data ? v->data + v->n * v->dim : NULL;
    if (st == ML_OK && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        st = h5_fail(c, name, "cannot read values");
    if (st == ML_OK) st = check_finite(c->path, GROUP "/", name, dst, v->dim);
    if (st == ML_OK) st = add_name(v, name);
    H5Dclose(d);
    return st;
}

static ml_status h5_read_all(h5ctx *c, ml_otuvec *v) {
    if (c->file < 0) {
        char why[REASON_MAX] = "";
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, why);
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (libhdf5 cannot open it: %s)",
                       c->path, why[0] ? why : "no detail from libhdf5");
    }
    htri_t e = H5Lexists(c->file, "embeddings", H5P_DEFAULT);
    H5O_info_t oi;
    if (e <= 0 || H5Oget_info_by_name2(c->file, GROUP, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_GROUP)
        return ML_FAIL(ML_EFORMAT, "%s: no group " GROUP " (expected the upstream layout "
                       GROUP "/<OTU_ID>, one dataset per OTU)", c->path);
    H5L_info_t li;
    if (H5Lget_info(c->file, GROUP, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD)
        return ML_FAIL(ML_EFORMAT, "%s: " GROUP " is a soft or external link (expected a group "
                       "stored in this file)", c->path);
    if ((c->group = H5Gopen2(c->file, GROUP, H5P_DEFAULT)) < 0)
        return h5_fail(c, "", "cannot open group");
    if (H5Literate(c->group, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_cb, c) < 0)
        return c->st != ML_OK ? c->st : h5_fail(c, "", "cannot list the group");
    for (size_t i = 0; i < c->n; i++) ML_TRY(h5_vector(c, v, c->names[i]));
    return ML_OK;
}

static ml_status read_hdf5(const source *src, ml_otuvec *v) {
    /* libhdf5 would read past a cut image as zeros; a file on disk it checks itself. */
    if (!src->path) ML_TRY(ml__h5image_check(src->name, src->buf, src->len));
    /* libhdf5 prints its error stack to stderr unless told not to; restored before return. */
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5ctx c = {src->name, -1, -1, NULL, 0, 0, ML_OK};
    ml__h5image img = {src->buf, src->len}; /* outlives c.file */
    c.file = src->path ? H5Fopen(src->path, H5F_ACC_RDONLY, H5P_DEFAULT) : ml__h5image_open(&img);
    ml_status st = h5_read_all(&c, v);
    for (size_t i = 0; i < c.n; i++) free(c.names[i]);
    free(c.names);
    if (c.group >= 0) H5Gclose(c.group);
    if (c.file >= 0) H5Fclose(c.file);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return st;
}

/* ---- API ------------------------------------------------------------------------------- */

static ml_status sniff_hdf5(const char *path, int *is_hdf5) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot open: %s (expected "
                       "an OTU vector file: safetensors or HDF5)", path, strerror(errno));
    unsigned char head[8] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    *is_hdf5 = got == sizeof head && memcmp(head, hdf5_magic, sizeof head) == 0;
    return ML_OK;
}

static ml_status read_any(ml_otuvec **out, const source *src, int is_hdf5) {
    ml_otuvec *v = calloc(1, sizeof *v);
    if (!v) return ML_NOMEM();
    ml__strmap init = ML__STRMAP_INIT;
    v->map = init;
    v->format = is_hdf5 ? "hdf5" : "safetensors";
    ml_status st = is_hdf5 ? read_hdf5(src, v) : read_safetensors(src, v);
    if (st == ML_OK) st = index_names(src->name, v);
    if (st != ML_OK) {
        ml_otuvec_free(v);
        return st;
    }
    *out = v;
    return ML_OK;
}

ml_status ml_otuvec_read(ml_otuvec **out, const char *path) {
    int is_hdf5 = 0;
    ML_TRY(sniff_hdf5(path, &is_hdf5));
    source src = {path, path, NULL, 0};
    return read_any(out, &src, is_hdf5);
}

ml_status ml_otuvec_parse(ml_otuvec **out, const void *buf, size_t len, const char *name) {
    const char *shown_name = name ? name : "<buffer>";
    if (!buf && len)
        return ML_FAIL(ML_EINVAL, "%s: buffer is NULL with len = %zu", shown_name, len);
    int is_hdf5 = len >= sizeof hdf5_magic && memcmp(buf, hdf5_magic, sizeof hdf5_magic) == 0;
    source src = {shown_name, NULL, buf ? buf : "", len};
    return read_any(out, &src, is_hdf5);
}

size_t ml_otuvec_count(const ml_otuvec *v) { return v->n; }
size_t ml_otuvec_dim(const ml_otuvec *v) { return v->dim; }
const char *ml_otuvec_format_name(const ml_otuvec *v) { return v->format; }

const float *ml_otuvec_find(const ml_otuvec *v, const char *otu_id) {
    size_t i;
    if (!ml__strmap_get(&v->map, otu_id, strlen(otu_id), &i)) return NULL;
    return v->data + i * v->dim;
}

const char *ml_otuvec_id(const ml_otuvec *v, size_t i) {
    return i < v->n ? v->keys[i] : NULL;
}

const float *ml_otuvec_vector(const ml_otuvec *v, size_t i) {
    return i < v->n ? v->data + i * v->dim : NULL;
}
