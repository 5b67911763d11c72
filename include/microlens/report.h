/* report.h - reports of a training run (or two runs side by side) and of a cross-validated
 * evaluation: a self-contained HTML page with inline SVG plots (no script, font, image or
 * style fetched from anywhere), a Markdown summary for a lab notebook or pull request, and the
 * full technical report as JSON. Reports draw on analyze.h's results; they compute no
 * diagnostic of their own. Raw sample identifiers never appear in a report. Layout and
 * contents: docs/report.md. */
#ifndef MICROLENS_REPORT_H
#define MICROLENS_REPORT_H

#include "microlens/analyze.h"
#include "microlens/error.h"
#include "microlens/evaluate.h"
#include "microlens/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_report_format {
    ML_REPORT_HTML = 0, /* one self-contained page: summary, plots, details */
    ML_REPORT_MARKDOWN, /* executive summary and diagnostics */
    ML_REPORT_JSON      /* ml_analysis_json's fields plus run metadata and collected metrics */
} ml_report_format;

/* ^Parses "html", "md" (or "markdown"), "json". ^ML_EINVAL naming the value and the choices;
 * *out untouched on failure. */
ml_status ml_report_format_parse(ml_report_format *out, const char *name);
/* ^"html", "md", "json"; "unknown" outside the enum. */
const char *ml_report_format_name(ml_report_format f);

/* One analysed run: its source and the analysis of it (both borrowed for the call). */
typedef struct ml_report_run {
    const ml_run_source *source;
    const ml_analysis *analysis;
} ml_report_run;

#define ML_REPORT_OPTIONS_VERSION 1
typedef struct ml_report_options {
    int version;               /* ML_REPORT_OPTIONS_VERSION */
    ml_report_format format;   /* default ML_REPORT_HTML */
    const char *title;         /* page title; NULL (default): "Training report: <run path's last
                                * component>". Borrowed for the call */
} ml_report_options;
#define ML_REPORT_OPTIONS_INIT {ML_REPORT_OPTIONS_VERSION, ML_REPORT_HTML, NULL}

/* ^Writes the report of run (and, when compare is not NULL, of both runs side by side: loss
 * curves overlaid, metric deltas compare minus run, which run converged first) to path
 * atomically (temporary file, fsync, rename), mode 0644. A plot whose series was not collected
 * is left out and the detail section says "not collected".
 * ^ML_EINVAL for bad options or a run without source or analysis; ML_EIO when path cannot be
 * written (a previous file at path is then untouched); ML_ENOMEM. */
ml_status ml_report_write(const ml_report_run *run, const ml_report_run *compare,
                          const ml_report_options *o, const char *path);

/* ^Writes the HTML page of a cross-validated evaluation to path atomically: summary (ROC-AUC
 * with its 95% CI, average precision, F1, accuracies), the pooled out-of-fold ROC and
 * precision-recall curves of repeat 0, its confusion matrix at the classifier's threshold,
 * ROC-AUC by fold, and the settings. j must be the join e was computed from (its classes give
 * each sample's truth); no sample identifier is written.
 * ^ML_EINVAL when j does not match e (sample count, classes); ML_EIO; ML_ENOMEM. */
ml_status ml_report_evaluation_html(const ml_evaluation *e, const ml_join *j, const char *path);

#ifdef __cplusplus
}
#endif
#endif
