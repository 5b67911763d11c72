/* evalpage.c - ml_report_evaluation_html: the page of a cross-validated evaluation (summary,
 * pooled out-of-fold ROC and precision-recall curves, confusion matrix, ROC-AUC by fold,
 * per-fold table, settings). Metrics come from the evaluation's own JSON; the curves from its
 * out-of-fold scores and the join's classes. No sample identifier is read or written. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/eval.h"
#include "microlens/memory.h"
#include "microlens/report.h"
#include "report/page.h"
#include "report/summary.h"
#include "report/svg.h"
#include "util/error.h"
#include "util/outbuf.h"

/* Bars of the by-fold chart: a repeated CV beyond this many folds is in the table only. */
#define MAX_FOLD_BARS 30

typedef struct eval_data {
    json_t *doc;      /* ml_evaluation_json, parsed */
    json_t *pooled;   /* pooled_by_repeat[0] (borrowed from doc) */
    double *score;    /* (n) out-of-fold scores of repeat 0, labelled samples only */
    int *y;           /* (n) 1 for the positive class */
    size_t n, n_pos;
    ml_curve *roc, *pr;
} eval_data;

static void eval_data_free(eval_data *d) {
    json_decref(d->doc);
    free(d->score);
    free(d->y);
    ml_curve_free(d->roc);
    ml_curve_free(d->pr);
}

