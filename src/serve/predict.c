/* predict.c - POST /v1/predict: a checked request (request.c) scored by the loaded model with
 * the models' own forward code, in chunks, on a worker taken from the model's pool (buffers
 * and activations made once, reused by later requests), and written as the response body.
 * Raw sample IDs are hashed into pseudonyms here and go nowhere else. It parses no JSON and
 * loads nothing (model.c). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/bundle.h"
#include "serve/model.h"
#include "serve/request.h"
#include "util/error.h"

/* Idle workers kept for reuse; a burst beyond this many concurrent requests makes workers that
 * are freed afterwards, so memory stays bounded by the usual concurrency. */
#define POOL_IDLE_MAX 32
/* First size of a worker's response buffer; it grows by doubling and is kept. */
#define BODY_INITIAL_BYTES 4096
/* A worker keeps buffers up to this size for the next request; larger ones (a huge body) are
 * freed after use, so idle workers hold little memory. */
#define WORKER_KEEP_BYTES ((size_t)4 << 20)

/* ---- A growing response buffer --------------------------------------------------------------- */

typedef struct textbuf {
    char *p;
    size_t len, cap;
} textbuf;

static int put(textbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : BODY_INITIAL_BYTES;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 1;
}

static int puts_(textbuf *b, const char *s) { return put(b, s, strlen(s)); }

/* A double as JSON: 17 significant digits (exact round trip), null if not finite. */
static int put_number(textbuf *b, double x) {
    char num[40];
    int n = isfinite(x) ? snprintf(num, sizeof num, "%.17g", x) : snprintf(num, sizeof num, "null");
    return n > 0 && put(b, num, (size_t)n);
}

/* ---- Workers -------------------------------------------------------------------------------- */

/* One OTU of a set being built: its abundance, vector and position in the request. */
typedef struct candidate {
    double value;
    const float *vec;
    size_t order;
} candidate;

typedef struct worker {
    struct worker *next;
    double *x;        /* (CHUNK, n_inputs) bundle and MLP inputs, transformed in place */
    double *totals;   /* (CHUNK) */
    double *score;    /* (CHUNK) bundle scores */
    double *probs;    /* (CHUNK, n_classes) */
    float *xf;        /* MLP (CHUNK, n_inputs); set transformer (SET_CHUNK * max_otus, d_in) */
    size_t *offsets;  /* (SET_CHUNK + 1) */
    candidate *cands; /* grows to the largest sample seen */
    size_t cands_cap;
    ml_mlp *mlp;
    ml_settransformer *st;
    ml__serve_request req;
    textbuf body;
} worker;

struct ml__serve_pool {
    pthread_mutex_t mu;
    worker *idle;
    size_t n_idle;
};

static void worker_free(worker *w) {
    if (!w) return;
    free(w->x);
    free(w->totals);
    free(w->score);
    free(w->probs);
    free(w->xf);
    free(w->offsets);
    free(w->cands);
    ml_mlp_free(w->mlp);
    ml_settransformer_free(w->st);
    ml__serve_request_free(&w->req);
    free(w->body.p);
    free(w);
}

/* A copy of the model's MLP: ml_mlp keeps activations, so each worker needs its own. */
static ml_status copy_mlp(ml_mlp **out, ml_mlp *src) {
    ML_TRY(ml_mlp_new(out, ml_mlp_get_config(src)));
    for (size_t i = 0; i < ml_mlp_n_tensors(src); i++) {
        ml_nn_tensor a, b;
        ML_TRY(ml_mlp_tensor(src, i, &a));
        ML_TRY(ml_mlp_tensor(*out, i, &b));
        memcpy(b.data, a.data, a.numel * sizeof *a.data);
    }
    return ML_OK;
}

static ml_status worker_new(worker **out, const ml_serve_model *m) {
    worker *w = calloc(1, sizeof *w);
    if (!w) return ML_NOMEM();
    w->req = (ml__serve_request)ML__SERVE_REQUEST_INIT;
    size_t d = m->n_inputs, c = m->n_classes, rows = ML__SERVE_CHUNK;
    ml_status st = ML_OK;
    if (m->kind == ML__SERVE_SETTRANSFORMER) {
        rows = ML__SERVE_SET_CHUNK;
        w->xf = malloc(rows * m->max_otus * d * sizeof *w->xf);
        w->offsets = malloc((rows + 1) * sizeof *w->offsets);
        if (w->xf && w->offsets) st = ml_settransformer_new_shared(&w->st, m->st);
    } else {
        w->x = malloc(rows * d * sizeof *w->x);
        w->totals = malloc(rows * sizeof *w->totals);
        w->score = malloc(rows * sizeof *w->score);
        if (m->kind == ML__SERVE_MLP && (w->xf = malloc(rows * d * sizeof *w->xf)))
            st = copy_mlp(&w->mlp, m->mlp);
    }
    w->probs = malloc(rows * c * sizeof *w->probs);
    int ok = w->probs && (m->kind == ML__SERVE_SETTRANSFORMER ? w->xf && w->offsets
                          : w->x && w->totals && w->score && (m->kind != ML__SERVE_MLP || w->xf));
    if (st == ML_OK && !ok) st = ML_NOMEM();
    if (st != ML_OK) {
        worker_free(w);
        return st;
    }
    *out = w;
    return ML_OK;
}

