/* svg.c - draws line plots, heat maps, bar charts and confusion matrices as inline SVG for the
 * reports. It computes no statistic of the data; text widths are estimated (no font metrics),
 * generously, so that labels do not collide. No xmlns attribute: inline SVG in HTML5 needs
 * none, and the report must not contain a single URL. */
#include "report/svg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Sizes in pixels (the viewBox; the page scales plots down on narrow screens). */
#define PLOT_W 560.0
#define PLOT_H 300.0
#define SQUARE_W 460.0
#define FONT_TICK 11.0
#define FONT_LABEL 12.0
#define FONT_TITLE 13.0
/* Mean advance of a sans-serif glyph as a fraction of the font size: DejaVu Sans (Debian's
 * default) averages about 0.58 on digits and lower case; 0.62 errs on the wide side. */
#define CHAR_W 0.62
#define TITLE_H 22.0
#define LEGEND_ROW_H 16.0
#define MAX_TICKS 16
#define LOG_MAX_DECADE_TICKS 7
/* Heat maps: rows drawn between these heights (whole pixels); colour levels of the quantised
 * scale: 32 steps of viridis are indistinguishable from a continuous scale at this size, and
 * one <path> per level with runs of equal cells merged keeps a 40 x 80 map near 40 KB instead
 * of 200 KB of <rect>s. */
#define HEAT_ROW_MIN 8.0
#define HEAT_ROW_MAX 22.0
#define HEAT_LEVELS 32
#define ROW_LABEL_MAX_CHARS 34
#define ROW_LABEL_MAX_W 230.0

static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                                      "#56B4E9", "#F0E442", "#000000", "#777777"};

const char *ml__svg_colour_hex(ml__svg_colour c) {
    return (unsigned)c <= ML__SVG_GREY ? palette[c] : palette[ML__SVG_GREY];
}

/* ---- Text ---------------------------------------------------------------------------------- */

ml_status ml__svg_escape(ml__outbuf *out, const char *s) {
    if (!s) return out->status;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *rep = c == '&'   ? "&amp;"
                          : c == '<' ? "&lt;"
                          : c == '>' ? "&gt;"
                          : c == '"' ? "&quot;"
                          : c == '\'' ? "&#39;"
                          : (c < 0x20 || c == 0x7f) ? "?"
                                                    : NULL;
        if (!rep) continue;
        ml__outbuf_write(out, run, (size_t)(p - run));
        ml__outbuf_puts(out, rep);
        run = p + 1;
    }
    return ml__outbuf_puts(out, run);
}

/* Display width estimate of UTF-8 text: continuation bytes take no room. */
static double text_w(const char *s, double font) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; s && *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return (double)n * font * CHAR_W;
}

/* Shortens s to at most max_chars characters by cutting its middle ("encoder.lay…in_proj"):
 * both ends of a tensor name carry its meaning. */
static void shorten(char *buf, size_t cap, const char *s, size_t max_chars) {
    size_t n = strlen(s);
    if (n <= max_chars || max_chars < 5 || cap < max_chars + 4) {
        snprintf(buf, cap, "%s", s);
        return;
    }
    size_t head = (max_chars - 1) / 2, tail = max_chars - 1 - head;
    while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80) head--;
    size_t from = n - tail;
    while (from < n && ((unsigned char)s[from] & 0xC0) == 0x80) from++;
    snprintf(buf, cap, "%.*s\xE2\x80\xA6%s", (int)head, s, s + from);
}

/* Keeps the end of s, where tensor and module names differ ("…0.self_attn.q_proj.lora_A.weight"),
 * starting after a '.' or '/' when one is near the cut. */
void ml__svg_shorten_tail(char *buf, size_t cap, const char *s, size_t max_chars) {
    size_t n = strlen(s);
    if (n <= max_chars || max_chars < 5) {
        snprintf(buf, cap, "%s", s);
        return;
    }
    size_t start = n - (max_chars - 1);
    for (size_t k = start; k < n && k < start + 12; k++)
        if (s[k] == '.' || s[k] == '/') {
            start = k + 1;
            break;
        }
    while (start < n && ((unsigned char)s[start] & 0xC0) == 0x80) start++;
    snprintf(buf, cap, "\xE2\x80\xA6%s", s + start);
}

static void text_el(ml__outbuf *out, double x, double y, const char *anchor, double font,
                    const char *extra, const char *s) {
    ml__outbuf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%g\"%s>",
                      x, y, anchor, font, extra ? extra : "");
    ml__svg_escape(out, s);
    ml__outbuf_puts(out, "</text>\n");
}

static void svg_open(ml__outbuf *out, double w, double h, const char *title) {
    ml__outbuf_printf(out,
                      "<svg class=\"plot\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                      "font-family=\"sans-serif\" role=\"img\" aria-label=\"",
                      w, h, w, h);
    ml__svg_escape(out, title ? title : "plot");
    ml__outbuf_puts(out, "\">\n");
    if (title) text_el(out, 8, 16, "start", FONT_TITLE, " font-weight=\"bold\"", title);
}

/* ---- Ticks ---------------------------------------------------------------------------------- */

