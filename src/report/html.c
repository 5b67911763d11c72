/* html.c - the HTML report of one run, or of two side by side: assembles the page (summary,
 * then htmlplots.c's plots, then htmldetail.c's diagnostics and detail) and writes the
 * executive summary: verdict, key numbers, top recommendations and, for two runs, the
 * comparison. It reads results from ml_analysis; it decides nothing about the run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/html.h"
#include "report/page.h"
#include "report/summary.h"
#include "report/svg.h"

/* ---- Summary ------------------------------------------------------------------------------ */

static void verdict_line(ml__outbuf *out, const ml_analysis *a) {
    const char *v = ml_verdict_name(a->verdict);
    ml__outbuf_printf(out, "<p><span class=\"verdict v-%s\">%s</span><b>score %.0f / 100</b>: ",
                      v, v, a->score);
    ml__svg_escape(out, ml__report_verdict_sentence(a->verdict));
    ml__outbuf_puts(out, ".</p>\n");
}

static void numbers_grid(ml__outbuf *out, const ml_analysis *a) {
    ml__report_number nums[ML__REPORT_MAX_NUMBERS];
    size_t n = ml__report_numbers(a, nums, ML__REPORT_MAX_NUMBERS);
    ml__outbuf_puts(out, "<div class=\"numbers\">\n");
    for (size_t i = 0; i < n; i++) {
        ml__outbuf_puts(out, "<div class=\"num\">");
        ml__page_el(out, "div", "k", nums[i].label);
        ml__page_el(out, "div", "v", nums[i].value);
        if (nums[i].note[0]) ml__page_el(out, "div", "n", nums[i].note);
        ml__outbuf_puts(out, "</div>\n");
    }
    ml__outbuf_puts(out, "</div>\n");
}

static void recommendations(ml__outbuf *out, const ml_analysis *a) {
    size_t n = ml__report_top_findings(a, ML__REPORT_TOP_FINDINGS);
    ml__page_el(out, "h3", NULL, "Top recommendations");
    if (n == 0) {
        ml__page_el(out, "p", NULL, "No diagnostic fired: nothing to change.");
        return;
    }
    ml__outbuf_puts(out, "<ol class=\"recs\">\n");
    for (size_t i = 0; i < n; i++) {
        const ml_finding *f = &a->findings[i];
        ml__outbuf_puts(out, "<li>");
        ml__page_badge(out, ml_severity_name(f->severity));
        ml__outbuf_puts(out, "<b>");
        ml__svg_escape(out, f->title);
        ml__outbuf_puts(out, "</b>: ");
        ml__svg_escape(out, f->recommendation);
        ml__outbuf_puts(out, "</li>\n");
    }
    ml__outbuf_puts(out, "</ol>\n");
}

static void run_summary(ml__html_ctx *c, const ml__html_run *r) {
    if (c->n_runs > 1) ml__page_el(c->out, "h3", NULL, r->name);
    verdict_line(c->out, r->a);
    numbers_grid(c->out, r->a);
    recommendations(c->out, r->a);
}

static void deltas_table(ml__html_ctx *c) {
    ml__report_delta d[ML__REPORT_MAX_DELTAS];
    size_t n = ml__report_deltas(c->r[0].a, c->r[1].a, d, ML__REPORT_MAX_DELTAS);
    char faster[512];
    ml__report_faster(faster, sizeof faster, c->r[0].a, c->r[1].a, c->r[0].name, c->r[1].name);
    ml__page_el(c->out, "h3", NULL, "Comparison");
    ml__page_el(c->out, "p", NULL, faster);
    ml__outbuf_puts(c->out, "<table>\n");
    const char *head[5] = {"metric", c->r[0].name, c->r[1].name, "difference (2nd - 1st)",
                           "better"};
    ml__page_row(c->out, head, 5, true);
    for (size_t i = 0; i < n; i++) {
        char a[32], b[32], diff[32];
        ml__report_fmt(a, sizeof a, d[i].a);
        ml__report_fmt(b, sizeof b, d[i].b);
        ml__report_fmt(diff, sizeof diff, d[i].b - d[i].a);
        const char *better = "";
        if (d[i].better != 0 && isfinite(d[i].a) && isfinite(d[i].b) && d[i].a != d[i].b)
            better = (d[i].b - d[i].a) * d[i].better > 0 ? c->r[1].name : c->r[0].name;
        const char *cells[5] = {d[i].label, a, b, diff, better};
        ml__page_row(c->out, cells, 5, false);
    }
    ml__outbuf_puts(c->out, "</table>\n");
}

static void summary(ml__html_ctx *c) {
    ml__outbuf_puts(c->out, "<section class=\"summary\">\n<h2 id=\"summary\">Executive summary</h2>\n");
    if (c->n_runs == 1) {
        run_summary(c, &c->r[0]);
    } else {
        ml__outbuf_puts(c->out, "<div class=\"cols\">\n");
        for (size_t r = 0; r < 2; r++) {
            ml__outbuf_puts(c->out, "<div>\n");
            run_summary(c, &c->r[r]);
            ml__outbuf_puts(c->out, "</div>\n");
        }
        ml__outbuf_puts(c->out, "</div>\n");
        deltas_table(c);
    }
    ml__outbuf_puts(c->out, "</section>\n");
}

ml_status ml__report_html(ml__outbuf *out, const ml_report_run *run, const ml_report_run *cmp,
                          const char *title) {
    ml__html_ctx c = {out, {{run->source, run->analysis, ""}, {NULL, NULL, ""}}, cmp ? 2 : 1};
    ml__report_run_name(c.r[0].name, sizeof c.r[0].name, run->source);
    if (cmp) {
        c.r[1] = (ml__html_run){cmp->source, cmp->analysis, ""};
        ml__report_run_name(c.r[1].name, sizeof c.r[1].name, cmp->source);
        if (strcmp(c.r[0].name, c.r[1].name) == 0) { /* same folder name: say which is which */
            size_t len = strlen(c.r[0].name);
            if (len > sizeof c.r[0].name - 5) len = sizeof c.r[0].name - 5;
            snprintf(c.r[0].name + len, 5, " (1)");
            snprintf(c.r[1].name + len, 5, " (2)");
        }
    }
    char sub[1024];
    const ml_analysis *a = run->analysis;
    const char *kind = ml_run_source_get_kind(run->source) == ML_RUN_SOURCE_HF_TRAINER
                           ? "Hugging Face Trainer"
                           : "microlens";
    if (cmp)
        snprintf(sub, sizeof sub, "%s run %s, compared with the run %s; steps %lld to %lld "
                                  "of the first and %lld to %lld of the second analysed.",
                 kind, c.r[0].name, c.r[1].name,
                 (long long)a->first_step, (long long)a->last_step,
                 (long long)cmp->analysis->first_step, (long long)cmp->analysis->last_step);
    else
        snprintf(sub, sizeof sub, "%s run %s; steps %lld to %lld analysed.", kind,
                 c.r[0].name, (long long)a->first_step,
                 (long long)a->last_step);
    ML_TRY(ml__page_open(out, title, sub));
    summary(&c);
    ML_TRY(ml__html_plots(&c));
    ML_TRY(ml__html_detail(&c));
    return ml__page_close(out);
}
