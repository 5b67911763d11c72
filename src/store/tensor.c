/* tensor.c - sizes, alignment and float32 conversion of tensor views; it reads element bytes
 * one at a time, so views may be unaligned, and it never allocates. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "util/error.h"

/* Doubles at or above this magnitude round to infinity as floats (FLT_MAX plus half an ulp,
 * a tie that rounds to even, i.e. up); below it they round to a finite float. */
#define F32_OVERFLOW_AT 0x1.ffffffp127

size_t ml_tensor_view_n_elements(const ml_tensor_view *t) {
    size_t n = 1;
    if (t->n_dims > ML_TENSOR_MAX_DIMS) return SIZE_MAX;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->shape[d] == 0) return 0;
        if (n > SIZE_MAX / t->shape[d]) return SIZE_MAX;
        n *= t->shape[d];
    }
    return n;
}

size_t ml_tensor_view_n_bytes(const ml_tensor_view *t) {
    size_t n = ml_tensor_view_n_elements(t), size = ml_dtype_size(t->dtype);
    if (n == SIZE_MAX || (size && n > SIZE_MAX / size)) return SIZE_MAX;
    return n * size;
}

int ml_tensor_view_is_aligned(const ml_tensor_view *t) {
    size_t size = ml_dtype_size(t->dtype);
    return !t->data || size == 0 || (uintptr_t)t->data % size == 0;
}

static uint64_t load_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static float f32_from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
static float f16_to_f32(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13)); /* inf, NaN */
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13)); /* rebias 15 -> 127 */
}

/* C leaves double -> float undefined outside float's range, so overflow is spelled out. */
static float f64_to_f32(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    if (isnan(d) || fabs(d) <= FLT_MAX) return (float)d;
    if (fabs(d) >= F32_OVERFLOW_AT) return d > 0 ? INFINITY : -INFINITY;
    return d > 0 ? FLT_MAX : -FLT_MAX;
}

ml_status ml_safetensors_read_f32(const ml_tensor_view *t, float *dst) {
    size_t size = ml_dtype_size(t->dtype);
    if (t->dtype != ML_DTYPE_F32 && t->dtype != ML_DTYPE_F16 && t->dtype != ML_DTYPE_BF16 &&
        t->dtype != ML_DTYPE_F64)
        return ML_FAIL(ML_EINVAL, "tensor of dtype %s is not floating point (expected F32, F16, "
                       "BF16 or F64)", ml_dtype_name(t->dtype));
    size_t n = ml_tensor_view_n_elements(t);
    if (n == SIZE_MAX) return ML_FAIL(ML_EINVAL, "tensor element count overflows");
    if (n > 0 && (!t->data || !dst)) return ML_FAIL(ML_EINVAL, "data or dst is NULL");
    const unsigned char *p = t->data;
    for (size_t i = 0; i < n; i++, p += size) {
        uint64_t bits = load_le(p, size);
        switch (t->dtype) {
        case ML_DTYPE_F32: dst[i] = f32_from_bits((uint32_t)bits); break;
        case ML_DTYPE_F16: dst[i] = f16_to_f32((uint32_t)bits); break;
        case ML_DTYPE_BF16: dst[i] = f32_from_bits((uint32_t)bits << 16); break;
        default: dst[i] = f64_to_f32(bits); break;
        }
    }
    return ML_OK;
}
