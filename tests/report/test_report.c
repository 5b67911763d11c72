/* test_report.c - what report.h promises, on run stores written here through the run-store
 * API: a self-contained HTML page (no URL, script or import; text escaped; long series
 * decimated; a marker for every gradient explosion), plots left out and listed when a series
 * is absent, Markdown and JSON forms, the comparison of two runs, refusals that leave no file,
 * and the evaluation page (curves and confusion, no sample identifier). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/table.h"
#include "microlens/analyze.h"
#include "microlens/evaluate.h"
#include "microlens/report.h"
#include "microlens/runstore.h"
#include "ml_test.h"
#include "ml_tmp.h"
#include "util/fileio.h"

static char tmp_dir[] = "/tmp/ml_test_report.XXXXXX";

/* A run of n_steps: a decaying noisy loss, evaluations every 10 steps, a constant learning
 * rate, and with rich the collectors' per-tensor series, a non-finite gradient norm at step 50
 * and an event whose text is markup. */
static void make_run(const char *dir, size_t n_steps, int rich, double lr) {
    ml_run_info info = ML_RUN_INFO_INIT;
    info.config_json = "{\"model\": \"mlp\", \"note\": \"<b>not markup</b>\"}";
    info.seed = 7;
    ml_runstore *rs = NULL;
    CHECK_STATUS(ml_runstore_open(&rs, dir, ML_RUNSTORE_CREATE, &info), ML_OK);
    if (!rs) return;
    static const char *const tensors[2] = {"encoder.layers.0.linear1.weight",
                                           "encoder.layers.0.linear1.bias"};
    for (size_t i = 1; i <= n_steps; i++) {
        int64_t s = (int64_t)i;
        double t = (double)i;
        ml_runstore_log_metric(rs, s, "loss", 0.2 + 0.5 / (1 + t * 0.01) + 0.03 * sin(t));
        ml_runstore_log_metric(rs, s, "learning_rate", lr);
        ml_runstore_log_metric(rs, s, "grad_norm", rich && i == 50 ? NAN : 1.0 / sqrt(t));
        if (i % 10 == 0) ml_runstore_log_metric(rs, s, "eval_loss", 0.3 + 0.4 / (1 + t * 0.02));
        if (!rich || i % 5 != 0) continue;
        ml_runstore_log_metric(rs, s, "grad/cosine_prev", 0.3 + 0.2 * cos(t));
        for (size_t k = 0; k < 2; k++) {
            char name[128];
            snprintf(name, sizeof name, "grad_norm/%s", tensors[k]);
            ml_runstore_log_metric(rs, s, name, ((double)k + 1.0) / sqrt(t));
            snprintf(name, sizeof name, "weight_norm/%s", tensors[k]);
            ml_runstore_log_metric(rs, s, name, 10.0 + (double)k + t * 1e-3);
            snprintf(name, sizeof name, "update_ratio/%s", tensors[k]);
            ml_runstore_log_metric(rs, s, name, 1e-3 / (1 + t * 1e-3));
        }
    }
    if (rich)
        CHECK_STATUS(ml_runstore_log_event(rs, 5, ML_EVENT_WARNING,
                                           "<script>alert(1)</script> & \"quoted\""),
                     ML_OK);
    CHECK_STATUS(ml_runstore_set_status(rs, ML_RUN_COMPLETED), ML_OK);
    CHECK_STATUS(ml_runstore_close(rs), ML_OK);
}

typedef struct analysed {
    ml_run_source *s;
    ml_analysis *a;
} analysed;

static analysed open_run(const char *dir) {
    analysed r = {NULL, NULL};
    CHECK_STATUS(ml_run_source_open(&r.s, dir), ML_OK);
    ml_analyze_options o = ML_ANALYZE_OPTIONS_INIT;
    o.lora = false;
    if (r.s) CHECK_STATUS(ml_analyze(&r.a, r.s, &o), ML_OK);
    return r;
}

static void close_run(analysed *r) {
    ml_analysis_free(r->a);
    ml_run_source_free(r->s);
}

