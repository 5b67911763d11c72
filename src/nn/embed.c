/* embed.c - turns a table's samples into sets of OTU vectors, runs them through the set
 * transformer in ragged batches (on worker threads that share the model's weights, each with
 * its own activations) and writes the embeddings; it does not load models or vectors and sets
 * no OpenBLAS thread count (that is process-wide: the caller's choice). */
#include "microlens/embed.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/outbuf.h"

struct ml_embeddings {
    size_t n_samples, dim;
    float *rows;       /* (n_samples, dim) */
    unsigned char *has; /* (n_samples) 1 when the sample has an embedding */
    ml_embed_summary summary;
};

/* One candidate OTU of a sample. */
typedef struct cand {
    double value;
    uint32_t feature;
} cand;

/* What the workers share: read-only inputs, and the next sample to take (under lock). */
typedef struct shared {
    const ml_table *t;
    const float **vec_of; /* (n_features) vector of each feature, NULL when none */
    size_t d_in, max_otus, max_sets, max_tokens, widest;
    const ml_embed_options *o;
    ml_embeddings *e;     /* each sample's row is written by the one worker that took it */
    pthread_mutex_t lock; /* guards next, done, failed and progress calls */
    size_t next, done;
    int failed;
} shared;

/* One worker: its model (the caller's, or one sharing its weights) and its buffers, all
 * allocated up front; the per-batch loop only fills them. Counts are summed at the end. */
typedef struct worker {
    shared *sh;
    ml_settransformer *m;
    int owns_model;
    float *x;          /* (max_tokens, d_in) */
    size_t *offsets;   /* (max_sets + 1) */
    size_t *sample_of; /* (max_sets) table row of each set */
    cand *cands;       /* (widest row) */
    size_t n_sets;
    ml_embed_summary counts;
    ml_status st;
    ml_error err;      /* the worker thread's last error, when st != ML_OK */
} worker;

void ml_embeddings_free(ml_embeddings *e) {
    if (!e) return;
    free(e->rows);
    free(e->has);
    free(e);
}

void ml_embeddings_summary(const ml_embeddings *e, ml_embed_summary *s) { *s = e->summary; }

const float *ml_embeddings_row(const ml_embeddings *e, size_t sample) {
    if (sample >= e->n_samples || !e->has[sample]) return NULL;
    return e->rows + sample * e->dim;
}

static ml_status check_options(const ml_settransformer_config *c, size_t dim,
                               const ml_embed_options *o) {
    if (!o || o->version != ML_EMBED_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "embed options: version %d (expected %d; start from "
                       "ML_EMBED_OPTIONS_INIT)", o ? o->version : 0, ML_EMBED_OPTIONS_VERSION);
    if (o->max_otus == 0 || o->batch == 0)
        return ML_FAIL(ML_EINVAL, "embed options: %s is 0 (expected >= 1)",
                       o->max_otus == 0 ? "max_otus" : "batch");
    if (o->max_otus > c->max_set_tokens)
        return ML_FAIL(ML_EINVAL, "embed options: max_otus %zu exceeds the model's "
                       "max_set_tokens %zu (load the model with a larger one)", o->max_otus,
                       c->max_set_tokens);
    if (dim != c->d_in)
        return ML_FAIL(ML_EFORMAT, "OTU vectors have length %zu but the model's "
                       "input_projection_type1 takes %zu (expected vectors from the model's "
                       "embedding)", dim, c->d_in);
    return ML_OK;
}

