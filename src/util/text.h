/* text.h - line and field scanning over an in-memory buffer, strict number parsing.
 * Used by every text reader so that line numbers, CRLF, BOM and quoting agree everywhere. */
#ifndef ML_UTIL_TEXT_H
#define ML_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"

/* Iterates lines of buf; a UTF-8 BOM at the start is skipped, "\r\n" counts as "\n". */
typedef struct ml__lines {
    const char *buf;
    size_t len, pos;
    size_t line_no; /* 1-based number of the line last returned */
} ml__lines;

void ml__lines_init(ml__lines *it, const char *buf, size_t len);
/* Returns false at the end; otherwise the line and its length (without the newline). */
bool ml__lines_next(ml__lines *it, const char **line, size_t *line_len);

/* A field of a split line; for CSV a quoted field is unescaped into scratch owned by the
 * splitter, so pointers are valid until the next ml__split call. */
typedef struct ml__field {
    const char *s;
    size_t len;
} ml__field;

typedef struct ml__splitter {
    ml__field *fields;
    size_t n, cap;
    char *scratch;
    size_t scratch_cap;
} ml__splitter;

#define ML__SPLITTER_INIT {NULL, 0, 0, NULL, 0}

/* Splits one line on sep ('\t' or ','). With csv_quotes, RFC 4180 double quotes are
 * honoured within the line (a quoted field may not span lines). ML_EFORMAT on an
 * unterminated quote: the message says "column N: ..." and the caller adds FILE:LINE. */
ml_status ml__split(ml__splitter *sp, const char *line, size_t len, char sep, bool csv_quotes);
void ml__splitter_free(ml__splitter *sp);

/* Parses a finite decimal or scientific number occupying the whole field (surrounding spaces
 * allowed). Returns false for empty text, trailing junk, NaN, Inf, hex floats or overflow. */
bool ml__parse_double(const char *s, size_t len, double *out);

/* True if the field equals word (ASCII case-insensitive). */
bool ml__field_eq_nocase(const char *s, size_t len, const char *word);

/* Trims ASCII spaces and tabs in place (adjusts pointer/length). */
void ml__trim(const char **s, size_t *len);

/* Writes at most dst_capacity-1 bytes of s, replacing control bytes and quotes by '?', for
 * safe use of input text in messages. */
void ml__sanitize(char *dst, size_t dst_capacity, const char *s, size_t len);

#endif