/* Writes a report and reads it back (caller frees); NULL on failure. */
static char *write_read(const analysed *run, const analysed *cmp, ml_report_format fmt,
                        const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    ml_report_run r = {run->s, run->a}, c = {cmp ? cmp->s : NULL, cmp ? cmp->a : NULL};
    ml_report_options o = ML_REPORT_OPTIONS_INIT;
    o.format = fmt;
    CHECK_STATUS(ml_report_write(&r, cmp ? &c : NULL, &o, path), ML_OK);
    char *data = NULL;
    size_t n = 0;
    if (ml__file_read(path, 1 << 26, &data, &n) != ML_OK) return NULL;
    if (len) *len = n;
    return data;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int has_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0) return 1;
    return 0;
}

/* What the issue forbids in the page: anything that could make a browser fetch. */
static void check_self_contained(const char *html) {
    static const char *const banned[] = {"http://", "https://", "src=", "url(", "@import",
                                         "<script", "<link", "<img", "<iframe"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++) {
        int found = has_nocase(html, banned[i]);
        CHECK(!found);
        if (found) fprintf(stderr, "  the page contains \"%s\"\n", banned[i]);
    }
    CHECK_EQ_INT(count(html, "<svg"), count(html, "</svg>"));
    CHECK_EQ_INT(count(html, "<figure>"), count(html, "</figure>"));
    CHECK(strstr(html, "default-src 'none'") != NULL);
}

static void test_html__self_contained_every_plot_and_escaped(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/rich", tmp_dir);
    make_run(dir, 20000, 1, 1e-3);
    analysed r = open_run(dir);
    size_t len = 0;
    char *html = r.a ? write_read(&r, NULL, ML_REPORT_HTML, "rich.html", &len) : NULL;
    CHECK(html != NULL);
    if (html) {
        check_self_contained(html);
        static const char *const titles[] = {
            ">Executive summary<",       ">Training and evaluation loss</text>",
            ">Learning rate</text>",     ">Gradient global norm</text>",
            ">Gradient consistency</text>", ">Gradient norm per tensor</text>",
            ">Weight norms (relative)</text>", ">Update-to-weight ratio per tensor</text>",
            ">Diagnostics<",             ">Technical detail<"};
        for (size_t i = 0; i < sizeof titles / sizeof *titles; i++) {
            CHECK(strstr(html, titles[i]) != NULL);
            if (!strstr(html, titles[i])) fprintf(stderr, "  missing %s\n", titles[i]);
        }
        CHECK(strstr(html, "step 50: non-finite norm") != NULL); /* explosion marker */
        CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
        CHECK(strstr(html, "&lt;b&gt;not markup&lt;/b&gt;") != NULL); /* the config */
        CHECK(strstr(html, ">loss (cross-entropy, nats)</text>") != NULL);
        /* 20000 steps of 4 per-step series: decimation keeps the page small. */
        CHECK(len < 400 * 1024);
        if (len >= 400 * 1024) fprintf(stderr, "  page is %zu bytes\n", len);
    }
    free(html);
    close_run(&r);
}

static void test_html__absent_series_left_out_and_listed(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/plain", tmp_dir);
    make_run(dir, 200, 0, 1e-3);
    analysed r = open_run(dir);
    char *html = r.a ? write_read(&r, NULL, ML_REPORT_HTML, "plain.html", NULL) : NULL;
    CHECK(html != NULL);
    if (html) {
        check_self_contained(html);
        CHECK(strstr(html, ">Gradient consistency</text>") == NULL);
        CHECK(strstr(html, ">Gradient norm per tensor</text>") == NULL);
        CHECK(strstr(html, "Not collected") != NULL);
        CHECK(strstr(html, "gradient cosine with the previous step (grad/cosine_prev)"));
        CHECK(strstr(html, "per-tensor gradient norms (grad_norm/&lt;tensor&gt;)"));
        CHECK(strstr(html, ">Training and evaluation loss</text>") != NULL);
    }
    free(html);
    close_run(&r);
}

