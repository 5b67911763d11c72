/* actstats.c - moments of kept activations for ml_*_act_stats: one read of each array, double
 * accumulators; it allocates nothing and never runs a forward pass. */
#include "nn/actstats.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/simd.h"

/* Independent accumulator chains: enough for the vectoriser to fill AVX-512 doubles twice. */
#define MOMENT_LANES 16
/* Values per lane between flushes of the 32-bit zero counters: far below 2^32. */
#define ZERO_BLOCK ((size_t)1 << 24)

/* |x| as bits: for non-negative floats the integer order is the float order, and NaNs sort
 * above infinity; integer max and compare vectorise where float selects do not (under
 * -ftrapping-math). */
ML_KERNEL_INLINE uint32_t abs_bits(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b & 0x7fffffffu;
}

ML_MULTIVERSION
void ml__moments_add(ml__moments *m, const float *x, size_t n) {
    double s[MOMENT_LANES] = {0}, q[MOMENT_LANES] = {0};
    uint32_t mx[MOMENT_LANES] = {0}, z[MOMENT_LANES] = {0};
    size_t i = 0, zeros = 0;
    /* blocks keep the 32-bit zero counters from overflowing */
    while (i + MOMENT_LANES <= n) {
        size_t end = n - i > ZERO_BLOCK ? i + ZERO_BLOCK : n;
        for (; i + MOMENT_LANES <= end; i += MOMENT_LANES)
            ML_UNROLL(16)
            for (size_t j = 0; j < MOMENT_LANES; j++) {
                double d = (double)x[i + j];
                uint32_t a = abs_bits(x[i + j]);
                s[j] += d;
                q[j] += d * d;
                mx[j] = a > mx[j] ? a : mx[j];
                z[j] += a == 0u;
            }
        for (size_t j = 0; j < MOMENT_LANES; j++) {
            zeros += z[j];
            z[j] = 0;
        }
    }
    double sum = 0.0, sum_sq = 0.0;
    uint32_t top = 0;
    for (; i < n; i++) {
        uint32_t a = abs_bits(x[i]);
        sum += (double)x[i];
        sum_sq += (double)x[i] * (double)x[i];
        top = a > top ? a : top;
        zeros += a == 0u;
    }
    for (size_t j = 0; j < MOMENT_LANES; j++) {
        sum += s[j];
        sum_sq += q[j];
        top = mx[j] > top ? mx[j] : top;
    }
    float top_f;
    memcpy(&top_f, &top, sizeof top_f);
    m->sum += sum;
    m->sum_sq += sum_sq;
    if (isnan(top_f) || isnan(m->max_abs)) m->max_abs = NAN;
    else if ((double)top_f > m->max_abs) m->max_abs = (double)top_f;
    m->n += n;
    m->n_zero += zeros;
}

void ml__moments_add_ref(ml__moments *m, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        m->sum += v;
        m->sum_sq += v * v;
        if (isnan(v) || isnan(m->max_abs)) m->max_abs = NAN;
        else if (fabs(v) > m->max_abs) m->max_abs = fabs(v);
        m->n_zero += x[i] == 0.0f;
    }
    m->n += n;
}

void ml__moments_finish(ml_nn_act_stats *st, const ml__moments *m, const ml__moments *z) {
    double n = m->n ? (double)m->n : 1.0;
    double mean = m->sum / n;
    /* E[x^2] - mean^2 in double: activations are O(1) with n far below 2^40, so the
     * cancellation costs no digit that a float tensor has */
    double var = m->sum_sq / n - mean * mean;
    st->n_values = m->n;
    st->mean = mean;
    st->std = sqrt(var > 0.0 ? var : 0.0);
    st->max_abs = m->max_abs;
    st->zero_fraction = z->n ? (double)z->n_zero / (double)z->n : 0.0;
}
