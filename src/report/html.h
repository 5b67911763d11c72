/* html.h - what the run report's HTML files share: the runs being reported and the two
 * section writers. html.c assembles the page and writes the executive summary, htmlplots.c the
 * plots, htmldetail.c the diagnostics and the technical detail. */
#ifndef ML_REPORT_HTML_H
#define ML_REPORT_HTML_H

#include <stddef.h>

#include "microlens/analyze.h"
#include "util/outbuf.h"

/* One run of the report: borrowed source and analysis, and its short name for titles. */
typedef struct ml__html_run {
    const ml_run_source *s;
    const ml_analysis *a;
    char name[96];
} ml__html_run;

typedef struct ml__html_ctx {
    ml__outbuf *out;
    ml__html_run r[2];
    size_t n_runs; /* 1, or 2 when comparing */
} ml__html_ctx;

/* ^The "Plots" section: overlays of the scalar series of every run, then each run's
 * per-tensor heat maps, weight norms and LoRA plots; a plot without data is left out. */
ml_status ml__html_plots(ml__html_ctx *c);

/* ^The "Diagnostics" section (every finding with its evidence) and the "Technical detail"
 * section (tables of every analysis, what was not collected, metrics, checkpoints, events,
 * run metadata and configuration). */
ml_status ml__html_detail(ml__html_ctx *c);

#endif
