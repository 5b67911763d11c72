/* pseudonym.c - keyed pseudonyms (HMAC-SHA-256) and the ID key's life cycle: parse, load from
 * a 0600 file, create once, wipe. It never reads the environment and never prints a secret. */
#include "microlens/pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util/error.h"
#include "util/fileio.h"

/* A key file holds 64 hex digits and a newline; anything much larger is not a key file. */
#define ML_PSEUDONYM_KEY_FILE_MAX_BYTES 4096
/* Created keys: 32 random bytes = 256 bits, the HMAC-SHA-256 block-size-friendly choice. */
#define ML_PSEUDONYM_NEW_KEY_BYTES 32
/* Hex digits kept from the MAC: 64 bits, collision-free in practice for cohort-sized sets. */
#define ML_PSEUDONYM_HEX_DIGITS 16

struct ml_pseudonym_key {
    unsigned char *bytes;
    size_t len;
    EVP_MAC *mac;
    EVP_MAC_CTX *tmpl; /* keyed once; each pseudonym works on a copy, so k stays const */
};

void ml_pseudonym_key_free(ml_pseudonym_key *k) {
    if (!k) return;
    EVP_MAC_CTX_free(k->tmpl);
    EVP_MAC_free(k->mac);
    if (k->bytes) {
        OPENSSL_cleanse(k->bytes, k->len);
        free(k->bytes);
    }
    free(k);
}

/* Takes a copy of bytes and keys the HMAC template. */
static ml_status key_from_bytes(ml_pseudonym_key **out, const unsigned char *bytes, size_t len) {
    ml_status st = ML_OK;
    ml_pseudonym_key *k = calloc(1, sizeof *k);
    if (!k || !(k->bytes = malloc(len))) {
        st = ML_NOMEM();
        goto done;
    }
    memcpy(k->bytes, bytes, len);
    k->len = len;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!(k->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(k->tmpl = EVP_MAC_CTX_new(k->mac)) ||
        !EVP_MAC_init(k->tmpl, k->bytes, k->len, params)) {
        st = ML_FAIL(ML_EUNSUPPORTED, "OpenSSL could not set up HMAC-SHA-256");
        goto done;
    }
    *out = k;
    k = NULL;
done:
    ml_pseudonym_key_free(k);
    return st;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool all_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (hex_value(s[i]) < 0) return false;
    return true;
}

ml_status ml_pseudonym_key_from_secret(ml_pseudonym_key **out, const char *secret) {
    if (!secret) return ML_FAIL(ML_EINVAL, "ID key: no secret given");
    size_t n = strlen(secret);
    while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r')) n--;
    if (n > 0 && all_hex(secret, n)) {
        /* An all-hex secret shorter than 32 digits is most likely a truncated hex key; taking
         * it as text would silently use a weaker key than the user meant. */
        if (n < 2 * ML_PSEUDONYM_KEY_MIN_BYTES || n % 2 != 0)
            return ML_FAIL(ML_EINVAL, "ID key: %zu hex digits (expected an even number, at "
                           "least %d)", n, 2 * ML_PSEUDONYM_KEY_MIN_BYTES);
        unsigned char *bytes = malloc(n / 2);
        if (!bytes) return ML_NOMEM();
        for (size_t i = 0; i < n / 2; i++)
            bytes[i] = (unsigned char)(hex_value(secret[2 * i]) * 16 + hex_value(secret[2 * i + 1]));
        ml_status st = key_from_bytes(out, bytes, n / 2);
        OPENSSL_cleanse(bytes, n / 2);
        free(bytes);
        return st;
    }
    if (n < ML_PSEUDONYM_KEY_MIN_BYTES)
        return ML_FAIL(ML_EINVAL, "ID key: %zu bytes of text (expected at least %d bytes, or %d "
                       "hex digits)", n, ML_PSEUDONYM_KEY_MIN_BYTES, 2 * ML_PSEUDONYM_KEY_MIN_BYTES);
    return key_from_bytes(out, (const unsigned char *)secret, n);
}

