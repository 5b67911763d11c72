/* utf8.h - strict UTF-8 validation (RFC 3629) of byte ranges; no decoding or normalisation. */
#ifndef ML_UTIL_UTF8_H
#define ML_UTIL_UTF8_H

#include <stddef.h>

/* Returns the offset of the first byte that does not start a valid RFC 3629 sequence within
 * s[0..len) (overlong forms, surrogates, code points above U+10FFFF and truncated sequences
 * are invalid), or len when all of it is valid. NUL bytes are valid here. */
size_t ml__utf8_invalid_at(const char *s, size_t len);

#endif
