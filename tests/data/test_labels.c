/* test_labels.c - what labels.c promises: upstream CSV and QIIME 2 TSV, column choice, missing
 * values, and one-line FILE:LINE errors that never carry a sample ID. */
#include <stdlib.h>
#include <string.h>

#include "microlens/labels.h"
#include "ml_test.h"

#define FIXTURES "tests/data/fixtures/labels/"

/* Parses text with the given columns; returns the status, *out set only on success. */
static ml_status parse(ml_labels **out, const char *text, const char *label_col,
                       const char *group_col) {
    ml_labels_options o = ML_LABELS_OPTIONS_INIT;
    o.label_col = label_col;
    o.group_col = group_col;
    return ml_labels_parse(out, text, strlen(text), "t.csv", &o);
}

/* Expects failure with code and message fragment, and *out left untouched. */
static void check_rejects(const char *text, const char *label_col, const char *group_col,
                          ml_status code, const char *fragment) {
    ml_labels *sentinel = (ml_labels *)&sentinel, *l = sentinel;
    CHECK_STATUS(parse(&l, text, label_col, group_col), code);
    CHECK(l == sentinel);
    CHECK_ERR_CONTAINS(fragment);
}

static void test_labels__reads_upstream_csv_fixture(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_read(&l, FIXTURES "upstream.csv", NULL), ML_OK);
    if (!l) return;
    CHECK_EQ_INT(ml_labels_count(l), 4);
    CHECK_STR(ml_labels_id_column(l), "sid");
    CHECK_STR(ml_labels_label_column(l), "label");
    CHECK_STR(ml_labels_group_column(l), "group");
    CHECK_STR(ml_labels_raw_id(l, 0), "sample-01");
    CHECK_STR(ml_labels_value(l, 1), "Vaginal");
    CHECK(ml_labels_value(l, 2) == NULL); /* NA */
    CHECK_STR(ml_labels_group(l, 1), "patient-A");
    CHECK(ml_labels_group(l, 3) == NULL); /* empty */
    ml_labels_free(l);
}

static void test_labels__reads_qiime_tsv_with_types_and_comments(void) {
    ml_labels_options o = ML_LABELS_OPTIONS_INIT;
    o.group_col = "subject";
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_read(&l, FIXTURES "qiime.tsv", &o), ML_OK);
    if (!l) return;
    CHECK_EQ_INT(ml_labels_count(l), 2);
    CHECK_STR(ml_labels_id_column(l), "#SampleID");
    CHECK_STR(ml_labels_label_column(l), "delivery"); /* no "label": the first other column */
    CHECK_STR(ml_labels_group_column(l), "subject");
    CHECK_STR(ml_labels_value(l, 0), "Cesarean");
    CHECK(ml_labels_value(l, 1) == NULL); /* INSDC:missing term */
    CHECK_STR(ml_labels_group(l, 1), "patient-B");
    ml_labels_free(l);
}

static void test_labels__missing_file_is_notfound(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_read(&l, FIXTURES "absent.csv", NULL), ML_ENOTFOUND);
    CHECK_ERR_CONTAINS("absent.csv");
    CHECK(l == NULL);
}

static void test_labels__ragged_fixture_names_file_and_line(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_read(&l, FIXTURES "ragged.csv", NULL), ML_EFORMAT);
    CHECK_ERR_CONTAINS(FIXTURES "ragged.csv:3: 1 fields, header has 2");
    CHECK(strstr(ml_error_last()->message, "sample-02") == NULL);
}

static void test_labels__qiime_id_headers_are_case_insensitive(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "Sample-ID\tlabel\nx1\tA\n", NULL, NULL), ML_OK);
    if (l) CHECK_STR(ml_labels_id_column(l), "Sample-ID");
    ml_labels_free(l);
    l = NULL;
    CHECK_STATUS(parse(&l, "FEATURE ID,label\nx1,A\n", NULL, NULL), ML_OK);
    if (l) CHECK_STR(ml_labels_id_column(l), "FEATURE ID");
    ml_labels_free(l);
}

static void test_labels__id_alias_need_not_be_first(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "diagnosis,srs_id,group\nIBD,x1,p1\nCD,x2,p2\n", NULL, NULL), ML_OK);
    if (!l) return;
    CHECK_STR(ml_labels_id_column(l), "srs_id");
    CHECK_STR(ml_labels_label_column(l), "diagnosis");
    CHECK_STR(ml_labels_raw_id(l, 1), "x2");
    CHECK_STR(ml_labels_value(l, 1), "CD");
    ml_labels_free(l);
}

