/* metaphlan.c - MetaPhlAn 2/3/4 single and merged profiles, keeping the rows of one rank; it
 * does not renormalise abundances or rebuild missing ranks from their children. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/delim.h"
#include "data/readers.h"
#include "data/table.h"
#include "util/error.h"
#include "util/strmap.h"
#include "util/text.h"

#define SHOW_MAX 81     /* bytes of a clade echoed in a message; lineages are long */
#define SNIFF_LINES 20  /* the sniffer looks no further: it runs on every table read */
#define RANK_NONE (-1)  /* UNCLASSIFIED/UNKNOWN rows: reads MetaPhlAn could not place */

typedef enum layout { LAYOUT_UNKNOWN, LAYOUT_SINGLE, LAYOUT_MERGED } layout;

typedef struct mpa {
    const char *name;
    ml_rank rank;
    ml__splitter sp;
    ml__strmap clades;    /* every clade seen -> its line; keys point into the input */
    layout kind;
    size_t header_line;   /* 0 for a headerless MetaPhlAn 2 profile */
    size_t n_fields;      /* header width */
    size_t first_value;   /* merged: column of the first sample; single: the value column */
    size_t n_samples;
    const char *sid;      /* single profile: the "#SampleID" value if it is a real name */
    size_t sid_len;
    unsigned ranks_seen;  /* bit r set when a row ends at rank r */
    size_t n_clades, n_kept;
    char *tax;            /* NUL-terminated copy of the current clade */
    size_t tax_cap;
} mpa;

/* What a row must end with for each ml_rank; GTDB-style profiles say d__ for the domain. */
static const char rank_letters[] = "kpcofgst";
static const char *const rank_suffix_text[] = {"k__ or d__", "p__", "c__", "o__",
                                               "f__", "g__", "s__", "t__"};
#define N_RANKS 8

static bool starts_nocase(const char *s, size_t n, const char *prefix) {
    size_t p = strlen(prefix);
    return n >= p && ml__field_eq_nocase(s, p, prefix);
}

static bool ends_nocase(const char *s, size_t n, const char *suffix) {
    size_t p = strlen(suffix);
    return n >= p && ml__field_eq_nocase(s + n - p, p, suffix);
}

/* The rank of a clade's last component (components split on '|', or ';' in GTDB-style
 * profiles); RANK_NONE for the unclassified row. False if it is no lineage at all. */
static bool clade_rank(const char *s, size_t n, int *rank) {
    if (ml__field_eq_nocase(s, n, "UNCLASSIFIED") || ml__field_eq_nocase(s, n, "UNKNOWN")) {
        *rank = RANK_NONE;
        return true;
    }
    size_t start = n;
    while (start > 0 && s[start - 1] != '|') start--;
    if (start == 0) {
        start = n;
        while (start > 0 && s[start - 1] != ';') start--;
    }
    const char *c = s + start;
    size_t len = n - start;
    ml__trim(&c, &len);
    if (len < 3 || c[0] == '\0' || c[1] != '_' || c[2] != '_') return false;
    const char *hit = strchr(rank_letters, c[0] == 'd' ? 'k' : c[0]);
    if (!hit) return false;
    *rank = (int)(hit - rank_letters);
    return true;
}

static ml_status split_tab(mpa *m, const char *line, size_t n) {
    return ml__split(&m->sp, line, n, '\t', false);
}

static void cell(const mpa *m, size_t i, ml__field *trimmed) {
    *trimmed = m->sp.fields[i];
    ml__trim(&trimmed->s, &trimmed->len);
}

/* A single profile is named by "#SampleID NAME", else by its file name without folders and
 * extensions ("out/S1.metaphlan.txt" -> "S1"), which is what merge_metaphlan_tables.py uses. */
static ml_status add_single_sample(mpa *m, ml__table_builder *tb) {
    const char *s = m->sid;
    size_t n = m->sid_len, idx, dup;
    if (!s) {
        const char *base = m->name;
        for (const char *p = m->name; *p; p++)
            if (*p == '/' || *p == '\\') base = p + 1;
        const char *dot = strchr(base, '.');
        n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        s = n ? base : "sample";
        n = n ? n : strlen("sample");
    }
    m->kind = LAYOUT_SINGLE;
    m->n_samples = 1;
    return ml__tb_add_sample(tb, s, n, &idx, &dup);
}

