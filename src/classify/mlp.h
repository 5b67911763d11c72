/* mlp.h - the MLP's network (ReLU hidden layers, one logit) and its weighted binary
 * cross-entropy forward/backward, exposed for the gradient check in tests. */
#ifndef ML_CLASSIFY_MLP_H
#define ML_CLASSIFY_MLP_H

#include <stddef.h>

#include "microlens/classify.h"

#define ML__MLP_MAX_LAYERS (ML_MLP_MAX_HIDDEN + 1)

/* Layer l (0-based, n_layers = n_hidden + 1) maps width[l] -> width[l+1]; width[n_layers]=1.
 * Parameters live in one block: layer l's W (width[l+1], width[l]) at w_off[l], its bias
 * (width[l+1]) at b_off[l], as PyTorch's nn.Linear stores them. */
typedef struct ml__mlp {
    size_t n_layers;
    size_t width[ML__MLP_MAX_LAYERS + 1];
    size_t w_off[ML__MLP_MAX_LAYERS], b_off[ML__MLP_MAX_LAYERS];
    size_t n_params;
    size_t batch_cap;
    double *act;   /* activations of every layer for batch_cap rows: layer l at act_off[l] */
    size_t act_off[ML__MLP_MAX_LAYERS + 1];
    double *delta; /* (2, batch_cap, max width): backward ping-pong */
    size_t max_width;
} ml__mlp;

/* Sizes the network and allocates activations for batch_cap rows. ML_ENOMEM; on failure the
 * net holds nothing to free. */
ml_status ml__mlp_init(ml__mlp *net, size_t d, const size_t *hidden, size_t n_hidden,
                       size_t batch_cap);
void ml__mlp_free(ml__mlp *net);

/* Logits (B) of rows idx[0..B) of X (n, d) (idx NULL: rows 0..B), B <= batch_cap. */
void ml__mlp_forward(ml__mlp *net, const double *params, const double *X, const size_t *idx,
                     size_t B, double *logit);

/* Weighted mean BCE over the batch, sum_i w_i bce(logit_i, y_i) / sum_i w_i, after a forward
 * pass; when grad is not NULL, its gradient is added (+=) into grad (n_params). Returns 0
 * and adds nothing when the batch weights sum to 0. logit: (B) from the forward pass. */
double ml__mlp_loss_backward(ml__mlp *net, const double *params, double *grad,
                             const double *logit, const int *y, const double *w,
                             const size_t *idx, size_t B);

#endif
