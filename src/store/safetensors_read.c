/* safetensors_read.c - maps and strictly validates safetensors files, lending tensor views
 * into the map. It never copies tensor data and never accepts a file the rules refuse. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/text.h"
#include "util/utf8.h"

/* Tensor names and JSON parser text echoed in messages are cut to this many bytes. */
#define SHOWN_BYTES 80
/* The length prefix before the header JSON. */
#define LEN_BYTES 8

struct ml_safetensors {
    void *map; /* NULL when the bytes are a caller's buffer */
    size_t map_len;
    json_t *root;            /* owns every name, key and value string lent out */
    ml_tensor_view *tensors; /* ordered by data offset */
    size_t n_tensors;
    ml_kv *metadata;
    size_t n_metadata;
    ml__strmap by_name; /* name -> index in tensors; keys borrowed from root */
};

/* What the parse needs while it runs; begin/end are data-section offsets of each tensor. */
typedef struct parse {
    const char *file;
    const unsigned char *data; /* data section */
    uint64_t data_len;
    ml_safetensors *st;
    uint64_t *begin, *end;
} parse;

static void shown(char dst[SHOWN_BYTES], const char *s) {
    ml__sanitize(dst, SHOWN_BYTES, s, strlen(s));
}

static ml_status tensor_fail(const parse *p, const char *name, const char *what) {
    char n[SHOWN_BYTES];
    shown(n, name);
    return ML_FAIL(ML_EFORMAT, "%s: header: \"%s\": %s", p->file, n, what);
}

static ml_status parse_dtype(const parse *p, const char *name, json_t *v, ml_dtype *out) {
    if (!json_is_string(v))
        return tensor_fail(p, name, "dtype is not a string (rule: dtype must be a type name)");
    if (ml_dtype_parse(out, json_string_value(v)) == ML_OK) return ML_OK;
    char n[SHOWN_BYTES], d[SHOWN_BYTES];
    shown(n, name);
    shown(d, json_string_value(v));
    return ML_FAIL(ML_EFORMAT, "%s: header: \"%s\": unknown dtype \"%s\" (rule: dtype must be "
                   "one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, U16, U32, U64)",
                   p->file, n, d);
}

/* A JSON integer >= 0; reals ("2.0"), negatives and other types are refused. */
static int get_count(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static ml_status parse_shape(const parse *p, const char *name, json_t *v, ml_tensor_view *t) {
    if (!json_is_array(v))
        return tensor_fail(p, name, "shape is not an array (rule: shape must be an array of "
                                    "non-negative integers)");
    if (json_array_size(v) > ML_TENSOR_MAX_DIMS)
        return tensor_fail(p, name, "shape has more than 8 dimensions (rule: at most 8 "
                                    "dimensions, a microlens limit)");
    t->n_dims = json_array_size(v);
    for (size_t d = 0; d < t->n_dims; d++) {
        uint64_t dim;
        if (!get_count(json_array_get(v, d), &dim) || dim > SIZE_MAX)
            return tensor_fail(p, name, "shape holds something other than a non-negative "
                                        "integer (rule: shape must be an array of non-negative "
                                        "integers)");
        t->shape[d] = (size_t)dim;
    }
    return ML_OK;
}

static ml_status parse_offsets(const parse *p, const char *name, json_t *v, uint64_t *begin,
                               uint64_t *end) {
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        !get_count(json_array_get(v, 0), begin) || !get_count(json_array_get(v, 1), end))
        return tensor_fail(p, name, "data_offsets is not [begin, end] (rule: data_offsets must "
                                    "be two non-negative integers)");
    if (*begin > *end)
        return tensor_fail(p, name, "data_offsets begin after they end (rule: begin <= end)");
    return ML_OK;
}

/* Byte size from the shape, refusing overflow even when a zero dimension makes the tensor
 * empty: callers may compute strides from the other dimensions. */
