/* layernorm.h - LayerNorm over the last dimension (PyTorch's nn.LayerNorm, biased variance)
 * keeping mean and 1/std for backward. */
#ifndef ML_NN_LAYERNORM_H
#define ML_NN_LAYERNORM_H

#include <stddef.h>

/* PyTorch's default; upstream weights were trained with it. */
#define ML_LAYERNORM_EPS 1e-5

/* out, inp: (n, d); mean, rstd: (n), kept for backward; w, b: (d). out may alias inp. */
void ml__layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t n, size_t d);
/* Accumulates into dinp, dw, db; dw and db may be NULL (frozen). */
void ml__layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t n, size_t d);

void ml__layernorm_forward_ref(double *out, double *mean, double *rstd, const double *inp,
                               const double *w, const double *b, size_t n, size_t d);
void ml__layernorm_backward_ref(double *dinp, double *dw, double *db, const double *dout,
                                const double *inp, const double *w, const double *mean,
                                const double *rstd, size_t n, size_t d);

#endif