static double jnum(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *jstr(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

static ml_status load_scores(eval_data *d, const ml_evaluation *e, const ml_join *j) {
    size_t n = ml_join_n_samples(j);
    const char *positive = jstr(d->doc, "positive_class");
    if (ml_join_n_classes(j) != 2 || strcmp(ml_join_class_name(j, 1), positive) != 0)
        return ML_FAIL(ML_EINVAL, "evaluation report: the join's classes do not match the "
                                  "evaluation (positive class \"%.40s\")", positive);
    d->score = malloc((n ? n : 1) * sizeof *d->score);
    d->y = malloc((n ? n : 1) * sizeof *d->y);
    if (!d->score || !d->y) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) {
        double s = ml_evaluation_score(e, 0, i);
        int c = ml_join_class_of(j, i);
        if (!isfinite(s) || c < 0) continue;
        d->score[d->n] = s;
        d->y[d->n] = c == 1;
        d->n_pos += c == 1;
        d->n++;
    }
    double want = jnum(d->doc, "n_samples");
    if ((double)d->n != want)
        return ML_FAIL(ML_EINVAL, "evaluation report: the join gives %zu scored samples, the "
                                  "evaluation %.0f (was it computed from another join?)",
                       d->n, want);
    ML_TRY(ml_roc_curve(&d->roc, d->score, d->y, d->n));
    return ml_pr_curve(&d->pr, d->score, d->y, d->n);
}

static ml_status eval_data_load(eval_data *d, const ml_evaluation *e, const ml_join *j) {
    memset(d, 0, sizeof *d);
    char *text = NULL;
    ML_TRY(ml_evaluation_json(e, &text));
    d->doc = json_loads(text, 0, NULL);
    ml_free(text);
    if (!d->doc) return ML_FAIL(ML_EFORMAT, "evaluation JSON does not parse");
    d->pooled = json_array_get(json_object_get(d->doc, "pooled_by_repeat"), 0);
    if (!json_is_object(d->pooled))
        return ML_FAIL(ML_EFORMAT, "evaluation JSON: pooled_by_repeat[0] missing");
    return load_scores(d, e, j);
}

static void card(ml__outbuf *out, const char *label, const char *value, const char *note) {
    ml__outbuf_puts(out, "<div class=\"num\">");
    ml__page_el(out, "div", "k", label);
    ml__page_el(out, "div", "v", value);
    if (note) ml__page_el(out, "div", "n", note);
    ml__outbuf_puts(out, "</div>\n");
}

static void summary(ml__outbuf *out, const eval_data *d) {
    const json_t *ci = json_object_get(json_object_get(d->pooled, "ci95"), "roc_auc");
    const json_t *mean = json_object_get(d->doc, "mean"), *sd = json_object_get(d->doc, "sd");
    char v[48], note[128], a[32], b[32];
    ml__outbuf_puts(out, "<section class=\"summary\">\n<h2 id=\"summary\">Summary</h2>\n");
    ml__outbuf_puts(out, "<div class=\"numbers\">\n");
    ml__report_fmt(v, sizeof v, jnum(d->pooled, "roc_auc"));
    ml__report_fmt(a, sizeof a, json_number_value(json_array_get(ci, 0)));
    ml__report_fmt(b, sizeof b, json_number_value(json_array_get(ci, 1)));
    snprintf(note, sizeof note, "pooled out-of-fold; 95%% bootstrap CI %s to %s", a, b);
    card(out, "ROC-AUC", v, note);
    ml__report_fmt(a, sizeof a, jnum(mean, "roc_auc"));
    ml__report_fmt(b, sizeof b, jnum(sd, "roc_auc"));
    snprintf(note, sizeof note, "mean over folds (sd %s)", b);
    card(out, "ROC-AUC by fold", a, note);
    ml__report_fmt(v, sizeof v, jnum(d->pooled, "average_precision"));
    ml__report_fmt(a, sizeof a, d->n ? (double)d->n_pos / (double)d->n : NAN);
    snprintf(note, sizeof note, "chance level = prevalence %s", a);
    card(out, "average precision", v, note);
    ml__report_fmt(v, sizeof v, jnum(d->pooled, "f1"));
    card(out, "F1", v, "positive class, at the classifier's threshold");
    ml__report_fmt(v, sizeof v, jnum(d->pooled, "accuracy"));
    card(out, "accuracy", v, NULL);
    ml__report_fmt(v, sizeof v, jnum(d->pooled, "balanced_accuracy"));
    card(out, "balanced accuracy", v, "mean recall of the two classes");
    snprintf(v, sizeof v, "%zu", d->n);
    snprintf(note, sizeof note, "%zu positive (%.40s)", d->n_pos, jstr(d->doc, "positive_class"));
    card(out, "samples", v, note);
    ml__outbuf_puts(out, "</div>\n</section>\n");
}

static ml_status roc_plot(ml__outbuf *out, const eval_data *d) {
    char label[64], auc[32], cap[256];
    ml__report_fmt(auc, sizeof auc, jnum(d->pooled, "roc_auc"));
    snprintf(label, sizeof label, "out-of-fold, AUC %s", auc);
    ml__svg_line l = {label, d->roc->x, d->roc->y, d->roc->n_points, ML__SVG_BLUE, false, false,
                      false};
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "ROC curve";
    p.x_label = "false positive rate (1 - specificity)";
    p.y_label = "true positive rate (recall)";
    p.x_min = p.y_min = 0;
    p.x_max = p.y_max = 1;
    p.diagonal = p.square = true;
    p.lines = &l;
    p.n_lines = 1;
    snprintf(cap, sizeof cap,
             "Pooled out-of-fold scores of repeat 1 (%zu samples, every threshold); the dashed "
             "diagonal is chance.",
             d->n);
    ml__page_figure_begin(out);
    ML_TRY(ml__svg_plot_write(out, &p));
    ml__page_figure_end(out, cap);
    return out->status;
}

static ml_status pr_plot(ml__outbuf *out, const eval_data *d) {
    char label[64], ap[32];
    ml__report_fmt(ap, sizeof ap, jnum(d->pooled, "average_precision"));
    snprintf(label, sizeof label, "out-of-fold, AP %s", ap);
    double prev = d->n ? (double)d->n_pos / (double)d->n : 0;
    double bx[2] = {0, 1}, by[2] = {prev, prev};
    ml__svg_line l[2] = {
        {label, d->pr->x, d->pr->y, d->pr->n_points, ML__SVG_BLUE, false, true, false},
        {"chance (prevalence)", bx, by, 2, ML__SVG_GREY, true, false, false},
    };
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "Precision-recall curve";
    p.x_label = "recall (true positive rate)";
    p.y_label = "precision (positive predictive value)";
    p.x_min = p.y_min = 0;
    p.x_max = p.y_max = 1;
    p.square = true;
    p.lines = l;
    p.n_lines = 2;
    ml__page_figure_begin(out);
    ML_TRY(ml__svg_plot_write(out, &p));
    ml__page_figure_end(out, "Precision against recall over every threshold, drawn as steps "
                             "(average precision is the area under these steps).");
    return out->status;
}

static ml_status confusion(ml__outbuf *out, const eval_data *d) {
    const json_t *c = json_object_get(d->pooled, "confusion");
    const json_t *classes = json_object_get(d->doc, "classes");
    double thr = jnum(d->doc, "threshold");
    char cap[256], t[32];
    ml__report_fmt(t, sizeof t, thr);
    snprintf(cap, sizeof cap,
             "Pooled out-of-fold predictions of repeat 1 at the classifier's threshold (score "
             "> %s is positive); shading is the share of the true class.",
             t);
    ml__page_figure_begin(out);
    const char *neg = json_string_value(json_array_get(classes, 0));
    const char *pos = json_string_value(json_array_get(classes, 1));
    ML_TRY(ml__svg_confusion_write(
        out, "Confusion matrix", neg ? neg : "negative", pos ? pos : "positive", (size_t)jnum(c, "tn"),
        (size_t)jnum(c, "fp"), (size_t)jnum(c, "fn"), (size_t)jnum(c, "tp")));
    ml__page_figure_end(out, cap);
    return out->status;
}

static ml_status fold_bars(ml__outbuf *out, const eval_data *d) {
    const json_t *folds = json_object_get(d->doc, "folds");
    size_t n = json_array_size(folds), m = 0;
    if (n == 0 || n > MAX_FOLD_BARS) return ML_OK;
    const char *labels[MAX_FOLD_BARS];
    char names[MAX_FOLD_BARS][32];
    double v[MAX_FOLD_BARS];
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(folds, i);
        double auc = jnum(f, "roc_auc");
        if (!isfinite(auc)) continue; /* a fold with one class has no AUC */
        snprintf(names[m], sizeof names[m], "repeat %.0f, fold %.0f", jnum(f, "repeat") + 1,
                 jnum(f, "fold") + 1);
        labels[m] = names[m];
        v[m++] = auc;
    }
    if (m == 0) return ML_OK;
    ml__svg_bars b = {"ROC-AUC by fold", "ROC-AUC on the fold's test samples", m, labels, v,
                      ML__SVG_BLUE};
    ml__page_figure_begin(out);
    ML_TRY(ml__svg_bars_write(out, &b));
    ml__page_figure_end(out, "Each outer test fold scored by the model trained on the other "
                             "folds; the spread is the estimate's instability.");
    return out->status;
}

