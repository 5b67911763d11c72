/* accesslog.c - JSON-lines access log: formatting and appending one line per write() under a
 * shared lock, so that a reopen after rotation never splits a line. */
#include "serve/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/pseudonym.h"
#include "util/error.h"
#include "util/fileio.h"

/* The only method words logged as sent; anything else is "OTHER" (client text stays out). */
static const char *const known_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                            "OPTIONS", "PATCH", "CONNECT", "TRACE"};

static const char *method_word(const char *m) {
    for (size_t i = 0; m && i < sizeof known_methods / sizeof *known_methods; i++)
        if (strcmp(m, known_methods[i]) == 0) return known_methods[i];
    return "OTHER";
}

/* ISO 8601 UTC with milliseconds: 2024-05-01T12:00:00.123Z (24 characters + NUL) */
static void iso_time(char dst[32], const struct timespec *t) {
    struct tm tm;
    time_t sec = t->tv_sec;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(dst, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    size_t n = strftime(dst, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned ms = (unsigned)(t->tv_nsec / 1000000) % 1000u;
    if (n + 6 <= 32) {
        dst[n] = '.';
        dst[n + 1] = (char)('0' + ms / 100);
        dst[n + 2] = (char)('0' + ms / 10 % 10);
        dst[n + 3] = (char)('0' + ms % 10);
        dst[n + 4] = 'Z';
        dst[n + 5] = '\0';
    }
}

/* The line is built by hand rather than with jansson: every string in it comes from a fixed
 * set (method, route, termination), is a validated token name, or is a checked pseudonym, so
 * nothing needs escaping, and jansson's objects cost 3.8 us a line, a sixth of the CPU of a
 * small predict request. Strings still pass a whitelist, so a caller's mistake yields '?',
 * never broken JSON. Tests parse the lines back with jansson. */
typedef struct line_buf {
    char *p;
    size_t len, cap; /* cap reserved up front from the entry's sizes */
} line_buf;

static void put(line_buf *b, const char *s) {
    size_t n = strlen(s);
    if (n > b->cap - b->len) n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* A quoted string of at most max bytes of [A-Za-z0-9._/-]; other bytes become '?'. */
static void put_word(line_buf *b, const char *s, size_t max) {
    put(b, "\"");
    for (size_t i = 0; s[i] && i < max && b->len < b->cap; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/';
        b->p[b->len++] = ok ? c : '?';
    }
    put(b, "\"");
}

/* Longest token name, route or termination word written. */
#define WORD_MAX 64
/* Everything in a line but the pseudonyms and the words: keys, time, numbers. */
#define LINE_FIXED_BYTES 256

ml_status ml__access_format(const ml__access_entry *e, char **line, size_t *len) {
    line_buf b = {NULL, 0, LINE_FIXED_BYTES + 3 * (WORD_MAX + 2) +
                               e->n_pseudonyms * (ML_PSEUDONYM_SIZE + 3)};
    b.p = malloc(b.cap + 1);
    if (!b.p) return ML_NOMEM();
    char when[32], num[64];
    iso_time(when, &e->time);
    put(&b, "{\"time\":\"");
    put(&b, when);
    put(&b, "\",\"token\":");
    put_word(&b, e->token_name ? e->token_name : "-", WORD_MAX);
    put(&b, ",\"method\":\"");
    put(&b, method_word(e->method));
    put(&b, "\",\"route\":");
    put_word(&b, e->route ? e->route : "other", WORD_MAX);
    /* latency: 6 significant digits (microseconds under a second), always a JSON real */
    double ms = isfinite(e->latency_ms) && e->latency_ms > 0 ? e->latency_ms : 0.0;
    int k = snprintf(num, sizeof num, "%.6g", ms);
    if (k > 0 && (size_t)k + 3 <= sizeof num && !strpbrk(num, ".e"))
        memcpy(num + k, ".0", 3);
    char head[160];
    snprintf(head, sizeof head, ",\"status\":%d,\"latency_ms\":%s,\"n_samples\":%zu,\"samples\":[",
             e->status, num, e->n_samples);
    put(&b, head);
    bool first = true;
    for (size_t i = 0; i < e->n_pseudonyms; i++) {
        /* Only exact pseudonyms pass: a caller bug can never put a raw ID in the log. */
        const char *ps = e->pseudonyms[i];
        if (!ps || !ml_pseudonym_is_pseudonym(ps)) continue;
        put(&b, first ? "\"" : ",\"");
        put(&b, ps);
        put(&b, "\"");
        first = false;
    }
    put(&b, "]");
    if (e->terminated) {
        put(&b, ",\"terminated\":");
        put_word(&b, e->terminated, WORD_MAX);
    }
    put(&b, "}\n");
    b.p[b.len] = '\0';
    *line = b.p;
    *len = b.len;
    return ML_OK;
}

static ml_status open_fd(const char *path, int *fd) {
    int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0)
        return ML_FAIL(ML_EIO, "cannot open access log %s: %s", path, strerror(errno));
    *fd = f;
    return ML_OK;
}

ml_status ml__accesslog_open(ml__accesslog *log, const char *path) {
    log->fd = -1;
    log->path = NULL;
    if (path) {
        log->path = strdup(path);
        if (!log->path) return ML_NOMEM();
        ml_status st = open_fd(path, &log->fd);
        if (st != ML_OK) {
            free(log->path);
            log->path = NULL;
            return st;
        }
    }
    if (pthread_rwlock_init(&log->lock, NULL) != 0) {
        if (log->fd >= 0) close(log->fd);
        free(log->path);
        log->fd = -1;
        log->path = NULL;
        return ML_FAIL(ML_ENOMEM, "cannot create the access log lock");
    }
    return ML_OK;
}

ml_status ml__accesslog_write(ml__accesslog *log, const ml__access_entry *e) {
    if (log->fd < 0 && !log->path) return ML_OK;
    char *line = NULL;
    size_t len = 0;
    ML_TRY(ml__access_format(e, &line, &len));
    pthread_rwlock_rdlock(&log->lock);
    /* One write() of the whole line on an O_APPEND descriptor: the kernel appends it at the
     * end of the file in one piece, so concurrent writers need no lock between them. */
    ml_status st = ml__write_all(log->fd, line, len, log->path);
    pthread_rwlock_unlock(&log->lock);
    free(line);
    return st;
}

ml_status ml__accesslog_reopen(ml__accesslog *log) {
    if (!log->path) return ML_OK;
    int fd = -1;
    ML_TRY(open_fd(log->path, &fd));
    pthread_rwlock_wrlock(&log->lock);
    int old = log->fd;
    log->fd = fd;
    pthread_rwlock_unlock(&log->lock);
    if (old >= 0) close(old);
    return ML_OK;
}

void ml__accesslog_close(ml__accesslog *log) {
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
    free(log->path);
    log->path = NULL;
    pthread_rwlock_destroy(&log->lock);
}
