/* biom_json.c - BIOM 1.0 JSON (sparse or dense) -> ml_table; it keeps observation taxonomy
 * but no other metadata, and it does not read BIOM 2 (HDF5, see biom_hdf5.c). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "data/table.h"
#include "util/error.h"
#include "util/text.h"

#define ECHO_MAX 64  /* bytes of an echoed observation ID or jansson text in a message */
#define PATH_MAX_LEN 64

/* What one parse carries between its steps; root owns every json_t. */
typedef struct jctx {
    const char *name;
    json_t *root;
    ml__table_builder *tb;
    size_t n_rows, n_cols;
    bool is_sparse, is_int;
} jctx;

/* A sparse entry's coordinates and where it stood, for finding repeated (row, col) pairs. */
typedef struct coord {
    size_t row, col, pos;
} coord;

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* jansson appends "near '<token>'", and the token may be a sample ID: it is cut off. */
static ml_status invalid_json(const char *name, const json_error_t *e) {
    char text[sizeof e->text];
    snprintf(text, sizeof text, "%s", e->text);
    char *near = strstr(text, " near ");
    if (near) *near = '\0';
    char clean[ECHO_MAX * 2];
    ml__sanitize(clean, sizeof clean, text, strlen(text));
    if (e->line < 1)
        return ML_FAIL(ML_EFORMAT, "%s: invalid JSON (%s)", name, clean);
    return ML_FAIL(ML_EFORMAT, "%s:%d:%d: invalid JSON (%s)", name, e->line, e->column, clean);
}

static ml_status get_field(const jctx *c, const json_t *obj, const char *obj_path,
                           const char *key, json_t **out) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (obj_path[0])
            return ML_FAIL(ML_EFORMAT, "%s: %s: missing field \"%s\" (required by BIOM 1.0)",
                           c->name, obj_path, key);
        return ML_FAIL(ML_EFORMAT, "%s: missing field \"%s\" (required by BIOM 1.0)", c->name,
                       key);
    }
    *out = v;
    return ML_OK;
}

static ml_status expect_type(const jctx *c, const json_t *v, const char *path, json_type t,
                             bool null_ok) {
    if (json_typeof(v) == t || (null_ok && json_is_null(v))) return ML_OK;
    const char *want = t == JSON_STRING ? "a string" : t == JSON_ARRAY ? "an array" : "an object";
    return ML_FAIL(ML_EFORMAT, "%s: %s: found %s (expected %s%s)", c->name, path, type_name(v),
                   want, null_ok ? " or null" : "");
}

/* BIOM 0.9 and 1.0 files say "Biological Observation Matrix 0.9.x" / "1.0.0". */
static ml_status check_format_name(const jctx *c, const json_t *v) {
    static const char prefix[] = "Biological Observation Matrix ";
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), np = sizeof prefix - 1;
    if (n > np && memcmp(s, prefix, np) == 0 && (s[np] == '0' || s[np] == '1') &&
        (n == np + 1 || s[np + 1] == '.'))
        return ML_OK;
    char clean[ECHO_MAX];
    ml__sanitize(clean, sizeof clean, s, n);
    return ML_FAIL(ML_EFORMAT, "%s: format: \"%s\" (expected \"Biological Observation Matrix "
                   "1.0.0\")", c->name, clean);
}

static ml_status check_header(jctx *c) {
    static const char *const strings[] = {"format", "format_url", "generated_by", "date"};
    json_t *v;
    ML_TRY(get_field(c, c->root, "", "id", &v));
    ML_TRY(expect_type(c, v, "id", JSON_STRING, true));
    ML_TRY(get_field(c, c->root, "", "type", &v));
    ML_TRY(expect_type(c, v, "type", JSON_STRING, true));
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        ML_TRY(get_field(c, c->root, "", strings[i], &v));
        ML_TRY(expect_type(c, v, strings[i], JSON_STRING, false));
    }
    ML_TRY(check_format_name(c, json_object_get(c->root, "format")));

    ML_TRY(get_field(c, c->root, "", "matrix_type", &v));
    ML_TRY(expect_type(c, v, "matrix_type", JSON_STRING, false));
    const char *mt = json_string_value(v);
    if (strcmp(mt, "sparse") != 0 && strcmp(mt, "dense") != 0) {
        char clean[ECHO_MAX];
        ml__sanitize(clean, sizeof clean, mt, json_string_length(v));
        return ML_FAIL(ML_EFORMAT, "%s: matrix_type: \"%s\" (expected \"sparse\" or \"dense\")",
                       c->name, clean);
    }
    c->is_sparse = mt[0] == 's';

    ML_TRY(get_field(c, c->root, "", "matrix_element_type", &v));
    ML_TRY(expect_type(c, v, "matrix_element_type", JSON_STRING, false));
    const char *et = json_string_value(v);
    if (strcmp(et, "unicode") == 0)
        return ML_FAIL(ML_EFORMAT, "%s: matrix_element_type: \"unicode\" is not an abundance "
                       "table (expected \"int\" or \"float\")", c->name);
    if (strcmp(et, "int") != 0 && strcmp(et, "float") != 0) {
        char clean[ECHO_MAX];
        ml__sanitize(clean, sizeof clean, et, json_string_length(v));
        return ML_FAIL(ML_EFORMAT, "%s: matrix_element_type: \"%s\" (expected \"int\" or "
                       "\"float\")", c->name, clean);
    }
    c->is_int = et[0] == 'i';
    return ML_OK;
}

