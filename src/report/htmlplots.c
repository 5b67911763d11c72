/* htmlplots.c - the plots of the HTML run report: it loads series from the run source, bins
 * and selects them, and hands them to svg.c with titles, axis labels (with units) and
 * captions. A plot whose series is absent or has no finite point is left out; the technical
 * detail lists what was not collected. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/html.h"
#include "report/page.h"
#include "report/summary.h"
#include "report/svg.h"
#include "util/error.h"

/* Per-tensor heat maps: at most this many rows (the tensors of largest mean value are kept,
 * the caption says so) and step bins; a 48 x 80 map stays readable and about 60 KB. */
#define HEAT_MAX_ROWS 48
#define HEAT_MAX_COLS 80
/* Line plots with one line per tensor or module show this many (the palette's series colours). */
#define MAX_LINES ML__SVG_N_SERIES_COLOURS
/* Bars of the gradient-flow chart. */
#define TOP_BARS 20
/* From this many points on, the training loss is drawn raw (light) under a trailing moving
 * mean over 2% of the points (at least 5): minibatch noise otherwise hides the trend. */
#define SMOOTH_MIN_POINTS 200

/* ---- Series ------------------------------------------------------------------------------- */

typedef struct xy {
    size_t n;
    double *x, *y;
} xy;

static void xy_free(xy *s) {
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* Loads a metric over the analysed window; an absent metric gives n = 0 and ML_OK. */
static ml_status xy_load(xy *out, const ml__html_run *r, const char *name) {
    memset(out, 0, sizeof *out);
    ml_series se;
    ml_status st = ml_run_source_series(r->s, name, r->a->first_step, r->a->last_step, &se);
    if (st == ML_ENOTFOUND) {
        ml_error_clear();
        return ML_OK;
    }
    if (st != ML_OK || se.n == 0) return st;
    out->x = malloc(se.n * sizeof *out->x);
    out->y = malloc(se.n * sizeof *out->y);
    if (!out->x || !out->y) {
        xy_free(out);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < se.n; i++) {
        out->x[i] = (double)se.steps[i];
        out->y[i] = se.values[i];
    }
    out->n = se.n;
    return ML_OK;
}

/* The value at step (exact match), NaN when the series has no point there. */
static double xy_at(const xy *s, double step) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->x[mid] < step) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->n && s->x[lo] == step ? s->y[lo] : NAN;
}

/* Trailing mean over the finite values of the last w points. */
static ml_status xy_smooth(xy *out, const xy *in, size_t w) {
    memset(out, 0, sizeof *out);
    out->x = malloc(in->n * sizeof *out->x);
    out->y = malloc(in->n * sizeof *out->y);
    if (!out->x || !out->y) {
        xy_free(out);
        return ML_NOMEM();
    }
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (isfinite(in->y[i])) {
            sum += in->y[i];
            cnt++;
        }
        if (i >= w && isfinite(in->y[i - w])) {
            sum -= in->y[i - w];
            cnt--;
        }
        out->x[i] = in->x[i];
        out->y[i] = cnt ? sum / (double)cnt : NAN;
    }
    out->n = in->n;
    return ML_OK;
}

static ml__svg_colour run_colour(size_t run) {
    return run == 0 ? ML__SVG_BLUE : ML__SVG_ORANGE;
}

/* "name" alone for one run, "run-a: name" when comparing. */
static void line_label(char *buf, size_t cap, const ml__html_ctx *c, size_t run, const char *what) {
    if (c->n_runs == 1) snprintf(buf, cap, "%s", what);
    else snprintf(buf, cap, "%s%s%s", c->r[run].name, *what ? " " : "", what);
}

/* Legend entries of per-tensor lines: the names without the prefix they share (said in the
 * caption as "names after PREFIX"), each shortened from the left. */
static void legend_names(char labels[][64], const char *const *names, size_t n, char *said,
                         size_t said_cap) {
    size_t skip = ml__svg_common_prefix(names, n);
    for (size_t i = 0; i < n; i++) ml__svg_shorten_tail(labels[i], 64, names[i] + skip, 34);
    if (skip) snprintf(said, said_cap, " Names after \"%.*s\".", (int)(skip < 120 ? skip : 120), names[0]);
    else said[0] = '\0';
}

/* A plot switches to a log y axis when every value is positive and they span more than this
 * factor: a training loss near 0.001 under an evaluation loss near 1 is otherwise a flat line
 * on the axis. */
#define AUTO_LOG_RATIO 30.0

