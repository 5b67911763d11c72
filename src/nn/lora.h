/* lora.h - a low-rank adapter beside a frozen linear map (Hu et al. 2021, as PEFT does it):
 * y += scale * (x A^T) B^T with scale = alpha / r; merge folds scale * B A into W. No
 * dropout on the adapter input (PEFT's lora_dropout = 0). */
#ifndef ML_NN_LORA_H
#define ML_NN_LORA_H

#include <stddef.h>

/* x: (n, d_in); a: (r, d_in); b: (d_out, r); u: (n, r) = x A^T, kept for backward. y: n rows
 * of d_out values with row stride ldy (>= d_out), so that a slice of a packed output (q, k
 * or v inside in_proj's (n, 3d)) can be the target. */
void ml__lora_forward(float *y, size_t ldy, float *u, const float *x, const float *a,
                      const float *b, float scale, size_t n, size_t d_in, size_t d_out, size_t r);
/* Accumulates dx += scale (dy B) A, da += scale (dy B)^T x, db += scale dy^T u. du: (n, r)
 * scratch. dx may be NULL. dy has row stride ldy. */
void ml__lora_backward(float *dx, float *da, float *db, float *du, const float *dy, size_t ldy,
                       const float *x, const float *u, const float *a, const float *b,
                       float scale, size_t n, size_t d_in, size_t d_out, size_t r);
/* w: (d_out, d_in) += scale * B A; a negative scale unmerges (up to float rounding). */
void ml__lora_merge(float *w, const float *a, const float *b, float scale, size_t d_in,
                    size_t d_out, size_t r);

void ml__lora_forward_ref(double *y, size_t ldy, double *u, const double *x, const double *a,
                          const double *b, double scale, size_t n, size_t d_in, size_t d_out,
                          size_t r);
void ml__lora_backward_ref(double *dx, double *da, double *db, const double *dy, size_t ldy,
                           const double *x, const double *a, const double *b, double scale,
                           size_t n, size_t d_in, size_t d_out, size_t r);

#endif
