/* labels.c - reads label CSV and QIIME 2 metadata TSV into (ID, label, group) rows; it does not
 * interpret labels (classes are the join's business) and never puts a sample ID in a message. */
#include "microlens/labels.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/strmap.h"
#include "util/text.h"

/* Label files are small (one row per sample); a bigger file is a wrong path, not metadata. */
#define ML_LABELS_MAX_BYTES ((size_t)256 << 20)
/* QIIME metadata rows can be wide, but a megabyte per line is far past any real sheet. */
#define ML_LABELS_MAX_LINE_BYTES ((size_t)1 << 20)
/* IDs, labels and group names we keep; real ones are tens of bytes. */
#define ML_LABELS_MAX_FIELD_BYTES 4096
/* How much of the column list an ENOTFOUND message shows. */
#define ML_LABELS_COLUMN_LIST_BYTES 400

struct ml_labels {
    size_t n, cap;
    char **ids;
    char **values; /* NULL entries: missing label */
    char **groups; /* NULL without a group column; NULL entries: missing group */
    char *id_col, *label_col, *group_col;
};

/* ID headers. Case-sensitive ones: upstream label CSVs (srs_id, ERS_ID) and QIIME 2's
 * backwards-compatible set (QIIME 1 mapping files, classic BIOM TSV, Qiita). */
static const char *const id_headers_exact[] = {"srs_id",  "ERS_ID",  "#SampleID",  "#Sample ID",
                                               "#OTUID",  "#OTU ID", "sample_name"};
/* Case-insensitive ones: QIIME 2's documented set plus the upstream sid / sample_id. */
static const char *const id_headers_nocase[] = {"id",        "sampleid",   "sample id",
                                                "sample-id", "featureid",  "feature id",
                                                "feature-id", "sid",       "sample_id"};
/* Missing-value markers: the pandas defaults that spreadsheets produce and QIIME 2's
 * INSDC:missing vocabulary; compared case-insensitively. */
static const char *const missing_markers[] = {
    "NA", "N/A", "nan", "null", "None", "<NA>", "#N/A", "not applicable", "missing",
    "not collected", "not provided", "restricted access"};

#define COUNT_OF(a) (sizeof(a) / sizeof *(a))

static bool is_id_header(const char *s, size_t n) {
    for (size_t i = 0; i < COUNT_OF(id_headers_exact); i++)
        if (strlen(id_headers_exact[i]) == n && memcmp(s, id_headers_exact[i], n) == 0)
            return true;
    for (size_t i = 0; i < COUNT_OF(id_headers_nocase); i++)
        if (ml__field_eq_nocase(s, n, id_headers_nocase[i])) return true;
    return false;
}

static bool is_missing(const char *s, size_t n) {
    if (n == 0) return true;
    for (size_t i = 0; i < COUNT_OF(missing_markers); i++)
        if (ml__field_eq_nocase(s, n, missing_markers[i])) return true;
    return false;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void ml_labels_free(ml_labels *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->ids[i]);
        free(l->values[i]);
        if (l->groups) free(l->groups[i]);
    }
    free(l->ids);
    free(l->values);
    free(l->groups);
    free(l->id_col);
    free(l->label_col);
    free(l->group_col);
    free(l);
}

/* State of one parse: the header, the chosen columns and the ID index. */
typedef struct parse_state {
    const char *name;
    char sep;
    size_t n_cols;
    char **cols;       /* header names, trimmed */
    size_t id_c, label_c, group_c; /* group_c is SIZE_MAX without groups */
    size_t *row_line;  /* (n) line number of each row, for duplicate messages */
    ml__strmap index;  /* raw ID -> row */
    ml__splitter sp;
} parse_state;

static void state_free(parse_state *ps) {
    if (ps->cols)
        for (size_t i = 0; i < ps->n_cols; i++) free(ps->cols[i]);
    free(ps->cols);
    free(ps->row_line);
    ml__strmap_free(&ps->index);
    ml__splitter_free(&ps->sp);
}

