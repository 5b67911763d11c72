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

#endif
