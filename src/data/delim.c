/* delim.c - TSV/CSV abundance tables in either orientation (QIIME "#OTU ID" layout and a
 * trailing taxonomy column included); it does not guess the separator (reader.c does) and
 * does not read MetaPhlAn lineage tables (metaphlan.c does). */
#include "data/delim.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "data/table.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/text.h"

/* Bytes of input text echoed in a message: enough to recognise a cell, short enough that a
 * stray identifier in a value column leaks little. */
#define SHOW_MAX 41

/* A name pattern decides the orientation only when more than this share of an axis matches:
 * a few OTU-like sample names must not flip a table. */
#define FEATURE_LIKE_MIN_SHARE 0.5

/* Bare DNA sequences used as ASV IDs (QIIME 2 without hashing) are amplicon reads, at least
 * this long; shorter ACGT words could be sample names. */
#define DNA_ID_MIN_LEN 50

/* First header cells that name the column of row names (one leading '#' ignored, ASCII
 * case-insensitive). Features: QIIME 1/2 and biom convert ("#OTU ID"), DADA2/pandas exports.
 * Samples: QIIME mapping/metadata files and pandas exports of sample-by-taxon tables. */
static const char *const feature_row_headers[] = {
    "OTU ID", "OTU_ID", "OTUID", "OTU", "feature-id", "feature_id", "FeatureID", "Feature ID",
    "taxonomy", "taxon", "clade", "clade_name", "ASV", "ASV_ID", "ASV ID", NULL};
static const char *const sample_row_headers[] = {
    "SampleID", "Sample ID", "sample-id", "sample_id", "sample", "sample_name", "samplename",
    "sid", "id", NULL};
/* Last header cells that hold lineages: biom convert --header-key taxonomy, QIIME 1. */
static const char *const taxonomy_headers[] = {"taxonomy", "Consensus Lineage",
                                               "ConsensusLineage", NULL};

typedef struct delim {
    const char *name;
    char sep;
    ml__lines it;       /* positioned after the header */
    size_t header_line;
    ml__field *cols;    /* header cells, copied: CSV unescaping reuses the splitter */
    char *cols_mem;
    size_t n_cols;      /* all header cells, the row-name column included */
    size_t n_values;    /* value columns are cells 1..n_values */
    bool has_taxonomy;  /* the last cell is a lineage column */
    bool samples_are_rows;
    bool allow_negative; /* embeddings and other real-valued feature matrices */
    char note[400];
    ml__splitter sp;
    char *tax;          /* NUL-terminated copy of the current row's lineage */
    size_t tax_cap;
} delim;

/* Counts gathered over the row names when the header alone does not decide. */
typedef struct axis_counts {
    size_t n_rows, rows_feature_like, rows_hinted;
    size_t cols_feature_like, cols_hinted;
} axis_counts;

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

static bool is_word(const char *s, size_t n, const char *const *words) {
    ml__trim(&s, &n);
    if (n > 0 && s[0] == '#') {
        s++;
        n--;
    }
    for (size_t i = 0; words[i]; i++)
        if (ml__field_eq_nocase(s, n, words[i])) return true;
    return false;
}

static bool is_nonfinite_word(const char *s, size_t n) {
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        s++;
        n--;
    }
    return ml__field_eq_nocase(s, n, "nan") || ml__field_eq_nocase(s, n, "inf") ||
           ml__field_eq_nocase(s, n, "infinity");
}

ml_status ml__delim_value(double *out, const char *s, size_t len, const char *name,
                          size_t line, size_t col, const char *what) {
    double v;
    char shown[SHOW_MAX];
    if (ml__parse_double(s, len, &v)) {
        if (v < 0.0) {
            ml__trim(&s, &len);
            ml__sanitize(shown, sizeof shown, s, len);
            return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: %s is negative (expected a non-negative %s)",
                           name, line, col, shown, what);
        }
        *out = v;
        return ML_OK;
    }
    ml__trim(&s, &len);
    if (len == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: empty cell (expected a number; write 0 for an "
                       "absent %s)", name, line, col, what);
    ml__sanitize(shown, sizeof shown, s, len);
    if (is_nonfinite_word(s, len))
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: \"%s\" is not a finite number (expected a "
                       "non-negative %s)", name, line, col, shown, what);
    return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: \"%s\" is not a number (expected a non-negative %s)",
                   name, line, col, shown, what);
}