/* Splits line into ps->sp; adds FILE:LINE to the splitter's message. */
static ml_status split_line(parse_state *ps, const char *line, size_t len, size_t line_no) {
    if (len > ML_LABELS_MAX_LINE_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: line is %zu bytes (expected at most %zu)", ps->name,
                       line_no, len, ML_LABELS_MAX_LINE_BYTES);
    ml_status st = ml__split(&ps->sp, line, len, ps->sep, ps->sep == ',');
    if (st != ML_OK) ml__error_prefix("%s:%zu", ps->name, line_no);
    return st;
}

/* Index of the column named name: exact match first, then case-insensitive; SIZE_MAX if none.
 * skip (SIZE_MAX: none) is a column that may not be chosen. */
static size_t find_column(const parse_state *ps, const char *name, size_t skip) {
    for (size_t c = 0; c < ps->n_cols; c++)
        if (c != skip && strcmp(ps->cols[c], name) == 0) return c;
    for (size_t c = 0; c < ps->n_cols; c++)
        if (c != skip && ml__field_eq_nocase(ps->cols[c], strlen(ps->cols[c]), name)) return c;
    return SIZE_MAX;
}

static ml_status column_not_found(const parse_state *ps, const char *what, const char *name) {
    char list[ML_LABELS_COLUMN_LIST_BYTES] = "";
    size_t used = 0;
    for (size_t c = 0; c < ps->n_cols && used + 8 < sizeof list; c++) {
        char col[64];
        ml__sanitize(col, sizeof col, ps->cols[c], strlen(ps->cols[c]));
        int w = snprintf(list + used, sizeof list - used, "%s\"%s\"", c ? ", " : "", col);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            snprintf(list + used, sizeof list - used, ", ...");
            break;
        }
        used += (size_t)w;
    }
    char shown[128];
    ml__sanitize(shown, sizeof shown, name, strlen(name));
    return ML_FAIL(ML_ENOTFOUND, "%s: no %s column named \"%s\" (columns: %s)", ps->name, what,
                   shown, list);
}

static ml_status choose_columns(parse_state *ps, ml_labels *l, const ml_labels_options *o,
                                size_t line_no) {
    ps->id_c = 0;
    for (size_t c = 0; c < ps->n_cols; c++) {
        if (is_id_header(ps->cols[c], strlen(ps->cols[c]))) {
            ps->id_c = c;
            break;
        }
    }
    if (o->label_col) {
        size_t c = find_column(ps, o->label_col, SIZE_MAX);
        if (c == SIZE_MAX) return column_not_found(ps, "label", o->label_col);
        if (c == ps->id_c)
            return ML_FAIL(ML_EINVAL, "%s:%zu: label column %zu is the sample ID column "
                           "(expected another column)", ps->name, line_no, c + 1);
        ps->label_c = c;
    } else {
        ps->label_c = find_column(ps, "label", ps->id_c);
        if (ps->label_c == SIZE_MAX) ps->label_c = ps->id_c == 0 ? 1 : 0;
        if (ps->label_c >= ps->n_cols)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: header has only the sample ID column "
                           "(expected a label column too, e.g. sid,label)", ps->name, line_no);
    }
    ps->group_c = SIZE_MAX;
    if (o->group_col) {
        ps->group_c = find_column(ps, o->group_col, SIZE_MAX);
        if (ps->group_c == SIZE_MAX) return column_not_found(ps, "group", o->group_col);
    } else {
        size_t c = find_column(ps, "group", ps->id_c);
        if (c != ps->label_c) ps->group_c = c;
    }
    if (!(l->id_col = dup_n(ps->cols[ps->id_c], strlen(ps->cols[ps->id_c]))) ||
        !(l->label_col = dup_n(ps->cols[ps->label_c], strlen(ps->cols[ps->label_c]))))
        return ML_NOMEM();
    if (ps->group_c != SIZE_MAX &&
        !(l->group_col = dup_n(ps->cols[ps->group_c], strlen(ps->cols[ps->group_c]))))
        return ML_NOMEM();
    return ML_OK;
}

