/* nn.h - the set transformer (the upstream MicrobiomeTransformer sample-embedding model) with
 * forward, backward and LoRA adapters, and a float MLP classifier. It does not read files,
 * schedule learning rates or own an optimizer: a loader fills tensors by name, a trainer
 * (microlens/optim.h) steps on the gradients it exposes. */
#ifndef MICROLENS_NN_H
#define MICROLENS_NN_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model: parameters, gradients and activations in three blocks sized at construction. */
typedef struct ml_settransformer ml_settransformer;

/* LoRA targets, one bit each, in every encoder layer. q, k and v are the row slices
 * [0, d), [d, 2d), [2d, 3d) of the packed self_attn.in_proj_weight (see the names below). */
#define ML_LORA_Q (1u << 0)
#define ML_LORA_K (1u << 1)
#define ML_LORA_V (1u << 2)
#define ML_LORA_OUT (1u << 3)     /* self_attn.out_proj */
#define ML_LORA_LINEAR1 (1u << 4) /* feed-forward d_model -> d_ff */
#define ML_LORA_LINEAR2 (1u << 5) /* feed-forward d_ff -> d_model */
#define ML_LORA_ALL 0x3fu

#define ML_SETTRANSFORMER_CONFIG_VERSION 1

/* Sizes and options. The architecture is PyTorch's nn.TransformerEncoderLayer with
 * batch_first=True, norm_first=False (post-LayerNorm), ReLU, LayerNorm eps 1e-5, no positional
 * encoding, no dropout in the encoder layers (their training-time dropout is not implemented:
 * results equal PyTorch's with dropout=0.0 or in eval mode); LoRA adapters may have dropout. */
typedef struct ml_settransformer_config {
    int version;           /* ML_SETTRANSFORMER_CONFIG_VERSION */
    size_t d_in;           /* OTU vector length. Default 384 (upstream ProkBERT vectors) */
    size_t d_model;        /* Default 100 (upstream large; small is 20) */
    size_t n_layers;       /* Default 5 (small: 3) */
    size_t n_heads;        /* Must divide d_model. Default 5 */
    size_t d_ff;           /* Feed-forward width. Default 400 (small: 80) */
    size_t n_classes;      /* Classifier head on the embedding: 0 none (default), 1 one logit
                            * with BCE, >= 2 logits with softmax cross-entropy */
    size_t max_tokens;     /* Most OTU rows in one batch, all sets together. Default 4096 */
    size_t max_set_tokens; /* Most OTU rows in one set (<= max_tokens). Default 1024 */
    size_t max_sets;       /* Most sets in one batch. Default 256 */
    int has_grad;          /* 1: keep every layer's activations and allocate gradients so that
                            * forward_backward works; 0 (default): inference only, one layer's
                            * activations reused */
    size_t lora_rank;      /* r of the LoRA adapters; 0 (default): no LoRA. With LoRA the base
                            * weights are frozen (no gradient), except classifier.* which stays
                            * trainable as PEFT's modules_to_save does for classification heads */
    float lora_alpha;      /* Adapter scale is lora_alpha / lora_rank. Default 8 */
    unsigned lora_targets; /* ML_LORA_* bits. Default ML_LORA_Q | ML_LORA_V (the LoRA paper's) */
    float lora_dropout;    /* p in [0, 1): dropout on each adapter's input as PEFT's LoRA
                            * Linear (base(x) + scale B A dropout(x), kept values scaled by
                            * 1/(1-p)), applied only by forward_backward in training mode;
                            * see ml_settransformer_set_training. Default 0 */
    int freeze_token_head; /* 1: output_projection.* (the per-token head) gets no gradient and
                            * no optimizer state, for training that never uses token targets
                            * (classification): otherwise weight decay alone would shrink it.
                            * Default 0 */
} ml_settransformer_config;