static ml_status check_size(const parse *p, const char *name, const ml_tensor_view *t,
                            uint64_t begin, uint64_t end) {
    uint64_t n = ml_dtype_size(t->dtype);
    int is_empty = 0;
    for (size_t d = 0; d < t->n_dims; d++) {
        uint64_t dim = t->shape[d];
        if (dim == 0) {
            is_empty = 1;
            continue;
        }
        if (n > UINT64_MAX / 2 / dim)
            return tensor_fail(p, name, "byte size of the shape overflows 63 bits (rule: "
                                        "shape times dtype size must fit the file)");
        n *= dim;
    }
    if (is_empty) n = 0;
    if (n != end - begin) {
        char what[200];
        snprintf(what, sizeof what, "shape and dtype give %llu bytes but data_offsets span "
                 "%llu (rule: byte size must equal end - begin)", (unsigned long long)n,
                 (unsigned long long)(end - begin));
        return tensor_fail(p, name, what);
    }
    return ML_OK;
}

static ml_status parse_tensor(parse *p, const char *name, json_t *entry, size_t i) {
    if (!json_is_object(entry))
        return tensor_fail(p, name, "entry is not an object (rule: each tensor is an object "
                                    "with dtype, shape and data_offsets)");
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    json_t *v[3];
    for (size_t k = 0; k < 3; k++) {
        if (!(v[k] = json_object_get(entry, keys[k]))) {
            char what[160];
            snprintf(what, sizeof what, "no %s (rule: each tensor has dtype, shape and "
                     "data_offsets)", keys[k]);
            return tensor_fail(p, name, what);
        }
    }
    if (json_object_size(entry) != 3)
        return tensor_fail(p, name, "entry has keys other than dtype, shape and data_offsets "
                                    "(rule: no extra keys)");
    ml_tensor_view *t = &p->st->tensors[i];
    t->name = name;
    ML_TRY(parse_dtype(p, name, v[0], &t->dtype));
    ML_TRY(parse_shape(p, name, v[1], t));
    ML_TRY(parse_offsets(p, name, v[2], &p->begin[i], &p->end[i]));
    return check_size(p, name, t, p->begin[i], p->end[i]);
}

static ml_status parse_metadata(parse *p, json_t *md) {
    if (!json_is_object(md))
        return ML_FAIL(ML_EFORMAT, "%s: header: __metadata__ is not an object (rule: "
                       "__metadata__ must map strings to strings)", p->file);
    ml_safetensors *st = p->st;
    size_t n = json_object_size(md);
    if (n && !(st->metadata = calloc(n, sizeof *st->metadata))) return ML_NOMEM();
    const char *key;
    json_t *value;
    json_object_foreach(md, key, value) {
        if (!json_is_string(value)) {
            char k[SHOWN_BYTES];
            shown(k, key);
            return ML_FAIL(ML_EFORMAT, "%s: header: __metadata__.\"%s\" is not a string (rule: "
                           "__metadata__ values must be strings)", p->file, k);
        }
        st->metadata[st->n_metadata].key = key;
        st->metadata[st->n_metadata++].value = json_string_value(value);
    }
    return ML_OK;
}

/* Sorts tensor indices by (begin, end, name); the names make the order total. */
typedef struct order {
    uint64_t begin, end;
    size_t index;
    const char *name;
} order;

static int order_cmp(const void *pa, const void *pb) {
    const order *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

static ml_status layout_fail(const parse *p, const order *prev, const order *cur) {
    char a[SHOWN_BYTES], b[SHOWN_BYTES];
    shown(b, cur->name);
    if (!prev)
        return ML_FAIL(ML_EFORMAT, "%s: header: data_offsets of \"%s\" start at %llu, the first "
                       "tensor (rule: offsets must start at 0)", p->file, b,
                       (unsigned long long)cur->begin);
    shown(a, prev->name);
    if (cur->begin < prev->end)
        return ML_FAIL(ML_EFORMAT, "%s: header: data_offsets of \"%s\" [%llu, %llu] overlap \"%s\" "
                       "[%llu, %llu] (rule: tensors must not overlap)", p->file, b,
                       (unsigned long long)cur->begin, (unsigned long long)cur->end, a,
                       (unsigned long long)prev->begin, (unsigned long long)prev->end);
    return ML_FAIL(ML_EFORMAT, "%s: header: %llu bytes between \"%s\" (ends at %llu) and \"%s\" "
                   "belong to no tensor (rule: no gaps between tensors)", p->file,
                   (unsigned long long)(cur->begin - prev->end), a,
                   (unsigned long long)prev->end, b);
}

/* Orders the tensors by offset and checks that they tile the data section exactly. */
static ml_status check_layout(parse *p) {
    ml_safetensors *st = p->st;
    size_t n = st->n_tensors;
    ml_status s = ML_OK;
    order *o = n ? calloc(n, sizeof *o) : NULL;
    ml_tensor_view *sorted = n ? calloc(n, sizeof *sorted) : NULL;
    if (n && (!o || !sorted)) {
        s = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (order){p->begin[i], p->end[i], i, st->tensors[i].name};
    if (n > 1) qsort(o, n, sizeof *o, order_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i].begin != pos) {
            s = layout_fail(p, i ? &o[i - 1] : NULL, &o[i]);
            goto done;
        }
        pos = o[i].end;
    }
    if (pos != p->data_len) {
        s = ML_FAIL(ML_EFORMAT, "%s: header: tensors end at offset %llu of a %llu-byte data "
                    "section (rule: tensors must cover the data section exactly)", p->file,
                    (unsigned long long)pos, (unsigned long long)p->data_len);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = st->tensors[o[i].index];
        sorted[i].data = o[i].end > o[i].begin ? p->data + o[i].begin : NULL;
    }
    free(st->tensors);
    st->tensors = sorted;
    sorted = NULL;
done:
    free(sorted);
    free(o);
    return s;
}

