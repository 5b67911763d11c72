/* test_biom_json.c - what biom_json.c promises: BIOM 1.0 sparse and dense JSON read as
 * biom-format wrote them, and one field-path message per kind of bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "data/table.h"
#include "ml_test.h"
#include "util/fileio.h"

#define FIX "tests/data/fixtures/biom/"

static const char header[] =
    "\"id\": null, \"format\": \"Biological Observation Matrix 1.0.0\", "
    "\"format_url\": \"http://biom-format.org\", \"type\": \"OTU table\", "
    "\"generated_by\": \"test\", \"date\": \"2024-01-01T00:00:00\"";

static const char rows2[] = "[{\"id\": \"OTU_a\", \"metadata\": null}, {\"id\": \"OTU_b\"}]";
static const char cols3[] = "[{\"id\": \"SAMPLE_ONE\", \"metadata\": null}, "
                            "{\"id\": \"SAMPLE_TWO\", \"metadata\": {\"x\": 1}}, "
                            "{\"id\": \"SAMPLE_THREE\"}]";

/* A document from its parts; the header fields are always valid. */
static ml_status parse_parts(ml_table **t, const char *shape, const char *rows, const char *cols,
                             const char *mtype, const char *etype, const char *data) {
    char doc[4096];
    snprintf(doc, sizeof doc, "{%s, \"shape\": %s, \"rows\": %s, \"columns\": %s, "
             "\"matrix_type\": \"%s\", \"matrix_element_type\": \"%s\", \"data\": %s}",
             header, shape, rows, cols, mtype, etype, data);
    return ml__biom_json_parse(t, doc, strlen(doc), "t.json", NULL);
}

/* A sparse 2 x 3 document with the given data (rows2, cols3, float). */
static ml_status parse_sparse(const char *data) {
    ml_table *t = NULL;
    ml_status st = parse_parts(&t, "[2, 3]", rows2, cols3, "sparse", "float", data);
    ml_table_free(t);
    return st;
}

static ml_status parse_text(const char *doc) {
    ml_table *t = NULL;
    ml_status st = ml__biom_json_parse(&t, doc, strlen(doc), "t.json", NULL);
    ml_table_free(t);
    return st;
}

static void check_no_sample_ids(void) {
    CHECK(strstr(ml_error_last()->message, "SAMPLE_") == NULL);
}

/* Compares a table with the n_samples/n_features/nnz/total and per-sample sums that
 * biom-format computed for the same file (gen_fixtures.py). */
static void check_against_expected(const ml_table *t, const char *expected_path) {
    FILE *f = fopen(expected_path, "r");
    CHECK(f != NULL);
    if (!f) return;
    size_t ns = 0, nf = 0, nnz = 0;
    double total = -1, sum = 0;
    CHECK(fscanf(f, "%zu %zu %zu %lf", &ns, &nf, &nnz, &total) == 4);
    CHECK_EQ_INT(ml_table_n_samples(t), ns);
    CHECK_EQ_INT(ml_table_n_features(t), nf);
    CHECK_EQ_INT(ml_table_nnz(t), nnz);
    char id[64];
    for (size_t i = 0; i < ns && fscanf(f, "%63s %lf", id, &sum) == 2; i++) {
        CHECK_STR(ml_table_sample_raw_id(t, i), id);
        CHECK_NEAR(ml_table_row_sum(t, i), sum, 1e-9);
        total -= ml_table_row_sum(t, i);
    }
    CHECK_NEAR(total, 0.0, 1e-9);
    fclose(f);
}

