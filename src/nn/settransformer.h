/* settransformer.h - internal access to the set transformer for tests (the dropout masks that
 * the last forward drew, so that an oracle can replay them); nothing here is for callers. */
#ifndef ML_NN_SETTRANSFORMER_H
#define ML_NN_SETTRANSFORMER_H

#include <stddef.h>

#include "microlens/nn.h"

/* The (T, d_in) mask (values 0 or 1/(1-p)) that the last forward applied to adapter `target`
 * (one ML_LORA_* bit) of layer `layer`, T the batch's token count; NULL when that forward
 * applied none (inference, eval mode, no dropout, merged) or the arguments name no adapter. */
const float *ml__settransformer_lora_mask(const ml_settransformer *m, size_t layer,
                                          unsigned target);

/* Layer `layer`'s kept activations of the last forward: its output (T, d_model) and its
 * feed-forward ReLU output (T, d_ff), T in *n_tokens; NULL outputs when there are none (see
 * ml_settransformer_act_stats). For tests of the activation statistics. */
void ml__settransformer_layer_acts(const ml_settransformer *m, size_t layer, const float **out,
                                   const float **relu, size_t *n_tokens);

#endif