/* Accepts JSON integers and reals with no fractional part (some writers emit 3.0). */
static bool as_index(const json_t *v, double *out) {
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        *out = json_real_value(v);
        return true;
    }
    return false;
}

static ml_status get_shape(jctx *c) {
    json_t *shape = NULL;
    ML_TRY(get_field(c, c->root, "", "shape", &shape));
    ML_TRY(expect_type(c, shape, "shape", JSON_ARRAY, false));
    if (json_array_size(shape) != 2)
        return ML_FAIL(ML_EFORMAT, "%s: shape: %zu entries (expected [n_rows, n_columns])",
                       c->name, json_array_size(shape));
    size_t dims[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_array_get(shape, i);
        double d;
        if (!as_index(v, &d))
            return ML_FAIL(ML_EFORMAT, "%s: shape[%zu]: found %s (expected a whole number)",
                           c->name, i, type_name(v));
        if (d < 0 || d > (double)UINT32_MAX)
            return ML_FAIL(ML_EFORMAT, "%s: shape[%zu]: %.0f is out of range (expected 0 to "
                           "4294967295)", c->name, i, d);
        dims[i] = (size_t)d;
    }
    c->n_rows = dims[0];
    c->n_cols = dims[1];
    return ML_OK;
}

/* Joins a taxonomy given as ["k__A", "p__B"] into "k__A; p__B"; a plain string is kept. */
static ml_status taxonomy_of(const jctx *c, const json_t *meta, size_t row, char **out) {
    *out = NULL;
    if (!meta || json_is_null(meta)) return ML_OK;
    json_t *tax = json_object_get(meta, "taxonomy");
    if (!tax || json_is_null(tax)) return ML_OK;
    if (json_is_string(tax)) {
        *out = strdup(json_string_value(tax));
        return *out ? ML_OK : ML_NOMEM();
    }
    if (!json_is_array(tax))
        return ML_FAIL(ML_EFORMAT, "%s: rows[%zu].metadata.taxonomy: found %s (expected an array "
                       "of strings or a string)", c->name, row, type_name(tax));
    size_t total = 1, n = json_array_size(tax);
    for (size_t i = 0; i < n; i++) {
        json_t *level = json_array_get(tax, i);
        if (!json_is_string(level))
            return ML_FAIL(ML_EFORMAT, "%s: rows[%zu].metadata.taxonomy[%zu]: found %s "
                           "(expected a string)", c->name, row, i, type_name(level));
        total += json_string_length(level) + 2;
    }
    char *s = malloc(total);
    if (!s) return ML_NOMEM();
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *level = json_array_get(tax, i);
        if (i > 0) {
            memcpy(s + pos, "; ", 2);
            pos += 2;
        }
        memcpy(s + pos, json_string_value(level), json_string_length(level));
        pos += json_string_length(level);
    }
    s[pos] = '\0';
    *out = s;
    return ML_OK;
}

/* Reads rows[i] or columns[i]: an object with a non-empty string id and object/null metadata. */
static ml_status entry_id(const jctx *c, const json_t *e, const char *what, size_t i,
                          const char **id, size_t *id_len, json_t **meta) {
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s[%zu]", what, i);
    ML_TRY(expect_type(c, e, path, JSON_OBJECT, false));
    json_t *v = NULL;
    ML_TRY(get_field(c, e, path, "id", &v));
    snprintf(path, sizeof path, "%s[%zu].id", what, i);
    ML_TRY(expect_type(c, v, path, JSON_STRING, false));
    if (json_string_length(v) == 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s: empty ID (expected a non-empty string)", c->name,
                       path);
    *meta = json_object_get(e, "metadata");
    if (*meta) {
        snprintf(path, sizeof path, "%s[%zu].metadata", what, i);
        ML_TRY(expect_type(c, *meta, path, JSON_OBJECT, true));
    }
    *id = json_string_value(v);
    *id_len = json_string_length(v);
    return ML_OK;
}