static void test_biom_json__reads_biom_format_sparse_fixture(void) {
    char *buf;
    size_t len;
    ml_table *t = NULL;
    CHECK_STATUS(ml__file_read(FIX "small.json", 1 << 20, &buf, &len), ML_OK);
    CHECK_STATUS(ml__biom_json_parse(&t, buf, len, "small.json", NULL), ML_OK);
    free(buf);
    if (!t) return;
    check_against_expected(t, FIX "small.expected");
    CHECK_STR(ml_table_format_name(t), "biom-json");
    CHECK(strstr(ml_table_layout_note(t), "BIOM 1.0 sparse") != NULL);
    CHECK_STR(ml_table_feature_id(t, 1), "OTU_2");
    CHECK_STR(ml_table_feature_taxonomy(t, 1), "k__Bacteria; p__Bacteroidetes; g__Bacteroides");
    const uint32_t *feat;
    const double *val;
    size_t n;
    ml_table_row(t, 1, &feat, &val, &n); /* S2: OTU_2 = 2.5, OTU_3 = 7 */
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(feat[0], 1);
        CHECK_NEAR(val[0], 2.5, 0);
        CHECK_EQ_INT(feat[1], 2);
        CHECK_NEAR(val[1], 7.0, 0);
    }
    ml_table_free(t);
}

static void test_biom_json__reads_dense_int_table_and_string_taxonomy(void) {
    ml_table *t = NULL;
    const char *rows = "[{\"id\": \"OTU_a\", \"metadata\": {\"taxonomy\": \"k__X; p__Y\"}}, "
                       "{\"id\": \"OTU_b\", \"metadata\": {\"taxonomy\": null}}]";
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows, cols3, "dense", "int",
                             "[[1, 0, 3], [0, 0, 40]]"), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK_EQ_INT(ml_table_nnz(t), 3);
    CHECK_NEAR(ml_table_row_sum(t, 0), 1, 0);
    CHECK_NEAR(ml_table_row_sum(t, 1), 0, 0);
    CHECK_NEAR(ml_table_row_sum(t, 2), 43, 0);
    CHECK_STR(ml_table_feature_taxonomy(t, 0), "k__X; p__Y");
    CHECK(ml_table_feature_taxonomy(t, 1) == NULL);
    CHECK(strstr(ml_table_layout_note(t), "dense") != NULL);
    ml_table_free(t);
}

static void test_biom_json__accepts_whole_reals_as_indices_and_empty_table(void) {
    CHECK_STATUS(parse_sparse("[[1.0, 2, 4]]"), ML_OK);
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[0, 0]", "[]", "[]", "sparse", "int", "[]"), ML_OK);
    if (t) CHECK_EQ_INT(ml_table_n_samples(t), 0);
    ml_table_free(t);
}