/* Heckbert's nice number: 1, 2, 5 or 10 times a power of ten near x (rounded or ceiled). */
static double nice_num(double x, int round_it) {
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

size_t ml__svg_nice_ticks(double lo, double hi, size_t target, double *ticks, size_t cap,
                          double *step) {
    if (!(hi > lo) || target < 2 || cap == 0) {
        *step = 1;
        return 0;
    }
    double d = nice_num(nice_num(hi - lo, 0) / (double)(target - 1), 1);
    double k0 = ceil(lo / d - 1e-9), k1 = floor(hi / d + 1e-9);
    size_t n = 0;
    for (double k = k0; k <= k1 && n < cap; k++) {
        double v = k * d;
        ticks[n++] = fabs(v) < d * 1e-9 ? 0.0 : v;
    }
    *step = d;
    return n;
}

size_t ml__svg_log_ticks(double lo, double hi, double *ticks, size_t cap) {
    if (!(lo > 0) || !(hi > lo) || cap == 0) return 0;
    double e0 = ceil(log10(lo) - 1e-9), e1 = floor(log10(hi) + 1e-9);
    size_t n = 0;
    if (e1 - e0 + 1 >= 3) { /* powers of ten, thinned to at most LOG_MAX_DECADE_TICKS */
        double every = ceil((e1 - e0 + 1) / LOG_MAX_DECADE_TICKS);
        for (double e = e0; e <= e1 && n < cap; e += every) ticks[n++] = pow(10, e);
        return n;
    }
    static const double mult[3] = {1, 2, 5};
    for (double e = floor(log10(lo)); e <= ceil(log10(hi)); e++)
        for (size_t m = 0; m < 3 && n < cap; m++) {
            double v = mult[m] * pow(10, e);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks[n++] = v;
        }
    if (n >= 2) return n;
    double step;
    return ml__svg_nice_ticks(lo, hi, 5, ticks, cap, &step);
}

/* notation: 0 fixed, 1 scientific, -1 by the value (fixed for 1e-3 <= |v| < 1e5). */
static void format_tick_exp(char *buf, size_t cap, double v, double step, int e) {
    double m = v / pow(10, e);
    int dec = (int)fmax(0, -floor(log10(step / pow(10, e)) + 1e-9));
    snprintf(buf, cap, "%.*fe%d", dec > 3 ? 3 : dec, m, e);
}

static void format_tick(char *buf, size_t cap, double v, double step, int notation) {
    double a = fabs(v);
    if (a < 1e-300 || (step > 0 && a < step * 1e-9)) {
        snprintf(buf, cap, "0");
        return;
    }
    if (!(step > 0)) step = a;
    if (notation == 0 || (notation < 0 && a >= 1e-3 && a < 1e5)) {
        int dec = (int)fmax(0, -floor(log10(step) + 1e-9));
        snprintf(buf, cap, "%.*f", dec > 6 ? 6 : dec, v);
        return;
    }
    format_tick_exp(buf, cap, v, step, (int)floor(log10(a) + 1e-9));
}

void ml__svg_format_tick(char *buf, size_t cap, double v, double step) {
    format_tick(buf, cap, v, step, -1);
}

/* One notation for a whole linear axis, so that 9e-4 never sits under 0.0010. */
static int axis_notation(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m > 0 && (m < 1e-2 || m >= 1e5) ? 1 : 0;
}

size_t ml__svg_common_prefix(const char *const *names, size_t n) {
    if (n < 2) return 0;
    size_t len = strlen(names[0]);
    for (size_t i = 1; i < n; i++) {
        size_t k = 0;
        while (k < len && names[i][k] == names[0][k]) k++;
        len = k;
    }
    while (len > 0 && names[0][len - 1] != '.' && names[0][len - 1] != '/') len--;
    for (size_t i = 0; i < n; i++)
        if (names[i][len] == '\0') return 0; /* a label would be left empty */
    return len;
}

/* ---- Decimation ----------------------------------------------------------------------------- */

static size_t keep_sorted(size_t *idx, size_t k) { /* sort <= 5 indices, drop duplicates */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (m == 0 || idx[m - 1] != idx[i]) idx[m++] = idx[i];
    return m;
}

size_t ml__svg_decimate(const double *x, const double *y, size_t n, size_t max_points,
                        double *ox, double *oy) {
    if (n <= max_points) {
        memcpy(ox, x, n * sizeof *x);
        memcpy(oy, y, n * sizeof *y);
        return n;
    }
    size_t runs = max_points / 3, out = 0;
    for (size_t r = 0; r < runs; r++) {
        size_t a = n * r / runs, b = n * (r + 1) / runs, lo = SIZE_MAX, hi = SIZE_MAX,
               gap = SIZE_MAX;
        for (size_t i = a; i < b; i++) {
            if (!isfinite(y[i])) {
                if (gap == SIZE_MAX) gap = i;
                continue;
            }
            if (lo == SIZE_MAX || y[i] < y[lo]) lo = i;
            if (hi == SIZE_MAX || y[i] > y[hi]) hi = i;
        }
        size_t idx[5], k = 0;
        if (r == 0) idx[k++] = 0;
        if (r == runs - 1) idx[k++] = n - 1;
        if (lo != SIZE_MAX) idx[k++] = lo;
        if (hi != SIZE_MAX) idx[k++] = hi;
        if (gap != SIZE_MAX) idx[k++] = gap;
        k = keep_sorted(idx, k);
        for (size_t i = 0; i < k; i++) {
            ox[out] = x[idx[i]];
            oy[out++] = y[idx[i]];
        }
    }
    return out;
}

/* ---- Line plots ----------------------------------------------------------------------------- */

typedef struct frame {
    double left, right, top, bottom; /* plotting area, pixels */
    double x0, x1, y0, y1;           /* data range; log10 of it on a log y axis */
    bool log_y;
} frame;

static double fx(const frame *f, double x) {
    return f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
}

static double fy(const frame *f, double y) {
    double v = f->log_y ? log10(y) : y;
    return f->bottom - (v - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
}

static bool drawable(const ml__svg_plot *p, double x, double y) {
    return isfinite(x) && isfinite(y) && (!p->log_y || y > 0);
}

static void widen(double *lo, double *hi, double v) {
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

/* Data range of everything drawn; false when there is no drawable point. */
static bool data_range(const ml__svg_plot *p, double *x0, double *x1, double *y0, double *y1) {
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    size_t n_points = 0;
    for (size_t l = 0; l < p->n_lines; l++)
        for (size_t i = 0; i < p->lines[l].n; i++)
            if (drawable(p, p->lines[l].x[i], p->lines[l].y[i])) {
                widen(x0, x1, p->lines[l].x[i]);
                widen(y0, y1, p->lines[l].y[i]);
                n_points++;
            }
    for (size_t i = 0; i < p->n_markers; i++) {
        if (isfinite(p->markers[i].x)) widen(x0, x1, p->markers[i].x);
        if (drawable(p, p->markers[i].x, p->markers[i].y)) widen(y0, y1, p->markers[i].y);
    }
    for (size_t k = 0; k < p->n_points; k++)
        for (size_t i = 0; i < p->points[k].n; i++) {
            const ml__svg_points *ps = &p->points[k];
            if (isfinite(ps->x[i])) widen(x0, x1, ps->x[i]);
            if (drawable(p, ps->x[i], ps->y[i])) widen(y0, y1, ps->y[i]);
        }
    if (n_points == 0) return false;
    for (size_t i = 0; i < p->n_vlines; i++)
        if (isfinite(p->vlines[i].x)) widen(x0, x1, p->vlines[i].x);
    return true;
}

/* Axis range with a margin (4% of the span) so that extremes do not sit on the frame; a
 * flat series gets a span of its own size (or 1 around zero). */
static void pad_range(double *lo, double *hi, bool is_log) {
    if (is_log) {
        *lo = log10(*lo);
        *hi = log10(*hi);
    }
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*hi))) {
        double half = is_log ? 0.5 : (*hi != 0 ? fabs(*hi) * 0.1 : 0.5);
        *lo -= half;
        *hi += half;
    }
    double m = 0.04 * (*hi - *lo);
    *lo -= m;
    *hi += m;
}