static ml_status read_rows(jctx *c, const json_t *rows) {
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const char *id = NULL;
        size_t id_len = 0, idx = 0, dup_of = SIZE_MAX;
        json_t *meta = NULL;
        ML_TRY(entry_id(c, json_array_get(rows, i), "rows", i, &id, &id_len, &meta));
        char *tax;
        ML_TRY(taxonomy_of(c, meta, i, &tax));
        ml_status st = ml__tb_add_feature(c->tb, id, id_len, tax, &idx, &dup_of);
        free(tax);
        if (st != ML_OK) return st;
        if (dup_of != SIZE_MAX) {
            char clean[ECHO_MAX];
            ml__sanitize(clean, sizeof clean, id, id_len);
            return ML_FAIL(ML_EFORMAT, "%s: rows[%zu].id: duplicate observation ID \"%s\" "
                           "(first at rows[%zu])", c->name, i, clean, dup_of);
        }
    }
    return ML_OK;
}

static ml_status read_columns(jctx *c, const json_t *cols) {
    for (size_t i = 0; i < json_array_size(cols); i++) {
        const char *id = NULL;
        size_t id_len = 0, idx = 0, dup_of = SIZE_MAX;
        json_t *meta = NULL;
        ML_TRY(entry_id(c, json_array_get(cols, i), "columns", i, &id, &id_len, &meta));
        ML_TRY(ml__tb_add_sample(c->tb, id, id_len, &idx, &dup_of));
        if (dup_of != SIZE_MAX)
            return ML_FAIL(ML_EFORMAT, "%s: columns[%zu].id: duplicate sample ID (first at "
                           "columns[%zu])", c->name, i, dup_of);
    }
    return ML_OK;
}

static ml_status read_axes(jctx *c) {
    json_t *rows, *cols;
    ML_TRY(get_field(c, c->root, "", "rows", &rows));
    ML_TRY(expect_type(c, rows, "rows", JSON_ARRAY, false));
    ML_TRY(get_field(c, c->root, "", "columns", &cols));
    ML_TRY(expect_type(c, cols, "columns", JSON_ARRAY, false));
    if (json_array_size(rows) != c->n_rows)
        return ML_FAIL(ML_EFORMAT, "%s: shape[0]: %zu but rows has %zu entries (expected them "
                       "to agree)", c->name, c->n_rows, json_array_size(rows));
    if (json_array_size(cols) != c->n_cols)
        return ML_FAIL(ML_EFORMAT, "%s: shape[1]: %zu but columns has %zu entries (expected "
                       "them to agree)", c->name, c->n_cols, json_array_size(cols));
    ML_TRY(read_rows(c, rows));
    return read_columns(c, cols);
}

/* A matrix value: a JSON number, finite, >= 0, and whole when matrix_element_type is int. */
static ml_status check_value(const jctx *c, const json_t *v, const char *path, double *out) {
    if (!json_is_number(v))
        return ML_FAIL(ML_EFORMAT, "%s: %s: found %s (expected a number)", c->name, path,
                       type_name(v));
    double d = json_number_value(v); /* finite: jansson refuses 1e999 as a parse error */
    if (d < 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s: value %g is negative (expected a non-negative count)",
                       c->name, path, d);
    if (c->is_int && d != floor(d))
        return ML_FAIL(ML_EFORMAT, "%s: %s: value %g is not a whole number (matrix_element_type "
                       "is \"int\")", c->name, path, d);
    *out = d;
    return ML_OK;
}

static ml_status sparse_index(const jctx *c, const json_t *v, size_t k, size_t which,
                              size_t limit, size_t *out) {
    const char *axis = which == 0 ? "row" : "column";
    double d;
    if (!as_index(v, &d))
        return ML_FAIL(ML_EFORMAT, "%s: data[%zu][%zu]: found %s (expected a whole-number %s "
                       "index)", c->name, k, which, type_name(v), axis);
    if (d < 0 || d >= (double)limit)
        return ML_FAIL(ML_EFORMAT, "%s: data[%zu][%zu]: %s index %.0f is out of range (expected "
                       "0 to %zu for %zu %ss)", c->name, k, which, axis, d,
                       limit ? limit - 1 : 0, limit, axis);
    *out = (size_t)d;
    return ML_OK;
}

