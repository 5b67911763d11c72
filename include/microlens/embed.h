/* embed.h - sample embeddings: each sample of a table becomes the set of its OTUs' vectors,
 * which a set transformer maps to one d_model vector. It loads nothing itself: the caller
 * brings the table, the OTU vectors and the model. */
#ifndef MICROLENS_EMBED_H
#define MICROLENS_EMBED_H

#include <stddef.h>

#include "microlens/error.h"
#include "microlens/nn.h"
#include "microlens/otuvec.h"
#include "microlens/pseudonym.h"
#include "microlens/table.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_EMBED_OPTIONS_VERSION 1

typedef struct ml_embed_options {
    int version;     /* ML_EMBED_OPTIONS_VERSION */
    size_t max_otus; /* Most OTUs in one sample's set: a sample with more keeps its max_otus
                      * most abundant (ties: lower feature index first). Must not exceed the
                      * model's max_set_tokens. Default 1024 */
    size_t batch;    /* Most samples per forward pass (also bounded by the model's max_sets
                      * and max_tokens). Default 64 */
    void (*progress)(void *ctx, size_t done, size_t total); /* samples done; NULL: none. With
                      * threads > 1 it is called from the worker threads, one call at a time */
    void *progress_ctx;
    size_t threads;  /* Worker threads, each with its own activations (ml_settransformer_new_
                      * shared) running whole batches; the calling thread is one of them. The
                      * output does not depend on it. Each worker calls OpenBLAS: set OpenBLAS
                      * to one thread (openblas_set_num_threads(1)) to avoid oversubscription.
                      * 0 or 1: the calling thread only. Default 1 */
} ml_embed_options;

#define ML_EMBED_OPTIONS_INIT {ML_EMBED_OPTIONS_VERSION, 1024, 64, NULL, NULL, 1}

/* The embeddings of one table: a row per sample that had at least one OTU with a vector. */
typedef struct ml_embeddings ml_embeddings;

/* What ml_embed found, for reporting: nothing is dropped without being counted here. */
typedef struct ml_embed_summary {
    size_t n_samples;          /* rows of the table */
    size_t n_embedded;         /* samples with an embedding */
    size_t n_without_vectors;  /* samples none of whose OTUs has a vector: no embedding */
    size_t n_truncated;        /* samples with more than max_otus OTUs (cut to the top ones) */
    size_t n_otus_present;     /* distinct OTUs present (> 0) in at least one sample */
    size_t n_otus_missing;     /* of those, how many have no vector */
    size_t n_tokens;           /* OTU rows fed to the model, all samples together */
    size_t dim;                /* d_model */
} ml_embed_summary;

/* ^Embeds every sample of t. A sample's set is the OTUs with a value > 0 in it whose ID has a
 * vector in v (exact match), in feature order, cut to max_otus as described above; its
 * embedding is the model's mean over the set of the final hidden states. Samples whose set is
 * empty get no embedding and are counted in the summary. The model's d_in must equal
 * ml_otuvec_dim(v).
 * m's activations are used (and overwritten); with threads > 1 the other workers share m's
 * weights through ml_settransformer_new_shared. Embeddings are bit for bit the same for any
 * batch and threads.
 * ^ML_EFORMAT when the vector length differs from the model's d_in; ML_EINVAL for bad options
 * (version, max_otus or batch 0, max_otus over the model's max_set_tokens); ML_ENOMEM.
 * *out untouched on failure; free with ml_embeddings_free. */
ml_status ml_embed(ml_embeddings **out, ml_settransformer *m, const ml_table *t,
                   const ml_otuvec *v, const ml_embed_options *o);

void ml_embeddings_free(ml_embeddings *e); /* NULL: no-op */

/* ^Counts of the run that made e. */
void ml_embeddings_summary(const ml_embeddings *e, ml_embed_summary *s);
/* ^Sample i's d_model floats (borrowed from e), or NULL when it has none or i is out of
 * range. */
const float *ml_embeddings_row(const ml_embeddings *e, size_t sample);

/* ^Writes a TSV atomically: the header "sample\te0\t...\te{d-1}", then one line per embedded
 * sample in table order, its pseudonym (keyed by k) then the values with %.9g (float
 * round-trip). t must be the table e was made from. ^ML_EINVAL if t has another sample count;
 * ML_EIO if path cannot be written (any previous file is untouched then). */
ml_status ml_embeddings_write_tsv(const ml_embeddings *e, const ml_table *t,
                                  const ml_pseudonym_key *k, const char *path);

#ifdef __cplusplus
}
#endif
#endif
