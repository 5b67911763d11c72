/* export_text.c - the csv and jsonl exports: metrics in long form (step, name, value,
 * wall_time), checkpoints, events and the analysis, one file each. Numbers are written in the
 * shortest form that reads back exactly; it reads nothing but the run source. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/memory.h"
#include "report/export_internal.h"
#include "report/summary.h"
#include "util/error.h"

typedef struct text_format {
    int is_json;
    const char *ext; /* ".csv", ".jsonl" */
} text_format;

/* "<base><ext>" opened in the staging folder. */
static ml_status open_table(ml__export *e, ml__outbuf *b, const char *base, const text_format *f) {
    char rel[64];
    snprintf(rel, sizeof rel, "%s%s", base, f->ext);
    return ml__export_open(e, b, rel);
}

/* CSV: NaN "nan", +-inf "inf"/"-inf" (what Python's float() and pandas read). JSON: null. */
static ml_status value(ml__outbuf *b, double v, const text_format *f) {
    return ml__number(b, v, f->is_json ? "null" : "nan", f->is_json);
}

static ml_status metrics_rows(ml__export *e, ml__outbuf *b, const text_format *f, size_t m) {
    const char *name = e->metrics[m];
    ml_series s;
    ML_TRY(ml_run_source_series(e->src, name, 0, ML_RUNSTORE_LAST_STEP, &s));
    /* The name's cell is the same on every row: encode it once. */
    char *text = NULL;
    if (f->is_json) {
        json_t *j = json_string(name);
        text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        json_decref(j);
        if (!text) return ML_FAIL(ML_EFORMAT, "export: metric name is not valid UTF-8");
    }
    for (size_t i = 0; i < s.n && b->status == ML_OK; i++) {
        if (f->is_json) {
            ml__outbuf_printf(b, "{\"step\":%lld,\"name\":%s,\"value\":", (long long)s.steps[i],
                              text);
            value(b, s.values[i], f);
            ml__outbuf_puts(b, ",\"wall_time\":");
            value(b, s.wall_times[i], f);
            ml__outbuf_puts(b, "}\n");
        } else {
            ml__outbuf_printf(b, "%lld,", (long long)s.steps[i]);
            ml__csv_field(b, name);
            ml__outbuf_puts(b, ",");
            value(b, s.values[i], f);
            ml__outbuf_puts(b, ",");
            value(b, s.wall_times[i], f);
            ml__outbuf_puts(b, "\n");
        }
    }
    free(text);
    e->res.n_points += s.n;
    return b->status;
}

static ml_status write_metrics(ml__export *e, const text_format *f) {
    ml__outbuf b;
    ML_TRY(open_table(e, &b, "metrics", f));
    if (!f->is_json) ml__outbuf_puts(&b, "step,name,value,wall_time\n");
    ml_status st = ML_OK;
    for (size_t m = 0; m < e->n_metrics && st == ML_OK; m++) st = metrics_rows(e, &b, f, m);
    if (st != ML_OK) {
        ml__outbuf_abort(&b);
        return st;
    }
    e->res.n_metrics = e->n_metrics;
    return ml__outbuf_commit(&b);
}

/* A text cell: a CSV field or a JSON string; NULL as an empty field or null. */
static void text_cell(ml__outbuf *b, const char *s, const text_format *f) {
    if (!s) ml__outbuf_puts(b, f->is_json ? "null" : "");
    else if (f->is_json) ml__json_string(b, s);
    else ml__csv_field(b, s);
}

static const char *bool_text(bool v, const text_format *f) {
    return f->is_json ? (v ? "true" : "false") : (v ? "1" : "0");
}

static ml_status write_checkpoints(ml__export *e, const text_format *f) {
    const ml_run_checkpoint *rows = NULL;
    size_t n = 0;
    ml_run_source_checkpoints(e->src, &rows, &n);
    ml__outbuf b;
    ML_TRY(open_table(e, &b, "checkpoints", f));
    if (!f->is_json) ml__outbuf_puts(&b, "step,dir,weights,is_adapter,is_best,deleted\n");
    for (size_t i = 0; i < n; i++) {
        const ml_run_checkpoint *c = &rows[i];
        const char *w = c->weights ? strrchr(c->weights, '/') : NULL;
        w = w ? w + 1 : c->weights; /* the file name only: no absolute path in an export */
        ml__outbuf_printf(&b, f->is_json ? "{\"step\":%lld,\"dir\":" : "%lld,", (long long)c->step);
        text_cell(&b, ml__export_rel_dir(e->src, c), f);
        ml__outbuf_puts(&b, f->is_json ? ",\"weights\":" : ",");
        text_cell(&b, w, f);
        ml__outbuf_printf(&b, f->is_json ? ",\"is_adapter\":%s,\"is_best\":%s,\"deleted\":%s}\n"
                                         : ",%s,%s,%s\n",
                          bool_text(c->is_adapter, f), bool_text(c->is_best, f),
                          bool_text(c->deleted, f));
    }
    e->res.n_checkpoints = n;
    return ml__outbuf_commit(&b);
}

