/* manifest.c - writes and checks a checkpoint folder's MANIFEST (SHA-256, size, name per
 * file); it never follows a symbolic link inside the folder and knows nothing of signatures
 * (signature.c). */
#include "store/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/error.h"
#include "util/fileio.h"

#define SHA256_BYTES 32
#define SHA256_HEX 64
/* Bytes read per call while hashing: large enough that syscalls cost nothing next to the
 * hash, small enough to keep memory flat for multi-GB files. */
#define HASH_CHUNK_BYTES (1u << 20)
/* Longest file name a line may carry: NAME_MAX on Linux and macOS. */
#define MAX_NAME_BYTES 255
/* Digits of UINT64_MAX. */
#define MAX_SIZE_DIGITS 20

/* One parsed MANIFEST line; name points into a NUL-terminated copy of the MANIFEST. */
typedef struct entry {
    const char *name;
    uint64_t size;
    unsigned char sha256[SHA256_BYTES];
    size_t line;
} entry;

ml_status ml__checkpoint_dir_open(const char *dir, int *dirfd) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        *dirfd = fd;
        return ML_OK;
    }
    if (errno == ENOENT) return ML_FAIL(ML_ENOTFOUND, "%s: no such checkpoint folder", dir);
    if (errno == ENOTDIR)
        return ML_FAIL(ML_EINVAL, "%s: not a folder (expected a checkpoint folder)", dir);
    return ML_FAIL(ML_EIO, "%s: cannot open folder (%s)", dir, strerror(errno));
}

/* Opens dir/name as a regular file; O_NONBLOCK so that a FIFO planted under a listed name
 * cannot hang us before fstat refuses it. */
static ml_status open_regular(int dirfd, const char *dir, const char *name, int *fd_out,
                              struct stat *sb) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return ML_FAIL(ML_ENOTFOUND, "%s/%s: no such file", dir, name);
        if (errno == ELOOP)
            return ML_FAIL(ML_EINTEGRITY, "%s/%s: is a symbolic link (a checkpoint holds regular "
                           "files only; links are never followed)", dir, name);
        return ML_FAIL(ML_EIO, "%s/%s: cannot open (%s)", dir, name, strerror(errno));
    }
    if (fstat(fd, sb) != 0) {
        ml_status st = ML_FAIL(ML_EIO, "%s/%s: cannot stat (%s)", dir, name, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb->st_mode)) {
        close(fd);
        return ML_FAIL(ML_EINTEGRITY, "%s/%s: not a regular file (a checkpoint holds regular "
                       "files only)", dir, name);
    }
    *fd_out = fd;
    return ML_OK;
}

ml_status ml__read_at(int dirfd, const char *dir, const char *name, size_t max_bytes,
                      char **data, size_t *len) {
    int fd = -1;
    struct stat sb;
    ML_TRY(open_regular(dirfd, dir, name, &fd, &sb));
    ml_status st = ML_OK;
    char *buf = NULL;
    size_t n = 0, cap = (size_t)sb.st_size;
    if ((uint64_t)sb.st_size > max_bytes) {
        st = ML_FAIL(ML_EINTEGRITY, "%s/%s: %" PRIu64 " bytes, over the limit of %zu", dir, name,
                     (uint64_t)sb.st_size, max_bytes);
        goto done;
    }
    /* One byte more than fstat said, to notice a file that grew since. */
    if (!(buf = malloc(cap + 2))) {
        st = ML_NOMEM();
        goto done;
    }
    while (n < cap + 1) {
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = ML_FAIL(ML_EIO, "%s/%s: read failed (%s)", dir, name, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n != cap) {
        st = ML_FAIL(ML_EIO, "%s/%s: changed size while being read", dir, name);
        goto done;
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

/* Streams fd through SHA-256; *n_bytes is what was actually read, not what fstat said. */
static ml_status hash_fd(int fd, const char *dir, const char *name,
                         unsigned char md[SHA256_BYTES], uint64_t *n_bytes) {
    ml_status st = ML_OK;
    uint64_t total = 0;
    unsigned char *buf = malloc(HASH_CHUNK_BYTES);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx) {
        st = ML_NOMEM();
        goto done;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        st = ML_FAIL(ML_EIO, "OpenSSL cannot start a SHA-256 digest");
        goto done;
    }
    for (;;) {
        ssize_t r = read(fd, buf, HASH_CHUNK_BYTES);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) {
            st = ML_FAIL(ML_EIO, "%s/%s: read failed (%s)", dir, name, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            st = ML_FAIL(ML_EIO, "OpenSSL SHA-256 update failed");
            goto done;
        }
        total += (uint64_t)r;
    }
    unsigned int md_len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != SHA256_BYTES) {
        st = ML_FAIL(ML_EIO, "OpenSSL SHA-256 final failed");
        goto done;
    }
    *n_bytes = total;
done:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return st;
}

static int is_reserved(const char *name) {
    return strcmp(name, ML_MANIFEST_NAME) == 0 || strcmp(name, ML_MANIFEST_SIG_NAME) == 0;
}

static int has_control_char(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) return 1;
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Every entry of the folder except ".", "..", MANIFEST and MANIFEST.sig, sorted bytewise.
 * The caller frees with free_names. */
static ml_status list_dir(int dirfd, const char *dir, char ***names_out, size_t *n_out) {
    ml_status st = ML_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int fd = dup(dirfd); /* closedir closes the descriptor it was given */
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        st = ML_FAIL(ML_EIO, "%s: cannot list folder (%s)", dir, strerror(errno));
        if (fd >= 0) close(fd);
        return st;
    }
    rewinddir(d);
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) st = ML_FAIL(ML_EIO, "%s: cannot list folder (%s)", dir, strerror(errno));
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || is_reserved(e->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) { st = ML_NOMEM(); break; }
            names = nn;
            cap = ncap;
        }
        size_t len = strlen(e->d_name) + 1;
        if (!(names[n] = malloc(len))) { st = ML_NOMEM(); break; }
        memcpy(names[n++], e->d_name, len);
    }
    closedir(d);
    if (st != ML_OK) {
        free_names(names, n);
        return st;
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_names);
    *names_out = names;
    *n_out = n;
    return ML_OK;
}