/* 60 tensors: the heat map keeps the 48 of largest mean gradient norm, in name order. */
static void test_html__wide_heat_map_keeps_the_largest_rows(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/wide", tmp_dir);
    ml_run_info info = ML_RUN_INFO_INIT;
    info.config_json = "{}";
    ml_runstore *rs = NULL;
    CHECK_STATUS(ml_runstore_open(&rs, dir, ML_RUNSTORE_CREATE, &info), ML_OK);
    for (int64_t s = 1; rs && s <= 40; s++) {
        ml_runstore_log_metric(rs, s, "loss", 1.0 / (double)s);
        for (int k = 0; k < 60; k++) {
            char name[64];
            snprintf(name, sizeof name, "grad_norm/t%02d.weight", k);
            ml_runstore_log_metric(rs, s, name, (double)(k + 1));
        }
    }
    CHECK_STATUS(ml_runstore_close(rs), ML_OK);
    analysed r = open_run(dir);
    char *html = r.a ? write_read(&r, NULL, ML_REPORT_HTML, "wide.html", NULL) : NULL;
    CHECK(html != NULL);
    if (html) {
        CHECK(strstr(html, "Showing the 48 of 60 rows with the largest mean.") != NULL);
        const char *map = strstr(html, ">Gradient norm per tensor</text>");
        const char *end = map ? strstr(map, "</svg>") : NULL;
        CHECK(map && end);
        if (map && end) {
            /* t00..t11 have the smallest norms: left out; t12 and t59 stay. */
            char *svg = strndup(map, (size_t)(end - map));
            CHECK(svg && strstr(svg, ">t11.weight<") == NULL);
            CHECK(svg && strstr(svg, ">t12.weight<") != NULL);
            CHECK(svg && strstr(svg, ">t59.weight<") != NULL);
            free(svg);
        }
    }
    free(html);
    close_run(&r);
}

/* A run whose gradient norm is 1/sqrt(step) times 50 at the planted steps, with the
 * collectors' loss; every period-th step from period on when period > 0 instead. */
static void make_spiky_run(const char *dir, size_t n_steps, const int64_t *planted,
                           size_t n_planted, size_t period) {
    ml_run_info info = ML_RUN_INFO_INIT;
    info.config_json = "{}";
    ml_runstore *rs = NULL;
    CHECK_STATUS(ml_runstore_open(&rs, dir, ML_RUNSTORE_CREATE, &info), ML_OK);
    for (size_t i = 1; rs && i <= n_steps; i++) {
        double t = (double)i, g = 1.0 / sqrt(t);
        bool spike = period > 0 && i >= period && i % period == 0;
        for (size_t k = 0; k < n_planted; k++) spike |= planted[k] == (int64_t)i;
        ml_runstore_log_metric(rs, (int64_t)i, "loss", 0.2 + 0.5 / (1 + t * 0.01));
        ml_runstore_log_metric(rs, (int64_t)i, "grad_norm", spike ? 50.0 * g : g);
    }
    CHECK_STATUS(ml_runstore_set_status(rs, ML_RUN_COMPLETED), ML_OK);
    CHECK_STATUS(ml_runstore_close(rs), ML_OK);
}

/* The gradient-norm plot's <svg>, copied (caller frees); NULL when absent. */
static char *grad_plot(const char *html) {
    const char *a = strstr(html, ">Gradient global norm</text>");
    const char *b = a ? strstr(a, "</svg>") : NULL;
    return a && b ? strndup(a, (size_t)(b - a)) : NULL;
}

/* svg.c's diamond: the same relative path after every point's "M x y". */
#define DIAMOND "l4 4l-4 4l-4-4z"

/* Issue 6: every explosion step the analysis flagged has its own marker (and tooltip) on the
 * gradient-norm plot, the legend names the rule, and the JSON lists the steps. */
static void test_html__every_explosion_marked(void) {
    static const int64_t planted[] = {40, 41, 150, 151, 299, 400};
    const size_t n = sizeof planted / sizeof *planted;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/spiky", tmp_dir);
    make_spiky_run(dir, 400, planted, n, 0);
    analysed r = open_run(dir);
    CHECK(r.a && r.a->gradient.n_spike_steps == n);
    char *html = r.a ? write_read(&r, NULL, ML_REPORT_HTML, "spiky.html", NULL) : NULL;
    char *svg = html ? grad_plot(html) : NULL;
    CHECK(svg != NULL);
    if (svg) {
        CHECK_EQ_INT(count(svg, DIAMOND), n + 1); /* + the legend's */
        CHECK(strstr(svg, ">explosion (rule: &gt; 10 x running median)</text>") != NULL);
        for (size_t k = 0; k < n; k++) {
            char tip[64];
            snprintf(tip, sizeof tip, "<title>step %lld: explosion, norm ", (long long)planted[k]);
            CHECK_EQ_INT(count(svg, tip), 1);
        }
        CHECK(strstr(html, "Diamonds mark every spike.") != NULL);
    }
    free(svg);
    free(html);
    char *text = r.a ? write_read(&r, NULL, ML_REPORT_JSON, "spiky.json", NULL) : NULL;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *g = json_object_get(doc, "gradients");
    const json_t *list = json_object_get(g, "spike_steps");
    CHECK_EQ_INT(json_array_size(list), n);
    for (size_t k = 0; k < n && k < json_array_size(list); k++) {
        const json_t *e = json_array_get(list, k);
        CHECK_EQ_INT(json_integer_value(json_object_get(e, "step")), planted[k]);
        CHECK_NEAR(json_real_value(json_object_get(e, "norm")), 50.0 / sqrt((double)planted[k]),
                   1e-9);
    }
    CHECK(json_object_get(g, "spike_steps_truncated") == NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(g, "n_spikes")), n);
    json_decref(doc);
    free(text);
    close_run(&r);
}

