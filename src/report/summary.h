/* summary.h - what every report format says first: the key numbers of an analysed run, its top
 * recommendations, and the comparison of two runs (metric deltas, which converged first). The
 * facts come from ml_analysis; this only chooses, words and formats them, so that the HTML,
 * Markdown and JSON reports agree word for word. Also the renderers' shared entry points. */
#ifndef ML_REPORT_SUMMARY_H
#define ML_REPORT_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "microlens/report.h"
#include "util/outbuf.h"

/* Recommendations in the executive summary: the three most severe findings; the rest are in
 * the diagnostics section. */
#define ML__REPORT_TOP_FINDINGS 3
#define ML__REPORT_MAX_NUMBERS 12
#define ML__REPORT_MAX_DELTAS 16

/* One key number: "final training loss" = "0.412", note "from 0.693 (-41%)". */
typedef struct ml__report_number {
    const char *label;
    char value[48];
    char note[96];
} ml__report_number;

/* ^The key numbers of an analysis, those whose part is present, in a fixed order. */
size_t ml__report_numbers(const ml_analysis *a, ml__report_number *out, size_t cap);

/* ^The first n findings to recommend (most severe first, as ml_analysis orders them). */
size_t ml__report_top_findings(const ml_analysis *a, size_t max);

/* One compared metric: a (the run), b (the compared run), b - a, and which is better. */
typedef struct ml__report_delta {
    const char *label;
    double a, b;              /* NaN: not available in that run */
    int better;               /* -1: lower is better, +1: higher is better, 0: neither */
    bool is_step;             /* a step count: printed as an integer */
} ml__report_delta;

/* ^The metrics both reports can state, with NaN where one run lacks them. */
size_t ml__report_deltas(const ml_analysis *a, const ml_analysis *b, ml__report_delta *out,
                         size_t cap);

/* ^One sentence on which run converged first (by the convergence rule's step, else by the
 * final loss), naming the runs as name_a and name_b. */
void ml__report_faster(char *buf, size_t cap, const ml_analysis *a, const ml_analysis *b,
                       const char *name_a, const char *name_b);

/* ^The last component of the run's path ("runs/a/" gives "a"), for titles and legends. */
void ml__report_run_name(char *buf, size_t cap, const ml_run_source *s);

/* Reports and exports are shared files: in a run's metadata object (ml_run_source_meta_json,
 * the "run" of an analysis document), the run path as given and every absolute path among the
 * configuration's settings (table, labels, init...), which may name a user's folders, are cut
 * to their last component. Other strings are kept as they are. */
void ml__report_strip_paths(json_t *run);

/* ^A value for people: 4 significant digits, "n/a" for NaN, "inf" / "-inf". */
void ml__report_fmt(char *buf, size_t cap, double v);

/* ^The series families a report plots that the run lacks, as "what (metric name)" phrases, in
 * a fixed order; "LoRA adapter checkpoints" when the analysis found none. */
size_t ml__report_missing(const ml_run_source *s, const ml_analysis *a, const char **out,
                          size_t cap);

/* ^"excellent" ... and a one-line explanation of the verdict for the summary. */
const char *ml__report_verdict_sentence(ml_verdict v);

/* The page renderers report.c dispatches to (html.c, markdown.c; JSON is report.c's own):
 * they write the whole document to out; cmp may be NULL. Errors: the outbuf's, ML_ENOMEM, the
 * run source's. */
ml_status ml__report_html(ml__outbuf *out, const ml_report_run *run, const ml_report_run *cmp,
                          const char *title);
ml_status ml__report_markdown(ml__outbuf *out, const ml_report_run *run,
                              const ml_report_run *cmp, const char *title);

#endif
