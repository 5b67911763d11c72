/* cmd_tensors.c - `microlens tensors`: opens a safetensors file strictly and prints each
 * tensor's dtype, shape, size and, for floating types, its statistics, plus __metadata__. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "microlens/safetensors.h"
#include "microlens/tensorstats.h"

/* Columns of the human table. */
enum { COL_NAME, COL_DTYPE, COL_SHAPE, COL_BYTES, COL_MIN, COL_MAX, COL_MEAN, COL_L2, COL_NAN,
       COL_INF, N_COLS };
static const char *const col_titles[N_COLS] = {"name", "dtype", "shape", "bytes", "min",
                                               "max", "mean", "l2_norm", "nan", "inf"};
/* Widest cell written by snprintf below ("%.6g", a shape of 8 dimensions, sizes). */
#define CELL_BYTES 192

typedef struct tensors_flags {
    bool json;
} tensors_flags;

static const char *const tensors_examples[] = {
    "microlens tensors model.safetensors",
    "microlens tensors adapter_model.safetensors --json",
    "microlens tensors runs/r1/checkpoints/step-0000100/optimizer.safetensors", NULL};

static const cli_command tensors_cmd = {
    "tensors", "FILE [--json]",
    "Lists the tensors of a safetensors file: name, dtype, shape and byte size and, for\n"
    "floating types (F64, F32, F16, BF16), min / max / mean / L2 norm, plus __metadata__.",
    "The file is validated completely first (docs/safetensors.md); a file breaking a rule is\n"
    "refused (exit 3) with the rule named, and a pickled PyTorch checkpoint (.bin, .pt, .pth,\n"
    ".pkl, .ckpt or pickle/zip bytes) is refused unread: convert it with\n"
    "tools/convert-upstream-checkpoint. Statistics are computed in double over the finite\n"
    "values; NaN and +-inf are counted in their own columns and never enter min, max, mean\n"
    "or the norm. Tensors are listed in file (data offset) order.",
    tensors_examples, 1};

/* Copies s with control characters replaced by '?', so names cannot drive the terminal; a
 * cut falls on a UTF-8 character boundary. */
static void safe_copy(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        dst[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i])
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    dst[i] = '\0';
}