static ml_status add_merged_samples(mpa *m, ml__table_builder *tb) {
    ml__field f;
    size_t first = 1, idx, dup;
    if (m->sp.n >= 2) {
        cell(m, 1, &f);
        if (ml__field_eq_nocase(f.s, f.len, "NCBI_tax_id") ||
            ml__field_eq_nocase(f.s, f.len, "clade_taxid"))
            first = 2;
    }
    if (first >= m->sp.n)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: header has no sample columns (expected clade_name "
                       "then one column per sample)", m->name, m->header_line);
    for (size_t j = first; j < m->sp.n; j++) {
        cell(m, j, &f);
        if (f.len == 0)
            return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: empty sample ID in the header (expected a "
                           "name for every column)", m->name, m->header_line, j + 1);
        ML_TRY(ml__tb_add_sample(tb, f.s, f.len, &idx, &dup));
        if (dup != SIZE_MAX)
            return ML_FAIL(ML_EFORMAT, "%s:%zu:%zu: duplicate sample ID (first seen at column "
                           "%zu; expected each sample once)", m->name, m->header_line, j + 1,
                           first + dup + 1);
    }
    m->kind = LAYOUT_MERGED;
    m->first_value = first;
    m->n_samples = m->sp.n - first;
    return ML_OK;
}

/* The split line is a header: a "relative_abundance" column makes it a single profile
 * (MetaPhlAn 3/4 "#clade_name NCBI_tax_id relative_abundance additional_species"),
 * otherwise every column after the clade (and taxid) column is a sample. */
static ml_status set_header(mpa *m, ml__table_builder *tb, size_t line_no) {
    ml__field f;
    m->header_line = line_no;
    m->n_fields = m->sp.n;
    for (size_t j = 1; j < m->sp.n; j++) {
        cell(m, j, &f);
        if (ml__field_eq_nocase(f.s, f.len, "relative_abundance")) {
            m->first_value = j;
            return add_single_sample(m, tb);
        }
    }
    return add_merged_samples(m, tb);
}

static bool is_analysis_label(const char *s, size_t n) {
    return starts_nocase(s, n, "metaphlan") && ends_nocase(s, n, "_analysis");
}

/* '#' lines before the header: "#SampleID NAME" names a single profile (a wider one is an
 * old merged header), "#clade_name ..." is the header, anything else is a comment. */
static ml_status on_comment(mpa *m, ml__table_builder *tb, const char *line, size_t n,
                            size_t line_no) {
    ml__field f;
    ML_TRY(split_tab(m, line, n));
    cell(m, 0, &f);
    if (ml__field_eq_nocase(f.s, f.len, "#SampleID")) {
        if (m->sp.n > 2) return set_header(m, tb, line_no);
        if (m->sp.n < 2) return ML_OK;
        cell(m, 1, &f);
        if (f.len > 0 && !is_analysis_label(f.s, f.len)) {
            m->sid = f.s;
            m->sid_len = f.len;
        }
        return ML_OK;
    }
    if (ml__field_eq_nocase(f.s, f.len, "#clade_name")) return set_header(m, tb, line_no);
    return ML_OK;
}

/* The first non-comment line: a header ("clade_name", MetaPhlAn 2 merged "ID", or any
 * first cell that is no lineage), else the first row of a headerless MetaPhlAn 2 profile. */
static ml_status on_first_row(mpa *m, ml__table_builder *tb, size_t line_no, bool *is_header) {
    ml__field f;
    int rank;
    cell(m, 0, &f);
    *is_header = ml__field_eq_nocase(f.s, f.len, "clade_name") ||
                 ml__field_eq_nocase(f.s, f.len, "ID") || !clade_rank(f.s, f.len, &rank);
    if (*is_header) return set_header(m, tb, line_no);
    if (m->sp.n != 2)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: %zu fields and no clade_name header (expected a "
                       "\"#clade_name\" header, or MetaPhlAn 2 \"clade<TAB>abundance\" rows)",
                       m->name, line_no, m->sp.n);
    m->n_fields = 2;
    m->first_value = 1;
    return add_single_sample(m, tb);
}

static ml_status check_width(const mpa *m, size_t line_no) {
    size_t n = m->sp.n;
    if (m->kind == LAYOUT_MERGED && n != m->n_fields)
        return ML_FAIL(ML_EFORMAT, "%s:%zu: %zu fields, header has %zu (expected one field per "
                       "column)", m->name, line_no, n, m->n_fields);
    /* single profiles may drop the empty trailing additional_species cell */
    if (m->kind == LAYOUT_SINGLE && (n <= m->first_value || n > m->n_fields))
        return ML_FAIL(ML_EFORMAT, "%s:%zu: %zu fields, header has %zu (expected the clade and "
                       "its relative abundance in column %zu)", m->name, line_no, n,
                       m->n_fields, m->first_value + 1);
    return ML_OK;
}

