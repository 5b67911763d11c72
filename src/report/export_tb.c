/* export_tb.c - the tensorboard export: one event file holding every selected metric value as a
 * scalar event, in step order (ties by metric name), and a histogram per floating snapshot
 * tensor after the scalars of its step. The encoding is tfevents.c's; this file only orders. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "microlens/tensorstats.h"
#include "report/export_internal.h"
#include "report/tfevents.h"
#include "util/error.h"

/* Tag prefix of snapshot histograms: TensorBoard groups tags by their first component. */
#define SNAPSHOT_TAG_PREFIX "snapshots/"

/* A read position in one metric series; the heap orders cursors by (step, metric index). */
typedef struct cursor {
    ml_series s;
    size_t i, m;
} cursor;

static int before(const cursor *a, const cursor *b) {
    int64_t x = a->s.steps[a->i], y = b->s.steps[b->i];
    return x < y || (x == y && a->m < b->m);
}

static void sift_down(cursor **h, size_t n, size_t k) {
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, best = k;
        if (l < n && before(h[l], h[best])) best = l;
        if (r < n && before(h[r], h[best])) best = r;
        if (best == k) return;
        cursor *t = h[k];
        h[k] = h[best];
        h[best] = t;
        k = best;
    }
}

/* Histograms of one snapshot file's floating tensors, at wall_time. */
static ml_status write_snapshot(ml__export *e, ml__tfevents *w, const ml__snapshot *snap,
                                double wall_time) {
    ml_safetensors *st = NULL;
    ML_TRY(ml_safetensors_open(&st, snap->path));
    ml_status s = ML_OK;
    for (size_t i = 0; s == ML_OK && i < ml_safetensors_n_tensors(st); i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        if (!ml_dtype_is_float(t->dtype)) continue; /* histograms are of real numbers */
        size_t n = ml_tensor_view_n_elements(t);
        float *v = malloc((n ? n : 1) * sizeof *v);
        size_t tag_len = strlen(SNAPSHOT_TAG_PREFIX) + strlen(t->name) + 1;
        char *tag = malloc(tag_len);
        if (!v || !tag) s = ML_NOMEM();
        if (s == ML_OK) s = ml_safetensors_read_f32(t, v);
        if (s == ML_OK) {
            ml__histogram h;
            ml__histogram_compute(&h, v, n);
            snprintf(tag, tag_len, "%s%s", SNAPSHOT_TAG_PREFIX, t->name);
            if (h.num > 0) {
                s = ml__tfevents_histogram(w, wall_time, snap->step, tag, &h);
                e->res.n_tensors++;
            }
        }
        free(v);
        free(tag);
    }
    ml_safetensors_close(st);
    e->res.n_snapshots++;
    return s;
}

/* The earliest wall time of any exported value names the file (0 when there is none), so that
 * exporting the same run twice gives the same file name and bytes. */
static double first_wall_time(const cursor *c, size_t n) {
    double t = INFINITY;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < c[k].s.n; i++)
            if (c[k].s.wall_times[i] < t) t = c[k].s.wall_times[i];
    return isfinite(t) ? t : 0.0;
}

typedef struct merge {
    ml__export *e;
    ml__tfevents *w;
    const ml__snapshot *snaps;
    size_t n_snaps, next_snap;
    double wall;  /* latest wall time written: snapshot histograms take it */
} merge;

/* Histograms of snapshots whose step is before limit. */
static ml_status flush_snapshots(merge *g, int64_t limit) {
    while (g->next_snap < g->n_snaps && g->snaps[g->next_snap].step < limit)
        ML_TRY(write_snapshot(g->e, g->w, &g->snaps[g->next_snap++], g->wall));
    return ML_OK;
}

static ml_status write_events(merge *g, cursor *c, size_t n) {
    cursor **heap = malloc((n ? n : 1) * sizeof *heap);
    if (!heap) return ML_NOMEM();
    size_t h = 0;
    for (size_t k = 0; k < n; k++)
        if (c[k].s.n) heap[h++] = &c[k];
    for (size_t k = h; k-- > 0;) sift_down(heap, h, k);
    ml_status st = ML_OK;
    while (st == ML_OK && h > 0) {
        cursor *top = heap[0];
        int64_t step = top->s.steps[top->i];
        /* Hugging Face log histories have no wall times (NaN): TensorBoard gets 0 for them. */
        double wall = isfinite(top->s.wall_times[top->i]) ? top->s.wall_times[top->i] : 0.0;
        st = flush_snapshots(g, step);
        if (st != ML_OK) break;
        /* TensorBoard keeps scalars as float32 (Summary.Value.simple_value). */
        st = ml__tfevents_scalar(g->w, wall, step, g->e->metrics[top->m],
                                 (float)top->s.values[top->i]);
        if (wall > g->wall) g->wall = wall;
        g->e->res.n_points++;
        if (++top->i == top->s.n) heap[0] = heap[--h];
        sift_down(heap, h, 0);
    }
    free(heap);
    if (st == ML_OK) st = flush_snapshots(g, INT64_MAX);
    if (st == ML_OK && g->next_snap < g->n_snaps) /* a snapshot at step INT64_MAX */
        st = write_snapshot(g->e, g->w, &g->snaps[g->next_snap++], g->wall);
    return st;
}

static ml_status write_file(ml__export *e, cursor *c, const ml__snapshot *snaps,
                            size_t n_snaps) {
    double t0 = first_wall_time(c, e->n_metrics);
    char name[96], *path = NULL;
    ML_TRY(ml__tfevents_file_name(name, sizeof name, (int64_t)floor(t0)));
    ML_TRY(ml__export_path(e, name, &path));
    ml__tfevents w;
    ml_status st = ml__tfevents_open(&w, path, t0);
    free(path);
    if (st != ML_OK) return st;
    e->res.n_files++;
    merge g = {e, &w, snaps, n_snaps, 0, t0};
    st = write_events(&g, c, e->n_metrics);
    if (st != ML_OK) {
        ml__tfevents_abort(&w);
        return st;
    }
    e->res.n_metrics = e->n_metrics;
    return ml__tfevents_commit(&w);
}

ml_status ml__export_tensorboard(ml__export *e) {
    cursor *c = calloc(e->n_metrics ? e->n_metrics : 1, sizeof *c);
    if (!c) return ML_NOMEM();
    ml_status st = ML_OK;
    for (size_t m = 0; st == ML_OK && m < e->n_metrics; m++) {
        c[m].m = m;
        st = ml_run_source_series(e->src, e->metrics[m], 0, ML_RUNSTORE_LAST_STEP, &c[m].s);
    }
    ml__snapshot *snaps = NULL;
    size_t n_snaps = 0;
    if (st == ML_OK && e->o->snapshots) st = ml__export_snapshots(e->src, &snaps, &n_snaps);
    if (st == ML_OK) st = write_file(e, c, snaps, n_snaps);
    ml__export_snapshots_free(snaps, n_snaps);
    free(c);
    return st;
}
