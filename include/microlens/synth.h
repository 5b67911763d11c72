/* synth.h - a synthetic cohort that exercises the whole pipeline: Dirichlet-multinomial
 * counts with per-patient effects and a planted label signal, labels with groups, and one
 * vector per OTU. Byte-identical output for the same options. */
#ifndef MICROLENS_SYNTH_H
#define MICROLENS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_SYNTH_OPTIONS_VERSION 1
typedef struct ml_synth_options {
    int version;          /* ML_SYNTH_OPTIONS_VERSION */
    size_t n_samples;     /* total samples; default 240 */
    size_t n_patients;    /* patients (groups); samples spread over them; default 60 */
    size_t n_otus;        /* features; default 500 */
    size_t dim;           /* OTU vector length; default 384 (ProkBERT's width upstream) */
    size_t n_signal_otus; /* OTUs whose abundance depends on the label; default 8 */
    double signal_log_fold; /* log fold change of signal OTUs in positives; default 1.5 */
    uint64_t seed;        /* default 42 */
    /* Called after each patient's samples are drawn with (patients done, total); NULL: none.
     * Lets a front end draw a progress bar; must not call back into the library. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} ml_synth_options;
#define ML_SYNTH_OPTIONS_INIT {ML_SYNTH_OPTIONS_VERSION, 240, 60, 500, 384, 8, 1.5, 42, NULL, NULL}

/* What ml_synth_write wrote (paths are inside out_dir). */
typedef struct ml_synth_summary {
    size_t n_samples, n_patients, n_otus, dim;
    size_t n_positive; /* samples labelled "allergy" */
    size_t nnz;        /* non-zero cells of table.tsv */
} ml_synth_summary;

/* ^Writes into out_dir (created if missing): table.tsv (QIIME "#OTU ID" layout, OTUs x
 * samples, integer counts), labels.csv (sid,label,group; label allergy|healthy),
 * otu_vectors.safetensors (one F32 [dim] tensor per OTU ID), SOURCE.md (how it was made).
 * Each file is written atomically. ML_EINVAL for impossible options (patients > samples...). */
ml_status ml_synth_write(const char *out_dir, const ml_synth_options *opts,
                         ml_synth_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
