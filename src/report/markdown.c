/* markdown.c - the Markdown report: executive summary, comparison of two runs and every
 * diagnostic, for pasting into a lab notebook or a pull request. No plots and no tables of
 * per-tensor numbers (the HTML and JSON reports have them). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "microlens/memory.h"
#include "report/summary.h"

#define MAX_MISSING 24

/* Backslash-escapes what GitHub-flavoured Markdown would read as markup (emphasis, code,
 * links, tables, raw HTML); control characters become spaces. */
static void md(ml__outbuf *out, const char *s) {
    if (!s) return;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) ml__outbuf_puts(out, " ");
        else if (strchr("\\`*_[]<>|#", c)) {
            char esc[3] = {'\\', (char)c, 0};
            ml__outbuf_puts(out, esc);
        } else {
            ml__outbuf_write(out, p, 1);
        }
    }
}

/* Text inside a code span, where backslashes are literal: backticks and controls replaced. */
static void code(ml__outbuf *out, const char *s) {
    ml__outbuf_puts(out, "`");
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        ml__outbuf_write(out, c == '`' ? "'" : (c < 0x20 || c == 0x7f) ? " " : p, 1);
    }
    ml__outbuf_puts(out, "`");
}

static void run_summary(ml__outbuf *out, const ml_analysis *a, const char *heading) {
    if (heading) {
        ml__outbuf_puts(out, "### ");
        md(out, heading);
        ml__outbuf_puts(out, "\n\n");
    }
    ml__outbuf_printf(out, "**Verdict: %s** (score %.0f/100): ", ml_verdict_name(a->verdict),
                      a->score);
    md(out, ml__report_verdict_sentence(a->verdict));
    ml__outbuf_puts(out, ".\n\n| key number | value | note |\n|---|---|---|\n");
    ml__report_number nums[ML__REPORT_MAX_NUMBERS];
    size_t n = ml__report_numbers(a, nums, ML__REPORT_MAX_NUMBERS);
    for (size_t i = 0; i < n; i++) {
        ml__outbuf_puts(out, "| ");
        md(out, nums[i].label);
        ml__outbuf_puts(out, " | ");
        md(out, nums[i].value);
        ml__outbuf_puts(out, " | ");
        md(out, nums[i].note);
        ml__outbuf_puts(out, " |\n");
    }
    size_t nt = ml__report_top_findings(a, ML__REPORT_TOP_FINDINGS);
    ml__outbuf_puts(out, "\n**Top recommendations**\n\n");
    if (nt == 0) ml__outbuf_puts(out, "No diagnostic fired: nothing to change.\n");
    for (size_t i = 0; i < nt; i++) {
        const ml_finding *f = &a->findings[i];
        ml__outbuf_printf(out, "%zu. **[%s] ", i + 1, ml_severity_name(f->severity));
        md(out, f->title);
        ml__outbuf_puts(out, "**: ");
        md(out, f->recommendation);
        ml__outbuf_puts(out, "\n");
    }
    ml__outbuf_puts(out, "\n");
}

static void comparison(ml__outbuf *out, const ml_analysis *a, const ml_analysis *b,
                       const char *na, const char *nb) {
    char faster[512];
    ml__report_faster(faster, sizeof faster, a, b, na, nb);
    ml__outbuf_puts(out, "## Comparison\n\n");
    md(out, faster);
    ml__outbuf_puts(out, "\n\n| metric | ");
    md(out, na);
    ml__outbuf_puts(out, " | ");
    md(out, nb);
    ml__outbuf_puts(out, " | difference (2nd - 1st) | better |\n|---|---:|---:|---:|---|\n");
    ml__report_delta d[ML__REPORT_MAX_DELTAS];
    size_t n = ml__report_deltas(a, b, d, ML__REPORT_MAX_DELTAS);
    for (size_t i = 0; i < n; i++) {
        char va[32], vb[32], diff[32];
        ml__report_fmt(va, sizeof va, d[i].a);
        ml__report_fmt(vb, sizeof vb, d[i].b);
        ml__report_fmt(diff, sizeof diff, d[i].b - d[i].a);
        const char *better = "";
        if (d[i].better != 0 && isfinite(d[i].a) && isfinite(d[i].b) && d[i].a != d[i].b)
            better = (d[i].b - d[i].a) * d[i].better > 0 ? nb : na;
        ml__outbuf_puts(out, "| ");
        md(out, d[i].label);
        ml__outbuf_printf(out, " | %s | %s | %s | ", va, vb, diff);
        md(out, better);
        ml__outbuf_puts(out, " |\n");
    }
    ml__outbuf_puts(out, "\n");
}

static void diagnostics(ml__outbuf *out, const ml_run_source *s, const ml_analysis *a,
                        const char *heading) {
    ml__outbuf_puts(out, "## Diagnostics");
    if (heading) {
        ml__outbuf_puts(out, ": ");
        md(out, heading);
    }
    ml__outbuf_puts(out, "\n\n");
    if (a->n_findings == 0) ml__outbuf_puts(out, "No diagnostic fired.\n\n");
    for (size_t i = 0; i < a->n_findings; i++) {
        const ml_finding *f = &a->findings[i];
        ml__outbuf_printf(out, "### [%s] ", ml_severity_name(f->severity));
        md(out, f->title);
        ml__outbuf_puts(out, "\n\n- code: ");
        code(out, f->code);
        if (f->step >= 0) ml__outbuf_printf(out, ", step %lld", (long long)f->step);
        ml__outbuf_puts(out, "\n- evidence: ");
        md(out, f->evidence);
        ml__outbuf_puts(out, "\n- recommendation: ");
        md(out, f->recommendation);
        ml__outbuf_puts(out, "\n\n");
    }
    const char *missing[MAX_MISSING];
    size_t nm = ml__report_missing(s, a, missing, MAX_MISSING);
    if (nm == 0) return;
    ml__outbuf_puts(out, "Not collected (their plots are left out of the HTML report):\n\n");
    for (size_t i = 0; i < nm; i++) {
        ml__outbuf_puts(out, "- ");
        md(out, missing[i]);
        ml__outbuf_puts(out, "\n");
    }
    ml__outbuf_puts(out, "\n");
}

ml_status ml__report_markdown(ml__outbuf *out, const ml_report_run *run,
                              const ml_report_run *cmp, const char *title) {
    char na[96], nb[96];
    ml__report_run_name(na, sizeof na, run->source);
    ml__outbuf_puts(out, "# ");
    md(out, title);
    ml__outbuf_printf(out, "\n\nSteps %lld to %lld of ", (long long)run->analysis->first_step,
                      (long long)run->analysis->last_step);
    code(out, na);
    if (cmp) {
        ml__report_run_name(nb, sizeof nb, cmp->source);
        ml__outbuf_puts(out, " compared with ");
        code(out, nb);
    }
    ml__outbuf_puts(out, ".\n\n## Executive summary\n\n");
    run_summary(out, run->analysis, cmp ? na : NULL);
    if (cmp) {
        run_summary(out, cmp->analysis, nb);
        comparison(out, run->analysis, cmp->analysis, na, nb);
    }
    diagnostics(out, run->source, run->analysis, cmp ? na : NULL);
    if (cmp) diagnostics(out, cmp->source, cmp->analysis, nb);
    ml__outbuf_printf(out, "_Written by microlens %s._\n", ml_version());
    return out->status;
}
