/* train.h - training runs: a model (float MLP on CLR features, or the set transformer on sets
 * of OTU vectors) fitted by mini-batch AdamW/SGD, with a run store, verified checkpoints,
 * retention and exact resume. It reads no files given by name other than the run folder and
 * --init weights, and parses no command line: the caller brings the table, the join and the
 * OTU vectors. Layout, formats and rules: docs/training.md. */
#ifndef MICROLENS_TRAIN_H
#define MICROLENS_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "microlens/labels.h"
#include "microlens/manifest.h"
#include "microlens/nn.h"
#include "microlens/optim.h"
#include "microlens/otuvec.h"
#include "microlens/table.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_train_model {
    ML_TRAIN_MLP = 0,           /* CLR features (fitted on the training split) -> ml_mlp */
    ML_TRAIN_SETTRANSFORMER = 1 /* sets of OTU vectors -> ml_settransformer + classifier head */
} ml_train_model;

#define ML_TRAIN_OPTIONS_VERSION 1

/* Collectors (docs/training.md, "Collectors"): what the run store gets besides the run itself.
 * They read the step's gradients after backward and before clipping and the optimizer step,
 * and never change what is trained. Names in `--collect` in parentheses. */
#define ML_COLLECT_LOSS (1u << 0)        /* (loss) loss every step; eval_loss, eval_roc_auc */
#define ML_COLLECT_LR (1u << 1)          /* (lr) learning_rate every step */
#define ML_COLLECT_GRAD (1u << 2)        /* (grad) grad_norm every step; grad_norm/<tensor>,
                                          * grad/nonfinite_fraction */
#define ML_COLLECT_GRAD_COSINE (1u << 3) /* (grad-cosine) grad/cosine_prev */
#define ML_COLLECT_WEIGHTS (1u << 4)     /* (weights) weight_norm/<tensor>, update_ratio/<tensor> */
#define ML_COLLECT_LORA (1u << 5)        /* (lora) lora/<module>/{A,B,BA}_norm, {A,B}_grad_norm */
#define ML_COLLECT_ACTIVATIONS (1u << 6) /* (activations) act/<layer>/{mean,std,max_abs,
                                          * zero_fraction} */
#define ML_COLLECT_MEMORY (1u << 7)      /* (memory) memory/peak_rss_bytes */
#define ML_COLLECT_TIME (1u << 8)        /* (time) time/step_seconds */
#define ML_COLLECT_ALL 0x1ffu
/* Everything but activations (one more read of every layer's output per collected step). */
#define ML_COLLECT_DEFAULT (ML_COLLECT_ALL & ~ML_COLLECT_ACTIVATIONS)

/* Snapshots: raw tensors written to RUN_DIR/snapshots/step-NNNNNNN.safetensors. */
#define ML_SNAPSHOT_LORA (1u << 0)    /* (lora) the LoRA A and B tensors */
#define ML_SNAPSHOT_GRADS (1u << 1)   /* (grads) "grad.<name>" of every trainable tensor, before
                                       * clipping */
#define ML_SNAPSHOT_WEIGHTS (1u << 2) /* (weights) every trainable tensor */
#define ML_SNAPSHOT_ALL 0x7u

typedef struct ml_train_options {
    int version;              /* ML_TRAIN_OPTIONS_VERSION */
    ml_train_model model;     /* Default ML_TRAIN_MLP */
    uint64_t steps;           /* Optimizer steps; 0: from epochs. Default 0 */
    uint64_t epochs;          /* Passes over the training split when steps is 0. Default 1 */
    size_t batch;             /* Samples per step (the last of an epoch may be smaller).
                               * Default 32 */
    double lr;                /* Base learning rate (>= 0; 0 freezes the weights, e.g. to
                               * measure a baseline). Default 1e-3 */
    ml_optim_config optim;    /* Default ML_OPTIM_CONFIG_INIT (AdamW, weight decay 0.01) */
    ml_schedule_kind schedule; /* Default constant */
    uint64_t warmup_steps;    /* Default 0 */
    double clip_grad;         /* Global-norm clipping; 0: none (the norm is still logged).
                               * Default 0. Example 1.0 */
    double val_fraction;      /* Share of labelled samples (of groups, with groups) held out
                               * for validation, in [0, 1). 0: none. Default 0.2 */
    uint64_t eval_every;      /* Validation every N steps (and at every checkpoint and the
                               * end); 0: only those. Default 0 */
    uint64_t checkpoint_every; /* Checkpoint every N steps; 0: only the last. Default 0 */
    size_t keep;              /* Keep the last K checkpoints plus the best; 0: keep all.
                               * Default 0 */
    uint64_t seed;            /* Initialisation, split, batch order, dropout. Default 42 */
    /* MLP */
    size_t n_hidden;          /* Hidden layers, 0 .. ML_NN_MLP_MAX_HIDDEN. Default 1 */
    size_t hidden[ML_NN_MLP_MAX_HIDDEN]; /* Widths. Default {64} */
    /* Set transformer */
    const ml_otuvec *vectors;  /* Required for ML_TRAIN_SETTRANSFORMER; borrowed */
    ml_settransformer_config st; /* Sizes (d_in is taken from vectors; n_classes, has_grad,
                                  * max_* are set by the trainer). LoRA fields: lora_rank > 0
                                  * trains adapters (needs init_path). Default the small
                                  * variant: d_model 20, 3 layers, 5 heads, d_ff 80 */
    size_t max_otus;          /* Most OTUs per sample's set (most abundant kept). Default 256 */
    const char *init_path;    /* Base weights (safetensors, upstream names); NULL: random.
                               * A MANIFEST beside it is verified first. Default NULL */
    const char *init_name;    /* What adapter_config.json calls the base model
                               * (base_model_name_or_path); never an absolute path. NULL: the
                               * file name of init_path */
    /* Run */
    bool resume;              /* Continue the run in run_dir from its last checkpoint that
                               * verifies; a folder without a run store starts one. */
    ml_verify_options verify; /* How checkpoints (resume) and --init are verified */
    const char *config_json;  /* The resolved configuration (JSON object) stored with the run;
                               * on resume it must equal the stored one. Required */
    const char *info_json;    /* Host-independent facts for the run row; NULL: "{}" */
    volatile sig_atomic_t *stop; /* Polled after each step: nonzero finishes the step, writes a
                                  * checkpoint and returns with result.interrupted. NULL: none */
    void (*progress)(void *ctx, size_t done, size_t total); /* steps; NULL: none */
    void *progress_ctx;
    /* Collectors */
    unsigned collect;         /* ML_COLLECT_* bits. Default ML_COLLECT_DEFAULT. Example
                               * ML_COLLECT_ALL; 0 writes no metric (trainer_state.json's
                               * log_history still has loss, learning rate, grad_norm) */
    uint64_t collect_every;   /* Steps between collections (>= 1): steps s with s % N == 0 (s
                               * counts from 1) get the per-tensor, LoRA, activation, memory and
                               * time metrics; loss, learning_rate and grad_norm come every
                               * step. Default 10 */
    unsigned snapshot;        /* ML_SNAPSHOT_* bits; 0: none (default). lora needs LoRA */
    uint64_t snapshot_every;  /* Steps between snapshots (>= 1), as collect_every. Default 100 */
} ml_train_options;