/* ---- Writing -------------------------------------------------------------------------------- */

typedef struct strbuf {
    char *data;
    size_t len, cap;
} strbuf;

static ml_status strbuf_append(strbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *nd = realloc(b->data, ncap);
        if (!nd) return ML_NOMEM();
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return ML_OK;
}

static ml_status check_writable_entry(int dirfd, const char *dir, const char *name) {
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return ML_FAIL(ML_EIO, "%s/%s: cannot stat (%s)", dir, name, strerror(errno));
    if (S_ISLNK(sb.st_mode))
        return ML_FAIL(ML_EINVAL, "%s/%s: is a symbolic link (a checkpoint holds regular files "
                       "only; links are never followed)", dir, name);
    if (!S_ISREG(sb.st_mode))
        return ML_FAIL(ML_EINVAL, "%s/%s: not a regular file (a checkpoint is a flat folder of "
                       "regular files)", dir, name);
    if (has_control_char(name))
        return ML_FAIL(ML_EINVAL, "%s: a file name holds a control character (MANIFEST lines "
                       "cannot carry it; rename the file)", dir);
    return ML_OK;
}

static ml_status append_line(strbuf *b, int dirfd, const char *dir, const char *name) {
    int fd = -1;
    struct stat sb;
    unsigned char md[SHA256_BYTES];
    uint64_t n_bytes = 0;
    ML_TRY(open_regular(dirfd, dir, name, &fd, &sb));
    ml_status st = hash_fd(fd, dir, name, md, &n_bytes);
    close(fd);
    if (st != ML_OK) return st;
    char head[SHA256_HEX + MAX_SIZE_DIGITS + 8];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        head[2 * i] = digits[md[i] >> 4];
        head[2 * i + 1] = digits[md[i] & 15];
    }
    int k = snprintf(head + SHA256_HEX, sizeof head - SHA256_HEX, "  %" PRIu64 "  ", n_bytes);
    ML_TRY(strbuf_append(b, head, SHA256_HEX + (size_t)k));
    ML_TRY(strbuf_append(b, name, strlen(name)));
    return strbuf_append(b, "\n", 1);
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), c = strlen(name);
    char *p = malloc(a + c + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, c + 1);
    return p;
}

ml_status ml_manifest_write(const char *dir) {
    int dirfd = -1;
    ML_TRY(ml__checkpoint_dir_open(dir, &dirfd));
    char **names = NULL, *path = NULL;
    size_t n = 0;
    strbuf b = {NULL, 0, 0};
    ml_status st = list_dir(dirfd, dir, &names, &n);
    for (size_t i = 0; st == ML_OK && i < n; i++) st = check_writable_entry(dirfd, dir, names[i]);
    for (size_t i = 0; st == ML_OK && i < n; i++) st = append_line(&b, dirfd, dir, names[i]);
    if (st != ML_OK) goto done;
    if (!(path = join_path(dir, ML_MANIFEST_NAME))) {
        st = ML_NOMEM();
        goto done;
    }
    st = ml__file_write_atomic(path, b.data ? b.data : "", b.len, 0644);
done:
    free(path);
    free(b.data);
    free_names(names, n);
    close(dirfd);
    return st;
}

