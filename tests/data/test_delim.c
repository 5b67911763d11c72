/* test_delim.c - what delim.c promises: both orientations and why, QIIME layouts, CSV quoting,
 * and a located, ID-free message for every malformed table. */
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "microlens/table.h"
#include "ml_test.h"
#include "util/fileio.h"

/* A sample ID that must never show up in a message. */
#define SECRET_ID "PATIENT_7781"

static ml_status parse_o(ml_table **t, const char *text, char sep, ml_orientation orient,
                         const char *const *hints, size_t n_hints) {
    ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
    o.orientation = orient;
    o.hint_sample_ids = hints;
    o.n_hint_sample_ids = n_hints;
    return ml__delim_parse(t, text, strlen(text), sep == ',' ? "t.csv" : "t.tsv", sep, &o);
}

static ml_status parse(ml_table **t, const char *text, char sep) {
    return parse_o(t, text, sep, ML_ORIENT_AUTO, NULL, 0);
}

static size_t sample_index(const ml_table *t, const char *id) {
    for (size_t i = 0; i < ml_table_n_samples(t); i++)
        if (strcmp(ml_table_sample_raw_id(t, i), id) == 0) return i;
    return SIZE_MAX;
}

static size_t feature_index(const ml_table *t, const char *id) {
    for (size_t j = 0; j < ml_table_n_features(t); j++)
        if (strcmp(ml_table_feature_id(t, j), id) == 0) return j;
    return SIZE_MAX;
}

/* -1 when the sample or feature is missing, so a lost row cannot read as a zero. */
static double value_of(const ml_table *t, const char *sample, const char *feature) {
    size_t i = sample_index(t, sample), j = feature_index(t, feature);
    if (i == SIZE_MAX || j == SIZE_MAX) return -1.0;
    const uint32_t *f;
    const double *v;
    size_t n;
    ml_table_row(t, i, &f, &v, &n);
    for (size_t k = 0; k < n; k++)
        if (f[k] == j) return v[k];
    return 0.0;
}

static int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_no_secret(void) { CHECK(!strstr(ml_error_last()->message, SECRET_ID)); }

static void test_delim__otu_id_header_means_features_as_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\nOTU1\t1\t0\nOTU2\t3\t4\nOTU3\t0\t2.5\n", '\t'),
                 ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_EQ_INT(ml_table_n_features(t), 3);
    CHECK_EQ_INT(ml_table_nnz(t), 4);
    CHECK_NEAR(value_of(t, "S2", "OTU2"), 4.0, 0);
    CHECK_NEAR(value_of(t, "S2", "OTU3"), 2.5, 0);
    CHECK_NEAR(value_of(t, "S1", "OTU3"), 0.0, 0);
    CHECK_STR(ml_table_layout_note(t),
              "samples as columns: header cell \"#OTU ID\" is QIIME's features-as-rows layout");
    CHECK_STR(ml_table_format_name(t), "tsv");
    CHECK(ml_table_feature_taxonomy(t, 0) == NULL);
    ml_table_free(t);
}

static void test_delim__biom_convert_comment_line_is_skipped(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "# Constructed from biom file\n#OTU ID\tS1\tS2\nOTU1\t1.0\t2.0\n",
                       '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_EQ_INT(ml_table_n_features(t), 1);
    CHECK_NEAR(value_of(t, "S2", "OTU1"), 2.0, 0);
    CHECK(starts_with(ml_table_layout_note(t), "samples as columns: header cell \"#OTU ID\""));
    ml_table_free(t);
}

static void test_delim__other_comment_lines_before_header_are_skipped(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "# exported 2024-01-01\n#\nfeature-id\tS1\nASV1\t5\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_NEAR(value_of(t, "S1", "ASV1"), 5.0, 0);
    CHECK_STR(ml_table_layout_note(t), "samples as columns: header cell \"feature-id\" names "
              "the feature column, so features are rows");
    ml_table_free(t);
}

