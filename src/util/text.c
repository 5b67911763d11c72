/* text.c - line/field scanning and strict numbers; no format knowledge lives here. */
#include "util/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void ml__lines_init(ml__lines *it, const char *buf, size_t len) {
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->line_no = 0;
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        it->pos = 3;
}

bool ml__lines_next(ml__lines *it, const char **line, size_t *line_len) {
    if (it->pos >= it->len) return false;
    const char *start = it->buf + it->pos;
    const char *nl = memchr(start, '\n', it->len - it->pos);
    size_t n = nl ? (size_t)(nl - start) : it->len - it->pos;
    it->pos += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r') n--;
    it->line_no++;
    *line = start;
    *line_len = n;
    return true;
}

static ml_status push_field(ml__splitter *sp, const char *s, size_t len) {
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 64;
        ml__field *f = realloc(sp->fields, cap * sizeof *f);
        if (!f) return ML_NOMEM();
        sp->fields = f;
        sp->cap = cap;
    }
    sp->fields[sp->n++] = (ml__field){s, len};
    return ML_OK;
}

/* Quoted CSV fields are unescaped into scratch; the scratch is sized to the line up front so
 * that earlier field pointers never move. */
static ml_status split_csv(ml__splitter *sp, const char *line, size_t len) {
    if (sp->scratch_cap < len + 1) {
        char *s = realloc(sp->scratch, len + 1);
        if (!s) return ML_NOMEM();
        sp->scratch = s;
        sp->scratch_cap = len + 1;
    }
    size_t used = 0, i = 0;
    for (;;) {
        if (i < len && line[i] == '"') {
            char *dst = sp->scratch + used;
            size_t n = 0, col = sp->n + 1;
            i++;
            for (;;) {
                if (i >= len) return ML_FAIL(ML_EFORMAT, "column %zu: unterminated quote "
                                             "(expected a closing '\"')", col);
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        dst[n++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                dst[n++] = line[i++];
            }
            if (i < len && line[i] != ',')
                return ML_FAIL(ML_EFORMAT, "column %zu: text after closing quote "
                               "(expected ',' or end of line)", col);
            used += n;
            ML_TRY(push_field(sp, dst, n));
        } else {
            size_t start = i;
            while (i < len && line[i] != ',') i++;
            ML_TRY(push_field(sp, line + start, i - start));
        }
        if (i >= len) break;
        i++; /* the comma */
        if (i == len) {
            ML_TRY(push_field(sp, line + len, 0));
            break;
        }
    }
    return ML_OK;
}

ml_status ml__split(ml__splitter *sp, const char *line, size_t len, char sep, bool csv_quotes) {
    sp->n = 0;
    if (sep == ',' && csv_quotes) return split_csv(sp, line, len);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == sep) {
            ML_TRY(push_field(sp, line + start, i - start));
            start = i + 1;
        }
    }
    return ML_OK;
}

void ml__splitter_free(ml__splitter *sp) {
    free(sp->fields);
    free(sp->scratch);
    sp->fields = NULL;
    sp->scratch = NULL;
    sp->n = sp->cap = sp->scratch_cap = 0;
}

void ml__trim(const char **s, size_t *len) {
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

bool ml__parse_double(const char *s, size_t len, double *out) {
    ml__trim(&s, &len);
    if (len == 0 || len > 64) return false;
    char buf[65];
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        /* only decimal syntax: rules out "nan", "inf", "0x1p3" that strtod would accept */
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E'))
            return false;
        buf[i] = c;
    }
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool ml__field_eq_nocase(const char *s, size_t len, const char *word) {
    size_t n = strlen(word);
    if (n != len) return false;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = word[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return false;
    }
    return true;
}

void ml__sanitize(char *dst, size_t dst_capacity, const char *s, size_t len) {
    if (dst_capacity == 0) return;
    size_t n = len < dst_capacity - 1 ? len : dst_capacity - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    dst[n] = '\0';
}
