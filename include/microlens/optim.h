/* optim.h - optimizers (AdamW, SGD with momentum) that step exactly as PyTorch 1.13's
 * torch.optim does, global-norm gradient clipping and learning-rate schedules with warm-up.
 * They neither compute gradients nor own parameters: they step the tensors a model lends. */
#ifndef MICROLENS_OPTIM_H
#define MICROLENS_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "microlens/nn.h"
#include "microlens/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_optim_kind {
    ML_OPTIM_ADAMW = 0, /* torch.optim.AdamW (amsgrad=False, maximize=False) */
    ML_OPTIM_SGD = 1    /* torch.optim.SGD (dampening 0) */
} ml_optim_kind;

#define ML_OPTIM_CONFIG_VERSION 1

/* Hyper-parameters other than the learning rate, which each ml_optim_step is given (so that a
 * schedule can change it). */
typedef struct ml_optim_config {
    int version;          /* ML_OPTIM_CONFIG_VERSION */
    ml_optim_kind kind;   /* Default ML_OPTIM_ADAMW */
    double weight_decay;  /* >= 0. AdamW: decoupled, w -= lr*wd*w before the Adam update; SGD:
                           * L2, wd*w added to the gradient. Default 0.01 (AdamW's default;
                           * torch.optim.SGD's is 0). Applies to every tensor, biases included,
                           * as one PyTorch parameter group does */
    double beta1, beta2;  /* AdamW moment decays, each in [0, 1). Default 0.9, 0.999 */
    double eps;           /* AdamW, >= 0, added outside the square root. Default 1e-8 */
    double momentum;      /* SGD, >= 0; 0 is plain SGD (no state). Default 0. Example 0.9 */
    int is_nesterov;      /* SGD: 1 for Nesterov momentum (needs momentum > 0). Default 0 */
} ml_optim_config;

#define ML_OPTIM_CONFIG_INIT                                                                 \
    {ML_OPTIM_CONFIG_VERSION, ML_OPTIM_ADAMW, 0.01, 0.9, 0.999, 1e-8, 0.0, 0}

typedef struct ml_optim ml_optim;

/* Longest tensor name an optimizer accepts (bytes, without the terminating NUL). */
#define ML_OPTIM_MAX_NAME 200

/* ^Creates an optimizer over the tensors whose grad is non-NULL (the others are frozen and
 * skipped), allocating all its state (zero) now: ml_optim_step never allocates. The tensors'
 * data and grad pointers are borrowed: the model must outlive the optimizer; names are
 * copied. ^ML_EINVAL naming the field for a bad config (wrong version, negative or non-finite
 * weight_decay, eps or momentum, a beta outside [0, 1), Nesterov without momentum, an unknown
 * kind), and naming the tensor for an empty, over-long or repeated name; ML_EINVAL when no
 * tensor is trainable (torch: "optimizer got an empty parameter list"); ML_ENOMEM.
 * *out untouched on failure; free with ml_optim_free. */
ml_status ml_optim_new(ml_optim **out, const ml_optim_config *cfg, const ml_nn_tensor *tensors,
                       size_t n_tensors);
/* ^NULL: no-op. */
void ml_optim_free(ml_optim *o);

/* ^One update of every trainable tensor from its grad, at learning rate lr (the schedule's
 * value times the base rate). AdamW, per element, with t the step count after increment:
 *   w *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * SGD: d = g + wd*w; with momentum b = momentum*b + d (b = d on the first step) and d = b,
 * or d = d + momentum*b with Nesterov; w -= lr*d. Gradients are read, not zeroed.
 * ^ML_EINVAL when lr is negative or not finite; nothing changes then. */
ml_status ml_optim_step(ml_optim *o, double lr);
/* ^Steps taken so far (loaded with the state). */
uint64_t ml_optim_step_count(const ml_optim *o);

