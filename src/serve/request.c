/* request.c - POST /v1/predict bodies: one strict pass over the bytes that reads exactly the
 * request schema (RFC 8259 JSON: UTF-8 checked, escapes decoded, no \u0000, no repeated key),
 * with a reason naming the field path for the first problem. Strings go into one buffer the
 * request keeps between parses, so a warm worker parses without allocating.
 * Why not jansson: it allocates per value and read a 100-feature sample in ~110 us (25 MB/s),
 * which caps serving near 9k predictions/s per core, under the 20k/s on 2 cores we promise;
 * this reader is ~10x faster. fuzz/fuzz_serve_request.c holds it to jansson's verdict
 * (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL) and values on every input.
 * It knows no model (unknown features are the scorer's business) and never puts a sample ID
 * or a member name in a reason. */
#include "serve/request.h"

#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/utf8.h"

/* An integer token of at most this many digits is exact in a double (< 2^53), so it is
 * converted without strtod, with the value strtod would give. */
#define EXACT_INT_DIGITS 15
/* Smallest table for finding repeated keys; it grows to twice the object's size. */
#define SLOTS_MIN 16

typedef struct parser {
    const char *p, *start, *end;
    ml__serve_request *req;
    size_t max_samples;
    char point;          /* strtod's decimal point in the current locale */
    int status;          /* 200; 400 or 413 with reason; 500 out of memory */
    char *reason;
    size_t reason_cap;
} parser;

static int refuse(parser *ps, int status, const char *fmt, ...) ML_PRINTF(3, 4);
static int refuse(parser *ps, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->reason, ps->reason_cap, fmt, ap);
    va_end(ap);
    ps->status = status;
    return 0;
}

static int nomem(parser *ps) {
    ps->status = 500;
    return 0;
}

/* A syntax error at the current byte, by line and column (1-based, in bytes). */
static int syntax(parser *ps, const char *what) {
    size_t line = 1;
    const char *line_start = ps->start;
    for (const char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') {
            line++;
            line_start = q + 1;
        }
    }
    return refuse(ps, 400, "body: line %zu, column %zu (byte %zu): %s", line,
                  (size_t)(ps->p - line_start) + 1, (size_t)(ps->p - ps->start), what);
}