/* 1100 explosions (every third step from 6): all drawn, as one path without a tooltip each, so that
 * the plot stays small; the JSON lists the first 1000 and counts the rest. */
static void test_html__many_explosions_one_path(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/diverging", tmp_dir);
    make_spiky_run(dir, 3303, NULL, 0, 3); /* step 3 has too short a history */
    analysed r = open_run(dir);
    size_t n = r.a ? r.a->gradient.n_spike_steps : 0;
    CHECK_EQ_INT(n, 1100);
    char *html = r.a ? write_read(&r, NULL, ML_REPORT_HTML, "diverging.html", NULL) : NULL;
    char *svg = html ? grad_plot(html) : NULL;
    CHECK(svg != NULL);
    if (svg) {
        CHECK_EQ_INT(count(svg, DIAMOND), n + 1);
        CHECK_EQ_INT(count(svg, ": explosion, norm "), 0);
        CHECK(strstr(svg, "<title>1100 points: explosion (rule: &gt; 10 x running median)") !=
              NULL);
        /* ~30 bytes a diamond; one element each would be about 80 */
        CHECK(strlen(svg) < 60 * 1024);
        if (strlen(svg) >= 60 * 1024) fprintf(stderr, "  plot is %zu bytes\n", strlen(svg));
    }
    free(svg);
    free(html);
    char *text = r.a ? write_read(&r, NULL, ML_REPORT_JSON, "diverging.json", NULL) : NULL;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *g = json_object_get(doc, "gradients");
    CHECK_EQ_INT(json_array_size(json_object_get(g, "spike_steps")), 1000);
    CHECK_EQ_INT(json_integer_value(json_object_get(g, "spike_steps_truncated")), 100);
    CHECK_EQ_INT(json_integer_value(json_object_get(
                     json_array_get(json_object_get(g, "spike_steps"), 0), "step")),
                 6);
    json_decref(doc);
    free(text);
    close_run(&r);
}

static void test_markdown__summary_and_diagnostics(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/plain", tmp_dir);
    analysed r = open_run(dir);
    char *md = r.a ? write_read(&r, NULL, ML_REPORT_MARKDOWN, "plain.md", NULL) : NULL;
    CHECK(md != NULL);
    if (md) {
        CHECK(strncmp(md, "# Training report: plain\n", 25) == 0);
        CHECK(strstr(md, "## Executive summary") != NULL);
        CHECK(strstr(md, "**Verdict: ") != NULL);
        CHECK(strstr(md, "| final training loss |") != NULL);
        CHECK(strstr(md, "## Diagnostics") != NULL);
        CHECK(strstr(md, "grad\\_norm/\\<tensor\\>") != NULL); /* escaped for Markdown */
        CHECK(strstr(md, "<svg") == NULL);
    }
    free(md);
    close_run(&r);
}

