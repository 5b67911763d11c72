/* serve.h - serving predictions: a loaded, verified model that turns a request body into a
 * response body (no sockets), and the HTTPS server around it (tokens, limits, access log).
 * Protocol, limits and log format: docs/serve.md. */
#ifndef MICROLENS_SERVE_H
#define MICROLENS_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "microlens/manifest.h"
#include "microlens/pseudonym.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The model (src/serve/model.c, src/serve/request.c) ------------------------------------ */

/* Most samples in one request: bounds the work one request can ask for. */
#define ML_SERVE_MAX_SAMPLES 4096

typedef struct ml_serve_model ml_serve_model;

#define ML_SERVE_MODEL_OPTIONS_VERSION 1
typedef struct ml_serve_model_options {
    int version;                   /* ML_SERVE_MODEL_OPTIONS_VERSION */
    ml_verify_options verify;      /* MANIFEST (and signature) checks before anything loads */
    const char *otu_vectors;       /* set-transformer checkpoints: OTU vectors (HDF5 or
                                    * safetensors); NULL otherwise */
    const ml_pseudonym_key *id_key; /* key for the pseudonyms echoed in responses and logs;
                                     * borrowed, must outlive the model. Required */
    size_t max_samples;            /* per request; default ML_SERVE_MAX_SAMPLES */
    const char *base_weights;      /* LoRA checkpoints (adapter_model.safetensors): the base
                                    * weights file they were trained over (train --init). Its
                                    * name must equal adapter_config.json's
                                    * base_model_name_or_path and a MANIFEST beside it must list
                                    * it (ml_weights_verify with verify; signed when a signature
                                    * is required). NULL otherwise (given for another folder:
                                    * ML_EINVAL) */
} ml_serve_model_options;
#define ML_SERVE_MODEL_OPTIONS_INIT                                                           \
    {ML_SERVE_MODEL_OPTIONS_VERSION, ML_VERIFY_OPTIONS_INIT, NULL, NULL, ML_SERVE_MAX_SAMPLES, \
     NULL}

/* ^Loads a model folder: an evaluate bundle (card.json + model.safetensors) or a train
 * checkpoint (checkpoints/step-N with MANIFEST: MLP with its feature list and CLR settings, or
 * set transformer with classifier head, full or LoRA adapter over its recorded base). The
 * folder's MANIFEST is verified first (required for checkpoints; for a bundle when present),
 * and with verify.require_signature its signature too: nothing is parsed before that.
 * ^ML_EINTEGRITY for a manifest or signature that does not verify; ML_ENOTFOUND;
 * ML_EFORMAT naming the file and field; ML_EUNSUPPORTED for a model kind this server cannot
 * run (the message says which). *out untouched on failure. The model is immutable once loaded
 * and may be used by any number of threads at once; it is reference-counted (starts at 1). */
ml_status ml_serve_model_load(ml_serve_model **out, const char *path,
                              const ml_serve_model_options *o);
/* ^Reference counting (atomic): retain for each in-flight request, release when done; the last
 * release frees. NULL: no-op. */
ml_serve_model *ml_serve_model_retain(ml_serve_model *m);
void ml_serve_model_release(ml_serve_model *m);

/* ^"sha256:" + 64 hex digits identifying the loaded files (the MANIFEST's SHA-256; for an
 * unmanifested bundle the SHA-256 of card.json then model.safetensors). Borrowed. */
const char *ml_serve_model_sha256(const ml_serve_model *m);

/* ^GET /v1/model's body: kind, name (folder name, never an absolute path), n_features,
 * n_classes, classes, positive class, sizes in bytes, sha256, signature ("verified",
 * "unsigned"), training metrics from the card or trainer_state (cv summary, last val_loss /
 * val AUC). Caller frees with ml_free. */
ml_status ml_serve_model_info_json(const ml_serve_model *m, char **json);

/* What one predict call produced: the HTTP status and body to send, and what the access log
 * may record. Owned by the caller; release with ml_serve_outcome_clear. */
typedef struct ml_serve_outcome {
    int http_status;           /* 200, or 400 (malformed: reason in body), 413 (too many
                                * samples), 422 (well-formed but unusable, e.g. no feature
                                * known) */
    char *body;                /* JSON: {"predictions":[...],"model":{"sha256":...},
                                * "unknown_features":N} or {"error":{"status":N,"reason":...}} */
    size_t body_len;
    size_t n_samples;
    size_t n_unknown_features; /* feature IDs of the request the model does not know, summed */
    char **pseudonyms;         /* (n_samples) "s_..." of the request's sample IDs, for the
                                * access log; NULL when the body did not parse */
} ml_serve_outcome;

