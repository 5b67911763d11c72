/* ratelimit.h - token buckets, one per client (token name): R requests a second on average,
 * bursts up to B. The caller passes the time, so tests need no clock. No I/O. */
#ifndef ML_SERVE_RATELIMIT_H
#define ML_SERVE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

typedef struct ml__ratelimit ml__ratelimit;

/* n_buckets buckets, each starting full (burst requests). rate_per_s > 0 and finite; burst
 * >= 1 (0: max(1, rate_per_s)). ML_EINVAL otherwise; ML_ENOMEM. */
ml_status ml__ratelimit_new(ml__ratelimit **out, size_t n_buckets, double rate_per_s,
                            double burst);

/* Takes one request from bucket at time now_ns (any monotonic clock, nanoseconds). True if
 * allowed; otherwise false and *retry_after_s is the whole seconds (>= 1) until a request
 * will be allowed, for a Retry-After header. Thread-safe; an out-of-range bucket is refused
 * with retry_after 1. A clock that goes backwards adds nothing. */
bool ml__ratelimit_take(ml__ratelimit *rl, size_t bucket, uint64_t now_ns,
                        unsigned *retry_after_s);

void ml__ratelimit_free(ml__ratelimit *rl); /* NULL: no-op */

#endif
