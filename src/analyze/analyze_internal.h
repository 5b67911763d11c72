/* analyze_internal.h - what the files of src/analyze share: the run source's innards (metric
 * sets, checkpoint rows, notes), series arithmetic, the findings list and a text buffer. Each
 * analysis is a pure function from series (plain arrays) to its part of ml_analysis; none of
 * them reads a file. */
#ifndef ML_ANALYZE_INTERNAL_H
#define ML_ANALYZE_INTERNAL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/analyze.h"
#include "util/error.h"
#include "util/strmap.h"

/* ---- Metric sets (source.c) ----------------------------------------------------------------- */

/* One metric's points, owned. After ml__metric_set_finish: sorted by step, one point per step
 * (the first one logged is kept, as in the run store). */
typedef struct ml__metric {
    char *name;
    size_t n, cap;
    int64_t *steps;
    double *values;
    double *wall_times; /* NaN where the origin has no wall time (HF log_history) */
} ml__metric;

typedef struct ml__metric_set {
    ml__metric *m;     /* sorted by name after finish */
    size_t n, cap;
    ml__strmap index;  /* name -> position in m; keys borrowed from m[i].name (stable) */
    size_t n_duplicates; /* (name, step) pairs dropped by finish */
} ml__metric_set;

/* ^Appends (step, value, wall_time) to the metric called name (created on first use).
 * ML_ENOMEM; the set is unchanged on failure. */
ml_status ml__metric_set_add(ml__metric_set *s, const char *name, int64_t step, double value,
                             double wall_time);
/* ^Sorts metrics by name and each series by step (stable), dropping repeated steps (first
 * kept, counted in n_duplicates). Rebuilds no index: the set is read-only afterwards. */
ml_status ml__metric_set_finish(ml__metric_set *s);
void ml__metric_set_free(ml__metric_set *s);

/* ---- Hugging Face trainer_state.json (hf.c) ------------------------------------------------ */

/* What one trainer_state.json holds that an analysis uses. */
typedef struct ml__hf_state {
    ml__metric_set metrics;   /* log_history: numeric keys as series (docs/analyze.md) */
    int64_t global_step;      /* -1 when absent */
    json_t *meta;             /* global_step, max_steps, num_train_epochs, best_metric,
                               * best_model_checkpoint (folder name only), train_summary */
    char *best_checkpoint;    /* folder name of best_model_checkpoint; NULL when absent */
    char **notes;             /* ignored keys, sentinel values; one sentence each */
    size_t n_notes;
} ml__hf_state;

/* Largest trainer_state.json read: a log entry is ~120 bytes, so 256 MiB holds two million
 * logged steps, far beyond any run's logging while bounding a hostile file. */
#define ML__HF_STATE_MAX_BYTES (256u * 1024u * 1024u)

/* ^Parses trainer_state.json text (NaN, Infinity and -Infinity accepted as Python's json
 * writes them). name is the file's name for messages. ^ML_EFORMAT "name: field: what
 * (expected)" for text that is not JSON, log_history that is not an array of objects, a step
 * that is not a non-negative integer, top-level fields of the wrong type; ML_ENOMEM.
 * *out untouched on failure; free with ml__hf_state_free. */
ml_status ml__hf_state_parse(ml__hf_state *out, const char *text, size_t len, const char *name);
void ml__hf_state_free(ml__hf_state *st);

/* ^Checks that an adapter_config.json is a JSON object whose peft_type, r, lora_alpha,
 * use_rslora, rank_pattern and alpha_pattern (when present) have PEFT's types; *is_lora says
 * whether it describes LoRA (peft_type absent or "LORA"). ML_EFORMAT "path: field: what
 * (expected)"; the file reader's errors. */
ml_status ml__hf_adapter_config_check(const char *path, bool *is_lora);

/* Opens PATH as a Hugging Face Trainer folder into s (kind, checkpoints, metrics, notes,
 * meta). ML_ENOTFOUND when PATH has no checkpoint-N folder and no trainer_state.json. */
ml_status ml__hf_open(ml_run_source *s);

/* ---- The run source (source.c) -------------------------------------------------------------- */

struct ml_run_source {
    ml_run_source_kind kind;
    char *path;
    ml__metric_set metrics;
    const char **names;          /* (metrics.n) borrowed from metrics */
    ml_run_checkpoint *ckpts;    /* (n_ckpts) by increasing step */
    char **ckpt_names;           /* (n_ckpts) folder relative to path, e.g. "checkpoint-10" */
    size_t n_ckpts, cap_ckpts;
    ml_event_row *events;        /* (n_events) texts owned */
    size_t n_events;
    char **notes;
    size_t n_notes, cap_notes;
    json_t *meta;                /* owned */
    char *status;                /* microlens runs: the run row's status; NULL for HF */
};

