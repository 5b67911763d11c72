/* preprocess.h - preprocess.json, what a train checkpoint's model expects as input: the MLP's
 * feature list in model input order with the CLR and scaler fitted on the training split, or
 * the set transformer's OTU vectors (by fingerprint) and set size, and the classes. The
 * trainer writes it into every checkpoint folder (so the MANIFEST covers it); whoever applies
 * the weights to new data (serve) reads it back. Format: docs/training.md, "Preprocessing". */
#ifndef ML_TRAIN_PREPROCESS_H
#define ML_TRAIN_PREPROCESS_H

#include <jansson.h>
#include <stddef.h>

#include "microlens/labels.h"
#include "microlens/otuvec.h"
#include "microlens/train.h"
#include "microlens/transform.h"

#define ML__PREPROCESS_NAME "preprocess.json"
#define ML__PREPROCESS_FORMAT "microlens-preprocess"
#define ML__PREPROCESS_FORMAT_VERSION 1
/* "sha256:" + 64 hex digits + NUL */
#define ML__OTUVEC_FINGERPRINT_SIZE 72

/* ---- Writing (the trainer) ---------------------------------------------------------------- */

/* The document without the MLP's transform: format, model, classes and positive class (from
 * j), and for the set transformer the OTU vectors' fingerprint, count, dim and max_otus.
 * *out untouched on failure; the caller json_decref()s it. */
ml_status ml__preprocess_new(json_t **out, const ml_train_options *o, const ml_join *j);
/* Adds the MLP's input: features (tf's outputs in order), transform settings and, when to
 * scales, the fitted scaler. */
ml_status ml__preprocess_set_transform(json_t *doc, const ml_transform *tf,
                                       const ml_transform_options *to);

/* "sha256:" + hex of SHA-256 over every vector in bytewise ID order: per OTU the ID's length
 * (8 bytes, little-endian), its bytes, then dim floats (IEEE 754 binary32, little-endian).
 * Independent of file format and order, so HDF5 and safetensors copies of the same vectors
 * agree. ML_ENOMEM. */
ml_status ml__otuvec_fingerprint(const ml_otuvec *v, char out[ML__OTUVEC_FINGERPRINT_SIZE]);

/* ---- Reading (serve) ---------------------------------------------------------------------- */

typedef struct ml__preprocess {
    json_t *doc;              /* owns every string below */
    ml_train_model model;
    size_t n_classes;
    const char **classes;     /* (n_classes), in the model's output order */
    const char *positive;     /* the positive class (the last one), or NULL when none named */
    ml_transform *tf;         /* MLP: features in input order, CLR and scaler as fitted */
    const char *otuvec_sha256; /* set transformer: the vectors it was trained with */
    const char *base_sha256;  /* LoRA runs: "sha256:..." of the base weights file the adapters
                               * were trained over; NULL when not a LoRA run (or recorded
                               * before this field existed) */
    size_t otuvec_count, otuvec_dim, max_otus;
} ml__preprocess;

/* Parses len bytes of preprocess.json (name stands for the file in messages). ML_EFORMAT
 * "NAME: field: what (expected)"; ML_EUNSUPPORTED for a newer format_version. *out untouched
 * on failure; free with ml__preprocess_free. */
ml_status ml__preprocess_parse(ml__preprocess *out, const char *text, size_t len,
                               const char *name);
void ml__preprocess_free(ml__preprocess *p); /* NULL or zeroed: no-op */

#endif