static void test_biom_json__rejects_invalid_json_without_echoing_tokens(void) {
    CHECK_STATUS(parse_text("{\"id\" \"SAMPLE_SECRET\"}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json:1:");
    CHECK_ERR_CONTAINS("invalid JSON (':' expected)");
    check_no_sample_ids();
    CHECK_STATUS(parse_text(""), ML_EFORMAT);
    CHECK_ERR_CONTAINS("invalid JSON");
}

static void test_biom_json__rejects_duplicate_keys(void) {
    CHECK_STATUS(parse_text("{\"id\": null, \"id\": null}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json:1:");
    CHECK_ERR_CONTAINS("duplicate object key");
}

static void test_biom_json__rejects_non_object_top_level(void) {
    CHECK_STATUS(parse_text("[1, 2]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: top level is an array (expected a BIOM 1.0 JSON object)");
}

static void test_biom_json__rejects_missing_and_mistyped_header_fields(void) {
    CHECK_STATUS(parse_text("{\"id\": null}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: missing field \"type\" (required by BIOM 1.0)");
    CHECK_STATUS(parse_text("{\"id\": 3}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: id: found an integer (expected a string or null)");
    CHECK_STATUS(parse_text("{\"id\": null, \"type\": null, \"format\": \"x\", \"format_url\": "
                            "\"u\", \"generated_by\": \"g\", \"date\": 5}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: date: found an integer (expected a string)");
}

static void test_biom_json__rejects_other_format_names(void) {
    CHECK_STATUS(parse_text("{\"id\": null, \"type\": null, \"format\": \"Biological Observation "
                            "Matrix 2.1\", \"format_url\": \"u\", \"generated_by\": \"g\", "
                            "\"date\": \"d\"}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("format: \"Biological Observation Matrix 2.1\" (expected");
}

static void test_biom_json__rejects_bad_matrix_type_and_element_type(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "csr", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("matrix_type: \"csr\" (expected \"sparse\" or \"dense\")");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "sparse", "unicode", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("matrix_element_type: \"unicode\" is not an abundance table");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "sparse", "double", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("matrix_element_type: \"double\" (expected \"int\" or \"float\")");
    CHECK(t == NULL);
}

static void test_biom_json__rejects_bad_shape(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "\"2x3\"", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape: found a string (expected an array)");
    CHECK_STATUS(parse_parts(&t, "[2]", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape: 1 entries (expected [n_rows, n_columns])");
    CHECK_STATUS(parse_parts(&t, "[2, 1.5]", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape[1]: found a real number (expected a whole number)");
    CHECK_STATUS(parse_parts(&t, "[-2, 3]", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape[0]: -2 is out of range");
}

static void test_biom_json__rejects_shape_that_disagrees_with_rows_or_columns(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[5, 3]", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape[0]: 5 but rows has 2 entries (expected them to agree)");
    CHECK_STATUS(parse_parts(&t, "[2, 4]", rows2, cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: shape[1]: 4 but columns has 3 entries (expected them to agree)");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", "{}", cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows: found an object (expected an array)");
}

static void test_biom_json__rejects_bad_row_and_column_entries(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[\"OTU_a\"]", cols3, "sparse", "int", "[]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0]: found a string (expected an object)");
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[{\"metadata\": null}]", cols3, "sparse", "int", "[]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0]: missing field \"id\" (required by BIOM 1.0)");
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[{\"id\": 7}]", cols3, "sparse", "int", "[]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0].id: found an integer (expected a string)");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, "[{\"id\": \"S\"}, {\"id\": \"\"}, {\"id\": "
                             "\"T\"}]", "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: columns[1].id: empty ID (expected a non-empty string)");
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[{\"id\": \"O\", \"metadata\": []}]", cols3, "sparse",
                             "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0].metadata: found an array (expected an object or null)");
}

static void test_biom_json__rejects_bad_taxonomy(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[{\"id\": \"O\", \"metadata\": {\"taxonomy\": 4}}]",
                             cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0].metadata.taxonomy: found an integer (expected an array "
                       "of strings or a string)");
    CHECK_STATUS(parse_parts(&t, "[1, 3]", "[{\"id\": \"O\", \"metadata\": {\"taxonomy\": "
                             "[\"k__A\", null]}}]", cols3, "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[0].metadata.taxonomy[1]: found null (expected a string)");
}

static void test_biom_json__rejects_duplicate_observation_id_naming_it(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[2, 3]", "[{\"id\": \"OTU_a\"}, {\"id\": \"OTU_a\"}]", cols3,
                             "sparse", "int", "[]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: rows[1].id: duplicate observation ID \"OTU_a\" (first at "
                       "rows[0])");
}

static void test_biom_json__rejects_duplicate_sample_id_without_naming_it(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, "[{\"id\": \"SAMPLE_A\"}, {\"id\": "
                             "\"SAMPLE_B\"}, {\"id\": \"SAMPLE_A\"}]", "sparse", "int", "[]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: columns[2].id: duplicate sample ID (first at columns[0])");
    check_no_sample_ids();
}

static void test_biom_json__rejects_malformed_sparse_entries(void) {
    CHECK_STATUS(parse_sparse("{}"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data: found an object (expected an array)");
    CHECK_STATUS(parse_sparse("[[0, 0, 1], 5]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1]: found an integer (expected [row, column, value])");
    CHECK_STATUS(parse_sparse("[[0, 0]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0]: 2 entries (expected [row, column, value])");
    CHECK_STATUS(parse_sparse("[[0, \"1\", 1]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0][1]: found a string (expected a whole-number column index)");
    CHECK_STATUS(parse_sparse("[[0.5, 1, 1]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0][0]: found a real number (expected a whole-number row");
}

static void test_biom_json__rejects_sparse_index_out_of_range(void) {
    CHECK_STATUS(parse_sparse("[[0, 0, 1], [2, 0, 1]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1][0]: row index 2 is out of range (expected 0 to 1 for 2 "
                       "rows)");
    CHECK_STATUS(parse_sparse("[[0, -1, 1]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0][1]: column index -1 is out of range");
}

static void test_biom_json__rejects_bad_values(void) {
    CHECK_STATUS(parse_sparse("[[0, 0, 1], [1, 2, -3]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1][2]: value -3 is negative (expected a non-negative count)");
    CHECK_STATUS(parse_sparse("[[0, 0, \"4\"]]"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0][2]: found a string (expected a number)");
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "sparse", "int", "[[0, 0, 1.5]]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[0][2]: value 1.5 is not a whole number (matrix_element_type "
                       "is \"int\")");
    CHECK_STATUS(parse_sparse("[[0, 0, 1e999]]"), ML_EFORMAT); /* jansson: real overflow */
    CHECK_ERR_CONTAINS("invalid JSON");
}

static void test_biom_json__rejects_repeated_sparse_cell_even_when_zero(void) {
    CHECK_STATUS(parse_sparse("[[0, 0, 1], [1, 2, 0], [0, 1, 2], [1, 2, 5], [1, 2, 6]]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[3]: second value for row 1, column 2 (first at data[1]; "
                       "expected one entry per cell)");
}

static void test_biom_json__rejects_bad_dense_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "dense", "int", "[[1, 2, 3]]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data: 1 rows but shape[0] is 2 (expected one array per "
                       "observation)");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "dense", "int", "[[1, 2, 3], 4]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1]: found an integer (expected an array)");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "dense", "int", "[[1, 2, 3], [4]]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1]: 1 values but shape[1] is 3 (expected one value per "
                       "column)");
    CHECK_STATUS(parse_parts(&t, "[2, 3]", rows2, cols3, "dense", "int", "[[1, 2, 3], [4, -5, 6]]"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: data[1][1]: value -5 is negative");
    CHECK(t == NULL);
}

int main(void) {
    RUN(test_biom_json__reads_biom_format_sparse_fixture);
    RUN(test_biom_json__reads_dense_int_table_and_string_taxonomy);
    RUN(test_biom_json__accepts_whole_reals_as_indices_and_empty_table);
    RUN(test_biom_json__rejects_invalid_json_without_echoing_tokens);
    RUN(test_biom_json__rejects_duplicate_keys);
    RUN(test_biom_json__rejects_non_object_top_level);
    RUN(test_biom_json__rejects_missing_and_mistyped_header_fields);
    RUN(test_biom_json__rejects_other_format_names);
    RUN(test_biom_json__rejects_bad_matrix_type_and_element_type);
    RUN(test_biom_json__rejects_bad_shape);
    RUN(test_biom_json__rejects_shape_that_disagrees_with_rows_or_columns);
    RUN(test_biom_json__rejects_bad_row_and_column_entries);
    RUN(test_biom_json__rejects_bad_taxonomy);
    RUN(test_biom_json__rejects_duplicate_observation_id_naming_it);
    RUN(test_biom_json__rejects_duplicate_sample_id_without_naming_it);
    RUN(test_biom_json__rejects_malformed_sparse_entries);
    RUN(test_biom_json__rejects_sparse_index_out_of_range);
    RUN(test_biom_json__rejects_bad_values);
    RUN(test_biom_json__rejects_repeated_sparse_cell_even_when_zero);
    RUN(test_biom_json__rejects_bad_dense_rows);
    TEST_MAIN_END();
}
