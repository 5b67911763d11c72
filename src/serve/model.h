/* model.h - the loaded serving model, shared by model.c (verification, loading, info, reference
 * count) and predict.c (scoring request bodies with a pool of per-request workers). Internal
 * to src/serve/. */
#ifndef ML_SERVE_MODEL_H
#define ML_SERVE_MODEL_H

#include <stdatomic.h>
#include <stddef.h>

#include "microlens/evaluate.h"
#include "microlens/nn.h"
#include "microlens/otuvec.h"
#include "microlens/serve.h"
#include "train/preprocess.h"
#include "util/strmap.h"

/* Samples scored in one pass of a bundle or MLP (and the MLP's max_batch): bounds a worker's
 * buffers to CHUNK x n_features doubles whatever the request's size. */
#define ML__SERVE_CHUNK 64
/* Sets in one set-transformer forward: its buffers hold this many x max_otus OTU vectors. */
#define ML__SERVE_SET_CHUNK 16
/* "sha256:" + 64 hex digits + NUL */
#define ML__SERVE_SHA256_SIZE 72

typedef enum ml__serve_kind {
    ML__SERVE_BUNDLE = 0,     /* evaluate --save-model: transform + scaler + classifier */
    ML__SERVE_MLP,            /* train checkpoint: CLR + scaler (preprocess.json) -> ml_mlp */
    ML__SERVE_SETTRANSFORMER  /* train checkpoint: sets of OTU vectors -> ml_settransformer */
} ml__serve_kind;

typedef struct ml__serve_pool ml__serve_pool; /* predict.c */

struct ml_serve_model {
    atomic_size_t refs;
    ml__serve_kind kind;
    const ml_pseudonym_key *key; /* borrowed from the options */
    size_t max_samples;
    char sha256[ML__SERVE_SHA256_SIZE];
    char *info_json;             /* GET /v1/model's body, made at load */
    size_t n_classes;
    char **classes;              /* (n_classes) names, in the model's output order */
    char **class_json;           /* (n_classes) the names as JSON strings, quotes included */
    int has_probability;         /* 0: bundles whose score is a decision value (svm) */
    double threshold;            /* positive when the score is above it (bundles, binary) */
    /* bundle and MLP: the features, by ID */
    size_t n_inputs;             /* model inputs (columns); set transformer: vector length */
    ml__strmap index;            /* feature ID -> input column; keys borrowed from below */
    ml_model_bundle *bundle;
    ml__preprocess pp;           /* train checkpoints: classes, MLP transform, vectors' facts */
    ml_mlp *mlp;                 /* the weights; workers hold copies (ml_mlp has activations) */
    ml_settransformer *st;       /* the weights; workers share them (new_shared) */
    char *lora_base;             /* LoRA checkpoints: the base weights' file name; else NULL */
    ml_otuvec *vectors;          /* set transformer: OTU ID -> input row */
    size_t max_otus;
    ml__serve_pool *pool;
};

/* lora.c: what serving takes from a LoRA checkpoint's adapter_config.json. */
typedef struct ml__serve_lora_config {
    size_t r;
    float alpha, dropout;
    unsigned targets;    /* ML_LORA_* bits of target_modules */
    char base_name[256]; /* base_model_name_or_path */
} ml__serve_lora_config;

/* lora.c: adapter_config.json's len bytes at text (name stands for the file in messages)
 * parsed as ml__serve_lora_load parses the file: peft_type LORA, r, lora_alpha, lora_dropout,
 * base_model_name_or_path and target_modules. Separate from the path so that the parser is
 * fuzzed on bytes (fuzz/fuzz_adapter_config.c). ML_EFORMAT naming the field; *out may be
 * partly written on failure. */
ml_status ml__serve_lora_config_parse(ml__serve_lora_config *out, const char *text, size_t len,
                                      const char *name);

/* lora.c: a LoRA checkpoint's set transformer (adapter_model.safetensors + adapter_config.json
 * in dir) over the base weights at base_path, which must carry the recorded name and verify
 * through the MANIFEST beside them (vo); built with sizes' batch limits, d_in and n_classes,
 * adapters merged. base_sha256 (preprocess.json's record; NULL for older checkpoints): the
 * base file must have this content, else ML_EINTEGRITY. *base_name (the recorded name) is the caller's to free. ML_EINVAL for
 * another base; ML_EINTEGRITY (ml_weights_verify, or no MANIFEST); ML_EFORMAT naming the file
 * and tensor; outputs untouched on failure. */
ml_status ml__serve_lora_load(ml_settransformer **out, const char *dir, const char *base_path,
                              const char *base_sha256, const ml_verify_options *vo,
                              const ml_settransformer_config *sizes, char **base_name);

/* predict.c: the worker pool, made at load (with one worker, so that sizes fail there). */
ml_status ml__serve_pool_new(ml_serve_model *m);
void ml__serve_pool_free(ml__serve_pool *p); /* NULL: no-op */

#endif
