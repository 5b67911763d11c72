/* ml_test.h - the tiny test runner: CHECK prints file:line and both values, TEST registers. */
#ifndef ML_TEST_H
#define ML_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "microlens/error.h"

typedef struct ml_test_state {
    int failures;
    int checks;
} ml_test_state;

static ml_test_state ml_test_g; /* test programs only; the library keeps no globals */

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        ml_test_g.checks++;                                                                  \
        if (!(cond)) {                                                                       \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);         \
        }                                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                   \
    do {                                                                                     \
        long long ml_a = (long long)(a), ml_b = (long long)(b);                              \
        ml_test_g.checks++;                                                                  \
        if (ml_a != ml_b) {                                                                  \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__,    \
                    #a, #b, ml_a, ml_b);                                                     \
        }                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                \
    do {                                                                                     \
        double ml_a = (double)(a), ml_b = (double)(b);                                       \
        ml_test_g.checks++;                                                                  \
        if (!(fabs(ml_a - ml_b) <= (tol))) {                                                 \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: %s ~ %s failed: %.17g vs %.17g (|diff| %.3g > tol %.3g)\n", \
                    __FILE__, __LINE__, #a, #b, ml_a, ml_b, fabs(ml_a - ml_b), (double)(tol)); \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *ml_a = (a), *ml_b = (b);                                                 \
        ml_test_g.checks++;                                                                  \
        if (!ml_a || !ml_b || strcmp(ml_a, ml_b) != 0) {                                     \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,\
                    #a, #b, ml_a ? ml_a : "(null)", ml_b ? ml_b : "(null)");                 \
        }                                                                                    \
    } while (0)

/* Checks a status and, on mismatch, prints the library's last error message. */
#define CHECK_STATUS(expr, expected)                                                         \
    do {                                                                                     \
        ml_status ml_s = (expr);                                                             \
        ml_test_g.checks++;                                                                  \
        if (ml_s != (expected)) {                                                            \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",         \
                    __FILE__, __LINE__, #expr, ml_status_name(ml_s),                         \
                    ml_status_name(expected), ml_error_last()->message);                     \
        }                                                                                    \
    } while (0)

/* Checks that the last error message contains a substring. */
#define CHECK_ERR_CONTAINS(sub)                                                              \
    do {                                                                                     \
        ml_test_g.checks++;                                                                  \
        if (!strstr(ml_error_last()->message, (sub))) {                                      \
            ml_test_g.failures++;                                                            \
            fprintf(stderr, "%s:%d: last error \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,   \
                    ml_error_last()->message, (sub));                                        \
        }                                                                                    \
    } while (0)

#define RUN(test)                                                                            \
    do {                                                                                     \
        int ml_before = ml_test_g.failures;                                                  \
        test();                                                                              \
        fprintf(stderr, "%s %s\n", ml_test_g.failures == ml_before ? "ok  " : "FAIL", #test); \
    } while (0)

#define TEST_MAIN_END()                                                                      \
    do {                                                                                     \
        fprintf(stderr, "%d checks, %d failed\n", ml_test_g.checks, ml_test_g.failures);     \
        return ml_test_g.failures ? 1 : 0;                                                   \
    } while (0)

#endif
