/* source.c - a run source: a microlens run folder (run.sqlite, read-only) or a Hugging Face
 * Trainer folder (hf.c) read whole at open into metric series, checkpoint rows, events, notes
 * and metadata, so that every analysis works on the same arrays whatever the origin. It
 * analyses nothing and never writes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze/analyze_internal.h"
#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/json.h"

/* Growth of every array here: doubling from a handful keeps appends amortised O(1). */
#define FIRST_CAPACITY 8

static ml_status grow(void **array, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return ML_OK;
    size_t new_cap = *cap ? 2 * *cap : FIRST_CAPACITY;
    if (new_cap > SIZE_MAX / elem) return ML_NOMEM();
    void *p = realloc(*array, new_cap * elem);
    if (!p) return ML_NOMEM();
    *array = p;
    *cap = new_cap;
    return ML_OK;
}

/* ---- Metric sets ------------------------------------------------------------------------------ */

static ml_status metric_find_or_add(ml__metric_set *s, const char *name, ml__metric **out) {
    size_t idx;
    if (ml__strmap_get(&s->index, name, strlen(name), &idx)) {
        *out = &s->m[idx];
        return ML_OK;
    }
    /* the index borrows names from m[]: growing m moves the structs, not the names */
    ML_TRY(grow((void **)&s->m, &s->cap, s->n, sizeof *s->m));
    ml__metric *m = &s->m[s->n];
    memset(m, 0, sizeof *m);
    if (!(m->name = strdup(name))) return ML_NOMEM();
    size_t existing;
    ml_status st = ml__strmap_put(&s->index, m->name, strlen(m->name), s->n, &existing);
    if (st != ML_OK) {
        free(m->name);
        return st;
    }
    s->n++;
    *out = m;
    return ML_OK;
}

ml_status ml__metric_set_add(ml__metric_set *s, const char *name, int64_t step, double value,
                             double wall_time) {
    ml__metric *m = NULL;
    ML_TRY(metric_find_or_add(s, name, &m));
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : FIRST_CAPACITY;
        int64_t *st = realloc(m->steps, cap * sizeof *st);
        if (st) m->steps = st;
        double *v = st ? realloc(m->values, cap * sizeof *v) : NULL;
        if (v) m->values = v;
        double *w = v ? realloc(m->wall_times, cap * sizeof *w) : NULL;
        if (w) m->wall_times = w;
        if (!w) return ML_NOMEM();
        m->cap = cap;
    }
    m->steps[m->n] = step;
    m->values[m->n] = value;
    m->wall_times[m->n] = wall_time;
    m->n++;
    return ML_OK;
}

static int cmp_metric(const void *a, const void *b) {
    return strcmp(((const ml__metric *)a)->name, ((const ml__metric *)b)->name);
}

/* Points of one metric ordered by (step, arrival): a permutation sorted stably. */
typedef struct point_ref {
    int64_t step;
    size_t order;
} point_ref;

static int cmp_point(const void *a, const void *b) {
    const point_ref *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static ml_status sort_metric(ml__metric *m, size_t *n_dropped) {
    bool sorted = true;
    for (size_t i = 1; i < m->n && sorted; i++) sorted = m->steps[i] > m->steps[i - 1];
    if (sorted) return ML_OK;
    point_ref *p = malloc(m->n * sizeof *p);
    int64_t *steps = malloc(m->n * sizeof *steps);
    double *values = malloc(m->n * sizeof *values);
    double *walls = malloc(m->n * sizeof *walls);
    if (!p || !steps || !values || !walls) {
        free(p);
        free(steps);
        free(values);
        free(walls);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < m->n; i++) p[i] = (point_ref){m->steps[i], i};
    qsort(p, m->n, sizeof *p, cmp_point);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (k > 0 && steps[k - 1] == p[i].step) { /* a repeated step: the first logged stays */
            (*n_dropped)++;
            continue;
        }
        steps[k] = p[i].step;
        values[k] = m->values[p[i].order];
        walls[k++] = m->wall_times[p[i].order];
    }
    free(p);
    free(m->steps);
    free(m->values);
    free(m->wall_times);
    m->steps = steps;
    m->values = values;
    m->wall_times = walls;
    m->n = m->cap = k;
    return ML_OK;
}

ml_status ml__metric_set_finish(ml__metric_set *s) {
    for (size_t i = 0; i < s->n; i++) ML_TRY(sort_metric(&s->m[i], &s->n_duplicates));
    if (s->n > 1) qsort(s->m, s->n, sizeof *s->m, cmp_metric);
    ml__strmap_free(&s->index); /* positions changed; lookups go by binary search now */
    return ML_OK;
}

void ml__metric_set_free(ml__metric_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->m[i].name);
        free(s->m[i].steps);
        free(s->m[i].values);
        free(s->m[i].wall_times);
    }
    free(s->m);
    ml__strmap_free(&s->index);
    memset(s, 0, sizeof *s);
}