static void test_labels__hash_comment_before_header_is_skipped(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "# exported 2024\n\n#OTU ID\tlabel\nx1\tA\n# trailer\n", NULL, NULL),
                 ML_OK);
    if (!l) return;
    CHECK_STR(ml_labels_id_column(l), "#OTU ID");
    CHECK_EQ_INT(ml_labels_count(l), 1);
    ml_labels_free(l);
}

static void test_labels__accepts_bom_crlf_and_quotes(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "\xEF\xBB\xBFsid,label\r\n\"x,1\",\"a \"\"b\"\"\"\r\n x2 , B \r\n",
                       NULL, NULL), ML_OK);
    if (!l) return;
    CHECK_STR(ml_labels_id_column(l), "sid");
    CHECK_EQ_INT(ml_labels_count(l), 2);
    CHECK_STR(ml_labels_raw_id(l, 0), "x,1");
    CHECK_STR(ml_labels_value(l, 0), "a \"b\"");
    CHECK_STR(ml_labels_raw_id(l, 1), "x2");
    CHECK_STR(ml_labels_value(l, 1), "B");
    ml_labels_free(l);
}

static void test_labels__missing_markers_give_no_label(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "sid,label\na,\nb,NA\nc,nan\nd,N/A\ne,NULL\nf,Missing\n"
                       "g,not provided\nh,restricted access\ni,NaNa\n", NULL, NULL), ML_OK);
    if (!l) return;
    for (size_t i = 0; i < 8; i++) CHECK(ml_labels_value(l, i) == NULL);
    CHECK_STR(ml_labels_value(l, 8), "NaNa");
    ml_labels_free(l);
}

static void test_labels__named_columns_match_exact_then_any_case(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "sid,Label,label,Patient\nx,A,B,p\n", "label", "patient"), ML_OK);
    if (!l) return;
    CHECK_STR(ml_labels_label_column(l), "label");
    CHECK_STR(ml_labels_value(l, 0), "B");
    CHECK_STR(ml_labels_group_column(l), "Patient");
    CHECK_STR(ml_labels_group(l, 0), "p");
    ml_labels_free(l);
}

static void test_labels__default_group_column_is_optional(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "sid,outcome\nx,A\n", NULL, NULL), ML_OK);
    if (!l) return;
    CHECK_STR(ml_labels_label_column(l), "outcome");
    CHECK(ml_labels_group_column(l) == NULL);
    CHECK(ml_labels_group(l, 0) == NULL);
    ml_labels_free(l);
    l = NULL;
    CHECK_STATUS(parse(&l, "sid,label,GROUP\nx,A,g\n", NULL, NULL), ML_OK);
    if (l) CHECK_STR(ml_labels_group_column(l), "GROUP");
    ml_labels_free(l);
}

static void test_labels__blank_rows_are_skipped(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, " \t\n,,\nsid,label\n\nx,A\n,\n  \ny,B\n\t\n", NULL, NULL), ML_OK);
    if (l) CHECK_EQ_INT(ml_labels_count(l), 2);
    ml_labels_free(l);
}

static void test_labels__header_only_file_has_no_rows(void) {
    ml_labels *l = NULL;
    CHECK_STATUS(parse(&l, "sid,label,group\n", NULL, NULL), ML_OK);
    if (l) CHECK_EQ_INT(ml_labels_count(l), 0);
    ml_labels_free(l);
}

static void test_labels__rejects_absent_label_column_listing_columns(void) {
    check_rejects("sid,label,group\nx,A,g\n", "diagnosis", NULL, ML_ENOTFOUND,
                  "t.csv: no label column named \"diagnosis\" (columns: \"sid\", \"label\", "
                  "\"group\")");
}

static void test_labels__rejects_absent_group_column_listing_columns(void) {
    check_rejects("sid\tlabel\nx\tA\n", NULL, "subject", ML_ENOTFOUND,
                  "no group column named \"subject\" (columns: \"sid\", \"label\")");
}

static void test_labels__rejects_id_column_as_label(void) {
    check_rejects("sid,label\nx,A\n", "SID", NULL, ML_EINVAL, "t.csv:1: label column 1 is the "
                  "sample ID column");
}

static void test_labels__rejects_header_without_label_column(void) {
    check_rejects("sid\nx\n", NULL, NULL, ML_EFORMAT, "t.csv:1: header has only the sample ID");
}

