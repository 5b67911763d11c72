/* test_svg.c - what svg.c promises: nice-number and log ticks, tick labels, min/max
 * decimation that keeps spikes, gaps and both ends, escaping, and well-formed, URL-free plots
 * of every kind (checked by counting elements, not by pixels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ml_test.h"
#include "report/svg.h"
#include "util/fileio.h"

static char tmp_dir[] = "/tmp/ml_test_svg.XXXXXX";

/* Runs a writer into a temp file and returns what it wrote (caller frees), or NULL. */
typedef ml_status (*writer)(ml__outbuf *out, const void *arg);

static char *render(writer w, const void *arg, ml_status *st) {
    char path[256];
    snprintf(path, sizeof path, "%s/out.svg", tmp_dir);
    ml__outbuf out;
    if (ml__outbuf_open(&out, path, 0644) != ML_OK) return NULL;
    *st = w(&out, arg);
    if (*st != ML_OK) {
        ml__outbuf_abort(&out);
        return NULL;
    }
    if (ml__outbuf_commit(&out) != ML_OK) return NULL;
    char *data = NULL;
    size_t len = 0;
    if (ml__file_read(path, 1 << 26, &data, &len) != ML_OK) return NULL;
    unlink(path);
    return data;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_nice_ticks__unit_range_steps_by_two_tenths(void) {
    double t[16], step = 0;
    size_t n = ml__svg_nice_ticks(0, 1, 5, t, 16, &step);
    CHECK_EQ_INT(n, 6);
    CHECK_NEAR(step, 0.2, 1e-15);
    for (size_t i = 0; i < n; i++) CHECK_NEAR(t[i], 0.2 * (double)i, 1e-12);
}

static void test_nice_ticks__stay_inside_and_hit_zero(void) {
    double t[16], step = 0;
    size_t n = ml__svg_nice_ticks(3, 97, 5, t, 16, &step);
    CHECK_NEAR(step, 20, 0);
    CHECK_EQ_INT(n, 4);
    CHECK_NEAR(t[0], 20, 0);
    CHECK_NEAR(t[3], 80, 0);
    n = ml__svg_nice_ticks(-1.3, 2.1, 5, t, 16, &step);
    CHECK_NEAR(step, 1, 0);
    CHECK_EQ_INT(n, 4); /* -1 0 1 2 */
    CHECK(t[1] == 0.0 && !signbit(t[1]));
    CHECK_EQ_INT(ml__svg_nice_ticks(1, 1, 5, t, 16, &step), 0); /* empty range */
    CHECK_EQ_INT(ml__svg_nice_ticks(0, 1000, 5, t, 3, &step), 3); /* capacity honoured */
}

static void test_log_ticks__decades_thinned_then_125_then_linear(void) {
    double t[16];
    size_t n = ml__svg_log_ticks(1e-4, 10, t, 16);
    CHECK_EQ_INT(n, 6);
    CHECK_NEAR(t[0], 1e-4, 1e-19);
    CHECK_NEAR(t[5], 10, 1e-12);
    n = ml__svg_log_ticks(1e-9, 1e3, t, 16); /* 13 decades: every second */
    CHECK_EQ_INT(n, 7);
    CHECK_NEAR(t[1] / t[0], 100, 1e-9);
    n = ml__svg_log_ticks(3, 40, t, 16);
    CHECK_EQ_INT(n, 3);
    CHECK_NEAR(t[0], 5, 1e-12);
    CHECK_NEAR(t[2], 20, 1e-12);
    n = ml__svg_log_ticks(1.1, 1.5, t, 16);
    CHECK(n >= 3);
    CHECK(t[0] >= 1.1 && t[n - 1] <= 1.5);
    CHECK_EQ_INT(ml__svg_log_ticks(0, 1, t, 16), 0);
}

static void test_format_tick__fixed_scientific_and_zero(void) {
    char b[32];
    ml__svg_format_tick(b, sizeof b, 0.25, 0.05);
    CHECK_STR(b, "0.25");
    ml__svg_format_tick(b, sizeof b, 1500, 500);
    CHECK_STR(b, "1500");
    ml__svg_format_tick(b, sizeof b, -0.4, 0.2);
    CHECK_STR(b, "-0.4");
    ml__svg_format_tick(b, sizeof b, 2e-4, 1e-4);
    CHECK_STR(b, "2e-4");
    ml__svg_format_tick(b, sizeof b, 2.5e-5, 5e-6);
    CHECK_STR(b, "2.5e-5");
    ml__svg_format_tick(b, sizeof b, 1e5, 1e5);
    CHECK_STR(b, "1e5");
    ml__svg_format_tick(b, sizeof b, 1e-17, 0.2); /* rounding noise of a zero tick */
    CHECK_STR(b, "0");
}

static void test_decimate__keeps_spike_gap_and_ends(void) {
    enum { N = 100000, MAXP = 1000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    double *ox = malloc((MAXP + 2) * sizeof *ox), *oy = malloc((MAXP + 2) * sizeof *oy);
    CHECK(x && y && ox && oy);
    if (!x || !y || !ox || !oy) goto done;
    for (size_t i = 0; i < N; i++) {
        x[i] = (double)i;
        y[i] = sin((double)i / 1000);
    }
    y[51234] = 50;   /* a spike */
    y[70001] = NAN;  /* a gap */
    size_t n = ml__svg_decimate(x, y, N, MAXP, ox, oy);
    CHECK(n <= MAXP + 2);
    CHECK(n > MAXP / 2);
    CHECK_NEAR(ox[0], 0, 0);
    CHECK_NEAR(ox[n - 1], N - 1, 0);
    int spike = 0, gap = 0, ordered = 1;
    for (size_t i = 0; i < n; i++) {
        spike |= oy[i] == 50;
        gap |= isnan(oy[i]);
        if (i > 0 && !(ox[i] > ox[i - 1])) ordered = 0;
    }
    CHECK(spike);
    CHECK(gap);
    CHECK(ordered);
    CHECK_EQ_INT(ml__svg_decimate(x, y, 10, MAXP, ox, oy), 10); /* short: copied */
    CHECK_NEAR(oy[3], y[3], 0);
done:
    free(x);
    free(y);
    free(ox);
    free(oy);
}

static ml_status write_escaped(ml__outbuf *out, const void *arg) {
    return ml__svg_escape(out, (const char *)arg);
}

static void test_escape__markup_quotes_and_controls(void) {
    ml_status st = ML_OK;
    char *s = render(write_escaped, "<a&b \"c\" 'd'>\x01\xC3\xA9", &st);
    CHECK(s != NULL);
    if (s) CHECK_STR(s, "&lt;a&amp;b &quot;c&quot; &#39;d&#39;&gt;?\xC3\xA9");
    free(s);
}

static ml_status write_plot(ml__outbuf *out, const void *arg) {
    return ml__svg_plot_write(out, (const ml__svg_plot *)arg);
}

static void test_plot__log_axis_markers_and_decimated_path(void) {
    enum { N = 50000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    CHECK(x && y);
    if (!x || !y) goto done;
    for (size_t i = 0; i < N; i++) {
        x[i] = (double)i;
        y[i] = 1e-3 * (1 + (double)(i % 97));
    }
    y[100] = 0; /* cannot sit on a log axis: a gap */
    double ex[2] = {0, 40000}, ey[2] = {0.01, 0.05};
    ml__svg_line lines[2] = {
        {"train <loss>", x, y, N, ML__SVG_BLUE, false, false, false},
        {"eval", ex, ey, 2, ML__SVG_ORANGE, true, false, true},
    };
    ml__svg_marker mk[1] = {{30000, INFINITY, "step 30000: non-finite"}};
    ml__svg_vline vl[1] = {{25000, "best", ML__SVG_GREEN}};
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "Gradient & loss";
    p.x_label = "training step";
    p.y_label = "loss (nats)";
    p.log_y = true;
    p.lines = lines;
    p.n_lines = 2;
    p.markers = mk;
    p.n_markers = 1;
    p.marker_label = "spike";
    p.vlines = vl;
    p.n_vlines = 1;
    ml_status st = ML_OK;
    char *s = render(write_plot, &p, &st);
    CHECK_STATUS(st, ML_OK);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(count(s, "<svg"), 1);
        CHECK_EQ_INT(count(s, "</svg>"), 1);
        CHECK(strstr(s, "Gradient &amp; loss") != NULL);
        CHECK(strstr(s, "train &lt;loss&gt;") != NULL);
        CHECK(strstr(s, ">loss (nats)</text>") != NULL);
        CHECK(strstr(s, ">training step</text>") != NULL);
        CHECK(strstr(s, ">0.01</text>") != NULL); /* a decade tick */
        CHECK(strstr(s, "step 30000: non-finite") != NULL);
        CHECK(strstr(s, "http") == NULL && strstr(s, "url(") == NULL);
        /* The long line: decimated to <= ML__SVG_MAX_POINTS + 2 vertices, with a gap. */
        const char *path = strstr(s, "round\" d=\"");
        CHECK(path != NULL);
        if (path) {
            path += strlen("round\" d=\"");
            const char *end = strchr(path, '"');
            size_t moves = 0, lines_n = 0;
            for (const char *q = path; q < end; q++) {
                moves += *q == 'M';
                lines_n += *q == 'L';
            }
            CHECK_EQ_INT(moves, 2);
            CHECK(moves + lines_n <= ML__SVG_MAX_POINTS + 2);
            CHECK(moves + lines_n > 100);
        }
        CHECK_EQ_INT(count(s, "<circle"), 2); /* the sparse series' dots */
    }
    free(s);
done:
    free(x);
    free(y);
}

static void test_plot__nothing_drawable_is_refused(void) {
    double x[2] = {1, 2}, y[2] = {NAN, -1};
    ml__svg_line l = {"a", x, y, 2, ML__SVG_BLUE, false, false, false};
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "empty";
    p.log_y = true;
    p.lines = &l;
    p.n_lines = 1;
    ml_status st = ML_OK;
    char *s = render(write_plot, &p, &st);
    CHECK(s == NULL);
    CHECK_STATUS(st, ML_EINVAL);
    CHECK_ERR_CONTAINS("no finite point");
}

static void test_plot__square_roc_with_diagonal_and_steps(void) {
    double fpr[4] = {0, 0.1, 0.5, 1}, tpr[4] = {0, 0.6, 0.9, 1};
    ml__svg_line l = {"ROC", fpr, tpr, 4, ML__SVG_BLUE, false, true, false};
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.title = "ROC";
    p.x_min = p.y_min = 0;
    p.x_max = p.y_max = 1;
    p.diagonal = p.square = true;
    p.lines = &l;
    p.n_lines = 1;
    ml_status st = ML_OK;
    char *s = render(write_plot, &p, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, "stroke-dasharray=\"4 4\"") != NULL);
        const char *d = strstr(s, " d=\"M"), *end = d ? strchr(d + 4, '"') : NULL;
        size_t h = 0;
        for (const char *q = d; q && q < end; q++) h += *q == 'H';
        CHECK_EQ_INT(h, 3); /* steps-post: one H per segment */
        CHECK(strstr(s, "viewBox=\"0 0 460 ") != NULL);
    }
    free(s);
}