/* ^POST /v1/predict: parses body (JSON, len bytes, need not be NUL-terminated), scores every
 * sample and writes the outcome. A malformed body is not an error of this function: it returns
 * ML_OK with a 400 outcome whose reason names the field (e.g. "samples[3].abundances: expected
 * an object of OTU ID -> count"). Raw sample IDs never appear in the body or the pseudonyms.
 * ^ML_ENOMEM (then *out is cleared). */
ml_status ml_serve_predict(const ml_serve_model *m, const char *body, size_t len,
                           ml_serve_outcome *out);
void ml_serve_outcome_clear(ml_serve_outcome *out); /* frees and zeroes; NULL: no-op */

/* ---- The server (src/serve/server.c, handler.c, watchdog.c, tokens.c, ratelimit.c,
 * accesslog.c) ------------------------------------------------------------------------------ */

/* ^Bearer tokens: "mlt_" + 43 base64url characters (32 random bytes) + NUL. */
#define ML_TOKEN_SIZE 48
/* ^A tokens-file line "name:role:<64 hex>" + NUL fits in this many bytes. */
#define ML_TOKEN_LINE_SIZE 160
/* Token names: 1 to 64 characters of [A-Za-z0-9._-]; they appear in the access log. */
#define ML_TOKEN_NAME_MAX 64

typedef enum ml_token_role {
    ML_TOKEN_ROLE_PREDICT = 1, /* POST /v1/predict */
    ML_TOKEN_ROLE_ADMIN = 2    /* also GET /v1/model and POST /v1/reload */
} ml_token_role;

/* ^"predict", "admin"; "unknown" outside the enum. */
const char *ml_token_role_name(ml_token_role r);
/* ^Parses "predict" or "admin". ML_EINVAL otherwise. */
ml_status ml_token_role_parse(const char *s, ml_token_role *out);

/* ^Makes a fresh token (32 bytes from the OpenSSL CSPRNG, base64url, "mlt_" prefix) and the
 * tokens-file line that admits it ("name:role:" + SHA-256 hex of the token). ML_EINVAL for a
 * name outside [A-Za-z0-9._-]{1,64} (the message does not repeat it); ML_EIO if the random
 * generator fails. Both outputs untouched on failure. */
ml_status ml_token_new(const char *name, ml_token_role role, char token[ML_TOKEN_SIZE],
                       char line[ML_TOKEN_LINE_SIZE]);

typedef struct ml_tokens ml_tokens;

/* ^Loads a tokens file: one "name:role:sha256hex" line per client; blank lines and lines
 * starting with '#' are skipped; names and hashes unique. The file must be a regular file
 * owned by the user with mode 0600 or stricter (opened with O_NOFOLLOW).
 * ^ML_EPERM naming the file and its mode (or owner) otherwise; ML_ENOTFOUND if absent;
 * ML_EFORMAT naming "FILE:LINE" and the field for a bad line, never echoing the line;
 * ML_EINVAL if the file holds no token. *out untouched on failure. */
ml_status ml_tokens_load(ml_tokens **out, const char *path);
/* ^Adds a line from ml_token_new to the tokens file at path, creating it (mode 0600) if
 * absent; the file is rewritten atomically and keeps mode 0600. ML_EFORMAT for a malformed
 * line, or a name or hash the file already has (the file is then unchanged); the file's own
 * checks as in ml_tokens_load (ML_EPERM for a loose mode). */
ml_status ml_tokens_file_add(const char *path, const char *line);
size_t ml_tokens_count(const ml_tokens *t);
const char *ml_tokens_name(const ml_tokens *t, size_t i); /* borrowed from t */
ml_token_role ml_tokens_role(const ml_tokens *t, size_t i);
/* ^Finds the entry whose hash is SHA-256(token): compares against every entry with
 * CRYPTO_memcmp and no early exit, so the time does not depend on which entry (if any)
 * matches. ^Returns true and sets *index on a match; false for no match, an empty token or
 * one over 256 bytes. */
bool ml_tokens_find(const ml_tokens *t, const char *token, size_t token_len, size_t *index);
void ml_tokens_free(ml_tokens *t); /* NULL: no-op */

/* Defaults of ml_server_options, each a named limit (why in docs/serve.md). */
#define ML_SERVER_LISTEN_DEFAULT "127.0.0.1:8443"
#define ML_SERVER_THREADS_DEFAULT 2u
#define ML_SERVER_MAX_BODY_DEFAULT (4u * 1024u * 1024u)   /* bytes: 4096 samples of ~1 KB */
#define ML_SERVER_MAX_HEADER_DEFAULT (8u * 1024u)         /* bytes: request line + headers */
#define ML_SERVER_IDLE_TIMEOUT_DEFAULT 15u                /* s without a byte from a client */
#define ML_SERVER_REQUEST_TIMEOUT_DEFAULT 10u             /* s to receive one whole request */
#define ML_SERVER_MAX_CONNECTIONS_DEFAULT 512u
#define ML_SERVER_DRAIN_TIMEOUT_DEFAULT 10u               /* s SIGTERM waits for in-flight */