/* A whole series from the run store, copied in one piece (steps unique and increasing). */
static ml_status metric_set_put_series(ml__metric_set *s, const char *name,
                                       const ml_series *ser) {
    ml__metric *m = NULL;
    ML_TRY(metric_find_or_add(s, name, &m));
    size_t n = ser->n ? ser->n : 1;
    m->steps = malloc(n * sizeof *m->steps);
    m->values = malloc(n * sizeof *m->values);
    m->wall_times = malloc(n * sizeof *m->wall_times);
    if (!m->steps || !m->values || !m->wall_times) return ML_NOMEM(); /* freed with the set */
    if (ser->n) {
        memcpy(m->steps, ser->steps, ser->n * sizeof *m->steps);
        memcpy(m->values, ser->values, ser->n * sizeof *m->values);
        if (ser->wall_times) memcpy(m->wall_times, ser->wall_times, ser->n * sizeof(double));
        else
            for (size_t i = 0; i < ser->n; i++) m->wall_times[i] = NAN;
    }
    m->n = ser->n;
    m->cap = n;
    return ML_OK;
}

/* ---- Helpers shared with hf.c ------------------------------------------------------------------ */

char *ml__path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    bool slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

bool ml__is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

ml_status ml__find_weights(const char *dir, char **weights, char **adapter_config,
                           bool *is_adapter) {
    *weights = *adapter_config = NULL;
    *is_adapter = false;
    char *adapter = ml__path_join(dir, "adapter_model.safetensors");
    char *model = ml__path_join(dir, "model.safetensors");
    char *config = ml__path_join(dir, "adapter_config.json");
    ml_status st = (!adapter || !model || !config) ? ML_NOMEM() : ML_OK;
    if (st == ML_OK && ml__is_file(adapter)) {
        *weights = adapter;
        adapter = NULL;
        *is_adapter = true;
    } else if (st == ML_OK && ml__is_file(model)) {
        *weights = model;
        model = NULL;
    }
    if (st == ML_OK && ml__is_file(config)) {
        bool is_lora = true;
        st = ml__hf_adapter_config_check(config, &is_lora);
        if (st == ML_OK && !is_lora) *is_adapter = false;
        if (st == ML_OK) {
            *adapter_config = config;
            config = NULL;
        }
    }
    if (st != ML_OK) {
        free(*weights);
        *weights = NULL;
    }
    free(adapter);
    free(model);
    free(config);
    return st;
}

/* ---- The source -------------------------------------------------------------------------------- */

ml_status ml__source_note(ml_run_source *s, const char *fmt, ...) {
    ML_TRY(grow((void **)&s->notes, &s->cap_notes, s->n_notes, sizeof *s->notes));
    ml__textbuf b = {NULL, 0, 0, false};
    va_list ap;
    va_start(ap, fmt);
    ml__textbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *text;
    ML_TRY(ml__textbuf_take(&b, &text));
    ml__text_clean(text);
    s->notes[s->n_notes++] = text;
    return ML_OK;
}

static char *dup_or_null(const char *s, bool *failed) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

ml_status ml__source_add_checkpoint(ml_run_source *s, const ml_run_checkpoint *c,
                                    const char *name) {
    ML_TRY(grow((void **)&s->ckpts, &s->cap_ckpts, s->n_ckpts, sizeof *s->ckpts));
    size_t cap_names = s->cap_ckpts;
    char **names = realloc(s->ckpt_names, cap_names * sizeof *names);
    if (!names) return ML_NOMEM();
    s->ckpt_names = names;
    bool failed = false;
    ml_run_checkpoint row = *c;
    row.dir = dup_or_null(c->dir, &failed);
    row.weights = dup_or_null(c->weights, &failed);
    row.adapter_config = dup_or_null(c->adapter_config, &failed);
    char *nm = dup_or_null(name, &failed);
    if (failed) {
        free((char *)row.dir);
        free((char *)row.weights);
        free((char *)row.adapter_config);
        free(nm);
        return ML_NOMEM();
    }
    s->ckpts[s->n_ckpts] = row;
    s->ckpt_names[s->n_ckpts++] = nm;
    return ML_OK;
}

void ml__source_sort_checkpoints(ml_run_source *s) {
    /* insertion sort on step: a few hundred checkpoints at most, names move with rows */
    for (size_t i = 1; i < s->n_ckpts; i++) {
        ml_run_checkpoint c = s->ckpts[i];
        char *nm = s->ckpt_names[i];
        size_t j = i;
        while (j > 0 && s->ckpts[j - 1].step > c.step) {
            s->ckpts[j] = s->ckpts[j - 1];
            s->ckpt_names[j] = s->ckpt_names[j - 1];
            j--;
        }
        s->ckpts[j] = c;
        s->ckpt_names[j] = nm;
    }
}