static void test_json__analysis_plus_metadata_and_comparison(void) {
    char a_dir[256], b_dir[256];
    snprintf(a_dir, sizeof a_dir, "%s/plain", tmp_dir);
    snprintf(b_dir, sizeof b_dir, "%s/fast", tmp_dir);
    make_run(b_dir, 200, 0, 3e-3);
    analysed a = open_run(a_dir), b = open_run(b_dir);
    char *text = a.a && b.a ? write_read(&a, &b, ML_REPORT_JSON, "cmp.json", NULL) : NULL;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(doc != NULL);
    if (doc) {
        static const char *const keys[] = {"verdict", "score", "findings", "run", "notes",
                                           "summary", "metrics", "report", "compare",
                                           "comparison"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            CHECK(json_object_get(doc, keys[i]) != NULL);
            if (!json_object_get(doc, keys[i])) fprintf(stderr, "  no key %s\n", keys[i]);
        }
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(doc, "report"),
                                                        "version")),
                     1);
        const json_t *m = json_array_get(json_object_get(doc, "metrics"), 0);
        CHECK(json_is_string(json_object_get(m, "name")));
        const json_t *cmp = json_object_get(doc, "comparison");
        CHECK(json_array_size(json_object_get(cmp, "deltas")) >= 5);
        CHECK(json_is_string(json_object_get(cmp, "converged_first")));
        CHECK(json_object_get(json_object_get(doc, "compare"), "verdict") != NULL);
        CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "run"), "kind")),
                  "microlens");
    }
    json_decref(doc);
    free(text);
    char *html = a.a && b.a ? write_read(&a, &b, ML_REPORT_HTML, "cmp.html", NULL) : NULL;
    CHECK(html != NULL);
    if (html) {
        check_self_contained(html);
        CHECK(strstr(html, ">Loss, both runs</text>") != NULL);
        CHECK(strstr(html, ">plain training</text>") && strstr(html, ">fast training</text>"));
        CHECK(strstr(html, ">Comparison<") != NULL);
        CHECK(strstr(html, "difference (2nd - 1st)") != NULL);
    }
    free(html);
    close_run(&a);
    close_run(&b);
}

static void test_write__refusals_leave_no_file(void) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/plain", tmp_dir);
    analysed r = open_run(dir);
    ml_report_run run = {r.s, r.a}, no_analysis = {r.s, NULL};
    ml_report_options o = ML_REPORT_OPTIONS_INIT;
    snprintf(path, sizeof path, "%s/refused.html", tmp_dir);
    CHECK_STATUS(ml_report_write(&no_analysis, NULL, &o, path), ML_EINVAL);
    CHECK_ERR_CONTAINS("needs both a run source and its analysis");
    o.format = (ml_report_format)9;
    CHECK_STATUS(ml_report_write(&run, NULL, &o, path), ML_EINVAL);
    CHECK(access(path, F_OK) != 0);
    o.format = ML_REPORT_HTML;
    snprintf(path, sizeof path, "%s/no/such/dir/report.html", tmp_dir);
    CHECK_STATUS(ml_report_write(&run, NULL, &o, path), ML_EIO);
    ml_report_format f = ML_REPORT_JSON;
    CHECK_STATUS(ml_report_format_parse(&f, "pdf"), ML_EINVAL);
    CHECK_ERR_CONTAINS("\"pdf\" is not html, md or json");
    CHECK_EQ_INT(f, ML_REPORT_JSON);
    CHECK_STATUS(ml_report_format_parse(&f, "md"), ML_OK);
    CHECK_EQ_INT(f, ML_REPORT_MARKDOWN);
    CHECK_STR(ml_report_format_name(ML_REPORT_HTML), "html");
    close_run(&r);
}

/* ---- Evaluation page ---------------------------------------------------------------------- */

#define NS 60
#define NF 8

static ml_table *make_table(void) {
    ml__table_builder *tb = NULL;
    ml_table *t = NULL;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    char id[32];
    size_t idx, dup, fidx[NF];
    for (size_t i = 0; i < NS; i++) {
        int n = snprintf(id, sizeof id, "rawid%02zu", i);
        if (ml__tb_add_sample(tb, id, (size_t)n, &idx, &dup) != ML_OK) goto fail;
    }
    for (size_t k = 0; k < NF; k++) {
        int n = snprintf(id, sizeof id, "f%zu", k);
        if (ml__tb_add_feature(tb, id, (size_t)n, NULL, &fidx[k], &dup) != ML_OK) goto fail;
    }
    uint64_t s = 99;
    for (size_t i = 0; i < NS; i++)
        for (size_t k = 0; k < NF; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double v = (double)((s >> 33) % 20) + (k < 2 && (i / 3) % 2 ? 5 : 0);
            if (ml__tb_add_value(tb, i, fidx[k], v) != ML_OK) goto fail;
        }
    if (ml__tb_finish(tb, "test", "test", NULL, &t) != ML_OK) return NULL;
    return t;
fail:
    ml__tb_free(tb);
    return NULL;
}