static bool wants_log(const ml__svg_line *lines, size_t n) {
    double lo = INFINITY, hi = 0;
    for (size_t l = 0; l < n; l++)
        for (size_t i = 0; i < lines[l].n; i++) {
            double v = lines[l].y[i];
            if (!isfinite(v)) continue;
            if (v <= 0) return false;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    return hi > 0 && hi / lo > AUTO_LOG_RATIO;
}

/* ---- Figures ------------------------------------------------------------------------------ */

static ml_status figure_plot(ml__html_ctx *c, const ml__svg_plot *p, const char *caption) {
    if (!ml__svg_plot_drawable(p)) return ML_OK;
    ml__page_figure_begin(c->out);
    ML_TRY(ml__svg_plot_write(c->out, p));
    ml__page_figure_end(c->out, caption);
    return c->out->status;
}

static ml_status figure_heat(ml__html_ctx *c, const ml__svg_heatmap *h, const char *caption) {
    if (!ml__svg_heatmap_drawable(h)) return ML_OK;
    ml__page_figure_begin(c->out);
    ML_TRY(ml__svg_heatmap_write(c->out, h));
    ml__page_figure_end(c->out, caption);
    return c->out->status;
}

static void add_vline(ml__svg_vline *v, size_t *n, int64_t step, const char *label,
                      ml__svg_colour colour) {
    if (step >= 0) v[(*n)++] = (ml__svg_vline){(double)step, label, colour};
}

static ml_status plot_loss(ml__html_ctx *c) {
    xy tr[2] = {{0}}, ev[2] = {{0}}, sm = {0};
    ml__svg_line lines[6];
    char labels[6][128];
    size_t nl = 0;
    ml_status st = ML_OK;
    for (size_t r = 0; r < c->n_runs && st == ML_OK; r++) {
        if ((st = xy_load(&tr[r], &c->r[r], "loss")) != ML_OK) break;
        if ((st = xy_load(&ev[r], &c->r[r], "eval_loss")) != ML_OK) break;
        ml__svg_colour col = run_colour(r);
        if (c->n_runs == 1 && tr[r].n >= SMOOTH_MIN_POINTS) {
            size_t w = tr[r].n / 50 > 5 ? tr[r].n / 50 : 5;
            if ((st = xy_smooth(&sm, &tr[r], w)) != ML_OK) break;
            lines[nl++] = (ml__svg_line){"training, every step", tr[r].x, tr[r].y, tr[r].n,
                                         ML__SVG_SKY, false, false, false};
            snprintf(labels[nl], sizeof labels[nl], "training, mean of %zu steps", w);
            lines[nl] = (ml__svg_line){labels[nl], sm.x, sm.y, sm.n, col, false, false, false};
            nl++;
        } else if (tr[r].n) {
            line_label(labels[nl], sizeof labels[nl], c, r, "training");
            lines[nl] = (ml__svg_line){labels[nl], tr[r].x, tr[r].y, tr[r].n, col, false, false,
                                       false};
            nl++;
        }
        if (ev[r].n) {
            line_label(labels[nl], sizeof labels[nl], c, r, "evaluation");
            lines[nl] = (ml__svg_line){labels[nl], ev[r].x, ev[r].y, ev[r].n,
                                       c->n_runs == 1 ? ML__SVG_VERMILLION : col, true, false,
                                       true};
            nl++;
        }
    }
    ml__svg_vline vl[3];
    size_t nv = 0;
    const ml_analysis *a = c->r[0].a;
    if (c->n_runs == 1 && a->overfit.present) {
        add_vline(vl, &nv, a->overfit.best_eval_step, "best eval", ML__SVG_GREEN);
        if (a->overfit.overfitting)
            add_vline(vl, &nv, a->overfit.divergence_step, "eval rises", ML__SVG_VERMILLION);
    }
    if (c->n_runs == 1 && a->loss.present && a->loss.converged)
        add_vline(vl, &nv, a->loss.converged_step, "converged", ML__SVG_GREY);
    bool hf = ml_run_source_get_kind(c->r[0].s) == ML_RUN_SOURCE_HF_TRAINER;
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = c->n_runs == 1 ? "Training and evaluation loss" : "Loss, both runs";
    p.x_label = "training step";
    p.lines = lines;
    p.n_lines = nl;
    p.log_y = wants_log(lines, nl);
    p.y_label = hf ? (p.log_y ? "loss (as logged; log scale)" : "loss (as logged by the trainer)")
                   : (p.log_y ? "loss (cross-entropy, nats; log scale)" : "loss (cross-entropy, nats)");
    p.vlines = vl;
    p.n_vlines = nv;
    if (st == ML_OK)
        st = figure_plot(c, &p, c->n_runs == 1
                                    ? "Mean loss of each training step and of each evaluation "
                                      "on the held-out split; dashed verticals mark the best "
                                      "evaluation, where evaluation loss starts rising and "
                                      "where the convergence rule was met."
                                    : "Training (solid) and evaluation (dashed) loss of both "
                                      "runs over the same step axis.");
    for (size_t r = 0; r < 2; r++) {
        xy_free(&tr[r]);
        xy_free(&ev[r]);
    }
    xy_free(&sm);
    return st;
}

/* One line per run of a scalar metric. */
static ml_status plot_overlay(ml__html_ctx *c, const char *metric, const char *title,
                              const char *y_label, bool log_y, double y_min, double y_max,
                              double scale, const char *caption) {
    xy s[2] = {{0}};
    ml__svg_line lines[2];
    char labels[2][128];
    size_t nl = 0;
    ml_status st = ML_OK;
    for (size_t r = 0; r < c->n_runs && st == ML_OK; r++) {
        if ((st = xy_load(&s[r], &c->r[r], metric)) != ML_OK || s[r].n == 0) continue;
        for (size_t i = 0; i < s[r].n; i++) s[r].y[i] *= scale;
        line_label(labels[nl], sizeof labels[nl], c, r, c->n_runs == 1 ? metric : "");
        lines[nl] = (ml__svg_line){c->n_runs == 1 ? NULL : labels[nl], s[r].x, s[r].y, s[r].n,
                                   run_colour(r), false, false, s[r].n <= 40};
        nl++;
    }
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = title;
    p.x_label = "training step";
    p.y_label = y_label;
    p.log_y = log_y;
    p.y_min = y_min;
    p.y_max = y_max;
    p.lines = lines;
    p.n_lines = nl;
    if (st == ML_OK && nl > 0) st = figure_plot(c, &p, caption);
    xy_free(&s[0]);
    xy_free(&s[1]);
    return st;
}

static void lr_caption(char *buf, size_t cap, const ml_lr_analysis *lr) {
    char peak[32], fin[32], rmse[32];
    ml__report_fmt(peak, sizeof peak, lr->peak);
    ml__report_fmt(fin, sizeof fin, lr->final);
    if (isfinite(lr->fit_rmse)) snprintf(rmse, sizeof rmse, "%.1f", 100 * lr->fit_rmse);
    else snprintf(rmse, sizeof rmse, "n/a");
    snprintf(buf, cap,
             "Learning rate at each step. Detected schedule: %s after %lld warm-up steps; peak "
             "%s, final %s (fit error %s%% RMS).",
             ml_lr_schedule_shape_name(lr->shape), (long long)lr->warmup_steps, peak, fin, rmse);
}

/* Gradient norm markers: non-finite steps on the top edge, the largest norm and the steps of
 * gradient findings. Every spike is drawn apart as a point series (explosions below); the
 * spike rule lives in the analysis. */
typedef struct marks {
    ml__svg_marker *m;
    char (*label)[80];
    size_t n, cap;
} marks;

static void mark_add(marks *k, double x, double y, const char *what) {
    if (k->n >= k->cap || !isfinite(x)) return;
    for (size_t i = 0; i < k->n; i++)
        if (k->m[i].x == x) return; /* one marker per step */
    snprintf(k->label[k->n], sizeof k->label[k->n], "step %.0f: %s", x, what);
    k->m[k->n] = (ml__svg_marker){x, y, k->label[k->n]};
    k->n++;
}

static void gradient_marks(marks *k, const xy *g, const ml_analysis *a) {
    const ml_gradient_analysis *ga = &a->gradient;
    for (size_t i = 0; i < g->n; i++)
        if (!isfinite(g->y[i])) mark_add(k, g->x[i], NAN, "non-finite norm");
    if (ga->max_norm_step >= 0 && ga->n_spikes > 0)
        mark_add(k, (double)ga->max_norm_step, xy_at(g, (double)ga->max_norm_step),
                 "largest norm");
    for (size_t i = 0; i < a->n_findings; i++) {
        const ml_finding *f = &a->findings[i];
        if (strncmp(f->code, "gradient.", 9) == 0 && f->step >= 0)
            mark_add(k, (double)f->step, xy_at(g, (double)f->step), f->title);
    }
}

/* Every step the analysis flagged as an explosion, as one point series; tooltips only while
 * svg.c draws the points one by one (ML__SVG_MAX_MARKERS). */
typedef struct explosions {
    double *x, *y;
    char (*tip)[80];
    const char **tips;
    char legend[80];
} explosions;

static void explosions_free(explosions *e) {
    free(e->x);
    free(e->y);
    free(e->tip);
    free(e->tips);
    memset(e, 0, sizeof *e);
}

static ml_status explosions_load(explosions *e, ml__svg_points *pts,
                                 const ml_gradient_analysis *g) {
    memset(e, 0, sizeof *e);
    size_t n = g->n_spike_steps;
    if (n == 0) return ML_OK;
    bool tipped = n <= ML__SVG_MAX_MARKERS;
    e->x = malloc(n * sizeof *e->x);
    e->y = malloc(n * sizeof *e->y);
    if (tipped) {
        e->tip = malloc(n * sizeof *e->tip);
        e->tips = malloc(n * sizeof *e->tips);
    }
    if (!e->x || !e->y || (tipped && (!e->tip || !e->tips))) {
        explosions_free(e);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n; i++) {
        e->x[i] = (double)g->spike_steps[i];
        e->y[i] = g->spike_norms[i];
        if (!tipped) continue;
        char v[32];
        ml__report_fmt(v, sizeof v, g->spike_norms[i]);
        snprintf(e->tip[i], sizeof e->tip[i], "step %" PRId64 ": explosion, norm %s",
                 g->spike_steps[i], v);
        e->tips[i] = e->tip[i];
    }
    snprintf(e->legend, sizeof e->legend, "explosion (rule: > %g x running median)",
             g->spike_ratio);
    *pts = (ml__svg_points){e->legend, e->x, e->y, e->tips, n, ML__SVG_PURPLE};
    return ML_OK;
}

static ml_status plot_grad_norm(ml__html_ctx *c) {
    xy s[2] = {{0}};
    ml__svg_line lines[2];
    char labels[2][128];
    size_t nl = 0;
    marks k = {NULL, NULL, 0, ML__SVG_MAX_MARKERS + 8};
    explosions ex = {0};
    ml__svg_points pts;
    size_t n_pts = 0;
    k.m = malloc(k.cap * sizeof *k.m);
    k.label = malloc(k.cap * sizeof *k.label);
    ml_status st = k.m && k.label ? ML_OK : ML_NOMEM();
    for (size_t r = 0; r < c->n_runs && st == ML_OK; r++) {
        if ((st = xy_load(&s[r], &c->r[r], "grad_norm")) != ML_OK || s[r].n == 0) continue;
        line_label(labels[nl], sizeof labels[nl], c, r, "global norm");
        lines[nl] = (ml__svg_line){labels[nl], s[r].x, s[r].y, s[r].n, run_colour(r), false,
                                   false, false};
        nl++;
        if (c->n_runs != 1) continue;
        gradient_marks(&k, &s[r], c->r[r].a);
        if ((st = explosions_load(&ex, &pts, &c->r[r].a->gradient)) == ML_OK && ex.x) n_pts = 1;
    }
    const ml_gradient_analysis *g = &c->r[0].a->gradient;
    char caption[480], med[32];
    ml__report_fmt(med, sizeof med, g->median_norm);
    snprintf(caption, sizeof caption,
             "L2 norm of the whole gradient before clipping, log scale. %zu spikes (the rule is "
             "in docs/analyze.md) and %zu non-finite steps; median %s.%s%s",
             g->n_spikes, g->n_nonfinite, med,
             n_pts ? " Diamonds mark every spike." : "",
             k.n ? " Triangles mark non-finite steps (on the top edge), the largest norm and "
                   "the steps of gradient findings."
                 : "");
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "Gradient global norm";
    p.x_label = "training step";
    p.y_label = "gradient L2 norm (log scale)";
    p.log_y = true;
    p.lines = lines;
    p.n_lines = nl;
    p.points = &pts;
    p.n_points = n_pts;
    p.markers = k.m;
    p.n_markers = k.n;
    p.marker_label = "non-finite / largest norm / finding";
    if (st == ML_OK && nl > 0)
        st = figure_plot(c, &p,
                         c->n_runs == 1 ? caption
                                        : "Global gradient norm of both runs, log scale.");
    explosions_free(&ex);
    free(k.m);
    free(k.label);
    xy_free(&s[0]);
    xy_free(&s[1]);
    return st;
}

/* ---- Per-tensor heat maps ----------------------------------------------------------------- */

typedef struct family {
    size_t n;          /* series of the family */
    const char **full; /* metric names, lent by the source */
    char **short_name; /* the part between prefix and suffix */
} family;

static void family_free(family *f) {
    for (size_t i = 0; f->short_name && i < f->n; i++) free(f->short_name[i]);
    free(f->short_name);
    free(f->full);
    memset(f, 0, sizeof *f);
}

static ml_status family_find(family *f, const ml_run_source *s, const char *prefix,
                             const char *suffix) {
    memset(f, 0, sizeof *f);
    const char *const *names;
    size_t n, lp = strlen(prefix), ls = suffix ? strlen(suffix) : 0;
    ml_run_source_metric_names(s, &names, &n);
    f->full = malloc((n ? n : 1) * sizeof *f->full);
    f->short_name = calloc(n ? n : 1, sizeof *f->short_name);
    if (!f->full || !f->short_name) {
        family_free(f);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len <= lp + ls || strncmp(names[i], prefix, lp) != 0) continue;
        if (suffix && strcmp(names[i] + len - ls, suffix) != 0) continue;
        size_t m = len - lp - ls;
        char *sn = malloc(m + 1);
        if (!sn) {
            family_free(f);
            return ML_NOMEM();
        }
        memcpy(sn, names[i] + lp, m);
        sn[m] = '\0';
        f->full[f->n] = names[i];
        f->short_name[f->n++] = sn;
    }
    return ML_OK;
}

