/* htmldetail.c - the diagnostics and technical detail of the HTML run report: every finding
 * with its evidence and recommendation, a table per analysis, what was not collected, the
 * metric families, checkpoints, events, run metadata and configuration. Numbers only; no
 * plot. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microlens/memory.h"
#include "report/html.h"
#include "report/page.h"
#include "report/summary.h"
#include "report/svg.h"
#include "util/error.h"

#define MAX_MISSING 24
/* Rows of the checkpoint and event tables (the latest ones). */
#define MAX_TABLE_ROWS 40

/* ---- Diagnostics and detail --------------------------------------------------------------- */

static void findings(ml__html_ctx *c, const ml__html_run *r) {
    const ml_analysis *a = r->a;
    if (c->n_runs > 1) ml__page_el(c->out, "h3", NULL, r->name);
    if (a->n_findings == 0) ml__page_el(c->out, "p", NULL, "No diagnostic fired.");
    for (size_t i = 0; i < a->n_findings; i++) {
        const ml_finding *f = &a->findings[i];
        const char *sev = ml_severity_name(f->severity);
        ml__outbuf_printf(c->out, "<div class=\"finding %s\">\n<p class=\"t\">", sev);
        ml__page_badge(c->out, sev);
        ml__svg_escape(c->out, f->title);
        ml__outbuf_puts(c->out, " <code>");
        ml__svg_escape(c->out, f->code);
        ml__outbuf_puts(c->out, "</code>");
        if (f->step >= 0) ml__outbuf_printf(c->out, " at step %lld", (long long)f->step);
        ml__outbuf_puts(c->out, "</p>\n<p><b>Evidence:</b> ");
        ml__svg_escape(c->out, f->evidence);
        ml__outbuf_puts(c->out, "</p>\n<p><b>Recommendation:</b> ");
        ml__svg_escape(c->out, f->recommendation);
        ml__outbuf_puts(c->out, "</p>\n</div>\n");
    }
}

static void kv_num(ml__outbuf *out, const char *key, double v) {
    char b[32];
    ml__report_fmt(b, sizeof b, v);
    ml__page_kv(out, key, b);
}

static void kv_step(ml__outbuf *out, const char *key, int64_t step) {
    char b[32];
    if (step >= 0) snprintf(b, sizeof b, "%lld", (long long)step);
    else snprintf(b, sizeof b, "none");
    ml__page_kv(out, key, b);
}

static void kv_bool(ml__outbuf *out, const char *key, bool v) { ml__page_kv(out, key, v ? "yes" : "no"); }

