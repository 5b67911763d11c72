/* rng.c - xoshiro256** seeded by splitmix64, and distributions built on it; it keeps no
 * state of its own and never reads OS entropy. */
#include "util/rng.h"

#include <math.h>

/* Golden-ratio increment of splitmix64 (Steele, Lea & Flood 2014). */
#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ml__rng_seed(ml__rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void ml__rng_seed_stream(ml__rng *r, uint64_t seed, uint64_t stream) {
    /* Mixing the stream number through splitmix64 first keeps (seed, stream) pairs from
     * colliding along the splitmix64 sequence of a single seed. */
    uint64_t x = stream;
    ml__rng_seed(r, seed ^ splitmix64(&x));
}

uint64_t ml__rng_next(ml__rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ml__rng_uniform(ml__rng *r) {
    return (double)(ml__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t ml__rng_below(ml__rng *r, uint64_t n) {
    if (n == 0) return 0;
    /* 2^64 mod n outputs at the bottom would make small results likelier; skip them. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = ml__rng_next(r);
        if (x >= threshold) return x % n;
    }
}

double ml__rng_normal(ml__rng *r) {
    double u1 = 1.0 - ml__rng_uniform(r); /* (0, 1]: log never sees 0 */
    double u2 = ml__rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

double ml__rng_gamma(ml__rng *r, double shape, double scale) {
    if (shape < 1.0) {
        double u = 1.0 - ml__rng_uniform(r);
        return ml__rng_gamma(r, shape + 1.0, scale) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = ml__rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = 1.0 - ml__rng_uniform(r);
        /* The squeeze avoids the logarithms in about 98% of draws. */
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v * scale;
    }
}

void ml__rng_dirichlet(ml__rng *r, const double *alpha, size_t k, double *out) {
    double sum = 0.0;
    for (size_t i = 0; i < k; i++) sum += (out[i] = ml__rng_gamma(r, alpha[i], 1.0));
    if (sum > 0.0) {
        for (size_t i = 0; i < k; i++) out[i] /= sum;
        return;
    }
    size_t best = 0;
    for (size_t i = 1; i < k; i++)
        if (alpha[i] > alpha[best]) best = i;
    for (size_t i = 0; i < k; i++) out[i] = i == best ? 1.0 : 0.0;
}

void ml__rng_shuffle(ml__rng *r, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ml__rng_below(r, (uint64_t)i);
        size_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}