static void test_delim__taxonomy_column_becomes_feature_taxonomy(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "# Constructed from biom file\n#OTU ID\tS1\tS2\ttaxonomy\n"
                       "OTU1\t1\t2\tk__Bacteria; p__Firmicutes\nOTU2\t0\t7\t\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK(sample_index(t, "taxonomy") == SIZE_MAX);
    CHECK_STR(ml_table_feature_taxonomy(t, feature_index(t, "OTU1")),
              "k__Bacteria; p__Firmicutes");
    CHECK(ml_table_feature_taxonomy(t, feature_index(t, "OTU2")) == NULL);
    CHECK_NEAR(value_of(t, "S2", "OTU2"), 7.0, 0);
    CHECK(strstr(ml_table_layout_note(t), "column 4 read as feature taxonomy") != NULL);
    ml_table_free(t);
}

static void test_delim__consensus_lineage_column_is_taxonomy(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID,S1,Consensus Lineage\n1,3,\"k__Bacteria; p__A\"\n", ','),
                 ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_STR(ml_table_feature_taxonomy(t, 0), "k__Bacteria; p__A");
    CHECK_STR(ml_table_format_name(t), "csv");
    ml_table_free(t);
}

static void test_delim__taxonomy_column_implies_features_as_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "name\tA\tB\tC\tTaxonomy\nx\t1\t2\t3\tk__B\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK_EQ_INT(ml_table_n_features(t), 1);
    CHECK(starts_with(ml_table_layout_note(t),
                      "samples as columns: the last column \"Taxonomy\" holds lineages"));
    ml_table_free(t);
}

static void test_delim__rejects_taxonomy_column_with_samples_as_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_o(&t, "x\tf1\tf2\ttaxonomy\ns1\t1\t2\tk__B\n", '\t',
                         ML_ORIENT_SAMPLES_AS_ROWS, NULL, 0), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1:4:");
    CHECK_ERR_CONTAINS("\"taxonomy\"");
    CHECK(t == NULL);
    CHECK_STATUS(parse(&t, "#SampleID\tf1\tConsensusLineage\ns1\t1\tk__B\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1:3:");
    CHECK_ERR_CONTAINS("ConsensusLineage");
}

static void test_delim__sample_header_means_samples_as_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#SampleID\tOTU1\tOTU2\tOTU3\nS1\t1\t2\t3\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_EQ_INT(ml_table_n_features(t), 3);
    CHECK_NEAR(value_of(t, "S1", "OTU3"), 3.0, 0);
    CHECK_STR(ml_table_layout_note(t), "samples as rows: header cell \"#SampleID\" names the "
              "sample column, so samples are rows");
    ml_table_free(t);
    CHECK_STATUS(parse(&t, "sample_id,a,b\nS1,1,2\nS2,3,4\nS3,5,6\n", ','), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK(starts_with(ml_table_layout_note(t), "samples as rows: header cell \"sample_id\""));
    ml_table_free(t);
}