typedef struct ticks {
    size_t n;
    double v[MAX_TICKS];
    char label[MAX_TICKS][24];
    double max_w; /* widest label, pixels */
} ticks;

/* Labels of linear ticks; in scientific notation all share the largest tick's exponent
 * ("1.1e-3, 1.0e-3, 0.9e-3"), so that the column reads as one scale. */
static void label_ticks(ticks *t, double step) {
    t->max_w = 0;
    int notation = axis_notation(t->v, t->n);
    double m = 0;
    for (size_t i = 0; i < t->n; i++) m = fmax(m, fabs(t->v[i]));
    int e = m > 0 ? (int)floor(log10(m) + 1e-9) : 0;
    for (size_t i = 0; i < t->n; i++) {
        if (notation == 1 && fabs(t->v[i]) >= step * 1e-9)
            format_tick_exp(t->label[i], sizeof t->label[i], t->v[i], step, e);
        else format_tick(t->label[i], sizeof t->label[i], t->v[i], step, notation);
        t->max_w = fmax(t->max_w, text_w(t->label[i], FONT_TICK));
    }
}

/* Linear ticks over [lo, hi], fewer while their labels would not fit in avail pixels. */
static void linear_ticks(ticks *t, double lo, double hi, double avail, bool horizontal) {
    for (size_t target = 7; target >= 2; target--) {
        double step;
        t->n = ml__svg_nice_ticks(lo, hi, target, t->v, MAX_TICKS, &step);
        label_ticks(t, step);
        double need = horizontal ? (double)t->n * (t->max_w + 14) : (double)t->n * 18;
        if (need <= avail || target == 2) return;
    }
}

/* Labels of log-axis ticks: a power of ten or a 1-2-5 value is written in its own decade; the
 * linear fallback (ticks closer than a factor 2) with the step between them. */
static void log_labels(ticks *t) {
    bool linear = t->n >= 2 && t->v[1] / t->v[0] < 1.99;
    double step = linear ? nice_num(t->v[1] - t->v[0], 1) : 0;
    t->max_w = 0;
    for (size_t i = 0; i < t->n; i++) {
        double s = linear ? step : pow(10, floor(log10(t->v[i]) + 1e-9));
        ml__svg_format_tick(t->label[i], sizeof t->label[i], t->v[i], s);
        t->max_w = fmax(t->max_w, text_w(t->label[i], FONT_TICK));
    }
}

static void y_ticks(ticks *t, const frame *f, double avail) {
    if (!f->log_y) {
        linear_ticks(t, f->y0, f->y1, avail, false);
        return;
    }
    t->n = ml__svg_log_ticks(pow(10, f->y0), pow(10, f->y1), t->v, MAX_TICKS);
    log_labels(t);
}

typedef struct legend_item {
    const char *text;
    ml__svg_colour colour;
    int kind; /* 0 line, 1 dashed line, 2 marker, 3 diamond (point series) */
} legend_item;

static size_t legend_items(const ml__svg_plot *p, legend_item *items, size_t cap) {
    size_t n = 0;
    for (size_t l = 0; l < p->n_lines && n < cap; l++)
        if (p->lines[l].label)
            items[n++] = (legend_item){p->lines[l].label, p->lines[l].colour, p->lines[l].dashed};
    for (size_t k = 0; k < p->n_points && n < cap; k++)
        if (p->points[k].label && p->points[k].n > 0)
            items[n++] = (legend_item){p->points[k].label, p->points[k].colour, 3};
    if (p->marker_label && p->n_markers > 0 && n < cap)
        items[n++] = (legend_item){p->marker_label, ML__SVG_VERMILLION, 2};
    return n;
}

static double item_w(const legend_item *it) { return 26 + text_w(it->text, FONT_TICK) + 14; }

static size_t legend_rows(const legend_item *items, size_t n, double avail) {
    size_t rows = n ? 1 : 0;
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        if (x > 0 && x + item_w(&items[i]) > avail) {
            rows++;
            x = 0;
        }
        x += item_w(&items[i]);
    }
    return rows;
}

static void marker_shape(ml__outbuf *out, double x, double y) {
    ml__outbuf_printf(out, "M%.1f %.1fl-4.5 -8h9z", x, y);
}

/* A diamond 8 pixels across centred on (x, y): ~30 bytes, so that a path of thousands stays
 * small. Its relative part ("l4 4l-4 4l-4-4z") is the same for every point. */
static void diamond_shape(ml__outbuf *out, double x, double y) {
    ml__outbuf_printf(out, "M%.1f %.1fl4 4l-4 4l-4-4z", x, y - 4);
}

