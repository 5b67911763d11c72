/* softmax.h - row-wise softmax and its backward (used by attention); no masking: callers
 * hand over exactly the entries that take part. */
#ifndef ML_NN_SOFTMAX_H
#define ML_NN_SOFTMAX_H

#include <stddef.h>

/* p, s: (rows, cols); p may alias s. Max-subtracted, so large logits do not overflow. */
void ml__softmax_forward(float *p, const float *s, size_t rows, size_t cols);
/* x[j] = exp(x[j] - max x) in place; returns the sum (the unnormalised softmax of one row). */
float ml__softmax_exp_inplace(float *x, size_t n);
/* Accumulates ds += p * (dp - sum_j dp_j p_j) row by row; ds may alias dp (then it is
 * overwritten with the gradient instead of accumulated into). */
void ml__softmax_backward(float *ds, const float *dp, const float *p, size_t rows, size_t cols);

void ml__softmax_forward_ref(double *p, const double *s, size_t rows, size_t cols);
void ml__softmax_backward_ref(double *ds, const double *dp, const double *p, size_t rows,
                              size_t cols);

#endif