#define ML_SETTRANSFORMER_CONFIG_INIT                                                        \
    {ML_SETTRANSFORMER_CONFIG_VERSION, 384, 100, 5, 5, 400, 0, 4096, 1024, 256, 0, 0, 8.0f,     \
     ML_LORA_Q | ML_LORA_V, 0.0f, 0}

/* A ragged batch: the sets' OTU vectors back to back, no padding. Set s owns rows
 * [offsets[s], offsets[s+1]). All pointers are borrowed for the call. */
typedef struct ml_set_batch {
    size_t n_sets;          /* 1 .. max_sets */
    const size_t *offsets;  /* (n_sets + 1), offsets[0] = 0, strictly increasing (no empty set) */
    const float *x;         /* (offsets[n_sets], d_in), row-major */
} ml_set_batch;

/* What forward_backward differentiates. The loss is the sum of the terms whose pointer is
 * non-NULL; at least one must be. Pointers are borrowed for the call. */
typedef struct ml_settransformer_targets {
    const int *labels;          /* (n_sets): class index in [0, n_classes) for n_classes >= 2
                                 * (mean cross-entropy), 0 or 1 for n_classes == 1 (mean BCE) */
    const float *token_targets; /* (T): per-OTU BCE targets for output_projection's logits
                                 * (mean over all T tokens), as upstream's per-token head */
    const float *d_embeddings;  /* (n_sets, d_model): the gradient of an outside loss with respect
                                 * to the embeddings, back-propagated as is (adds 0 to the loss) */
} ml_settransformer_targets;

/* One parameter tensor, borrowed from the model. */
typedef struct ml_nn_tensor {
    const char *name; /* PyTorch state-dict name, see ml_settransformer_param */
    size_t n_dims;    /* 1 or 2 */
    size_t shape[2];  /* PyTorch's shape: weights (out, in) row-major, biases (out) */
    size_t numel;
    float *data;
    float *grad;      /* same shape; NULL when frozen or when the model has no gradients */
} ml_nn_tensor;

/* ^Bytes this config needs for parameters, gradients and activations together, or 0 when the
 * config is invalid (the last error says why, as ml_settransformer_new would) or the size
 * overflows. */
size_t ml_settransformer_workspace_size(const ml_settransformer_config *cfg);

/* ^Allocates a model (all memory it will ever use) with parameters zero; call
 * ml_settransformer_init or fill the tensors by name. ^ML_EINVAL naming the field when a size
 * is 0 where it may not be, n_heads does not divide d_model, max_set_tokens > max_tokens or a
 * size is absurd (over 2^24, or products overflow); lora_dropout outside [0, 1) is
 * ML_EINVAL too; ML_ENOMEM. *out untouched on failure. The caller frees with ml_settransformer_free. */
ml_status ml_settransformer_new(ml_settransformer **out, const ml_settransformer_config *cfg);
/* ^A second inference model (has_grad = 0, otherwise m's config) that reads m's parameters in
 * place and owns only its activations: threads can then run forward passes side by side, one
 * model each, m included, sharing one copy of the weights. m must outlive it, and m's
 * parameters and LoRA merge state must not change while it is in use (its tensors point into
 * m's). Its forward gives bit for bit what m's would. ^ML_ENOMEM; *out untouched on failure;
 * free with ml_settransformer_free, which leaves m's parameters alone. */
ml_status ml_settransformer_new_shared(ml_settransformer **out, const ml_settransformer *m);
/* ^NULL: no-op. */
void ml_settransformer_free(ml_settransformer *m);
/* ^Borrowed from m. */
const ml_settransformer_config *ml_settransformer_get_config(const ml_settransformer *m);

/* ^Deterministic initialisation from seed, as PyTorch initialises the module: nn.Linear weights
 * and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); in_proj_weight xavier_uniform, in_proj_bias and
 * out_proj.bias zero; LayerNorm weight 1, bias 0; every encoder layer a copy of the first (as
 * nn.TransformerEncoder deep-copies its layer). LoRA A as PEFT (kaiming_uniform_, a = sqrt(5):
 * U(-1/sqrt(in), 1/sqrt(in))), B zero, drawn from a separate stream so that adding adapters
 * does not change the base weights. Seeds the LoRA dropout stream from seed as well (a third
 * stream; ml_settransformer_new seeds it from 0). Un-merges nothing: call on an unmerged
 * model. */