static void draw_legend(ml__outbuf *out, const legend_item *items, size_t n, double x0,
                        double y0, double avail) {
    double x = 0, y = y0;
    for (size_t i = 0; i < n; i++) {
        if (x > 0 && x + item_w(&items[i]) > avail) {
            x = 0;
            y += LEGEND_ROW_H;
        }
        const char *c = ml__svg_colour_hex(items[i].colour);
        if (items[i].kind >= 2) {
            ml__outbuf_printf(out, "<path fill=\"%s\" d=\"", c);
            if (items[i].kind == 2) marker_shape(out, x0 + x + 11, y + 4);
            else diamond_shape(out, x0 + x + 11, y);
            ml__outbuf_puts(out, "\"/>\n");
        } else {
            ml__outbuf_printf(out,
                              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                              "stroke-width=\"2.5\"%s/>\n",
                              x0 + x, y, x0 + x + 22, y, c,
                              items[i].kind == 1 ? " stroke-dasharray=\"5 3\"" : "");
        }
        text_el(out, x0 + x + 26, y + 4, "start", FONT_TICK, NULL, items[i].text);
        x += item_w(&items[i]);
    }
}

static void draw_axes(ml__outbuf *out, const frame *f, const ticks *xt, const ticks *yt,
                      const ml__svg_plot *p, double h) {
    ml__outbuf_puts(out, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (size_t i = 0; i < yt->n; i++)
        ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
                          f->left, f->right, fy(f, yt->v[i]), fy(f, yt->v[i]));
    for (size_t i = 0; i < xt->n; i++)
        ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
                          fx(f, xt->v[i]), fx(f, xt->v[i]), f->top, f->bottom);
    ml__outbuf_printf(out,
                      "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                      "fill=\"none\" stroke=\"#444\"/>\n",
                      f->left, f->top, f->right - f->left, f->bottom - f->top);
    for (size_t i = 0; i < yt->n; i++)
        text_el(out, f->left - 5, fy(f, yt->v[i]) + FONT_TICK * 0.35, "end", FONT_TICK, NULL,
                yt->label[i]);
    for (size_t i = 0; i < xt->n; i++)
        text_el(out, fx(f, xt->v[i]), f->bottom + 14, "middle", FONT_TICK, NULL, xt->label[i]);
    if (p->x_label)
        text_el(out, (f->left + f->right) / 2, h - 6, "middle", FONT_LABEL, NULL, p->x_label);
    if (p->y_label) {
        ml__outbuf_printf(out,
                          "<text transform=\"translate(13 %.1f) rotate(-90)\" "
                          "text-anchor=\"middle\" font-size=\"%g\">",
                          (f->top + f->bottom) / 2, FONT_LABEL);
        ml__svg_escape(out, p->y_label);
        ml__outbuf_puts(out, "</text>\n");
    }
}

/* Path data of one line, already decimated; a gap starts a new subpath. */
static void line_path(ml__outbuf *out, const frame *f, const ml__svg_plot *p,
                      const ml__svg_line *l, const double *x, const double *y, size_t n) {
    bool pen_down = false;
    for (size_t i = 0; i < n; i++) {
        if (!drawable(p, x[i], y[i])) {
            pen_down = false;
            continue;
        }
        double X = fx(f, x[i]), Y = fy(f, y[i]);
        if (!pen_down) ml__outbuf_printf(out, "M%.1f %.1f", X, Y);
        else if (l->steps) ml__outbuf_printf(out, "H%.1fV%.1f", X, Y);
        else ml__outbuf_printf(out, "L%.1f %.1f", X, Y);
        pen_down = true;
    }
}

/* Dots are drawn for sparse series only: a dot per point of a dense one is just noise. */
#define MAX_DOTS 120

static ml_status draw_line(ml__outbuf *out, const frame *f, const ml__svg_plot *p,
                           const ml__svg_line *l, double *bx, double *by) {
    size_t n = ml__svg_decimate(l->x, l->y, l->n, ML__SVG_MAX_POINTS, bx, by);
    const char *c = ml__svg_colour_hex(l->colour);
    ml__outbuf_printf(out,
                      "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.7\" "
                      "stroke-linejoin=\"round\"%s d=\"",
                      c, l->dashed ? " stroke-dasharray=\"6 3\"" : "");
    line_path(out, f, p, l, bx, by, n);
    ml__outbuf_puts(out, "\"/>\n");
    if (!l->dots || n > MAX_DOTS) return out->status;
    ml__outbuf_printf(out, "<g fill=\"%s\">", c);
    for (size_t i = 0; i < n; i++)
        if (drawable(p, bx[i], by[i]))
            ml__outbuf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\"/>", fx(f, bx[i]),
                              fy(f, by[i]));
    return ml__outbuf_puts(out, "</g>\n");
}

static void draw_markers(ml__outbuf *out, const frame *f, const ml__svg_plot *p) {
    if (p->n_markers == 0) return;
    ml__outbuf_printf(out, "<g fill=\"%s\">\n", ml__svg_colour_hex(ML__SVG_VERMILLION));
    for (size_t i = 0; i < p->n_markers && i < ML__SVG_MAX_MARKERS; i++) {
        const ml__svg_marker *m = &p->markers[i];
        if (!isfinite(m->x)) continue;
        double Y = drawable(p, m->x, m->y) ? fy(f, m->y) : f->top + 8;
        ml__outbuf_puts(out, "<path d=\"");
        marker_shape(out, fx(f, m->x), Y);
        ml__outbuf_puts(out, "\">");
        if (m->label) {
            ml__outbuf_puts(out, "<title>");
            ml__svg_escape(out, m->label);
            ml__outbuf_puts(out, "</title>");
        }
        ml__outbuf_puts(out, "</path>\n");
    }
    ml__outbuf_puts(out, "</g>\n");
}

/* One point series: an element per point with its tooltip while they are few, else a single
 * path (one tooltip for all) so that every point is drawn and the page stays small. A thin
 * white edge keeps a few diamonds visible on the line they sit on; on a dense single path the
 * edges of neighbours would cover each other's fill, so it has none. */