static void ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* The next byte after whitespace, or -1 at the end. */
static int peek(parser *ps) {
    ws(ps);
    return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

/* Before a schema refusal: input that simply stops is a syntax error, not a wrong type. */
static int ended(parser *ps) {
    return peek(ps) < 0 ? syntax(ps, "the JSON ends early") : 1;
}

static int eat(parser *ps, char c) {
    if (peek(ps) != (unsigned char)c) return 0;
    ps->p++;
    return 1;
}

/* After an object member or array element: 1 for ',', 0 for the closing byte. */
static int next_or_close(parser *ps, char close, int *more) {
    *more = eat(ps, ',');
    if (*more || eat(ps, close)) return 1;
    if (ps->p >= ps->end) return syntax(ps, "the JSON ends early");
    return syntax(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* ---- Strings --------------------------------------------------------------------------------- */

static int text_put(parser *ps, const char *s, size_t n) {
    ml__serve_request *r = ps->req;
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 4096;
        while (cap < r->text_len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return nomem(ps);
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    return 1;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16u) return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* Code point cp (< 0x110000, not a surrogate) as UTF-8 in u; returns its length. */
static size_t utf8_encode(unsigned cp, char u[4]) {
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX (and a surrogate pair's second half) at p, after the 'u'; appends its UTF-8. */
static int unicode_escape(parser *ps) {
    unsigned cp, lo;
    if (ps->end - ps->p < 4 || !hex4(ps->p, &cp)) return syntax(ps, "an invalid \\u escape");
    ps->p += 4;
    if (cp == 0) return syntax(ps, "a NUL character (\\u0000) in a string");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return syntax(ps, "an unpaired UTF-16 surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
            !hex4(ps->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return syntax(ps, "an unpaired UTF-16 surrogate");
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    char u[4];
    return text_put(ps, u, utf8_encode(cp, u));
}

static int escape(parser *ps) {
    if (ps->p >= ps->end) return syntax(ps, "the JSON ends early");
    char c = *ps->p++, out;
    switch (c) {
    case '"': case '\\': case '/': out = c; break;
    case 'b': out = '\b'; break;
    case 'f': out = '\f'; break;
    case 'n': out = '\n'; break;
    case 'r': out = '\r'; break;
    case 't': out = '\t'; break;
    case 'u': return unicode_escape(ps);
    default: ps->p--; return syntax(ps, "an invalid escape");
    }
    return text_put(ps, &out, 1);
}

/* The string at p (which is '"') decoded into the request's text, NUL-terminated; *off and
 * *len locate it there. */
static int string(parser *ps, size_t *off, size_t *len) {
    *off = ps->req->text_len;
    ps->p++;
    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20)
            ps->p++;
        size_t n = (size_t)(ps->p - run), bad = ml__utf8_invalid_at(run, n);
        if (bad < n) {
            ps->p = run + bad;
            return syntax(ps, "not valid UTF-8");
        }
        if (n && !text_put(ps, run, n)) return 0;
        if (ps->p >= ps->end) return syntax(ps, "the JSON ends early");
        char c = *ps->p;
        if (c == '"') break;
        if (c != '\\') return syntax(ps, "a control character in a string");
        ps->p++;
        if (!escape(ps)) return 0;
    }
    ps->p++;
    *len = ps->req->text_len - *off;
    if (!text_put(ps, "", 1)) return 0; /* the NUL */
    return 1;
}

/* A member name: the string, then ':'. */
static int member_name(parser *ps, size_t *off, size_t *len) {
    if (peek(ps) != '"') {
        if (ps->p >= ps->end) return syntax(ps, "the JSON ends early");
        return syntax(ps, "expected a string (a member name)");
    }
    if (!string(ps, off, len)) return 0;
    if (!eat(ps, ':')) return syntax(ps, ps->p >= ps->end ? "the JSON ends early" : "expected ':'");
    return 1;
}

static int name_is(const parser *ps, size_t off, size_t len, const char *want) {
    return len == strlen(want) && memcmp(ps->req->text + off, want, len) == 0;
}

/* A feature ID as reasons show it: printable ASCII, other bytes as '?', cut with "...". */
static void show_key(char dst[ML__SERVE_KEY_SHOWN + 4], const char *key, size_t len) {
    size_t n = len < ML__SERVE_KEY_SHOWN ? len : ML__SERVE_KEY_SHOWN;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    memcpy(dst + n, len > n ? "..." : "", len > n ? 4 : 1);
}

/* ---- Numbers --------------------------------------------------------------------------------- */

static int bad_number(parser *ps, const char *at) {
    ps->p = at;
    return syntax(ps, "an invalid number");
}

/* The number at p (RFC 8259 grammar), as strtod reads it. */
static int number(parser *ps, double *out) {
    const char *q = ps->p, *e = ps->end, *p = q;
    int is_int = 1, neg = 0;
    if (p < e && *p == '-') {
        p++;
        neg = 1;
    }
    const char *digits = p;
    if (p < e && *p == '0') {
        if (++p < e && *p >= '0' && *p <= '9') return bad_number(ps, p); /* a leading zero */
    } else if (p < e && *p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9') p++;
    } else {
        return bad_number(ps, p);
    }
    size_t n_digits = (size_t)(p - digits);
    if (p < e && *p == '.') {
        is_int = 0;
        if (++p >= e || *p < '0' || *p > '9') return bad_number(ps, p);
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        if (++p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return bad_number(ps, p);
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    ps->p = p;
    if (is_int && n_digits <= EXACT_INT_DIGITS) {
        uint64_t v = 0;
        for (const char *d = digits; d < p; d++) v = v * 10 + (uint64_t)(*d - '0');
        *out = neg ? -(double)v : (double)v;
        return 1;
    }
    size_t mark = ps->req->text_len, n = (size_t)(p - q);
    if (!text_put(ps, q, n) || !text_put(ps, "", 1)) return 0;
    char *tok = ps->req->text + mark;
    char *dot = ps->point != '.' ? memchr(tok, '.', n) : NULL;
    if (dot) *dot = ps->point;
    *out = strtod(tok, NULL);
    ps->req->text_len = mark;
    if (!isinf(*out)) return 1;
    ps->p = q;
    return syntax(ps, "a number out of range");
}

/* ---- Samples --------------------------------------------------------------------------------- */

/* Room for one more entry (so entries is never NULL after a parse, even with none). */
static int reserve_entry(parser *ps) {
    ml__serve_request *r = ps->req;
    if (r->n_entries == r->entries_cap) {
        size_t cap = r->entries_cap ? 2 * r->entries_cap : 256;
        ml__serve_entry *e = realloc(r->entries, cap * sizeof *e);
        if (!e) return nomem(ps);
        r->entries = e;
        r->entries_cap = cap;
    }
    return 1;
}

static int push_entry(parser *ps, size_t off, size_t len, double value) {
    if (!reserve_entry(ps)) return 0;
    ps->req->entries[ps->req->n_entries++] = (ml__serve_entry){NULL, len, value, off};
    return 1;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* Finds two entries of s with the same key: *later repeats *earlier. 1: none, 0: found (or
 * out of memory, with status 500). */
static int distinct_keys(parser *ps, const ml__serve_sample *s, size_t *earlier, size_t *later) {
    ml__serve_request *r = ps->req;
    size_t cap = SLOTS_MIN;
    while (cap < 2 * s->n) cap *= 2;
    if (cap > r->slots_cap) {
        size_t *t = realloc(r->slots, cap * sizeof *t);
        if (!t) return nomem(ps);
        r->slots = t;
        r->slots_cap = cap;
    }
    for (size_t i = 0; i < cap; i++) r->slots[i] = SIZE_MAX;
    for (size_t k = 0; k < s->n; k++) {
        const ml__serve_entry *e = &r->entries[s->first + k];
        const char *key = r->text + e->key_off;
        size_t i = (size_t)hash_bytes(key, e->key_len) & (cap - 1);
        for (; r->slots[i] != SIZE_MAX; i = (i + 1) & (cap - 1)) {
            const ml__serve_entry *o = &r->entries[s->first + r->slots[i]];
            if (o->key_len == e->key_len && memcmp(r->text + o->key_off, key, e->key_len) == 0) {
                *earlier = r->slots[i];
                *later = k;
                return 0;
            }
        }
        r->slots[i] = k;
    }
    return 1;
}

static int abundances(parser *ps, ml__serve_sample *s, const char *at) {
    if (peek(ps) != '{')
        return ended(ps) && refuse(ps, 400, "%s.abundances: expected an object of OTU ID -> count",
                                   at);
    ps->p++;
    s->first = ps->req->n_entries;
    int more = !eat(ps, '}');
    double total = 0.0;
    while (more) {
        size_t off, len;
        double x = -1.0;
        if (!member_name(ps, &off, &len)) return 0;
        int c = peek(ps);
        if ((c == '-' || (c >= '0' && c <= '9')) && !number(ps, &x)) return 0;
        if (c < 0) return ended(ps);
        if (!(x >= 0.0)) {
            char shown[ML__SERVE_KEY_SHOWN + 4];
            show_key(shown, ps->req->text + off, len);
            return refuse(ps, 400, "%s.abundances.%s: expected a non-negative number", at, shown);
        }
        if (!push_entry(ps, off, len, x) || !next_or_close(ps, '}', &more)) return 0;
        total += x;
    }
    s->n = ps->req->n_entries - s->first;
    if (!isfinite(total))
        return refuse(ps, 400, "%s.abundances: the counts add up beyond the largest number", at);
    s->total = total;
    size_t a, b;
    if (!distinct_keys(ps, s, &a, &b)) {
        if (ps->status == 500) return 0;
        char shown[ML__SERVE_KEY_SHOWN + 4];
        const ml__serve_entry *e = &ps->req->entries[s->first + b];
        show_key(shown, ps->req->text + e->key_off, e->key_len);
        return refuse(ps, 400, "%s.abundances.%s: a key repeated in one object", at, shown);
    }
    return 1;
}

static int otus(parser *ps, ml__serve_sample *s, const char *at) {
    if (peek(ps) != '[')
        return ended(ps) && refuse(ps, 400, "%s.otus: expected an array of OTU IDs", at);
    ps->p++;
    s->first = ps->req->n_entries;
    s->is_otus = 1;
    int more = !eat(ps, ']');
    for (size_t k = 0; more; k++) {
        size_t off, len;
        if (peek(ps) != '"')
            return ended(ps) &&
                   refuse(ps, 400, "%s.otus[%zu]: expected a string (an OTU ID)", at, k);
        if (!string(ps, &off, &len) || !push_entry(ps, off, len, 0.0) ||
            !next_or_close(ps, ']', &more))
            return 0;
    }
    s->n = ps->req->n_entries - s->first;
    size_t a, b;
    if (!distinct_keys(ps, s, &a, &b))
        return ps->status == 500 ? 0 : refuse(ps, 400, "%s.otus[%zu]: repeats otus[%zu]", at, b, a);
    return 1;
}

/* Which members a sample object had. */
typedef struct seen {
    int id, abundances, otus;
} seen;

/* One member of a sample (its name at off, len); 1 ok, 0 refused, -1 not a sample member. */
static int sample_member(parser *ps, ml__serve_sample *s, const char *at, size_t off, size_t len,
                         seen *sn) {
    int *flag = name_is(ps, off, len, "id")           ? &sn->id
                : name_is(ps, off, len, "abundances") ? &sn->abundances
                : name_is(ps, off, len, "otus")       ? &sn->otus : NULL;
    ps->req->text_len = off; /* the name is not kept */
    if (!flag) return -1;
    if (*flag) return syntax(ps, "a key repeated in one object");
    *flag = 1;
    if (flag == &sn->abundances) return abundances(ps, s, at);
    if (flag == &sn->otus) return otus(ps, s, at);
    if (peek(ps) != '"' || !string(ps, &s->id_off, &s->id_len) || s->id_len == 0 ||
        s->id_len > ML__SERVE_ID_MAX_BYTES) {
        if (ps->status != 200 || !ended(ps)) return 0;
        return refuse(ps, 400, "%s.id: expected a string of 1 to %d bytes", at,
                      ML__SERVE_ID_MAX_BYTES);
    }
    return 1;
}

static int sample_complete(parser *ps, const seen *sn, const char *at) {
    if (!sn->id)
        return refuse(ps, 400, "%s.id: expected a string of 1 to %d bytes", at,
                      ML__SERVE_ID_MAX_BYTES);
    if (sn->abundances == sn->otus)
        return refuse(ps, 400, "%s: expected exactly one of \"abundances\" (OTU ID -> count) and "
                      "\"otus\" (a list of OTU IDs)", at);
    return 1;
}

static ml__serve_sample *new_sample(parser *ps) {
    ml__serve_request *r = ps->req;
    if (r->n_samples == r->samples_cap) {
        size_t cap = r->samples_cap ? 2 * r->samples_cap : 16;
        ml__serve_sample *s = realloc(r->samples, cap * sizeof *s);
        if (!s) {
            nomem(ps);
            return NULL;
        }
        r->samples = s;
        r->samples_cap = cap;
    }
    ml__serve_sample *s = &r->samples[r->n_samples++];
    memset(s, 0, sizeof *s);
    return s;
}

static int sample(parser *ps, const char *at) {
    if (peek(ps) != '{')
        return ended(ps) && refuse(ps, 400, "%s: expected an object with \"id\" and "
                                   "\"abundances\" or \"otus\"", at);
    ps->p++;
    ml__serve_sample *s = new_sample(ps);
    if (!s) return 0;
    seen sn = {0, 0, 0};
    int more = !eat(ps, '}');
    while (more) {
        size_t off, len;
        if (!member_name(ps, &off, &len)) return 0;
        int r = sample_member(ps, s, at, off, len, &sn);
        if (r < 0)
            return refuse(ps, 400, "%s: a member other than \"id\", \"abundances\" and \"otus\" "
                          "(its name is not shown: it could be an ID)", at);
        if (!r || !next_or_close(ps, '}', &more)) return 0;
    }
    return sample_complete(ps, &sn, at);
}

static int samples(parser *ps) {
    if (peek(ps) != '[')
        return ended(ps) && refuse(ps, 400, "samples: expected an array of 1 to %zu samples",
                                   ps->max_samples);
    ps->p++;
    if (eat(ps, ']'))
        return refuse(ps, 400, "samples: expected an array of 1 to %zu samples", ps->max_samples);
    for (int more = 1; more;) {
        if (ps->req->n_samples == ps->max_samples)
            return refuse(ps, 413, "samples: more than %zu samples (at most %zu in one request)",
                          ps->max_samples, ps->max_samples);
        char at[48];
        snprintf(at, sizeof at, "samples[%zu]", ps->req->n_samples);
        if (!sample(ps, at) || !next_or_close(ps, ']', &more)) return 0;
    }
    return 1;
}

/* ---- The body -------------------------------------------------------------------------------- */

#define ROOT_EXPECTED "{\"samples\": [...]} or one sample {\"id\": ..., \"abundances\": {...}}"

/* The root object: "samples", or the members of one sample. */
static int root(parser *ps) {
    int c = peek(ps);
    if (c != '{') {
        if (c == '[') return refuse(ps, 400, "body: expected an object (" ROOT_EXPECTED ")");
        return syntax(ps, c < 0 ? "the JSON ends early" : "invalid JSON (expected '{')");
    }
    ps->p++;
    int more = !eat(ps, '}'), has_samples = 0;
    seen sn = {0, 0, 0};
    ml__serve_sample *single = NULL;
    while (more) {
        size_t off, len;
        if (!member_name(ps, &off, &len)) return 0;
        if (name_is(ps, off, len, "samples")) {
            ps->req->text_len = off;
            if (has_samples) return syntax(ps, "a key repeated in one object");
            if (single) return refuse(ps, 400, "body: \"samples\" beside a sample's members");
            has_samples = 1;
            if (!samples(ps)) return 0;
        } else {
            if (has_samples)
                return refuse(ps, 400, "body: a member besides \"samples\" (expected only "
                              "\"samples\"; its name is not shown)");
            if (!single && !(single = new_sample(ps))) return 0;
            int r = sample_member(ps, single, "body", off, len, &sn);
            if (r < 0)
                return refuse(ps, 400, "body: a member other than \"samples\" (expected "
                              ROOT_EXPECTED "; its name is not shown)");
            if (!r) return 0;
        }
        if (!next_or_close(ps, '}', &more)) return 0;
    }
    if (!has_samples && !single) return refuse(ps, 400, "body: expected " ROOT_EXPECTED);
    if (single && !sample_complete(ps, &sn, "body")) return 0;
    if (peek(ps) >= 0) return syntax(ps, "text after the JSON value");
    return 1;
}

/* Pointers into the text, now that it no longer moves. */
static void settle(ml__serve_request *r) {
    for (size_t i = 0; i < r->n_samples; i++) r->samples[i].id = r->text + r->samples[i].id_off;
    for (size_t e = 0; e < r->n_entries; e++) r->entries[e].key = r->text + r->entries[e].key_off;
}

ml_status ml__serve_request_parse(ml__serve_request *req, const char *body, size_t len,
                                  size_t max_samples, int *http_status, char *reason,
                                  size_t reason_capacity) {
    req->n_samples = req->n_entries = req->text_len = 0;
    if (reason_capacity) reason[0] = '\0';
    const struct lconv *lc = localeconv(); /* strtod follows LC_NUMERIC; JSON always has '.' */
    parser ps = {body, body, body + len, req, max_samples,
                 lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.',
                 200, reason, reason_capacity};
    if (len > ML__SERVE_MAX_BODY_BYTES)
        refuse(&ps, 413, "body: %zu bytes (at most %zu)", len, ML__SERVE_MAX_BODY_BYTES);
    else if (reserve_entry(&ps) && root(&ps))
        settle(req);
    *http_status = ps.status;
    if (ps.status == 200) return ML_OK;
    req->n_samples = req->n_entries = req->text_len = 0;
    return ps.status == 500 ? ML_NOMEM() : ML_OK;
}

void ml__serve_request_trim(ml__serve_request *req, size_t keep_bytes) {
    if (req->samples_cap * sizeof *req->samples > keep_bytes) {
        free(req->samples);
        req->samples = NULL;
        req->samples_cap = 0;
    }
    if (req->entries_cap * sizeof *req->entries > keep_bytes) {
        free(req->entries);
        req->entries = NULL;
        req->entries_cap = 0;
    }
    if (req->text_cap > keep_bytes) {
        free(req->text);
        req->text = NULL;
        req->text_cap = 0;
    }
    if (req->slots_cap * sizeof *req->slots > keep_bytes) {
        free(req->slots);
        req->slots = NULL;
        req->slots_cap = 0;
    }
    req->n_samples = req->n_entries = req->text_len = 0;
}

void ml__serve_request_free(ml__serve_request *req) {
    if (!req) return;
    free(req->samples);
    free(req->entries);
    free(req->text);
    free(req->slots);
    *req = (ml__serve_request)ML__SERVE_REQUEST_INIT;
}

ml_status ml__serve_error_body(ml_serve_outcome *out, int status, const char *reason) {
    json_t *doc = json_pack("{s:{s:i, s:s}}", "error", "status", status, "reason", reason);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) return ML_NOMEM();
    out->http_status = status;
    out->body = text;
    out->body_len = strlen(text);
    return ML_OK;
}
