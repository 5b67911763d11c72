/* tokens.c - bearer tokens for the server: making one (random, shown once), loading the tokens
 * file of hashes, and finding the entry of a presented token in constant time. It never keeps
 * or prints a token: only SHA-256 hashes live here. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/tokens.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/text.h"

#define TOKEN_PREFIX "mlt_"
/* 32 bytes = 256 bits from the CSPRNG: far beyond guessing, and hashing suffices (no salt or
 * slow hash is needed for a random secret of this size, unlike a password). */
#define TOKEN_RANDOM_BYTES 32
#define HASH_BYTES 32
#define HASH_HEX 64
/* A presented token longer than this is refused unhashed: ours are 47 bytes. */
#define TOKEN_MAX_PRESENTED 256
/* A tokens file larger than this is refused unread (~100 bytes a line: ~10,000 clients). */
#define TOKENS_FILE_MAX_BYTES (1u << 20)

typedef struct token_entry {
    char name[ML_TOKEN_NAME_MAX + 1];
    ml_token_role role;
    unsigned char hash[HASH_BYTES];
} token_entry;

struct ml_tokens {
    token_entry *entries;
    size_t n;
    EVP_MD *sha256; /* fetched once: an implicit fetch per request costs a lock and a lookup */
};

const char *ml_token_role_name(ml_token_role r) {
    switch (r) {
    case ML_TOKEN_ROLE_PREDICT: return "predict";
    case ML_TOKEN_ROLE_ADMIN: return "admin";
    }
    return "unknown";
}

static bool role_from(const char *s, size_t len, ml_token_role *out) {
    if (len == 7 && memcmp(s, "predict", 7) == 0) {
        *out = ML_TOKEN_ROLE_PREDICT;
        return true;
    }
    if (len == 5 && memcmp(s, "admin", 5) == 0) {
        *out = ML_TOKEN_ROLE_ADMIN;
        return true;
    }
    return false;
}

ml_status ml_token_role_parse(const char *s, ml_token_role *out) {
    if (!s || !role_from(s, strlen(s), out))
        return ML_FAIL(ML_EINVAL, "token role must be predict or admin");
    return ML_OK;
}

static bool name_ok(const char *s, size_t len) {
    if (len == 0 || len > ML_TOKEN_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

static bool sha256(const EVP_MD *md, const void *data, size_t len,
                   unsigned char out[HASH_BYTES]) {
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, md ? md : EVP_sha256(), NULL) == 1 && n == HASH_BYTES;
}

static void hex_encode(char *dst, const unsigned char *src, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
    dst[2 * n] = '\0';
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Base64url without padding (RFC 4648 section 5): safe in headers, shells and URLs. */
static void base64url(char *dst, const unsigned char *src, size_t n) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)src[i] << 16;
        if (i + 1 < n) v |= (unsigned)src[i + 1] << 8;
        if (i + 2 < n) v |= src[i + 2];
        dst[o++] = alphabet[(v >> 18) & 63];
        dst[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n) dst[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < n) dst[o++] = alphabet[v & 63];
    }
    dst[o] = '\0';
}

