/* layernorm.c - LayerNorm forward/backward (llm.c's formulation) with double references;
 * statistics are accumulated in double so that rows of large magnitude stay exact. */
#include "nn/layernorm.h"

#include <math.h>

void ml__layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        const float *x = inp + i * d;
        double m = 0.0, v = 0.0;
        for (size_t j = 0; j < d; j++) m += x[j];
        m /= (double)d;
        for (size_t j = 0; j < d; j++) v += (x[j] - m) * (x[j] - m);
        v /= (double)d;
        float mf = (float)m, rs = (float)(1.0 / sqrt(v + ML_LAYERNORM_EPS));
        float *y = out + i * d;
        for (size_t j = 0; j < d; j++) y[j] = (x[j] - mf) * rs * w[j] + b[j];
        mean[i] = mf;
        rstd[i] = rs;
    }
}

void ml__layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        const float *x = inp + i * d, *dy = dout + i * d;
        float *dx = dinp + i * d, m = mean[i], rs = rstd[i];
        float mean_g = 0.0f, mean_gx = 0.0f; /* means of dnorm and dnorm * xhat */
        for (size_t j = 0; j < d; j++) {
            float xhat = (x[j] - m) * rs, g = w[j] * dy[j];
            mean_g += g;
            mean_gx += g * xhat;
        }
        mean_g /= (float)d;
        mean_gx /= (float)d;
        for (size_t j = 0; j < d; j++) {
            float xhat = (x[j] - m) * rs, g = w[j] * dy[j];
            if (db) db[j] += dy[j];
            if (dw) dw[j] += xhat * dy[j];
            dx[j] += (g - mean_g - xhat * mean_gx) * rs;
        }
    }
}

void ml__layernorm_forward_ref(double *out, double *mean, double *rstd, const double *inp,
                               const double *w, const double *b, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        double m = 0.0, v = 0.0;
        for (size_t j = 0; j < d; j++) m += inp[i * d + j] / (double)d;
        for (size_t j = 0; j < d; j++)
            v += (inp[i * d + j] - m) * (inp[i * d + j] - m) / (double)d;
        mean[i] = m;
        rstd[i] = 1.0 / sqrt(v + ML_LAYERNORM_EPS);
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = (inp[i * d + j] - m) * rstd[i] * w[j] + b[j];
    }
}

void ml__layernorm_backward_ref(double *dinp, double *dw, double *db, const double *dout,
                                const double *inp, const double *w, const double *mean,
                                const double *rstd, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        double sum_g = 0.0, sum_gx = 0.0;
        for (size_t j = 0; j < d; j++) {
            double xhat = (inp[i * d + j] - mean[i]) * rstd[i];
            sum_g += w[j] * dout[i * d + j];
            sum_gx += w[j] * dout[i * d + j] * xhat;
        }
        for (size_t j = 0; j < d; j++) {
            double xhat = (inp[i * d + j] - mean[i]) * rstd[i], g = w[j] * dout[i * d + j];
            if (db) db[j] += dout[i * d + j];
            if (dw) dw[j] += xhat * dout[i * d + j];
            dinp[i * d + j] += (g - sum_g / (double)d - xhat * sum_gx / (double)d) * rstd[i];
        }
    }
}