/* ---- Checking ------------------------------------------------------------------------------- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case is refused: sha256sum writes lower case, one spelling per hash */
}

/* A malformed line is an integrity failure: MANIFESTs are written by machines, never edited. */
#define LINE_FAIL(dir, line, col, msg)                                                      \
    ML_FAIL(ML_EINTEGRITY, "%s/" ML_MANIFEST_NAME ":%zu:%zu: " msg, (dir), (size_t)(line),  \
            (size_t)(col))

static ml_status parse_hash(const char *s, size_t len, const char *dir, size_t line,
                            unsigned char out[SHA256_BYTES]) {
    if (len < SHA256_HEX)
        return LINE_FAIL(dir, line, (size_t)1,
                         "line too short (expected \"<64 hex digits>  <size>  <name>\")");
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return LINE_FAIL(dir, line, 2 * i + (hi < 0 ? 1 : 2),
                             "not a lower-case hex digit (expected a SHA-256 of 64 hex digits)");
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return ML_OK;
}

/* "  <decimal>  " starting at s[*pos]; no sign, no leading zeros, at most UINT64_MAX. */
static ml_status parse_size(const char *s, size_t len, size_t *pos, const char *dir,
                            size_t line, uint64_t *out) {
    size_t i = *pos;
    if (len < i + 2 || s[i] != ' ' || s[i + 1] != ' ')
        return LINE_FAIL(dir, line, i + 1,
                         "expected two spaces after the SHA-256");
    i += 2;
    size_t start = i;
    uint64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (i - start >= MAX_SIZE_DIGITS || v > (UINT64_MAX - d) / 10)
            return LINE_FAIL(dir, line, start + 1, "size too large");
        v = v * 10 + d;
        i++;
    }
    if (i == start || (s[start] == '0' && i - start > 1))
        return LINE_FAIL(dir, line, start + 1,
                         "expected a size in bytes (decimal, no leading zeros)");
    if (len < i + 2 || s[i] != ' ' || s[i + 1] != ' ')
        return LINE_FAIL(dir, line, i + 1, "expected two spaces after the size");
    *pos = i + 2;
    *out = v;
    return ML_OK;
}

static ml_status check_name(const char *name, size_t len, size_t col, const char *dir,
                            size_t line) {
    if (len == 0) return LINE_FAIL(dir, line, col, "empty file name");
    if (len > MAX_NAME_BYTES)
        return LINE_FAIL(dir, line, col, "file name over 255 bytes");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return LINE_FAIL(dir, line, col + i, "control character in the file name");
        if (c == '/')
            return LINE_FAIL(dir, line, col + i, "'/' in a file name (a MANIFEST lists "
                             "files of its own folder only)");
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return LINE_FAIL(dir, line, col, "\".\" or \"..\" is not a file name");
    if ((len == 8 && memcmp(name, ML_MANIFEST_NAME, 8) == 0) ||
        (len == 12 && memcmp(name, ML_MANIFEST_SIG_NAME, 12) == 0))
        return LINE_FAIL(dir, line, col, "the MANIFEST cannot list itself or its "
                         "signature");
    return ML_OK;
}

/* Parses text (a writable NUL-terminated copy: each '\n' becomes the name's NUL) into
 * entries, checking order and uniqueness. */
static ml_status parse_manifest(char *text, size_t len, const char *dir, entry *entries,
                                size_t *n_out) {
    size_t n = 0, line = 0, pos = 0;
    while (pos < len) {
        line++;
        char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        if (!nl)
            return LINE_FAIL(dir, line, len - pos + 1,
                             "last line has no newline (truncated MANIFEST?)");
        size_t line_len = (size_t)(nl - s), i = SHA256_HEX;
        entry *e = &entries[n];
        ML_TRY(parse_hash(s, line_len, dir, line, e->sha256));
        ML_TRY(parse_size(s, line_len, &i, dir, line, &e->size));
        ML_TRY(check_name(s + i, line_len - i, i + 1, dir, line));
        *nl = '\0';
        e->name = s + i;
        e->line = line;
        if (n > 0 && strcmp(entries[n - 1].name, e->name) >= 0)
            return LINE_FAIL(dir, line, i + 1, "name not after the previous line's "
                             "(expected names sorted bytewise, each once)");
        n++;
        pos += line_len + 1;
    }
    *n_out = n;
    return ML_OK;
}