static ml_status write_heat(ml__outbuf *out, const void *arg) {
    return ml__svg_heatmap_write(out, (const ml__svg_heatmap *)arg);
}

static void test_heatmap__log_scale_levels_and_refusal(void) {
    const char *rows[3] = {"encoder.layers.0.self_attn.in_proj_weight.very.long.name.here", "b",
                           "c"};
    double cols[4] = {0, 100, 200, 300};
    double v[12] = {1e-3, 1e-2, 1e-1, 1, 2e-3, NAN, 0, 5, 1e-3, 1e-3, 1e-3, 1e-3};
    ml__svg_heatmap h = {"grad norms", "training step", "L2 norm (log)", 3, 4, rows, cols, v,
                         true, NAN, NAN};
    ml_status st = ML_OK;
    char *s = render(write_heat, &h, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, "#eeeeee") != NULL);             /* NaN and 0 on a log scale */
        CHECK(strstr(s, "\xE2\x80\xA6") != NULL);         /* long row label shortened */
        CHECK(strstr(s, ">300</text>") != NULL);          /* last column tick */
        CHECK_EQ_INT(count(s, "<rect"), 32 + 1);          /* colour bar + frame */
    }
    free(s);
    double none[2] = {NAN, -1};
    ml__svg_heatmap e = {"x", NULL, NULL, 1, 2, rows, cols, none, true, NAN, NAN};
    s = render(write_heat, &e, &st);
    CHECK(s == NULL);
    CHECK_STATUS(st, ML_EINVAL);
}

