/* lora.c - LoRA adapter forward/backward/merge as thin GEMMs through OpenBLAS, the dropout
 * mask on the adapter input, and double references; it never touches the frozen W except in
 * merge. */
#include "nn/lora.h"

#include <cblas.h>
#include <stdint.h>

#include "nn/simd.h"

ML_MULTIVERSION
static void mul_into(float *out, const float *x, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = x[i] * mask[i];
}

ML_MULTIVERSION
static void mul_add(float *acc, const float *x, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) acc[i] += x[i] * mask[i];
}

void ml__lora_forward(float *y, size_t ldy, float *u, const float *x, const float *a,
                      const float *b, float scale, size_t n, size_t d_in, size_t d_out, size_t r,
                      const float *mask, float *xd) {
    if (n == 0) return;
    if (mask) {
        mul_into(xd, x, mask, n * d_in);
        x = xd;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)r, (blasint)d_in,
                1.0f, x, (blasint)d_in, a, (blasint)d_in, 0.0f, u, (blasint)r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)d_out, (blasint)r,
                scale, u, (blasint)r, b, (blasint)r, 1.0f, y, (blasint)ldy);
}

void ml__lora_backward(float *dx, float *da, float *db, float *du, const float *dy, size_t ldy,
                       const float *x, const float *u, const float *a, const float *b,
                       float scale, size_t n, size_t d_in, size_t d_out, size_t r,
                       const float *mask, float *xd) {
    if (n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)d_out, (blasint)r, (blasint)n,
                scale, dy, (blasint)ldy, u, (blasint)r, 1.0f, db, (blasint)r);
    /* du = scale dy B, (n, r) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)r,
                (blasint)d_out, scale, dy, (blasint)ldy, b, (blasint)r, 0.0f, du, (blasint)r);
    if (mask) {
        mul_into(xd, x, mask, n * d_in);
        x = xd;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)r, (blasint)d_in, (blasint)n,
                1.0f, du, (blasint)r, x, (blasint)d_in, 1.0f, da, (blasint)d_in);
    if (!dx) return;
    if (!mask) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)d_in,
                    (blasint)r, 1.0f, du, (blasint)r, a, (blasint)d_in, 1.0f, dx,
                    (blasint)d_in);
        return;
    }
    /* the dropped-out input is no longer needed: xd takes du A before the mask gates it */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)d_in,
                (blasint)r, 1.0f, du, (blasint)r, a, (blasint)d_in, 0.0f, xd, (blasint)d_in);
    mul_add(dx, xd, mask, n * d_in);
}

void ml__lora_merge(float *w, const float *a, const float *b, float scale, size_t d_in,
                    size_t d_out, size_t r) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)d_out, (blasint)d_in,
                (blasint)r, scale, b, (blasint)r, a, (blasint)d_in, 1.0f, w, (blasint)d_in);
}

void ml__lora_dropout_mask(float *mask, size_t n, float p, ml__rng *r) {
    /* p < 1, so the threshold fits: 2^32 p rounded up keeps P(keep) = 1 - p to within 2^-32 */
    uint64_t threshold = (uint64_t)((double)p * 4294967296.0);
    if ((double)threshold < (double)p * 4294967296.0) threshold++;
    float keep = 1.0f / (1.0f - p);
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint64_t v = ml__rng_next(r);
        mask[i] = (v >> 32) >= threshold ? keep : 0.0f;
        mask[i + 1] = (v & 0xffffffffu) >= threshold ? keep : 0.0f;
    }
    if (i < n) mask[i] = (ml__rng_next(r) >> 32) >= threshold ? keep : 0.0f;
}

static double masked(const double *x, const double *mask, size_t i) {
    return mask ? x[i] * mask[i] : x[i];
}

void ml__lora_forward_ref(double *y, size_t ldy, double *u, const double *x, const double *a,
                          const double *b, double scale, size_t n, size_t d_in, size_t d_out,
                          size_t r, const double *mask) {
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < r; k++) {
            double s = 0.0;
            for (size_t j = 0; j < d_in; j++) s += masked(x, mask, i * d_in + j) * a[k * d_in + j];
            u[i * r + k] = s;
        }
        for (size_t o = 0; o < d_out; o++) {
            double s = 0.0;
            for (size_t k = 0; k < r; k++) s += u[i * r + k] * b[o * r + k];
            y[i * ldy + o] += scale * s;
        }
    }
}

/* Written against the merged form W' = W + scale B A applied to the dropped-out input xd:
 * dW' = dy^T xd, so dB = scale dW' A^T and dA = scale B^T dW', and dx = mask (dy W'-part),
 * an independent route to the same numbers. */
void ml__lora_backward_ref(double *dx, double *da, double *db, const double *dy, size_t ldy,
                           const double *x, const double *a, const double *b, double scale,
                           size_t n, size_t d_in, size_t d_out, size_t r, const double *mask) {
    for (size_t o = 0; o < d_out; o++)
        for (size_t j = 0; j < d_in; j++) {
            double dw = 0.0, ba = 0.0;
            for (size_t i = 0; i < n; i++) dw += dy[i * ldy + o] * masked(x, mask, i * d_in + j);
            for (size_t k = 0; k < r; k++) {
                db[o * r + k] += scale * dw * a[k * d_in + j];
                da[k * d_in + j] += scale * b[o * r + k] * dw;
                ba += b[o * r + k] * a[k * d_in + j];
            }
            if (dx)
                for (size_t i = 0; i < n; i++)
                    dx[i * d_in + j] += scale * dy[i * ldy + o] * ba * (mask ? mask[i * d_in + j] : 1.0);
        }
}