static int listed(const entry *entries, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(entries[mid].name, name);
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static ml_status check_no_extra(int dirfd, const char *dir, const entry *entries, size_t n) {
    char **names = NULL;
    size_t n_names = 0;
    ML_TRY(list_dir(dirfd, dir, &names, &n_names));
    ml_status st = ML_OK;
    for (size_t i = 0; i < n_names && st == ML_OK; i++) {
        if (!listed(entries, n, names[i]))
            st = has_control_char(names[i])
                     ? ML_FAIL(ML_EINTEGRITY, "%s: holds an entry not listed in MANIFEST (its "
                               "name has control characters; extra files are refused)", dir)
                     : ML_FAIL(ML_EINTEGRITY, "%s/%s: not listed in MANIFEST (extra files are "
                               "refused)", dir, names[i]);
    }
    free_names(names, n_names);
    return st;
}

static ml_status check_entry(int dirfd, const char *dir, const entry *e, uint64_t *n_bytes) {
    int fd = -1;
    struct stat sb;
    unsigned char md[SHA256_BYTES];
    ml_status st = open_regular(dirfd, dir, e->name, &fd, &sb);
    if (st == ML_ENOTFOUND)
        return ML_FAIL(ML_EINTEGRITY, "%s/%s: listed in MANIFEST line %zu but missing", dir,
                       e->name, e->line);
    if (st != ML_OK) return st;
    if ((uint64_t)sb.st_size != e->size) {
        close(fd);
        return ML_FAIL(ML_EINTEGRITY, "%s/%s: %" PRIu64 " bytes, MANIFEST line %zu says %" PRIu64
                       " (the file changed after the MANIFEST was written)", dir, e->name,
                       (uint64_t)sb.st_size, e->line, e->size);
    }
    st = hash_fd(fd, dir, e->name, md, n_bytes);
    close(fd);
    if (st != ML_OK) return st;
    if (*n_bytes != e->size || memcmp(md, e->sha256, SHA256_BYTES) != 0)
        return ML_FAIL(ML_EINTEGRITY, "%s/%s: SHA-256 does not match MANIFEST line %zu (the file "
                       "changed after the MANIFEST was written)", dir, e->name, e->line);
    return ML_OK;
}

ml_status ml__manifest_check(int dirfd, const char *dir, const char *bytes, size_t len,
                             bool allow_extra_files, ml_manifest_report *report) {
    ml_manifest_report r = {0, 0, 0};
    ml_status st = ML_OK;
    /* At most one entry per newline; the shortest line is 64 + 2 + 1 + 2 + 1 + 1 bytes. */
    size_t max_entries = len / (SHA256_HEX + 7) + 1;
    char *text = malloc(len + 1);
    entry *entries = calloc(max_entries, sizeof *entries);
    if (!text || !entries) {
        st = ML_NOMEM();
        goto done;
    }
    memcpy(text, bytes, len);
    text[len] = '\0';
    if ((st = parse_manifest(text, len, dir, entries, &r.n_files)) != ML_OK) {
        r.n_files = 0;
        goto done;
    }
    if (!allow_extra_files && (st = check_no_extra(dirfd, dir, entries, r.n_files)) != ML_OK)
        goto done;
    for (size_t i = 0; i < r.n_files; i++) {
        uint64_t n_bytes = 0;
        if ((st = check_entry(dirfd, dir, &entries[i], &n_bytes)) != ML_OK) goto done;
        r.n_checked++;
        r.n_bytes += n_bytes;
    }
done:
    if (report) *report = r;
    free(entries);
    free(text);
    return st;
}

ml_status ml_manifest_verify(const char *dir, const ml_manifest_verify_options *opts,
                             ml_manifest_report *report) {
    ml_manifest_verify_options o = ML_MANIFEST_VERIFY_OPTIONS_INIT;
    if (opts) {
        if (opts->version != ML_MANIFEST_VERIFY_OPTIONS_VERSION)
            return ML_FAIL(ML_EINVAL, "ml_manifest_verify_options.version is %d (expected %d)",
                           opts->version, ML_MANIFEST_VERIFY_OPTIONS_VERSION);
        o = *opts;
    }
    if (report) *report = (ml_manifest_report){0, 0, 0};
    int dirfd = -1;
    ML_TRY(ml__checkpoint_dir_open(dir, &dirfd));
    char *bytes = NULL;
    size_t len = 0;
    ml_status st = ml__read_at(dirfd, dir, ML_MANIFEST_NAME, ML_MANIFEST_MAX_BYTES, &bytes, &len);
    if (st == ML_ENOTFOUND)
        st = ML_FAIL(ML_EINTEGRITY, "%s: no MANIFEST (expected one listing the checkpoint's "
                     "files)", dir);
    if (st == ML_OK) st = ml__manifest_check(dirfd, dir, bytes, len, o.allow_extra_files, report);
    free(bytes);
    close(dirfd);
    return st;
}