static ml_status read_header(parse_state *ps, ml_labels *l, const ml_labels_options *o,
                             const char *line, size_t len, size_t line_no) {
    ps->sep = memchr(line, '\t', len) ? '\t' : ',';
    ML_TRY(split_line(ps, line, len, line_no));
    ps->cols = calloc(ps->sp.n, sizeof *ps->cols);
    if (!ps->cols) return ML_NOMEM();
    ps->n_cols = ps->sp.n;
    for (size_t c = 0; c < ps->n_cols; c++) {
        const char *s = ps->sp.fields[c].s;
        size_t n = ps->sp.fields[c].len;
        ml__trim(&s, &n);
        if (!(ps->cols[c] = dup_n(s, n))) return ML_NOMEM();
    }
    return choose_columns(ps, l, o, line_no);
}

/* A '#' line before the header is a comment unless it is a '#'-spelled ID header. */
static bool is_hash_header(const char *line, size_t len) {
    size_t n = 0;
    while (n < len && line[n] != '\t' && line[n] != ',') n++;
    const char *s = line;
    ml__trim(&s, &n);
    return is_id_header(s, n);
}

static ml_status grow_rows(ml_labels *l, parse_state *ps) {
    if (l->n < l->cap) return ML_OK;
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **ids = realloc(l->ids, cap * sizeof *ids);
    if (!ids) return ML_NOMEM();
    l->ids = ids;
    char **values = realloc(l->values, cap * sizeof *values);
    if (!values) return ML_NOMEM();
    l->values = values;
    if (ps->group_c != SIZE_MAX) {
        char **groups = realloc(l->groups, cap * sizeof *groups);
        if (!groups) return ML_NOMEM();
        l->groups = groups;
    }
    size_t *lines = realloc(ps->row_line, cap * sizeof *lines);
    if (!lines) return ML_NOMEM();
    ps->row_line = lines;
    l->cap = cap;
    return ML_OK;
}

/* Trimmed field c, or an error if it is over the size limit. */
static ml_status kept_field(const parse_state *ps, size_t c, size_t line_no, const char **s,
                            size_t *n) {
    *s = ps->sp.fields[c].s;
    *n = ps->sp.fields[c].len;
    ml__trim(s, n);
    if (*n > ML_LABELS_MAX_FIELD_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: field is %zu bytes (expected at most %d)",
                       ps->name, line_no, c + 1, *n, ML_LABELS_MAX_FIELD_BYTES);
    return ML_OK;
}

static ml_status dup_value(const parse_state *ps, size_t c, size_t line_no, char **dst) {
    const char *s;
    size_t n;
    *dst = NULL;
    ML_TRY(kept_field(ps, c, line_no, &s, &n));
    if (is_missing(s, n)) return ML_OK;
    if (!(*dst = dup_n(s, n))) return ML_NOMEM();
    return ML_OK;
}

static bool all_fields_empty(const ml__splitter *sp) {
    for (size_t i = 0; i < sp->n; i++) {
        const char *s = sp->fields[i].s;
        size_t n = sp->fields[i].len;
        ml__trim(&s, &n);
        if (n > 0) return false;
    }
    return true;
}

static ml_status read_row(parse_state *ps, ml_labels *l, const char *line, size_t len,
                          size_t line_no) {
    ML_TRY(split_line(ps, line, len, line_no));
    if (all_fields_empty(&ps->sp)) return ML_OK; /* spreadsheets export blank rows as ",,," */
    if (ps->sp.n != ps->n_cols)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: %zu fields, header has %zu (expected one field "
                       "per column)", ps->name, line_no, ps->sp.n, ps->n_cols);
    const char *id;
    size_t id_len;
    ML_TRY(kept_field(ps, ps->id_c, line_no, &id, &id_len));
    if (id_len == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: empty sample ID (expected an ID in column %zu)",
                       ps->name, line_no, ps->id_c + 1, ps->id_c + 1);
    size_t first;
    if (ml__strmap_get(&ps->index, id, id_len, &first))
        return ML_FAIL(ML_EFORMAT, "%s:%zu: duplicate sample ID (first at line %zu)", ps->name,
                       line_no, ps->row_line[first]);
    ML_TRY(grow_rows(l, ps));
    char *id_copy = dup_n(id, id_len), *value = NULL, *group = NULL;
    ml_status st = id_copy ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = dup_value(ps, ps->label_c, line_no, &value);
    if (st == ML_OK && ps->group_c != SIZE_MAX) st = dup_value(ps, ps->group_c, line_no, &group);
    size_t existing;
    if (st == ML_OK) st = ml__strmap_put(&ps->index, id_copy, id_len, l->n, &existing);
    if (st != ML_OK) {
        free(id_copy);
        free(value);
        free(group);
        return st;
    }
    l->ids[l->n] = id_copy;
    l->values[l->n] = value;
    if (l->groups) l->groups[l->n] = group;
    ps->row_line[l->n] = line_no;
    l->n++;
    return ML_OK;
}

