/* safetensors.c - writes safetensors files (header JSON, aligned contiguous data) atomically.
 * It copies the caller's bytes as they are: no dtype conversion, no byte swapping. */
#include "microlens/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/outbuf.h"
#include "util/strmap.h"
#include "util/text.h"
#include "util/utf8.h"

/* The format is little-endian and we copy host bytes, so only little-endian hosts qualify. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies host bytes into a little-endian format: big-endian hosts unsupported"
#endif

/* Tensor names echoed in messages are cut to this many bytes. */
#define NAME_IN_MESSAGE_BYTES 80

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
              {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
              {"U16", 2}, {"U32", 4}, {"U64", 8}};
#define N_DTYPES (sizeof dtypes / sizeof *dtypes)

size_t ml_dtype_size(ml_dtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].size : 0; }

const char *ml_dtype_name(ml_dtype d) {
    return (unsigned)d < N_DTYPES ? dtypes[d].name : "unknown";
}

ml_status ml_dtype_parse(ml_dtype *out, const char *name) {
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (ml_dtype)i;
            return ML_OK;
        }
    }
    char shown[32];
    ml__sanitize(shown, sizeof shown, name, strlen(name));
    return ML_FAIL(ML_EINVAL, "unknown dtype \"%s\" (expected F64, F32, F16, BF16, I64, I32, "
                   "I16, I8, U8, BOOL, U16, U32 or U64)", shown);
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int is_utf8(const char *str) {
    size_t len = strlen(str);
    return ml__utf8_invalid_at(str, len) == len;
}

/* A growing in-memory string for the header, whose length must be known before writing. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static ml_status sbuf_put(sbuf *b, const char *s, size_t n) {
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        while (n > cap - b->len) {
            if (cap > SIZE_MAX / 2) return ML_NOMEM();
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) return ML_NOMEM();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return ML_OK;
}

static ml_status sbuf_str(sbuf *b, const char *s) { return sbuf_put(b, s, strlen(s)); }

static ml_status sbuf_u64(sbuf *b, uint64_t v) {
    char digits[24];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sbuf_put(b, digits + i, sizeof digits - i);
}

/* JSON string literal; the input is valid UTF-8, so only '"', '\\' and controls need escapes. */
static ml_status sbuf_json_string(sbuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    ML_TRY(sbuf_put(b, "\"", 1));
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ML_TRY(sbuf_put(b, esc, 2));
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ML_TRY(sbuf_put(b, esc, 6));
        } else {
            ML_TRY(sbuf_put(b, s, 1));
        }
    }
    return sbuf_put(b, "\"", 1);
}

typedef struct entry {
    const ml_tensor_view *t;
    size_t index;      /* position in the caller's array, for messages */
    uint64_t n_bytes;
} entry;

static int entry_cmp(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    size_t sa = ml_dtype_size(a->t->dtype), sb = ml_dtype_size(b->t->dtype);
    if (sa != sb) return sa > sb ? -1 : 1;
    return strcmp(a->t->name, b->t->name);
}

static ml_status tensor_fail(size_t i, const char *name, const char *what) {
    char shown[NAME_IN_MESSAGE_BYTES];
    ml__sanitize(shown, sizeof shown, name ? name : "", name ? strlen(name) : 0);
    return ML_FAIL(ML_EINVAL, "tensor %zu \"%s\": %s", i, shown, what);
}

static ml_status check_tensor(const ml_tensor_view *t, size_t i, uint64_t *n_bytes) {
    if (!t->name || !t->name[0]) return tensor_fail(i, NULL, "empty name (expected a name)");
    if (!is_utf8(t->name)) return ML_FAIL(ML_EINVAL, "tensor %zu: name is not valid UTF-8", i);
    if (strcmp(t->name, "__metadata__") == 0)
        return tensor_fail(i, t->name, "name is reserved for the metadata");
    size_t esize = ml_dtype_size(t->dtype);
    if (esize == 0) return tensor_fail(i, t->name, "unknown dtype");
    if (t->n_dims > ML_TENSOR_MAX_DIMS) return tensor_fail(i, t->name, "too many dimensions");
    uint64_t n = esize;
    for (size_t d = 0; d < t->n_dims; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (dim != 0 && n > UINT64_MAX / 2 / dim)
            return tensor_fail(i, t->name, "byte size overflows 63 bits");
        n *= dim;
    }
    if (n > 0 && !t->data) return tensor_fail(i, t->name, "data is NULL for a non-empty tensor");
    *n_bytes = n;
    return ML_OK;
}

static ml_status check_metadata(const ml_kv *md, size_t n) {
    ml__strmap seen = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        size_t first;
        if (!md[i].key || !md[i].value) {
            st = ML_FAIL(ML_EINVAL, "metadata %zu: key or value is NULL", i);
        } else if (!is_utf8(md[i].key) || !is_utf8(md[i].value)) {
            st = ML_FAIL(ML_EINVAL, "metadata %zu: key or value is not valid UTF-8", i);
        } else if ((st = ml__strmap_put(&seen, md[i].key, strlen(md[i].key), i, &first)) ==
                       ML_OK && first != SIZE_MAX) {
            char shown[NAME_IN_MESSAGE_BYTES];
            ml__sanitize(shown, sizeof shown, md[i].key, strlen(md[i].key));
            st = ML_FAIL(ML_EINVAL, "metadata %zu: key \"%s\" repeats metadata %zu", i, shown,
                         first);
        }
    }
    ml__strmap_free(&seen);
    return st;
}