/* ^Appends a note (printf-style); control characters become '?'. ML_ENOMEM. */
ml_status ml__source_note(ml_run_source *s, const char *fmt, ...) ML_PRINTF(2, 3);
/* ^Appends a checkpoint row; dir, weights and adapter_config are copied (NULL stays NULL),
 * name is the folder relative to the source's path. ML_ENOMEM. */
ml_status ml__source_add_checkpoint(ml_run_source *s, const ml_run_checkpoint *c,
                                    const char *name);
/* ^Sorts checkpoints by step (after the opener added them in folder order). */
void ml__source_sort_checkpoints(ml_run_source *s);
/* ^The folder name (relative to the source's path) of checkpoint i. */
const char *ml__source_checkpoint_name(const ml_run_source *s, size_t i);
/* ^"dir/name" in fresh memory, NULL on allocation failure. */
char *ml__path_join(const char *dir, const char *name);
/* ^True when path names an existing regular file (following links). */
bool ml__is_file(const char *path);
/* ^The first weights file of a checkpoint folder: adapter_model.safetensors, then
 * model.safetensors; NULL when neither exists. *is_adapter says which. Allocated. */
ml_status ml__find_weights(const char *dir, char **weights, char **adapter_config,
                           bool *is_adapter);
/* ^Names every pickled file of dir in one note ("NAME: pickled files skipped, never
 * opened: ..., with how to convert them"); nothing when there are none. */
ml_status ml__note_pickles(ml_run_source *s, const char *dir, const char *name);

/* ---- Series arithmetic (series.c) ------------------------------------------------------------ */

/* Finite points of a series, copied: the analyses skip NaN and infinities except where they
 * count them. */
typedef struct ml__points {
    size_t n;
    int64_t *steps;
    double *values;
} ml__points;

ml_status ml__points_finite(ml__points *out, const ml_series *s);
void ml__points_free(ml__points *p);

double ml__mean(const double *x, size_t n);   /* NaN for n = 0 */
double ml__stddev(const double *x, size_t n); /* population; 0 for n < 2 */
/* ^Median of x (copied, x untouched); NaN for n = 0. ML_ENOMEM. */
ml_status ml__median(const double *x, size_t n, double *out);
/* ^Least-squares slope of y over x (steps); NaN when fewer than 2 points or x constant. */
double ml__slope(const int64_t *x, const double *y, size_t n);
/* ^out[i] = mean of x[max(0, i - w + 1) .. i] (trailing moving average). */
void ml__trailing_mean(double *out, const double *x, size_t n, size_t w);
/* ^out[i] = median of the up-to-w values before x[i] (x[i - w] .. x[i - 1]); NaN for i = 0.
 * ML_ENOMEM. */
ml_status ml__running_median_before(double *out, const double *x, size_t n, size_t w);
/* ^Index of the first element with steps[i] >= step (n when none). */
size_t ml__lower_bound(const int64_t *steps, size_t n, int64_t step);
/* ^The points of s with first <= step <= last, as a view into s. */
ml_series ml__series_window(const ml_series *s, int64_t first, int64_t last);
/* ^Number of points of the "edge" windows (initial / final means): 10% of n, at least 1 and
 * at most ML__EDGE_MAX_POINTS. */
size_t ml__edge_points(size_t n);

/* The initial and final values of a loss are means over the first / last 10% of its points
 * (at least 1, at most this many): enough to average minibatch noise out, few enough that
 * "final" still describes the end of a long run. */
#define ML__EDGE_MAX_POINTS 50

/* ---- Findings (diagnose.c) ------------------------------------------------------------------ */

typedef struct ml__findings {
    ml_finding *f;
    size_t n, cap;
} ml__findings;

/* ^Appends one finding; title, evidence and recommendation are formatted into fresh strings
 * (evidence and recommendation from one format each, passed as va_lists). ML_ENOMEM. */
ml_status ml__finding_add(ml__findings *fs, const char *code, ml_severity sev, int64_t step,
                          const char *title, const char *recommendation,
                          const char *evidence_fmt, ...) ML_PRINTF(7, 8);
void ml__findings_free(ml__findings *fs);