static int coord_cmp(const void *pa, const void *pb) {
    const coord *a = pa, *b = pb;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Reports the repeated (row, column) pair whose second occurrence comes first in the file. */
static ml_status find_repeats(const jctx *c, coord *cs, size_t n) {
    qsort(cs, n, sizeof *cs, coord_cmp);
    size_t best = SIZE_MAX;
    for (size_t i = 1; i < n; i++) {
        bool second = cs[i].row == cs[i - 1].row && cs[i].col == cs[i - 1].col &&
                      (i < 2 || cs[i - 2].row != cs[i].row || cs[i - 2].col != cs[i].col);
        if (second && (best == SIZE_MAX || cs[i].pos < cs[best].pos)) best = i;
    }
    if (best == SIZE_MAX) return ML_OK;
    return ML_FAIL(ML_EFORMAT, "%s: data[%zu]: second value for row %zu, column %zu (first at "
                   "data[%zu]; expected one entry per cell)", c->name, cs[best].pos,
                   cs[best].row, cs[best].col, cs[best - 1].pos);
}

static ml_status read_sparse(jctx *c, const json_t *data) {
    size_t n = json_array_size(data);
    coord *cs = malloc((n ? n : 1) * sizeof *cs);
    if (!cs) return ML_NOMEM();
    ml_status st = ML_OK;
    for (size_t k = 0; k < n; k++) {
        const json_t *e = json_array_get(data, k);
        char path[PATH_MAX_LEN];
        if (!json_is_array(e) || json_array_size(e) != 3) {
            st = json_is_array(e)
                     ? ML_FAIL(ML_EFORMAT, "%s: data[%zu]: %zu entries (expected [row, column, "
                               "value])", c->name, k, json_array_size(e))
                     : ML_FAIL(ML_EFORMAT, "%s: data[%zu]: found %s (expected [row, column, "
                               "value])", c->name, k, type_name(e));
            goto done;
        }
        size_t row, col;
        double v;
        snprintf(path, sizeof path, "data[%zu][2]", k);
        if ((st = sparse_index(c, json_array_get(e, 0), k, 0, c->n_rows, &row)) != ML_OK ||
            (st = sparse_index(c, json_array_get(e, 1), k, 1, c->n_cols, &col)) != ML_OK ||
            (st = check_value(c, json_array_get(e, 2), path, &v)) != ML_OK ||
            (st = ml__tb_add_value(c->tb, col, row, v)) != ML_OK)
            goto done;
        cs[k] = (coord){row, col, k};
    }
    st = find_repeats(c, cs, n);
done:
    free(cs);
    return st;
}

static ml_status read_dense(jctx *c, const json_t *data) {
    if (json_array_size(data) != c->n_rows)
        return ML_FAIL(ML_EFORMAT, "%s: data: %zu rows but shape[0] is %zu (expected one array "
                       "per observation)", c->name, json_array_size(data), c->n_rows);
    for (size_t i = 0; i < c->n_rows; i++) {
        const json_t *row = json_array_get(data, i);
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "data[%zu]", i);
        ML_TRY(expect_type(c, row, path, JSON_ARRAY, false));
        if (json_array_size(row) != c->n_cols)
            return ML_FAIL(ML_EFORMAT, "%s: data[%zu]: %zu values but shape[1] is %zu (expected "
                           "one value per column)", c->name, i, json_array_size(row), c->n_cols);
        for (size_t j = 0; j < c->n_cols; j++) {
            double v;
            snprintf(path, sizeof path, "data[%zu][%zu]", i, j);
            ML_TRY(check_value(c, json_array_get(row, j), path, &v));
            ML_TRY(ml__tb_add_value(c->tb, j, i, v));
        }
    }
    return ML_OK;
}

static ml_status read_data(jctx *c) {
    json_t *data;
    ML_TRY(get_field(c, c->root, "", "data", &data));
    ML_TRY(expect_type(c, data, "data", JSON_ARRAY, false));
    return c->is_sparse ? read_sparse(c, data) : read_dense(c, data);
}

ml_status ml__biom_json_parse(ml_table **out, const char *buf, size_t len, const char *name,
                              const ml_table_read_options *o) {
    (void)o;
    jctx c = {name, NULL, NULL, 0, 0, false, false};
    ml_status st = ML_OK;
    json_error_t jerr;
    c.root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!c.root) return invalid_json(name, &jerr);
    if (!json_is_object(c.root)) {
        st = ML_FAIL(ML_EFORMAT, "%s: top level is %s (expected a BIOM 1.0 JSON object)", name,
                     type_name(c.root));
        goto done;
    }
    if ((st = ml__tb_new(&c.tb)) != ML_OK || (st = check_header(&c)) != ML_OK ||
        (st = get_shape(&c)) != ML_OK || (st = read_axes(&c)) != ML_OK ||
        (st = read_data(&c)) != ML_OK)
        goto done;
    char note[160];
    snprintf(note, sizeof note, "BIOM 1.0 %s, %zu observations as rows, %zu samples as columns",
             c.is_sparse ? "sparse" : "dense", c.n_rows, c.n_cols);
    st = ml__tb_finish(c.tb, name, "biom-json", note, out);
    c.tb = NULL; /* consumed whatever the result */
done:
    ml__tb_free(c.tb);
    json_decref(c.root);
    return st;
}