static void draw_points(ml__outbuf *out, const frame *f, const ml__svg_plot *p,
                        const ml__svg_points *ps) {
    if (ps->n == 0) return;
    bool one_path = ps->n > ML__SVG_MAX_MARKERS;
    ml__outbuf_printf(out, "<g fill=\"%s\"%s>\n", ml__svg_colour_hex(ps->colour),
                      one_path ? "" : " stroke=\"#fff\" stroke-width=\"0.8\"");
    if (one_path) ml__outbuf_puts(out, "<path d=\"");
    for (size_t i = 0; i < ps->n; i++) {
        if (!isfinite(ps->x[i])) continue;
        double Y = drawable(p, ps->x[i], ps->y[i]) ? fy(f, ps->y[i]) : f->top + 5;
        if (!one_path) ml__outbuf_puts(out, "<path d=\"");
        diamond_shape(out, fx(f, ps->x[i]), Y);
        if (one_path) continue;
        ml__outbuf_puts(out, "\">");
        if (ps->tips && ps->tips[i]) {
            ml__outbuf_puts(out, "<title>");
            ml__svg_escape(out, ps->tips[i]);
            ml__outbuf_puts(out, "</title>");
        }
        ml__outbuf_puts(out, "</path>\n");
    }
    if (one_path) {
        ml__outbuf_printf(out, "\"><title>%zu points: ", ps->n);
        ml__svg_escape(out, ps->label);
        ml__outbuf_puts(out, "</title></path>\n");
    }
    ml__outbuf_puts(out, "</g>\n");
}

static void draw_vlines(ml__outbuf *out, const frame *f, const ml__svg_plot *p) {
    for (size_t i = 0; i < p->n_vlines; i++) {
        const ml__svg_vline *v = &p->vlines[i];
        if (!isfinite(v->x)) continue;
        double X = fx(f, v->x), ty = f->top + 11 + 12 * (double)(i % 4);
        const char *c = ml__svg_colour_hex(v->colour);
        ml__outbuf_printf(out,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"1.3\" stroke-dasharray=\"2 3\"/>\n",
                          X, X, f->top, f->bottom, c);
        if (!v->label) continue;
        bool flip = X + 4 + text_w(v->label, 10) > f->right;
        char extra[96]; /* a white halo keeps the label readable over the lines */
        snprintf(extra, sizeof extra,
                 " fill=\"%s\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\"", c);
        text_el(out, flip ? X - 4 : X + 4, ty, flip ? "end" : "start", 10, extra, v->label);
    }
}

static void draw_diagonal(ml__outbuf *out, const frame *f) {
    double a = fmax(f->x0, f->y0), b = fmin(f->x1, f->y1);
    if (!(b > a)) return;
    ml__outbuf_printf(out,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#777777\" "
                      "stroke-dasharray=\"4 4\"/>\n",
                      fx(f, a), fy(f, a), fx(f, b), fy(f, b));
}

/* Places the plotting area: left margin from the y tick labels, top from title and legend. */
static void layout(frame *f, ticks *yt, size_t n_legend_rows, double w, double h) {
    f->top = TITLE_H + (double)n_legend_rows * LEGEND_ROW_H + 8;
    f->bottom = h - 40;
    y_ticks(yt, f, f->bottom - f->top);
    f->left = 20 + 6 + yt->max_w + 5;
    f->right = w - 14;
}

static ml_status fixed_ranges(const ml__svg_plot *p, frame *f) {
    double x0, x1, y0, y1;
    if (!data_range(p, &x0, &x1, &y0, &y1))
        return ML_FAIL(ML_EINVAL, "plot \"%s\": no finite point to draw",
                       p->title ? p->title : "");
    f->log_y = p->log_y;
    if (isfinite(p->x_min) && isfinite(p->x_max)) {
        f->x0 = p->x_min;
        f->x1 = p->x_max;
    } else {
        f->x0 = x0;
        f->x1 = x1;
        if (f->x1 - f->x0 < 1e-12) {
            f->x0 -= 0.5;
            f->x1 += 0.5;
        }
    }
    if (isfinite(p->y_min) && isfinite(p->y_max) && (!p->log_y || p->y_min > 0)) {
        f->y0 = p->log_y ? log10(p->y_min) : p->y_min;
        f->y1 = p->log_y ? log10(p->y_max) : p->y_max;
    } else {
        f->y0 = y0;
        f->y1 = y1;
        pad_range(&f->y0, &f->y1, p->log_y);
    }
    return ML_OK;
}

bool ml__svg_plot_drawable(const ml__svg_plot *p) {
    double x0, x1, y0, y1;
    return data_range(p, &x0, &x1, &y0, &y1);
}

ml_status ml__svg_plot_write(ml__outbuf *out, const ml__svg_plot *p) {
    frame f = {0};
    ML_TRY(fixed_ranges(p, &f));
    double w = p->square ? SQUARE_W : PLOT_W, h = p->square ? SQUARE_W : PLOT_H;
    legend_item items[24];
    size_t n_items = legend_items(p, items, 24);
    ticks yt, xt;
    layout(&f, &yt, legend_rows(items, n_items, w - 70), w, h);
    if (p->square) { /* equal pixel spans on both axes */
        double side = fmin(f.right - f.left, f.bottom - f.top);
        f.right = f.left + side;
        f.bottom = f.top + side;
        h = f.bottom + 40;
    }
    linear_ticks(&xt, f.x0, f.x1, f.right - f.left, true);
    double *bx = malloc((ML__SVG_MAX_POINTS + 2) * sizeof *bx);
    double *by = malloc((ML__SVG_MAX_POINTS + 2) * sizeof *by);
    if (!bx || !by) {
        free(bx);
        free(by);
        return ML_NOMEM();
    }
    svg_open(out, w, h, p->title);
    draw_legend(out, items, n_items, f.left, TITLE_H + 8, w - f.left - 10);
    draw_axes(out, &f, &xt, &yt, p, h);
    if (p->diagonal) draw_diagonal(out, &f);
    draw_vlines(out, &f, p);
    for (size_t l = 0; l < p->n_lines; l++) draw_line(out, &f, p, &p->lines[l], bx, by);
    for (size_t k = 0; k < p->n_points; k++) draw_points(out, &f, p, &p->points[k]);
    draw_markers(out, &f, p);
    if (p->n_markers > ML__SVG_MAX_MARKERS) {
        char note[96];
        snprintf(note, sizeof note, "first %d of %zu markers shown", ML__SVG_MAX_MARKERS,
                 p->n_markers);
        text_el(out, f.right, f.top - 4, "end", 10, NULL, note);
    }
    free(bx);
    free(by);
    return ml__outbuf_puts(out, "</svg>\n");
}