static void detail_loss(ml__outbuf *out, const ml_analysis *a) {
    const ml_loss_analysis *l = &a->loss;
    const ml_overfit_analysis *o = &a->overfit;
    ml__page_el(out, "h3", NULL, "Loss and convergence");
    if (!l->present) {
        ml__page_el(out, "p", "missing", "Training loss: not collected.");
    } else {
        ml__outbuf_puts(out, "<table>\n");
        char b[32];
        snprintf(b, sizeof b, "%zu", l->n_points);
        ml__page_kv(out, "points", b);
        kv_num(out, "initial (mean of the first points)", l->initial);
        kv_num(out, "final (mean of the last points)", l->final);
        kv_num(out, "best", l->best);
        kv_step(out, "best at step", l->best_step);
        kv_num(out, "reduction (initial - final) / |initial|", l->reduction);
        kv_num(out, "smoothness (0..1)", l->smoothness);
        kv_bool(out, "plateau", l->plateau);
        kv_step(out, "plateau since step", l->plateau_step);
        kv_bool(out, "converged", l->converged);
        kv_step(out, "converged at step", l->converged_step);
        ml__outbuf_puts(out, "</table>\n");
    }
    ml__page_el(out, "h3", NULL, "Overfitting");
    if (!o->present) {
        ml__page_el(out, "p", "missing", "Evaluation loss: not collected.");
        return;
    }
    ml__outbuf_puts(out, "<table>\n");
    kv_num(out, "best evaluation loss", o->best_eval_loss);
    kv_step(out, "best evaluation step", o->best_eval_step);
    ml__page_kv(out, "best checkpoint", o->best_checkpoint ? o->best_checkpoint : "none");
    kv_num(out, "training loss slope after the best (per 1000 steps)", o->train_slope);
    kv_num(out, "evaluation loss slope after the best (per 1000 steps)", o->eval_slope);
    kv_num(out, "final gap (evaluation - training)", o->gap);
    kv_bool(out, "overfitting", o->overfitting);
    kv_step(out, "evaluation loss rising from step", o->divergence_step);
    kv_step(out, "early stop advice: step", o->early_stop_step);
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_gradient(ml__outbuf *out, const ml_analysis *a) {
    const ml_gradient_analysis *g = &a->gradient;
    ml__page_el(out, "h3", NULL, "Gradients");
    if (!g->present) {
        ml__page_el(out, "p", "missing", "Gradient norm: not collected.");
        return;
    }
    char b[32];
    ml__outbuf_puts(out, "<table>\n");
    kv_num(out, "median global norm", g->median_norm);
    kv_num(out, "largest global norm", g->max_norm);
    kv_step(out, "largest at step", g->max_norm_step);
    snprintf(b, sizeof b, "%zu", g->n_spikes);
    ml__page_kv(out, "spikes", b);
    kv_step(out, "first spike at step", g->first_spike_step);
    snprintf(b, sizeof b, "%zu", g->n_nonfinite);
    ml__page_kv(out, "non-finite steps", b);
    kv_step(out, "first non-finite at step", g->first_nonfinite_step);
    kv_bool(out, "vanishing (median below the floor)", g->vanishing);
    if (g->has_cosine) {
        kv_num(out, "cosine with previous gradient: mean", g->cosine_mean);
        kv_num(out, "cosine with previous gradient: sd", g->cosine_std);
    } else {
        ml__page_kv(out, "cosine with previous gradient", "not collected");
    }
    ml__outbuf_puts(out, "</table>\n");
    if (g->n_tensors == 0) {
        ml__page_el(out, "p", "missing", "Per-tensor gradient norms: not collected.");
        return;
    }
    ml__outbuf_puts(out, "<table>\n");
    const char *head[4] = {"tensor", "mean gradient norm", "share", "dead"};
    ml__page_row(out, head, 4, true);
    for (size_t i = 0; i < g->n_tensors; i++) {
        char m[32], s[32];
        ml__report_fmt(m, sizeof m, g->tensors[i].mean_grad_norm);
        ml__report_fmt(s, sizeof s, g->tensors[i].share);
        const char *cells[4] = {g->tensors[i].name, m, s, g->tensors[i].dead ? "dead" : ""};
        ml__page_row(out, cells, 4, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_weights(ml__outbuf *out, const ml_analysis *a) {
    const ml_weight_analysis *w = &a->weights;
    ml__page_el(out, "h3", NULL, "Weights");
    if (!w->present) {
        ml__page_el(out, "p", "missing", "Weight norms: not collected.");
        return;
    }
    ml__outbuf_puts(out, "<table>\n");
    const char *head[7] = {"tensor",        "norm CV",  "change points", "first change",
                           "largest jump", "at step", "last update ratio"};
    ml__page_row(out, head, 7, true);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const ml_tensor_stability *t = &w->tensors[i];
        char cv[32], cp[24], fc[24], mj[32], ms[24], ur[32];
        ml__report_fmt(cv, sizeof cv, t->cv);
        snprintf(cp, sizeof cp, "%zu", t->n_change_points);
        if (t->first_change_step >= 0) snprintf(fc, sizeof fc, "%lld", (long long)t->first_change_step);
        else snprintf(fc, sizeof fc, "none");
        ml__report_fmt(mj, sizeof mj, t->max_jump);
        snprintf(ms, sizeof ms, "%lld", (long long)t->max_jump_step);
        ml__report_fmt(ur, sizeof ur, t->final_update_ratio);
        const char *cells[7] = {t->name, cv, cp, fc, mj, ms, ur};
        ml__page_row(out, cells, 7, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_lr(ml__outbuf *out, const ml_analysis *a) {
    const ml_lr_analysis *lr = &a->lr;
    ml__page_el(out, "h3", NULL, "Learning rate");
    if (!lr->present) {
        ml__page_el(out, "p", "missing", "Learning rate: not collected.");
        return;
    }
    ml__outbuf_puts(out, "<table>\n");
    ml__page_kv(out, "schedule after warm-up", ml_lr_schedule_shape_name(lr->shape));
    kv_step(out, "warm-up steps", lr->warmup_steps);
    kv_num(out, "initial", lr->initial);
    kv_num(out, "peak", lr->peak);
    kv_num(out, "final", lr->final);
    kv_num(out, "fit error (relative RMS)", lr->fit_rmse);
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_lora(ml__outbuf *out, const ml_analysis *a) {
    ml__page_el(out, "h3", NULL, "LoRA spectra");
    const ml_lora_evolution *e = &a->lora;
    if (!a->has_lora || e->n_checkpoints == 0) {
        ml__page_el(out, "p", "missing", "No checkpoint holds a LoRA adapter.");
        return;
    }
    const ml_lora_spectra *s = e->spectra[e->n_checkpoints - 1];
    char b[160];
    snprintf(b, sizeof b, "At step %lld (%zu checkpoints analysed); energy concentration "
                          "(HHI, 1/modules = even .. 1): %.3g.",
             (long long)e->steps[e->n_checkpoints - 1], e->n_checkpoints, s ? s->hhi : NAN);
    ml__page_el(out, "p", NULL, b);
    ml__outbuf_puts(out, "<table>\n");
    const char *head[9] = {"module",      "r",         "shape",       "scale",  "effective rank",
                           "stable rank", "utilisation", "condition", "energy share"};
    ml__page_row(out, head, 9, true);
    for (size_t m = 0; s && m < s->n_modules; m++) {
        const ml_lora_spectrum *sp = &s->modules[m];
        char r[24], shape[48], sc[32], er[32], sr[32], ut[32], cn[32], es[32];
        snprintf(r, sizeof r, "%zu", sp->rank);
        snprintf(shape, sizeof shape, "%zu x %zu", sp->d_out, sp->d_in);
        ml__report_fmt(sc, sizeof sc, sp->scale);
        ml__report_fmt(er, sizeof er, sp->effective_rank);
        ml__report_fmt(sr, sizeof sr, sp->stable_rank);
        ml__report_fmt(ut, sizeof ut, sp->utilisation);
        ml__report_fmt(cn, sizeof cn, sp->condition);
        ml__report_fmt(es, sizeof es, sp->energy_share);
        const char *cells[9] = {sp->module, r, shape, sc, er, sr, ut, cn, es};
        ml__page_row(out, cells, 9, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_missing(ml__outbuf *out, const ml__html_run *r) {
    const char *missing[MAX_MISSING];
    size_t n = ml__report_missing(r->s, r->a, missing, MAX_MISSING);
    ml__page_el(out, "h3", NULL, "Not collected");
    if (n == 0) {
        ml__page_el(out, "p", NULL, "Every series the report can plot was collected.");
        return;
    }
    ml__page_el(out, "p", NULL,
                "These series are absent from the run, so their plots are left out "
                "(microlens train --collect chooses what is recorded):");
    ml__outbuf_puts(out, "<ul>\n");
    for (size_t i = 0; i < n; i++) ml__page_el(out, "li", "missing", missing[i]);
    ml__outbuf_puts(out, "</ul>\n");
}

/* Metric families (grad_norm/ and its tensors as one row) with their series and point counts. */
static ml_status detail_metrics(ml__outbuf *out, const ml__html_run *r) {
    const char *const *names;
    size_t n;
    ml_run_source_metric_names(r->s, &names, &n);
    ml__page_el(out, "h3", NULL, "Metrics collected");
    ml__outbuf_puts(out, "<table>\n");
    const char *head[4] = {"metric", "series", "points", "steps"};
    ml__page_row(out, head, 4, true);
    for (size_t i = 0; i < n;) {
        const char *slash = strchr(names[i], '/');
        size_t plen = slash ? (size_t)(slash - names[i]) + 1 : strlen(names[i]);
        size_t j = i, points = 0;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (; j < n && strncmp(names[j], names[i], plen) == 0 &&
               (slash || names[j][plen] == '\0');
             j++) {
            ml_series se;
            if (ml_run_source_series(r->s, names[j], 0, ML_RUNSTORE_LAST_STEP, &se) != ML_OK)
                return ml_error_last()->code;
            points += se.n;
            if (se.n && se.steps[0] < lo) lo = se.steps[0];
            if (se.n && se.steps[se.n - 1] > hi) hi = se.steps[se.n - 1];
        }
        char fam[256], ns[24], np[24], st[64];
        snprintf(fam, sizeof fam, "%.*s%s", (int)plen, names[i], slash ? "*" : "");
        snprintf(ns, sizeof ns, "%zu", j - i);
        snprintf(np, sizeof np, "%zu", points);
        if (points) snprintf(st, sizeof st, "%lld to %lld", (long long)lo, (long long)hi);
        else snprintf(st, sizeof st, "none");
        const char *cells[4] = {fam, ns, np, st};
        ml__page_row(out, cells, 4, false);
        i = j > i ? j : i + 1;
    }
    ml__outbuf_puts(out, "</table>\n");
    return out->status;
}

static void detail_checkpoints(ml__outbuf *out, const ml__html_run *r) {
    const ml_run_checkpoint *rows;
    size_t n;
    ml_run_source_checkpoints(r->s, &rows, &n);
    ml__page_el(out, "h3", NULL, "Checkpoints");
    if (n == 0) {
        ml__page_el(out, "p", "missing", "No checkpoint.");
        return;
    }
    ml__outbuf_puts(out, "<table>\n");
    const char *head[4] = {"step", "folder", "weights", "mark"};
    ml__page_row(out, head, 4, true);
    for (size_t i = n > MAX_TABLE_ROWS ? n - MAX_TABLE_ROWS : 0; i < n; i++) {
        char step[24];
        snprintf(step, sizeof step, "%lld", (long long)rows[i].step);
        const char *dir = rows[i].dir, *slash = strrchr(dir, '/');
        const char *cells[4] = {step, slash ? slash + 1 : dir,
                                !rows[i].weights   ? "none"
                                : rows[i].is_adapter ? "LoRA adapter"
                                                     : "full model",
                                rows[i].deleted ? "deleted by retention"
                                : rows[i].is_best ? "best"
                                                  : ""};
        ml__page_row(out, cells, 4, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

static void detail_events(ml__outbuf *out, const ml__html_run *r) {
    const ml_event_row *ev;
    size_t n;
    ml_run_source_events(r->s, &ev, &n);
    if (n == 0) return;
    ml__page_el(out, "h3", NULL, "Events");
    ml__outbuf_puts(out, "<table>\n");
    const char *head[3] = {"step", "level", "event"};
    ml__page_row(out, head, 3, true);
    for (size_t i = n > MAX_TABLE_ROWS ? n - MAX_TABLE_ROWS : 0; i < n; i++) {
        char step[24];
        snprintf(step, sizeof step, "%lld", (long long)ev[i].step);
        const char *cells[3] = {step, ml_event_level_name(ev[i].level), ev[i].text};
        ml__page_row(out, cells, 3, false);
    }
    ml__outbuf_puts(out, "</table>\n");
}

/* Epoch seconds as "2024-05-01 12:00:00 UTC". */
static void utc_text(char *buf, size_t cap, double t) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (!isfinite(t) || !gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "%.0f", t);
}

static ml_status detail_meta(ml__outbuf *out, const ml__html_run *r) {
    char *text = NULL;
    ML_TRY(ml_run_source_meta_json(r->s, &text));
    json_t *meta = json_loads(text, 0, NULL);
    ml_free(text);
    if (!meta) return ML_FAIL(ML_EFORMAT, "run metadata is not JSON");
    ml__report_strip_paths(meta);
    ml__page_el(out, "h3", NULL, "Run");
    ml__outbuf_puts(out, "<table>\n");
    const char *key;
    json_t *v;
    json_t *config = NULL;
    json_object_foreach(meta, key, v) {
        char b[128];
        size_t kl = strlen(key);
        if (json_is_object(v) || json_is_array(v)) {
            if (strcmp(key, "config") == 0) config = v;
            continue;
        }
        if (json_is_string(v)) {
            ml__page_kv(out, key, json_string_value(v));
            continue;
        }
        if (json_is_number(v) && kl > 3 && strcmp(key + kl - 3, "_at") == 0)
            utc_text(b, sizeof b, json_number_value(v));
        else if (json_is_integer(v)) snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
        else if (json_is_number(v)) ml__report_fmt(b, sizeof b, json_number_value(v));
        else snprintf(b, sizeof b, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
        ml__page_kv(out, key, b);
    }
    ml__outbuf_puts(out, "</table>\n");
    if (config) {
        char *cfg = json_dumps(config, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (cfg) {
            ml__page_el(out, "h3", NULL, "Configuration");
            ml__page_el(out, "pre", NULL, cfg);
            free(cfg);
        }
    }
    json_decref(meta);
    const char *const *notes;
    size_t n;
    ml_run_source_notes(r->s, &notes, &n);
    if (n > 0) {
        ml__page_el(out, "h3", NULL, "Notes from reading the run");
        ml__outbuf_puts(out, "<ul>\n");
        for (size_t i = 0; i < n; i++) ml__page_el(out, "li", NULL, notes[i]);
        ml__outbuf_puts(out, "</ul>\n");
    }
    return out->status;
}

ml_status ml__html_detail(ml__html_ctx *c) {
    ml__outbuf_puts(c->out, "<h2 id=\"diagnostics\">Diagnostics</h2>\n");
    for (size_t r = 0; r < c->n_runs; r++) findings(c, &c->r[r]);
    ml__outbuf_puts(c->out, "<h2 id=\"detail\">Technical detail</h2>\n");
    for (size_t r = 0; r < c->n_runs; r++) {
        const ml__html_run *rr = &c->r[r];
        if (c->n_runs > 1) {
            char h[160];
            snprintf(h, sizeof h, "Run %s", rr->name);
            ml__page_el(c->out, "h2", NULL, h);
        }
        detail_loss(c->out, rr->a);
        detail_gradient(c->out, rr->a);
        detail_weights(c->out, rr->a);
        detail_lr(c->out, rr->a);
        detail_lora(c->out, rr->a);
        detail_missing(c->out, rr);
        ML_TRY(detail_metrics(c->out, rr));
        detail_checkpoints(c->out, rr);
        detail_events(c->out, rr);
        ML_TRY(detail_meta(c->out, rr));
    }
    return c->out->status;
}

