/* attention.c - per-set multi-head attention: for inference a fused kernel (scores, softmax
 * and the product with V per block of query rows, so P is never stored); for training, which
 * keeps P, strided GEMMs forward and backward (fused versions, tried, were slower than
 * OpenBLAS here); plain double-loop references. It does not project (in_proj/out_proj are
 * linear layers) and does no dropout. */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/simd.h"
#include "nn/softmax.h"

/* The fused kernel's register block: ROWS query rows against KEYS keys (two AVX-512 vectors
 * each: twelve independent accumulators, more than the FMA latency on two ports needs). */
#define ROWS 6
#define KEYS (2 * ML_LANES)
/* Value columns per block of the product with V: ROWS x COLS accumulators. */
#define COLS 4

size_t ml__attention_probs_size(const size_t *offsets, size_t n_sets, size_t n_heads) {
    size_t total = 0;
    for (size_t s = 0; s < n_sets; s++) {
        size_t n = offsets[s + 1] - offsets[s];
        total += n_heads * n * n;
    }
    return total;
}

static size_t padded_keys(size_t n) { return (n + KEYS - 1) / KEYS * KEYS; }

size_t ml__attention_scratch_size(size_t max_set_tokens, size_t d, size_t n_heads) {
    size_t hd = d / n_heads;
    return (2 * hd + ROWS) * padded_keys(max_set_tokens) + ROWS * hd;
}

/* s[r][j] = q_r . k_j (qb[c][r] = q_r[c]) over a block of ROWS query rows and every (padded)
 * key, KEYS keys at a time: ROWS x KEYS accumulators stay in registers while the head
 * dimension streams. */
ML_KERNEL_INLINE void block_scores(float *s, const float *qb, const float *kt, size_t n_pad,
                                   size_t hd) {
    for (size_t j = 0; j < n_pad; j += KEYS) {
        /* the first product starts the sums: no zeroed array for the compiler to keep in
         * memory (fmaf(a, b, 0) would round a b alike) */
        float acc[ROWS][KEYS];
        ML_UNROLL(ROWS)
        for (size_t r = 0; r < ROWS; r++)
            for (size_t k = 0; k < KEYS; k++) acc[r][k] = qb[r] * kt[j + k];
        for (size_t c = 1; c < hd; c++) {
            const float *kc = kt + c * n_pad + j;
            ML_UNROLL(ROWS)
            for (size_t r = 0; r < ROWS; r++) {
                float qv = qb[c * ROWS + r];
                for (size_t k = 0; k < KEYS; k++) acc[r][k] = fmaf(qv, kc[k], acc[r][k]);
            }
        }
        ML_UNROLL(ROWS)
        for (size_t r = 0; r < ROWS; r++)
            for (size_t k = 0; k < KEYS; k++) s[r * n_pad + j + k] = acc[r][k];
    }
}

ML_KERNEL_INLINE float lane_sum(float *acc) {
    ML_UNROLL(4)
    for (size_t w = ML_LANES / 2; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0];
}

/* o[r][c] = sum_j e[r][j] vt[c][j] * inv[r] for COLS value columns from c0 (columns past cw
 * repeat the last one and are not stored) and the first `rows` rows. */