const char *ml__source_checkpoint_name(const ml_run_source *s, size_t i) {
    return i < s->n_ckpts ? s->ckpt_names[i] : NULL;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- microlens run folders --------------------------------------------------------------------- */

static ml_status run_meta(ml_run_source *s, const ml_run_row *row) {
    json_error_t err;
    json_t *config = json_loads(row->config_json, 0, &err);
    if (!config) config = json_string(row->config_json); /* kept as text, not lost */
    json_t *seed = row->seed <= (uint64_t)INT64_MAX ? json_integer((json_int_t)row->seed)
                                                    : json_null();
    if (row->seed > (uint64_t)INT64_MAX) {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)row->seed);
        json_decref(seed);
        seed = json_string(buf);
    }
    s->meta = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "kind", "microlens",
                        "path", s->path, "id", row->id, "status", ml_run_status_name(row->status),
                        "seed", seed, "code_version", row->code_version, "dataset_sha256",
                        row->dataset_sha256 ? json_string(row->dataset_sha256) : json_null(),
                        "started_at", ml__json_number(row->started_at), "ended_at",
                        ml__json_number(row->ended_at), "config", config);
    if (!s->meta) return ML_NOMEM();
    if (!(s->status = strdup(ml_run_status_name(row->status)))) return ML_NOMEM();
    return ML_OK;
}

static ml_status read_metrics(ml_run_source *s, ml_runstore *rs) {
    const char *const *names;
    size_t n;
    ML_TRY(ml_runstore_metric_names(rs, &names, &n));
    /* names stay lent until the next metric_names call: series reads do not invalidate them */
    for (size_t i = 0; i < n; i++) {
        ml_series ser;
        ML_TRY(ml_runstore_series(rs, names[i], 0, ML_RUNSTORE_LAST_STEP, &ser));
        ML_TRY(metric_set_put_series(&s->metrics, names[i], &ser));
    }
    return ml__metric_set_finish(&s->metrics);
}

static ml_status read_checkpoints(ml_run_source *s, ml_runstore *rs) {
    const ml_checkpoint_row *rows;
    size_t n;
    ML_TRY(ml_runstore_checkpoints(rs, &rows, &n));
    for (size_t i = 0; i < n; i++) {
        ml_run_checkpoint c = {rows[i].step, NULL, NULL, NULL, false, rows[i].is_best,
                               !isnan(rows[i].deleted_at)};
        char *dir = ml__path_join(s->path, rows[i].path), *weights = NULL, *config = NULL;
        if (!dir) return ML_NOMEM();
        ml_status st = ML_OK;
        struct stat sb;
        if (!c.deleted && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            st = ml__find_weights(dir, &weights, &config, &c.is_adapter);
            if (st == ML_OK) st = ml__note_pickles(s, dir, rows[i].path);
        } else if (!c.deleted) {
            st = ml__source_note(s, "%s: listed in run.sqlite but its folder is missing",
                                 rows[i].path);
        }
        c.dir = dir;
        c.weights = weights;
        c.adapter_config = config;
        if (st == ML_OK) st = ml__source_add_checkpoint(s, &c, rows[i].path);
        free(dir);
        free(weights);
        free(config);
        ML_TRY(st);
    }
    return ML_OK;
}

static ml_status read_events(ml_run_source *s, ml_runstore *rs) {
    const ml_event_row *rows;
    size_t n;
    ML_TRY(ml_runstore_events(rs, &rows, &n));
    if (n == 0) return ML_OK;
    if (!(s->events = calloc(n, sizeof *s->events))) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) {
        s->events[i] = rows[i];
        if (!(s->events[i].text = strdup(rows[i].text))) return ML_NOMEM();
        s->n_events = i + 1;
    }
    return ML_OK;
}

static ml_status open_microlens(ml_run_source *s) {
    ml_runstore *rs = NULL;
    ML_TRY(ml_runstore_open(&rs, s->path, ML_RUNSTORE_READONLY, NULL));
    /* one read transaction: a writer still training does not mix two states in one report */
    ml_status st = ml_runstore_snapshot_begin(rs);
    const ml_run_row *row;
    if (st == ML_OK) st = ml_runstore_run(rs, &row);
    if (st == ML_OK) st = run_meta(s, row);
    if (st == ML_OK) st = read_metrics(s, rs);
    if (st == ML_OK) st = read_checkpoints(s, rs);
    if (st == ML_OK) st = read_events(s, rs);
    if (st == ML_OK) st = ml_runstore_snapshot_end(rs);
    ml_error saved = *ml_error_last();
    ml_runstore_close(rs); /* read-only: nothing to flush */
    if (st != ML_OK) return ml__fail(st, saved.file, saved.line, "%s", saved.message);
    return ML_OK;
}

