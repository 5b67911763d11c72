/* export_internal.h - what the export writers share: the export in progress (source, options,
 * staging folder, selected metrics), paths inside the staging folder, file names made from
 * metric and tensor names, CSV/JSON cell writers, and the run's snapshot files. */
#ifndef ML_REPORT_EXPORT_INTERNAL_H
#define ML_REPORT_EXPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/analyze.h"
#include "microlens/export.h"
#include "util/outbuf.h"

/* Encoded names longer than this many bytes are cut and given a hash suffix: Linux allows
 * 255-byte file names (NAME_MAX); 200 leaves room for ".npy" and temporary-file suffixes. */
#define ML__EXPORT_NAME_MAX 200
/* Hex digits of SHA-256(name) after '~' in a cut name: 64 bits make a collision between two
 * metric names of one run practically impossible. */
#define ML__EXPORT_HASH_HEX 16
/* Room for one encoded name plus suffix and NUL. */
#define ML__EXPORT_NAME_CAP (ML__EXPORT_NAME_MAX + 32)

/* An export in progress. */
typedef struct ml__export {
    const ml_run_source *src;
    const ml_export_options *o;
    char *dir;               /* the staging folder, written into until the final rename */
    const char **metrics;    /* selected metric names, sorted; strings borrowed from src */
    size_t n_metrics;
    ml_export_result res;
} ml__export;

/* One snapshot file of the run. */
typedef struct ml__snapshot {
    int64_t step;
    char *path;
} ml__snapshot;

/* *out = "<staging>/<rel>" (malloc'd; caller frees). ML_ENOMEM. */
ml_status ml__export_path(const ml__export *e, const char *rel, char **out);
/* Creates "<staging>/<rel>" (0755). ML_EIO. */
ml_status ml__export_mkdir(const ml__export *e, const char *rel);
/* Opens "<staging>/<rel>" as a buffered atomic file (0644) and counts it in res.n_files. */
ml_status ml__export_open(ml__export *e, ml__outbuf *b, const char *rel);

/* A file name for a metric or tensor name: bytes outside [A-Za-z0-9._-], and a leading '.',
 * become %XX (upper-case hex), so urllib.parse.unquote gives the name back; an encoding over
 * ML__EXPORT_NAME_MAX bytes is cut (never inside a %XX) and ends "~" + ML__EXPORT_HASH_HEX hex
 * digits of SHA-256(name) ('~' is never produced otherwise). suffix (".npy") is appended.
 * dst holds ML__EXPORT_NAME_CAP bytes. ML_EINVAL for an empty name. */
ml_status ml__export_file_name(char dst[ML__EXPORT_NAME_CAP], const char *name,
                               const char *suffix);

/* RFC 4180 field: quoted (with "" for ") when it holds , " CR or LF; as is otherwise. */
ml_status ml__csv_field(ml__outbuf *b, const char *s);
/* A JSON string literal with escapes (jansson's encoder). */
ml_status ml__json_string(ml__outbuf *b, const char *s);
/* The shortest of %.15g, %.16g, %.17g that reads back as v (so 0.1 prints "0.1"); NaN and
 * infinities as nan_text / "inf" / "-inf" (CSV) or as nan_text for all three (JSON null). */
ml_status ml__number(ml__outbuf *b, double v, const char *nan_text, int json);

/* The checkpoint folder relative to the source's path (its last component when it is not
 * under it), so that exports carry no absolute path. Borrowed from c->dir. */
const char *ml__export_rel_dir(const ml_run_source *s, const ml_run_checkpoint *c);

/* RUN_DIR/snapshots/step-<digits>.safetensors of a microlens run, by increasing step; other
 * names (temporary files) are skipped. A run without the folder has none (n 0, *out NULL).
 * ML_EIO if the folder cannot be read; ML_ENOMEM. */
ml_status ml__export_snapshots(const ml_run_source *s, ml__snapshot **out, size_t *n);
void ml__export_snapshots_free(ml__snapshot *snaps, size_t n);

/* The writers: each fills e->dir and e->res; ML_* on failure (the caller removes e->dir). */
ml_status ml__export_text(ml__export *e);        /* csv and jsonl: export_text.c */
ml_status ml__export_npy(ml__export *e);         /* export_npy.c */
ml_status ml__export_tensorboard(ml__export *e); /* export_tb.c */

#endif