static ml_status write_bars(ml__outbuf *out, const void *arg) {
    return ml__svg_bars_write(out, (const ml__svg_bars *)arg);
}

static void test_bars__values_and_refusal(void) {
    const char *labels[2] = {"fold 1", "fold 2"};
    double v[2] = {0.75, 0.5};
    ml__svg_bars b = {"AUC by fold", "ROC-AUC", 2, labels, v, ML__SVG_BLUE};
    ml_status st = ML_OK;
    char *s = render(write_bars, &b, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, ">0.75</text>") != NULL);
        CHECK(strstr(s, ">fold 2</text>") != NULL);
    }
    free(s);
    v[1] = -1;
    s = render(write_bars, &b, &st);
    CHECK(s == NULL);
    CHECK_STATUS(st, ML_EINVAL);
    CHECK_ERR_CONTAINS("value 1 is -1");
}

static ml_status write_confusion(ml__outbuf *out, const void *arg) {
    (void)arg;
    return ml__svg_confusion_write(out, "Confusion", "Vaginal", "Cesarean <c>", 40, 10, 5, 45);
}

static void test_confusion__counts_shares_and_names(void) {
    ml_status st = ML_OK;
    char *s = render(write_confusion, NULL, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, ">40</text>") && strstr(s, ">45</text>"));
        CHECK(strstr(s, ">80.0% of true neg.</text>") != NULL);
        CHECK(strstr(s, ">90.0% of true pos.</text>") != NULL);
        CHECK(strstr(s, "Cesarean &lt;c&gt;") != NULL);
    }
    free(s);
}

