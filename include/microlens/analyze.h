/* analyze.h - Training Lens: what a finished (or running) training run did, read from a
 * microlens run folder or a Hugging Face Trainer output folder. A run source gives metric
 * series and checkpoints whatever the origin; analyses are pure functions of a source to a
 * result with a JSON form; LoRA spectra are computed from the thin factors, never the dense
 * product. Rules, thresholds and metric names: docs/analyze.md.
 *
 * Metric names (written by the collectors of train.h, read here; HF log_history keys map to
 * the same names):
 *   loss, eval_loss, eval_roc_auc, learning_rate, grad_norm (global L2, before clipping),
 *   grad/cosine_prev, grad/nonfinite_fraction, time/step_seconds, memory/peak_rss_bytes,
 *   grad_norm/<tensor>, weight_norm/<tensor>, update_ratio/<tensor>,
 *   lora/<module>/A_norm, lora/<module>/B_norm, lora/<module>/BA_norm,
 *   lora/<module>/A_grad_norm, lora/<module>/B_grad_norm,
 *   act/<layer>/mean, act/<layer>/std, act/<layer>/max_abs, act/<layer>/zero_fraction.
 * <tensor> is the PyTorch state-dict name; <module> the adapted module's name, i.e. the LoRA
 * tensor name before ".lora_A.weight". */
#ifndef MICROLENS_ANALYZE_H
#define MICROLENS_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "microlens/runstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Run sources -------------------------------------------------------------------------- */

typedef enum ml_run_source_kind {
    ML_RUN_SOURCE_MICROLENS = 0, /* RUN_DIR with run.sqlite (and checkpoints/step-NNNNNNN/) */
    ML_RUN_SOURCE_HF_TRAINER = 1 /* output_dir with checkpoint-N/trainer_state.json */
} ml_run_source_kind;

typedef struct ml_run_source ml_run_source;

/* One checkpoint folder of a run, whichever its origin. Paths are as opened (PATH joined with
 * the folder name), borrowed from the source. */
typedef struct ml_run_checkpoint {
    int64_t step;
    const char *dir;            /* the checkpoint folder */
    const char *weights;        /* adapter_model.safetensors or model.safetensors inside dir;
                                 * NULL when the folder has neither (or only pickled files) */
    const char *adapter_config; /* adapter_config.json inside dir, NULL when absent */
    bool is_adapter;            /* weights is a LoRA adapter (PEFT layout) */
    bool is_best;               /* the run's best checkpoint (store mark, or HF
                                 * best_model_checkpoint) */
    bool deleted;               /* listed by the store but removed by retention */
} ml_run_checkpoint;

/* ^Opens PATH as a microlens run folder (it holds run.sqlite, opened read-only) or as a Hugging
 * Face Trainer output folder (checkpoint-N/ folders; the newest trainer_state.json that parses
 * gives the log history, every folder a checkpoint row). PATH may also be one checkpoint-N
 * folder. Pickled weights (.bin, .pt, .pth, .pkl, .ckpt) are never opened: each is named in the
 * source's notes with how to convert it (safetensors). Everything is read at open: the source
 * holds no file open afterwards.
 * ^ML_ENOTFOUND: PATH holds neither layout (the message says what was looked for). ML_EFORMAT:
 * "FILE: field: what (expected)" for a malformed trainer_state.json or adapter_config.json.
 * The run store's errors. *out untouched on failure. */
ml_status ml_run_source_open(ml_run_source **out, const char *path);
void ml_run_source_free(ml_run_source *s); /* NULL: no-op */

ml_run_source_kind ml_run_source_get_kind(const ml_run_source *s);
const char *ml_run_source_path(const ml_run_source *s); /* as given to open */

/* ^Metric names present, sorted bytewise; lent until free. */
void ml_run_source_metric_names(const ml_run_source *s, const char *const **names, size_t *n);

/* ^The series of metric name restricted to [first_step, last_step] (ML_RUNSTORE_LAST_STEP for
 * the end), lent until free. ^ML_ENOTFOUND when no metric has that name. */
ml_status ml_run_source_series(const ml_run_source *s, const char *name, int64_t first_step,
                               int64_t last_step, ml_series *out);

