/* error.c - the thread-local last error; the only mutable state the library keeps. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local ml_error last_error;

const ml_error *ml_error_last(void) { return &last_error; }

void ml_error_clear(void) { memset(&last_error, 0, sizeof last_error); }

const char *ml_status_name(ml_status code) {
    switch (code) {
    case ML_OK: return "OK";
    case ML_EINVAL: return "EINVAL";
    case ML_EFORMAT: return "EFORMAT";
    case ML_EINTEGRITY: return "EINTEGRITY";
    case ML_EIO: return "EIO";
    case ML_ENOMEM: return "ENOMEM";
    case ML_ENOTFOUND: return "ENOTFOUND";
    case ML_EUNSUPPORTED: return "EUNSUPPORTED";
    case ML_EPERM: return "EPERM";
    }
    return "EUNKNOWN";
}

static void scrub_control_chars(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

ml_status ml__fail(ml_status code, const char *file, int line, const char *fmt, ...) {
    last_error.code = code;
    last_error.file = file;
    last_error.line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
    va_end(ap);
    scrub_control_chars(last_error.message);
    return code;
}

void ml__error_prefix(const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    scrub_control_chars(prefix);
    char joined[sizeof last_error.message];
    /* a message cut short is still better than none: truncation is accepted here */
    if (snprintf(joined, sizeof joined, "%s: %s", prefix, last_error.message) < 0) return;
    memcpy(last_error.message, joined, sizeof joined);
}