/* A value cell; with allow_negative any finite number, else a non-negative count. */
static ml_status cell_value(const delim *d, double *out, const ml__field *f, size_t line,
                            size_t col) {
    const char *s = f->s;
    size_t len = f->len;
    char shown[SHOW_MAX];
    double v;
    if (!d->allow_negative && ml__parse_double(s, len, &v) && v < 0.0) {
        ml__trim(&s, &len);
        ml__sanitize(shown, sizeof shown, s, len);
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: %s is negative (expected a non-negative count; "
                       "real-valued features such as embeddings are read only with "
                       "allow_negative, e.g. by evaluate --transform none)", d->name, line, col,
                       shown);
    }
    if (!d->allow_negative)
        return ml__delim_value(out, f->s, f->len, d->name, line, col, "count");
    if (ml__parse_double(s, len, out)) return ML_OK;
    ml__trim(&s, &len);
    if (len == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: empty cell (expected a finite number)", d->name,
                       line, col);
    ml__sanitize(shown, sizeof shown, s, len);
    return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: \"%s\" is not a finite number (expected a finite "
                   "number)", d->name, line, col, shown);
}

static ml_status split_line(delim *d, const char *line, size_t n, size_t line_no) {
    ml_status st = ml__split(&d->sp, line, n, d->sep, d->sep == ',');
    if (st != ML_OK && st != ML_ENOMEM) ml__error_prefix("%s:%zu", d->name, line_no);
    return st;
}

/* Copies the split header so that its cells outlive the next ml__split. */
static ml_status keep_header(delim *d) {
    size_t total = 0;
    for (size_t i = 0; i < d->sp.n; i++) total += d->sp.fields[i].len + 1;
    d->cols = malloc(d->sp.n * sizeof *d->cols);
    d->cols_mem = malloc(total);
    if (!d->cols || !d->cols_mem) return ML_NOMEM();
    char *p = d->cols_mem;
    for (size_t i = 0; i < d->sp.n; i++) {
        const ml__field *f = &d->sp.fields[i];
        memcpy(p, f->s, f->len);
        p[f->len] = '\0';
        d->cols[i] = (ml__field){p, f->len};
        ml__trim(&d->cols[i].s, &d->cols[i].len);
        p += f->len + 1;
    }
    d->n_cols = d->sp.n;
    return ML_OK;
}

/* A '#' line before the header is a comment ("# Constructed from biom file") unless its
 * first cell is a known row-name header such as "#OTU ID" or "#SampleID". The cell ends at
 * any usual separator, so that a CSV read as TSV fails on its header, not on a data row. */
static bool is_header_comment(const char *line, size_t n) {
    size_t cell = 0;
    while (cell < n && line[cell] != '\t' && line[cell] != ',' && line[cell] != ';') cell++;
    return is_word(line, cell, feature_row_headers) || is_word(line, cell, sample_row_headers);
}

static ml_status read_header(delim *d) {
    const char *line;
    size_t n;
    while (ml__lines_next(&d->it, &line, &n)) {
        if (is_blank(line, n)) continue;
        if (line[0] == '#' && !is_header_comment(line, n)) continue;
        d->header_line = d->it.line_no;
        ML_TRY(split_line(d, line, n, d->header_line));
        ML_TRY(keep_header(d));
        if (d->n_cols < 2)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: header has only one column (expected a name "
                           "column and at least one value column; is the separator '%s'?)",
                           d->name, d->header_line, d->sep == ',' ? "," : "\\t");
        d->has_taxonomy = is_word(d->cols[d->n_cols - 1].s, d->cols[d->n_cols - 1].len,
                                  taxonomy_headers);
        d->n_values = d->n_cols - 1 - (d->has_taxonomy ? 1 : 0);
        if (d->n_values == 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: header has a name and a taxonomy column but no "
                           "value column (expected at least one sample or feature column)",
                           d->name, d->header_line);
        return ML_OK;
    }
    return ML_FAIL(ML_EFORMAT, "%s: no header line (expected a header row of column names, "
                   "then one row per sample or feature)", d->name);
}

static bool is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool is_dna(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr("ACGTacgt", s[i]) || s[i] == '\0') return false;
    return true;
}

static bool has_prefix_nocase(const char *s, size_t n, const char *prefix) {
    size_t p = strlen(prefix);
    return n >= p && ml__field_eq_nocase(s, p, prefix);
}

/* Taxa (k__..s__ components, ';' or '|' lineages, which also covers MicrobeAtlas
 * "90_217;96_789;97_918"), OTU/ASV names, MD5/SHA-256 ASV digests and raw ASV sequences. */
