/* export_npy.c - the npy export: metrics/<name>.npy per metric series (records of step,
 * value, wall_time), snapshots/step-NNNNNNN/<tensor>.npy per snapshot tensor in its own dtype,
 * and index.csv mapping every name to its file. Tensor bytes are copied from the mapped
 * safetensors file; only BF16, which numpy lacks, is widened to float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "report/export_internal.h"
#include "report/npy.h"
#include "util/error.h"

/* One record per row; numpy reads it as a structured array: a['step'], a['value'], ... */
#define SERIES_DESCR "[('step', '<i8'), ('value', '<f8'), ('wall_time', '<f8')]"
#define SERIES_RECORD_BYTES 24
/* BF16 elements widened per write: 64 KiB of float32 at a time. */
#define WIDEN_CHUNK 16384

static void put_le(uint8_t *dst, uint64_t v, int n_bytes) {
    for (int i = 0; i < n_bytes; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t double_bits(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

/* numpy's type string for a safetensors dtype; BF16 is written as float32. */
static const char *descr_of(ml_dtype d) {
    switch (d) {
    case ML_DTYPE_F64: return "'<f8'";
    case ML_DTYPE_F32: return "'<f4'";
    case ML_DTYPE_F16: return "'<f2'";
    case ML_DTYPE_BF16: return "'<f4'";
    case ML_DTYPE_I64: return "'<i8'";
    case ML_DTYPE_I32: return "'<i4'";
    case ML_DTYPE_I16: return "'<i2'";
    case ML_DTYPE_I8: return "'|i1'";
    case ML_DTYPE_U8: return "'|u1'";
    case ML_DTYPE_BOOL: return "'|b1'";
    case ML_DTYPE_U16: return "'<u2'";
    case ML_DTYPE_U32: return "'<u4'";
    case ML_DTYPE_U64: return "'<u8'";
    }
    return NULL;
}

static ml_status index_row(ml__outbuf *idx, const char *kind, const char *name, int64_t step,
                           const char *file) {
    ml__outbuf_printf(idx, "%s,", kind);
    ml__csv_field(idx, name);
    if (step >= 0) ml__outbuf_printf(idx, ",%lld,", (long long)step);
    else ml__outbuf_puts(idx, ",,");
    ml__outbuf_puts(idx, file);
    return ml__outbuf_puts(idx, "\n");
}

/* Opens "<staging>/<rel>" as an .npy file and counts it. */
static ml_status open_npy(ml__export *e, ml__outbuf *b, const char *rel, const char *descr,
                          const size_t *shape, size_t n_dims) {
    char *path = NULL;
    ML_TRY(ml__export_path(e, rel, &path));
    ml_status st = ml__npy_open(b, path, descr, shape, n_dims);
    free(path);
    if (st == ML_OK) e->res.n_files++;
    return st;
}

static ml_status write_series(ml__export *e, ml__outbuf *idx, const char *name) {
    ml_series s;
    char file[ML__EXPORT_NAME_CAP], rel[ML__EXPORT_NAME_CAP + 16];
    ML_TRY(ml_run_source_series(e->src, name, 0, ML_RUNSTORE_LAST_STEP, &s));
    ML_TRY(ml__export_file_name(file, name, ".npy"));
    snprintf(rel, sizeof rel, "metrics/%s", file);
    ml__outbuf b;
    size_t shape = s.n;
    ML_TRY(open_npy(e, &b, rel, SERIES_DESCR, &shape, 1));
    for (size_t i = 0; i < s.n; i++) {
        uint8_t rec[SERIES_RECORD_BYTES];
        put_le(rec, (uint64_t)s.steps[i], 8);
        put_le(rec + 8, double_bits(s.values[i]), 8);
        put_le(rec + 16, double_bits(s.wall_times[i]), 8);
        if (ml__outbuf_write(&b, rec, sizeof rec) != ML_OK) break;
    }
    ML_TRY(ml__outbuf_commit(&b));
    e->res.n_points += s.n;
    return index_row(idx, "metric", name, -1, rel);
}

/* BF16 -> float32, little-endian, in chunks. */
static ml_status write_widened(ml__outbuf *b, const ml_tensor_view *t) {
    size_t n = ml_tensor_view_n_elements(t);
    float *f = malloc((n ? n : 1) * sizeof *f);
    uint8_t *le = malloc(WIDEN_CHUNK * 4);
    ml_status st = (!f || !le) ? ML_NOMEM() : ml_safetensors_read_f32(t, f);
    for (size_t i = 0; st == ML_OK && i < n; i += WIDEN_CHUNK) {
        size_t m = n - i < WIDEN_CHUNK ? n - i : WIDEN_CHUNK;
        for (size_t k = 0; k < m; k++) {
            uint32_t bits;
            memcpy(&bits, &f[i + k], sizeof bits);
            put_le(le + 4 * k, bits, 4);
        }
        st = ml__outbuf_write(b, le, 4 * m);
    }
    free(f);
    free(le);
    return st;
}

/* dir_rel: "snapshots/step-NNNNNNN" (under 48 bytes). */
static ml_status write_tensor(ml__export *e, ml__outbuf *idx, int64_t step, const char dir_rel[48],
                              const ml_tensor_view *t) {
    const char *descr = descr_of(t->dtype);
    if (!descr) return ML_FAIL(ML_EUNSUPPORTED, "export: tensor \"%s\" has dtype %s", t->name,
                               ml_dtype_name(t->dtype));
    char file[ML__EXPORT_NAME_CAP], rel[ML__EXPORT_NAME_CAP + 64];
    ML_TRY(ml__export_file_name(file, t->name, ".npy"));
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, file);
    ml__outbuf b;
    ML_TRY(open_npy(e, &b, rel, descr, t->shape, t->n_dims));
    ml_status st = t->dtype == ML_DTYPE_BF16 ? write_widened(&b, t)
                   : ml_tensor_view_n_bytes(t) ? ml__outbuf_write(&b, t->data,
                                                                  ml_tensor_view_n_bytes(t))
                                               : ML_OK;
    if (st != ML_OK) {
        ml__outbuf_abort(&b);
        return st;
    }
    ML_TRY(ml__outbuf_commit(&b));
    e->res.n_tensors++;
    return index_row(idx, "snapshot", t->name, step, rel);
}

static ml_status write_snapshot(ml__export *e, ml__outbuf *idx, const ml__snapshot *snap) {
    char dir_rel[48];
    snprintf(dir_rel, sizeof dir_rel, "snapshots/step-%07lld", (long long)snap->step);
    ML_TRY(ml__export_mkdir(e, dir_rel));
    ml_safetensors *st = NULL;
    ML_TRY(ml_safetensors_open(&st, snap->path));
    ml_status s = ML_OK;
    for (size_t i = 0; s == ML_OK && i < ml_safetensors_n_tensors(st); i++)
        s = write_tensor(e, idx, snap->step, dir_rel, ml_safetensors_tensor(st, i));
    ml_safetensors_close(st);
    e->res.n_snapshots++;
    return s;
}

static ml_status write_all(ml__export *e, ml__outbuf *idx) {
    ML_TRY(ml__export_mkdir(e, "metrics"));
    for (size_t m = 0; m < e->n_metrics; m++) ML_TRY(write_series(e, idx, e->metrics[m]));
    e->res.n_metrics = e->n_metrics;
    if (!e->o->snapshots) return ML_OK;
    ml__snapshot *snaps = NULL;
    size_t n = 0;
    ML_TRY(ml__export_snapshots(e->src, &snaps, &n));
    ml_status st = n ? ml__export_mkdir(e, "snapshots") : ML_OK;
    for (size_t i = 0; st == ML_OK && i < n; i++) st = write_snapshot(e, idx, &snaps[i]);
    ml__export_snapshots_free(snaps, n);
    return st;
}

ml_status ml__export_npy(ml__export *e) {
    ml__outbuf idx;
    ML_TRY(ml__export_open(e, &idx, "index.csv"));
    ml__outbuf_puts(&idx, "kind,name,step,file\n");
    ml_status st = write_all(e, &idx);
    if (st != ML_OK) {
        ml__outbuf_abort(&idx);
        return st;
    }
    return ml__outbuf_commit(&idx);
}