/* Only spaces, tabs and commas: what editors and spreadsheets leave as empty rows. */
static bool is_blank(const char *line, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != ',') return false;
    return true;
}

static ml_status check_no_nul(const char *buf, size_t len, const char *name) {
    const char *nul = memchr(buf, '\0', len);
    if (!nul) return ML_OK;
    size_t line_no = 1;
    for (const char *p = buf; p < nul; p++) line_no += *p == '\n';
    return ML_FAIL(ML_EFORMAT, "%s:%zu: NUL byte (expected text)", name, line_no);
}

static ml_status parse_lines(parse_state *ps, ml_labels *l, const char *buf, size_t len,
                             const ml_labels_options *o) {
    ml__lines it;
    ml__lines_init(&it, buf, len);
    const char *line;
    size_t n;
    bool have_header = false;
    while (ml__lines_next(&it, &line, &n)) {
        if (is_blank(line, n)) continue;
        if (!have_header) {
            if (line[0] == '#' && !is_hash_header(line, n)) continue;
            ML_TRY(read_header(ps, l, o, line, n, it.line_no));
            have_header = true;
            continue;
        }
        if (line[0] == '#') continue; /* comments and QIIME directives (#q2:types, #q2:missing) */
        ML_TRY(read_row(ps, l, line, n, it.line_no));
    }
    if (!have_header)
        return ML_FAIL(ML_EFORMAT, "%s: no header line (expected one such as \"sid,label\" or "
                       "\"sample-id<TAB>label\")", ps->name);
    return ML_OK;
}

ml_status ml_labels_parse(ml_labels **out, const char *buf, size_t len, const char *name,
                          const ml_labels_options *opts) {
    ml_labels_options defaults = ML_LABELS_OPTIONS_INIT;
    const ml_labels_options *o = opts ? opts : &defaults;
    if (!name) name = "labels";
    if (o->version != ML_LABELS_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "ml_labels_options.version is %d (expected %d)", o->version,
                       ML_LABELS_OPTIONS_VERSION);
    if (len > 0 && !buf) return ML_FAIL(ML_EINVAL, "%s: NULL buffer of %zu bytes", name, len);
    if (len > 0) ML_TRY(check_no_nul(buf, len, name));
    parse_state ps = {.name = name, .index = ML__STRMAP_INIT, .sp = ML__SPLITTER_INIT};
    ml_labels *l = calloc(1, sizeof *l);
    ml_status st = l ? parse_lines(&ps, l, buf ? buf : "", len, o) : ML_NOMEM();
    state_free(&ps);
    if (st != ML_OK) {
        ml_labels_free(l);
        return st;
    }
    *out = l;
    return ML_OK;
}

ml_status ml_labels_read(ml_labels **out, const char *path, const ml_labels_options *opts) {
    char *buf;
    size_t len;
    ML_TRY(ml__file_read(path, ML_LABELS_MAX_BYTES, &buf, &len));
    ml_status st = ml_labels_parse(out, buf, len, path, opts);
    free(buf);
    return st;
}

size_t ml_labels_count(const ml_labels *l) { return l->n; }
const char *ml_labels_raw_id(const ml_labels *l, size_t i) { return l->ids[i]; }
const char *ml_labels_value(const ml_labels *l, size_t i) { return l->values[i]; }
const char *ml_labels_group(const ml_labels *l, size_t i) {
    return l->groups ? l->groups[i] : NULL;
}
const char *ml_labels_label_column(const ml_labels *l) { return l->label_col; }
const char *ml_labels_group_column(const ml_labels *l) { return l->group_col; }
const char *ml_labels_id_column(const ml_labels *l) { return l->id_col; }