typedef struct heat_data {
    size_t n_rows, n_cols, n_total; /* n_total: rows before the HEAT_MAX_ROWS cut */
    double x_lo, x_hi;              /* the step range the bins tile */
    const char **labels;
    double *col_x, *values;
} heat_data;

static void heat_data_free(heat_data *h) {
    free(h->labels);
    free(h->col_x);
    free(h->values);
    memset(h, 0, sizeof *h);
}

/* Mean of the finite values (positive ones for a log scale) of series s in each step bin. */
static void bin_row(double *row, const xy *s, double lo, double width, size_t n_cols,
                    bool log_scale) {
    double *sum = row;
    size_t cnt[HEAT_MAX_COLS] = {0};
    for (size_t j = 0; j < n_cols; j++) sum[j] = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]) || (log_scale && !(s->y[i] > 0))) continue;
        double b = floor((s->x[i] - lo) / width);
        size_t j = b < 0 ? 0 : b >= (double)n_cols ? n_cols - 1 : (size_t)b;
        sum[j] += s->y[i];
        cnt[j]++;
    }
    for (size_t j = 0; j < n_cols; j++) row[j] = cnt[j] ? sum[j] / (double)cnt[j] : NAN;
}

static double row_mean(const double *row, size_t n) {
    double s = 0;
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (isfinite(row[j])) {
            s += row[j];
            k++;
        }
    return k ? s / (double)k : -INFINITY;
}

