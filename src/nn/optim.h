/* optim.h - the optimizer's internal entry points for the training collectors: a step that
 * also measures how far each tensor moved, so that ||dw|| needs no copy of the weights. The
 * public optimizer is microlens/optim.h; nothing here is for other callers. */
#ifndef ML_NN_OPTIM_H
#define ML_NN_OPTIM_H

#include <stddef.h>

#include "microlens/optim.h"

/* ^ml_optim_step, and for each trainable tensor k (the tensors with a grad, in the order given
 * to ml_optim_new) update_sq[k] = sum over its elements of (w_after - w_before)^2: each change
 * taken in float between the stored values, squared and summed in double. Weights and state
 * end bit for bit as ml_optim_step leaves them. update_sq holds ml__optim_n_trainable(o)
 * doubles. ^ML_EINVAL as ml_optim_step; nothing changes then. */
ml_status ml__optim_step_measured(ml_optim *o, double lr, double *update_sq);
/* ^Number of trainable tensors (those with a grad when the optimizer was made). */
size_t ml__optim_n_trainable(const ml_optim *o);

#endif
