/* svg.h - the reports' one plotting module: inline SVG line plots (linear or log y, markers,
 * point series, reference lines, steps), heat maps, horizontal bars and confusion matrices,
 * with "nice number" ticks, axis labels, a legend and the Okabe-Ito palette. It draws what it
 * is given: no statistic is computed here beyond axis ranges, ticks and the min/max decimation
 * that keeps long series small. Every text is XML-escaped. Nothing is fetched: no script, font
 * or image. */
#ifndef ML_REPORT_SVG_H
#define ML_REPORT_SVG_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"
#include "util/outbuf.h"

/* Points drawn per line at most: a 560-pixel-wide plot cannot show more, and a 100k-step run
 * would otherwise make a multi-megabyte report. Longer series are decimated min/max-preserving
 * (ml__svg_decimate), so spikes stay visible. */
#define ML__SVG_MAX_POINTS 1000
/* Markers drawn per plot at most (the legend says how many were left out). */
#define ML__SVG_MAX_MARKERS 200

/* Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour vision
 * deficiencies. Series take them in this order (yellow last: weak on white). */
typedef enum ml__svg_colour {
    ML__SVG_BLUE = 0,   /* #0072B2 */
    ML__SVG_ORANGE,     /* #E69F00 */
    ML__SVG_GREEN,      /* #009E73 (bluish green) */
    ML__SVG_VERMILLION, /* #D55E00 */
    ML__SVG_PURPLE,     /* #CC79A7 (reddish purple) */
    ML__SVG_SKY,        /* #56B4E9 */
    ML__SVG_YELLOW,     /* #F0E442 */
    ML__SVG_BLACK,      /* #000000 */
    ML__SVG_GREY        /* #777777: reference lines */
} ml__svg_colour;
#define ML__SVG_N_SERIES_COLOURS 7 /* BLUE .. YELLOW */

/* "#RRGGBB" of a palette entry; grey outside the enum. */
const char *ml__svg_colour_hex(ml__svg_colour c);

/* One line of a plot. x and y are borrowed for the call. */
typedef struct ml__svg_line {
    const char *label;     /* legend entry; NULL: none */
    const double *x, *y;   /* n points in drawing order; a non-finite y (or y <= 0 on a log
                            * axis) breaks the line */
    size_t n;
    ml__svg_colour colour;
    bool dashed;
    bool steps;            /* steps-post: hold y until the next x (precision-recall) */
    bool dots;             /* a dot at every point (sparse series such as evaluations) */
} ml__svg_line;

/* A point event drawn as a downward triangle; a non-finite y sits on the top edge. */
typedef struct ml__svg_marker {
    double x, y;
    const char *label;     /* tooltip */
} ml__svg_marker;

/* A series of point events of one kind (every gradient explosion step), drawn as diamonds
 * centred on (x, y) in one colour; a y that is not drawable sits on the top edge. Up to
 * ML__SVG_MAX_MARKERS each diamond is its own element with its tooltip; beyond, all of them are
 * drawn (none is left out) as one <path> of short subpaths, about 30 bytes a point. */
typedef struct ml__svg_points {
    const char *label;        /* legend entry; NULL: none */
    const double *x, *y;      /* n events, borrowed for the call */
    const char *const *tips;  /* n tooltips, or NULL: none */
    size_t n;
    ml__svg_colour colour;
} ml__svg_points;

/* A vertical reference line (best checkpoint, divergence) with a short label at its top. */
typedef struct ml__svg_vline {
    double x;
    const char *label;
    ml__svg_colour colour;
} ml__svg_vline;

typedef struct ml__svg_plot {
    const char *title;
    const char *x_label, *y_label; /* with units, e.g. "training step", "loss (nats)" */
    bool log_y;
    double x_min, x_max, y_min, y_max; /* NaN: from the data */
    bool diagonal;         /* dashed grey y = x (ROC chance line) */
    bool square;           /* square plotting area (ROC, PR) */
    const ml__svg_line *lines;
    size_t n_lines;
    const ml__svg_marker *markers;
    size_t n_markers;
    const char *marker_label; /* legend entry of the markers */
    const ml__svg_vline *vlines;
    size_t n_vlines;
    const ml__svg_points *points; /* drawn under the markers */
    size_t n_points;
} ml__svg_plot;
#define ML__SVG_PLOT_INIT                                                                    \
    {NULL, NULL, NULL, false, NAN, NAN, NAN, NAN, false, false, NULL, 0, NULL, 0, NULL, NULL, 0, \
     NULL, 0}

/* ^True when the plot has a finite point to draw (ml__svg_plot_write would not refuse it). */
bool ml__svg_plot_drawable(const ml__svg_plot *p);

/* ^Writes one <svg> element. ML_EINVAL when nothing is drawable (no finite point): callers
 * omit such a plot and say "not collected" instead. Output errors are the outbuf's (sticky). */