#define ML_TRAIN_OPTIONS_INIT                                                                \
    {ML_TRAIN_OPTIONS_VERSION, ML_TRAIN_MLP, 0, 1, 32, 1e-3, ML_OPTIM_CONFIG_INIT,            \
     ML_SCHEDULE_CONSTANT, 0, 0.0, 0.2, 0, 0, 0, 42, 1, {64}, NULL,                           \
     {ML_SETTRANSFORMER_CONFIG_VERSION, 384, 20, 3, 5, 80, 0, 4096, 1024, 256, 1, 0, 16.0f,    \
      ML_LORA_Q | ML_LORA_V, 0.0f, 0},                                                           \
     256, NULL, NULL, false, ML_VERIFY_OPTIONS_INIT, NULL, NULL, NULL, NULL, NULL,              \
     ML_COLLECT_DEFAULT, 10, 0, 100}

/* What a run did. */
typedef struct ml_train_result {
    uint64_t start_step;     /* 0, or the checkpoint step a resumed run continued from */
    uint64_t steps;          /* steps completed in total */
    uint64_t total_steps;
    size_t n_train, n_val, n_classes, n_features; /* n_features: model inputs (d_in) */
    double last_loss;        /* training loss of the last step; NaN if none ran */
    double val_loss, val_auc; /* at the end; NaN without validation (AUC: binary only) */
    bool interrupted;        /* stopped by *stop */
    char last_checkpoint[64]; /* relative to run_dir, e.g. "checkpoints/step-0000300" */
    char best_checkpoint[64]; /* "" when there is no validation */
} ml_train_result;

/* ^Trains on the labelled samples of t (classes and groups from j) and writes the run into
 * run_dir (run.sqlite, checkpoints/). Validation samples are chosen from the seed: by group
 * when j has groups (no group on both sides), stratified by class otherwise.
 * Same inputs, options and seed give bit-identical weights; a resumed run ends with the
 * weights an uninterrupted one has.
 * ^ML_EINVAL naming the option for bad options, fewer than 2 classes, an empty training
 * split, a run store already in run_dir without resume, a config differing from the stored
 * one on resume; ML_EINTEGRITY when --init's MANIFEST does not verify; the loaders' errors
 * for --init; ML_EIO for the run folder. On failure after the store was opened the run's
 * status is 'failed'. result may be NULL; it is filled on success. */
ml_status ml_train(const char *run_dir, const ml_table *t, const ml_join *j,
                   const ml_train_options *o, ml_train_result *result);

/* ^Parses "mlp" or "settransformer"; ML_EINVAL otherwise. */
ml_status ml_train_model_parse(ml_train_model *out, const char *name);
/* ^"mlp", "settransformer"; "unknown" outside the enum. */
const char *ml_train_model_name(ml_train_model m);

/* ^Parses a --collect list into ML_COLLECT_* bits: "none", "all", "default", or names joined by
 * commas: loss, lr, grad, grad-cosine, weights, lora, activations, memory, time (repeats are
 * fine). ^ML_EINVAL for an empty list or item, or an unknown name; the message quotes it and
 * lists the valid names. *out untouched on failure. */
ml_status ml_collect_parse(unsigned *out, const char *list);
/* ^Parses a --snapshot list into ML_SNAPSHOT_* bits: "none", or lora, grads, weights joined by
 * commas. ^ML_EINVAL as ml_collect_parse. */
ml_status ml_snapshot_parse(unsigned *out, const char *list);

#ifdef __cplusplus
}
#endif
#endif