static ml_status keep_clade(mpa *m, ml__table_builder *tb, const ml__field *clade,
                            size_t *idx) {
    size_t dup;
    if (m->tax_cap < clade->len + 1) {
        char *p = realloc(m->tax, clade->len + 1);
        if (!p) return ML_NOMEM();
        m->tax = p;
        m->tax_cap = clade->len + 1;
    }
    memcpy(m->tax, clade->s, clade->len);
    m->tax[clade->len] = '\0';
    ML_TRY(ml__tb_add_feature(tb, clade->s, clade->len, m->tax, idx, &dup));
    m->n_kept++;
    return ML_OK; /* dup cannot happen: every clade went through m->clades first */
}

/* Registers the clade; ML_EFORMAT if it is empty, no lineage, or seen before. */
static ml_status check_clade(mpa *m, const ml__field *clade, size_t line_no, int *rank) {
    char shown[SHOW_MAX];
    size_t first;
    if (clade->len == 0)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:1: empty clade name (expected a lineage such as "
                       "k__Bacteria|p__Firmicutes)", m->name, line_no);
    ml__sanitize(shown, sizeof shown, clade->s, clade->len);
    if (!clade_rank(clade->s, clade->len, rank))
        return ML_FAIL(ML_EFORMAT, "%s:%zu:1: clade \"%s\" does not end in a rank component "
                       "(expected a lineage such as k__Bacteria|p__Firmicutes, or "
                       "UNCLASSIFIED)", m->name, line_no, shown);
    ML_TRY(ml__strmap_put(&m->clades, clade->s, clade->len, line_no, &first));
    if (first != SIZE_MAX)
        return ML_FAIL(ML_EFORMAT, "%s:%zu:1: clade \"%s\" appears twice (first on line %zu; "
                       "expected each lineage once)", m->name, line_no, shown, first);
    return ML_OK;
}

static ml_status data_row(mpa *m, ml__table_builder *tb, size_t line_no) {
    ml__field clade;
    int rank;
    size_t idx = 0;
    ML_TRY(check_width(m, line_no));
    cell(m, 0, &clade);
    ML_TRY(check_clade(m, &clade, line_no, &rank));
    m->n_clades++;
    if (rank != RANK_NONE) m->ranks_seen |= 1u << rank;
    /* Only rows ending at the chosen rank are kept: higher rows are sums of lower ones, so
     * keeping g__ beside s__ (or s__ beside t__) would count the same reads twice. */
    bool keep = rank == (int)m->rank;
    if (keep) ML_TRY(keep_clade(m, tb, &clade, &idx));
    size_t n_values = m->kind == LAYOUT_MERGED ? m->n_samples : 1;
    for (size_t j = 0; j < n_values; j++) {
        size_t col = m->first_value + j;
        double v;
        ML_TRY(ml__delim_value(&v, m->sp.fields[col].s, m->sp.fields[col].len, m->name, line_no,
                               col + 1, "relative abundance"));
        if (keep) ML_TRY(ml__tb_add_value(tb, j, idx, v));
    }
    return ML_OK;
}