/* Keeps the HEAT_MAX_ROWS rows of largest mean, in their original order: a row is dropped
 * when at least HEAT_MAX_ROWS rows have a larger mean (ties: the earlier row stays). */
static ml_status heat_cut(heat_data *h) {
    if (h->n_rows <= HEAT_MAX_ROWS) return ML_OK;
    double *mean = malloc(h->n_rows * sizeof *mean);
    if (!mean) return ML_NOMEM();
    for (size_t r = 0; r < h->n_rows; r++) mean[r] = row_mean(h->values + r * h->n_cols, h->n_cols);
    size_t kept = 0;
    for (size_t r = 0; r < h->n_rows; r++) {
        size_t larger = 0;
        for (size_t q = 0; q < h->n_rows; q++)
            larger += mean[q] > mean[r] || (mean[q] == mean[r] && q < r);
        if (larger >= HEAT_MAX_ROWS) continue;
        if (kept != r) { /* kept < r: row r moves up over a dropped row */
            memmove(h->values + kept * h->n_cols, h->values + r * h->n_cols,
                    h->n_cols * sizeof *h->values);
            h->labels[kept] = h->labels[r];
        }
        kept++;
    }
    h->n_rows = kept;
    free(mean);
    return ML_OK;
}

static ml_status heat_build(heat_data *h, const ml__html_run *r, const family *f, bool log_scale) {
    memset(h, 0, sizeof *h);
    xy *s = calloc(f->n, sizeof *s);
    if (!s) return ML_NOMEM();
    ml_status st = ML_OK;
    double lo = INFINITY, hi = -INFINITY;
    size_t longest = 0;
    for (size_t i = 0; i < f->n && st == ML_OK; i++) {
        st = xy_load(&s[i], r, f->full[i]);
        if (s[i].n == 0) continue;
        lo = fmin(lo, s[i].x[0]);
        hi = fmax(hi, s[i].x[s[i].n - 1]);
        if (s[i].n > longest) longest = s[i].n;
    }
    if (st == ML_OK && longest > 0) {
        h->n_cols = longest < HEAT_MAX_COLS ? longest : HEAT_MAX_COLS;
        h->n_rows = h->n_total = f->n;
        h->labels = malloc(f->n * sizeof *h->labels);
        h->col_x = malloc(h->n_cols * sizeof *h->col_x);
        h->values = malloc(f->n * h->n_cols * sizeof *h->values);
        if (!h->labels || !h->col_x || !h->values) st = ML_NOMEM();
    }
    if (st == ML_OK && longest > 0) {
        double width = (hi - lo + 1) / (double)h->n_cols;
        h->x_lo = lo;
        h->x_hi = hi + 1;
        for (size_t j = 0; j < h->n_cols; j++) h->col_x[j] = round(lo + ((double)j + 0.5) * width);
        for (size_t i = 0; i < f->n; i++) {
            h->labels[i] = f->short_name[i];
            bin_row(h->values + i * h->n_cols, &s[i], lo, width, h->n_cols, log_scale);
        }
        st = heat_cut(h);
    }
    for (size_t i = 0; i < f->n; i++) xy_free(&s[i]);
    free(s);
    if (st != ML_OK) heat_data_free(h);
    return st;
}

