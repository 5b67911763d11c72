/* trainer.h - state shared by the training loop (train.c), its data preparation (data.c) and
 * its checkpoints (checkpoint.c); nothing outside src/train/ sees it. */
#ifndef ML_TRAIN_TRAINER_H
#define ML_TRAIN_TRAINER_H

#include <jansson.h>
#include <stdint.h>

#include "microlens/runstore.h"
#include "microlens/train.h"

/* Checkpoint folder names: "step-" + 7 digits, as HF's "checkpoint-N" but sortable. */
#define ML__CKPT_NAME_FMT "step-%07" PRIu64
#define ML__CKPT_DIR "checkpoints"

typedef struct ml__trainer {
    const ml_train_options *o;
    const ml_table *t;
    char *run_dir;
    ml_runstore *rs;
    /* data: table rows of each split, and per table sample its class (-1: not used) */
    int *y;
    size_t *train, *val, n_train, n_val, n_classes, n_features;
    float *X;          /* MLP: (n_samples, n_features) CLR features, rows of unused samples 0 */
    size_t *tok_off;   /* set transformer: (n_samples + 1) offsets into tok_feat */
    uint32_t *tok_feat; /* feature index of each OTU row of each sample's set */
    json_t *preprocess; /* preprocess.json (train/preprocess.h): data.c builds, checkpoints copy */
    /* batch scratch */
    size_t *perm;      /* (n_train) order of the current epoch */
    uint64_t perm_epoch;
    float *bx;         /* (batch * max rows per sample, d_in) */
    int *by;
    size_t *boff;
    double *eval_score; /* (n_val) */
    int *eval_y;
    /* model and optimizer */
    ml_mlp *mlp;
    ml_settransformer *st;
    ml_optim *opt;
    ml_lr_schedule sched;
    /* progress */
    uint64_t step, total_steps, steps_per_epoch;
    json_t *history;   /* HF-style log_history */
    double best_loss;  /* lowest validation loss at a checkpoint; INFINITY: none */
    char best_ckpt[64];
    double last_val_loss, last_val_auc;
    /* collectors (collect.c) and snapshots (snapshot.c); NULL when none is selected */
    struct ml__collector *collector;
    struct ml__snapshot *snapshot;
} ml__trainer;

/* data.c: splits, features or sets, batch assembly and validation. */
ml_status ml__train_data_prepare(ml__trainer *tr, const ml_join *j);
void ml__train_data_free(ml__trainer *tr);
/* Fills the batch of step tr->step; *n its sample count. */
ml_status ml__train_batch(ml__trainer *tr, size_t *n);
/* Validation loss and (binary) ROC-AUC; NaN when there is no validation split. */
ml_status ml__train_evaluate(ml__trainer *tr, double *loss, double *auc);

/* checkpoint.c */
ml_status ml__ckpt_write(ml__trainer *tr, bool is_best);
ml_status ml__ckpt_retain(ml__trainer *tr);
/* Finds the newest listed checkpoint that verifies and loads model, optimizer and state from
 * it; *found 0 when the run has no checkpoint row. */
ml_status ml__ckpt_resume(ml__trainer *tr, int *found);
/* Removes leftovers of an interrupted checkpoint write (checkpoints/.tmp-*). */
ml_status ml__ckpt_clean_tmp(ml__trainer *tr);

/* Model tensors, model-independent. */
size_t ml__trainer_n_tensors(ml__trainer *tr);
ml_status ml__trainer_tensor(ml__trainer *tr, size_t i, ml_nn_tensor *out);

#endif