void ml_settransformer_init(ml_settransformer *m, uint64_t seed);

/* ^Training mode (nonzero, the default for a model with has_grad = 1) or evaluation mode (0),
 * as PyTorch's module.train() / eval(): in training mode each forward_backward draws fresh
 * LoRA dropout masks (when lora_dropout > 0) from the model's seeded stream and its backward
 * uses the same masks; in evaluation mode, in ml_settransformer_forward, with merged adapters
 * and in inference models dropout is the identity. Nothing else depends on the mode. */
void ml_settransformer_set_training(ml_settransformer *m, int training);
/* ^Restarts the dropout mask stream as ml_settransformer_init(m, seed) would, without touching
 * the parameters: the same seed and batch shapes give the same masks. */
void ml_settransformer_seed_dropout(ml_settransformer *m, uint64_t seed);

/* Tensor names, in PyTorch's state-dict order:
 *   input_projection_type1.weight (d_model, d_in), input_projection_type1.bias (d_model)
 *   transformer.layers.{i}.self_attn.in_proj_weight (3 d_model, d_model), .in_proj_bias
 *   transformer.layers.{i}.self_attn.out_proj.weight (d_model, d_model), .bias
 *   transformer.layers.{i}.linear1.weight (d_ff, d_model), .bias;  linear2.weight (d_model, d_ff)
 *   transformer.layers.{i}.norm1.weight (d_model), .bias;  norm2.weight, norm2.bias
 *   output_projection.weight (1, d_model), output_projection.bias (1)
 *   classifier.weight (n_classes, d_model), classifier.bias   -- only when n_classes > 0
 * then, with LoRA, per layer and target, in PEFT's layout:
 *   base_model.model.transformer.layers.{i}.self_attn.out_proj.lora_A.weight (r, d_model)
 *   base_model.model.transformer.layers.{i}.self_attn.out_proj.lora_B.weight (d_model, r)
 *   ...linear1.lora_A.weight (r, d_model), ...linear1.lora_B.weight (d_ff, r), linear2 alike.
 * PEFT cannot target the q/k/v slices of nn.MultiheadAttention's packed in_proj_weight, so their
 * adapters are named ...self_attn.q_proj.lora_A.weight / q_proj.lora_B.weight (and k_proj,
 * v_proj): q_proj's B·A adds to rows [0, d) of in_proj_weight, k_proj's to [d, 2d), v_proj's
 * to [2d, 3d). */

/* ^Number of tensors (base, then LoRA). */
size_t ml_settransformer_n_tensors(const ml_settransformer *m);
/* ^Tensor i in the order above. ML_EINVAL if i is out of range; *out untouched then. */
ml_status ml_settransformer_tensor(ml_settransformer *m, size_t i, ml_nn_tensor *out);
/* ^Parameter data by name: *data points into the model ((*n) floats, row-major, PyTorch's
 * shape). ML_ENOTFOUND naming the tensor when there is none; outputs untouched then. */
ml_status ml_settransformer_param(ml_settransformer *m, const char *name, float **data,
                                  size_t *n);

/* ^Forward pass for inference: fills the embeddings (mean over each set of the final hidden
 * states), output_projection's per-token logits and, with a classifier, its logits.
 * ^ML_EINVAL naming the problem when the batch is empty, too large for the config, has an
 * empty set, a set over max_set_tokens or offsets[0] != 0; nothing is computed then. */
ml_status ml_settransformer_forward(ml_settransformer *m, const ml_set_batch *batch);
/* ^Results of the last forward (or forward_backward), borrowed until the next one:
 * embeddings (n_sets, d_model); token logits (T); class logits (n_sets, n_classes), NULL
 * without a classifier. */
