/* fileio.c - whole-file reads and atomic writes; nothing here interprets bytes. */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

ml_status ml__file_read(const char *path, size_t max_bytes, char **data, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot open (%s)",
                               path, strerror(errno));
    ml_status st = ML_OK;
    char *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = ML_FAIL(ML_EIO, "%s: cannot stat (%s)", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = ML_FAIL(ML_EFORMAT, "%s: is a directory (expected a file)", path);
        goto done;
    }
    size_t cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size : 65536, n = 0;
    if (cap > max_bytes) {
        st = ML_FAIL(ML_EFORMAT, "%s: %zu bytes is over the limit of %zu", path, cap, max_bytes);
        goto done;
    }
    if (!(buf = malloc(cap + 1))) {
        st = ML_NOMEM();
        goto done;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                st = ML_FAIL(ML_EFORMAT, "%s: over the limit of %zu bytes", path, max_bytes);
                goto done;
            }
            size_t ncap = cap * 2 + 4096 > max_bytes ? max_bytes : cap * 2 + 4096;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = ML_NOMEM();
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = ML_FAIL(ML_EIO, "%s: read failed (%s)", path, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return st;
}

ml_status ml__write_all(int fd, const void *data, size_t len, const char *path) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return ML_FAIL(ML_EIO, "%s: write failed (%s)", path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return ML_OK;
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

ml_status ml__atomic_open(ml__atomic_file *f, const char *path, unsigned mode) {
    f->fd = -1;
    f->final_path = str_dup(path);
    size_t n = strlen(path) + 32;
    f->tmp_path = malloc(n);
    if (!f->final_path || !f->tmp_path) {
        free(f->final_path);
        free(f->tmp_path);
        f->final_path = f->tmp_path = NULL;
        return ML_NOMEM();
    }
    snprintf(f->tmp_path, n, "%s.tmp.XXXXXX", path);
    f->fd = mkstemp(f->tmp_path);
    if (f->fd < 0) {
        ml_status st = ML_FAIL(ML_EIO, "%s: cannot create temporary file (%s)", path,
                               strerror(errno));
        free(f->final_path);
        free(f->tmp_path);
        f->final_path = f->tmp_path = NULL;
        return st;
    }
    if (fchmod(f->fd, (mode_t)mode) != 0) {
        ml_status st = ML_FAIL(ML_EIO, "%s: cannot set mode (%s)", path, strerror(errno));
        ml__atomic_abort(f);
        return st;
    }
    return ML_OK;
}

ml_status ml__atomic_write(ml__atomic_file *f, const void *data, size_t len) {
    return ml__write_all(f->fd, data, len, f->final_path);
}

static void fsync_parent_dir(const char *path) {
    char *copy = str_dup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some filesystems refuse fsync on directories */
        close(dfd);
    }
    free(copy);
}

ml_status ml__atomic_commit(ml__atomic_file *f) {
    ml_status st = ML_OK;
    if (fsync(f->fd) != 0) st = ML_FAIL(ML_EIO, "%s: fsync failed (%s)", f->final_path,
                                        strerror(errno));
    if (close(f->fd) != 0 && st == ML_OK)
        st = ML_FAIL(ML_EIO, "%s: close failed (%s)", f->final_path, strerror(errno));
    f->fd = -1;
    if (st == ML_OK && rename(f->tmp_path, f->final_path) != 0)
        st = ML_FAIL(ML_EIO, "%s: rename failed (%s)", f->final_path, strerror(errno));
    if (st != ML_OK) {
        unlink(f->tmp_path);
    } else {
        fsync_parent_dir(f->final_path);
    }
    free(f->final_path);
    free(f->tmp_path);
    f->final_path = f->tmp_path = NULL;
    return st;
}

void ml__atomic_abort(ml__atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->final_path);
    free(f->tmp_path);
    f->fd = -1;
    f->final_path = f->tmp_path = NULL;
}

ml_status ml__file_write_atomic(const char *path, const void *data, size_t len, unsigned mode) {
    ml__atomic_file f;
    ML_TRY(ml__atomic_open(&f, path, mode));
    ml_status st = ml__atomic_write(&f, data, len);
    if (st != ML_OK) {
        ml__atomic_abort(&f);
        return st;
    }
    return ml__atomic_commit(&f);
}

ml_status ml__mkdir_p(const char *path, unsigned mode) {
    char *copy = str_dup(path);
    if (!copy) return ML_NOMEM();
    ml_status st = ML_OK;
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
            st = ML_FAIL(ML_EIO, "%s: cannot create directory (%s)", copy, strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    if (st == ML_OK) {
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = ML_FAIL(ML_EIO, "%s: exists and is not a directory", path);
    }
    free(copy);
    return st;
}