static void test_delim__hint_ids_pick_the_sample_axis(void) {
    static const char *const hints[] = {"P1", "P2", "P3"};
    ml_table *t = NULL;
    /* 2 rows x 3 columns would otherwise be read with samples as rows (longer axis) */
    CHECK_STATUS(parse_o(&t, "x\tP1\tP2\tP3\nfa\t1\t2\t3\nfb\t4\t5\t6\n", '\t', ML_ORIENT_AUTO,
                         hints, 3), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK_STR(ml_table_layout_note(t), "samples as columns: 0 of 2 row names and 3 of 3 column "
              "names match sample IDs from the labels");
    ml_table_free(t);
    CHECK_STATUS(parse_o(&t, "x\ta\tb\nP1\t1\t2\nP2\t3\t4\nzz\t5\t6\n", '\t', ML_ORIENT_AUTO,
                         hints, 3), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK(starts_with(ml_table_layout_note(t), "samples as rows: 2 of 3 row names"));
    ml_table_free(t);
}

static void test_delim__feature_like_row_names_mean_features_as_rows(void) {
    ml_table *t = NULL;
    /* fewer rows than columns: only the names can say the rows are features */
    CHECK_STATUS(parse(&t, "\tA\tB\tC\tD\n"
                       "k__Bacteria;p__Firmicutes\t1\t2\t3\t4\n"
                       "90_217;96_789;97_918\t1\t2\t3\t4\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 4);
    CHECK_STR(ml_table_layout_note(t), "samples as columns: 2 of 2 row names look like taxa or "
              "OTU/ASV IDs (0 of 4 column names do)");
    ml_table_free(t);
}

static void test_delim__feature_like_column_names_mean_samples_as_rows(void) {
    ml_table *t = NULL;
    /* more rows than columns: the longer-axis rule alone would say the opposite */
    CHECK_STATUS(parse(&t, ",4b5eeb300368b3a4ab2a8b4a9d8c7e1f,"
                       "ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT,"
                       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
                       "a,1,2,3\nb,1,2,3\nc,1,2,3\nd,1,2,3\n", ','), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 4);
    CHECK_EQ_INT(ml_table_n_features(t), 3);
    CHECK_STR(ml_table_layout_note(t), "samples as rows: 3 of 3 column names look like taxa or "
              "OTU/ASV IDs (0 of 4 row names do)");
    ml_table_free(t);
}

static void test_delim__longer_axis_is_features_when_nothing_decides(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "x\ta\tb\nr1\t1\t2\nr2\t1\t2\nr3\t1\t2\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK(starts_with(ml_table_layout_note(t), "samples as columns: neither header nor names "
                      "decided, so the longer axis (3 rows, 2 columns) is taken as features"));
    CHECK(strstr(ml_table_layout_note(t), "--samples-as-rows or --samples-as-columns") != NULL);
    ml_table_free(t);
    CHECK_STATUS(parse(&t, "x\ta\tb\tc\nr1\t1\t2\t3\n", '\t'), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK(starts_with(ml_table_layout_note(t), "samples as rows: neither header"));
    ml_table_free(t);
}

static void test_delim__orientation_override_beats_the_header(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_o(&t, "#OTU ID\tS1\tS2\nOTU1\t1\t2\n", '\t', ML_ORIENT_SAMPLES_AS_ROWS,
                         NULL, 0), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK_NEAR(value_of(t, "OTU1", "S2"), 2.0, 0);
    CHECK_STR(ml_table_layout_note(t), "samples as rows: set by the caller (--samples-as-rows)");
    ml_table_free(t);
    CHECK_STATUS(parse_o(&t, "sample_id\ta\tb\nS1\t1\t2\n", '\t', ML_ORIENT_SAMPLES_AS_COLUMNS,
                         NULL, 0), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_STR(ml_table_layout_note(t),
              "samples as columns: set by the caller (--samples-as-columns)");
    ml_table_free(t);
}

static void test_delim__csv_quotes_follow_rfc4180(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "sample_id,\"f,1\",\"say \"\"hi\"\"\"\n\"S,1\",\"3\",4\n", ','),
                 ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK_NEAR(value_of(t, "S,1", "f,1"), 3.0, 0);
    CHECK_NEAR(value_of(t, "S,1", "say \"hi\""), 4.0, 0);
    ml_table_free(t);
}

static void test_delim__tsv_keeps_quotes_and_commas(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\t\"S,1\"\nOTU1\t2\n", '\t'), ML_OK);
    if (!t) return;
    CHECK(sample_index(t, "\"S,1\"") != SIZE_MAX);
    ml_table_free(t);
}

static void test_delim__crlf_bom_and_trailing_blank_lines(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "\xEF\xBB\xBF#OTU ID\tS1\r\nOTU1\t2\r\nOTU2\t3\r\n\r\n\n  \n", '\t'),
                 ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK(sample_index(t, "S1") == 0);
    CHECK_NEAR(value_of(t, "S1", "OTU2"), 3.0, 0);
    CHECK(starts_with(ml_table_layout_note(t), "samples as columns: header cell \"#OTU ID\""));
    ml_table_free(t);
}

static void test_delim__reads_qiime_fixture(void) {
    char *buf = NULL;
    size_t len;
    ml_table *t = NULL;
    const char *path = "tests/data/fixtures/delim/qiime_biom_convert.tsv";
    CHECK_STATUS(ml__file_read(path, 1 << 20, &buf, &len), ML_OK);
    if (!buf) return;
    CHECK_STATUS(ml__delim_parse(&t, buf, len, path, '\t', NULL), ML_OK);
    free(buf);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 4);
    CHECK_EQ_INT(ml_table_n_features(t), 5);
    CHECK_NEAR(ml_table_row_sum(t, sample_index(t, "S04")), 209.0, 0);
    CHECK_STR(ml_table_feature_taxonomy(t, feature_index(t, "4b5eeb300368b3a4ab2a8b4a9d8c7e1f")),
              "k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
              "f__Bacteroidaceae; g__Bacteroides; s__");
    ml_table_free(t);
}