const float *ml_settransformer_embeddings(const ml_settransformer *m);
const float *ml_settransformer_token_logits(const ml_settransformer *m);
const float *ml_settransformer_class_logits(const ml_settransformer *m);

/* ^Forward, loss and backward: accumulates (+=) d loss / d parameter into every trainable
 * tensor's grad and sets *loss. ^ML_EINVAL when the model has no gradients (has_grad = 0),
 * LoRA is merged, targets has no term, labels are given without a classifier or a label is out
 * of range (its index is named), and for the batch errors of forward. Gradients and *loss are
 * untouched on failure. */
ml_status ml_settransformer_forward_backward(ml_settransformer *m, const ml_set_batch *batch,
                                             const ml_settransformer_targets *targets,
                                             double *loss);
/* ^Sets every gradient to zero (no-op without gradients). */
void ml_settransformer_zero_grad(ml_settransformer *m);

/* ^A training helper of m (has_grad = 1) for ml_settransformer_forward_backward_parallel: it
 * reads m's parameters in place and owns its activations and gradients. m must outlive it, and
 * m's parameters must not change during a parallel call. LoRA dropout masks come from the
 * worker's own stream (seeded from 0; see ml_settransformer_seed_dropout). ^ML_EINVAL when m
 * has no gradients; ML_ENOMEM. *out untouched on failure; free with ml_settransformer_free. */
ml_status ml_settransformer_new_worker(ml_settransformer **out, const ml_settransformer *m);
/* ^ml_settransformer_forward_backward with the batch's sets split into n_workers contiguous
 * shares, each run by one worker (made by ml_settransformer_new_worker from m) on a thread of
 * its own, the first on the calling thread. Each share's mean losses are weighted by its share
 * of the sets (tokens for token_targets), then the workers' losses and gradients are added to
 * m's in worker order: the same bits every run for a given n_workers, and the serial result
 * up to float rounding. n_workers 0 runs the serial forward_backward on m. Workers must not be
 * used elsewhere during the call. ^Errors as forward_backward, and ML_EINVAL naming the index
 * when a worker is NULL or not one of m's; gradients and *loss untouched on failure. */
ml_status ml_settransformer_forward_backward_parallel(ml_settransformer *m,
                                                      ml_settransformer *const *workers,
                                                      size_t n_workers,
                                                      const ml_set_batch *batch,
                                                      const ml_settransformer_targets *targets,
                                                      double *loss);

/* ^Folds scale·B·A into each targeted base weight so that forward runs at base cost, and back.
 * As PEFT, merging ignores lora_dropout (a merged model computes what evaluation mode does).
 * ML_EINVAL without LoRA, or when already merged (merge) or not merged (unmerge). Unmerge
 * restores the weights up to float rounding (about 1e-7 relative), not bit for bit. */
ml_status ml_settransformer_lora_merge(ml_settransformer *m);
ml_status ml_settransformer_lora_unmerge(ml_settransformer *m);

/* ---- Loading weights -------------------------------------------------------------------- */

#define ML_SETTRANSFORMER_LOAD_OPTIONS_VERSION 1

/* How ml_settransformer_load sizes the model it builds (inference only: has_grad = 0). */
typedef struct ml_settransformer_load_options {
    int version;           /* ML_SETTRANSFORMER_LOAD_OPTIONS_VERSION */
    size_t n_heads;        /* Head count; 0 (default): the file's __metadata__ "nhead". When both
                            * are given they must agree. Example: 5 */
    size_t max_tokens;     /* Most OTU rows in one forward, all sets together. Default 8192 */
    size_t max_set_tokens; /* Most OTU rows in one set (<= max_tokens). Default 1024 */
    size_t max_sets;       /* Most sets in one forward. Default 64 */
} ml_settransformer_load_options;