/* Facts about the run that are not series (the store's status, its last error event). */
typedef struct ml__run_facts {
    const char *status;       /* "completed", "failed", ...; NULL for HF folders */
    const char *last_error;   /* text of the last error event; NULL when none */
    int64_t last_error_step;
    bool window_has_start;    /* the analysed window holds the run's first logged step: a
                               * window that starts later may well show no progress */
} ml__run_facts;

/* ^Derives the findings from the analysis parts already filled in a, then the score and the
 * verdict (docs/analyze.md, "Verdict"). Sets a->findings, n_findings, score, verdict. */
ml_status ml__diagnose(ml_analysis *a, const ml__run_facts *facts);

/* ---- The analyses --------------------------------------------------------------------------- */

/* ^loss.c: from the "loss" series (NULL: absent). ML_ENOMEM. */
ml_status ml__loss_analyze(ml_loss_analysis *out, const ml_series *loss);

/* One checkpoint as the overfitting analysis sees it. */
typedef struct ml__ckpt_ref {
    int64_t step;
    const char *name;
    bool deleted;
} ml__ckpt_ref;

/* ^overfit.c: from "eval_loss" and "loss" (either may be NULL) and the checkpoints.
 * best_checkpoint is copied. ML_ENOMEM. */
ml_status ml__overfit_analyze(ml_overfit_analysis *out, const ml_series *eval,
                              const ml_series *loss, const ml__ckpt_ref *ckpts, size_t n_ckpts);
void ml__overfit_free(ml_overfit_analysis *o);

/* A named family of series: grad_norm/<tensor>, weight_norm/<tensor>, ... */
typedef struct ml__named_series {
    const char *name;   /* the part after the prefix */
    ml_series series;
} ml__named_series;

/* Inputs of the gradient analysis; any series may be NULL (absent). */
typedef struct ml__gradient_inputs {
    const ml_series *norm;        /* grad_norm */
    const ml_series *loss;        /* loss: NaN / inf steps count as non-finite */
    const ml_series *nonfinite;   /* grad/nonfinite_fraction */
    const ml_series *cosine;      /* grad/cosine_prev */
    const ml__named_series *tensors; /* grad_norm/<tensor> */
    size_t n_tensors;
} ml__gradient_inputs;

/* ^gradient.c. Tensor names are copied. ML_ENOMEM. */
ml_status ml__gradient_analyze(ml_gradient_analysis *out, const ml__gradient_inputs *in);
void ml__gradient_free(ml_gradient_analysis *g);

/* ^weights.c: weight_norm/<tensor> series, and update_ratio/<tensor> (matched by name). */
ml_status ml__weights_analyze(ml_weight_analysis *out, const ml__named_series *norms,
                              size_t n_norms, const ml__named_series *ratios, size_t n_ratios);
void ml__weights_free(ml_weight_analysis *w);

/* ^lrsched.c: from "learning_rate" (NULL: absent). ML_ENOMEM. */
ml_status ml__lr_analyze(ml_lr_analysis *out, const ml_series *lr);

/* ^evolution.c: spectra of every adapter checkpoint in [first, last] (deleted ones skipped),
 * cosines with the first and previous. Errors of the LoRA readers, prefixed with the
 * checkpoint's folder. *has_lora false (and out zeroed) when no checkpoint has an adapter. */
ml_status ml__lora_evolution(ml_lora_evolution *out, bool *has_lora, const ml_run_source *s,
                             int64_t first, int64_t last);
void ml__lora_evolution_free(ml_lora_evolution *e);

/* ---- Text (textbuf.c) ----------------------------------------------------------------------- */

/* A growable NUL-terminated string; the first allocation failure is sticky. */
typedef struct ml__textbuf {
    char *s;
    size_t len, cap;
    bool failed;
} ml__textbuf;

void ml__textbuf_printf(ml__textbuf *b, const char *fmt, ...) ML_PRINTF(2, 3);
void ml__textbuf_vprintf(ml__textbuf *b, const char *fmt, va_list ap) ML_PRINTF(2, 0);
/* ^Hands the string over (caller frees with free); ML_ENOMEM (buffer freed) if any append
 * failed. */
ml_status ml__textbuf_take(ml__textbuf *b, char **out);
/* ^Makes s one line of valid UTF-8 in place: control characters become spaces, bytes that
 * do not form UTF-8 (a character cut by a precision) become '?'. */
void ml__text_clean(char *s);
/* ^Formats into fresh memory; NULL on allocation failure. */
char *ml__strdup_printf(const char *fmt, ...) ML_PRINTF(1, 2);

#endif
