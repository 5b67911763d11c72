/* sha256.c - whole-file SHA-256 with OpenSSL's EVP interface, streamed in fixed chunks. */
#include "util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

/* Large enough that read() calls cost nothing next to hashing, small enough for any stack of
 * callers: it is allocated once per file. */
#define HASH_CHUNK_BYTES (1u << 20)

void ml__sha256_tag(char out[ML__SHA256_TAG_SIZE], const unsigned char d[ML__SHA256_BYTES]) {
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < ML__SHA256_BYTES; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

int ml__sha256_update_file(EVP_MD_CTX *md, const char *path) {
    unsigned char *buf = malloc(HASH_CHUNK_BYTES);
    int fd = buf ? open(path, O_RDONLY | O_NOFOLLOW) : -1;
    int ok = fd >= 0;
    ssize_t n;
    while (ok && (n = read(fd, buf, HASH_CHUNK_BYTES)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0 && EVP_DigestUpdate(md, buf, (size_t)n) == 1;
    }
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (!buf) errno = ENOMEM;
    free(buf);
    return ok;
}

ml_status ml__sha256_file(const char *path, char out[ML__SHA256_TAG_SIZE]) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[ML__SHA256_BYTES];
    unsigned int dl = 0;
    errno = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             ml__sha256_update_file(md, path) && EVP_DigestFinal_ex(md, d, &dl) == 1 &&
             dl == ML__SHA256_BYTES;
    int saved = errno;
    EVP_MD_CTX_free(md);
    if (!ok)
        return ML_FAIL(ML_EIO, "%s: cannot hash (%s)", path,
                       saved ? strerror(saved) : "OpenSSL SHA-256 failed");
    ml__sha256_tag(out, d);
    return ML_OK;
}
