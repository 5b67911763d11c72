/* fileio.h - whole-file reads and crash-safe whole-file writes (temp file, fsync, rename). */
#ifndef ML_UTIL_FILEIO_H
#define ML_UTIL_FILEIO_H

#include <stddef.h>

#include "microlens/error.h"

/* Reads path into a NUL-terminated malloc'd buffer (*len excludes the NUL); the caller
 * frees it with free(). ML_EIO names the path and errno text; ML_EFORMAT over max_bytes. */
ml_status ml__file_read(const char *path, size_t max_bytes, char **data, size_t *len);

/* Writes len bytes to path atomically: a temporary file in the same directory, fsync,
 * rename, fsync of the directory. On failure the previous file (if any) is untouched and
 * no temporary file is left. mode is the permission of the new file (e.g. 0644, 0600). */
ml_status ml__file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Writes all len bytes to fd, retrying on EINTR and short writes; ML_EIO names path. */
ml_status ml__write_all(int fd, const void *data, size_t len, const char *path);

/* Incremental variant for outputs built piecewise: open, append, commit (or abort). */
typedef struct ml__atomic_file {
    int fd;
    char *final_path;
    char *tmp_path;
} ml__atomic_file;

ml_status ml__atomic_open(ml__atomic_file *f, const char *path, unsigned mode);
ml_status ml__atomic_write(ml__atomic_file *f, const void *data, size_t len);
ml_status ml__atomic_commit(ml__atomic_file *f); /* fsync + rename; frees f's fields */
void ml__atomic_abort(ml__atomic_file *f);       /* unlinks the temp file; safe after commit */

/* Creates a directory (and missing parents) with the given mode; existing is fine. */
ml_status ml__mkdir_p(const char *path, unsigned mode);

#endif
