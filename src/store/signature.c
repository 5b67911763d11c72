/* signature.c - Ed25519 keys (OpenSSL), MANIFEST.sig signing and checking, and the one
 * verification call that loaders use; hashing files is manifest.c's job, not this file's. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "store/manifest.h"
#include "util/error.h"
#include "util/fileio.h"

/* A PEM Ed25519 key is about 120 bytes; anything past this is not one of ours. */
#define KEY_FILE_MAX_BYTES 65536
/* A MANIFEST.sig larger than this is malformed whatever it holds (valid ones are 64 bytes). */
#define SIG_FILE_MAX_BYTES 4096

const char *ml_signature_state_name(ml_signature_state s) {
    switch (s) {
    case ML_SIGNATURE_ABSENT: return "absent";
    case ML_SIGNATURE_VALID: return "valid";
    case ML_SIGNATURE_INVALID: return "invalid";
    case ML_SIGNATURE_UNCHECKED: return "unchecked";
    }
    return "unknown";
}

/* OpenSSL's default would prompt on the terminal for an encrypted key's passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static char *with_suffix(const char *path, const char *suffix) {
    size_t a = strlen(path), b = strlen(suffix);
    char *p = malloc(a + b + 1);
    if (!p) return NULL;
    memcpy(p, path, a);
    memcpy(p + a, suffix, b + 1);
    return p;
}

/* Creates path with O_EXCL (never replaces a file, never follows a link), writes, fsyncs;
 * on failure after creating it, removes it. */
static ml_status create_exclusive(const char *path, mode_t mode, const char *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return ML_FAIL(ML_EINVAL, "%s: already exists (refusing to overwrite a key; choose "
                           "another path or remove it)", path);
        return ML_FAIL(ML_EIO, "%s: cannot create (%s)", path, strerror(errno));
    }
    ml_status st = ML_OK;
    if (fchmod(fd, mode) != 0) /* the umask may have narrowed the public key's 0644 */
        st = ML_FAIL(ML_EIO, "%s: cannot set mode (%s)", path, strerror(errno));
    if (st == ML_OK) st = ml__write_all(fd, data, len, path);
    if (st == ML_OK && fsync(fd) != 0)
        st = ML_FAIL(ML_EIO, "%s: fsync failed (%s)", path, strerror(errno));
    if (close(fd) != 0 && st == ML_OK)
        st = ML_FAIL(ML_EIO, "%s: close failed (%s)", path, strerror(errno));
    if (st != ML_OK) unlink(path);
    return st;
}

/* Serialises key as PEM through write_pem into a memory BIO and creates path from it; the
 * BIO's bytes are wiped before they are freed (they may hold the private key). */
static ml_status write_pem_file(const char *path, mode_t mode, EVP_PKEY *key, int is_private) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return ML_NOMEM();
    ml_status st = ML_OK;
    int ok = is_private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                        : PEM_write_bio_PUBKEY(bio, key);
    char *pem = NULL;
    long n = BIO_get_mem_data(bio, &pem);
    if (ok != 1 || n <= 0 || !pem) st = ML_FAIL(ML_EIO, "%s: OpenSSL cannot encode the key", path);
    else st = create_exclusive(path, mode, pem, (size_t)n);
    if (pem && n > 0) OPENSSL_cleanse(pem, (size_t)n);
    BIO_free(bio);
    ERR_clear_error();
    return st;
}

ml_status ml_signing_key_generate(const char *key_path) {
    ml_status st = ML_OK;
    EVP_PKEY *key = NULL;
    struct stat sb;
    char *pub_path = with_suffix(key_path, ".pub");
    if (!pub_path) return ML_NOMEM();
    /* Checked before anything is created, so a refusal leaves nothing behind. */
    if (lstat(key_path, &sb) == 0 || lstat(pub_path, &sb) == 0) {
        st = ML_FAIL(ML_EINVAL, "%s: already exists (refusing to overwrite a key; choose "
                     "another path or remove it)", lstat(key_path, &sb) == 0 ? key_path : pub_path);
        goto done;
    }
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"))) {
        st = ML_FAIL(ML_EIO, "OpenSSL cannot generate an Ed25519 key");
        goto done;
    }
    if ((st = write_pem_file(key_path, 0600, key, 1)) != ML_OK) goto done;
    if ((st = write_pem_file(pub_path, 0644, key, 0)) != ML_OK) unlink(key_path);