/* Terminal columns of UTF-8 text, counted as code points (continuation bytes add none). */
static size_t text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void format_shape(char *dst, size_t cap, const ml_tensor_view *t) {
    size_t n = (size_t)snprintf(dst, cap, "[");
    for (size_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(dst + n, cap - n, "%s%zu", d ? ", " : "", t->shape[d]);
    if (n < cap) snprintf(dst + n, cap - n, "]");
}

static void format_double(char *dst, size_t cap, double v) {
    if (isnan(v)) snprintf(dst, cap, "-");
    else snprintf(dst, cap, "%.6g", v);
}

/* Fills one table row; cells are CELL_BYTES each (the name is truncated there, safely). */
static int fill_row(char (*row)[CELL_BYTES], const ml_tensor_view *t) {
    safe_copy(row[COL_NAME], CELL_BYTES, t->name);
    snprintf(row[COL_DTYPE], CELL_BYTES, "%s", ml_dtype_name(t->dtype));
    format_shape(row[COL_SHAPE], CELL_BYTES, t);
    snprintf(row[COL_BYTES], CELL_BYTES, "%zu", ml_tensor_view_n_bytes(t));
    if (!ml_dtype_is_float(t->dtype)) {
        for (int c = COL_MIN; c < N_COLS; c++) snprintf(row[c], CELL_BYTES, "-");
        return ML_OK;
    }
    ml_tensor_stats s;
    int st = ml_tensor_stats_compute(&s, t);
    if (st != ML_OK) return st;
    format_double(row[COL_MIN], CELL_BYTES, s.min);
    format_double(row[COL_MAX], CELL_BYTES, s.max);
    format_double(row[COL_MEAN], CELL_BYTES, s.mean);
    format_double(row[COL_L2], CELL_BYTES, s.l2_norm);
    snprintf(row[COL_NAN], CELL_BYTES, "%zu", s.n_nan);
    snprintf(row[COL_INF], CELL_BYTES, "%zu", s.n_posinf + s.n_neginf);
    return ML_OK;
}

static void print_cell(const char *s, size_t width, int right, int last) {
    size_t pad = width - text_width(s);
    if (right) printf("%*s", (int)pad, "");
    fputs(s, stdout);
    if (!right && !last) printf("%*s", (int)pad, "");
    if (!last) fputs("  ", stdout);
}

static void print_row(char (*row)[CELL_BYTES], const size_t *width) {
    for (int c = 0; c < N_COLS; c++)
        print_cell(row[c], width[c], c >= COL_BYTES, c == N_COLS - 1);
    fputc('\n', stdout);
}

static int print_text(const ml_safetensors *st, const char *path) {
    size_t n = ml_safetensors_n_tensors(st), total = 0, width[N_COLS];
    char(*rows)[N_COLS][CELL_BYTES] = malloc((n ? n : 1) * sizeof *rows);
    char buf[CELL_BYTES * 4];
    if (!rows) {
        fprintf(stderr, "microlens: out of memory\n");
        return EXIT_FAILURE_RUNTIME;
    }
    for (int c = 0; c < N_COLS; c++) width[c] = strlen(col_titles[c]);
    for (size_t i = 0; i < n; i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        int s = fill_row(rows[i], t);
        if (s != ML_OK) {
            free(rows);
            return cli_fail(s);
        }
        total += ml_tensor_view_n_bytes(t);
        for (int c = 0; c < N_COLS; c++)
            if (text_width(rows[i][c]) > width[c]) width[c] = text_width(rows[i][c]);
    }
    safe_copy(buf, sizeof buf, path);
    printf("file: %s\n", buf);
    size_t n_meta = ml_safetensors_n_metadata(st);
    printf("metadata:%s\n", n_meta ? "" : " (none)");
    for (size_t i = 0; i < n_meta; i++) {
        const ml_kv *kv = ml_safetensors_metadata(st, i);
        char value[CELL_BYTES * 4];
        safe_copy(buf, sizeof buf, kv->key);
        safe_copy(value, sizeof value, kv->value);
        printf("  %s = %s%s\n", buf, value, strlen(kv->value) >= sizeof value ? "..." : "");
    }
    printf("tensors: %zu (%zu bytes)\n", n, total);
    if (n > 0) {
        char titles[N_COLS][CELL_BYTES];
        for (int c = 0; c < N_COLS; c++) snprintf(titles[c], CELL_BYTES, "%s", col_titles[c]);
        print_row(titles, width);
        for (size_t i = 0; i < n; i++) print_row(rows[i], width);
    }
    free(rows);
    return EXIT_OK;
}

/* NaN (no finite element) and an overflowing norm become JSON null. */
static json_t *json_number(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *tensor_json(const ml_tensor_view *t, int *status) {
    json_t *shape = json_array();
    for (size_t d = 0; d < t->n_dims; d++)
        json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
    json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I}", "name", t->name, "dtype",
                          ml_dtype_name(t->dtype), "shape", shape, "n_elements",
                          (json_int_t)ml_tensor_view_n_elements(t), "n_bytes",
                          (json_int_t)ml_tensor_view_n_bytes(t));
    if (!o || !ml_dtype_is_float(t->dtype)) {
        if (o) json_object_set_new(o, "stats", json_null());
        return o;
    }
    ml_tensor_stats s;
    if ((*status = ml_tensor_stats_compute(&s, t)) != ML_OK) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "stats", json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I}",
        "min", json_number(s.min), "max", json_number(s.max), "mean", json_number(s.mean),
        "l2_norm", json_number(s.l2_norm), "n_finite", (json_int_t)s.n_finite, "n_nan",
        (json_int_t)s.n_nan, "n_posinf", (json_int_t)s.n_posinf, "n_neginf",
        (json_int_t)s.n_neginf));
    return o;
}

static int print_json(const ml_safetensors *st, const char *path) {
    size_t n = ml_safetensors_n_tensors(st), total = 0;
    int status = ML_OK;
    for (size_t i = 0; i < n; i++) total += ml_tensor_view_n_bytes(ml_safetensors_tensor(st, i));
    json_t *meta = json_object(), *tensors = json_array();
    json_t *doc = json_pack("{s:s, s:I, s:I, s:o, s:o}", "file", path, "n_tensors",
                            (json_int_t)n, "n_bytes", (json_int_t)total, "metadata", meta,
                            "tensors", tensors);
    if (!doc) {
        fprintf(stderr, "microlens: cannot build the JSON report\n");
        return EXIT_FAILURE_RUNTIME;
    }
    for (size_t i = 0; i < ml_safetensors_n_metadata(st); i++) {
        const ml_kv *kv = ml_safetensors_metadata(st, i);
        json_object_set_new(meta, kv->key, json_string(kv->value));
    }
    for (size_t i = 0; i < n; i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        json_t *o = tensor_json(t, &status);
        if (!o) {
            json_decref(doc);
            return status != ML_OK ? cli_fail(status) : EXIT_FAILURE_RUNTIME;
        }
        json_array_append_new(tensors, o);
    }
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0
                 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    fputc('\n', stdout);
    json_decref(doc);
    return rc;
}

int cmd_tensors(int argc, char **argv) {
    tensors_flags f = {0};
    const cli_flag flags[] = {
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout", NULL},
    };
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &tensors_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    ml_safetensors *st = NULL;
    int s = ml_safetensors_open(&st, pos[0]);
    if (s != ML_OK) return cli_fail(s);
    rc = f.json ? print_json(st, pos[0]) : print_text(st, pos[0]);
    ml_safetensors_close(st);
    return rc;
}
