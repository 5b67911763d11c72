/* pointwise.h - element-by-element ops of the encoder layer: ReLU and the residual add. */
#ifndef ML_NN_POINTWISE_H
#define ML_NN_POINTWISE_H

#include <stddef.h>

/* out, inp: (n); out may alias inp. */
void ml__relu_forward(float *out, const float *inp, size_t n);
/* dinp += dout where inp > 0 (PyTorch's convention: gradient 0 at 0). */
void ml__relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* d = d where out > 0, else 0, in place: out is the ReLU's output (>= 0, never NaN), which is
 * > 0 exactly where its input was. Same values as relu_backward into a zeroed buffer. */
void ml__relu_backward_inplace(float *d, const float *out, size_t n);
/* out = a + b, (n); out may alias a or b. */
void ml__residual_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout. */
void ml__residual_backward(float *da, float *db, const float *dout, size_t n);

void ml__relu_forward_ref(double *out, const double *inp, size_t n);
void ml__relu_backward_ref(double *dinp, const double *dout, const double *inp, size_t n);
void ml__residual_forward_ref(double *out, const double *a, const double *b, size_t n);
void ml__residual_backward_ref(double *da, double *db, const double *dout, size_t n);

#endif
