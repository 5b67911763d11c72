/* export.h - a run's record written as files other tools read: CSV and JSON Lines (metrics in
 * long form, checkpoints, events, the analysis), NumPy .npy (one array per metric series and
 * per snapshot tensor) and TensorBoard event files (scalars, histograms of snapshot tensors).
 * It computes nothing new: values are the run store's (or a Hugging Face Trainer folder's)
 * and the analysis is ml_analyze's. Layout of each format, file naming and guarantees:
 * docs/export.md.
 *
 * Privacy: exports hold metric names and numbers, checkpoint folder names (relative to the
 * run), event texts, tensor names and values, and the analysis; never a raw sample ID, a host
 * or user name, or an absolute path. */
#ifndef MICROLENS_EXPORT_H
#define MICROLENS_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/analyze.h"
#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numbers are stable. */
typedef enum ml_export_format {
    ML_EXPORT_CSV = 0,     /* metrics.csv, checkpoints.csv, events.csv, findings.csv,
                            * analysis.json */
    ML_EXPORT_JSONL,       /* metrics.jsonl, checkpoints.jsonl, events.jsonl, analysis.jsonl */
    ML_EXPORT_NPY,         /* metrics/<name>.npy, snapshots/step-N/<tensor>.npy, index.csv */
    ML_EXPORT_TENSORBOARD  /* events.out.tfevents.<seconds>.localhost.microlens */
} ml_export_format;

/* ^"csv", "jsonl", "npy", "tensorboard"; "unknown" outside the enum. */
const char *ml_export_format_name(ml_export_format f);
/* ^Parses one of those names (exact case). ^ML_EINVAL naming the value and the choices;
 * *out untouched on failure. */
ml_status ml_export_format_parse(ml_export_format *out, const char *name);

#define ML_EXPORT_OPTIONS_VERSION 1
typedef struct ml_export_options {
    int version;              /* ML_EXPORT_OPTIONS_VERSION */
    ml_export_format format;  /* Default ML_EXPORT_CSV */
    const char *metrics;      /* fnmatch(3) pattern over metric names, flags 0 (so '*' also
                               * matches '/'), e.g. "loss" or "grad_norm/" followed by '*'.
                               * NULL: every metric. Does not filter snapshots, checkpoints or
                               * the analysis */
    bool snapshots;           /* npy and tensorboard: include RUN_DIR/snapshots/step-N.safetensors
                               * tensors (arrays; histograms). Default true */
    bool analysis;            /* csv and jsonl: run ml_analyze (defaults) on the whole run and
                               * write its JSON. Default true */
} ml_export_options;
#define ML_EXPORT_OPTIONS_INIT {ML_EXPORT_OPTIONS_VERSION, ML_EXPORT_CSV, NULL, true, true}

/* What an export wrote. */
typedef struct ml_export_result {
    size_t n_files;       /* regular files under out_dir */
    size_t n_metrics;     /* metric series exported */
    size_t n_points;      /* metric rows (csv/jsonl), array rows (npy) or scalar events */
    size_t n_checkpoints; /* checkpoint rows (csv/jsonl) */
    size_t n_snapshots;   /* snapshot files read (npy/tensorboard) */
    size_t n_tensors;     /* snapshot tensors written as arrays or histograms */
} ml_export_result;

/* ^Opens run_path with ml_run_source_open and exports it to out_dir (see ml_export_source).
 * ^The source's errors; then as ml_export_source. */
ml_status ml_export(const char *run_path, const char *out_dir, const ml_export_options *o,
                    ml_export_result *result);

/* ^Exports an open source to the folder out_dir, which must not exist or be an empty
 * directory: exports never overwrite. Everything is written into a temporary folder beside
 * out_dir (".<name>.tmp-XXXXXX" in its parent, every file fsynced) that is renamed to out_dir
 * only when complete, so out_dir either holds the whole export or does not appear.
 * result (may be NULL) receives counts.
 * ^ML_EINVAL: bad options, or out_dir exists and is not an empty directory (nothing written).
 * ML_ENOTFOUND: the metrics pattern matches no metric (the message lists some names).
 * ML_EFORMAT: a snapshot file breaks the safetensors rules (named). ML_EIO: the parent of
 * out_dir is missing or not writable, or a write failed. ML_ENOMEM. The analysis's errors.
 * On failure the temporary folder is removed and out_dir is as before. */
ml_status ml_export_source(const ml_run_source *s, const char *out_dir,
                           const ml_export_options *o, ml_export_result *result);

#ifdef __cplusplus
}
#endif
#endif