/* ---- Heat maps ------------------------------------------------------------------------------ */

/* viridis (matplotlib, van der Walt & Smith 2015) at nine evenly spaced stops. */
static const unsigned char viridis[9][3] = {{68, 1, 84},    {72, 40, 120},  {62, 74, 137},
                                            {49, 104, 142}, {38, 130, 142}, {31, 158, 137},
                                            {53, 183, 121}, {110, 206, 88}, {253, 231, 37}};

static void viridis_hex(char hex[8], double t) {
    t = fmin(1, fmax(0, t)) * 8;
    size_t i = (size_t)fmin(7, floor(t));
    double u = t - (double)i;
    int c[3];
    for (size_t k = 0; k < 3; k++)
        c[k] = (int)lround(viridis[i][k] + u * (viridis[i + 1][k] - viridis[i][k]));
    snprintf(hex, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static double heat_value(const ml__svg_heatmap *h, size_t k) {
    double v = h->values[k];
    if (!isfinite(v) || (h->log_scale && !(v > 0))) return NAN;
    return h->log_scale ? log10(v) : v;
}

typedef struct heat_frame {
    double left, top, cell_w, row_h, vmin, vmax;
} heat_frame;

static int heat_level(const ml__svg_heatmap *h, const heat_frame *g, size_t k) {
    double v = heat_value(h, k);
    if (isnan(v)) return -1;
    return (int)fmin(HEAT_LEVELS - 1, floor((v - g->vmin) / (g->vmax - g->vmin) * HEAT_LEVELS));
}

/* One path per colour level; each run of equal-level cells in a row is one rectangle
 * ("M x y h w v r h -w z"), which halves the bytes of a smooth map. */
static void heat_cells(ml__outbuf *out, const ml__svg_heatmap *h, const heat_frame *g) {
    for (int lev = -1; lev < HEAT_LEVELS; lev++) {
        bool open = false;
        for (size_t r = 0; r < h->n_rows; r++)
            for (size_t j = 0; j < h->n_cols;) {
                if (heat_level(h, g, r * h->n_cols + j) != lev) {
                    j++;
                    continue;
                }
                size_t end = j + 1;
                while (end < h->n_cols && heat_level(h, g, r * h->n_cols + end) == lev) end++;
                if (!open) {
                    char hex[8] = "#eeeeee";
                    if (lev >= 0) viridis_hex(hex, ((double)lev + 0.5) / HEAT_LEVELS);
                    ml__outbuf_printf(out, "<path fill=\"%s\" shape-rendering=\"crispEdges\" d=\"",
                                      hex);
                    open = true;
                }
                /* Whole-pixel edges, so that crisp edges meet without a seam. */
                double x = round(g->left + (double)j * g->cell_w);
                double w = round(g->left + (double)end * g->cell_w) - x;
                ml__outbuf_printf(out, "M%.0f %.0fh%.0fv%.0fh%.0fz", x,
                                  g->top + (double)r * g->row_h, w, g->row_h, -w);
                j = end;
            }
        if (open) ml__outbuf_puts(out, "\"/>\n");
    }
}

/* Colour bar under the map, left-aligned, with ticks and the value label under it. */
static void heat_colourbar(ml__outbuf *out, const ml__svg_heatmap *h, const heat_frame *g,
                           double x0, double y, double width) {
    double lo = g->vmin, hi = g->vmax;
    for (int lev = 0; lev < HEAT_LEVELS; lev++) {
        char hex[8];
        viridis_hex(hex, ((double)lev + 0.5) / HEAT_LEVELS);
        ml__outbuf_printf(out,
                          "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"10\" fill=\"%s\"/>",
                          x0 + (double)lev * width / HEAT_LEVELS, y, width / HEAT_LEVELS + 0.3, hex);
    }
    ml__outbuf_puts(out, "\n");
    ticks t;
    double step = 0;
    if (h->log_scale) {
        t.n = ml__svg_log_ticks(pow(10, lo), pow(10, hi), t.v, MAX_TICKS);
        log_labels(&t);
        for (size_t i = 0; i < t.n; i++) t.v[i] = log10(t.v[i]);
    } else {
        t.n = ml__svg_nice_ticks(lo, hi, 5, t.v, MAX_TICKS, &step);
        label_ticks(&t, step);
    }
    if (t.n < 2) { /* a narrow range: label the two ends instead */
        t.n = 2;
        t.v[0] = lo;
        t.v[1] = hi;
        snprintf(t.label[0], sizeof t.label[0], "%.3g", h->log_scale ? pow(10, lo) : lo);
        snprintf(t.label[1], sizeof t.label[1], "%.3g", h->log_scale ? pow(10, hi) : hi);
    }
    double last_right = -INFINITY;
    for (size_t i = 0; i < t.n; i++) { /* a label that would touch the previous one is left out */
        double x = x0 + (t.v[i] - lo) / (hi - lo) * width, half = text_w(t.label[i], 10) / 2;
        if (x - half < last_right + 6) continue;
        last_right = x + half;
        ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#444\"/>",
                          x, x, y + 10, y + 13);
        text_el(out, x, y + 24, "middle", 10, NULL, t.label[i]);
    }
    if (h->value_label)
        text_el(out, x0 + width + 12, y + 9, "start", FONT_TICK, NULL, h->value_label);
}

/* Column ticks: nice numbers over [x_lo, x_hi] when the columns tile that range, else up to 6
 * evenly spaced columns labelled with their x value. */
static void heat_xticks(ml__outbuf *out, const ml__svg_heatmap *h, const heat_frame *g,
                        double bottom) {
    double width = g->cell_w * (double)h->n_cols;
    ticks t;
    if (isfinite(h->x_lo) && isfinite(h->x_hi) && h->x_hi > h->x_lo) {
        linear_ticks(&t, h->x_lo, h->x_hi, width, true);
        for (size_t i = 0; i < t.n; i++)
            t.v[i] = g->left + (t.v[i] - h->x_lo) / (h->x_hi - h->x_lo) * width;
    } else {
        double span = h->col_x[h->n_cols - 1] - h->col_x[0];
        double step = span > 0 ? nice_num(span / 5, 1) : 1, widest = 0;
        for (size_t j = 0; j < h->n_cols; j++) {
            ml__svg_format_tick(t.label[0], sizeof t.label[0], h->col_x[j], step);
            widest = fmax(widest, text_w(t.label[0], FONT_TICK));
        }
        size_t m = (size_t)fmin(6, fmin((double)h->n_cols, floor(width / (widest + 14))));
        t.n = m < 1 ? 1 : m;
        for (size_t k = 0; k < t.n; k++) {
            size_t j = t.n == 1 ? 0
                                : (size_t)lround((double)k * (double)(h->n_cols - 1) /
                                                 (double)(t.n - 1));
            ml__svg_format_tick(t.label[k], sizeof t.label[k], h->col_x[j], step);
            t.v[k] = g->left + ((double)j + 0.5) * g->cell_w;
        }
    }
    for (size_t k = 0; k < t.n; k++) {
        ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#444\"/>",
                          t.v[k], t.v[k], bottom, bottom + 4);
        text_el(out, t.v[k], bottom + 15, "middle", FONT_TICK, NULL, t.label[k]);
    }
}