#define ML_SETTRANSFORMER_LOAD_OPTIONS_INIT                                                   \
    {ML_SETTRANSFORMER_LOAD_OPTIONS_VERSION, 0, 8192, 1024, 64}

/* ^Builds an inference model from a safetensors file holding the upstream PyTorch state dict
 * (names as listed above; tools/convert-upstream-checkpoint makes one from a .pt checkpoint).
 * Sizes come from the shapes: d_model and d_in from input_projection_type1.weight, n_layers
 * from the transformer.layers.{i} indices, d_ff from layer 0's linear1.weight, n_classes from
 * classifier.weight when present. Every expected tensor must be present with its exact shape
 * and a float dtype (F32, F16, BF16, F64; converted to float) and finite values; any other
 * tensor is an error (PyTorch's load_state_dict(strict=False) would silently ignore it).
 * output_projection.* may be absent together (it does not affect embeddings): it is then
 * zero. LoRA adapters are not read: merge them into the base weights before exporting.
 * ^ML_EFORMAT naming the file and tensor for a missing, unexpected, misshapen, non-float or
 * non-finite tensor, a bad "nhead" value, or n_heads from the file not dividing d_model;
 * ML_EINVAL when no head count is known (neither option nor "nhead"), the option disagrees
 * with the file, the option does not divide d_model, or the sizing options are invalid;
 * the safetensors reader's errors (a pickled checkpoint is ML_EFORMAT naming the converter),
 * ML_ENOMEM. *out untouched on failure; the caller frees with ml_settransformer_free. */
ml_status ml_settransformer_load(ml_settransformer **out, const char *path,
                                 const ml_settransformer_load_options *o);

/* ---- MLP classifier --------------------------------------------------------------------- */

/* A float32 multilayer perceptron: Linear, ReLU, ..., Linear to n_classes logits, trained with
 * mean softmax cross-entropy (PyTorch: a ModuleList `layers` of nn.Linear, F.relu between
 * them, F.cross_entropy). Parameters, gradients and activations are sized at construction
 * from max_batch; no call after ml_mlp_new allocates. */
typedef struct ml_mlp ml_mlp;

/* Most hidden layers. */
#define ML_NN_MLP_MAX_HIDDEN 8
#define ML_MLP_CONFIG_VERSION 1

typedef struct ml_mlp_config {
    int version;        /* ML_MLP_CONFIG_VERSION */
    size_t d_in;        /* Input features, >= 1. Default 0 (must be set). Example 2000 */
    size_t n_hidden;    /* Hidden layers, 0 .. ML_NN_MLP_MAX_HIDDEN. Default 2 */
    size_t hidden[ML_NN_MLP_MAX_HIDDEN]; /* Widths, each >= 1. Default {256, 64} */
    size_t n_classes;   /* Logits, >= 2. Default 2 */
    size_t max_batch;   /* Most rows in one call, >= 1. Default 256 */
    int has_grad;       /* 1 (default): gradients and kept activations; 0: inference only */
} ml_mlp_config;

#define ML_MLP_CONFIG_INIT {ML_MLP_CONFIG_VERSION, 0, 2, {256, 64}, 2, 256, 1}

/* ^Allocates a model with parameters zero (call ml_mlp_init or fill the tensors by name).
 * ^ML_EINVAL naming the field when a size is 0 where it may not be, n_hidden is over
 * ML_NN_MLP_MAX_HIDDEN, n_classes < 2, a size is over 2^24 or the sizes overflow;
 * ML_ENOMEM. *out untouched on failure; free with ml_mlp_free. */
ml_status ml_mlp_new(ml_mlp **out, const ml_mlp_config *cfg);
/* ^NULL: no-op. */
void ml_mlp_free(ml_mlp *m);
/* ^Borrowed from m. */
const ml_mlp_config *ml_mlp_get_config(const ml_mlp *m);
/* ^Deterministic initialisation from seed as nn.Linear's: weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by layer, weight before bias. */
void ml_mlp_init(ml_mlp *m, uint64_t seed);