static ml_status write_events(ml__export *e, const text_format *f) {
    const ml_event_row *rows = NULL;
    size_t n = 0;
    ml_run_source_events(e->src, &rows, &n);
    ml__outbuf b;
    ML_TRY(open_table(e, &b, "events", f));
    if (!f->is_json) ml__outbuf_puts(&b, "step,wall_time,level,text\n");
    for (size_t i = 0; i < n; i++) {
        ml__outbuf_printf(&b, f->is_json ? "{\"step\":%lld,\"wall_time\":" : "%lld,",
                          (long long)rows[i].step);
        value(&b, rows[i].wall_time, f);
        ml__outbuf_puts(&b, f->is_json ? ",\"level\":" : ",");
        text_cell(&b, ml_event_level_name(rows[i].level), f);
        ml__outbuf_puts(&b, f->is_json ? ",\"text\":" : ",");
        text_cell(&b, rows[i].text, f);
        ml__outbuf_puts(&b, f->is_json ? "}\n" : "\n");
    }
    return ml__outbuf_commit(&b);
}

/* findings.csv: the analysis's diagnostics as a flat table for spreadsheets. */
static ml_status write_findings(ml__export *e, const ml_analysis *a) {
    ml__outbuf b;
    ML_TRY(ml__export_open(e, &b, "findings.csv"));
    ml__outbuf_puts(&b, "severity,code,step,title,evidence,recommendation\n");
    const text_format csv = {0, ".csv"};
    for (size_t i = 0; i < a->n_findings; i++) {
        const ml_finding *g = &a->findings[i];
        ml__outbuf_printf(&b, "%s,", ml_severity_name(g->severity));
        text_cell(&b, g->code, &csv);
        if (g->step >= 0) ml__outbuf_printf(&b, ",%lld,", (long long)g->step);
        else ml__outbuf_puts(&b, ",,");
        text_cell(&b, g->title, &csv);
        ml__outbuf_puts(&b, ",");
        text_cell(&b, g->evidence, &csv);
        ml__outbuf_puts(&b, ",");
        text_cell(&b, g->recommendation, &csv);
        ml__outbuf_puts(&b, "\n");
    }
    return ml__outbuf_commit(&b);
}

/* analysis.json (csv, indented) or analysis.jsonl (one compact line), plus findings.csv. */
static ml_status write_analysis(ml__export *e, const text_format *f) {
    ml_analyze_options ao = ML_ANALYZE_OPTIONS_INIT;
    ml_analysis *a = NULL;
    char *json = NULL, *text = NULL;
    ML_TRY(ml_analyze(&a, e->src, &ao));
    ml_status st = ml_analysis_json(a, e->src, &json);
    if (st == ML_OK) {
        json_error_t err;
        json_t *doc = json_loads(json, 0, &err);
        if (doc) ml__report_strip_paths(json_object_get(doc, "run"));
        text = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | (f->is_json ? JSON_COMPACT
                                                                        : JSON_INDENT(2)))
                   : NULL;
        json_decref(doc);
        if (!text) st = ML_FAIL(ML_EFORMAT, "export: analysis JSON does not parse (%s)", err.text);
    }
    ml__outbuf b;
    if (st == ML_OK) st = ml__export_open(e, &b, f->is_json ? "analysis.jsonl" : "analysis.json");
    if (st == ML_OK) {
        ml__outbuf_puts(&b, text);
        ml__outbuf_puts(&b, "\n");
        st = ml__outbuf_commit(&b);
    }
    if (st == ML_OK && !f->is_json) st = write_findings(e, a);
    free(text);
    ml_free(json);
    ml_analysis_free(a);
    return st;
}

ml_status ml__export_text(ml__export *e) {
    text_format f = {e->o->format == ML_EXPORT_JSONL, e->o->format == ML_EXPORT_JSONL ? ".jsonl"
                                                                                     : ".csv"};
    ML_TRY(write_metrics(e, &f));
    ML_TRY(write_checkpoints(e, &f));
    ML_TRY(write_events(e, &f));
    if (e->o->analysis) ML_TRY(write_analysis(e, &f));
    return ML_OK;
}