ml_status ml__serve_pool_new(ml_serve_model *m) {
    ml__serve_pool *p = calloc(1, sizeof *p);
    if (!p) return ML_NOMEM();
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return ML_FAIL(ML_ENOMEM, "cannot create the worker pool's mutex");
    }
    m->pool = p;
    ML_TRY(worker_new(&p->idle, m));
    p->n_idle = 1;
    return ML_OK;
}

void ml__serve_pool_free(ml__serve_pool *p) {
    if (!p) return;
    while (p->idle) {
        worker *w = p->idle;
        p->idle = w->next;
        worker_free(w);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static ml_status acquire(const ml_serve_model *m, worker **out) {
    ml__serve_pool *p = m->pool;
    pthread_mutex_lock(&p->mu);
    worker *w = p->idle;
    if (w) {
        p->idle = w->next;
        p->n_idle--;
    }
    pthread_mutex_unlock(&p->mu);
    if (!w) ML_TRY(worker_new(&w, m));
    w->next = NULL;
    w->body.len = 0;
    *out = w;
    return ML_OK;
}

static void release(const ml_serve_model *m, worker *w) {
    ml__serve_pool *p = m->pool;
    ml__serve_request_trim(&w->req, WORKER_KEEP_BYTES);
    if (w->body.cap > WORKER_KEEP_BYTES) {
        free(w->body.p);
        w->body = (textbuf){NULL, 0, 0};
    }
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < POOL_IDLE_MAX) {
        w->next = p->idle;
        p->idle = w;
        p->n_idle++;
        w = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    worker_free(w);
}

/* ---- Scoring -------------------------------------------------------------------------------- */

typedef struct scoring {
    const ml_serve_model *m;
    const ml__serve_request *req;
    worker *w;
    size_t n_unknown;
    int status;                          /* 200, or 422 with reason */
    char reason[ML__SERVE_REASON_BYTES];
} scoring;

static void unusable(scoring *sc, const char *fmt, ...) ML_PRINTF(2, 3);
static void unusable(scoring *sc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sc->reason, sizeof sc->reason, fmt, ap);
    va_end(ap);
    sc->status = 422;
}

/* Row r of the inputs from sample i's abundances, by feature ID; unknown IDs counted. */
static void fill_row(scoring *sc, size_t i, size_t r) {
    const ml__serve_sample *s = &sc->req->samples[i];
    const ml_serve_model *m = sc->m;
    double *row = sc->w->x + r * m->n_inputs;
    if (s->is_otus) {
        unusable(sc, "samples[%zu].otus: this model needs abundances (OTU ID -> count); OTU "
                 "lists are for set-transformer models", i);
        return;
    }
    memset(row, 0, m->n_inputs * sizeof *row);
    size_t known = 0, col;
    const ml__serve_entry *e = sc->req->entries + s->first;
    for (size_t k = 0; k < s->n; k++) {
        if (ml__strmap_get(&m->index, e[k].key, e[k].key_len, &col)) {
            row[col] = e[k].value;
            known++;
        } else {
            sc->n_unknown++;
        }
    }
    sc->w->totals[r] = s->total;
    if (known == 0)
        unusable(sc, "samples[%zu]: none of its %zu features is known to the model", i, s->n);
}

static int by_value_then_order(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    if (a->value != b->value) return a->value < b->value ? 1 : -1; /* most abundant first */
    return (a->order > b->order) - (a->order < b->order);
}

static int by_order(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    return (a->order > b->order) - (a->order < b->order);
}

/* Sample i's candidates: OTUs with a vector (and, with abundances, a count > 0). */
static size_t gather_candidates(scoring *sc, const ml__serve_sample *s) {
    const ml_otuvec *vecs = sc->m->vectors;
    const ml__serve_entry *e = sc->req->entries + s->first;
    candidate *c = sc->w->cands;
    size_t n = 0;
    for (size_t k = 0; k < s->n; k++) {
        const float *vec = ml_otuvec_find(vecs, e[k].key);
        if (!vec) sc->n_unknown++;
        else if (s->is_otus || e[k].value > 0) c[n++] = (candidate){e[k].value, vec, k};
    }
    return n;
}

/* Set r of the batch from sample i, as train builds sets: the max_otus most abundant OTUs
 * (ties: first in the request) in request order; an OTU list keeps its first max_otus. */
static ml_status fill_set(scoring *sc, size_t i, size_t r) {
    const ml__serve_sample *s = &sc->req->samples[i];
    worker *w = sc->w;
    size_t need = s->n;
    if (need > w->cands_cap) {
        candidate *c = realloc(w->cands, need * sizeof *c);
        if (!c) return ML_NOMEM();
        w->cands = c;
        w->cands_cap = need;
    }
    size_t n = gather_candidates(sc, s), max = sc->m->max_otus, d = sc->m->n_inputs;
    if (n > max) {
        if (!s->is_otus) {
            qsort(w->cands, n, sizeof *w->cands, by_value_then_order);
            qsort(w->cands, max, sizeof *w->cands, by_order);
        }
        n = max;
    }
    if (n == 0) {
        unusable(sc, "samples[%zu]: none of its %zu OTUs has an OTU vector%s", i, need,
                 s->is_otus ? "" : " and a count > 0");
        return ML_OK;
    }
    size_t tok = w->offsets[r];
    for (size_t e = 0; e < n; e++, tok++)
        memcpy(w->xf + tok * d, w->cands[e].vec, d * sizeof *w->xf);
    w->offsets[r + 1] = tok;
    return ML_OK;
}

/* Softmax of one row of logits in double, as train's validation computes it. */
static void softmax_row(const float *z, size_t c, double *p) {
    double mx = z[0], s = 0.0;
    for (size_t k = 1; k < c; k++)
        if (z[k] > mx) mx = z[k];
    for (size_t k = 0; k < c; k++) s += exp((double)z[k] - mx);
    double lse = mx + log(s);
    for (size_t k = 0; k < c; k++) p[k] = exp((double)z[k] - lse);
}

/* Scores rows [0, n) of the chunk starting at sample i0 into w->probs or w->score. */
static ml_status run_chunk(scoring *sc, size_t i0, size_t n) {
    const ml_serve_model *m = sc->m;
    worker *w = sc->w;
    if (m->kind == ML__SERVE_SETTRANSFORMER) {
        w->offsets[0] = 0;
        for (size_t r = 0; r < n && sc->status == 200; r++) ML_TRY(fill_set(sc, i0 + r, r));
    } else {
        for (size_t r = 0; r < n && sc->status == 200; r++) fill_row(sc, i0 + r, r);
    }
    if (sc->status != 200) return ML_OK;
    const float *logits;
    if (m->kind == ML__SERVE_BUNDLE)
        return ml__model_bundle_score_dense(m->bundle, w->x, w->totals, n, w->score);
    if (m->kind == ML__SERVE_MLP) {
        ML_TRY(ml_transform_apply_dense(m->pp.tf, w->x, w->totals, n, w->x));
        for (size_t k = 0; k < n * m->n_inputs; k++) w->xf[k] = (float)w->x[k];
        ML_TRY(ml_mlp_forward(w->mlp, w->xf, n));
        logits = ml_mlp_logits(w->mlp);
    } else {
        ml_set_batch b = {n, w->offsets, w->xf};
        ML_TRY(ml_settransformer_forward(w->st, &b));
        logits = ml_settransformer_class_logits(w->st);
    }
    for (size_t r = 0; r < n; r++)
        softmax_row(logits + r * m->n_classes, m->n_classes, w->probs + r * m->n_classes);
    return ML_OK;
}

/* The label: above the threshold for two classes (a tie is negative, as scikit-learn's
 * predict), else the most probable class (the first of equals). */
static size_t label_of(const ml_serve_model *m, const double *p, double score) {
    if (m->kind == ML__SERVE_BUNDLE) return score > m->threshold ? 1 : 0;
    if (m->n_classes == 2) return p[1] > 0.5 ? 1 : 0;
    size_t best = 0;
    for (size_t k = 1; k < m->n_classes; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

static int put_prediction(textbuf *b, const ml_serve_model *m, const char *pseudonym,
                          const double *p, double score, int first) {
    int ok = puts_(b, first ? "{\"id\":\"" : ",{\"id\":\"") && puts_(b, pseudonym);
    if (m->kind == ML__SERVE_BUNDLE)
        ok = ok && puts_(b, m->has_probability ? "\",\"probability\":" : "\",\"score\":") &&
             put_number(b, score);
    else
        ok = ok && puts_(b, "\",\"probability\":") && put_number(b, p[m->n_classes - 1]);
    ok = ok && puts_(b, ",\"label\":") && puts_(b, m->class_json[label_of(m, p, score)]);
    if (ok && m->kind != ML__SERVE_BUNDLE && m->n_classes > 2) {
        ok = puts_(b, ",\"probabilities\":{");
        for (size_t k = 0; ok && k < m->n_classes; k++)
            ok = puts_(b, k ? "," : "") && puts_(b, m->class_json[k]) && puts_(b, ":") &&
                 put_number(b, p[k]);
        ok = ok && puts_(b, "}");
    }
    return ok && puts_(b, "}");
}

static ml_status score_all(scoring *sc, char **pseudonyms) {
    const ml_serve_model *m = sc->m;
    textbuf *b = &sc->w->body;
    size_t n = sc->req->n_samples, chunk =
        m->kind == ML__SERVE_SETTRANSFORMER ? ML__SERVE_SET_CHUNK : ML__SERVE_CHUNK;
    if (!puts_(b, "{\"predictions\":[")) return ML_NOMEM();
    for (size_t i0 = 0; i0 < n && sc->status == 200; i0 += chunk) {
        size_t k = n - i0 < chunk ? n - i0 : chunk;
        ML_TRY(run_chunk(sc, i0, k));
        for (size_t r = 0; r < k && sc->status == 200; r++) {
            const double *p = sc->w->probs + r * m->n_classes;
            double score = m->kind == ML__SERVE_BUNDLE ? sc->w->score[r] : 0.0;
            if (!put_prediction(b, m, pseudonyms[i0 + r], p, score, i0 + r == 0))
                return ML_NOMEM();
        }
    }
    if (sc->status != 200) return ML_OK;
    char tail[160];
    snprintf(tail, sizeof tail, "],\"model\":{\"sha256\":\"%s\"},\"unknown_features\":%zu}",
             m->sha256, sc->n_unknown);
    return puts_(b, tail) ? ML_OK : ML_NOMEM();
}

/* (n) pseudonyms in one block: the pointers, then the strings. */
static char **make_pseudonyms(const ml_serve_model *m, const ml__serve_request *req) {
    size_t n = req->n_samples;
    char **ps = malloc(n * (sizeof *ps + ML_PSEUDONYM_SIZE));
    if (!ps) return NULL;
    char *text = (char *)(ps + n);
    for (size_t i = 0; i < n; i++) {
        ps[i] = text + i * ML_PSEUDONYM_SIZE;
        ml_pseudonym_make(m->key, req->samples[i].id, req->samples[i].id_len, ps[i]);
    }
    return ps;
}

/* Scores a parsed request: pseudonyms, then the predictions or a 422. */
static ml_status score_request(const ml_serve_model *m, worker *w, ml_serve_outcome *out) {
    const ml__serve_request *req = &w->req;
    out->n_samples = req->n_samples;
    if (!(out->pseudonyms = make_pseudonyms(m, req))) return ML_NOMEM();
    scoring sc = {m, req, w, 0, 200, ""};
    ML_TRY(score_all(&sc, out->pseudonyms));
    out->n_unknown_features = sc.n_unknown;
    if (sc.status != 200) return ml__serve_error_body(out, sc.status, sc.reason);
    if (!(out->body = malloc(w->body.len + 1))) return ML_NOMEM();
    memcpy(out->body, w->body.p, w->body.len + 1);
    out->body_len = w->body.len;
    out->http_status = 200;
    return ML_OK;
}

ml_status ml_serve_predict(const ml_serve_model *m, const char *body, size_t len,
                           ml_serve_outcome *out) {
    memset(out, 0, sizeof *out);
    if (!m || (!body && len > 0))
        return ML_FAIL(ML_EINVAL, "ml_serve_predict: model and body are required");
    worker *w = NULL;
    ML_TRY(acquire(m, &w));
    int status;
    char reason[ML__SERVE_REASON_BYTES];
    ml_status st = ml__serve_request_parse(&w->req, body ? body : "", len, m->max_samples,
                                           &status, reason, sizeof reason);
    if (st == ML_OK && status != 200) st = ml__serve_error_body(out, status, reason);
    else if (st == ML_OK) st = score_request(m, w, out);
    release(m, w);
    if (st != ML_OK) ml_serve_outcome_clear(out);
    return st;
}

void ml_serve_outcome_clear(ml_serve_outcome *out) {
    if (!out) return;
    free(out->body);
    free(out->pseudonyms);
    memset(out, 0, sizeof *out);
}
