/* npy.c - writes NumPy .npy (format 1.0) headers and files; reading them is numpy's job. */
#include "report/npy.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* Magic string (6 bytes), major and minor version (2), header length (2, little-endian). */
#define PREAMBLE_BYTES 10
/* Longest header dict for ML__NPY_MAX_DIMS dims of 20 digits and a descr of a few fields. */
#define HEADER_SCRATCH 1024

/* "(3,)", "()", "(2, 3)": Python's repr of a tuple of ints, as numpy writes it. */
static ml_status format_shape(char *dst, size_t cap, const size_t *shape, size_t n_dims) {
    size_t n = (size_t)snprintf(dst, cap, "(");
    for (size_t d = 0; d < n_dims && n < cap; d++)
        n += (size_t)snprintf(dst + n, cap - n, "%s%zu", d ? ", " : "", shape[d]);
    if (n < cap) n += (size_t)snprintf(dst + n, cap - n, n_dims == 1 ? ",)" : ")");
    if (n >= cap) return ML_FAIL(ML_EINVAL, "npy: shape of %zu dims does not fit", n_dims);
    return ML_OK;
}

ml_status ml__npy_header(char *dst, size_t dst_capacity, size_t *dst_len, const char *descr,
                         const size_t *shape, size_t n_dims) {
    if (n_dims > ML__NPY_MAX_DIMS)
        return ML_FAIL(ML_EINVAL, "npy: %zu dims (at most %d)", n_dims, ML__NPY_MAX_DIMS);
    char shape_text[ML__NPY_MAX_DIMS * 24 + 8];
    ML_TRY(format_shape(shape_text, sizeof shape_text, shape, n_dims));
    char dict[HEADER_SCRATCH];
    int n = snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': %s, }",
                     descr, shape_text);
    if (n < 0 || (size_t)n >= sizeof dict)
        return ML_FAIL(ML_EINVAL, "npy: header dict over %d bytes", HEADER_SCRATCH);
    /* Pad with spaces, then '\n', so that the preamble + dict + padding + '\n' is aligned. */
    size_t unpadded = PREAMBLE_BYTES + (size_t)n + 1;
    size_t total = (unpadded + ML__NPY_ALIGN - 1) / ML__NPY_ALIGN * ML__NPY_ALIGN;
    size_t header_len = total - PREAMBLE_BYTES;
    if (header_len > ML__NPY_MAX_HEADER || total > dst_capacity)
        return ML_FAIL(ML_EINVAL, "npy: header of %zu bytes does not fit (capacity %zu)", total,
                       dst_capacity);
    memcpy(dst, "\x93NUMPY\x01\x00", 8);
    dst[8] = (char)(header_len & 0xff);
    dst[9] = (char)(header_len >> 8);
    memcpy(dst + PREAMBLE_BYTES, dict, (size_t)n);
    memset(dst + PREAMBLE_BYTES + n, ' ', total - unpadded);
    dst[total - 1] = '\n';
    *dst_len = total;
    return ML_OK;
}

ml_status ml__npy_open(ml__outbuf *b, const char *path, const char *descr, const size_t *shape,
                       size_t n_dims) {
    char head[HEADER_SCRATCH + ML__NPY_ALIGN];
    size_t len = 0;
    memset(b, 0, sizeof *b);
    b->file.fd = -1;
    ML_TRY(ml__npy_header(head, sizeof head, &len, descr, shape, n_dims));
    ML_TRY(ml__outbuf_open(b, path, 0644));
    ml_status st = ml__outbuf_write(b, head, len);
    if (st != ML_OK) ml__outbuf_abort(b);
    return st;
}

ml_status ml__npy_write(const char *path, const char *descr, const size_t *shape, size_t n_dims,
                        const void *data, size_t n_bytes) {
    ml__outbuf b;
    ML_TRY(ml__npy_open(&b, path, descr, shape, n_dims));
    if (n_bytes > 0) (void)ml__outbuf_write(&b, data, n_bytes); /* sticky: commit reports it */
    return ml__outbuf_commit(&b);
}