/* ^Checkpoints by increasing step, lent until free. */
void ml_run_source_checkpoints(const ml_run_source *s, const ml_run_checkpoint **rows, size_t *n);

/* ^Events by step (a HF folder has none), lent until free. */
void ml_run_source_events(const ml_run_source *s, const ml_event_row **rows, size_t *n);

/* ^Notes the opener made (pickled files skipped, unreadable checkpoints, history keys
 * ignored), one sentence each, lent until free. */
void ml_run_source_notes(const ml_run_source *s, const char *const **notes, size_t *n);

/* ^Run metadata as a JSON object: kind, path, and for microlens runs id, status, seed,
 * code_version, dataset_sha256, started_at, ended_at, config (object); for HF folders
 * global_step, max_steps, num_train_epochs, best_model_checkpoint (folder name only),
 * best_metric when present. Never host or user names. Caller frees with ml_free. */
ml_status ml_run_source_meta_json(const ml_run_source *s, char **json);

/* ---- LoRA spectra --------------------------------------------------------------------------- */

/* The update W = (alpha/r)·B·A of one adapted module at one checkpoint. */
typedef struct ml_lora_spectrum {
    const char *module;   /* e.g. "base_model.model.transformer.h.0.attn.c_attn" */
    size_t rank;          /* r (rows of A) */
    size_t d_out, d_in;   /* B is (d_out, r), A is (r, d_in) */
    double scale;         /* alpha / r (rank_pattern / alpha_pattern honoured) */
    double *sigma;        /* rank singular values of W, descending */
    double frob_sq;       /* ||W||_F^2 = sum sigma^2 ("energy") */
    double effective_rank; /* exp(-sum p log p), p = sigma^2 / sum sigma^2 (Roy & Vetterli
                            * 2007, on the energy distribution); 0 when W = 0 */
    double stable_rank;   /* ||W||_F^2 / sigma_max^2; 0 when W = 0 */
    double utilisation;   /* effective_rank / rank */
    double condition;     /* sigma_max / sigma_min over sigma > 0 (INFINITY if sigma_min = 0
                           * while sigma_max > 0, NaN when W = 0) */
    double energy_share;  /* frob_sq / sum over modules of this checkpoint */
} ml_lora_spectrum;

typedef struct ml_lora_spectra {
    size_t n_modules;
    ml_lora_spectrum *modules; /* sorted by module name */
    double hhi;                /* Herfindahl-Hirschman index of energy_share over modules:
                                * 1/n_modules (even) .. 1 (all energy in one module) */
} ml_lora_spectra;

/* ^Spectra of every module of a PEFT adapter: adapter_model.safetensors (F32, F16 or BF16 lora_A
 * / lora_B pairs) and its adapter_config.json (r, lora_alpha, rank_pattern, alpha_pattern,
 * use_rslora: scale alpha/sqrt(r)). config_path NULL: alpha = r (scale 1). Singular values come
 * from thin QR of B and A^T and an SVD of the r x r product of the R factors (LAPACK), never
 * from B·A. ^ML_EFORMAT naming the file and tensor for a lora_A without lora_B, shapes that do
 * not chain, non-finite values; the readers' errors. *out untouched on failure; free with
 * ml_lora_spectra_free. */
ml_status ml_lora_spectra_compute(ml_lora_spectra **out, const char *weights_path,
                                  const char *config_path);
void ml_lora_spectra_free(ml_lora_spectra *s); /* NULL: no-op */

/* ^<W1, W2>_F / (||W1||_F ||W2||_F) of one module's updates in two adapters, computed as
 * sum((s1 B1^T B2) .* (s2 A1 A2^T)) without forming either product; NaN if either is zero or
 * the module is missing or shaped differently in one of them. */
ml_status ml_lora_update_cosine(const char *weights1, const char *config1, const char *weights2,
                                const char *config2, const char *module, double *cosine);

/* ---- Analyses --------------------------------------------------------------------------------- */

typedef enum ml_severity {
    ML_SEVERITY_INFO = 0,  /* worth knowing, nothing wrong */
    ML_SEVERITY_WARNING,   /* hurts the result; fix when convenient */
    ML_SEVERITY_CRITICAL   /* the run is broken or wasted; fix before trusting it */
} ml_severity;

