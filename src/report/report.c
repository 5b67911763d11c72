/* report.c - ml_report_write: checks the request, writes the chosen format atomically, and
 * renders the JSON report itself (ml_analysis_json's document plus the collected metrics,
 * checkpoints, what was not collected and, for two runs, the comparison). HTML and Markdown
 * are html.c's and markdown.c's. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/memory.h"
#include "microlens/report.h"
#include "report/summary.h"
#include "util/error.h"
#include "util/json.h"
#include "util/outbuf.h"

/* Report documents carry this version; it changes when a field changes meaning. */
#define REPORT_JSON_VERSION 1
#define MAX_MISSING 24

ml_status ml_report_format_parse(ml_report_format *out, const char *name) {
    if (name && strcmp(name, "html") == 0) *out = ML_REPORT_HTML;
    else if (name && (strcmp(name, "md") == 0 || strcmp(name, "markdown") == 0))
        *out = ML_REPORT_MARKDOWN;
    else if (name && strcmp(name, "json") == 0) *out = ML_REPORT_JSON;
    else
        return ML_FAIL(ML_EINVAL, "report format \"%.40s\" is not html, md or json",
                       name ? name : "(null)");
    return ML_OK;
}

const char *ml_report_format_name(ml_report_format f) {
    switch (f) {
    case ML_REPORT_HTML: return "html";
    case ML_REPORT_MARKDOWN: return "md";
    case ML_REPORT_JSON: return "json";
    }
    return "unknown";
}


static json_t *metrics_json(const ml_run_source *s) {
    const char *const *names;
    size_t n;
    ml_run_source_metric_names(s, &names, &n);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        ml_series se;
        if (ml_run_source_series(s, names[i], 0, ML_RUNSTORE_LAST_STEP, &se) != ML_OK) {
            json_decref(arr);
            return NULL;
        }
        json_t *o = json_pack("{s:s, s:I}", "name", names[i], "points", (json_int_t)se.n);
        if (o && se.n) {
            json_object_set_new(o, "first_step", json_integer((json_int_t)se.steps[0]));
            json_object_set_new(o, "last_step", json_integer((json_int_t)se.steps[se.n - 1]));
            json_object_set_new(o, "last_value", ml__json_number(se.values[se.n - 1]));
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *checkpoints_json(const ml_run_source *s) {
    const ml_run_checkpoint *rows;
    size_t n;
    ml_run_source_checkpoints(s, &rows, &n);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const char *slash = strrchr(rows[i].dir, '/');
        json_t *o = json_pack("{s:I, s:s, s:s?, s:b, s:b, s:b}", "step", (json_int_t)rows[i].step,
                              "folder", slash ? slash + 1 : rows[i].dir, "weights",
                              !rows[i].weights     ? NULL
                              : rows[i].is_adapter ? "lora_adapter"
                                                   : "model",
                              "is_adapter", rows[i].is_adapter, "is_best", rows[i].is_best,
                              "deleted", rows[i].deleted);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *summary_json(const ml_run_source *s, const ml_analysis *a) {
    ml__report_number nums[ML__REPORT_MAX_NUMBERS];
    size_t n = ml__report_numbers(a, nums, ML__REPORT_MAX_NUMBERS);
    json_t *o = json_object(), *arr = json_array(), *recs = json_array(), *miss = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "label", nums[i].label, "value",
                                             nums[i].value, "note", nums[i].note));
    size_t nt = ml__report_top_findings(a, ML__REPORT_TOP_FINDINGS);
    for (size_t i = 0; recs && i < nt; i++)
        json_array_append_new(recs, json_string(a->findings[i].code));
    const char *missing[MAX_MISSING];
    size_t nm = ml__report_missing(s, a, missing, MAX_MISSING);
    for (size_t i = 0; miss && i < nm; i++) json_array_append_new(miss, json_string(missing[i]));
    if (!o || !arr || !recs || !miss) {
        json_decref(o);
        json_decref(arr);
        json_decref(recs);
        json_decref(miss);
        return NULL;
    }
    json_object_set_new(o, "verdict_sentence",
                        json_string(ml__report_verdict_sentence(a->verdict)));
    json_object_set_new(o, "key_numbers", arr);
    json_object_set_new(o, "top_recommendations", recs);
    json_object_set_new(o, "not_collected", miss);
    return o;
}

/* The analysis document of one run with the report's additions. */
static ml_status run_json(json_t **out, const ml_report_run *r) {
    char *text = NULL;
    ML_TRY(ml_analysis_json(r->analysis, r->source, &text));
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    ml_free(text);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return ML_FAIL(ML_EFORMAT, "analysis JSON does not parse: %s", err.text);
    }
    ml__report_strip_paths(json_object_get(doc, "run"));
    json_t *m = metrics_json(r->source), *c = checkpoints_json(r->source),
           *s = summary_json(r->source, r->analysis);
    if (!m || !c || !s) {
        json_decref(m);
        json_decref(c);
        json_decref(s);
        json_decref(doc);
        return ml_error_last()->code != ML_OK ? ml_error_last()->code : ML_NOMEM();
    }
    json_object_set_new(doc, "summary", s);
    json_object_set_new(doc, "metrics", m);
    if (!json_object_get(doc, "checkpoints")) json_object_set_new(doc, "checkpoints", c);
    else json_decref(c);
    *out = doc;
    return ML_OK;
}