/* ---- Public API -------------------------------------------------------------------------------- */

static ml_status finish_open(ml_run_source *s) {
    if (!(s->names = malloc((s->metrics.n ? s->metrics.n : 1) * sizeof *s->names)))
        return ML_NOMEM();
    for (size_t i = 0; i < s->metrics.n; i++) s->names[i] = s->metrics.m[i].name;
    if (s->metrics.n_duplicates)
        ML_TRY(ml__source_note(s, "%zu repeated (metric, step) points: the first of each was "
                               "kept", s->metrics.n_duplicates));
    ml__source_sort_checkpoints(s);
    return ML_OK;
}

ml_status ml_run_source_open(ml_run_source **out, const char *path) {
    if (!out || !path || !*path) return ML_FAIL(ML_EINVAL, "run source: no path given");
    ml_run_source *s = calloc(1, sizeof *s);
    if (!s) return ML_NOMEM();
    ml_status st = (s->path = strdup(path)) ? ML_OK : ML_NOMEM();
    char *store = st == ML_OK ? ml__path_join(path, "run.sqlite") : NULL;
    if (st == ML_OK && !store) st = ML_NOMEM();
    if (st == ML_OK) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            st = ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot open (%s)", path,
                         strerror(errno));
        else if (!S_ISDIR(sb.st_mode))
            st = ML_FAIL(ML_ENOTFOUND, "%s: not a folder (expected a microlens run folder or a "
                         "Hugging Face Trainer output folder)", path);
    }
    if (st == ML_OK && ml__is_file(store)) {
        s->kind = ML_RUN_SOURCE_MICROLENS;
        st = open_microlens(s);
    } else if (st == ML_OK) {
        s->kind = ML_RUN_SOURCE_HF_TRAINER;
        st = ml__hf_open(s);
    }
    free(store);
    if (st == ML_OK) st = finish_open(s);
    if (st != ML_OK) {
        ml_run_source_free(s);
        return st;
    }
    *out = s;
    return ML_OK;
}

void ml_run_source_free(ml_run_source *s) {
    if (!s) return;
    ml__metric_set_free(&s->metrics);
    free(s->names);
    for (size_t i = 0; i < s->n_ckpts; i++) {
        free((char *)s->ckpts[i].dir);
        free((char *)s->ckpts[i].weights);
        free((char *)s->ckpts[i].adapter_config);
        free(s->ckpt_names[i]);
    }
    free(s->ckpts);
    free(s->ckpt_names);
    for (size_t i = 0; i < s->n_events; i++) free((char *)s->events[i].text);
    free(s->events);
    for (size_t i = 0; i < s->n_notes; i++) free(s->notes[i]);
    free(s->notes);
    json_decref(s->meta);
    free(s->status);
    free(s->path);
    free(s);
}

ml_run_source_kind ml_run_source_get_kind(const ml_run_source *s) { return s->kind; }

const char *ml_run_source_path(const ml_run_source *s) { return s->path; }

void ml_run_source_metric_names(const ml_run_source *s, const char *const **names, size_t *n) {
    *names = s->names;
    *n = s->metrics.n;
}

ml_status ml_run_source_series(const ml_run_source *s, const char *name, int64_t first_step,
                               int64_t last_step, ml_series *out) {
    if (!s || !name || !out) return ML_FAIL(ML_EINVAL, "run source series: NULL argument");
    const char **hit = s->metrics.n
        ? bsearch(&name, s->names, s->metrics.n, sizeof *s->names, cmp_name) : NULL;
    if (!hit)
        return ML_FAIL(ML_ENOTFOUND, "%s: no metric named \"%.200s\"", s->path, name);
    const ml__metric *m = &s->metrics.m[hit - s->names];
    ml_series all = {m->n, m->steps, m->values, m->wall_times};
    *out = ml__series_window(&all, first_step, last_step);
    return ML_OK;
}

void ml_run_source_checkpoints(const ml_run_source *s, const ml_run_checkpoint **rows,
                               size_t *n) {
    *rows = s->ckpts;
    *n = s->n_ckpts;
}

void ml_run_source_events(const ml_run_source *s, const ml_event_row **rows, size_t *n) {
    *rows = s->events;
    *n = s->n_events;
}

void ml_run_source_notes(const ml_run_source *s, const char *const **notes, size_t *n) {
    *notes = (const char *const *)s->notes;
    *n = s->n_notes;
}

ml_status ml_run_source_meta_json(const ml_run_source *s, char **json) {
    if (!s || !json) return ML_FAIL(ML_EINVAL, "run source meta: NULL argument");
    char *text = json_dumps(s->meta, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    if (!text) return ML_NOMEM();
    /* jansson's buffer comes from its allocator (malloc by default); ml_free frees it */
    *json = text;
    return ML_OK;
}
