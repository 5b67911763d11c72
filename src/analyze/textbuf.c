/* textbuf.c - a growable string for the analysis' text and evidence sentences; it writes no
 * file and formats nothing on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"
#include "util/utf8.h"

/* First capacity: one line of text; doubling makes n appends cost O(n) copies. */
#define TEXTBUF_INITIAL_BYTES 256

void ml__textbuf_vprintf(ml__textbuf *b, const char *fmt, va_list ap) {
    if (b->failed) return;
    va_list ap2;
    va_copy(ap2, ap);
    int need = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (need < 0) {
        b->failed = true;
        return;
    }
    size_t want = b->len + (size_t)need + 1;
    if (want > b->cap) {
        size_t cap = b->cap ? b->cap : TEXTBUF_INITIAL_BYTES;
        while (cap < want) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)need;
}

void ml__textbuf_printf(ml__textbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ml__textbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

ml_status ml__textbuf_take(ml__textbuf *b, char **out) {
    if (!b->failed && !b->s) ml__textbuf_printf(b, "%s", "");
    if (b->failed) {
        free(b->s);
        memset(b, 0, sizeof *b);
        return ML_NOMEM();
    }
    *out = b->s;
    memset(b, 0, sizeof *b);
    return ML_OK;
}

char *ml__strdup_printf(const char *fmt, ...) {
    ml__textbuf b = {NULL, 0, 0, false};
    va_list ap;
    va_start(ap, fmt);
    ml__textbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = NULL;
    if (ml__textbuf_take(&b, &s) != ML_OK) return NULL;
    return s;
}

void ml__text_clean(char *s) {
    size_t len = strlen(s), i = 0;
    while (i < len) { /* a byte cut out of a multi-byte character by %.Ns becomes '?' */
        size_t bad = i + ml__utf8_invalid_at(s + i, len - i);
        if (bad >= len) break;
        s[bad] = '?';
        i = bad + 1;
    }
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
}