/* Looks every feature up once; counts the OTUs present somewhere and those lacking vectors. */
static ml_status map_features(shared *sh, const ml_otuvec *v, ml_embed_summary *s) {
    size_t nf = ml_table_n_features(sh->t), ns = ml_table_n_samples(sh->t);
    unsigned char *present = calloc(nf ? nf : 1, 1);
    sh->vec_of = calloc(nf ? nf : 1, sizeof *sh->vec_of);
    if (!present || !sh->vec_of) {
        free(present);
        return ML_NOMEM();
    }
    sh->widest = 1;
    for (size_t i = 0; i < ns; i++) {
        const uint32_t *f;
        const double *x;
        size_t n;
        ml_table_row(sh->t, i, &f, &x, &n);
        for (size_t k = 0; k < n; k++) present[f[k]] = 1;
        if (n > sh->widest) sh->widest = n;
    }
    for (size_t j = 0; j < nf; j++) {
        sh->vec_of[j] = ml_otuvec_find(v, ml_table_feature_id(sh->t, j));
        s->n_otus_present += present[j];
        s->n_otus_missing += present[j] && !sh->vec_of[j];
    }
    free(present);
    return ML_OK;
}

static int by_abundance(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return (x->feature > y->feature) - (x->feature < y->feature);
}

static int by_feature(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return (x->feature > y->feature) - (x->feature < y->feature);
}

/* Sample i's set into w->cands (feature order); returns its size. *cut set if truncated. */
static size_t sample_set(worker *w, size_t i, int *cut) {
    const shared *sh = w->sh;
    const uint32_t *f;
    const double *x;
    size_t n, k = 0;
    ml_table_row(sh->t, i, &f, &x, &n);
    for (size_t j = 0; j < n; j++)
        if (x[j] > 0.0 && sh->vec_of[f[j]]) w->cands[k++] = (cand){x[j], f[j]};
    *cut = k > sh->max_otus;
    if (*cut) {
        qsort(w->cands, k, sizeof *w->cands, by_abundance);
        k = sh->max_otus;
        qsort(w->cands, k, sizeof *w->cands, by_feature);
    }
    return k;
}

/* Adds n settled samples to the shared count and reports progress; returns 0 once any worker
 * has failed, so that the others stop early. */
static int settle(shared *sh, size_t n) {
    pthread_mutex_lock(&sh->lock);
    sh->done += n;
    if (n > 0 && sh->o->progress) sh->o->progress(sh->o->progress_ctx, sh->done, sh->e->n_samples);
    int ok = !sh->failed;
    pthread_mutex_unlock(&sh->lock);
    return ok;
}

static ml_status flush(worker *w) {
    if (w->n_sets == 0) return ML_OK;
    ml_embeddings *e = w->sh->e;
    ml_set_batch b = {w->n_sets, w->offsets, w->x};
    ML_TRY(ml_settransformer_forward(w->m, &b));
    const float *emb = ml_settransformer_embeddings(w->m);
    for (size_t s = 0; s < w->n_sets; s++) {
        memcpy(e->rows + w->sample_of[s] * e->dim, emb + s * e->dim, e->dim * sizeof(float));
        e->has[w->sample_of[s]] = 1;
    }
    w->n_sets = 0;
    return ML_OK;
}

/* Sample i into the worker's batch (or counted as having no vectors); flushes a full batch.
 * *settled: how many samples are finished by this call. */
static ml_status add_sample(worker *w, size_t i, size_t *settled) {
    const shared *sh = w->sh;
    ml_embed_summary *s = &w->counts;
    int cut;
    size_t k = sample_set(w, i, &cut), batched = w->n_sets;
    s->n_truncated += (size_t)cut;
    *settled = 0;
    if (k == 0) {
        s->n_without_vectors++;
        *settled = 1;
        return ML_OK;
    }
    if (w->offsets[w->n_sets] + k > sh->max_tokens) {
        ML_TRY(flush(w));
        *settled = batched;
        batched = 0;
    }
    size_t row = w->offsets[w->n_sets];
    for (size_t j = 0; j < k; j++)
        memcpy(w->x + (row + j) * sh->d_in, sh->vec_of[w->cands[j].feature],
               sh->d_in * sizeof(float));
    w->sample_of[w->n_sets] = i;
    w->offsets[++w->n_sets] = row + k;
    s->n_tokens += k;
    s->n_embedded++;
    if (w->n_sets == sh->max_sets) {
        ML_TRY(flush(w));
        *settled += batched + 1;
    }
    return ML_OK;
}

