/* pool.c - masked mean-pool as a ragged mean: padding never exists, so nothing is masked. */
#include "nn/pool.h"

void ml__meanpool_forward(float *out, const float *inp, const size_t *offsets, size_t n_sets,
                          size_t d) {
    for (size_t s = 0; s < n_sets; s++) {
        float *o = out + s * d;
        for (size_t j = 0; j < d; j++) o[j] = 0.0f;
        for (size_t t = offsets[s]; t < offsets[s + 1]; t++)
            for (size_t j = 0; j < d; j++) o[j] += inp[t * d + j];
        float inv = 1.0f / (float)(offsets[s + 1] - offsets[s]);
        for (size_t j = 0; j < d; j++) o[j] *= inv;
    }
}

void ml__meanpool_backward(float *dinp, const float *dout, const size_t *offsets, size_t n_sets,
                           size_t d) {
    for (size_t s = 0; s < n_sets; s++) {
        float inv = 1.0f / (float)(offsets[s + 1] - offsets[s]);
        for (size_t t = offsets[s]; t < offsets[s + 1]; t++)
            for (size_t j = 0; j < d; j++) dinp[t * d + j] += dout[s * d + j] * inv;
    }
}

void ml__meanpool_forward_ref(double *out, const double *inp, const size_t *offsets,
                              size_t n_sets, size_t d) {
    for (size_t s = 0; s < n_sets; s++)
        for (size_t j = 0; j < d; j++) {
            double sum = 0.0;
            for (size_t t = offsets[s]; t < offsets[s + 1]; t++) sum += inp[t * d + j];
            out[s * d + j] = sum / (double)(offsets[s + 1] - offsets[s]);
        }
}

void ml__meanpool_backward_ref(double *dinp, const double *dout, const size_t *offsets,
                               size_t n_sets, size_t d) {
    for (size_t s = 0; s < n_sets; s++)
        for (size_t t = offsets[s]; t < offsets[s + 1]; t++)
            for (size_t j = 0; j < d; j++)
                dinp[t * d + j] += dout[s * d + j] / (double)(offsets[s + 1] - offsets[s]);
}
