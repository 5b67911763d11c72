/* request.h - POST /v1/predict bodies checked into samples (request.c), and the JSON error
 * bodies of requests that cannot be scored. Internal to src/serve/; schema: docs/serve-model.md. */
#ifndef ML_SERVE_REQUEST_H
#define ML_SERVE_REQUEST_H

#include <stddef.h>

#include "microlens/serve.h"

/* A sample ID longer than this is refused: IDs are accession-like strings, far shorter. */
#define ML__SERVE_ID_MAX_BYTES 256
/* Largest body parsed: 4096 samples of ~2,000 features at ~8 bytes each; the HTTP server
 * normally caps bodies lower. Larger gets 413 before any parsing. */
#define ML__SERVE_MAX_BODY_BYTES ((size_t)64 << 20)
/* Room for a reason: the path, a feature ID cut to ML__SERVE_KEY_SHOWN bytes and the text. */
#define ML__SERVE_REASON_BYTES 512
#define ML__SERVE_KEY_SHOWN 64

/* One abundance (feature ID -> count) or one listed OTU (value 0). */
typedef struct ml__serve_entry {
    const char *key;  /* decoded UTF-8, NUL-terminated (never contains NUL); in the request */
    size_t key_len;
    double value;     /* finite, >= 0 */
    size_t key_off;   /* where key sits in the request's text, while parsing */
} ml__serve_entry;

typedef struct ml__serve_sample {
    const char *id;   /* the raw ID, decoded: hash it, never copy it out of the request */
    size_t id_len;    /* 1 .. ML__SERVE_ID_MAX_BYTES */
    size_t id_off;
    size_t first, n;  /* its entries: entries[first .. first + n), keys distinct */
    int is_otus;      /* 1: an OTU list ("otus"); 0: abundances */
    double total;     /* sum of the abundances, finite (0 for OTU lists) */
} ml__serve_sample;

/* A parsed body. Its buffers are kept between parses, so a worker that reuses one request
 * does not allocate once its sizes are reached. */
typedef struct ml__serve_request {
    ml__serve_sample *samples;
    size_t n_samples, samples_cap;
    ml__serve_entry *entries;  /* non-NULL after a parse that returned 200 */
    size_t n_entries, entries_cap;
    char *text;                /* decoded strings, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *slots;             /* hash table finding repeated keys in one object */
    size_t slots_cap;
} ml__serve_request;

#define ML__SERVE_REQUEST_INIT {NULL, 0, 0, NULL, 0, 0, NULL, 0, 0, NULL, 0}

/* ^Parses and checks len bytes at body as JSON (RFC 8259: UTF-8, no duplicate keys, no
 * \u0000) of the schema {"samples":[...]} with 1..max_samples samples, or one sample object
 * on its own; each sample {"id": string, "abundances": {ID: count >= 0}} or {"id": string,
 * "otus": [ID, ...]}. The schema fixes the nesting (4 levels), so no input recurses deeper.
 * A body that breaks the schema is not a failure of this function: it returns ML_OK with
 * *http_status 400 (413 for more samples than max_samples or a body over
 * ML__SERVE_MAX_BODY_BYTES) and reason set (NUL-terminated, at most reason_capacity bytes,
 * naming the field path, e.g. "samples[3].abundances.OTU_7: expected a non-negative number",
 * or the line and column of a syntax error); req is then empty (n_samples 0). Reasons carry
 * no body bytes except feature IDs (printable ASCII, others as '?', cut to
 * ML__SERVE_KEY_SHOWN bytes): never a sample ID or a member name. On *http_status 200 req
 * holds n_samples >= 1 samples. Numbers are read with the C library's strtod (correctly
 * rounded), as jansson reads them with JSON_DECODE_INT_AS_REAL. ^ML_ENOMEM (req empty). */
ml_status ml__serve_request_parse(ml__serve_request *req, const char *body, size_t len,
                                  size_t max_samples, int *http_status, char *reason,
                                  size_t reason_capacity);
/* ^Frees buffers larger than keep_bytes each (a worker that parsed a huge body does not keep
 * it); the request stays usable. */
void ml__serve_request_trim(ml__serve_request *req, size_t keep_bytes);
void ml__serve_request_free(ml__serve_request *req); /* frees and re-inits; NULL: no-op */

/* ^Sets out's status, and its body to {"error":{"status":S,"reason":R}}. ML_ENOMEM (out's
 * body then NULL). */
ml_status ml__serve_error_body(ml_serve_outcome *out, int status, const char *reason);

#endif