ml_status ml__svg_plot_write(ml__outbuf *out, const ml__svg_plot *p);

/* A heat map: rows (tensors, modules) by columns (step bins, checkpoints), colour by value on
 * the viridis scale (perceptually uniform, colour-blind safe), with a colour bar. */
typedef struct ml__svg_heatmap {
    const char *title;
    const char *x_label;      /* e.g. "training step" */
    const char *value_label;  /* colour bar, with units */
    size_t n_rows, n_cols;
    const char *const *row_labels; /* n_rows; long ones are shortened in the middle */
    const double *col_x;      /* n_cols: x value of each column (ticks show them) */
    const double *values;     /* (n_rows, n_cols) row-major; NaN: no data (light grey) */
    bool log_scale;           /* colour by log10(value); values <= 0 count as no data */
    double x_lo, x_hi;        /* the x range the columns tile evenly (step bins): ticks are
                               * then nice numbers; NaN: columns are categories (checkpoints)
                               * labelled by their col_x */
} ml__svg_heatmap;

/* ^True when the heat map has a row, a column and a finite value. */
bool ml__svg_heatmap_drawable(const ml__svg_heatmap *h);

/* ^Writes one heat map. ML_EINVAL when it has no row, no column or no finite value. */
ml_status ml__svg_heatmap_write(ml__outbuf *out, const ml__svg_heatmap *h);

/* Horizontal bars, one per label, in the order given. */
typedef struct ml__svg_bars {
    const char *title;
    const char *value_label;  /* axis under the bars, with units */
    size_t n;
    const char *const *labels;
    const double *values;     /* finite, >= 0 */
    ml__svg_colour colour;
} ml__svg_bars;

/* ^Writes a bar chart. ML_EINVAL when n is 0 or a value is negative or not finite. */
ml_status ml__svg_bars_write(ml__outbuf *out, const ml__svg_bars *b);

/* ^Writes a 2x2 confusion matrix (rows: true class, columns: predicted), each cell shaded by
 * its share of the true class, with the count and the share written in it. */
ml_status ml__svg_confusion_write(ml__outbuf *out, const char *title, const char *negative,
                                  const char *positive, size_t tn, size_t fp, size_t fn,
                                  size_t tp);

/* ^Appends s with & < > " ' escaped and control characters replaced by '?', for element text
 * and attribute values alike (HTML and SVG). NULL writes nothing. */
ml_status ml__svg_escape(ml__outbuf *out, const char *s);

/* ^Length of the prefix shared by all names, cut back to just after a '.' or '/' ("encoder.
 * layers." of "encoder.layers.0.w" and "encoder.layers.1.w"); 0 for fewer than 2 names or when
 * stripping it would leave a name empty. Heat maps and legends drop it and say it once. */
size_t ml__svg_common_prefix(const char *const *names, size_t n);

/* ^Writes s, or when longer than max_chars characters its end after an ellipsis, starting
 * after a '.' or '/' near the cut ("…0.self_attn.q_proj.lora_A.weight"): where tensor and
 * module names differ. */
void ml__svg_shorten_tail(char *buf, size_t cap, const char *s, size_t max_chars);

/* ---- Exposed for the tests ------------------------------------------------------------- */

/* ^Ticks of a linear axis over [lo, hi]: multiples of a step of 1, 2 or 5 x 10^k (Heckbert,
 * "Nice numbers for graph labels", Graphics Gems 1990) aiming at about target ticks, all inside
 * [lo, hi]. Returns the count (<= cap) and the step in *step. lo < hi required. */
size_t ml__svg_nice_ticks(double lo, double hi, size_t target, double *ticks, size_t cap,
                          double *step);

/* ^Ticks of a log axis over [lo, hi] (0 < lo < hi): powers of ten (every k-th when there are
 * too many), else 1, 2, 5 x 10^k, else linear nice ticks when the range is under a factor 2. */
size_t ml__svg_log_ticks(double lo, double hi, double *ticks, size_t cap);

/* ^Formats a tick value: fixed notation with the decimals that step needs when 1e-3 <= |v| <
 * 1e5, else "2.5e-4"; "0" for zero. */
void ml__svg_format_tick(char *buf, size_t cap, double v, double step);

/* ^Min/max decimation: splits the n points into max_points/3 runs of consecutive points and
 * keeps, in their order, the points of smallest and of largest y of each run and its first
 * non-finite y (so that gaps survive), plus the very first and last points. Writes at most
 * max_points + 2 points to ox, oy (capacity max_points + 2); n <= max_points copies.
 * max_points >= 6. Returns the count. */
size_t ml__svg_decimate(const double *x, const double *y, size_t n, size_t max_points,
                        double *ox, double *oy);

#endif