/* ^torch.nn.utils.clip_grad_norm_ over the trainable tensors: the L2 norm of all their
 * gradients together (summed in double) goes to *norm; when max_norm / (norm + 1e-6) < 1
 * every gradient is multiplied by that factor. max_norm = INFINITY only measures. A
 * non-finite norm leaves the gradients untouched (PyTorch would scale them by NaN), so the
 * caller can skip the step. ^ML_EINVAL when max_norm is not > 0 (or is NaN); gradients and
 * *norm untouched then. */
ml_status ml_optim_clip_grad_norm(ml_optim *o, double max_norm, double *norm);

/* ---- State, for checkpoints --------------------------------------------------------------
 * Named tensors, F32 with the parameter's shape: AdamW "exp_avg.<name>" and
 * "exp_avg_sq.<name>" per trainable tensor, SGD with momentum "momentum_buffer.<name>"; then
 * "step", an I64 scalar. Names and order follow the tensors given to ml_optim_new. */

/* ^Number of state tensors (1 for plain SGD: "step" only). */
size_t ml_optim_n_state(const ml_optim *o);
/* ^State tensor i as a view into the optimizer (valid until the next step, load or free),
 * ready for ml_safetensors_write. ML_EINVAL if i is out of range; *out untouched then. */
ml_status ml_optim_state(const ml_optim *o, size_t i, ml_tensor_view *out);
/* ^Replaces the whole state with n tensors (for example every tensor of a safetensors file,
 * any alignment): exactly the names ml_optim_state lists, each once, with the same dtype and
 * shape ("step" may also have shape [1]), finite values and step >= 0. ^ML_EFORMAT naming the
 * tensor when one is missing, repeated, unexpected, of another dtype or shape, or holds a
 * non-finite value or a negative step. The state is untouched on failure. */
ml_status ml_optim_load_state(ml_optim *o, const ml_tensor_view *tensors, size_t n);

/* ---- Learning-rate schedules -------------------------------------------------------------
 * The factor multiplying the base learning rate for the optimizer step that follows `step`
 * completed steps, as transformers' schedules give it to torch's LambdaLR (so the first step,
 * step 0, runs at factor 0 when there is a warm-up):
 *   warm-up (step < warmup_steps): step / max(1, warmup_steps)
 *   constant: 1
 *   linear:   max(0, (total_steps - step) / max(1, total_steps - warmup_steps))
 *   cosine:   max(0, (1 + cos(pi * num_cycles * 2 * p)) / 2),
 *             p = (step - warmup_steps) / max(1, total_steps - warmup_steps)
 * (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup). */

typedef enum ml_schedule_kind {
    ML_SCHEDULE_CONSTANT = 0,
    ML_SCHEDULE_LINEAR = 1,
    ML_SCHEDULE_COSINE = 2
} ml_schedule_kind;

typedef struct ml_lr_schedule {
    ml_schedule_kind kind; /* Default constant */
    uint64_t warmup_steps; /* Default 0. Example 100 */
    uint64_t total_steps;  /* Linear and cosine: >= 1, the step where they reach 0 (cosine with
                            * num_cycles 0.5). Ignored by constant. Default 0 */
    double num_cycles;     /* Cosine: >= 0, finite. Default 0.5 (one half cosine to zero) */
} ml_lr_schedule;

#define ML_LR_SCHEDULE_INIT {ML_SCHEDULE_CONSTANT, 0, 0, 0.5}

/* ^ML_EINVAL naming the field for an unknown kind, total_steps 0 with linear or cosine,
 * warmup_steps > total_steps with linear or cosine, or a bad num_cycles. */
ml_status ml_lr_schedule_check(const ml_lr_schedule *s);
/* ^The factor above, in [0, 1], for a schedule that passes ml_lr_schedule_check. */
double ml_lr_schedule_factor(const ml_lr_schedule *s, uint64_t step);

#ifdef __cplusplus
}
#endif
#endif