static void test_labels__rejects_ragged_row(void) {
    check_rejects("sid,label\nx,A\ny,B,extra\n", NULL, NULL, ML_EFORMAT,
                  "t.csv:3: 3 fields, header has 2 (expected one field per column)");
}

static void test_labels__rejects_duplicate_id_without_echoing_it(void) {
    check_rejects("sid,label\n\nsecret-77,A\nother,B\nsecret-77,B\n", NULL, NULL, ML_EFORMAT,
                  "t.csv:5: duplicate sample ID (first at line 3)");
    CHECK(strstr(ml_error_last()->message, "secret-77") == NULL);
}

static void test_labels__rejects_empty_id(void) {
    check_rejects("label,sid\nA,x\nB, \n", NULL, NULL, ML_EFORMAT,
                  "t.csv:3:2: empty sample ID (expected an ID in column 2)");
}

static void test_labels__rejects_unterminated_quote(void) {
    check_rejects("sid,label\nx,\"A\n", NULL, NULL, ML_EFORMAT,
                  "t.csv:2: column 2: unterminated quote");
}

static void test_labels__rejects_nul_byte(void) {
    ml_labels *l = NULL;
    const char text[] = "sid,label\nx,A\ny,B\0\n";
    CHECK_STATUS(ml_labels_parse(&l, text, sizeof text - 1, "t.csv", NULL), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.csv:3: NUL byte");
    CHECK(l == NULL);
}

static void test_labels__rejects_files_without_header(void) {
    check_rejects("", NULL, NULL, ML_EFORMAT, "t.csv: no header line");
    check_rejects("# only\n#comments\n\n", NULL, NULL, ML_EFORMAT, "t.csv: no header line");
}

static void test_labels__rejects_oversized_field_and_line(void) {
    size_t n = 5000;
    char *text = malloc(n + 64);
    if (!text) return;
    memcpy(text, "sid,label\nx,", 12);
    memset(text + 12, 'a', n);
    memcpy(text + 12 + n, "\n", 2);
    check_rejects(text, NULL, NULL, ML_EFORMAT, "t.csv:2:2: field is 5000 bytes");
    free(text);
    n = (size_t)2 << 20;
    text = malloc(n + 64);
    if (!text) return;
    memcpy(text, "sid,label\nx,", 12);
    memset(text + 12, 'a', n);
    memcpy(text + 12 + n, "\n", 2);
    check_rejects(text, NULL, NULL, ML_EFORMAT, "t.csv:2: line is");
    free(text);
}

static void test_labels__rejects_wrong_options_version(void) {
    ml_labels_options o = ML_LABELS_OPTIONS_INIT;
    o.version = 99;
    ml_labels *l = NULL;
    CHECK_STATUS(ml_labels_parse(&l, "sid,label\n", 10, "t.csv", &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("version is 99");
    ml_labels_free(NULL);
}

int main(void) {
    RUN(test_labels__reads_upstream_csv_fixture);
    RUN(test_labels__reads_qiime_tsv_with_types_and_comments);
    RUN(test_labels__missing_file_is_notfound);
    RUN(test_labels__ragged_fixture_names_file_and_line);
    RUN(test_labels__qiime_id_headers_are_case_insensitive);
    RUN(test_labels__id_alias_need_not_be_first);
    RUN(test_labels__hash_comment_before_header_is_skipped);
    RUN(test_labels__accepts_bom_crlf_and_quotes);
    RUN(test_labels__missing_markers_give_no_label);
    RUN(test_labels__named_columns_match_exact_then_any_case);
    RUN(test_labels__default_group_column_is_optional);
    RUN(test_labels__blank_rows_are_skipped);
    RUN(test_labels__header_only_file_has_no_rows);
    RUN(test_labels__rejects_absent_label_column_listing_columns);
    RUN(test_labels__rejects_absent_group_column_listing_columns);
    RUN(test_labels__rejects_id_column_as_label);
    RUN(test_labels__rejects_header_without_label_column);
    RUN(test_labels__rejects_ragged_row);
    RUN(test_labels__rejects_duplicate_id_without_echoing_it);
    RUN(test_labels__rejects_empty_id);
    RUN(test_labels__rejects_unterminated_quote);
    RUN(test_labels__rejects_nul_byte);
    RUN(test_labels__rejects_files_without_header);
    RUN(test_labels__rejects_oversized_field_and_line);
    RUN(test_labels__rejects_wrong_options_version);
    TEST_MAIN_END();
}