static bool looks_like_feature(const char *s, size_t n) {
    if (n >= 3 && strchr("kdpcofgst", s[0]) && s[0] != '\0' && s[1] == '_' && s[2] == '_')
        return true;
    if (memchr(s, ';', n) || memchr(s, '|', n)) return true;
    if (has_prefix_nocase(s, n, "OTU") || has_prefix_nocase(s, n, "ASV")) return true;
    if ((n == 32 || n == 64) && is_hex(s, n)) return true;
    return n >= DNA_ID_MIN_LEN && is_dna(s, n);
}

/* The row name of a line without splitting all of it (only a quoted CSV cell needs that). */
static ml_status first_cell(delim *d, const char *line, size_t n, size_t line_no,
                            const char **s, size_t *len) {
    if (d->sep == ',' && n > 0 && line[0] == '"') {
        ML_TRY(split_line(d, line, n, line_no));
        *s = d->sp.fields[0].s;
        *len = d->sp.fields[0].len;
    } else {
        const char *end = memchr(line, d->sep, n);
        *s = line;
        *len = end ? (size_t)(end - line) : n;
    }
    ml__trim(s, len);
    return ML_OK;
}

static ml_status count_axes(delim *d, const ml__strmap *hints, axis_counts *c) {
    ml__lines it = d->it;
    const char *line, *s;
    size_t n, len, v;
    while (ml__lines_next(&it, &line, &n) && !is_blank(line, n)) {
        ML_TRY(first_cell(d, line, n, it.line_no, &s, &len));
        c->n_rows++;
        c->rows_feature_like += looks_like_feature(s, len);
        c->rows_hinted += hints && ml__strmap_get(hints, s, len, &v);
    }
    for (size_t j = 1; j <= d->n_values; j++) {
        c->cols_feature_like += looks_like_feature(d->cols[j].s, d->cols[j].len);
        c->cols_hinted += hints && ml__strmap_get(hints, d->cols[j].s, d->cols[j].len, &v);
    }
    return ML_OK;
}

static ml_status hint_map(ml__strmap *m, const ml_table_read_options *o) {
    size_t existing;
    for (size_t i = 0; i < o->n_hint_sample_ids; i++) {
        const char *id = o->hint_sample_ids[i];
        if (id) ML_TRY(ml__strmap_put(m, id, strlen(id), i, &existing));
    }
    return ML_OK;
}

static void set_note(delim *d, bool samples_are_rows, const char *fmt, ...) ML_PRINTF(3, 4);
static void set_note(delim *d, bool samples_are_rows, const char *fmt, ...) {
    int k = snprintf(d->note, sizeof d->note, "samples as %s: ",
                     samples_are_rows ? "rows" : "columns");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->note + k, sizeof d->note - (size_t)k, fmt, ap);
    va_end(ap);
    d->samples_are_rows = samples_are_rows;
}

/* Rules 2-4 of the orientation order: label IDs, then name patterns, then axis lengths. */
static void decide_by_names(delim *d, const axis_counts *c) {
    size_t n_cols = d->n_values;
    if (c->rows_hinted != c->cols_hinted) {
        bool rows = c->rows_hinted > c->cols_hinted;
        set_note(d, rows, "%zu of %zu row names and %zu of %zu column names match sample IDs "
                 "from the labels", c->rows_hinted, c->n_rows, c->cols_hinted, n_cols);
        return;
    }
    double row_share = c->n_rows ? (double)c->rows_feature_like / (double)c->n_rows : 0.0;
    double col_share = (double)c->cols_feature_like / (double)n_cols;
    if ((row_share > FEATURE_LIKE_MIN_SHARE || col_share > FEATURE_LIKE_MIN_SHARE) &&
        row_share != col_share) {
        bool rows = col_share > row_share;
        set_note(d, rows, "%zu of %zu %s names look like taxa or OTU/ASV IDs (%zu of %zu %s "
                 "names do)", rows ? c->cols_feature_like : c->rows_feature_like,
                 rows ? n_cols : c->n_rows, rows ? "column" : "row",
                 rows ? c->rows_feature_like : c->cols_feature_like,
                 rows ? c->n_rows : n_cols, rows ? "row" : "column");
        return;
    }
    /* Microbiome tables usually list more taxa than samples; ties keep QIIME's layout. */
    bool rows = n_cols > c->n_rows;
    set_note(d, rows, "neither header nor names decided, so the longer axis (%zu rows, %zu "
             "columns) is taken as features; pass --samples-as-rows or --samples-as-columns "
             "if this is wrong", c->n_rows, n_cols);
}

