/* attention.c - per-set multi-head attention forward/backward: two strided GEMMs per head
 * read q, k, v in place from the packed (T, 3d) rows; references are plain double loops.
 * It does not project (in_proj/out_proj are linear layers) and does no dropout. */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>

#include "nn/softmax.h"

size_t ml__attention_probs_size(const size_t *offsets, size_t n_sets, size_t n_heads,
                                int keep_probs) {
    size_t total = 0;
    for (size_t s = 0; s < n_sets; s++) {
        size_t n = offsets[s + 1] - offsets[s], block = n_heads * n * n;
        if (keep_probs)
            total += block;
        else if (block > total)
            total = block;
    }
    return total;
}

void ml__attention_forward(float *out, float *probs, const float *qkv, const size_t *offsets,
                           size_t n_sets, size_t d, size_t n_heads, int keep_probs) {
    size_t hd = d / n_heads, ld = 3 * d;
    float scale = 1.0f / sqrtf((float)hd);
    float *p = probs;
    for (size_t s = 0; s < n_sets; s++) {
        size_t r0 = offsets[s], n = offsets[s + 1] - r0;
        if (!keep_probs) p = probs;
        for (size_t h = 0; h < n_heads; h++, p += n * n) {
            const float *q = qkv + r0 * ld + h * hd, *k = q + d, *v = q + 2 * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)n,
                        (blasint)hd, scale, q, (blasint)ld, k, (blasint)ld, 0.0f, p, (blasint)n);
            ml__softmax_forward(p, p, n, n);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)hd,
                        (blasint)n, 1.0f, p, (blasint)n, v, (blasint)ld, 0.0f,
                        out + r0 * d + h * hd, (blasint)d);
        }
    }
}

void ml__attention_backward(float *dqkv, float *dp_scratch, const float *dout, const float *qkv,
                            const float *probs, const size_t *offsets, size_t n_sets, size_t d,
                            size_t n_heads) {
    size_t hd = d / n_heads, ld = 3 * d;
    float scale = 1.0f / sqrtf((float)hd);
    const float *p = probs;
    float *dp = dp_scratch;
    for (size_t s = 0; s < n_sets; s++) {
        size_t r0 = offsets[s], n = offsets[s + 1] - r0;
        for (size_t h = 0; h < n_heads; h++, p += n * n) {
            const float *q = qkv + r0 * ld + h * hd, *k = q + d, *v = q + 2 * d;
            const float *dout_h = dout + r0 * d + h * hd;
            float *dq = dqkv + r0 * ld + h * hd, *dk = dq + d, *dv = dq + 2 * d;
            /* dP = dO V^T; dV += P^T dO; dS = softmax'(dP); dQ += c dS K; dK += c dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)n,
                        (blasint)hd, 1.0f, dout_h, (blasint)d, v, (blasint)ld, 0.0f, dp,
                        (blasint)n);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)n, (blasint)hd,
                        (blasint)n, 1.0f, p, (blasint)n, dout_h, (blasint)d, 1.0f, dv,
                        (blasint)ld);
            ml__softmax_backward(dp, dp, p, n, n);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)hd,
                        (blasint)n, scale, dp, (blasint)n, k, (blasint)ld, 1.0f, dq,
                        (blasint)ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)n, (blasint)hd,
                        (blasint)n, scale, dp, (blasint)n, q, (blasint)ld, 1.0f, dk,
                        (blasint)ld);
        }
    }
}

static double dot_ref(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void ml__attention_forward_ref(double *out, double *probs, const double *qkv,
                               const size_t *offsets, size_t n_sets, size_t d, size_t n_heads) {
    size_t hd = d / n_heads, ld = 3 * d;
    double scale = 1.0 / sqrt((double)hd);
    double *p = probs;
    for (size_t s = 0; s < n_sets; s++) {
        size_t r0 = offsets[s], n = offsets[s + 1] - r0;
        for (size_t h = 0; h < n_heads; h++, p += n * n) {
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++)
                    p[i * n + j] = scale * dot_ref(qkv + (r0 + i) * ld + h * hd,
                                                   qkv + (r0 + j) * ld + d + h * hd, hd);
            ml__softmax_forward_ref(p, p, n, n);
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < hd; c++) {
                    double acc = 0.0;
                    for (size_t j = 0; j < n; j++)
                        acc += p[i * n + j] * qkv[(r0 + j) * ld + 2 * d + h * hd + c];
                    out[(r0 + i) * d + h * hd + c] = acc;
                }
        }
    }
}

void ml__attention_backward_ref(double *dqkv, const double *dout, const double *qkv,
                                const double *probs, const size_t *offsets, size_t n_sets,
                                size_t d, size_t n_heads) {
    size_t hd = d / n_heads, ld = 3 * d;
    double scale = 1.0 / sqrt((double)hd);
    const double *p = probs;
    for (size_t s = 0; s < n_sets; s++) {
        size_t r0 = offsets[s], n = offsets[s + 1] - r0;
        for (size_t h = 0; h < n_heads; h++, p += n * n)
            for (size_t i = 0; i < n; i++) {
                const double *dout_i = dout + (r0 + i) * d + h * hd;
                double row_dot = 0.0; /* sum_j dP_ij P_ij, softmax's backward needs it first */
                for (size_t j = 0; j < n; j++) {
                    const double *vj = qkv + (r0 + j) * ld + 2 * d + h * hd;
                    row_dot += p[i * n + j] * dot_ref(dout_i, vj, hd);
                }
                for (size_t j = 0; j < n; j++) {
                    double pij = p[i * n + j];
                    const double *vj = qkv + (r0 + j) * ld + 2 * d + h * hd;
                    double ds = pij * (dot_ref(dout_i, vj, hd) - row_dot) * scale;
                    for (size_t c = 0; c < hd; c++) {
                        dqkv[(r0 + j) * ld + 2 * d + h * hd + c] += pij * dout_i[c];
                        dqkv[(r0 + i) * ld + h * hd + c] +=
                            ds * qkv[(r0 + j) * ld + d + h * hd + c];
                        dqkv[(r0 + j) * ld + d + h * hd + c] +=
                            ds * qkv[(r0 + i) * ld + h * hd + c];
                    }
                }
            }
    }
}