static ml_status index_names(ml_safetensors *st) {
    for (size_t i = 0; i < st->n_tensors; i++) {
        size_t existing;
        const char *name = st->tensors[i].name;
        ML_TRY(ml__strmap_put(&st->by_name, name, strlen(name), i, &existing));
    }
    return ML_OK;
}

static ml_status parse_entries(parse *p) {
    ml_safetensors *st = p->st;
    size_t n = json_object_size(st->root);
    if (n && (!(st->tensors = calloc(n, sizeof *st->tensors)) ||
              !(p->begin = calloc(n, sizeof *p->begin)) || !(p->end = calloc(n, sizeof *p->end))))
        return ML_NOMEM();
    const char *key;
    json_t *value;
    json_object_foreach(st->root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            ML_TRY(parse_metadata(p, value));
        } else {
            ML_TRY(parse_tensor(p, key, value, st->n_tensors));
            st->n_tensors++;
        }
    }
    ML_TRY(check_layout(p));
    return index_names(st);
}

/* What the reference parser (serde_json) skips after the value; its writer pads with ' '. */
static int is_json_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static ml_status parse_json(parse *p, const char *hdr, size_t n) {
    size_t bad = ml__utf8_invalid_at(hdr, n);
    if (bad < n)
        return ML_FAIL(ML_EFORMAT, "%s: header: byte %zu is not valid UTF-8 (rule: the header "
                       "must be UTF-8)", p->file, bad);
    if (n == 0 || hdr[0] != '{')
        return ML_FAIL(ML_EFORMAT, "%s: header: does not start with '{' (rule: the header must "
                       "be a JSON object from its first byte)", p->file);
    json_error_t jerr;
    p->st->root = json_loadb(hdr, n, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!p->st->root) {
        char text[SHOWN_BYTES];
        ml__sanitize(text, sizeof text, jerr.text, strlen(jerr.text));
        int is_dup = json_error_code(&jerr) == json_error_duplicate_key;
        return ML_FAIL(ML_EFORMAT, "%s: header: byte %d: %s (rule: %s)", p->file, jerr.position,
                       text, is_dup ? "tensor names and keys must be unique"
                                    : "the header must be valid JSON");
    }
    /* With the EOF check off, position is the number of bytes the JSON value used. */
    for (size_t i = (size_t)jerr.position; i < n; i++) {
        if (!is_json_space((unsigned char)hdr[i]))
            return ML_FAIL(ML_EFORMAT, "%s: header: byte %zu after the JSON object is not "
                           "padding (rule: the header may end only with spaces)", p->file, i);
    }
    return ML_OK;
}