/* Tensors, in PyTorch's state-dict order, i = 0 .. n_hidden:
 *   layers.{i}.weight (out, in) row-major, layers.{i}.bias (out). */
/* ^2 (n_hidden + 1). */
size_t ml_mlp_n_tensors(const ml_mlp *m);
/* ^Tensor i; grad is NULL without gradients. ML_EINVAL if i is out of range; *out untouched. */
ml_status ml_mlp_tensor(ml_mlp *m, size_t i, ml_nn_tensor *out);
/* ^Parameter data by name, as ml_settransformer_param. ML_ENOTFOUND naming it otherwise. */
ml_status ml_mlp_param(ml_mlp *m, const char *name, float **data, size_t *n);

/* ^Logits of n rows of x (n, d_in), kept until the next call (ml_mlp_logits). ML_EINVAL when
 * n is 0 or over max_batch, or x is NULL; nothing is computed then. */
ml_status ml_mlp_forward(ml_mlp *m, const float *x, size_t n);
/* ^(n, n_classes) logits of the last forward or forward_backward, borrowed. */
const float *ml_mlp_logits(const ml_mlp *m);
/* ^Forward, mean cross-entropy against labels (n) in [0, n_classes), and backward: accumulates
 * (+=) into every grad and sets *loss. ^ML_EINVAL without gradients (has_grad = 0), for a
 * label out of range (its index named) and for forward's errors; gradients and *loss
 * untouched then. */
ml_status ml_mlp_forward_backward(ml_mlp *m, const float *x, size_t n, const int *labels,
                                  double *loss);
/* ^Sets every gradient to zero (no-op without gradients). */
void ml_mlp_zero_grad(ml_mlp *m);

/* ---- Activation statistics -------------------------------------------------------------- */

/* What one layer's activations looked like in the last forward pass, read from the buffers
 * that pass kept for backward: no extra forward, no copy. */
typedef struct ml_nn_act_stats {
    const char *layer;    /* PyTorch module name: "transformer.layers.{i}" (set transformer) or
                           * "layers.{i}" (MLP hidden layer i); borrowed from the model */
    size_t n_values;      /* elements summarised: rows of the batch x the layer's width */
    double mean, std;     /* over every element of the layer's output; std divides by n
                           * (numpy's default, torch's unbiased=False) */
    double max_abs;       /* NaN when an element is NaN */
    double zero_fraction; /* share of exact zeros after the layer's ReLU: the feed-forward's
                           * ReLU output (rows x d_ff) for an encoder layer, the layer's own
                           * output for an MLP hidden layer */
} ml_nn_act_stats;

/* ^Encoder layers with statistics: n_layers. */
size_t ml_settransformer_n_act_layers(const ml_settransformer *m);
/* ^Statistics of encoder layer `layer` in the last forward or forward_backward of m: mean, std
 * and max |x| of the layer's output (rows x d_model, after norm2), zero_fraction of its
 * feed-forward ReLU output. ^ML_EINVAL when m has no gradients (an inference model reuses one
 * layer's buffers), no forward pass ran yet (or the last one was a parallel forward_backward
 * with workers, whose activations stay in the workers), or layer >= n_layers; *out untouched
 * then. */
ml_status ml_settransformer_act_stats(const ml_settransformer *m, size_t layer,
                                      ml_nn_act_stats *out);

/* ^Hidden layers with statistics: n_hidden. */
size_t ml_mlp_n_act_layers(const ml_mlp *m);
/* ^Statistics of hidden layer `layer`'s output after its ReLU (rows x hidden[layer]) in the
 * last forward or forward_backward. ^ML_EINVAL when no forward ran yet or layer >= n_hidden;
 * *out untouched then. */
ml_status ml_mlp_act_stats(const ml_mlp *m, size_t layer, ml_nn_act_stats *out);

#ifdef __cplusplus
}
#endif
#endif