static ml_status heat_family(ml__html_ctx *c, const ml__html_run *r, const char *prefix,
                             const char *suffix, const char *title, const char *value_label,
                             bool log_scale, const char *caption) {
    family f;
    heat_data h = {0};
    ML_TRY(family_find(&f, r->s, prefix, suffix));
    ml_status st = f.n ? heat_build(&h, r, &f, log_scale) : ML_OK;
    char full_title[192], cap[512];
    if (c->n_runs > 1) snprintf(full_title, sizeof full_title, "%s: %s", r->name, title);
    else snprintf(full_title, sizeof full_title, "%s", title);
    if (h.n_total > h.n_rows)
        snprintf(cap, sizeof cap, "%s Showing the %zu of %zu rows with the largest mean.",
                 caption, h.n_rows, h.n_total);
    else snprintf(cap, sizeof cap, "%s", caption);
    ml__svg_heatmap hm = {full_title, "training step", value_label, h.n_rows, h.n_cols,
                          h.labels, h.col_x, h.values, log_scale, h.x_lo, h.x_hi};
    if (st == ML_OK && h.n_rows > 0) st = figure_heat(c, &hm, cap);
    heat_data_free(&h);
    family_free(&f);
    return st;
}

/* ---- Weights, gradient flow, LoRA --------------------------------------------------------- */

