/* sha256.h - SHA-256 (OpenSSL) of files, and the "sha256:<hex>" form that microlens writes
 * wherever it names content by its hash (preprocess.json, GET /v1/model). MANIFEST checking
 * keeps its own descriptor-based loop (src/store/manifest.c): it also counts the bytes read. */
#ifndef ML_UTIL_SHA256_H
#define ML_UTIL_SHA256_H

#include <openssl/evp.h>

#include "microlens/error.h"

#define ML__SHA256_BYTES 32
/* "sha256:" + 64 hex digits + NUL */
#define ML__SHA256_TAG_SIZE 72

/* Writes "sha256:" + the lower-case hex of digest d. */
void ml__sha256_tag(char out[ML__SHA256_TAG_SIZE], const unsigned char d[ML__SHA256_BYTES]);

/* Feeds the whole file at path (opened O_NOFOLLOW; EINTR retried) into md, which the caller
 * initialised for SHA-256, so that several files can make one digest. Returns 0 when the file
 * cannot be opened or read (errno tells why) or OpenSSL fails, 1 otherwise. */
int ml__sha256_update_file(EVP_MD_CTX *md, const char *path);

/* The "sha256:..." tag of one whole file. ML_EIO naming the path. */
ml_status ml__sha256_file(const char *path, char out[ML__SHA256_TAG_SIZE]);

#endif
