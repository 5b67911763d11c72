/* linear.c - y = x W^T + b forward and backward through cblas_sgemm, with plain-loop
 * references; no activation, no weight layout other than PyTorch's (d_out, d_in). */
#include "nn/linear.h"

#include <cblas.h>
#include <string.h>

void ml__linear_forward(float *out, const float *inp, const float *w, const float *b, size_t n,
                        size_t d_in, size_t d_out) {
    if (n == 0) return;
    /* a row copy per row, not a per-element test of b: this fill was 7% of inference */
    for (size_t i = 0; i < n; i++) {
        if (b)
            memcpy(out + i * d_out, b, d_out * sizeof *out);
        else
            memset(out + i * d_out, 0, d_out * sizeof *out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)d_out,
                (blasint)d_in, 1.0f, inp, (blasint)d_in, w, (blasint)d_in, 1.0f, out,
                (blasint)d_out);
}

void ml__linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, size_t n, size_t d_in, size_t d_out) {
    if (n == 0) return;
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)d_in,
                    (blasint)d_out, 1.0f, dout, (blasint)d_out, w, (blasint)d_in, 1.0f, dinp,
                    (blasint)d_in);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)d_out, (blasint)d_in,
                    (blasint)n, 1.0f, dout, (blasint)d_out, inp, (blasint)d_in, 1.0f, dw,
                    (blasint)d_in);
    if (db)
        for (size_t i = 0; i < n; i++)
            for (size_t o = 0; o < d_out; o++) db[o] += dout[i * d_out + o];
}

void ml__linear_backward_input_set(float *dinp, const float *dout, const float *w, size_t n,
                                   size_t d_in, size_t d_out) {
    if (n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)d_in,
                (blasint)d_out, 1.0f, dout, (blasint)d_out, w, (blasint)d_in, 0.0f, dinp,
                (blasint)d_in);
}

void ml__linear_forward_ref(double *out, const double *inp, const double *w, const double *b,
                            size_t n, size_t d_in, size_t d_out) {
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < d_out; o++) {
            double s = b ? b[o] : 0.0;
            for (size_t k = 0; k < d_in; k++) s += inp[i * d_in + k] * w[o * d_in + k];
            out[i * d_out + o] = s;
        }
}

void ml__linear_backward_ref(double *dinp, double *dw, double *db, const double *dout,
                             const double *inp, const double *w, size_t n, size_t d_in,
                             size_t d_out) {
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < d_out; o++) {
            double g = dout[i * d_out + o];
            for (size_t k = 0; k < d_in; k++) {
                if (dinp) dinp[i * d_in + k] += g * w[o * d_in + k];
                if (dw) dw[o * d_in + k] += g * inp[i * d_in + k];
            }
            if (db) db[o] += g;
        }
}