static bool heat_range(const ml__svg_heatmap *h, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < h->n_rows * h->n_cols; k++) {
        double v = heat_value(h, k);
        if (!isnan(v)) widen(lo, hi, v);
    }
    if (!isfinite(*lo)) return false;
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*hi))) {
        *lo -= h->log_scale ? 0.5 : fmax(0.5, fabs(*lo) * 0.1);
        *hi += h->log_scale ? 0.5 : fmax(0.5, fabs(*hi) * 0.1);
    }
    return true;
}

bool ml__svg_heatmap_drawable(const ml__svg_heatmap *h) {
    double lo, hi;
    return h->n_rows > 0 && h->n_cols > 0 && heat_range(h, &lo, &hi);
}

/* Under the title: "row names after: encoder.layers." when the labels share that prefix. */
static void prefix_note(ml__outbuf *out, const char *first_label, size_t skip) {
    if (skip == 0) return;
    char name[3 * ROW_LABEL_MAX_CHARS + 8], prefix[sizeof name], note[sizeof name + 24];
    snprintf(prefix, sizeof prefix, "%.*s", (int)skip, first_label);
    shorten(name, sizeof name, prefix, 2 * ROW_LABEL_MAX_CHARS);
    snprintf(note, sizeof note, "row names after: %s", name);
    text_el(out, 8, TITLE_H + 10, "start", 10, " fill=\"#555\"", note);
}

/* Row labels: the prefix they share is said once above the map; the rest keeps its end when
 * still too long. */
static void row_label(char *buf, size_t cap, const ml__svg_heatmap *h, size_t r, size_t skip) {
    ml__svg_shorten_tail(buf, cap, h->row_labels[r] + skip, ROW_LABEL_MAX_CHARS);
}

ml_status ml__svg_heatmap_write(ml__outbuf *out, const ml__svg_heatmap *h) {
    heat_frame g;
    if (h->n_rows == 0 || h->n_cols == 0 || !heat_range(h, &g.vmin, &g.vmax))
        return ML_FAIL(ML_EINVAL, "heat map \"%s\": no finite value to draw",
                       h->title ? h->title : "");
    size_t skip = ml__svg_common_prefix(h->row_labels, h->n_rows);
    g.row_h = fmin(HEAT_ROW_MAX, fmax(HEAT_ROW_MIN, floor(300.0 / (double)h->n_rows)));
    double font = g.row_h < 12 ? 9 : FONT_TICK, label_w = 0;
    char name[3 * ROW_LABEL_MAX_CHARS + 8];
    for (size_t r = 0; r < h->n_rows; r++) {
        row_label(name, sizeof name, h, r, skip);
        label_w = fmax(label_w, text_w(name, font));
    }
    g.left = round(fmin(ROW_LABEL_MAX_W, label_w) + 12);
    g.top = TITLE_H + (skip ? 20 : 8);
    double plot_h = g.row_h * (double)h->n_rows, right = PLOT_W - 14;
    double bottom = g.top + plot_h, bar_y = bottom + 42, total_h = bar_y + 32;
    g.cell_w = (right - g.left) / (double)h->n_cols;
    svg_open(out, PLOT_W, total_h, h->title);
    prefix_note(out, h->row_labels[0], skip);
    for (size_t r = 0; r < h->n_rows; r++) {
        row_label(name, sizeof name, h, r, skip);
        text_el(out, g.left - 4, g.top + ((double)r + 0.5) * g.row_h + font * 0.35, "end", font,
                NULL, name);
    }
    heat_cells(out, h, &g);
    ml__outbuf_printf(out,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                      "stroke=\"#444\"/>\n",
                      g.left, g.top, right - g.left, plot_h);
    heat_xticks(out, h, &g, bottom);
    if (h->x_label)
        text_el(out, (g.left + right) / 2, bottom + 31, "middle", FONT_LABEL, NULL, h->x_label);
    /* The bar starts under the map and leaves room for its label; a long label moves it left. */
    double unit_w = h->value_label ? text_w(h->value_label, FONT_TICK) + 12 : 0;
    double bar_w = fmax(120, fmin(240, right - g.left - unit_w)), bar_x = g.left;
    if (bar_x + bar_w + unit_w > right) bar_x = fmax(8, right - unit_w - bar_w);
    heat_colourbar(out, h, &g, bar_x, bar_y, bar_w);
    return ml__outbuf_puts(out, "</svg>\n");
}

/* ---- Bars ----------------------------------------------------------------------------------- */