done:
    EVP_PKEY_free(key);
    free(pub_path);
    ERR_clear_error();
    return st;
}

/* Reads a key file; a private key must not be readable by group or others. Symbolic links
 * are followed on purpose (keys are often linked from a secrets folder); the mode checked is
 * that of the file opened, through fstat, so there is no check-then-open race. */
static ml_status read_key_file(const char *path, int is_private, char **data, size_t *len) {
    const char *what = is_private ? "private key" : "public key";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return ML_FAIL(ML_ENOTFOUND, "%s: no such %s file", path, what);
        return ML_FAIL(ML_EIO, "%s: cannot open %s file (%s)", path, what, strerror(errno));
    }
    ml_status st = ML_OK;
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    if (fstat(fd, &sb) != 0) {
        st = ML_FAIL(ML_EIO, "%s: cannot stat (%s)", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > KEY_FILE_MAX_BYTES) {
        st = ML_FAIL(ML_EFORMAT, "%s: not a %s file (expected a small regular PEM file)", path,
                     what);
        goto done;
    }
    if (is_private && (sb.st_mode & 077) != 0) {
        st = ML_FAIL(ML_EPERM, "%s: mode %04o lets group or others access the signing key "
                     "(expected 0600 or stricter; run: chmod 600 %s)", path,
                     (unsigned)(sb.st_mode & 07777), path);
        goto done;
    }
    if (!(buf = malloc((size_t)sb.st_size + 1))) {
        st = ML_NOMEM();
        goto done;
    }
    while (n < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
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
    if (buf) OPENSSL_cleanse(buf, (size_t)sb.st_size + 1);
    free(buf);
    close(fd);
    return st;
}

static ml_status load_key(EVP_PKEY **out, const char *path, int is_private) {
    char *pem = NULL;
    size_t len = 0;
    ML_TRY(read_key_file(path, is_private, &pem, &len));
    ml_status st = ML_OK;
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        st = ML_NOMEM();
        goto done;
    }
    key = is_private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                     : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        st = ML_FAIL(ML_EFORMAT, "%s: not an unencrypted PEM Ed25519 %s (expected the output "
                     "of `microlens keygen`)", path, is_private ? "private key" : "public key");
        goto done;
    }
    *out = key;
    key = NULL;
done:
    EVP_PKEY_free(key);
    BIO_free(bio);
    OPENSSL_cleanse(pem, len);
    free(pem);
    ERR_clear_error();
    return st;
}

/* Reads and verifies DIR/MANIFEST; the bytes returned are exactly those checked. */
static ml_status read_verified_manifest(int dirfd, const char *dir, bool allow_extra,
                                        char **bytes, size_t *len, ml_manifest_report *r) {
    ml_status st = ml__read_at(dirfd, dir, ML_MANIFEST_NAME, ML_MANIFEST_MAX_BYTES, bytes, len);
    if (st == ML_ENOTFOUND)
        return ML_FAIL(ML_EINTEGRITY, "%s: no MANIFEST (expected one listing the checkpoint's "
                       "files)", dir);
    if (st != ML_OK) return st;
    if ((st = ml__manifest_check(dirfd, dir, *bytes, *len, allow_extra, r)) != ML_OK) {
        free(*bytes);
        *bytes = NULL;
    }
    return st;
}

static ml_status sign_bytes(EVP_PKEY *key, const char *data, size_t len,
                            unsigned char sig[ML_SIGNATURE_BYTES]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return ML_NOMEM();
    size_t sig_len = ML_SIGNATURE_BYTES;
    ml_status st = ML_OK;
    /* Ed25519 hashes internally (PureEdDSA): no digest is named and the call is one-shot. */
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)data, len) != 1 ||
        sig_len != ML_SIGNATURE_BYTES)
        st = ML_FAIL(ML_EIO, "OpenSSL cannot sign with the Ed25519 key");
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

