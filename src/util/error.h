/* error.h - raising errors inside the library (ML_FAIL) and propagating them (ML_TRY). */
#ifndef ML_UTIL_ERROR_H
#define ML_UTIL_ERROR_H

#include "microlens/error.h"

#if defined(__GNUC__)
#define ML_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ML_PRINTF(a, b)
#endif

/* Records code + formatted message as the thread's last error and returns code.
 * Control characters in the message are replaced by '?' so that input bytes echoed in a
 * message cannot forge terminal output or log lines. */
ml_status ml__fail(ml_status code, const char *file, int line, const char *fmt, ...)
    ML_PRINTF(4, 5);

/* Prepends "prefix: " to the current last error message (adds context on the way up). */
void ml__error_prefix(const char *fmt, ...) ML_PRINTF(1, 2);

#define ML_FAIL(code, ...) ml__fail((code), __FILE__, __LINE__, __VA_ARGS__)
#define ML_NOMEM() ML_FAIL(ML_ENOMEM, "out of memory")

#define ML_TRY(expr)                                                                         \
    do {                                                                                     \
        ml_status ml__st = (expr);                                                           \
        if (ml__st != ML_OK) return ml__st;                                                  \
    } while (0)

#endif
