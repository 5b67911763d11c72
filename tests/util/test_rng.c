/* test_rng.c - what rng.c promises: the published xoshiro256** and splitmix64 streams, and
 * the moments of every distribution. Reference values were computed with an independent
 * Python transcription of the authors' C code (prng.di.unimi.it), not with this file. */
#include <stdint.h>
#include <stdlib.h>

#include "ml_test.h"
#include "util/rng.h"

static void test_rng__xoshiro256ss_matches_reference_state_1234(void) {
    /* Also the test vector of the Rust crate rand_xoshiro. */
    ml__rng r = {{1, 2, 3, 4}};
    static const uint64_t want[6] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL,
                                     1216172134540287360ULL, 607988272756665600ULL};
    for (int i = 0; i < 6; i++) CHECK(ml__rng_next(&r) == want[i]);
}

static void test_rng__seed_zero_state_is_splitmix64_stream(void) {
    /* splitmix64 from 0 starts 0xe220a8397b1dcdaf (Vigna's splitmix64.c). */
    ml__rng r;
    ml__rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafULL);
    CHECK(r.s[1] == 0x6e789e6aa1b965f4ULL);
    CHECK(r.s[2] == 0x06c45d188009454fULL);
    CHECK(r.s[3] == 0xf88bb8a8724c81ecULL);
}

static void test_rng__seed_42_first_outputs(void) {
    ml__rng r;
    ml__rng_seed(&r, 42);
    CHECK(ml__rng_next(&r) == 0x15780b2e0c2ec716ULL);
    CHECK(ml__rng_next(&r) == 0x6104d9866d113a7eULL);
    CHECK(ml__rng_next(&r) == 0xae17533239e499a1ULL);
    CHECK(ml__rng_next(&r) == 0xecb8ad4703b360a1ULL);
}

static void test_rng__uniform_uses_top_53_bits(void) {
    ml__rng r;
    ml__rng_seed(&r, 42);
    CHECK(ml__rng_uniform(&r) == 0.08386297105988216);
}

static void test_rng__stream_seed_mixes_stream_number(void) {
    ml__rng a, b;
    ml__rng_seed_stream(&a, 42, 3);
    ml__rng_seed(&b, 0x1d0b14e4db018fc7ULL);
    for (int i = 0; i < 4; i++) CHECK(a.s[i] == b.s[i]);
    ml__rng_seed_stream(&b, 42, 4);
    CHECK(a.s[0] != b.s[0]);
}

static void test_rng__uniform_stays_in_unit_interval_with_right_moments(void) {
    ml__rng r;
    ml__rng_seed(&r, 7);
    const int n = 200000;
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = ml__rng_uniform(&r);
        sum += u;
        sum2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    CHECK(lo >= 0.0 && hi < 1.0);
    CHECK_NEAR(sum / n, 0.5, 0.005);
    CHECK_NEAR(sum2 / n - (sum / n) * (sum / n), 1.0 / 12, 0.002);
}

static void test_rng__below_is_unbiased_and_in_range(void) {
    ml__rng r;
    ml__rng_seed(&r, 10);
    /* n = 3 with 30000 draws: each count ~ Binomial(30000, 1/3), sd ~ 82. A modulo reduction
     * of a biased source would not show here; the chi-square catches gross mistakes such as
     * an off-by-one range. */
    size_t counts[3] = {0, 0, 0};
    for (int i = 0; i < 30000; i++) {
        uint64_t v = ml__rng_below(&r, 3);
        CHECK(v < 3);
        if (v < 3) counts[v]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 3; k++) {
        double d = (double)counts[k] - 10000.0;
        chi2 += d * d / 10000.0;
    }
    CHECK(chi2 < 13.8); /* p = 0.001 for 2 degrees of freedom */
    CHECK(ml__rng_below(&r, 0) == 0);
    CHECK(ml__rng_below(&r, 1) == 0);
    /* A huge n exercises the rejection threshold (2^64 mod n is large). */
    uint64_t big = (UINT64_MAX / 3) * 2;
    for (int i = 0; i < 1000; i++) CHECK(ml__rng_below(&r, big) < big);
}

static void test_rng__normal_has_mean_0_variance_1(void) {
    ml__rng r;
    ml__rng_seed(&r, 11);
    const int n = 200000;
    double s1 = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double x = ml__rng_normal(&r);
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    CHECK_NEAR(s1 / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 1.0, 0.015);
    CHECK_NEAR(s4 / n, 3.0, 0.08); /* kurtosis of a normal */
}