static ml_status decide_orientation(delim *d, const ml_table_read_options *o) {
    const ml__field *corner = &d->cols[0], *last = &d->cols[d->n_cols - 1];
    char shown[SHOW_MAX];
    ml__sanitize(shown, sizeof shown, corner->s, corner->len);
    if (o->orientation == ML_ORIENT_SAMPLES_AS_ROWS) {
        set_note(d, true, "set by the caller (--samples-as-rows)");
    } else if (o->orientation == ML_ORIENT_SAMPLES_AS_COLUMNS) {
        set_note(d, false, "set by the caller (--samples-as-columns)");
    } else if (is_word(corner->s, corner->len, feature_row_headers)) {
        if (ml__field_eq_nocase(corner->s, corner->len, "#OTU ID"))
            set_note(d, false, "header cell \"#OTU ID\" is QIIME's features-as-rows layout");
        else
            set_note(d, false, "header cell \"%s\" names the feature column, so features are "
                     "rows", shown);
    } else if (is_word(corner->s, corner->len, sample_row_headers)) {
        set_note(d, true, "header cell \"%s\" names the sample column, so samples are rows",
                 shown);
    } else if (d->has_taxonomy) {
        ml__sanitize(shown, sizeof shown, last->s, last->len);
        set_note(d, false, "the last column \"%s\" holds lineages, so features are rows",
                 shown);
    } else {
        ml__strmap hints = ML__STRMAP_INIT;
        axis_counts c = {0, 0, 0, 0, 0};
        ml_status st = hint_map(&hints, o);
        if (st == ML_OK) st = count_axes(d, o->n_hint_sample_ids ? &hints : NULL, &c);
        ml__strmap_free(&hints);
        if (st != ML_OK) return st;
        decide_by_names(d, &c);
    }
    if (d->has_taxonomy && d->samples_are_rows) {
        ml__sanitize(shown, sizeof shown, last->s, last->len);
        return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: column \"%s\" holds lineages, which needs "
                       "features as rows, but samples are rows here (%s; expected the "
                       "taxonomy column only in a features-as-rows table)", d->name,
                       d->header_line, d->n_cols, shown, d->note);
    }
    return ML_OK;
}