/* Takes samples one at a time until none is left. A sample's embedding does not depend on
 * which worker or batch it lands in (every kernel works row by row or set by set), so the
 * output is the same for any thread count and batch size. */
static ml_status work(worker *w) {
    shared *sh = w->sh;
    w->offsets[0] = 0;
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        size_t i = sh->next++;
        int stop = sh->failed || i >= sh->e->n_samples;
        pthread_mutex_unlock(&sh->lock);
        if (stop) break;
        size_t settled;
        ML_TRY(add_sample(w, i, &settled));
        if (!settle(sh, settled)) return ML_OK;
    }
    size_t batched = w->n_sets;
    ML_TRY(flush(w));
    settle(sh, batched);
    return ML_OK;
}

static void *work_thread(void *arg) {
    worker *w = arg;
    w->st = work(w);
    if (w->st != ML_OK) {
        w->err = *ml_error_last(); /* thread-local: copied for the caller to raise again */
        pthread_mutex_lock(&w->sh->lock);
        w->sh->failed = 1;
        pthread_mutex_unlock(&w->sh->lock);
    }
    return NULL;
}

static void worker_free(worker *w) {
    if (w->owns_model) ml_settransformer_free(w->m);
    free(w->x);
    free(w->offsets);
    free(w->sample_of);
    free(w->cands);
}

/* Worker k > 0 gets its own model sharing m's weights; worker 0 runs on m itself. */
static ml_status worker_init(worker *w, shared *sh, ml_settransformer *m, size_t k) {
    memset(w, 0, sizeof *w);
    w->sh = sh;
    w->m = m;
    if (k > 0) {
        ML_TRY(ml_settransformer_new_shared(&w->m, m));
        w->owns_model = 1;
    }
    w->x = malloc(sh->max_tokens * sh->d_in * sizeof(float));
    w->offsets = malloc((sh->max_sets + 1) * sizeof *w->offsets);
    w->sample_of = malloc(sh->max_sets * sizeof *w->sample_of);
    w->cands = malloc(sh->widest * sizeof *w->cands);
    if (!w->x || !w->offsets || !w->sample_of || !w->cands) return ML_NOMEM();
    return ML_OK;
}

/* Runs the workers: 0 on the calling thread, the others on threads of their own. A thread
 * that cannot be started leaves its share to the rest. */
static ml_status run_workers(worker *ws, size_t n) {
    pthread_t *tids = calloc(n, sizeof *tids);
    unsigned char *started = calloc(n, 1);
    if (!tids || !started) {
        free(tids);
        free(started);
        return ML_NOMEM();
    }
    for (size_t k = 1; k < n; k++)
        started[k] = pthread_create(&tids[k], NULL, work_thread, &ws[k]) == 0;
    ws[0].st = work(&ws[0]);
    if (ws[0].st != ML_OK) {
        pthread_mutex_lock(&ws[0].sh->lock);
        ws[0].sh->failed = 1;
        pthread_mutex_unlock(&ws[0].sh->lock);
    }
    for (size_t k = 1; k < n; k++)
        if (started[k]) pthread_join(tids[k], NULL);
    free(tids);
    free(started);
    if (ws[0].st != ML_OK) return ws[0].st;
    for (size_t k = 1; k < n; k++)
        if (ws[k].st != ML_OK) return ML_FAIL(ws[k].st, "%s", ws[k].err.message);
    return ML_OK;
}

static void add_counts(ml_embed_summary *s, const ml_embed_summary *c) {
    s->n_without_vectors += c->n_without_vectors;
    s->n_truncated += c->n_truncated;
    s->n_tokens += c->n_tokens;
    s->n_embedded += c->n_embedded;
}

