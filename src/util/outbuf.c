/* outbuf.c - buffered appends to an atomic file; durability and renaming stay in fileio.c. */
#include "util/outbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ml_status ml__outbuf_open(ml__outbuf *b, const char *path, unsigned mode) {
    memset(b, 0, sizeof *b);
    b->file.fd = -1;
    if (!(b->buf = malloc(ML__OUTBUF_BYTES))) return b->status = ML_NOMEM();
    ml_status st = ml__atomic_open(&b->file, path, mode);
    if (st != ML_OK) {
        free(b->buf);
        b->buf = NULL;
        return b->status = st;
    }
    b->is_open = 1;
    return ML_OK;
}

static ml_status flush(ml__outbuf *b) {
    if (b->status != ML_OK || b->len == 0) return b->status;
    b->status = ml__atomic_write(&b->file, b->buf, b->len);
    b->len = 0;
    return b->status;
}

ml_status ml__outbuf_write(ml__outbuf *b, const void *data, size_t len) {
    if (b->status != ML_OK) return b->status;
    if (!b->is_open) return b->status = ML_FAIL(ML_EINVAL, "write to a closed output");
    if (len > ML__OUTBUF_BYTES - b->len) {
        if (flush(b) != ML_OK) return b->status;
        if (len >= ML__OUTBUF_BYTES) return b->status = ml__atomic_write(&b->file, data, len);
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    return ML_OK;
}

ml_status ml__outbuf_puts(ml__outbuf *b, const char *s) {
    return ml__outbuf_write(b, s, strlen(s));
}

ml_status ml__outbuf_printf(ml__outbuf *b, const char *fmt, ...) {
    if (b->status != ML_OK) return b->status;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return b->status = ML_FAIL(ML_EINVAL, "cannot format output text");
    if ((size_t)n < sizeof small) return ml__outbuf_write(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return b->status = ML_NOMEM();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ml_status st = ml__outbuf_write(b, big, (size_t)n);
    free(big);
    return st;
}

ml_status ml__outbuf_commit(ml__outbuf *b) {
    if (!b->is_open)
        return b->status != ML_OK ? b->status : ML_FAIL(ML_EINVAL, "commit of a closed output");
    ml_status st = flush(b);
    if (st == ML_OK) {
        st = ml__atomic_commit(&b->file);
    } else {
        ml__atomic_abort(&b->file);
    }
    b->is_open = 0;
    free(b->buf);
    b->buf = NULL;
    return b->status = st;
}

void ml__outbuf_abort(ml__outbuf *b) {
    if (b->is_open) ml__atomic_abort(&b->file);
    b->is_open = 0;
    free(b->buf);
    b->buf = NULL;
}