static void folds_table(ml__outbuf *out, const eval_data *d) {
    const json_t *folds = json_object_get(d->doc, "folds");
    static const char *const keys[5] = {"roc_auc", "average_precision", "f1", "accuracy",
                                        "balanced_accuracy"};
    ml__page_el(out, "h3", NULL, "Folds");
    ml__outbuf_puts(out, "<table>\n");
    const char *head[13] = {"repeat", "fold", "train", "test", "ROC-AUC", "AP", "F1",
                            "accuracy", "balanced acc.", "TP", "FP", "TN", "FN"};
    ml__page_row(out, head, 13, true);
    for (size_t i = 0; i < json_array_size(folds); i++) {
        const json_t *f = json_array_get(folds, i), *c = json_object_get(f, "confusion");
        char cell[13][32];
        const char *cells[13];
        snprintf(cell[0], 32, "%.0f", jnum(f, "repeat") + 1);
        snprintf(cell[1], 32, "%.0f", jnum(f, "fold") + 1);
        snprintf(cell[2], 32, "%.0f", jnum(f, "n_train"));
        snprintf(cell[3], 32, "%.0f", jnum(f, "n_test"));
        for (size_t k = 0; k < 5; k++) ml__report_fmt(cell[4 + k], 32, jnum(f, keys[k]));
        snprintf(cell[9], 32, "%.0f", jnum(c, "tp"));
        snprintf(cell[10], 32, "%.0f", jnum(c, "fp"));
        snprintf(cell[11], 32, "%.0f", jnum(c, "tn"));
        snprintf(cell[12], 32, "%.0f", jnum(c, "fn"));
        for (size_t k = 0; k < 13; k++) cells[k] = cell[k];
        ml__page_row(out, cells, 13, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

/* A flat JSON object as "key value, key value" (reals to 6 digits): readable and wrappable. */
static void flat_text(char *buf, size_t cap, const json_t *o) {
    size_t len = 0;
    const char *key;
    const json_t *v;
    buf[0] = '\0';
    json_object_foreach((json_t *)o, key, v) {
        char val[96];
        if (json_is_string(v)) snprintf(val, sizeof val, "%.80s", json_string_value(v));
        else if (json_is_integer(v)) snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) snprintf(val, sizeof val, "%.6g", json_real_value(v));
        else if (json_is_boolean(v)) snprintf(val, sizeof val, "%s", json_is_true(v) ? "yes" : "no");
        else if (json_is_null(v)) snprintf(val, sizeof val, "none");
        else {
            char *t = json_dumps(v, JSON_COMPACT);
            snprintf(val, sizeof val, "%.80s", t ? t : "?");
            free(t);
        }
        int n = snprintf(buf + len, cap - len, "%s%s %s", len ? ", " : "", key, val);
        if (n < 0 || (size_t)n >= cap - len) return;
        len += (size_t)n;
    }
}

static void settings(ml__outbuf *out, const eval_data *d) {
    ml__page_el(out, "h3", NULL, "Settings");
    const char *keys[3] = {"model", "transform", "cv"};
    char text[2048];
    ml__outbuf_puts(out, "<table>\n");
    for (size_t i = 0; i < 3; i++) {
        flat_text(text, sizeof text, json_object_get(d->doc, keys[i]));
        ml__page_kv(out, keys[i], text);
    }
    ml__page_kv(out, "data fingerprint", jstr(d->doc, "fingerprint"));
    ml__outbuf_puts(out, "</table>\n");
}

/* The evaluation's split name in words. */
static const char *split_words(const char *kind) {
    if (strcmp(kind, "stratified_kfold") == 0) return "stratified K-fold";
    if (strcmp(kind, "stratified_group_kfold") == 0) return "stratified group K-fold";
    if (strcmp(kind, "leave_one_group_out") == 0) return "leave-one-group-out";
    return kind;
}

static ml_status page(ml__outbuf *out, const eval_data *d) {
    const json_t *model = json_object_get(d->doc, "model"), *cv = json_object_get(d->doc, "cv");
    char title[160], sub[320];
    snprintf(title, sizeof title, "Cross-validated evaluation: %.20s on %.20s features",
             jstr(model, "kind"), jstr(json_object_get(d->doc, "transform"), "kind"));
    snprintf(sub, sizeof sub,
             "%.0f folds, %s, %.0f repeat(s)%s; %zu labelled samples, positive class \"%.40s\". "
             "Every transform, scaler and model was fitted on training folds only.",
             jnum(cv, "k"), split_words(jstr(cv, "kind")), jnum(cv, "repeats"),
             json_is_true(json_object_get(cv, "nested")) ? ", nested grid search" : "", d->n,
             jstr(d->doc, "positive_class"));
    ML_TRY(ml__page_open(out, title, sub));
    summary(out, d);
    ml__outbuf_puts(out, "<h2 id=\"plots\">Plots</h2>\n<div class=\"plots\">\n");
    ML_TRY(roc_plot(out, d));
    ML_TRY(pr_plot(out, d));
    ML_TRY(confusion(out, d));
    ML_TRY(fold_bars(out, d));
    ml__outbuf_puts(out, "</div>\n<h2 id=\"detail\">Technical detail</h2>\n");
    folds_table(out, d);
    settings(out, d);
    return ml__page_close(out);
}

ml_status ml_report_evaluation_html(const ml_evaluation *e, const ml_join *j, const char *path) {
    if (!e || !j || !path || !*path)
        return ML_FAIL(ML_EINVAL, "evaluation report: needs an evaluation, its join and a path");
    eval_data d;
    ml_status st = eval_data_load(&d, e, j);
    if (st == ML_OK) {
        ml__outbuf out;
        st = ml__outbuf_open(&out, path, 0644);
        if (st == ML_OK) {
            st = page(&out, &d);
            if (st == ML_OK) st = ml__outbuf_commit(&out);
            else ml__outbuf_abort(&out);
        }
    }
    eval_data_free(&d);
    return st;
}
