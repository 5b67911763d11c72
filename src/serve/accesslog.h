/* accesslog.h - the server's access log: one JSON object per request on one line, appended
 * with a single write() so that lines from concurrent requests never interleave; reopened in
 * place after rotation. It records who, what route, outcome and pseudonyms - never a token,
 * a URL as sent, a raw sample ID or a payload value. */
#ifndef ML_SERVE_ACCESSLOG_H
#define ML_SERVE_ACCESSLOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "microlens/error.h"

typedef struct ml__access_entry {
    struct timespec time;     /* CLOCK_REALTIME when the request line arrived */
    const char *token_name;   /* NULL: "-" (no or unknown token) */
    const char *method;       /* one of the known methods, else logged as "OTHER" */
    const char *route;        /* a known route, else logged as "other" */
    int status;               /* HTTP status sent; 0: none (connection dropped) */
    double latency_ms;        /* request line to response done */
    size_t n_samples;
    char *const *pseudonyms;  /* n_pseudonyms "s_..." strings; others are dropped */
    size_t n_pseudonyms;
    const char *terminated;   /* NULL when answered normally; else "timeout",
                               * "client_abort", "error", "shutdown" */
} ml__access_entry;

/* Formats e as one JSON line ending in '\n' into a malloc'd buffer (caller frees).
 * ML_ENOMEM. The method is mapped onto a fixed set; token name, route and termination keep
 * only [A-Za-z0-9._/-] (other bytes become '?', at most 64 kept); only strings that are
 * exactly pseudonyms are written as samples. */
ml_status ml__access_format(const ml__access_entry *e, char **line, size_t *len);

typedef struct ml__accesslog {
    pthread_rwlock_t lock; /* writers share it; reopen takes it exclusively */
    int fd;                /* -1: no log */
    char *path;
} ml__accesslog;

/* Opens path for appending (O_APPEND|O_CREAT|O_NOFOLLOW, mode 0600 when created); path NULL
 * gives a log that drops everything. ML_EIO naming the path. */
ml_status ml__accesslog_open(ml__accesslog *log, const char *path);
/* Formats and appends one line. ML_EIO / ML_ENOMEM; the log stays usable. */
ml_status ml__accesslog_write(ml__accesslog *log, const ml__access_entry *e);
/* Opens path again and swaps the descriptor; the old file stays in use on failure. */
ml_status ml__accesslog_reopen(ml__accesslog *log);
void ml__accesslog_close(ml__accesslog *log);

#endif
