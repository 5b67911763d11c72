/* pointwise.c - ReLU and residual add, forward and backward; loops simple enough that the
 * compiler vectorises them, so the fast versions are the references' float twins. */
#include "nn/pointwise.h"

#include <stdint.h>
#include <string.h>

#include "nn/simd.h"

void ml__relu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void ml__relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

/* On the bits: a float compare-and-select does not vectorise under -ftrapping-math, and a
 * ReLU output is > 0 exactly when its bits, read as a signed integer, are. */
ML_MULTIVERSION
void ml__relu_backward_inplace(float *d, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t o, g;
        memcpy(&o, &out[i], sizeof o);
        memcpy(&g, &d[i], sizeof g);
        g &= -(int32_t)(o > 0);
        memcpy(&d[i], &g, sizeof g);
    }
}

void ml__residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ml__residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

void ml__relu_forward_ref(double *out, const double *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0 ? inp[i] : 0.0;
}

void ml__relu_backward_ref(double *dinp, const double *dout, const double *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (inp[i] > 0.0) dinp[i] += dout[i];
}

void ml__residual_forward_ref(double *out, const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ml__residual_backward_ref(double *da, double *db, const double *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}
