/* rng.h - a seeded, caller-owned random number generator (xoshiro256**) and the few
 * distributions microlens needs. No global state and no OS entropy: same seed, same stream. */
#ifndef ML_UTIL_RNG_H
#define ML_UTIL_RNG_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** state (Blackman & Vigna, https://prng.di.unimi.it/). Never all zero once
 * seeded through ml__rng_seed. */
typedef struct ml__rng {
    uint64_t s[4];
} ml__rng;

/* Fills the state with four outputs of splitmix64 started at seed (the seeding the authors
 * recommend), so that nearby seeds give unrelated streams. */
void ml__rng_seed(ml__rng *r, uint64_t seed);

/* Seeds an independent stream number `stream` of `seed` (e.g. one per fold or per component),
 * so that adding draws to one stream never shifts another. */
void ml__rng_seed_stream(ml__rng *r, uint64_t seed, uint64_t stream);

/* Next raw 64-bit output. */
uint64_t ml__rng_next(ml__rng *r);

/* Uniform double in [0, 1): the top 53 bits of one output times 2^-53. */
double ml__rng_uniform(ml__rng *r);

/* Uniform integer in [0, n) without modulo bias (rejection of the short last range);
 * n == 0 returns 0. */
uint64_t ml__rng_below(ml__rng *r, uint64_t n);

/* Standard normal by Box-Muller; uses two uniforms per call, keeps no spare. */
double ml__rng_normal(ml__rng *r);

/* Gamma(shape, scale), mean shape*scale, by Marsaglia & Tsang (2000); shape < 1 uses their
 * boost Gamma(shape+1) * U^(1/shape). Requires shape > 0 and scale > 0. */
double ml__rng_gamma(ml__rng *r, double shape, double scale);

/* out[0..k) ~ Dirichlet(alpha[0..k)) as normalised Gamma(alpha_i, 1) draws. Requires every
 * alpha_i > 0 and k >= 1. If every gamma draw underflows to zero, all mass goes to the
 * largest alpha (first on ties), so out always sums to 1. */
void ml__rng_dirichlet(ml__rng *r, const double *alpha, size_t k, double *out);

/* Shuffles idx[0..n) in place (Fisher-Yates). */
void ml__rng_shuffle(ml__rng *r, size_t *idx, size_t n);

#endif