ml_status ml__svg_bars_write(ml__outbuf *out, const ml__svg_bars *b) {
    double vmax = 0, label_w = 0;
    char name[3 * ROW_LABEL_MAX_CHARS + 8];
    if (b->n == 0) return ML_FAIL(ML_EINVAL, "bar chart \"%s\": no bar", b->title ? b->title : "");
    size_t skip = ml__svg_common_prefix(b->labels, b->n);
    for (size_t i = 0; i < b->n; i++) {
        if (!isfinite(b->values[i]) || b->values[i] < 0)
            return ML_FAIL(ML_EINVAL, "bar chart \"%s\": value %zu is %g (expected finite, >= 0)",
                           b->title ? b->title : "", i, b->values[i]);
        vmax = fmax(vmax, b->values[i]);
        ml__svg_shorten_tail(name, sizeof name, b->labels[i] + skip, ROW_LABEL_MAX_CHARS);
        label_w = fmax(label_w, text_w(name, FONT_TICK));
    }
    if (vmax <= 0) vmax = 1;
    double left = fmin(ROW_LABEL_MAX_W, label_w) + 12, right = PLOT_W - 60;
    double top = TITLE_H + (skip ? 20 : 8);
    double bar_h = 14, pitch = 18, h = top + pitch * (double)b->n + 44;
    ticks t;
    double step;
    t.n = ml__svg_nice_ticks(0, vmax * 1.05, 5, t.v, MAX_TICKS, &step);
    label_ticks(&t, step);
    double scale = (right - left) / (vmax * 1.05);
    svg_open(out, PLOT_W, h, b->title);
    prefix_note(out, b->labels[0], skip);
    double bottom = top + pitch * (double)b->n;
    for (size_t i = 0; i < t.n; i++) {
        double x = left + t.v[i] * scale;
        ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e3e3e3\"/>",
                          x, x, top, bottom);
        text_el(out, x, bottom + 14, "middle", FONT_TICK, NULL, t.label[i]);
    }
    for (size_t i = 0; i < b->n; i++) {
        double y = top + pitch * (double)i;
        ml__svg_shorten_tail(name, sizeof name, b->labels[i] + skip, ROW_LABEL_MAX_CHARS);
        text_el(out, left - 4, y + bar_h * 0.5 + 4, "end", FONT_TICK, NULL, name);
        ml__outbuf_printf(out,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" "
                          "fill=\"%s\"/>",
                          left, y + 2, b->values[i] * scale, bar_h, ml__svg_colour_hex(b->colour));
        char v[32];
        snprintf(v, sizeof v, "%.3g", b->values[i]);
        text_el(out, left + b->values[i] * scale + 4, y + bar_h * 0.5 + 5, "start", 10, NULL, v);
    }
    ml__outbuf_printf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n",
                      left, left, top, bottom);
    if (b->value_label)
        text_el(out, (left + right) / 2, h - 6, "middle", FONT_LABEL, NULL, b->value_label);
    return ml__outbuf_puts(out, "</svg>\n");
}

/* ---- Confusion matrix ----------------------------------------------------------------------- */

/* White to Okabe-Ito blue: a single hue reads as "more" to every viewer. */
static void blue_hex(char hex[8], double t) {
    static const int b[3] = {0x00, 0x72, 0xB2};
    int c[3];
    for (size_t k = 0; k < 3; k++) c[k] = (int)lround(255 + t * (b[k] - 255));
    snprintf(hex, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

ml_status ml__svg_confusion_write(ml__outbuf *out, const char *title, const char *negative,
                                  const char *positive, size_t tn, size_t fp, size_t fn,
                                  size_t tp) {
    const size_t cell[2][2] = {{tn, fp}, {fn, tp}};
    const char *names[2] = {negative, positive};
    char a[3 * ROW_LABEL_MAX_CHARS + 8], bname[3 * ROW_LABEL_MAX_CHARS + 8];
    shorten(a, sizeof a, negative, 18);
    shorten(bname, sizeof bname, positive, 18);
    double lw = fmax(text_w(a, FONT_TICK), text_w(bname, FONT_TICK));
    double left = 34 + lw + 8, top = TITLE_H + 34, cw = 120, ch = 70;
    double w = left + 2 * cw + 16, h = top + 2 * ch + 16;
    svg_open(out, w, h, title);
    text_el(out, left + cw, TITLE_H + 12, "middle", FONT_LABEL, NULL, "predicted class");
    ml__outbuf_printf(out,
                      "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\" "
                      "font-size=\"%g\">true class</text>\n",
                      top + ch, FONT_LABEL);
    for (size_t r = 0; r < 2; r++) {
        shorten(a, sizeof a, names[r], 18);
        text_el(out, left - 6, top + ((double)r + 0.5) * ch + 4, "end", FONT_TICK, NULL, a);
        text_el(out, left + ((double)r + 0.5) * cw, top - 6, "middle", FONT_TICK, NULL, a);
        size_t row_total = cell[r][0] + cell[r][1];
        for (size_t c = 0; c < 2; c++) {
            double share = row_total ? (double)cell[r][c] / (double)row_total : 0;
            char hex[8], text[64];
            blue_hex(hex, share);
            double x = left + (double)c * cw, y = top + (double)r * ch;
            ml__outbuf_printf(out,
                              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
                              "fill=\"%s\" stroke=\"#fff\" stroke-width=\"2\"/>\n",
                              x, y, cw, ch, hex);
            const char *ink = share > 0.55 ? " fill=\"#fff\"" : " fill=\"#111\"";
            snprintf(text, sizeof text, "%zu", cell[r][c]);
            char extra[48];
            snprintf(extra, sizeof extra, "%s font-weight=\"bold\"", ink);
            text_el(out, x + cw / 2, y + ch / 2, "middle", 16, extra, text);
            snprintf(text, sizeof text, "%.1f%% of true %s", 100 * share, r ? "pos." : "neg.");
            text_el(out, x + cw / 2, y + ch / 2 + 17, "middle", 10, ink, text);
        }
    }
    return ml__outbuf_puts(out, "</svg>\n");
}