/* Reads the whole (small) key file from an open descriptor into a NUL-terminated buffer. */
static ml_status read_secret(int fd, const char *path, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        if (n == cap - 1)
            return ML_FAIL(ML_EFORMAT, "%s: over %zu bytes (expected a key file of 64 hex "
                           "digits)", path, cap - 1);
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return ML_FAIL(ML_EIO, "%s: read failed (%s)", path, strerror(errno));
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) return ML_FAIL(ML_EFORMAT, "%s: contains a NUL byte (expected text)", path);
    return ML_OK;
}

ml_status ml_pseudonym_key_from_file(ml_pseudonym_key **out, const char *path) {
    /* Symlinks are followed on purpose (dotfile managers use them); the checks apply to the
     * file actually opened, through fstat, so there is no check-then-open race. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return ML_FAIL(ML_ENOTFOUND, "%s: no such ID key file", path);
        return ML_FAIL(ML_EIO, "%s: cannot open ID key file (%s)", path, strerror(errno));
    }
    ml_status st = ML_OK;
    char buf[ML_PSEUDONYM_KEY_FILE_MAX_BYTES + 1];
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = ML_FAIL(ML_EIO, "%s: cannot stat (%s)", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = ML_FAIL(ML_EINVAL, "%s: not a regular file (expected an ID key file)", path);
        goto done;
    }
    if ((sb.st_mode & 077) != 0) {
        st = ML_FAIL(ML_EPERM, "%s: mode %04o lets group or others access the ID key "
                     "(expected 0600 or stricter; run: chmod 600 %s)", path,
                     (unsigned)(sb.st_mode & 07777), path);
        goto done;
    }
    if ((st = read_secret(fd, path, buf, sizeof buf)) != ML_OK) goto done;
    if ((st = ml_pseudonym_key_from_secret(out, buf)) != ML_OK) ml__error_prefix("%s", path);
done:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return st;
}

/* Parent folder of path as a new string ("." when path has no slash). */
static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1; /* "/key" -> "/" */
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, slash ? path : ".", n);
    d[n] = '\0';
    return d;
}

static void fsync_dir(const char *dir) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    (void)fsync(dfd); /* best effort: some filesystems refuse fsync on directories */
    close(dfd);
}

/* Writes text to a fresh 0600 temporary file beside path and links it into place; link(2)
 * never replaces, so two processes racing to create the key agree on one file.
 * *lost_race is set when another process created path first. */
static ml_status publish_key_file(const char *path, const char *text, size_t len,
                                  bool *lost_race) {
    *lost_race = false;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return ML_NOMEM();
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        ml_status st = ML_FAIL(ML_EIO, "%s: cannot create temporary file (%s)", path,
                               strerror(errno));
        free(tmp);
        return st;
    }
    ml_status st = ML_OK;
    if (fchmod(fd, 0600) != 0)
        st = ML_FAIL(ML_EIO, "%s: cannot set mode 0600 (%s)", path, strerror(errno));
    if (st == ML_OK) st = ml__write_all(fd, text, len, path);
    if (st == ML_OK && fsync(fd) != 0)
        st = ML_FAIL(ML_EIO, "%s: fsync failed (%s)", path, strerror(errno));
    if (close(fd) != 0 && st == ML_OK)
        st = ML_FAIL(ML_EIO, "%s: close failed (%s)", path, strerror(errno));
    if (st == ML_OK && link(tmp, path) != 0) {
        if (errno == EEXIST)
            *lost_race = true;
        else
            st = ML_FAIL(ML_EIO, "%s: cannot create ID key file (%s)", path, strerror(errno));
    }
    unlink(tmp);
    free(tmp);
    return st;
}

