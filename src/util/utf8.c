/* utf8.c - strict UTF-8 validation of byte ranges; it never decodes into code points for use. */
#include "util/utf8.h"

#include <stdint.h>

/* Length of the valid sequence starting at s[0] (1..4), or 0 if it is not valid. */
static size_t sequence_len(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n >= avail) return 0;
    for (size_t i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n + 1;
}

size_t ml__utf8_invalid_at(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = sequence_len(p + i, len - i);
        if (n == 0) return i;
        i += n;
    }
    return len;
}