ml_status ml_token_new(const char *name, ml_token_role role, char token[ML_TOKEN_SIZE],
                       char line[ML_TOKEN_LINE_SIZE]) {
    if (!name || !name_ok(name, strlen(name)))
        return ML_FAIL(ML_EINVAL, "token name must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                       ML_TOKEN_NAME_MAX);
    if (role != ML_TOKEN_ROLE_PREDICT && role != ML_TOKEN_ROLE_ADMIN)
        return ML_FAIL(ML_EINVAL, "token role must be predict or admin");
    unsigned char raw[TOKEN_RANDOM_BYTES];
    if (RAND_bytes(raw, (int)sizeof raw) != 1)
        return ML_FAIL(ML_EIO, "the OpenSSL random generator failed");
    char tok[ML_TOKEN_SIZE];
    memcpy(tok, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    base64url(tok + sizeof TOKEN_PREFIX - 1, raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    unsigned char h[HASH_BYTES];
    if (!sha256(NULL, tok, strlen(tok), h)) {
        OPENSSL_cleanse(tok, sizeof tok);
        return ML_FAIL(ML_ENOMEM, "SHA-256 failed (OpenSSL out of memory)");
    }
    char hex[HASH_HEX + 1];
    hex_encode(hex, h, sizeof h);
    int n = snprintf(line, ML_TOKEN_LINE_SIZE, "%s:%s:%s", name, ml_token_role_name(role), hex);
    (void)n; /* cannot truncate: 64 + 1 + 7 + 1 + 64 < ML_TOKEN_LINE_SIZE */
    memcpy(token, tok, sizeof tok);
    OPENSSL_cleanse(tok, sizeof tok);
    return ML_OK;
}

/* ---- the tokens file ------------------------------------------------------------------------ */

static ml_status read_private_file(const char *path, char **data, size_t *len) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ML_FAIL(ML_ENOTFOUND, "tokens file %s does not exist", path);
        if (errno == ELOOP)
            return ML_FAIL(ML_EPERM, "tokens file %s is a symbolic link: give the file itself",
                           path);
        return ML_FAIL(ML_EIO, "cannot open tokens file %s: %s", path, strerror(errno));
    }
    struct stat sb;
    ml_status st = ML_OK;
    if (fstat(fd, &sb) != 0) {
        st = ML_FAIL(ML_EIO, "cannot stat tokens file %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = ML_FAIL(ML_EPERM, "tokens file %s is not a regular file", path);
    } else if ((sb.st_mode & 077) != 0) {
        st = ML_FAIL(ML_EPERM, "tokens file %s has mode %04o: expected 0600 or stricter "
                     "(chmod 600 %s)", path, (unsigned)(sb.st_mode & 07777), path);
    } else if (sb.st_uid != geteuid()) {
        st = ML_FAIL(ML_EPERM, "tokens file %s is owned by uid %u, not by this user (uid %u)",
                     path, (unsigned)sb.st_uid, (unsigned)geteuid());
    } else if ((uint64_t)sb.st_size > TOKENS_FILE_MAX_BYTES) {
        st = ML_FAIL(ML_EFORMAT, "tokens file %s is %lld bytes: more than the %u allowed", path,
                     (long long)sb.st_size, TOKENS_FILE_MAX_BYTES);
    }
    if (st != ML_OK) {
        close(fd);
        return st;
    }
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ML_NOMEM();
    }
    /* Read what fstat promised; a file that grows meanwhile is read up to that size. */
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = ML_FAIL(ML_EIO, "cannot read tokens file %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (st != ML_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return ML_OK;
}

static ml_status parse_line(const char *path, size_t line_no, const char *s, size_t len,
                            token_entry *e) {
    const char *c1 = memchr(s, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
    if (!c1 || !c2)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: expected name:role:sha256hex (3 fields separated "
                       "by ':')", path, line_no);
    size_t name_len = (size_t)(c1 - s), role_len = (size_t)(c2 - c1 - 1);
    const char *hex = c2 + 1;
    size_t hex_len = len - (size_t)(hex - s);
    if (!name_ok(s, name_len))
        return ML_FAIL(ML_EFORMAT, "%s:%zu: field 1 (name): expected 1 to %d characters of "
                       "A-Z a-z 0-9 . _ -", path, line_no, ML_TOKEN_NAME_MAX);
    if (!role_from(c1 + 1, role_len, &e->role))
        return ML_FAIL(ML_EFORMAT, "%s:%zu: field 2 (role): expected predict or admin", path,
                       line_no);
    /* Never echo field 3: someone may have pasted the token itself there. */
    if (hex_len != HASH_HEX)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: field 3: expected the 64 hex digits of the token's "
                       "SHA-256 (from `microlens token new`), found %zu characters", path,
                       line_no, hex_len);
    for (size_t i = 0; i < HASH_BYTES; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: field 3: expected 64 hex digits (the token's "
                           "SHA-256), found another character", path, line_no);
        e->hash[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy(e->name, s, name_len);
    e->name[name_len] = '\0';
    return ML_OK;
}

static ml_status check_unique(const char *path, size_t line_no, const ml_tokens *t,
                              const token_entry *e) {
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->entries[i].name, e->name) == 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: name \"%s\" appears twice", path, line_no,
                           e->name);
        if (memcmp(t->entries[i].hash, e->hash, HASH_BYTES) == 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: same token hash as \"%s\": one token per name",
                           path, line_no, t->entries[i].name);
    }
    return ML_OK;
}

static ml_status parse_file(ml_tokens *t, const char *path, const char *buf, size_t len,
                            bool allow_empty) {
    ml__lines it;
    ml__lines_init(&it, buf, len);
    const char *line;
    size_t line_len;
    size_t cap = 0;
    while (ml__lines_next(&it, &line, &line_len)) {
        ml__trim(&line, &line_len);
        if (line_len == 0 || line[0] == '#') continue;
        token_entry e;
        ML_TRY(parse_line(path, it.line_no, line, line_len, &e));
        ML_TRY(check_unique(path, it.line_no, t, &e));
        if (t->n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            token_entry *p = realloc(t->entries, ncap * sizeof *p);
            if (!p) return ML_NOMEM();
            t->entries = p;
            cap = ncap;
        }
        t->entries[t->n++] = e;
    }
    if (t->n == 0 && !allow_empty)
        return ML_FAIL(ML_EINVAL, "tokens file %s holds no token: add a line from "
                       "`microlens token new`", path);
    return ML_OK;
}

ml_status ml__tokens_parse(ml_tokens **out, const char *path, const char *buf, size_t len) {
    ml_tokens *t = calloc(1, sizeof *t);
    ml_status st = t ? parse_file(t, path, buf, len, false) : ML_NOMEM();
    if (st == ML_OK && !(t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)))
        st = ML_FAIL(ML_ENOMEM, "cannot fetch SHA-256 from OpenSSL");
    if (st != ML_OK) {
        ml_tokens_free(t);
        return st;
    }
    *out = t;
    return ML_OK;
}

