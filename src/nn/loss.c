/* loss.c - cross-entropy and BCE-with-logits, forward (mean over rows) and backward; sums in
 * double so that the reported loss does not depend on batch order beyond rounding. */
#include "nn/loss.h"

#include <math.h>

double ml__crossentropy_forward(float *probs, const float *logits, const int *labels, size_t n,
                                size_t c) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * c;
        float *p = probs + i * c;
        float mx = z[0];
        for (size_t j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0.0;
        for (size_t j = 0; j < c; j++) sum += exp((double)(z[j] - mx));
        for (size_t j = 0; j < c; j++) p[j] = (float)(exp((double)(z[j] - mx)) / sum);
        total += log(sum) + (double)mx - (double)z[labels[i]];
    }
    return n ? total / (double)n : 0.0;
}

void ml__crossentropy_backward(float *dlogits, const float *probs, const int *labels, size_t n,
                               size_t c, float dloss) {
    float scale = dloss / (float)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++) {
            float onehot = (size_t)labels[i] == j ? 1.0f : 0.0f;
            dlogits[i * c + j] += (probs[i * c + j] - onehot) * scale;
        }
}

double ml__bce_forward(const float *logits, const float *targets, size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double z = logits[i];
        total += fmax(z, 0.0) - z * (double)targets[i] + log1p(exp(-fabs(z)));
    }
    return n ? total / (double)n : 0.0;
}

void ml__bce_backward(float *dlogits, const float *logits, const float *targets, size_t n,
                      float dloss) {
    float scale = dloss / (float)n;
    for (size_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + expf(-logits[i]));
        dlogits[i] += (sig - targets[i]) * scale;
    }
}

double ml__crossentropy_forward_ref(double *probs, const double *logits, const int *labels,
                                    size_t n, size_t c) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double mx = logits[i * c], sum = 0.0;
        for (size_t j = 1; j < c; j++) mx = fmax(mx, logits[i * c + j]);
        for (size_t j = 0; j < c; j++) sum += exp(logits[i * c + j] - mx);
        for (size_t j = 0; j < c; j++) probs[i * c + j] = exp(logits[i * c + j] - mx) / sum;
        total += log(sum) + mx - logits[i * c + (size_t)labels[i]];
    }
    return n ? total / (double)n : 0.0;
}

void ml__crossentropy_backward_ref(double *dlogits, const double *probs, const int *labels,
                                   size_t n, size_t c, double dloss) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++) {
            double y = (size_t)labels[i] == j ? 1.0 : 0.0;
            dlogits[i * c + j] += (probs[i * c + j] - y) * dloss / (double)n;
        }
}

double ml__bce_forward_ref(const double *logits, const double *targets, size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double z = logits[i];
        total += fmax(z, 0.0) - z * targets[i] + log1p(exp(-fabs(z)));
    }
    return n ? total / (double)n : 0.0;
}

void ml__bce_backward_ref(double *dlogits, const double *logits, const double *targets, size_t n,
                          double dloss) {
    for (size_t i = 0; i < n; i++)
        dlogits[i] += (1.0 / (1.0 + exp(-logits[i])) - targets[i]) * dloss / (double)n;
}