static ml_status parse_all(ml_safetensors *st, const unsigned char *buf, size_t len,
                           const char *file) {
    parse p = {file, NULL, 0, st, NULL, NULL};
    ml_status s;
    if (len < LEN_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s: %zu bytes, shorter than the 8-byte header length "
                       "(rule: a file starts with its header length)", file, len);
    uint64_t n = 0;
    for (int i = LEN_BYTES - 1; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > ML_SAFETENSORS_MAX_HEADER_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s: header length %llu is over %u bytes (rule: header at "
                       "most 100 MB)", file, (unsigned long long)n,
                       ML_SAFETENSORS_MAX_HEADER_BYTES);
    if (n > len - LEN_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s: header length %llu runs past the end of the %zu-byte "
                       "file (rule: the header must fit in the file)", file,
                       (unsigned long long)n, len);
    p.data = buf + LEN_BYTES + n;
    p.data_len = len - LEN_BYTES - n;
    if ((s = parse_json(&p, (const char *)buf + LEN_BYTES, (size_t)n)) == ML_OK)
        s = parse_entries(&p);
    free(p.begin);
    free(p.end);
    return s;
}

void ml_safetensors_close(ml_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    ml__strmap_free(&st->by_name);
    free(st->tensors);
    free(st->metadata);
    json_decref(st->root);
    free(st);
}

ml_status ml_safetensors_parse_buffer(ml_safetensors **out, const void *buf, size_t len,
                                      const char *name) {
    const char *file = name ? name : "<buffer>";
    if (!buf && len) return ML_FAIL(ML_EINVAL, "%s: buffer is NULL with len = %zu", file, len);
    ML_TRY(ml_pickle_refuse_bytes(name, buf, len));
    ml_safetensors *st = calloc(1, sizeof *st);
    if (!st) return ML_NOMEM();
    st->by_name = (ml__strmap)ML__STRMAP_INIT;
    ml_status s = parse_all(st, buf ? buf : "", len, file);
    if (s != ML_OK) {
        ml_safetensors_close(st);
        return s;
    }
    *out = st;
    return ML_OK;
}

static ml_status map_file(const char *path, void **map, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot open (%s)", path,
                       strerror(errno));
    ml_status s = ML_OK;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = ML_FAIL(ML_EIO, "%s: cannot stat (%s)", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        s = ML_FAIL(ML_EFORMAT, "%s: not a regular file (expected a safetensors file)", path);
    } else if ((uint64_t)sb.st_size > SIZE_MAX) {
        s = ML_FAIL(ML_EIO, "%s: too large to map on this machine", path);
    } else if (sb.st_size == 0) {
        *map = NULL; /* mmap refuses length 0; the parser reports the short file */
        *len = 0;
    } else {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = ML_FAIL(ML_EIO, "%s: cannot map (%s)", path, strerror(errno));
        } else {
            *map = m;
            *len = (size_t)sb.st_size;
        }
    }
    close(fd);
    return s;
}

ml_status ml_safetensors_open(ml_safetensors **out, const char *path) {
    ML_TRY(ml_pickle_refuse_bytes(path, NULL, 0)); /* by name, before touching the file */
    void *map = NULL;
    size_t len = 0;
    ML_TRY(map_file(path, &map, &len));
    ml_safetensors *st = NULL;
    ml_status s = ml_safetensors_parse_buffer(&st, map, len, path);
    if (s != ML_OK) {
        if (map) munmap(map, len);
        return s;
    }
    st->map = map;
    st->map_len = len;
    *out = st;
    return ML_OK;
}

size_t ml_safetensors_n_tensors(const ml_safetensors *st) { return st->n_tensors; }

const ml_tensor_view *ml_safetensors_tensor(const ml_safetensors *st, size_t i) {
    return i < st->n_tensors ? &st->tensors[i] : NULL;
}

const ml_tensor_view *ml_safetensors_find(const ml_safetensors *st, const char *name) {
    size_t i;
    if (!ml__strmap_get(&st->by_name, name, strlen(name), &i)) return NULL;
    return &st->tensors[i];
}

size_t ml_safetensors_n_metadata(const ml_safetensors *st) { return st->n_metadata; }

const ml_kv *ml_safetensors_metadata(const ml_safetensors *st, size_t i) {
    return i < st->n_metadata ? &st->metadata[i] : NULL;
}

const char *ml_safetensors_metadata_find(const ml_safetensors *st, const char *key) {
    /* jansson's own hash; a file without __metadata__ gives NULL at each step. */
    return json_string_value(json_object_get(json_object_get(st->root, "__metadata__"), key));
}
