/* otuvec.h - OTU vectors: a map from OTU ID to a fixed-length float vector (the set
 * transformer's input rows), read from safetensors or the upstream HDF5 layout. */
#ifndef MICROLENS_OTUVEC_H
#define MICROLENS_OTUVEC_H

#include <stddef.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ml_otuvec ml_otuvec;

/* Longest vector accepted: far beyond any embedding model (ProkBERT's is 384). */
#define ML_OTUVEC_MAX_DIM ((size_t)1 << 20)

/* ^Reads every vector at path into memory (the file is closed on return). The format is
 * told by the first bytes: HDF5 (the upstream layout: one 1-D float dataset per OTU at
 * /embeddings/<OTU_ID>, hard links only) or safetensors (one [D] tensor per OTU ID, as
 * `microlens synth` writes otu_vectors.safetensors; F32, F16, BF16 or F64). All vectors must
 * have the same length D (1 .. ML_OTUVEC_MAX_DIM) and finite values; there must be at least
 * one. IDs are kept exactly as stored (';' and other bytes included).
 * ^ML_EFORMAT "PATH: /embeddings/ID: what (expected)" or "PATH: tensor ID: ..." for a
 * broken rule (a length differing from the first vector's, a non-float dtype, a non-finite
 * value, a dataset of rank other than 1, a missing /embeddings group, no vectors), and the
 * safetensors reader's errors for a bad safetensors file; ML_ENOTFOUND if path does not exist,
 * ML_EIO if it cannot be read, ML_ENOMEM. *out untouched on failure; free with
 * ml_otuvec_free. libhdf5's own error printing is silenced during the call. */
ml_status ml_otuvec_read(ml_otuvec **out, const char *path);

/* ^As ml_otuvec_read for len bytes at buf (borrowed for the call; nothing is kept), with
 * name (NULL: "<buffer>") for the file in messages. HDF5 is read from the image in memory
 * after a check of its superblock: an image cut short is ML_EFORMAT "NAME: truncated or
 * corrupt HDF5 (...)". ML_EINVAL if buf is NULL and len is not 0. *out untouched on
 * failure. */
ml_status ml_otuvec_parse(ml_otuvec **out, const void *buf, size_t len, const char *name);

void ml_otuvec_free(ml_otuvec *v); /* NULL: no-op */

size_t ml_otuvec_count(const ml_otuvec *v); /* ^number of OTUs */
size_t ml_otuvec_dim(const ml_otuvec *v);   /* ^D, the length of every vector */
/* ^"safetensors" or "hdf5". */
const char *ml_otuvec_format_name(const ml_otuvec *v);

/* ^The vector of otu_id (exact byte match, hash lookup): D floats borrowed from v, or NULL
 * when v has none. */
const float *ml_otuvec_find(const ml_otuvec *v, const char *otu_id);
/* ^ID and vector of entry i (i < count), in file order (safetensors: data offset; HDF5: name
 * order); NULL when i is out of range. Borrowed from v. */
const char *ml_otuvec_id(const ml_otuvec *v, size_t i);
const float *ml_otuvec_vector(const ml_otuvec *v, size_t i);

#ifdef __cplusplus
}
#endif
#endif