/* The header's value cells become samples (features as rows) or features. */
static ml_status add_columns(delim *d, ml__table_builder *tb) {
    for (size_t j = 1; j <= d->n_values; j++) {
        const ml__field *f = &d->cols[j];
        size_t idx, dup;
        if (f->len == 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: empty %s ID in the header (expected a "
                           "name for every column)", d->name, d->header_line, j + 1,
                           d->samples_are_rows ? "feature" : "sample");
        if (d->samples_are_rows) {
            ML_TRY(ml__tb_add_feature(tb, f->s, f->len, NULL, &idx, &dup));
            /* IDs are not echoed: if the orientation was guessed wrong they are samples */
            if (dup != SIZE_MAX)
                return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: duplicate feature ID (first seen at "
                               "column %zu; expected each feature once)", d->name,
                               d->header_line, j + 1, dup + 2);
        } else {
            ML_TRY(ml__tb_add_sample(tb, f->s, f->len, &idx, &dup));
            if (dup != SIZE_MAX)
                return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: duplicate sample ID (first seen at "
                               "column %zu; expected each sample once)", d->name,
                               d->header_line, j + 1, dup + 2);
        }
    }
    return ML_OK;
}

/* Copies the row's lineage cell into d->tax; *tax is NULL for an empty cell. */
static ml_status row_taxonomy(delim *d, const char **tax) {
    const char *s = d->sp.fields[d->n_cols - 1].s;
    size_t n = d->sp.fields[d->n_cols - 1].len;
    ml__trim(&s, &n);
    *tax = NULL;
    if (n == 0) return ML_OK;
    if (d->tax_cap < n + 1) {
        char *p = realloc(d->tax, n + 1);
        if (!p) return ML_NOMEM();
        d->tax = p;
        d->tax_cap = n + 1;
    }
    memcpy(d->tax, s, n);
    d->tax[n] = '\0';
    *tax = d->tax;
    return ML_OK;
}

/* Rows follow the header without gaps, so row r sits on line header_line + 1 + r. */
static ml_status add_row_name(delim *d, ml__table_builder *tb, size_t line_no, size_t *idx) {
    const char *id = d->sp.fields[0].s;
    size_t len = d->sp.fields[0].len, dup;
    ml__trim(&id, &len);
    const char *what = d->samples_are_rows ? "sample" : "feature";
    if (len == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:1: empty %s ID (expected a name in the first "
                       "column)", d->name, line_no, what);
    if (d->samples_are_rows) {
        ML_TRY(ml__tb_add_sample(tb, id, len, idx, &dup));
        if (dup != SIZE_MAX)
            return ML_FAIL(ML_EFORMAT, "%s:%zu:1: duplicate sample ID (first seen on line %zu; "
                           "expected each sample once)", d->name, line_no,
                           d->header_line + 1 + dup);
        return ML_OK;
    }
    const char *tax = NULL;
    if (d->has_taxonomy) ML_TRY(row_taxonomy(d, &tax));
    ML_TRY(ml__tb_add_feature(tb, id, len, tax, idx, &dup));
    if (dup != SIZE_MAX) /* not echoed: with a wrong orientation guess it is a sample ID */
        return ML_FAIL(ML_EFORMAT, "%s:%zu:1: duplicate feature ID (first seen on line %zu; "
                       "expected each feature once)", d->name, line_no, d->header_line + 1 + dup);
    return ML_OK;
}

static ml_status add_row(delim *d, ml__table_builder *tb, const char *line, size_t n,
                         size_t line_no) {
    ML_TRY(split_line(d, line, n, line_no));
    if (d->sp.n != d->n_cols)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: %zu fields, header has %zu (expected one field per "
                       "column)", d->name, line_no, d->sp.n, d->n_cols);
    size_t idx;
    ML_TRY(add_row_name(d, tb, line_no, &idx));
    for (size_t j = 1; j <= d->n_values; j++) {
        double v;
        ML_TRY(cell_value(d, &v, &d->sp.fields[j], line_no, j + 1));
        if (d->samples_are_rows)
            ML_TRY(ml__tb_add_value(tb, idx, j - 1, v));
        else
            ML_TRY(ml__tb_add_value(tb, j - 1, idx, v));
    }
    return ML_OK;
}

static ml_status read_rows(delim *d, ml__table_builder *tb) {
    const char *line;
    size_t n, n_rows = 0, blank_line = 0;
    while (ml__lines_next(&d->it, &line, &n)) {
        if (is_blank(line, n)) {
            if (!blank_line) blank_line = d->it.line_no;
            continue;
        }
        if (blank_line)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: blank line inside the table (expected rows "
                           "without gaps; blank lines may only end the file)", d->name,
                           blank_line);
        ML_TRY(add_row(d, tb, line, n, d->it.line_no));
        n_rows++;
    }
    if (n_rows == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: header but no data rows (expected at least one "
                       "row of values after the header)", d->name, d->header_line);
    return ML_OK;
}

static void append_taxonomy_note(delim *d) {
    if (!d->has_taxonomy) return;
    size_t k = strlen(d->note);
    snprintf(d->note + k, sizeof d->note - k, "; column %zu read as feature taxonomy",
             d->n_cols);
}

ml_status ml__delim_parse(ml_table **out, const char *buf, size_t len, const char *name,
                          char sep, const ml_table_read_options *o) {
    ml_table_read_options defaults = ML_TABLE_READ_OPTIONS_INIT;
    delim d;
    memset(&d, 0, sizeof d);
    d.name = name ? name : "(table)";
    d.sep = sep;
    d.sp = (ml__splitter)ML__SPLITTER_INIT;
    ml__lines_init(&d.it, buf, len);
    if (!o) o = &defaults;
    d.allow_negative = o->allow_negative;
    ml__table_builder *tb = NULL;
    ml_status st = ML_OK;
    if (sep != '\t' && sep != ',') {
        st = ML_FAIL(ML_EINVAL, "%s: separator must be a tab or a comma", d.name);
        goto done;
    }
    if ((st = read_header(&d)) != ML_OK) goto done;
    if ((st = decide_orientation(&d, o)) != ML_OK) goto done;
    if ((st = ml__tb_new(&tb)) != ML_OK) goto done;
    if ((st = add_columns(&d, tb)) != ML_OK) goto done;
    if ((st = read_rows(&d, tb)) != ML_OK) goto done;
    append_taxonomy_note(&d);
    st = ml__tb_finish(tb, d.name, sep == ',' ? "csv" : "tsv", d.note, out);
    tb = NULL; /* consumed whatever the result */
done:
    ml__tb_free(tb);
    ml__splitter_free(&d.sp);
    free(d.cols);
    free(d.cols_mem);
    free(d.tax);
    return st;
}