static ml_join *make_join(const ml_table *t) {
    char buf[NS * 48 + 32];
    size_t len = (size_t)snprintf(buf, sizeof buf, "sid,label,group\n");
    for (size_t i = 0; i < NS; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "rawid%02zu,%s,g%zu\n", i,
                                (i / 3) % 2 ? "sick <b>" : "well", i / 3);
    ml_labels *l = NULL;
    ml_join *j = NULL;
    ml_labels_options lo = ML_LABELS_OPTIONS_INIT;
    CHECK_STATUS(ml_labels_parse(&l, buf, len, "labels.csv", &lo), ML_OK);
    if (l) CHECK_STATUS(ml_join_new(&j, t, l, "sick <b>"), ML_OK);
    ml_labels_free(l);
    return j;
}

static void test_evaluation_html__curves_confusion_and_no_ids(void) {
    ml_table *t = make_table();
    ml_join *j = t ? make_join(t) : NULL;
    ml_evaluation *e = NULL;
    ml_evaluate_options o = ML_EVALUATE_OPTIONS_INIT;
    o.split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
    o.n_folds = 4;
    o.n_boot = 50;
    if (j) CHECK_STATUS(ml_evaluate(&e, t, j, &o), ML_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/eval.html", tmp_dir);
    if (e) CHECK_STATUS(ml_report_evaluation_html(e, j, path), ML_OK);
    char *html = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 24, &html, &len), ML_OK);
    if (html) {
        check_self_contained(html);
        CHECK(strstr(html, ">ROC curve</text>") != NULL);
        CHECK(strstr(html, ">Precision-recall curve</text>") != NULL);
        CHECK(strstr(html, ">Confusion matrix</text>") != NULL);
        CHECK(strstr(html, ">ROC-AUC by fold</text>") != NULL);
        CHECK(strstr(html, "sick &lt;b&gt;") != NULL);
        CHECK(strstr(html, "rawid") == NULL); /* no sample identifier */
        /* The confusion cells add up to the labelled samples. */
        char *doc_text = NULL;
        json_t *doc = NULL;
        if (e && ml_evaluation_json(e, &doc_text) == ML_OK) doc = json_loads(doc_text, 0, NULL);
        const json_t *c = json_object_get(
            json_array_get(json_object_get(doc, "pooled_by_repeat"), 0), "confusion");
        char cell[32];
        snprintf(cell, sizeof cell, ">%lld</text>",
                 (long long)json_integer_value(json_object_get(c, "tp")));
        CHECK(strstr(html, cell) != NULL);
        json_decref(doc);
        free(doc_text);
    }
    free(html);
    /* A join from other labels does not match the evaluation. */
    ml_join *other = NULL;
    ml_labels *l = NULL;
    ml_labels_options lo = ML_LABELS_OPTIONS_INIT;
    const char csv[] = "sid,label\nrawid00,a\nrawid01,b\n";
    CHECK_STATUS(ml_labels_parse(&l, csv, sizeof csv - 1, "other.csv", &lo), ML_OK);
    if (l && t) CHECK_STATUS(ml_join_new(&other, t, l, "b"), ML_OK);
    snprintf(path, sizeof path, "%s/eval2.html", tmp_dir);
    if (e && other) {
        CHECK_STATUS(ml_report_evaluation_html(e, other, path), ML_EINVAL);
        CHECK(access(path, F_OK) != 0);
    }
    ml_join_free(other);
    ml_labels_free(l);
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) return 1;
    RUN(test_html__self_contained_every_plot_and_escaped);
    RUN(test_html__absent_series_left_out_and_listed);
    RUN(test_html__wide_heat_map_keeps_the_largest_rows);
    RUN(test_html__every_explosion_marked);
    RUN(test_html__many_explosions_one_path);
    RUN(test_markdown__summary_and_diagnostics);
    RUN(test_json__analysis_plus_metadata_and_comparison);
    RUN(test_write__refusals_leave_no_file);
    RUN(test_evaluation_html__curves_confusion_and_no_ids);
    ml_test_remove_tree(tmp_dir);
    TEST_MAIN_END();
}
