/* json.h - small jansson helpers shared by the library's JSON writers. */
#ifndef ML_UTIL_JSON_H
#define ML_UTIL_JSON_H

#include <jansson.h>
#include <math.h>

/* JSON has no NaN or infinity (jansson refuses them): a non-finite number is written as null,
 * which every reader of our documents takes as "not a number". */
static inline json_t *ml__json_number(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

#endif