/* Weight norms of the tensors whose norm varied most, each divided by its first value. */
static ml_status plot_weight_norms(ml__html_ctx *c, const ml__html_run *r) {
    const ml_weight_analysis *w = &r->a->weights;
    if (!w->present || w->n_tensors == 0) return ML_OK;
    size_t pick[MAX_LINES], np = 0;
    for (size_t k = 0; k < MAX_LINES && k < w->n_tensors; k++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < w->n_tensors; i++) {
            bool used = false;
            for (size_t j = 0; j < np; j++) used |= pick[j] == i;
            if (!used && isfinite(w->tensors[i].cv) &&
                (best == SIZE_MAX || w->tensors[i].cv > w->tensors[best].cv))
                best = i;
        }
        if (best != SIZE_MAX) pick[np++] = best;
    }
    xy s[MAX_LINES] = {{0}};
    ml__svg_line lines[MAX_LINES];
    char labels[MAX_LINES][64], name[256], said[160];
    const char *names[MAX_LINES];
    size_t nl = 0;
    ml_status st = ML_OK;
    for (size_t k = 0; k < np && st == ML_OK; k++) {
        snprintf(name, sizeof name, "weight_norm/%s", w->tensors[pick[k]].name);
        if ((st = xy_load(&s[nl], r, name)) != ML_OK || s[nl].n == 0) continue;
        double first = NAN;
        for (size_t i = 0; i < s[nl].n && !isfinite(first); i++)
            if (isfinite(s[nl].y[i]) && s[nl].y[i] != 0) first = s[nl].y[i];
        for (size_t i = 0; i < s[nl].n; i++) s[nl].y[i] /= first;
        names[nl] = w->tensors[pick[k]].name;
        lines[nl] = (ml__svg_line){labels[nl], s[nl].x, s[nl].y, s[nl].n, (ml__svg_colour)nl,
                                   false, false, false};
        nl++;
    }
    legend_names(labels, names, nl, said, sizeof said);
    char title[192], cap[420];
    snprintf(title, sizeof title, "%s%sWeight norms (relative)", c->n_runs > 1 ? r->name : "",
             c->n_runs > 1 ? ": " : "");
    snprintf(cap, sizeof cap,
             "L2 norm of each tensor divided by its first collected value, for the %zu of %zu "
             "tensors whose norm varied most (coefficient of variation); all are in the "
             "weight table below.%s",
             nl, w->n_tensors, said);
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = title;
    p.x_label = "training step";
    p.lines = lines;
    p.n_lines = nl;
    p.log_y = wants_log(lines, nl);
    p.y_label = p.log_y ? "weight L2 norm / first value (log scale)" : "weight L2 norm / first value";
    if (st == ML_OK && nl > 0) st = figure_plot(c, &p, cap);
    for (size_t k = 0; k < MAX_LINES; k++) xy_free(&s[k]);
    return st;
}

static ml_status plot_gradient_flow(ml__html_ctx *c, const ml__html_run *r) {
    const ml_gradient_analysis *g = &r->a->gradient;
    if (!g->present || g->n_tensors == 0) return ML_OK;
    size_t n = g->n_tensors < TOP_BARS ? g->n_tensors : TOP_BARS;
    const char *labels[TOP_BARS];
    char names[TOP_BARS][96];
    double v[TOP_BARS];
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", g->tensors[i].name,
                 g->tensors[i].dead ? " (dead)" : "");
        labels[i] = names[i];
        v[i] = isfinite(g->tensors[i].share) && g->tensors[i].share > 0 ? 100 * g->tensors[i].share
                                                                        : 0;
    }
    char title[192], cap[200];
    snprintf(title, sizeof title, "%s%sGradient flow by tensor", c->n_runs > 1 ? r->name : "",
             c->n_runs > 1 ? ": " : "");
    snprintf(cap, sizeof cap,
             "Share of each tensor in the sum of mean per-tensor gradient norms (%zu largest of "
             "%zu); \"dead\" marks tensors whose gradient stayed about zero.",
             n, g->n_tensors);
    ml__svg_bars b = {title, "share of summed mean gradient norm (%)", n, labels, v,
                      ML__SVG_BLUE};
    ml__page_figure_begin(c->out);
    ML_TRY(ml__svg_bars_write(c->out, &b));
    ml__page_figure_end(c->out, cap);
    return c->out->status;
}