static ml_status create_key_file(ml_pseudonym_key **out, const char *path, bool *lost_race) {
    unsigned char bytes[ML_PSEUDONYM_NEW_KEY_BYTES];
    char text[2 * ML_PSEUDONYM_NEW_KEY_BYTES + 2];
    static const char digits[] = "0123456789abcdef";
    ml_status st = ML_OK;
    char *dir = parent_dir(path);
    if (!dir) return ML_NOMEM();
    if ((st = ml__mkdir_p(dir, 0700)) != ML_OK) goto done;
    if (RAND_bytes(bytes, (int)sizeof bytes) != 1) {
        st = ML_FAIL(ML_EIO, "OpenSSL could not produce random bytes for a new ID key");
        goto done;
    }
    for (size_t i = 0; i < sizeof bytes; i++) {
        text[2 * i] = digits[bytes[i] >> 4];
        text[2 * i + 1] = digits[bytes[i] & 15];
    }
    text[2 * sizeof bytes] = '\n';
    text[2 * sizeof bytes + 1] = '\0';
    if ((st = publish_key_file(path, text, 2 * sizeof bytes + 1, lost_race)) != ML_OK) goto done;
    if (*lost_race) goto done;
    fsync_dir(dir);
    st = key_from_bytes(out, bytes, sizeof bytes);
done:
    OPENSSL_cleanse(bytes, sizeof bytes);
    OPENSSL_cleanse(text, sizeof text);
    free(dir);
    return st;
}

ml_status ml_pseudonym_key_load_or_create(ml_pseudonym_key **out, const char *path,
                                          bool *created) {
    ml_status st = ml_pseudonym_key_from_file(out, path);
    if (st != ML_ENOTFOUND) {
        if (st == ML_OK && created) *created = false;
        return st;
    }
    bool lost_race = false;
    ml_pseudonym_key *k = NULL;
    ML_TRY(create_key_file(&k, path, &lost_race));
    if (lost_race) {
        /* Another process created it first: use theirs. ENOTFOUND now means the name exists
         * but leads nowhere (a dangling symlink), which retrying would never fix. */
        st = ml_pseudonym_key_from_file(out, path);
        if (st == ML_ENOTFOUND)
            return ML_FAIL(ML_EIO, "%s: exists but cannot be opened (a dangling symlink?)", path);
        if (st == ML_OK && created) *created = false;
        return st;
    }
    *out = k;
    if (created) *created = true;
    return ML_OK;
}

ml_status ml_pseudonym_key_random(ml_pseudonym_key **out) {
    unsigned char bytes[ML_PSEUDONYM_NEW_KEY_BYTES];
    if (RAND_bytes(bytes, (int)sizeof bytes) != 1)
        return ML_FAIL(ML_EIO, "OpenSSL could not produce random bytes for an ID key");
    ml_status st = key_from_bytes(out, bytes, sizeof bytes);
    OPENSSL_cleanse(bytes, sizeof bytes);
    return st;
}

void ml_pseudonym_make(const ml_pseudonym_key *k, const char *raw_id, size_t len,
                       char dst[ML_PSEUDONYM_SIZE]) {
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->tmpl);
    bool ok = ctx && EVP_MAC_update(ctx, (const unsigned char *)raw_id, len) &&
              EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) && mac_len >= 8;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        /* Only an allocation failure inside OpenSSL gets here; "" is never a pseudonym. */
        dst[0] = '\0';
        return;
    }
    dst[0] = 's';
    dst[1] = '_';
    for (size_t i = 0; i < ML_PSEUDONYM_HEX_DIGITS / 2; i++) {
        dst[2 + 2 * i] = digits[mac[i] >> 4];
        dst[3 + 2 * i] = digits[mac[i] & 15];
    }
    dst[2 + ML_PSEUDONYM_HEX_DIGITS] = '\0';
}

bool ml_pseudonym_is_pseudonym(const char *s) {
    if (!s || s[0] != 's' || s[1] != '_') return false;
    for (size_t i = 0; i < ML_PSEUDONYM_HEX_DIGITS; i++) {
        char c = s[2 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return s[2 + ML_PSEUDONYM_HEX_DIGITS] == '\0';
}
