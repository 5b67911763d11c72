/* embed.c - turns a table's samples into sets of OTU vectors, runs them through the set
 * transformer in ragged batches and writes the embeddings; it does not load models or vectors
 * and sets no thread count (OpenBLAS's is process-wide: the caller's choice). */
#include "microlens/embed.h"

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

/* Everything one run allocates up front; the per-batch loop only fills it. */
typedef struct run {
    ml_settransformer *m;
    const ml_table *t;
    const float **vec_of;  /* (n_features) vector of each feature, NULL when none */
    size_t d_in, max_otus, max_sets, max_tokens;
    float *x;              /* (max_tokens, d_in) */
    size_t *offsets;       /* (max_sets + 1) */
    size_t *sample_of;     /* (max_sets) table row of each set */
    cand *cands;           /* (largest row) */
    size_t n_sets;
} run;

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
static ml_status map_features(run *r, const ml_otuvec *v, ml_embed_summary *s) {
    size_t nf = ml_table_n_features(r->t), ns = ml_table_n_samples(r->t);
    unsigned char *present = calloc(nf ? nf : 1, 1);
    r->vec_of = calloc(nf ? nf : 1, sizeof *r->vec_of);
    if (!present || !r->vec_of) {
        free(present);
        return ML_NOMEM();
    }
    size_t widest = 1;
    for (size_t i = 0; i < ns; i++) {
        const uint32_t *f;
        const double *x;
        size_t n;
        ml_table_row(r->t, i, &f, &x, &n);
        for (size_t k = 0; k < n; k++) present[f[k]] = 1;
        if (n > widest) widest = n;
    }
    for (size_t j = 0; j < nf; j++) {
        r->vec_of[j] = ml_otuvec_find(v, ml_table_feature_id(r->t, j));
        s->n_otus_present += present[j];
        s->n_otus_missing += present[j] && !r->vec_of[j];
    }
    free(present);
    r->cands = malloc(widest * sizeof *r->cands);
    return r->cands ? ML_OK : ML_NOMEM();
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

/* Sample i's set into r->cands (feature order); returns its size. *cut set if truncated. */
static size_t sample_set(run *r, size_t i, int *cut) {
    const uint32_t *f;
    const double *x;
    size_t n, k = 0;
    ml_table_row(r->t, i, &f, &x, &n);
    for (size_t j = 0; j < n; j++)
        if (x[j] > 0.0 && r->vec_of[f[j]]) r->cands[k++] = (cand){x[j], f[j]};
    *cut = k > r->max_otus;
    if (*cut) {
        qsort(r->cands, k, sizeof *r->cands, by_abundance);
        k = r->max_otus;
        qsort(r->cands, k, sizeof *r->cands, by_feature);
    }
    return k;
}

static ml_status flush(run *r, ml_embeddings *e) {
    if (r->n_sets == 0) return ML_OK;
    ml_set_batch b = {r->n_sets, r->offsets, r->x};
    ML_TRY(ml_settransformer_forward(r->m, &b));
    const float *emb = ml_settransformer_embeddings(r->m);
    for (size_t s = 0; s < r->n_sets; s++) {
        memcpy(e->rows + r->sample_of[s] * e->dim, emb + s * e->dim, e->dim * sizeof(float));
        e->has[r->sample_of[s]] = 1;
    }
    r->n_sets = 0;
    return ML_OK;
}

static ml_status embed_all(run *r, ml_embeddings *e, const ml_embed_options *o) {
    ml_embed_summary *s = &e->summary;
    r->offsets[0] = 0;
    for (size_t i = 0; i < e->n_samples; i++) {
        int cut;
        size_t k = sample_set(r, i, &cut);
        s->n_truncated += (size_t)cut;
        if (k == 0) {
            s->n_without_vectors++;
            continue;
        }
        if (r->offsets[r->n_sets] + k > r->max_tokens) ML_TRY(flush(r, e));
        size_t row = r->offsets[r->n_sets];
        for (size_t j = 0; j < k; j++)
            memcpy(r->x + (row + j) * r->d_in, r->vec_of[r->cands[j].feature],
                   r->d_in * sizeof(float));
        r->sample_of[r->n_sets] = i;
        r->offsets[++r->n_sets] = row + k;
        s->n_tokens += k;
        s->n_embedded++;
        if (r->n_sets == r->max_sets) ML_TRY(flush(r, e));
        if (o->progress) o->progress(o->progress_ctx, i + 1, e->n_samples);
    }
    ML_TRY(flush(r, e));
    if (o->progress) o->progress(o->progress_ctx, e->n_samples, e->n_samples);
    return ML_OK;
}

ml_status ml_embed(ml_embeddings **out, ml_settransformer *m, const ml_table *t,
                   const ml_otuvec *v, const ml_embed_options *o) {
    const ml_settransformer_config *c = ml_settransformer_get_config(m);
    ML_TRY(check_options(c, ml_otuvec_dim(v), o));
    run r = {m, t, NULL, c->d_in, o->max_otus, 0, c->max_tokens, NULL, NULL, NULL, NULL, 0};
    r.max_sets = o->batch < c->max_sets ? o->batch : c->max_sets;
    ml_status st = ML_OK;
    ml_embeddings *e = calloc(1, sizeof *e);
    if (!e) return ML_NOMEM();
    e->n_samples = ml_table_n_samples(t);
    e->dim = c->d_model;
    e->summary.n_samples = e->n_samples;
    e->summary.dim = e->dim;
    size_t ns = e->n_samples ? e->n_samples : 1;
    e->rows = calloc(ns, e->dim * sizeof(float));
    e->has = calloc(ns, 1);
    r.x = malloc(r.max_tokens * r.d_in * sizeof(float));
    r.offsets = malloc((r.max_sets + 1) * sizeof *r.offsets);
    r.sample_of = malloc(r.max_sets * sizeof *r.sample_of);
    if (!e->rows || !e->has || !r.x || !r.offsets || !r.sample_of) {
        st = ML_NOMEM();
        goto done;
    }
    if ((st = map_features(&r, v, &e->summary)) != ML_OK) goto done;
    if ((st = embed_all(&r, e, o)) != ML_OK) goto done;
    *out = e;
    e = NULL;
done:
    ml_embeddings_free(e);
    free(r.vec_of);
    free(r.cands);
    free(r.x);
    free(r.offsets);
    free(r.sample_of);
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