static const ml_lora_spectrum *find_module(const ml_lora_spectra *s, const char *module) {
    for (size_t m = 0; s && m < s->n_modules; m++)
        if (strcmp(s->modules[m].module, module) == 0) return &s->modules[m];
    return NULL;
}

/* Rows: modules of the last checkpoint; columns: checkpoints. which: 0 effective rank,
 * 1 energy share (%), 2 cosine with the first checkpoint's update. */
static ml_status lora_heat(ml__html_ctx *c, const ml__html_run *r, int which) {
    const ml_lora_evolution *e = &r->a->lora;
    const ml_lora_spectra *last = e->spectra[e->n_checkpoints - 1];
    const ml_lora_spectra *first = e->spectra[0];
    const ml_lora_spectra *rows_of = which == 2 ? first : last;
    if (!rows_of || rows_of->n_modules == 0) return ML_OK;
    size_t nr = rows_of->n_modules, nc = e->n_checkpoints;
    const char **labels = malloc(nr * sizeof *labels);
    double *col_x = malloc(nc * sizeof *col_x), *v = malloc(nr * nc * sizeof *v);
    ml_status st = labels && col_x && v ? ML_OK : ML_NOMEM();
    for (size_t j = 0; st == ML_OK && j < nc; j++) col_x[j] = (double)e->steps[j];
    for (size_t m = 0; st == ML_OK && m < nr; m++) {
        labels[m] = rows_of->modules[m].module;
        for (size_t j = 0; j < nc; j++) {
            const ml_lora_spectrum *sp = find_module(e->spectra[j], labels[m]);
            double val = NAN;
            if (which == 0 && sp) val = sp->effective_rank;
            if (which == 1 && sp) val = 100 * sp->energy_share;
            if (which == 2 && e->cos_first) val = e->cos_first[j * first->n_modules + m];
            v[m * nc + j] = val;
        }
    }
    static const char *const titles[3] = {"LoRA effective rank per module",
                                          "LoRA update energy per module",
                                          "LoRA update direction vs first checkpoint"};
    static const char *const units[3] = {"effective rank (exp of spectral entropy)",
                                         "share of update energy ||W||F^2 (%)",
                                         "cosine with first checkpoint's update"};
    static const char *const caps[3] = {
        "Effective rank of each adapted module's update (alpha/r) B A at each checkpoint, from "
        "its singular values (never the dense product): how many directions it really uses.",
        "Each module's share of the summed squared Frobenius norm of all updates at each "
        "checkpoint: where the adaptation concentrates.",
        "Cosine between each module's update and the same module's update at the first "
        "analysed checkpoint: 1 means the direction has not changed."};
    char title[192];
    snprintf(title, sizeof title, "%s%s%s", c->n_runs > 1 ? r->name : "",
             c->n_runs > 1 ? ": " : "", titles[which]);
    ml__svg_heatmap h = {title, "checkpoint step", units[which], nr, nc, labels, col_x, v,
                         false, NAN, NAN};
    if (st == ML_OK) st = figure_heat(c, &h, caps[which]);
    free(labels);
    free(col_x);
    free(v);
    return st;
}

static ml_status plot_spectra(ml__html_ctx *c, const ml__html_run *r) {
    const ml_lora_evolution *e = &r->a->lora;
    const ml_lora_spectra *s = e->spectra[e->n_checkpoints - 1];
    if (!s || s->n_modules == 0) return ML_OK;
    size_t pick[MAX_LINES], np = 0;
    for (size_t k = 0; k < MAX_LINES && k < s->n_modules; k++) { /* largest energy first */
        size_t best = SIZE_MAX;
        for (size_t m = 0; m < s->n_modules; m++) {
            bool used = false;
            for (size_t j = 0; j < np; j++) used |= pick[j] == m;
            if (!used && (best == SIZE_MAX || s->modules[m].frob_sq > s->modules[best].frob_sq))
                best = m;
        }
        pick[np++] = best;
    }
    double *x = NULL;
    size_t max_rank = 0;
    for (size_t k = 0; k < np; k++)
        if (s->modules[pick[k]].rank > max_rank) max_rank = s->modules[pick[k]].rank;
    if (!(x = malloc((max_rank ? max_rank : 1) * sizeof *x))) return ML_NOMEM();
    for (size_t i = 0; i < max_rank; i++) x[i] = (double)(i + 1);
    ml__svg_line lines[MAX_LINES];
    char labels[MAX_LINES][64], said[160];
    const char *names[MAX_LINES];
    for (size_t k = 0; k < np; k++) names[k] = s->modules[pick[k]].module;
    legend_names(labels, names, np, said, sizeof said);
    for (size_t k = 0; k < np; k++) {
        const ml_lora_spectrum *sp = &s->modules[pick[k]];
        lines[k] = (ml__svg_line){labels[k], x, sp->sigma, sp->rank, (ml__svg_colour)k, false,
                                  false, true};
    }
    char title[192], cap[420];
    snprintf(title, sizeof title, "%s%sSingular values at step %lld",
             c->n_runs > 1 ? r->name : "", c->n_runs > 1 ? ": " : "",
             (long long)e->steps[e->n_checkpoints - 1]);
    snprintf(cap, sizeof cap,
             "Singular values of the update (alpha/r) B A of the %zu modules with the most "
             "energy (of %zu), from thin QR factors and an r x r SVD; zeros are not drawn.%s",
             np, s->n_modules, said);
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = title;
    p.x_label = "singular value index (1 = largest)";
    p.y_label = "singular value (log scale)";
    p.log_y = true;
    p.lines = lines;
    p.n_lines = np;
    ml_status st = figure_plot(c, &p, cap);
    free(x);
    return st;
}

