/* runstore.h - the run store: one SQLite database per training run (RUN_DIR/run.sqlite) with
 * the run's config, metrics, events and checkpoint rows; it computes no metric itself.
 * Tables, units and invariants: docs/run-store.md.
 *
 * Threads: a handle is not thread-safe; use one handle per thread. One process writes a run at
 * a time (a writer holds a lock on RUN_DIR/run.lock); any number of readers may read while it
 * writes, each seeing committed transactions only.
 * Privacy: the store takes metric names, numbers and event text. Callers must never pass a raw
 * sample identifier in any of them (use pseudonyms, or better, no per-sample text at all). */
#ifndef MICROLENS_RUNSTORE_H
#define MICROLENS_RUNSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this library writes (PRAGMA user_version). Newer stores are refused. */
#define ML_RUNSTORE_SCHEMA_VERSION 1
/* Longest metric name, in bytes: per-tensor names such as
 * "grad_norm/encoder.layers.11.self_attn.in_proj_weight" are ~50; 200 leaves room for PEFT's
 * long module paths while keeping a typo'd megabyte string out of every index page. */
#define ML_RUNSTORE_MAX_NAME_BYTES 200
/* Longest event text, in bytes: a few lines of prose; logs of sizes beyond belong in files. */
#define ML_RUNSTORE_MAX_EVENT_BYTES 4096
/* Pass as last_step to read a series to its end. */
#define ML_RUNSTORE_LAST_STEP INT64_MAX

typedef struct ml_runstore ml_runstore;

typedef enum ml_runstore_mode {
    ML_RUNSTORE_CREATE = 0, /* new run: RUN_DIR is made if missing; refused if a store exists */
    ML_RUNSTORE_APPEND,     /* existing run, for writing (resume); migrates an older schema */
    ML_RUNSTORE_READONLY    /* existing run, for analysis; never writes the database */
} ml_runstore_mode;

/* Stored as text ('running', 'completed', 'failed', 'interrupted'); numbers are stable. */
typedef enum ml_run_status {
    ML_RUN_RUNNING = 0,
    ML_RUN_COMPLETED,
    ML_RUN_FAILED,
    ML_RUN_INTERRUPTED
} ml_run_status;

/* Stored as text ('debug', 'info', 'warning', 'error'); numbers are stable. */
typedef enum ml_event_level {
    ML_EVENT_DEBUG = 0,
    ML_EVENT_INFO,
    ML_EVENT_WARNING,
    ML_EVENT_ERROR
} ml_event_level;

/* ^Stable lower-case names of the enums above; "unknown" outside them. */
const char *ml_run_status_name(ml_run_status s);
const char *ml_event_level_name(ml_event_level l);

/* What a new run records once, at creation. Strings are borrowed for the call. */
typedef struct ml_run_info {
    int version;                /* ML_RUN_INFO_VERSION */
    const char *config_json;    /* the resolved configuration, a JSON object; required */
    const char *dataset_sha256; /* dataset fingerprint, 64 lower-case hex digits; NULL: unknown */
    uint64_t seed;              /* the run's seed; default 0 */
    const char *info_json;      /* host-independent facts (thread count, model kind...) as a
                                 * JSON object; never host names, user names or absolute
                                 * paths. NULL: "{}" */
} ml_run_info;
#define ML_RUN_INFO_VERSION 1
#define ML_RUN_INFO_INIT {ML_RUN_INFO_VERSION, NULL, NULL, 0, NULL}

/* ^Opens RUN_DIR/run.sqlite. CREATE makes RUN_DIR (0755) if missing, the schema and the run row
 * (status 'running', a random 32-hex-digit id, this library's version as code_version) in one
 * transaction; info is required for CREATE and ignored otherwise. Writers set WAL mode,
 * synchronous=NORMAL, foreign keys and a busy timeout, and take RUN_DIR/run.lock.
 * ^ML_EINVAL: bad mode/info (field named), CREATE where a store already exists, or the run is
 * locked by another writer. ML_ENOTFOUND: APPEND/READONLY and no run.sqlite. ML_EFORMAT: the file
 * is not a microlens run store. ML_EUNSUPPORTED: its schema version is newer than
 * ML_RUNSTORE_SCHEMA_VERSION (or older, for READONLY, which cannot migrate). ML_EIO: SQLite or
 * the OS refused. On failure *out is untouched and nothing stays open. */
ml_status ml_runstore_open(ml_runstore **out, const char *run_dir, ml_runstore_mode mode,
                           const ml_run_info *info);

/* ^Flushes pending rows (writers), then closes and frees. Returns the flush's status; the
 * handle is freed either way. NULL: ML_OK. */
ml_status ml_runstore_close(ml_runstore *rs);

/* ---- Writing (CREATE / APPEND handles; ML_EINVAL on a READONLY one) ---------------------- */

/* ^Appends (step, name, value, now) to an in-memory buffer: no SQL, no I/O. The buffer is
 * preallocated and grows geometrically; it is written by ml_runstore_flush. value may be any
 * double: NaN is stored as SQL NULL and read back as NaN, infinities are kept. Wall time is
 * CLOCK_REALTIME seconds at this call. If (name, step) was logged before, the first value is
 * kept (a resumed run replays the steps after its checkpoint and gets the same numbers).
 * ^ML_EINVAL: step < 0, or name empty, over ML_RUNSTORE_MAX_NAME_BYTES, not UTF-8 or holding a
 * control character. ML_ENOMEM. On failure the buffer is unchanged. */
ml_status ml_runstore_log_metric(ml_runstore *rs, int64_t step, const char *name, double value);

