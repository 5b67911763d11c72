/* ratelimit.c - token buckets per client: refilled continuously at rate_per_s up to burst,
 * one request costs one. A mutex per bucket, so clients never wait on each other. */
#include "serve/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/error.h"

/* A Retry-After above this is clamped: rates below one request a day make no sense. */
#define RETRY_AFTER_MAX_S 86400.0

typedef struct bucket {
    pthread_mutex_t lock;
    double tokens;     /* requests available now, in [0, burst] */
    uint64_t last_ns;  /* time of the last refill; 0: never (starts full) */
} bucket;

struct ml__ratelimit {
    bucket *buckets;
    size_t n;
    double rate_per_s, burst;
};

ml_status ml__ratelimit_new(ml__ratelimit **out, size_t n_buckets, double rate_per_s,
                            double burst) {
    if (!(rate_per_s > 0.0) || !isfinite(rate_per_s))
        return ML_FAIL(ML_EINVAL, "rate limit: rate must be a positive number of requests per "
                       "second, got %g", rate_per_s);
    if (burst == 0.0) burst = rate_per_s < 1.0 ? 1.0 : rate_per_s;
    if (!(burst >= 1.0) || !isfinite(burst))
        return ML_FAIL(ML_EINVAL, "rate limit: burst must be at least 1 request, got %g", burst);
    ml__ratelimit *rl = calloc(1, sizeof *rl);
    bucket *b = n_buckets ? calloc(n_buckets, sizeof *b) : NULL;
    if (!rl || (n_buckets && !b)) {
        free(rl);
        free(b);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n_buckets; i++) {
        pthread_mutex_init(&b[i].lock, NULL);
        b[i].tokens = burst;
    }
    rl->buckets = b;
    rl->n = n_buckets;
    rl->rate_per_s = rate_per_s;
    rl->burst = burst;
    *out = rl;
    return ML_OK;
}

bool ml__ratelimit_take(ml__ratelimit *rl, size_t i, uint64_t now_ns, unsigned *retry_after_s) {
    if (!rl || i >= rl->n) {
        *retry_after_s = 1;
        return false;
    }
    bucket *b = &rl->buckets[i];
    pthread_mutex_lock(&b->lock);
    if (b->last_ns != 0 && now_ns > b->last_ns) {
        double dt = (double)(now_ns - b->last_ns) * 1e-9;
        b->tokens = fmin(rl->burst, b->tokens + dt * rl->rate_per_s);
    }
    if (b->last_ns == 0 || now_ns > b->last_ns) b->last_ns = now_ns;
    bool ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else {
        double wait = ceil((1.0 - b->tokens) / rl->rate_per_s);
        *retry_after_s = (unsigned)fmax(1.0, fmin(wait, RETRY_AFTER_MAX_S));
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void ml__ratelimit_free(ml__ratelimit *rl) {
    if (!rl) return;
    for (size_t i = 0; i < rl->n; i++) pthread_mutex_destroy(&rl->buckets[i].lock);
    free(rl->buckets);
    free(rl);
}
