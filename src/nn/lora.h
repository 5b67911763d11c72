/* lora.h - a low-rank adapter beside a frozen linear map (Hu et al. 2021, as PEFT does it):
 * y += scale * (dropout(x) A^T) B^T with scale = alpha / r; merge folds scale * B A into W.
 * Dropout is a mask the caller draws (ml__lora_dropout_mask) and passes in, so that forward
 * and backward use the same one; this file keeps no random state. */
#ifndef ML_NN_LORA_H
#define ML_NN_LORA_H

#include <stddef.h>

#include "util/rng.h"

/* x: (n, d_in); a: (r, d_in); b: (d_out, r); u: (n, r) = dropout(x) A^T, kept for backward.
 * y: n rows of d_out values with row stride ldy (>= d_out), so that a slice of a packed output
 * (q, k or v inside in_proj's (n, 3d)) can be the target. mask: NULL (no dropout) or (n, d_in)
 * values 0 or 1/(1-p) that multiply x; xd: (n, d_in) scratch, used only with a mask. */
void ml__lora_forward(float *y, size_t ldy, float *u, const float *x, const float *a,
                      const float *b, float scale, size_t n, size_t d_in, size_t d_out, size_t r,
                      const float *mask, float *xd);
/* Accumulates dx += ((scale dy B) A) * mask, da += scale (dy B)^T dropout(x),
 * db += scale dy^T u. du: (n, r) scratch. dx may be NULL. dy has row stride ldy. mask and xd
 * as for forward (the same mask). */
void ml__lora_backward(float *dx, float *da, float *db, float *du, const float *dy, size_t ldy,
                       const float *x, const float *u, const float *a, const float *b,
                       float scale, size_t n, size_t d_in, size_t d_out, size_t r,
                       const float *mask, float *xd);
/* w: (d_out, d_in) += scale * B A; a negative scale unmerges (up to float rounding). Dropout
 * plays no part (PEFT merges the same way: dropout is the identity at inference). */
void ml__lora_merge(float *w, const float *a, const float *b, float scale, size_t d_in,
                    size_t d_out, size_t r);

/* Inverted dropout mask: each of the n values is 0 with probability p and 1/(1-p) otherwise,
 * one 32-bit half of an rng output per value (keep iff it is >= p 2^32). 0 <= p < 1. */
void ml__lora_dropout_mask(float *mask, size_t n, float p, ml__rng *r);

/* mask: NULL or as above, in double. */
void ml__lora_forward_ref(double *y, size_t ldy, double *u, const double *x, const double *a,
                          const double *b, double scale, size_t n, size_t d_in, size_t d_out,
                          size_t r, const double *mask);
void ml__lora_backward_ref(double *dx, double *da, double *db, const double *dy, size_t ldy,
                           const double *x, const double *a, const double *b, double scale,
                           size_t n, size_t d_in, size_t d_out, size_t r, const double *mask);

#endif
