/* loss.h - mean softmax cross-entropy and mean binary cross-entropy on logits (PyTorch's
 * nn.CrossEntropyLoss and nn.BCEWithLogitsLoss with reduction "mean", no weights). */
#ifndef ML_NN_LOSS_H
#define ML_NN_LOSS_H

#include <stddef.h>

/* logits, probs: (n, c); labels: (n) in [0, c) (the caller checks). Returns the mean loss and
 * keeps the softmax in probs for backward. */
double ml__crossentropy_forward(float *probs, const float *logits, const int *labels, size_t n,
                                size_t c);
/* dlogits += (probs - onehot(labels)) * dloss / n. */
void ml__crossentropy_backward(float *dlogits, const float *probs, const int *labels, size_t n,
                               size_t c, float dloss);
/* logits, targets: (n), targets in [0, 1]. Returns the mean loss, computed without overflow
 * as max(z, 0) - z y + log1p(exp(-|z|)). */
double ml__bce_forward(const float *logits, const float *targets, size_t n);
/* dlogits += (sigmoid(z) - y) * dloss / n. */
void ml__bce_backward(float *dlogits, const float *logits, const float *targets, size_t n,
                      float dloss);

double ml__crossentropy_forward_ref(double *probs, const double *logits, const int *labels,
                                    size_t n, size_t c);
void ml__crossentropy_backward_ref(double *dlogits, const double *probs, const int *labels,
                                   size_t n, size_t c, double dloss);
double ml__bce_forward_ref(const double *logits, const double *targets, size_t n);
void ml__bce_backward_ref(double *dlogits, const double *logits, const double *targets, size_t n,
                          double dloss);

#endif
