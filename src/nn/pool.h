/* pool.h - mean over each set's token rows of a ragged batch (the sample embedding). */
#ifndef ML_NN_POOL_H
#define ML_NN_POOL_H

#include <stddef.h>

/* out: (n_sets, d); inp: (T, d) with set s owning rows [offsets[s], offsets[s+1]), every set
 * non-empty (the caller checks). */
void ml__meanpool_forward(float *out, const float *inp, const size_t *offsets, size_t n_sets,
                          size_t d);
/* dinp[t] += dout[s] / n_s for each token t of set s. */
void ml__meanpool_backward(float *dinp, const float *dout, const size_t *offsets, size_t n_sets,
                           size_t d);

void ml__meanpool_forward_ref(double *out, const double *inp, const size_t *offsets,
                              size_t n_sets, size_t d);
void ml__meanpool_backward_ref(double *dinp, const double *dout, const size_t *offsets,
                               size_t n_sets, size_t d);

#endif