static void check_gamma(double shape, double scale, unsigned seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    const int n = 200000;
    double s1 = 0, s2 = 0;
    int negative = 0;
    for (int i = 0; i < n; i++) {
        double x = ml__rng_gamma(&r, shape, scale);
        if (x < 0) negative++;
        s1 += x;
        s2 += x * x;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    double want_mean = shape * scale, want_var = shape * scale * scale;
    CHECK_EQ_INT(negative, 0);
    CHECK_NEAR(mean / want_mean, 1.0, 0.01);
    CHECK_NEAR(var / want_var, 1.0, 0.04);
}

static void test_rng__gamma_moments_for_small_and_large_shape(void) {
    check_gamma(0.3, 2.0, 21); /* boosted branch */
    check_gamma(1.0, 1.0, 22);
    check_gamma(2.5, 0.5, 23);
    check_gamma(40.0, 3.0, 24);
}

static void test_rng__dirichlet_sums_to_one_with_right_moments(void) {
    ml__rng r;
    ml__rng_seed(&r, 31);
    const double alpha[3] = {0.5, 2.0, 7.5};
    const double a0 = 10.0;
    const int n = 100000;
    double s1[3] = {0}, s2[3] = {0}, out[3];
    for (int i = 0; i < n; i++) {
        ml__rng_dirichlet(&r, alpha, 3, out);
        CHECK_NEAR(out[0] + out[1] + out[2], 1.0, 1e-12);
        for (int k = 0; k < 3; k++) {
            s1[k] += out[k];
            s2[k] += out[k] * out[k];
        }
    }
    for (int k = 0; k < 3; k++) {
        double m = alpha[k] / a0, v = m * (1 - m) / (a0 + 1);
        double mean = s1[k] / n;
        CHECK_NEAR(mean, m, 0.003);
        CHECK_NEAR((s2[k] / n - mean * mean) / v, 1.0, 0.04);
    }
}

static void test_rng__dirichlet_with_underflowing_alphas_still_sums_to_one(void) {
    ml__rng r;
    ml__rng_seed(&r, 5);
    const double alpha[3] = {1e-300, 1e-300, 2e-300};
    double out[3];
    for (int i = 0; i < 100; i++) {
        ml__rng_dirichlet(&r, alpha, 3, out);
        CHECK_NEAR(out[0] + out[1] + out[2], 1.0, 1e-12);
    }
}

static void test_rng__shuffle_is_a_permutation_and_depends_on_seed(void) {
    size_t a[50], b[50];
    int seen[50] = {0};
    for (size_t i = 0; i < 50; i++) a[i] = b[i] = i;
    ml__rng r;
    ml__rng_seed(&r, 1);
    ml__rng_shuffle(&r, a, 50);
    ml__rng_seed(&r, 2);
    ml__rng_shuffle(&r, b, 50);
    int same = 1, moved = 0;
    for (size_t i = 0; i < 50; i++) {
        if (a[i] < 50) seen[a[i]]++;
        if (a[i] != b[i]) same = 0;
        if (a[i] != i) moved++;
    }
    for (size_t i = 0; i < 50; i++) CHECK_EQ_INT(seen[i], 1);
    CHECK(!same);
    CHECK(moved > 40);
}

int main(void) {
    RUN(test_rng__xoshiro256ss_matches_reference_state_1234);
    RUN(test_rng__seed_zero_state_is_splitmix64_stream);
    RUN(test_rng__seed_42_first_outputs);
    RUN(test_rng__uniform_uses_top_53_bits);
    RUN(test_rng__stream_seed_mixes_stream_number);
    RUN(test_rng__uniform_stays_in_unit_interval_with_right_moments);
    RUN(test_rng__below_is_unbiased_and_in_range);
    RUN(test_rng__normal_has_mean_0_variance_1);
    RUN(test_rng__gamma_moments_for_small_and_large_shape);
    RUN(test_rng__dirichlet_sums_to_one_with_right_moments);
    RUN(test_rng__dirichlet_with_underflowing_alphas_still_sums_to_one);
    RUN(test_rng__shuffle_is_a_permutation_and_depends_on_seed);
    TEST_MAIN_END();
}