static ml_status run_plots(ml__html_ctx *c, const ml__html_run *r) {
    ML_TRY(heat_family(c, r, "grad_norm/", NULL, "Gradient norm per tensor",
                       "gradient L2 norm (log colour)", true,
                       "Mean gradient L2 norm of each tensor in each step bin, log colour "
                       "scale: vanishing or exploding layers stand out as dark or bright rows."));
    ML_TRY(plot_gradient_flow(c, r));
    ML_TRY(plot_weight_norms(c, r));
    ML_TRY(heat_family(c, r, "update_ratio/", NULL, "Update-to-weight ratio per tensor",
                       "||update|| / ||weight|| (log colour)", true,
                       "Norm of each optimizer step's change of a tensor over the tensor's "
                       "norm, log colour scale; around 1e-3 is the usual healthy range."));
    ML_TRY(heat_family(c, r, "lora/", "/BA_norm", "LoRA update norm per module",
                       "||B A||F (log colour)", true,
                       "Frobenius norm of each adapter's B A over training (computed from the "
                       "factors' Gram matrices, without forming B A)."));
    ML_TRY(heat_family(c, r, "act/", "/std", "Activation standard deviation per layer",
                       "std of activations (log colour)", true,
                       "Standard deviation of each collected layer's output in the real "
                       "forward pass."));
    ML_TRY(heat_family(c, r, "act/", "/zero_fraction", "Fraction of zero activations",
                       "fraction of zeros", false,
                       "Fraction of exactly zero outputs per layer (dead ReLUs show as rows "
                       "near 1)."));
    if (r->a->has_lora && r->a->lora.n_checkpoints > 0) {
        ML_TRY(lora_heat(c, r, 0));
        ML_TRY(lora_heat(c, r, 1));
        if (r->a->lora.n_checkpoints > 1) ML_TRY(lora_heat(c, r, 2));
        ML_TRY(plot_spectra(c, r));
    }
    return c->out->status;
}

ml_status ml__html_plots(ml__html_ctx *c) {
    ml__outbuf_puts(c->out, "<h2 id=\"plots\">Plots</h2>\n<div class=\"plots\">\n");
    ML_TRY(plot_loss(c));
    char lr_cap[400];
    lr_caption(lr_cap, sizeof lr_cap, &c->r[0].a->lr);
    ML_TRY(plot_overlay(c, "learning_rate", "Learning rate", "learning rate (per step)", false,
                        NAN, NAN, 1, c->n_runs == 1 ? lr_cap : "Learning rate of both runs."));
    ML_TRY(plot_grad_norm(c));
    ML_TRY(plot_overlay(c, "grad/cosine_prev", "Gradient consistency",
                        "cosine with previous gradient", false, -1, 1, 1,
                        "Cosine similarity of each collected step's whole gradient with the "
                        "previous collected one: near 0 is noise-dominated, negative values "
                        "mean oscillation."));
    ML_TRY(plot_overlay(c, "eval_roc_auc", "Evaluation ROC-AUC", "ROC-AUC (held-out split)",
                        false, NAN, NAN, 1, "ROC-AUC on the held-out split at each evaluation."));
    for (size_t r = 0; r < c->n_runs; r++) ML_TRY(run_plots(c, &c->r[r]));
    ML_TRY(plot_overlay(c, "time/step_seconds", "Step time", "seconds per step", false, NAN,
                        NAN, 1, "Wall-clock time of each collected training step."));
    ML_TRY(plot_overlay(c, "memory/peak_rss_bytes", "Peak memory", "peak resident memory (MiB)",
                        false, NAN, NAN, 1.0 / (1024.0 * 1024.0),
                        "Peak resident set size of the training process."));
    ml__outbuf_puts(c->out, "</div>\n");
    return c->out->status;
}