typedef struct ml_server ml_server;

#define ML_SERVER_OPTIONS_VERSION 1
typedef struct ml_server_options {
    int version;                      /* ML_SERVER_OPTIONS_VERSION */
    const char *listen;               /* "HOST:PORT" or "[V6]:PORT", numeric host; port 0
                                       * picks a free one (ml_server_port). Default
                                       * ML_SERVER_LISTEN_DEFAULT */
    const char *tls_cert_path;        /* PEM certificate (chain); required unless plaintext */
    const char *tls_key_path;         /* PEM private key, mode 0600 or stricter; required
                                       * unless plaintext */
    bool insecure_plaintext_loopback; /* no TLS; then listen must be 127.0.0.1 or [::1] */
    const char *tokens_path;          /* required (ml_tokens_load) */
    const char *model_path;           /* required (ml_serve_model_load); /v1/reload reloads it */
    ml_serve_model_options model;     /* verify, id_key (required), ...; pointers inside are
                                       * borrowed and must outlive the server */
    unsigned threads;                 /* worker threads; default ML_SERVER_THREADS_DEFAULT */
    size_t max_body_bytes;            /* larger bodies get 413; 0: default */
    size_t max_header_bytes;          /* larger request heads get 431; 0: default */
    unsigned idle_timeout_s;          /* 0: default */
    unsigned request_timeout_s;       /* whole request (head + body) must arrive within this
                                       * after the connection or the previous response; the
                                       * slowloris cut-off. 0: default */
    unsigned max_connections;         /* beyond it new connections are refused; 0: default */
    unsigned max_connections_per_ip;  /* 0: no per-address cap */
    double rate_per_s;                /* per token name; 0: no rate limit */
    double burst;                     /* bucket size in requests; 0: max(1, rate_per_s) */
    const char *access_log_path;      /* JSON lines, appended, mode 0600; NULL: no log */
    unsigned drain_timeout_s;         /* ml_server_stop waits this long; 0: default */
    /* Diagnostics from the HTTP library (TLS handshake failures, ...): NULL drops them. */
    void (*diag)(void *cls, const char *message);
    void *diag_cls;
} ml_server_options;
#define ML_SERVER_OPTIONS_INIT                                                                \
    {ML_SERVER_OPTIONS_VERSION, NULL, NULL, NULL, false, NULL, NULL,                          \
     ML_SERVE_MODEL_OPTIONS_INIT, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, NULL, 0, NULL, NULL}

/* ^Loads the tokens, the TLS certificate and key, and the model (verified first), opens the
 * access log, then listens and serves on worker threads until ml_server_stop. Nothing listens
 * unless everything loaded.
 * ^ML_EINVAL for missing TLS files without insecure_plaintext_loopback, a plaintext listener
 * on a non-loopback address, or a bad listen address; ML_EPERM for a TLS key or tokens file
 * readable by others; errors of ml_tokens_load and ml_serve_model_load (ML_EINTEGRITY for a
 * checkpoint that does not verify); ML_EIO if the address cannot be bound. *out untouched on
 * failure. The caller should block SIGHUP/SIGTERM/SIGINT before this call if it waits for them
 * with sigwait: the worker threads inherit the signal mask. */
ml_status ml_server_start(ml_server **out, const ml_server_options *o);

/* ^The TCP port listened on (useful with port 0). */
uint16_t ml_server_port(const ml_server *s);
/* ^The current model's sha256 (as ml_serve_model_sha256), copied into dst. */
#define ML_SERVE_SHA256_SIZE 72 /* "sha256:" + 64 hex + NUL */
void ml_server_model_sha256(ml_server *s, char dst[ML_SERVE_SHA256_SIZE]);

/* ^Loads and verifies model_path again and swaps it in; requests already running finish on
 * the old model, which is freed by the last of them. On failure the old model keeps serving
 * and the error is that of ml_serve_model_load. Reloads are serialised. */
ml_status ml_server_reload(ml_server *s);

/* ^Reopens the access log at its path (after logrotate moved it); lines are never split
 * between files. On failure the old file stays in use. No-op without an access log. */
ml_status ml_server_reopen_log(ml_server *s);

typedef struct ml_server_stats {
    uint64_t requests;             /* requests answered or aborted */
    uint64_t responses_4xx, responses_5xx;
    uint64_t rate_limited;         /* 429s, also counted in responses_4xx */
    uint64_t cut_off;              /* connections closed by the request deadline */
    uint64_t log_write_failures;   /* access-log lines that could not be written */
} ml_server_stats;
void ml_server_get_stats(ml_server *s, ml_server_stats *out);

/* ^Graceful stop: refuses new connections, lets requests in flight finish (at most
 * drain_timeout_s), closes every connection, releases the model and frees s. NULL: no-op. */
void ml_server_stop(ml_server *s);

#ifdef __cplusplus
}
#endif
#endif
