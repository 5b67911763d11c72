/* outbuf.h - a buffered writer over an atomic file (util/fileio.h), for outputs written as
 * many small pieces (text tables, headers). It formats nothing it is not asked to. */
#ifndef ML_UTIL_OUTBUF_H
#define ML_UTIL_OUTBUF_H

#include <stddef.h>

#include "microlens/error.h"
#include "util/error.h"
#include "util/fileio.h"

/* Bytes gathered before one write() call. */
#define ML__OUTBUF_BYTES 65536

typedef struct ml__outbuf {
    ml__atomic_file file;
    char *buf;      /* ML__OUTBUF_BYTES */
    size_t len;
    ml_status status; /* first failure; sticky */
    int is_open;
} ml__outbuf;

/* Opens a temporary file beside path (see ml__atomic_open). On failure nothing is left
 * behind and ml__outbuf_abort is still safe to call. */
ml_status ml__outbuf_open(ml__outbuf *b, const char *path, unsigned mode);

/* Appends bytes. Errors are sticky: after the first failure every call returns that status
 * and does nothing, so a caller may check each call or only the commit. */
ml_status ml__outbuf_write(ml__outbuf *b, const void *data, size_t len);
ml_status ml__outbuf_puts(ml__outbuf *b, const char *s);
ml_status ml__outbuf_printf(ml__outbuf *b, const char *fmt, ...) ML_PRINTF(2, 3);

/* Flushes, fsyncs and renames into place; on any (earlier or present) failure the temporary
 * file is removed and the previous file at path, if any, is untouched. Frees b's buffer. */
ml_status ml__outbuf_commit(ml__outbuf *b);

/* Removes the temporary file and frees b's buffer; safe after commit or a failed open. */
void ml__outbuf_abort(ml__outbuf *b);

#endif