ml_status ml_tokens_load(ml_tokens **out, const char *path) {
    if (!out || !path) return ML_FAIL(ML_EINVAL, "ml_tokens_load: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    ML_TRY(read_private_file(path, &buf, &len));
    ml_status st = ml__tokens_parse(out, path, buf, len);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return st;
}

/* The file's bytes followed by line and a newline (one added before it if the file lacks
 * its last); the caller frees. */
static char *append_line(const char *buf, size_t len, const char *line, size_t *out_len) {
    size_t ll = strlen(line);
    bool need_nl = len > 0 && buf[len - 1] != '\n';
    size_t n = len + (need_nl ? 1 : 0) + ll + 1;
    char *out = malloc(n);
    if (!out) return NULL;
    if (len) memcpy(out, buf, len);
    if (need_nl) out[len] = '\n';
    memcpy(out + n - ll - 1, line, ll);
    out[n - 1] = '\n';
    *out_len = n;
    return out;
}

ml_status ml_tokens_file_add(const char *path, const char *line) {
    if (!path || !line) return ML_FAIL(ML_EINVAL, "ml_tokens_file_add: NULL argument");
    token_entry e;
    ML_TRY(parse_line("the new line", 1, line, strlen(line), &e));
    char *buf = NULL;
    size_t len = 0;
    ml_status st = read_private_file(path, &buf, &len);
    if (st == ML_ENOTFOUND) {
        ml_error_clear();
        st = ML_OK;
    } else if (st != ML_OK) {
        return st;
    }
    ml_tokens t = {NULL, 0, NULL};
    if (buf) st = parse_file(&t, path, buf, len, true);
    for (size_t i = 0; st == ML_OK && i < t.n; i++) {
        if (strcmp(t.entries[i].name, e.name) == 0)
            st = ML_FAIL(ML_EFORMAT, "tokens file %s already has a token named \"%s\": pick "
                         "another name, or delete that line first", path, e.name);
        else if (memcmp(t.entries[i].hash, e.hash, HASH_BYTES) == 0)
            st = ML_FAIL(ML_EFORMAT, "tokens file %s already admits this token (as \"%s\")",
                         path, t.entries[i].name);
    }
    size_t n = 0;
    char *out = NULL;
    if (st == ML_OK && !(out = append_line(buf ? buf : "", len, line, &n))) st = ML_NOMEM();
    if (st == ML_OK) st = ml__file_write_atomic(path, out, n, 0600);
    if (out) OPENSSL_cleanse(out, n);
    free(out);
    if (buf) OPENSSL_cleanse(buf, len);
    free(buf);
    free(t.entries);
    return st;
}

size_t ml_tokens_count(const ml_tokens *t) { return t ? t->n : 0; }

const char *ml_tokens_name(const ml_tokens *t, size_t i) {
    return t && i < t->n ? t->entries[i].name : NULL;
}

ml_token_role ml_tokens_role(const ml_tokens *t, size_t i) {
    return t && i < t->n ? t->entries[i].role : ML_TOKEN_ROLE_PREDICT;
}

bool ml_tokens_find(const ml_tokens *t, const char *token, size_t token_len, size_t *index) {
    if (!t || !token || token_len == 0 || token_len > TOKEN_MAX_PRESENTED) return false;
    unsigned char h[HASH_BYTES];
    if (!sha256(t->sha256, token, token_len, h)) return false;
    /* Every entry is compared and the match is selected with masks, not branches: the work
     * done is the same whichever entry matches, so timing reveals only the number of entries
     * (and comparing hashes, not tokens, already hides how much of a guess was right). */
    size_t found = 0, match = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t eq = (size_t)(CRYPTO_memcmp(h, t->entries[i].hash, HASH_BYTES) == 0);
        size_t mask = (size_t)0 - eq;
        match = (match & ~mask) | (i & mask);
        found |= eq;
    }
    OPENSSL_cleanse(h, sizeof h);
    if (!found) return false;
    *index = match;
    return true;
}

void ml_tokens_free(ml_tokens *t) {
    if (!t) return;
    if (t->entries) OPENSSL_cleanse(t->entries, t->n * sizeof *t->entries);
    free(t->entries);
    EVP_MD_free(t->sha256);
    free(t);
}
