/* tensorstats.c - min, max, mean and L2 norm of a floating tensor in double, with NaN and
 * infinities counted apart; it reads bytes one by one (any alignment) and never allocates. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "microlens/tensorstats.h"
#include "util/error.h"

int ml_dtype_is_float(ml_dtype d) {
    return d == ML_DTYPE_F64 || d == ML_DTYPE_F32 || d == ML_DTYPE_F16 || d == ML_DTYPE_BF16;
}

static uint64_t load_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static double f32_bits_to_double(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return (double)f;
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; every value is exact
 * in double. */
static double f16_bits_to_double(uint32_t h) {
    uint32_t sign = h & 0x8000u, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    double v;
    if (exp == 0) v = ldexp((double)mant, -24); /* zero or subnormal */
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexp((double)(mant | 0x400u), (int)exp - 25);
    return sign ? -v : v;
}

static double element(const unsigned char *p, ml_dtype d) {
    uint64_t bits = load_le(p, ml_dtype_size(d));
    switch (d) {
    case ML_DTYPE_F32: return f32_bits_to_double((uint32_t)bits);
    case ML_DTYPE_F16: return f16_bits_to_double((uint32_t)bits);
    case ML_DTYPE_BF16: return f32_bits_to_double((uint32_t)bits << 16);
    default: {
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    }
}

/* Neumaier's compensated sum: the error stays O(eps) whatever the element count. */
typedef struct ksum {
    double sum, comp;
} ksum;

static void ksum_add(ksum *k, double x) {
    double t = k->sum + x;
    if (fabs(k->sum) >= fabs(x)) k->comp += (k->sum - t) + x;
    else k->comp += (x - t) + k->sum;
    k->sum = t;
}

/* LAPACK dnrm2's scaled sum of squares: no overflow for any finite input. */
typedef struct nrm2 {
    double scale, ssq;
} nrm2;

static void nrm2_add(nrm2 *n, double x) {
    double a = fabs(x);
    if (a == 0.0) return;
    if (n->scale < a) {
        double r = n->scale / a;
        n->ssq = 1.0 + n->ssq * r * r;
        n->scale = a;
    } else {
        double r = a / n->scale;
        n->ssq += r * r;
    }
}

/* The mean divides the sum; if the sum of finite doubles overflows (F64 near DBL_MAX), the
 * elements are divided first instead, which cannot overflow. */
static double finite_mean(const unsigned char *p, size_t size, size_t n, ml_dtype d,
                          double sum, size_t n_finite) {
    if (isfinite(sum)) return sum / (double)n_finite;
    ksum k = {0.0, 0.0};
    for (size_t i = 0; i < n; i++, p += size) {
        double x = element(p, d);
        if (isfinite(x)) ksum_add(&k, x / (double)n_finite);
    }
    return k.sum + k.comp;
}

ml_status ml_tensor_stats_compute(ml_tensor_stats *out, const ml_tensor_view *t) {
    if (!ml_dtype_is_float(t->dtype))
        return ML_FAIL(ML_EINVAL, "tensor \"%s\" has dtype %s (expected F64, F32, F16 or BF16)",
                       t->name ? t->name : "", ml_dtype_name(t->dtype));
    size_t n = ml_tensor_view_n_elements(t), size = ml_dtype_size(t->dtype);
    if (n == SIZE_MAX) return ML_FAIL(ML_EINVAL, "tensor element count overflows");
    if (n > 0 && !t->data) return ML_FAIL(ML_EINVAL, "tensor data is NULL");
    ml_tensor_stats s = {0};
    s.n_elements = n;
    s.min = INFINITY;
    s.max = -INFINITY;
    ksum sum = {0.0, 0.0};
    nrm2 norm = {0.0, 1.0};
    const unsigned char *p = t->data;
    for (size_t i = 0; i < n; i++, p += size) {
        double x = element(p, t->dtype);
        if (isnan(x)) { s.n_nan++; continue; }
        if (isinf(x)) { x > 0 ? s.n_posinf++ : s.n_neginf++; continue; }
        s.n_finite++;
        if (x < s.min) s.min = x;
        if (x > s.max) s.max = x;
        ksum_add(&sum, x);
        nrm2_add(&norm, x);
    }
    if (s.n_finite == 0) {
        s.min = s.max = s.mean = NAN;
    } else {
        s.mean = finite_mean(t->data, size, n, t->dtype, sum.sum + sum.comp, s.n_finite);
    }
    s.l2_norm = norm.scale * sqrt(norm.ssq);
    *out = s;
    return ML_OK;
}