ml_status ml_manifest_sign(const char *dir, const char *key_path) {
    EVP_PKEY *key = NULL;
    char *bytes = NULL, *sig_path = NULL;
    size_t len = 0;
    int dirfd = -1;
    unsigned char sig[ML_SIGNATURE_BYTES];
    ml_status st = load_key(&key, key_path, 1);
    if (st != ML_OK) return st;
    if ((st = ml__checkpoint_dir_open(dir, &dirfd)) != ML_OK) goto done;
    if ((st = read_verified_manifest(dirfd, dir, false, &bytes, &len, NULL)) != ML_OK) {
        ml__error_prefix("cannot sign");
        goto done;
    }
    if ((st = sign_bytes(key, bytes, len, sig)) != ML_OK) goto done;
    if (!(sig_path = malloc(strlen(dir) + sizeof "/" ML_MANIFEST_SIG_NAME))) {
        st = ML_NOMEM();
        goto done;
    }
    snprintf(sig_path, strlen(dir) + sizeof "/" ML_MANIFEST_SIG_NAME, "%s/%s", dir,
             ML_MANIFEST_SIG_NAME);
    st = ml__file_write_atomic(sig_path, sig, sizeof sig, 0644);
done:
    if (dirfd >= 0) close(dirfd);
    free(sig_path);
    free(bytes);
    EVP_PKEY_free(key);
    return st;
}

/* 1 valid, 0 invalid; OpenSSL errors (not a verdict) count as invalid too, since a
 * signature that cannot be checked must not be trusted. */