/* ^Buffers an event like a metric. text: UTF-8, 1..ML_RUNSTORE_MAX_EVENT_BYTES bytes, tabs and
 * newlines allowed, other control characters refused (ML_EINVAL); never a raw sample ID. */
ml_status ml_runstore_log_event(ml_runstore *rs, int64_t step, ml_event_level level,
                                const char *text);

/* ^Writes every buffered metric and event (and new metric names) in ONE transaction, with
 * prepared statements, then empties the buffer. A crash at any moment leaves either all of the
 * batch or none of it. ^ML_EIO (message from SQLite), or ML_EINVAL where a constraint in the
 * database refused a row, with the buffer kept so that a later flush retries; ML_EINVAL inside
 * ml_runstore_snapshot_begin/end. Nothing buffered: ML_OK, no I/O. */
ml_status ml_runstore_flush(ml_runstore *rs);

/* ^Number of metric rows buffered and not yet flushed. */
size_t ml_runstore_pending(const ml_runstore *rs);

/* ^Flushes, then records a checkpoint written at RUN_DIR/rel_path (relative, '/'-separated, no
 * "." or ".." component, no leading '/') whose MANIFEST has SHA-256 manifest_sha256 (64
 * lower-case hex digits). is_best moves the best mark to this checkpoint. A checkpoint row thus
 * implies every metric logged before it is stored. ^ML_EINVAL on a bad path, hash or step, or a
 * step or path already recorded; ML_EIO. */
ml_status ml_runstore_add_checkpoint(ml_runstore *rs, int64_t step, const char *rel_path,
                                     const char *manifest_sha256, bool is_best);

/* ^Sets deleted_at of the checkpoint at step to now (retention removed its files); the row stays.
 * ^ML_ENOTFOUND if no checkpoint has that step; ML_EINVAL if already marked deleted. */
ml_status ml_runstore_mark_checkpoint_deleted(ml_runstore *rs, int64_t step);

/* ^Flushes, then sets the run's status: 'running' clears ended_at, the others set it to now.
 * ^ML_EINVAL for a value outside ml_run_status; ML_EIO. */
ml_status ml_runstore_set_status(ml_runstore *rs, ml_run_status status);

/* ---- Reading (any handle; reads see committed rows, never the unflushed buffer) --------- */

/* ^Holds one read transaction so that the reads until ml_runstore_snapshot_end see a single
 * consistent state even while another process writes. ML_EINVAL if one is already open. */
ml_status ml_runstore_snapshot_begin(ml_runstore *rs);
ml_status ml_runstore_snapshot_end(ml_runstore *rs); /* ML_EINVAL if none is open */

/* ^All metric names, sorted bytewise. The array and strings are lent until the next call of this
 * function or close. ML_EIO. */
ml_status ml_runstore_metric_names(ml_runstore *rs, const char *const **names, size_t *n);

/* ^Number of rows of metric name with first_step <= step <= last_step.
 * ^ML_ENOTFOUND if no metric has that name; ML_EINVAL if first_step > last_step. */
ml_status ml_runstore_series_length(ml_runstore *rs, const char *name, int64_t first_step,
                                    int64_t last_step, size_t *n);

/* ^Reads the rows of metric name in [first_step, last_step], by increasing step, into
 * caller-owned arrays of capacity elements (each of steps, values, wall_times may be NULL).
 * *n receives the number of rows written: at most capacity, the first ones by step.
 * ^Errors as ml_runstore_series_length; on failure *n is untouched. */
ml_status ml_runstore_read_series(ml_runstore *rs, const char *name, int64_t first_step,
                                  int64_t last_step, int64_t *steps, double *values,
                                  double *wall_times, size_t capacity, size_t *n);

/* A series in store-owned arrays. */
typedef struct ml_series {
    size_t n;
    const int64_t *steps;     /* increasing */
    const double *values;     /* NaN where NaN was logged */
    const double *wall_times; /* seconds since the Unix epoch */
} ml_series;

/* ^As ml_runstore_read_series, all rows, into arrays lent until the next call of this function
 * or close. On failure *out is untouched and a series lent before is no longer valid. */
ml_status ml_runstore_series(ml_runstore *rs, const char *name, int64_t first_step,
                             int64_t last_step, ml_series *out);

typedef struct ml_run_row {
    const char *id;             /* 32 hex digits */
    const char *config_json;
    const char *dataset_sha256; /* NULL when unknown */
    const char *code_version;   /* microlens version that created the run */
    uint64_t seed;
    const char *info_json;
    ml_run_status status;
    double started_at; /* seconds since the Unix epoch */
    double ended_at;   /* NaN while running */
} ml_run_row;

/* ^The run row, lent until the next call of this function or close. ML_EFORMAT if the store has
 * no (or a malformed) run row. */
ml_status ml_runstore_run(ml_runstore *rs, const ml_run_row **out);

typedef struct ml_checkpoint_row {
    int64_t step;
    const char *path;          /* relative to RUN_DIR */
    char manifest_sha256[65];  /* lower-case hex, NUL-terminated */
    bool is_best;
    double created_at;         /* seconds since the Unix epoch */
    double deleted_at;         /* NaN while its files exist */
} ml_checkpoint_row;

/* ^Every checkpoint row, by increasing step, lent until the next call of this function or
 * close. */
ml_status ml_runstore_checkpoints(ml_runstore *rs, const ml_checkpoint_row **rows, size_t *n);

typedef struct ml_event_row {
    int64_t step;
    double wall_time;
    ml_event_level level;
    const char *text;
} ml_event_row;

/* ^Every event in the order logged, lent until the next call of this function or close. */
ml_status ml_runstore_events(ml_runstore *rs, const ml_event_row **rows, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