ML_KERNEL_INLINE void block_values(float *o, size_t ldo, size_t rows, const float *e,
                                   const float *vt, size_t n_pad, size_t c0, size_t cw,
                                   const float *inv) {
    float acc[ROWS][COLS][ML_LANES];
    const float *vc[COLS];
    for (size_t q = 0; q < COLS; q++) vc[q] = vt + (c0 + q < cw ? c0 + q : cw - 1) * n_pad;
    for (size_t r = 0; r < ROWS; r++)
        for (size_t q = 0; q < COLS; q++)
            for (size_t k = 0; k < ML_LANES; k++) acc[r][q][k] = 0.0f;
    for (size_t j = 0; j < n_pad; j += ML_LANES) {
        /* unrolled, so that the accumulators are registers rather than a stack array */
        ML_UNROLL(ROWS)
        for (size_t r = 0; r < ROWS; r++) {
            const float *er = e + r * n_pad + j;
            ML_UNROLL(COLS)
            for (size_t q = 0; q < COLS; q++)
                for (size_t k = 0; k < ML_LANES; k++)
                    acc[r][q][k] = fmaf(er[k], vc[q][j + k], acc[r][q][k]);
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t q = 0; q < COLS && c0 + q < cw; q++)
            o[r * ldo + c0 + q] = lane_sum(acc[r][q]) * inv[r];
}

/* One head of one set, P never stored. Every query row goes through the same operations in
 * the same order whatever its block and its batch mates (a tail block repeats the last row and
 * drops the copies), so a row's output depends only on its set. fmaf: the v3/v4 clones turn
 * it into vfmadd, and as it rounds once by definition the baseline clone (a libm call) gives
 * the same bits. */
ML_MULTIVERSION
static void head_forward(float *out, size_t ldo, const float *q, const float *k,
                         const float *v, size_t ld, size_t n, size_t hd, float scale,
                         float *scratch) {
    size_t n_pad = padded_keys(n);
    float *kt = scratch, *vt = kt + hd * n_pad, *e = vt + hd * n_pad, *qb = e + ROWS * n_pad;
    for (size_t c = 0; c < hd; c++) {
        for (size_t j = 0; j < n; j++) {
            kt[c * n_pad + j] = k[j * ld + c];
            vt[c * n_pad + j] = v[j * ld + c];
        }
        for (size_t j = n; j < n_pad; j++) kt[c * n_pad + j] = vt[c * n_pad + j] = 0.0f;
    }
    for (size_t i = 0; i < n; i += ROWS) {
        float inv[ROWS];
        for (size_t r = 0; r < ROWS; r++) {
            size_t row = i + r < n ? i + r : n - 1;
            for (size_t c = 0; c < hd; c++) qb[c * ROWS + r] = q[row * ld + c] * scale;
        }
        block_scores(e, qb, kt, n_pad, hd);
        /* padded keys score -inf, so exp makes them exactly 0 and the rows need no tail */
        for (size_t r = 0; r < ROWS; r++) {
            float *er = e + r * n_pad;
            for (size_t j = n; j < n_pad; j++) er[j] = -INFINITY;
            inv[r] = 1.0f / ml__softmax_exp_inplace(er, n_pad);
        }
        size_t rows = n - i < ROWS ? n - i : ROWS;
        for (size_t c = 0; c < hd; c += COLS)
            block_values(out + i * ldo, ldo, rows, e, vt, n_pad, c, hd, inv);
    }
}

/* Training keeps P for backward: S = c Q K^T by GEMM, softmax in place, then P V. (The fused
 * kernel writing P was measured slower here: P's store dominates, and OpenBLAS does the rest
 * well at these sizes.) */
static void head_forward_keep(float *out, size_t ldo, float *p, const float *q, const float *k,
                              const float *v, size_t ld, size_t n, size_t hd, float scale) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)n, (blasint)hd,
                scale, q, (blasint)ld, k, (blasint)ld, 0.0f, p, (blasint)n);
    ml__softmax_forward(p, p, n, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)hd, (blasint)n,
                1.0f, p, (blasint)n, v, (blasint)ld, 0.0f, out, (blasint)ldo);
}

void ml__attention_forward(float *out, float *probs, float *scratch, const float *qkv,
                           const size_t *offsets, size_t n_sets, size_t d, size_t n_heads) {
    size_t hd = d / n_heads, ld = 3 * d;
    float scale = 1.0f / sqrtf((float)hd);
    float *p = probs;
    for (size_t s = 0; s < n_sets; s++) {
        size_t r0 = offsets[s], n = offsets[s + 1] - r0;
        for (size_t h = 0; h < n_heads; h++) {
            const float *q = qkv + r0 * ld + h * hd;
            float *o = out + r0 * d + h * hd;
            if (p) {
                head_forward_keep(o, d, p, q, q + d, q + 2 * d, ld, n, hd, scale);
                p += n * n;
            } else {
                head_forward(o, d, q, q + d, q + 2 * d, ld, n, hd, scale, scratch);
            }
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