static int signature_ok(EVP_PKEY *pub, const char *data, size_t len, const char *sig,
                        size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && sig_len == ML_SIGNATURE_BYTES &&
             EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(ctx, (const unsigned char *)sig, sig_len,
                              (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Sets *state from DIR/MANIFEST.sig and the public key; refusals follow the options. */
static ml_status check_signature(int dirfd, const char *dir, const ml_verify_options *o,
                                 const char *manifest, size_t len, ml_signature_state *state) {
    char *sig = NULL;
    size_t sig_len = 0;
    EVP_PKEY *pub = NULL;
    ml_status st = ml__read_at(dirfd, dir, ML_MANIFEST_SIG_NAME, SIG_FILE_MAX_BYTES, &sig,
                               &sig_len);
    if (st == ML_ENOTFOUND) {
        *state = ML_SIGNATURE_ABSENT;
        st = o->require_signature
                 ? ML_FAIL(ML_EINTEGRITY, "%s: no " ML_MANIFEST_SIG_NAME " but a signature is "
                           "required (sign the MANIFEST, or do not require a signature)", dir)
                 : ML_OK;
        goto done;
    }
    if (st != ML_OK) goto done;
    if (!o->pubkey_path) {
        *state = ML_SIGNATURE_UNCHECKED;
        if (o->require_signature)
            st = ML_FAIL(ML_EINTEGRITY, "%s/" ML_MANIFEST_SIG_NAME ": a signature is required but "
                         "no public key was given to check it", dir);
        goto done;
    }
    if ((st = load_key(&pub, o->pubkey_path, 0)) != ML_OK) goto done;
    if (signature_ok(pub, manifest, len, sig, sig_len)) {
        *state = ML_SIGNATURE_VALID;
    } else {
        *state = ML_SIGNATURE_INVALID;
        st = sig_len != ML_SIGNATURE_BYTES
                 ? ML_FAIL(ML_EINTEGRITY, "%s/" ML_MANIFEST_SIG_NAME ": %zu bytes (expected a "
                           "64-byte raw Ed25519 signature)", dir, sig_len)
                 : ML_FAIL(ML_EINTEGRITY, "%s/" ML_MANIFEST_SIG_NAME ": signature does not verify "
                           "with %s (wrong key, or the MANIFEST changed after signing)", dir,
                           o->pubkey_path);
    }
done:
    EVP_PKEY_free(pub);
    free(sig);
    return st;
}

ml_status ml_checkpoint_verify(const char *dir, const ml_verify_options *opts,
                               ml_verify_result *result) {
    ml_verify_options o = ML_VERIFY_OPTIONS_INIT;
    ml_verify_result r = {ML_SIGNATURE_ABSENT, {0, 0, 0}};
    if (opts) {
        if (opts->version != ML_VERIFY_OPTIONS_VERSION)
            return ML_FAIL(ML_EINVAL, "ml_verify_options.version is %d (expected %d)",
                           opts->version, ML_VERIFY_OPTIONS_VERSION);
        o = *opts;
    }
    char *bytes = NULL;
    size_t len = 0;
    int dirfd = -1;
    ml_status st = ml__checkpoint_dir_open(dir, &dirfd);
    if (st != ML_OK) goto done;
    st = ml__read_at(dirfd, dir, ML_MANIFEST_NAME, ML_MANIFEST_MAX_BYTES, &bytes, &len);
    if (st == ML_ENOTFOUND)
        st = ML_FAIL(ML_EINTEGRITY, "%s: no MANIFEST (expected one listing the checkpoint's "
                     "files)", dir);
    if (st != ML_OK) goto done;
    /* The signature first: a forged MANIFEST is refused before gigabytes are hashed. */
    if ((st = check_signature(dirfd, dir, &o, bytes, len, &r.signature)) != ML_OK) goto done;
    st = ml__manifest_check(dirfd, dir, bytes, len, o.allow_extra_files, &r.manifest);
done:
    if (result) *result = r;
    if (dirfd >= 0) close(dirfd);
    free(bytes);
    return st;
}

/* True if a MANIFEST line "<64 hex>  <size>  <name>" names exactly `name`. */
static bool manifest_lists(const char *bytes, size_t len, const char *name) {
    size_t name_len = strlen(name);
    for (size_t pos = 0; pos < len;) {
        const char *line = bytes + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        size_t i = 64;
        if (n < i + 2 || line[i] != ' ' || line[i + 1] != ' ') continue;
        i += 2;
        while (i < n && line[i] >= '0' && line[i] <= '9') i++;
        if (i + 2 > n || line[i] != ' ' || line[i + 1] != ' ') continue;
        i += 2;
        if (n - i == name_len && memcmp(line + i, name, name_len) == 0) return true;
    }
    return false;
}

ml_status ml_weights_verify(const char *weights_path, const ml_verify_options *opts,
                            bool *was_checked) {
    ml_verify_options o = ML_VERIFY_OPTIONS_INIT;
    if (opts) o = *opts;
    o.allow_extra_files = true; /* weights may sit in a folder of other things */
    const char *slash = strrchr(weights_path, '/');
    const char *base = slash ? slash + 1 : weights_path;
    size_t dir_len = slash ? (size_t)(slash - weights_path) : 1;
    char *dir = malloc(dir_len + sizeof ML_MANIFEST_NAME + 2);
    if (!dir) return ML_NOMEM();
    memcpy(dir, slash ? weights_path : ".", dir_len);
    if (slash && dir_len == 0) dir[dir_len++] = '/';
    snprintf(dir + dir_len, sizeof ML_MANIFEST_NAME + 2, "/%s", ML_MANIFEST_NAME);
    struct stat sb;
    bool present = lstat(dir, &sb) == 0;
    char *bytes = NULL;
    size_t len = 0;
    ml_status st = ML_OK;
    if (present || o.require_signature) {
        st = ml__file_read(dir, ML_MANIFEST_MAX_BYTES, &bytes, &len);
        dir[dir_len] = '\0';
        if (st == ML_OK || st == ML_ENOTFOUND) st = ml_checkpoint_verify(dir, &o, NULL);
        if (st == ML_OK && !manifest_lists(bytes, len, base))
            st = ML_FAIL(ML_EINTEGRITY, "%s/%s: the folder's MANIFEST does not list %s "
                         "(expected the weights to be covered by it)", dir, base, base);
    }
    if (st == ML_OK && was_checked) *was_checked = present || o.require_signature;
    free(bytes);
    free(dir);
    return st;
}