typedef enum ml_verdict {
    ML_VERDICT_EXCELLENT = 0,
    ML_VERDICT_GOOD,
    ML_VERDICT_MODERATE,
    ML_VERDICT_POOR
} ml_verdict;

/* ^"info"/"warning"/"critical" and "excellent"/"good"/"moderate"/"poor"; "unknown" outside. */
const char *ml_severity_name(ml_severity s);
const char *ml_verdict_name(ml_verdict v);

/* One diagnostic. Strings are owned by the analysis. */
typedef struct ml_finding {
    const char *code;           /* stable dotted id, e.g. "gradient.explosion", "overfitting" */
    ml_severity severity;
    const char *title;          /* one line */
    const char *evidence;       /* what was seen: steps and values */
    const char *recommendation; /* a concrete next action */
    int64_t step;               /* first step concerned; -1 when none */
} ml_finding;

typedef struct ml_loss_analysis {
    bool present;              /* a "loss" series with >= 2 finite points */
    size_t n_points;
    double initial, final, best; /* initial: mean of the first window; final: of the last */
    int64_t best_step;
    double reduction;          /* (initial - final) / |initial| */
    double smoothness;         /* 1 - mean |loss - its centred moving average| / mean |loss|,
                                * in [0, 1] (1: no minibatch noise); docs/analyze.md */
    bool plateau;              /* the recent window changed less than the plateau rule */
    int64_t plateau_step;      /* where the current plateau began; -1 when none */
    bool converged;            /* convergence rule met */
    int64_t converged_step;    /* first step at which the rule held and kept holding; -1 */
} ml_loss_analysis;

typedef struct ml_overfit_analysis {
    bool present;              /* an "eval_loss" series with >= 2 points */
    double best_eval_loss;
    int64_t best_eval_step;
    const char *best_checkpoint; /* folder of the checkpoint nearest best_eval_step at or
                                  * before it; NULL when none */
    double train_slope, eval_slope; /* least-squares slopes per 1000 steps over the window
                                     * after best_eval_step */
    double first_eval_loss, final_eval_loss; /* first and last finite eval_loss */
    double gap;                /* final eval_loss - final train loss */
    bool overfitting;          /* eval rises while train falls (docs) */
    int64_t divergence_step;   /* step eval started rising; -1 when not overfitting */
    int64_t early_stop_step;   /* advice: stop here (best_eval_step + patience); -1 none */
} ml_overfit_analysis;

typedef struct ml_tensor_flow {
    const char *name;          /* tensor (grad_norm/<tensor>) */
    double mean_grad_norm;     /* over the analysed steps */
    double share;              /* of the sum of mean norms over tensors */
    bool dead;                 /* gradient norm ~0 at every step (docs) */
} ml_tensor_flow;

typedef struct ml_gradient_analysis {
    bool present;              /* a "grad_norm" series */
    double median_norm, max_norm;
    int64_t max_norm_step;
    size_t n_spikes;           /* norm > ratio x running median */
    int64_t first_spike_step;  /* -1 */
    double first_spike_norm;   /* the norm at first_spike_step; NaN when none */
    double first_spike_median; /* the running median it was compared with; NaN when none */
    size_t n_nonfinite;        /* steps with a non-finite norm (or nonfinite_fraction > 0) */
    int64_t first_nonfinite_step; /* -1 */
    bool vanishing;            /* median norm below the vanishing floor */
    bool has_cosine;           /* a grad/cosine_prev series */
    double cosine_mean, cosine_std; /* consistency of successive gradients */
    size_t n_tensors;
    ml_tensor_flow *tensors;   /* by decreasing share */
    /* Every step the spike rule flagged, in step order (n_spike_steps == n_spikes): the step and
     * its norm. Owned by the analysis (freed by ml_analysis_free); NULL when there is none. */
    size_t n_spike_steps;
    int64_t *spike_steps;      /* (n_spike_steps) */
    double *spike_norms;       /* (n_spike_steps) */
    double spike_ratio;        /* the rule's K: a spike is a norm > K x the running median */
} ml_gradient_analysis;

