/* pseudonym.h - keyed pseudonyms for sample identifiers: "s_" + 16 hex digits of
 * HMAC-SHA-256(key, raw ID). The library never reads the environment: callers pass secrets. */
#ifndef MICROLENS_PSEUDONYM_H
#define MICROLENS_PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "s_" + 16 hex digits + NUL */
#define ML_PSEUDONYM_SIZE 19
/* Keys shorter than this are refused: 16 bytes = 128 bits. */
#define ML_PSEUDONYM_KEY_MIN_BYTES 16

typedef struct ml_pseudonym_key ml_pseudonym_key;

/* ^Key from a secret string: if it is all hex digits (even length, >= 32 digits) the decoded
 * bytes are the key, otherwise the text bytes themselves (>= 16 bytes). Trailing newline
 * ignored. ML_EINVAL if too short, or all hex but of odd length or under 32 digits (a
 * truncated hex key); the message never contains the secret. */
ml_status ml_pseudonym_key_from_secret(ml_pseudonym_key **out, const char *secret);

/* ^Key from a file holding the secret. ML_EPERM if the file is readable or writable by group
 * or others (mode must be 0600 or stricter), ML_ENOTFOUND if absent. */
ml_status ml_pseudonym_key_from_file(ml_pseudonym_key **out, const char *path);

/* ^Loads the key at path, or, if the file does not exist, creates it (32 random bytes as 64
 * hex digits, mode 0600, parent folders 0700) and sets *created. Same rules as _from_file. */
ml_status ml_pseudonym_key_load_or_create(ml_pseudonym_key **out, const char *path,
                                          bool *created);

/* ^A random key that lives only in this process (pseudonyms differ from run to run). */
ml_status ml_pseudonym_key_random(ml_pseudonym_key **out);

void ml_pseudonym_key_free(ml_pseudonym_key *k); /* wipes the key bytes; NULL: no-op */

/* ^Writes the pseudonym of raw_id (len bytes) into dst (ML_PSEUDONYM_SIZE bytes). Should
 * OpenSSL fail (only on allocation failure) dst is "", which is never a pseudonym. */
void ml_pseudonym_make(const ml_pseudonym_key *k, const char *raw_id, size_t len,
                       char dst[ML_PSEUDONYM_SIZE]);

/* ^True if s has the exact shape of a pseudonym ("s_" + 16 lowercase hex digits). */
bool ml_pseudonym_is_pseudonym(const char *s);

#ifdef __cplusplus
}
#endif
#endif
