/* softmax.c - row-wise softmax forward/backward in float with double references; it knows
 * nothing of attention, scaling or masks. */
#include "nn/softmax.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/simd.h"

/* Partial sums and maxima run in LANES independent accumulators so that the loops pipeline
 * (and vectorise) without -ffast-math; the order change moves results by float rounding. */
#define LANES ML_LANES

/* exp(-87) is near FLT_MIN: below it the result is 0, and the clamp keeps 2^n normal. The
 * bit patterns are of 87.0f and -87.0f. */
#define EXP_MIN_ABS_BITS 0x42ae0000
#define EXP_MIN_BITS 0xc2ae0000u
/* 1.5 * 2^23: adding and subtracting it rounds a float of magnitude < 2^22 to an integer. */
#define ROUND_MAGIC 12582912.0f

/* exp(x) for x <= 0 (NaN or x < -87 give 0) in branch-free arithmetic: x = n ln2 + r,
 * |r| <= ln2/2, exp(r) by Cephes' expf polynomial (relative error < 1e-7, as libm's), 2^n put
 * in the exponent bits. The clamp works on the bits because a float compare-and-select keeps
 * GCC from vectorising under the default -ftrapping-math. The scalar libm call was 60% of
 * inference time at 1000 OTUs. */
ML_KERNEL_INLINE float exp_nonpositive(float x) {
    int32_t xb;
    memcpy(&xb, &x, sizeof xb);
    int32_t is_tiny = -(int32_t)((xb & 0x7fffffff) > EXP_MIN_ABS_BITS); /* all ones or 0 */
    xb = (xb & ~is_tiny) | (int32_t)(EXP_MIN_BITS & (uint32_t)is_tiny);
    memcpy(&x, &xb, sizeof x);
    float n = (x * 1.44269504088896341f + ROUND_MAGIC) - ROUND_MAGIC;
    /* fmaf: one instruction in the FMA clones, and the same bits everywhere (see simd.h) */
    float r = fmaf(n, 2.12194440e-4f, fmaf(n, -0.693359375f, x)); /* ln2 in two (Cephes) */
    float q = 1.9875691500e-4f;
    q = fmaf(q, r, 1.3981999507e-3f);
    q = fmaf(q, r, 8.3334519073e-3f);
    q = fmaf(q, r, 4.1665795894e-2f);
    q = fmaf(q, r, 1.6666665459e-1f);
    q = fmaf(q, r, 5.0000001201e-1f);
    q = fmaf(q, r * r, r) + 1.0f;
    /* unsigned: a shift, where the signed multiply it replaces vectorised as vpmulld */
    int32_t bits = (int32_t)((uint32_t)((int32_t)n + 127) << 23) & ~is_tiny;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return q * scale;
}

/* Float bits as an int that orders as the floats do (negatives have their magnitude bits
 * flipped); the map is its own inverse. An integer max vectorises where a float compare and
 * select does not (under -ftrapping-math). */
ML_KERNEL_INLINE int32_t ordered_bits(float x) {
    int32_t b;
    memcpy(&b, &x, sizeof b);
    return b ^ ((b >> 31) & 0x7fffffff);
}

ML_KERNEL_INLINE float row_max(const float *x, size_t n) {
    int32_t m[LANES];
    for (size_t k = 0; k < LANES; k++) m[k] = ordered_bits(-INFINITY);
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (size_t k = 0; k < LANES; k++) {
            int32_t v = ordered_bits(x[j + k]);
            m[k] = v > m[k] ? v : m[k];
        }
    for (; j < n; j++) {
        int32_t v = ordered_bits(x[j]);
        m[0] = v > m[0] ? v : m[0];
    }
    int32_t best = m[0];
    for (size_t k = 1; k < LANES; k++) best = m[k] > best ? m[k] : best;
    best = best ^ ((best >> 31) & 0x7fffffff);
    float out;
    memcpy(&out, &best, sizeof out);
    return out;
}

static inline float row_dot(const float *a, const float *b, size_t n) {
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (size_t k = 0; k < LANES; k++) acc[k] += a[j + k] * b[j + k];
    for (; j < n; j++) acc[0] += a[j] * b[j];
    float total = 0.0f;
    for (size_t k = 0; k < LANES; k++) total += acc[k];
    return total;
}

/* x[j] = exp(x[j] - mx) for every j; returns their sum. */
ML_KERNEL_INLINE float row_exp_sum(float *x, size_t n, float mx) {
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (size_t k = 0; k < LANES; k++) {
            float e = exp_nonpositive(x[j + k] - mx);
            x[j + k] = e;
            acc[k] += e;
        }
    for (; j < n; j++) {
        x[j] = exp_nonpositive(x[j] - mx);
        acc[0] += x[j];
    }
    /* halving: a fixed order whose steps vectorise, where a running sum is 16 dependent adds */
    ML_UNROLL(4)
    for (size_t w = LANES / 2; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0];
}

ML_KERNEL_INLINE void row_scale(float *x, size_t n, float c) {
    for (size_t j = 0; j < n; j++) x[j] *= c;
}

/* Three passes over a row that stays in L1: max, exp with the sum, scale. */
ML_MULTIVERSION
void ml__softmax_forward(float *p, const float *s, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows; i++) {
        float *pi = p + i * cols;
        /* one pointer in the exp loop: with p == s a two-pointer loop fails the vectoriser's
         * overlap check and runs scalar */
        if (pi != s + i * cols) memcpy(pi, s + i * cols, cols * sizeof *pi);
        float mx = row_max(pi, cols);
        float inv = 1.0f / row_exp_sum(pi, cols, mx);
        row_scale(pi, cols, inv);
    }
}

ML_MULTIVERSION
float ml__softmax_exp_inplace(float *x, size_t n) {
    return row_exp_sum(x, n, row_max(x, n));
}

void ml__softmax_backward(float *ds, const float *dp, const float *p, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows; i++) {
        const float *dpi = dp + i * cols, *pi = p + i * cols;
        float *dsi = ds + i * cols;
        float dot = row_dot(dpi, pi, cols);
        if (dsi == dpi)
            for (size_t j = 0; j < cols; j++) dsi[j] = pi[j] * (dpi[j] - dot);
        else
            for (size_t j = 0; j < cols; j++) dsi[j] += pi[j] * (dpi[j] - dot);
    }
}

void ml__softmax_forward_ref(double *p, const double *s, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows; i++) {
        double mx = -INFINITY, sum = 0.0;
        for (size_t j = 0; j < cols; j++) mx = fmax(mx, s[i * cols + j]);
        for (size_t j = 0; j < cols; j++) sum += exp(s[i * cols + j] - mx);
        for (size_t j = 0; j < cols; j++) p[i * cols + j] = exp(s[i * cols + j] - mx) / sum;
    }
}

void ml__softmax_backward_ref(double *ds, const double *dp, const double *p, size_t rows,
                              size_t cols) {
    for (size_t i = 0; i < rows; i++) {
        double dot = 0.0;
        for (size_t j = 0; j < cols; j++) dot += dp[i * cols + j] * p[i * cols + j];
        for (size_t j = 0; j < cols; j++)
            ds[i * cols + j] += p[i * cols + j] * (dp[i * cols + j] - dot);
    }
}