typedef struct ml_tensor_stability {
    const char *name;          /* tensor (weight_norm/<tensor>) */
    double cv;                 /* sd / mean of the weight norm */
    size_t n_change_points;    /* docs: CUSUM rule */
    int64_t first_change_step; /* -1 */
    double max_jump;           /* largest |relative change| per step between two collected
                                * points (a change over k steps counts 1/k per step) */
    int64_t max_jump_step;
    double final_update_ratio; /* last update_ratio/<tensor>; NaN when not collected */
} ml_tensor_stability;

typedef struct ml_weight_analysis {
    bool present;              /* any weight_norm/ series */
    size_t n_tensors;
    ml_tensor_stability *tensors; /* sorted by name */
} ml_weight_analysis;

typedef enum ml_lr_schedule_shape {
    ML_LR_SHAPE_UNKNOWN = 0,
    ML_LR_SHAPE_CONSTANT,
    ML_LR_SHAPE_LINEAR,        /* linear decay */
    ML_LR_SHAPE_COSINE,
    ML_LR_SHAPE_STEP,          /* piecewise constant drops */
    ML_LR_SHAPE_EXPONENTIAL
} ml_lr_schedule_shape;
const char *ml_lr_schedule_shape_name(ml_lr_schedule_shape s); /* "constant", ... */

typedef struct ml_lr_analysis {
    bool present;              /* a "learning_rate" series */
    ml_lr_schedule_shape shape; /* after the warm-up */
    int64_t warmup_steps;      /* 0 when none */
    double initial, peak, final;
    double fit_rmse;           /* relative RMS error of the detected shape's fit */
} ml_lr_analysis;

/* LoRA over checkpoints: one row per (checkpoint, module). */
typedef struct ml_lora_evolution {
    size_t n_checkpoints;
    int64_t *steps;            /* (n_checkpoints) */
    ml_lora_spectra **spectra; /* (n_checkpoints) */
    double *cos_first;         /* (n_checkpoints x n_modules of spectra[0]): cosine of each
                                * module's update with the first checkpoint's; NaN: n/a */
    double *cos_prev;          /* same, with the previous checkpoint's */
} ml_lora_evolution;

typedef struct ml_analysis {
    ml_verdict verdict;
    double score;              /* 0..100 behind the verdict (docs) */
    int64_t first_step, last_step; /* the analysed window */
    ml_loss_analysis loss;
    ml_overfit_analysis overfit;
    ml_gradient_analysis gradient;
    ml_weight_analysis weights;
    ml_lr_analysis lr;
    bool has_lora;
    ml_lora_evolution lora;
    size_t n_findings;
    ml_finding *findings;      /* by decreasing severity, then step */
} ml_analysis;

#define ML_ANALYZE_OPTIONS_VERSION 1
typedef struct ml_analyze_options {
    int version;               /* ML_ANALYZE_OPTIONS_VERSION */
    int64_t first_step;        /* default 0 */
    int64_t last_step;         /* default ML_RUNSTORE_LAST_STEP */
    bool lora;                 /* compute LoRA spectra from checkpoints; default true */
} ml_analyze_options;
#define ML_ANALYZE_OPTIONS_INIT {ML_ANALYZE_OPTIONS_VERSION, 0, ML_RUNSTORE_LAST_STEP, true}

/* ^Runs every analysis on the source. A series that is absent leaves its part with
 * present = false (no finding invented). ^ML_EINVAL for bad options; LoRA readers' errors name
 * the checkpoint. *out untouched on failure; free with ml_analysis_free. */
ml_status ml_analyze(ml_analysis **out, const ml_run_source *s, const ml_analyze_options *o);
void ml_analysis_free(ml_analysis *a); /* NULL: no-op */

/* ^The analysis as one JSON object (verdict, score, window, loss, convergence, overfitting,
 * gradients, weights, learning_rate, lora, findings[]), with the source's meta under "run" and
 * its notes under "notes". NaN and infinities are written as null. Caller frees with ml_free. */
ml_status ml_analysis_json(const ml_analysis *a, const ml_run_source *s, char **json);

/* ^The same as human-readable text (verdict first, then findings, then the numbers). */
ml_status ml_analysis_text(const ml_analysis *a, const ml_run_source *s, char **text);

#ifdef __cplusplus
}
#endif
#endif