static void test_common_prefix__cut_at_separator_and_never_empty(void) {
    const char *a[3] = {"encoder.layers.0.w", "encoder.layers.1.w", "encoder.layers.10.b"};
    CHECK_EQ_INT(ml__svg_common_prefix(a, 3), strlen("encoder.layers."));
    const char *b[2] = {"lora/x", "lora/"}; /* stripping would empty the second */
    CHECK_EQ_INT(ml__svg_common_prefix(b, 2), 0);
    const char *c[2] = {"alpha", "alps"}; /* no separator inside the shared part */
    CHECK_EQ_INT(ml__svg_common_prefix(c, 2), 0);
    CHECK_EQ_INT(ml__svg_common_prefix(a, 1), 0);
}

static void test_plot__small_linear_axis_shares_one_exponent(void) {
    double x[3] = {1, 2, 3}, y[3] = {1e-3, 1e-3, 1e-3};
    ml__svg_line l = {NULL, x, y, 3, ML__SVG_BLUE, false, false, false};
    ml__svg_plot p = ML__SVG_PLOT_INIT;
    p.lines = &l;
    p.n_lines = 1;
    ml_status st = ML_OK;
    char *s = render(write_plot, &p, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, ">1.0e-3</text>") != NULL);
        CHECK(strstr(s, ">0.9e-3</text>") != NULL);
        CHECK(strstr(s, "e-4<") == NULL); /* no tick in another exponent */
    }
    free(s);
}

static void test_heatmap__step_bins_get_nice_ticks(void) {
    const char *rows[2] = {"layers.0.w", "layers.1.w"};
    double cols[3] = {60, 180, 300}, v[6] = {1, 2, 3, 4, 5, 6};
    ml__svg_heatmap h = {"t", "training step", "v", 2, 3, rows, cols, v, false, 0, 360};
    ml_status st = ML_OK;
    char *s = render(write_heat, &h, &st);
    CHECK_STATUS(st, ML_OK);
    if (s) {
        CHECK(strstr(s, ">100</text>") != NULL && strstr(s, ">300</text>") != NULL);
        CHECK(strstr(s, ">180</text>") == NULL); /* not the bin centres */
        CHECK(strstr(s, "row names after: layers.") != NULL);
        CHECK(strstr(s, ">0.w</text>") != NULL);
    }
    free(s);
}

static void test_colours__okabe_ito(void) {
    CHECK_STR(ml__svg_colour_hex(ML__SVG_BLUE), "#0072B2");
    CHECK_STR(ml__svg_colour_hex(ML__SVG_VERMILLION), "#D55E00");
    CHECK_STR(ml__svg_colour_hex((ml__svg_colour)99), "#777777");
}

int main(void) {
    if (!mkdtemp(tmp_dir)) return 1;
    RUN(test_nice_ticks__unit_range_steps_by_two_tenths);
    RUN(test_nice_ticks__stay_inside_and_hit_zero);
    RUN(test_log_ticks__decades_thinned_then_125_then_linear);
    RUN(test_format_tick__fixed_scientific_and_zero);
    RUN(test_decimate__keeps_spike_gap_and_ends);
    RUN(test_escape__markup_quotes_and_controls);
    RUN(test_plot__log_axis_markers_and_decimated_path);
    RUN(test_plot__nothing_drawable_is_refused);
    RUN(test_plot__square_roc_with_diagonal_and_steps);
    RUN(test_heatmap__log_scale_levels_and_refusal);
    RUN(test_bars__values_and_refusal);
    RUN(test_confusion__counts_shares_and_names);
    RUN(test_common_prefix__cut_at_separator_and_never_empty);
    RUN(test_plot__small_linear_axis_shares_one_exponent);
    RUN(test_heatmap__step_bins_get_nice_ticks);
    RUN(test_colours__okabe_ito);
    rmdir(tmp_dir);
    TEST_MAIN_END();
}