static json_t *comparison_json(const ml_report_run *a, const ml_report_run *b) {
    char na[96], nb[96], faster[512];
    ml__report_run_name(na, sizeof na, a->source);
    ml__report_run_name(nb, sizeof nb, b->source);
    ml__report_faster(faster, sizeof faster, a->analysis, b->analysis, na, nb);
    ml__report_delta d[ML__REPORT_MAX_DELTAS];
    size_t n = ml__report_deltas(a->analysis, b->analysis, d, ML__REPORT_MAX_DELTAS);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const char *better = NULL;
        if (d[i].better != 0 && isfinite(d[i].a) && isfinite(d[i].b) && d[i].a != d[i].b)
            better = (d[i].b - d[i].a) * d[i].better > 0 ? "compare" : "run";
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o, s:s?}", "metric", d[i].label,
                                             "run", ml__json_number(d[i].a), "compare",
                                             ml__json_number(d[i].b), "difference",
                                             ml__json_number(d[i].b - d[i].a), "better", better));
    }
    return arr ? json_pack("{s:s, s:o}", "converged_first", faster, "deltas", arr) : NULL;
}

static ml_status report_json(ml__outbuf *out, const ml_report_run *run,
                             const ml_report_run *cmp) {
    json_t *doc = NULL, *other = NULL;
    ML_TRY(run_json(&doc, run));
    ml_status st = cmp ? run_json(&other, cmp) : ML_OK;
    if (st == ML_OK) {
        json_object_set_new(doc, "report",
                            json_pack("{s:i, s:s, s:b}", "version", REPORT_JSON_VERSION,
                                      "microlens", ml_version(), "compare", cmp != NULL));
        if (cmp) {
            json_object_set_new(doc, "compare", other);
            json_object_set_new(doc, "comparison", comparison_json(run, cmp));
        }
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text) st = ML_NOMEM();
        else {
            ml__outbuf_puts(out, text);
            st = ml__outbuf_puts(out, "\n");
            free(text);
        }
    }
    json_decref(doc);
    return st;
}

static ml_status check_run(const ml_report_run *r, const char *which) {
    if (!r || !r->source || !r->analysis)
        return ML_FAIL(ML_EINVAL, "report: %s needs both a run source and its analysis", which);
    return ML_OK;
}

ml_status ml_report_write(const ml_report_run *run, const ml_report_run *compare,
                          const ml_report_options *o, const char *path) {
    ml_report_options dflt = ML_REPORT_OPTIONS_INIT;
    if (!o) o = &dflt;
    if (o->version != ML_REPORT_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "report options: version %d (expected %d)", o->version,
                       ML_REPORT_OPTIONS_VERSION);
    if (!path || !*path) return ML_FAIL(ML_EINVAL, "report: no output path");
    ML_TRY(check_run(run, "the run"));
    if (compare) ML_TRY(check_run(compare, "the compared run"));
    char title[256], name[96];
    if (o->title) {
        snprintf(title, sizeof title, "%s", o->title);
    } else if (compare) {
        char other[96];
        ml__report_run_name(name, sizeof name, run->source);
        ml__report_run_name(other, sizeof other, compare->source);
        snprintf(title, sizeof title, "Training report: %s vs %s", name, other);
    } else {
        ml__report_run_name(name, sizeof name, run->source);
        snprintf(title, sizeof title, "Training report: %s", name);
    }
    ml__outbuf out;
    ML_TRY(ml__outbuf_open(&out, path, 0644));
    ml_status st;
    switch (o->format) {
    case ML_REPORT_HTML: st = ml__report_html(&out, run, compare, title); break;
    case ML_REPORT_MARKDOWN: st = ml__report_markdown(&out, run, compare, title); break;
    case ML_REPORT_JSON: st = report_json(&out, run, compare); break;
    default: st = ML_FAIL(ML_EINVAL, "report options: format %d is not a ml_report_format",
                          (int)o->format);
    }
    if (st != ML_OK) {
        ml__outbuf_abort(&out);
        return st;
    }
    return ml__outbuf_commit(&out);
}