static ml_status embed_all(shared *sh, ml_settransformer *m, size_t n_workers) {
    worker *ws = calloc(n_workers, sizeof *ws);
    if (!ws) return ML_NOMEM();
    size_t n_ready = 0;
    ml_status st = ML_OK;
    for (; n_ready < n_workers; n_ready++) {
        st = worker_init(&ws[n_ready], sh, m, n_ready);
        if (st != ML_OK) {
            n_ready++; /* partly built: freed below */
            goto done;
        }
    }
    if ((st = run_workers(ws, n_workers)) != ML_OK) goto done;
    for (size_t k = 0; k < n_workers; k++) add_counts(&sh->e->summary, &ws[k].counts);
    if (sh->o->progress) sh->o->progress(sh->o->progress_ctx, sh->e->n_samples, sh->e->n_samples);
done:
    for (size_t k = 0; k < n_ready; k++) worker_free(&ws[k]);
    free(ws);
    return st;
}

ml_status ml_embed(ml_embeddings **out, ml_settransformer *m, const ml_table *t,
                   const ml_otuvec *v, const ml_embed_options *o) {
    const ml_settransformer_config *c = ml_settransformer_get_config(m);
    ML_TRY(check_options(c, ml_otuvec_dim(v), o));
    shared sh = {.t = t, .d_in = c->d_in, .max_otus = o->max_otus, .max_tokens = c->max_tokens,
                 .widest = 1, .o = o};
    sh.max_sets = o->batch < c->max_sets ? o->batch : c->max_sets;
    ml_status st = ML_OK;
    ml_embeddings *e = calloc(1, sizeof *e);
    if (!e) return ML_NOMEM();
    if (pthread_mutex_init(&sh.lock, NULL) != 0) {
        free(e);
        return ML_NOMEM();
    }
    sh.e = e;
    e->n_samples = ml_table_n_samples(t);
    e->dim = c->d_model;
    e->summary.n_samples = e->n_samples;
    e->summary.dim = e->dim;
    size_t ns = e->n_samples ? e->n_samples : 1;
    e->rows = calloc(ns, e->dim * sizeof(float));
    e->has = calloc(ns, 1);
    if (!e->rows || !e->has) {
        st = ML_NOMEM();
        goto done;
    }
    if ((st = map_features(&sh, v, &e->summary)) != ML_OK) goto done;
    /* more workers than samples would only allocate */
    size_t n_workers = o->threads > 1 ? o->threads : 1;
    if (n_workers > ns) n_workers = ns;
    if ((st = embed_all(&sh, m, n_workers)) != ML_OK) goto done;
    *out = e;
    e = NULL;
done:
    ml_embeddings_free(e);
    free(sh.vec_of);
    pthread_mutex_destroy(&sh.lock);
    return st;
}

ml_status ml_embeddings_write_tsv(const ml_embeddings *e, const ml_table *t,
                                  const ml_pseudonym_key *k, const char *path) {
    if (ml_table_n_samples(t) != e->n_samples)
        return ML_FAIL(ML_EINVAL, "embeddings of %zu samples written with a table of %zu "
                       "(expected the table they were made from)", e->n_samples,
                       ml_table_n_samples(t));
    ml__outbuf b;
    ML_TRY(ml__outbuf_open(&b, path, 0644));
    ml__outbuf_puts(&b, "sample");
    for (size_t j = 0; j < e->dim; j++) ml__outbuf_printf(&b, "\te%zu", j);
    ml__outbuf_puts(&b, "\n");
    for (size_t i = 0; i < e->n_samples; i++) {
        if (!e->has[i]) continue;
        const char *raw = ml_table_sample_raw_id(t, i);
        char id[ML_PSEUDONYM_SIZE];
        ml_pseudonym_make(k, raw, strlen(raw), id);
        ml__outbuf_puts(&b, id);
        const float *row = e->rows + i * e->dim;
        for (size_t j = 0; j < e->dim; j++) ml__outbuf_printf(&b, "\t%.9g", (double)row[j]);
        ml__outbuf_puts(&b, "\n");
    }
    return ml__outbuf_commit(&b);
}