static ml_status on_line(mpa *m, ml__table_builder *tb, const char *line, size_t n,
                         size_t line_no) {
    if (line[0] == '#') /* comments after the header carry no data */
        return m->kind == LAYOUT_UNKNOWN ? on_comment(m, tb, line, n, line_no) : ML_OK;
    ML_TRY(split_tab(m, line, n));
    if (m->kind == LAYOUT_UNKNOWN) {
        bool is_header;
        ML_TRY(on_first_row(m, tb, line_no, &is_header));
        if (is_header) return ML_OK;
    }
    return data_row(m, tb, line_no);
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

static ml_status read_lines(mpa *m, ml__table_builder *tb, const char *buf, size_t len) {
    ml__lines it;
    const char *line;
    size_t n, blank_line = 0;
    ml__lines_init(&it, buf, len);
    while (ml__lines_next(&it, &line, &n)) {
        if (is_blank(line, n)) {
            if (!blank_line && m->kind != LAYOUT_UNKNOWN) blank_line = it.line_no;
            continue;
        }
        if (blank_line)
            return ML_FAIL(ML_EFORMAT, "%s:%zu: blank line inside the profile (expected rows "
                           "without gaps; blank lines may only end the file)", m->name,
                           blank_line);
        ML_TRY(on_line(m, tb, line, n, it.line_no));
    }
    if (m->n_clades == 0)
        return ML_FAIL(ML_EFORMAT, "%s: no clade rows (expected lines such as "
                       "\"k__Bacteria<TAB>100.0\" after the header)", m->name);
    return ML_OK;
}

static ml_status rank_missing(const mpa *m) {
    char present[128] = "none";
    size_t k = 0;
    for (int r = 0; r < N_RANKS; r++) {
        if (!(m->ranks_seen & (1u << r))) continue;
        int w = snprintf(present + k, sizeof present - k, "%s%s", k ? ", " : "",
                         ml_rank_name((ml_rank)r));
        if (w > 0) k += (size_t)w;
    }
    return ML_FAIL(ML_EFORMAT, "%s: no row at rank %s (rows ending in %s); ranks present: %s "
                   "(expected a rank the profile has)", m->name, ml_rank_name(m->rank),
                   rank_suffix_text[m->rank], present);
}

ml_status ml__metaphlan_parse(ml_table **out, const char *buf, size_t len, const char *name,
                              const ml_table_read_options *o) {
    ml_table_read_options defaults = ML_TABLE_READ_OPTIONS_INIT;
    if (!o) o = &defaults;
    mpa m;
    memset(&m, 0, sizeof m);
    m.name = name ? name : "(profile)";
    m.rank = o->rank;
    m.sp = (ml__splitter)ML__SPLITTER_INIT;
    m.clades = (ml__strmap)ML__STRMAP_INIT;
    ml__table_builder *tb = NULL;
    ml_status st;
    char note[256];
    if ((unsigned)o->rank >= N_RANKS) {
        st = ML_FAIL(ML_EINVAL, "%s: rank %d is not a known rank (expected kingdom .. strain)",
                     m.name, (int)o->rank);
        goto done;
    }
    if ((st = ml__tb_new(&tb)) != ML_OK) goto done;
    if ((st = read_lines(&m, tb, buf, len)) != ML_OK) goto done;
    if (m.n_kept == 0) {
        st = rank_missing(&m);
        goto done;
    }
    snprintf(note, sizeof note, "MetaPhlAn %s, %zu sample%s; rank %s (rows ending in %s), %zu "
             "of %zu clades kept", m.kind == LAYOUT_MERGED ? "merged profile" : "profile",
             m.n_samples, m.n_samples == 1 ? "" : "s", ml_rank_name(m.rank),
             rank_suffix_text[m.rank], m.n_kept, m.n_clades);
    st = ml__tb_finish(tb, m.name, "metaphlan", note, out);
    tb = NULL; /* consumed whatever the result */
done:
    ml__tb_free(tb);
    ml__splitter_free(&m.sp);
    ml__strmap_free(&m.clades);
    free(m.tax);
    return st;
}

/* One line's verdict for the sniffer: a MetaPhlAn marker, or a pipe lineage row. */
static bool sniff_line(const char *line, size_t n) {
    if (starts_nocase(line, n, "#mpa_")) return true;
    const char *tab = memchr(line, '\t', n);
    size_t first = tab ? (size_t)(tab - line) : n;
    const char *s = line;
    size_t len = first;
    ml__trim(&s, &len);
    if (ml__field_eq_nocase(s, len, "clade_name") || ml__field_eq_nocase(s, len, "#clade_name"))
        return true;
    if (ml__field_eq_nocase(s, len, "#SampleID") && tab) {
        const char *v = tab + 1, *end = memchr(v, '\t', n - first - 1);
        size_t vlen = end ? (size_t)(end - v) : n - first - 1;
        ml__trim(&v, &vlen);
        return is_analysis_label(v, vlen);
    }
    /* QIIME taxonomy columns ("k__Bacteria; p__...") sit in the last column and use "; ",
     * so only a first cell that starts a pipe lineage counts. */
    return (starts_nocase(s, len, "k__") || starts_nocase(s, len, "d__")) &&
           memchr(s, '|', len) != NULL;
}

bool ml__metaphlan_sniff(const char *buf, size_t len) {
    ml__lines it;
    const char *line;
    size_t n;
    ml__lines_init(&it, buf, len);
    for (int i = 0; i < SNIFF_LINES && ml__lines_next(&it, &line, &n); i++)
        if (sniff_line(line, n)) return true;
    return false;
}