static ml_status build_header(sbuf *h, const entry *e, size_t n, const ml_kv *md, size_t n_md) {
    ML_TRY(sbuf_str(h, "{"));
    if (n_md > 0) {
        ML_TRY(sbuf_str(h, "\"__metadata__\":{"));
        for (size_t i = 0; i < n_md; i++) {
            if (i) ML_TRY(sbuf_str(h, ","));
            ML_TRY(sbuf_json_string(h, md[i].key));
            ML_TRY(sbuf_str(h, ":"));
            ML_TRY(sbuf_json_string(h, md[i].value));
        }
        ML_TRY(sbuf_str(h, n ? "}," : "}"));
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const ml_tensor_view *t = e[i].t;
        if (i) ML_TRY(sbuf_str(h, ","));
        ML_TRY(sbuf_json_string(h, t->name));
        ML_TRY(sbuf_str(h, ":{\"dtype\":\""));
        ML_TRY(sbuf_str(h, ml_dtype_name(t->dtype)));
        ML_TRY(sbuf_str(h, "\",\"shape\":["));
        for (size_t d = 0; d < t->n_dims; d++) {
            if (d) ML_TRY(sbuf_str(h, ","));
            ML_TRY(sbuf_u64(h, (uint64_t)t->shape[d]));
        }
        ML_TRY(sbuf_str(h, "],\"data_offsets\":["));
        ML_TRY(sbuf_u64(h, offset));
        ML_TRY(sbuf_str(h, ","));
        if (e[i].n_bytes > UINT64_MAX / 2 - offset)
            return tensor_fail(e[i].index, t->name, "file size overflows 63 bits");
        offset += e[i].n_bytes;
        ML_TRY(sbuf_u64(h, offset));
        ML_TRY(sbuf_str(h, "]}"));
    }
    ML_TRY(sbuf_str(h, "}"));
    /* Spaces after the JSON (allowed by the format) put the data start, 8 + len, on a multiple
     * of 8, so that tensors sorted by element size are all naturally aligned under mmap. */
    while (h->len % 8) ML_TRY(sbuf_str(h, " "));
    if (h->len > ML_SAFETENSORS_MAX_HEADER_BYTES)
        return ML_FAIL(ML_EINVAL, "safetensors header of %zu bytes is over the limit of %u",
                       h->len, ML_SAFETENSORS_MAX_HEADER_BYTES);
    return ML_OK;
}

static ml_status check_tensors(entry *e, const ml_tensor_view *tensors, size_t n) {
    ml__strmap seen = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        e[i].t = &tensors[i];
        e[i].index = i;
        if ((st = check_tensor(&tensors[i], i, &e[i].n_bytes)) != ML_OK) break;
        size_t first;
        st = ml__strmap_put(&seen, tensors[i].name, strlen(tensors[i].name), i, &first);
        if (st == ML_OK && first != SIZE_MAX) {
            char what[96];
            snprintf(what, sizeof what, "name repeats tensor %zu (expected unique names)", first);
            st = tensor_fail(i, tensors[i].name, what);
        }
    }
    ml__strmap_free(&seen);
    return st;
}

static ml_status write_file(const char *path, const sbuf *h, const entry *e, size_t n) {
    unsigned char len_le[8];
    uint64_t hl = (uint64_t)h->len;
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)(hl >> (8 * i));
    ml__outbuf out;
    ml_status st = ml__outbuf_open(&out, path, 0644);
    if (st != ML_OK) return st;
    ml__outbuf_write(&out, len_le, sizeof len_le);
    ml__outbuf_write(&out, h->p, h->len);
    for (size_t i = 0; i < n; i++) {
        if (e[i].n_bytes > SIZE_MAX) {
            ml__outbuf_abort(&out);
            return tensor_fail(e[i].index, e[i].t->name, "larger than this machine's memory");
        }
        if (e[i].n_bytes) ml__outbuf_write(&out, e[i].t->data, (size_t)e[i].n_bytes);
    }
    return ml__outbuf_commit(&out); /* reports the first failed write, if any */
}

ml_status ml_safetensors_write(const char *path, const ml_tensor_view *tensors, size_t n,
                               const ml_kv *metadata, size_t n_metadata) {
    ml_status st = ML_OK;
    sbuf header = {NULL, 0, 0};
    entry *e = NULL;
    if (n > 0 && !tensors) return ML_FAIL(ML_EINVAL, "tensors is NULL with n = %zu", n);
    if (n_metadata > 0 && !metadata)
        return ML_FAIL(ML_EINVAL, "metadata is NULL with n_metadata = %zu", n_metadata);
    if (n > 0 && !(e = calloc(n, sizeof *e))) return ML_NOMEM();
    if ((st = check_tensors(e, tensors, n)) != ML_OK) goto done;
    if ((st = check_metadata(metadata, n_metadata)) != ML_OK) goto done;
    if (n > 1) qsort(e, n, sizeof *e, entry_cmp);
    if ((st = build_header(&header, e, n, metadata, n_metadata)) != ML_OK) goto done;
    st = write_file(path, &header, e, n);
done:
    free(header.p);
    free(e);
    return st;
}