/* ---- errors ---- */

static void test_delim__rejects_text_value(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\nOTU1\t1\t2\nOTU2\t3\tabc\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:3:3: \"abc\" is not a number (expected a non-negative count)");
    CHECK(t == NULL);
}

static void test_delim__rejects_negative_value(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\nOTU1\t-1.5\t2\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2:2: -1.5 is negative");
}

static void test_delim__rejects_nan_and_inf(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\nOTU1\tNaN\t2\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2:2: \"NaN\" is not a finite number");
    CHECK_STATUS(parse(&t, "#OTU ID,S1,S2\nOTU1,1,-inf\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2:3: \"-inf\" is not a finite number");
    CHECK_STATUS(parse(&t, "#OTU ID,S1\nOTU1,1e999\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2:2:");
}

static void test_delim__rejects_empty_cell(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\nOTU1\t\t2\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2:2: empty cell (expected a number");
}

static void test_delim__rejects_ragged_row(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\tS2\tS3\nOTU1\t1\t2\t3\nOTU2\t1\t2\n", '\t'),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:3: 3 fields, header has 4 (expected one field per column)");
}

static void test_delim__rejects_duplicate_sample_in_rows_without_echo(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "sample_id,a,b\n" SECRET_ID ",1,2\nS2,1,2\n" SECRET_ID ",3,4\n",
                       ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:4:1: duplicate sample ID (first seen on line 2");
    check_no_secret();
}

static void test_delim__rejects_duplicate_sample_in_header_without_echo(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\t" SECRET_ID "\tS2\t" SECRET_ID "\nOTU1\t1\t2\t3\n", '\t'),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1:4: duplicate sample ID (first seen at column 2");
    check_no_secret();
}

static void test_delim__rejects_duplicate_feature(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\nOTU1\t1\nOTU2\t1\nOTU1\t1\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:4:1: duplicate feature ID (first seen on line 2");
    CHECK_STATUS(parse(&t, "sample_id\tf1\tf2\tf1\ns\t1\t2\t3\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1:4: duplicate feature ID (first seen at column 2");
}

static void test_delim__rejects_empty_ids(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\n  \t1\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2:1: empty feature ID");
    CHECK_STATUS(parse(&t, "sample_id,a\n,1\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2:1: empty sample ID");
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\t\nOTU1\t1\t2\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1:3: empty sample ID in the header");
}

static void test_delim__rejects_header_without_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "# Constructed from biom file\n#OTU ID\tS1\tS2\n\n", '\t'),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2: header but no data rows");
}

static void test_delim__rejects_single_column(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID,S1\nOTU1,1\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1: header has only one column");
    CHECK_STATUS(parse(&t, "# note\nname\nOTU1\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2: header has only one column");
    CHECK_STATUS(parse(&t, "#OTU ID\ttaxonomy\nOTU1\tk__A\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:1: header has a name and a taxonomy column but no value column");
}

static void test_delim__rejects_blank_line_inside(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#OTU ID\tS1\nOTU1\t1\n\nOTU2\t1\n", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:3: blank line inside the table");
}

static void test_delim__rejects_empty_input(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "", '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv: no header line");
    CHECK_STATUS(parse(&t, "# only a comment\n\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv: no header line");
}

static void test_delim__rejects_unterminated_quote(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "sample_id,a\n\"S1,1\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2: column 1: unterminated quote");
    /* the pre-scan for orientation meets the same line first */
    CHECK_STATUS(parse(&t, "x,a\n\"S1,1\n", ','), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:2: column 1: unterminated quote");
}

static void test_delim__rejects_bad_separator_argument(void) {
    ml_table *t = NULL;
    CHECK_STATUS(ml__delim_parse(&t, "a;b\n", 4, "t.txt", ';', NULL), ML_EINVAL);
    CHECK(t == NULL);
}

/* Embeddings: samples as rows under a "sample" header, real values of either sign. */
#define EMBEDDINGS "sample\te0\te1\ns_0123456789abcdef\t-0.5\t1.25\ns_fedcba9876543210\t0\t-2e-3\n"

static ml_status parse_signed(ml_table **t, const char *text) {
    ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
    o.allow_negative = true;
    return ml__delim_parse(t, text, strlen(text), "e.tsv", '\t', &o);
}

static void test_delim__allow_negative_reads_embeddings_as_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_signed(&t, EMBEDDINGS), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK_NEAR(value_of(t, "s_0123456789abcdef", "e0"), -0.5, 0);
    CHECK_NEAR(value_of(t, "s_0123456789abcdef", "e1"), 1.25, 0);
    CHECK_NEAR(value_of(t, "s_fedcba9876543210", "e1"), -2e-3, 0);
    CHECK_EQ_INT(ml_table_nnz(t), 3); /* the 0 is not stored */
    CHECK(strstr(ml_table_layout_note(t), "samples as rows") != NULL);
    ml_table_free(t);
}

static void test_delim__negative_embeddings_refused_by_default_with_hint(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, EMBEDDINGS, '\t'), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.tsv:2:2: -0.5 is negative (expected a non-negative count;");
    CHECK_ERR_CONTAINS("allow_negative");
    CHECK(t == NULL);
}

static void test_delim__allow_negative_still_rejects_text_and_empty_cells(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_signed(&t, "sample\te0\nx1\t-abc\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("e.tsv:2:2: \"-abc\" is not a finite number (expected a finite number)");
    CHECK_STATUS(parse_signed(&t, "sample\te0\te1\nx1\t\t1\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("e.tsv:2:2: empty cell (expected a finite number)");
    CHECK_STATUS(parse_signed(&t, "sample\te0\nx1\t-inf\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("e.tsv:2:2: \"-inf\" is not a finite number");
    CHECK(t == NULL);
}

int main(void) {
    RUN(test_delim__otu_id_header_means_features_as_rows);
    RUN(test_delim__biom_convert_comment_line_is_skipped);
    RUN(test_delim__other_comment_lines_before_header_are_skipped);
    RUN(test_delim__taxonomy_column_becomes_feature_taxonomy);
    RUN(test_delim__consensus_lineage_column_is_taxonomy);
    RUN(test_delim__taxonomy_column_implies_features_as_rows);
    RUN(test_delim__rejects_taxonomy_column_with_samples_as_rows);
    RUN(test_delim__sample_header_means_samples_as_rows);
    RUN(test_delim__hint_ids_pick_the_sample_axis);
    RUN(test_delim__feature_like_row_names_mean_features_as_rows);
    RUN(test_delim__feature_like_column_names_mean_samples_as_rows);
    RUN(test_delim__longer_axis_is_features_when_nothing_decides);
    RUN(test_delim__orientation_override_beats_the_header);
    RUN(test_delim__csv_quotes_follow_rfc4180);
    RUN(test_delim__tsv_keeps_quotes_and_commas);
    RUN(test_delim__crlf_bom_and_trailing_blank_lines);
    RUN(test_delim__reads_qiime_fixture);
    RUN(test_delim__rejects_text_value);
    RUN(test_delim__rejects_negative_value);
    RUN(test_delim__rejects_nan_and_inf);
    RUN(test_delim__rejects_empty_cell);
    RUN(test_delim__rejects_ragged_row);
    RUN(test_delim__rejects_duplicate_sample_in_rows_without_echo);
    RUN(test_delim__rejects_duplicate_sample_in_header_without_echo);
    RUN(test_delim__rejects_duplicate_feature);
    RUN(test_delim__rejects_empty_ids);
    RUN(test_delim__rejects_header_without_rows);
    RUN(test_delim__rejects_single_column);
    RUN(test_delim__rejects_blank_line_inside);
    RUN(test_delim__rejects_empty_input);
    RUN(test_delim__rejects_unterminated_quote);
    RUN(test_delim__rejects_bad_separator_argument);
    RUN(test_delim__allow_negative_reads_embeddings_as_rows);
    RUN(test_delim__negative_embeddings_refused_by_default_with_hint);
    RUN(test_delim__allow_negative_still_rejects_text_and_empty_cells);
    TEST_MAIN_END();
}
