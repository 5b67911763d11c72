/* linear.h - the fully connected layer y = x W^T + b (PyTorch's nn.Linear layout) and its
 * backward; GEMMs go to OpenBLAS, the double-precision _ref loops are their oracle. */
#ifndef ML_NN_LINEAR_H
#define ML_NN_LINEAR_H

#include <stddef.h>

/* out: (n, d_out); inp: (n, d_in); w: (d_out, d_in) row-major as PyTorch stores it;
 * b: (d_out) or NULL. */
void ml__linear_forward(float *out, const float *inp, const float *w, const float *b, size_t n,
                        size_t d_in, size_t d_out);
/* Accumulates: dinp += dout W, dw += dout^T inp, db += column sums of dout. Any of dinp, dw,
 * db may be NULL to skip it (frozen weights, or an input that needs no gradient). */
void ml__linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, size_t n, size_t d_in, size_t d_out);
/* Overwrites: dinp = dout W, for a fresh buffer (no zeroing pass before it). */
void ml__linear_backward_input_set(float *dinp, const float *dout, const float *w, size_t n,
                                   size_t d_in, size_t d_out);

void ml__linear_forward_ref(double *out, const double *inp, const double *w, const double *b,
                            size_t n, size_t d_in, size_t d_out);
void ml__linear_backward_ref(double *dinp, double *dw, double *db, const double *dout,
                             const double *inp, const double *w, size_t n, size_t d_in,
                             size_t d_out);

#endif
