/* attention.h - multi-head scaled dot-product self-attention over a ragged batch of sets
 * (packed q|k|v input as nn.MultiheadAttention's in_proj makes it). Each set attends only
 * within itself, so there is no padding and no mask: that is the key padding mask of a padded
 * batch, made implicit. No dropout (PyTorch's eval mode, or dropout = 0). */
#ifndef ML_NN_ATTENTION_H
#define ML_NN_ATTENTION_H

#include <stddef.h>

/* Shapes: set s owns token rows [offsets[s], offsets[s+1]) (n_s rows); T = offsets[n_sets].
 * qkv: (T, 3d), row t = [q | k | v], head h at columns h*hd .. h*hd+hd-1 of each part, where
 * hd = d / n_heads. out: (T, d), heads concatenated. probs: per set, n_heads blocks of
 * (n_s, n_s) softmax probabilities, the sets' blocks following each other. */

/* Floats of probs kept for backward by a forward over this batch. */
size_t ml__attention_probs_size(const size_t *offsets, size_t n_sets, size_t n_heads);
/* Floats of the forward's scratch for sets of up to max_set_tokens rows. */
size_t ml__attention_scratch_size(size_t max_set_tokens, size_t d, size_t n_heads);

/* probs NULL: inference by the fused kernel (scratch: ml__attention_scratch_size floats), P
 * never stored, and each output row depends only on its own set, bit for bit. Otherwise P's
 * blocks are written one after another for backward (scratch unused). */
void ml__attention_forward(float *out, float *probs, float *scratch, const float *qkv,
                           const size_t *offsets, size_t n_sets, size_t d, size_t n_heads);
/* Accumulates into dqkv (T, 3d). dp_scratch: max_s n_s^2 floats. probs as kept by forward. */
void ml__attention_backward(float *dqkv, float *dp_scratch, const float *dout, const float *qkv,
                            const float *probs, const size_t *offsets, size_t n_sets, size_t d,
                            size_t n_heads);

void ml__attention_forward_ref(double *out, double *probs, const double *qkv,
                               const size_t *offsets, size_t n_sets, size_t d, size_t n_heads);
void ml__attention_backward_ref(double *dqkv, const double *dout, const double *qkv,
                                const double *probs, const size_t *offsets, size_t n_sets,
                                size_t d, size_t n_heads);

#endif
