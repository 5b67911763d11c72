/* test_metaphlan.c - what metaphlan.c promises: MetaPhlAn 2/3/4 single and merged profiles,
 * exactly one rank kept (never double counting), located messages, a cheap honest sniffer. */
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "microlens/table.h"
#include "ml_test.h"
#include "util/fileio.h"

#define SECRET_ID "PATIENT_7781"

#define L_BAC "k__Bacteria"
#define L_FIRM L_BAC "|p__Firmicutes"
#define L_GEN L_FIRM "|c__Clostridia|o__Eubacteriales|f__Oscillospiraceae|g__Faecalibacterium"
#define L_SP L_GEN "|s__Faecalibacterium_prausnitzii"
#define L_STR L_SP "|t__SGB15318"
#define L_GEN2 L_FIRM "|c__Clostridia|o__Lachnospirales|f__Lachnospiraceae|g__Roseburia"
#define L_SP2 L_GEN2 "|s__Roseburia_intestinalis"

/* MetaPhlAn 3 single profile: header comments, #clade_name header, taxid column. */
static const char v3_single[] =
    "#mpa_v30_CHOCOPhlAn_201901\n"
    "#/usr/bin/metaphlan reads.fq --input_type fastq\n"
    "#SampleID\tMetaphlan_Analysis\n"
    "#clade_name\tNCBI_tax_id\trelative_abundance\tadditional_species\n"
    L_BAC "\t2\t100.0\t\n"
    L_FIRM "\t2|1239\t100.0\t\n"
    L_GEN "\t2|1239|186801|186802|216572|216851\t60.5\t\n"
    L_GEN2 "\t2|1239|186801|3085636|186803|841\t39.5\t\n"
    L_SP "\t2|1239|186801|186802|216572|216851|853\t60.5\t\n"
    L_SP2 "\t2|1239|186801|3085636|186803|841|166486\t39.5\tk__Bacteria|p__x\n";

static ml_status parse_rank(ml_table **t, const char *text, const char *name, ml_rank rank) {
    ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
    o.rank = rank;
    return ml__metaphlan_parse(t, text, strlen(text), name, &o);
}

static ml_status parse(ml_table **t, const char *text) {
    return parse_rank(t, text, "m.txt", ML_RANK_SPECIES);
}

static size_t feature_index(const ml_table *t, const char *id) {
    for (size_t j = 0; j < ml_table_n_features(t); j++)
        if (strcmp(ml_table_feature_id(t, j), id) == 0) return j;
    return SIZE_MAX;
}

static double value_of(const ml_table *t, size_t sample, const char *feature) {
    size_t j = feature_index(t, feature);
    if (j == SIZE_MAX) return -1.0;
    const uint32_t *f;
    const double *v;
    size_t n;
    ml_table_row(t, sample, &f, &v, &n);
    for (size_t k = 0; k < n; k++)
        if (f[k] == j) return v[k];
    return 0.0;
}

static void test_metaphlan__v3_single_profile_keeps_species_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_rank(&t, v3_single, "runs/P1.profile.txt", ML_RANK_SPECIES), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    /* Metaphlan_Analysis is no name: the file's base name without extensions is */
    CHECK_STR(ml_table_sample_raw_id(t, 0), "P1");
    CHECK_NEAR(value_of(t, 0, L_SP), 60.5, 0);
    CHECK_NEAR(value_of(t, 0, L_SP2), 39.5, 0);
    CHECK_NEAR(ml_table_row_sum(t, 0), 100.0, 1e-12);
    CHECK_STR(ml_table_feature_taxonomy(t, feature_index(t, L_SP)), L_SP);
    CHECK_STR(ml_table_format_name(t), "metaphlan");
    CHECK_STR(ml_table_layout_note(t), "MetaPhlAn profile, 1 sample; rank species (rows ending "
              "in s__), 2 of 6 clades kept");
    ml_table_free(t);
}

static void test_metaphlan__sample_id_line_names_the_sample(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#SampleID\tstool_12\n#clade_name\trelative_abundance\n"
                       L_SP "\t100\n"), ML_OK);
    if (!t) return;
    CHECK_STR(ml_table_sample_raw_id(t, 0), "stool_12");
    ml_table_free(t);
}

static void test_metaphlan__v2_headerless_profile(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_rank(&t, "#SampleID\tMetaphlan2_Analysis\n" L_BAC "\t100.0\n"
                            L_FIRM "\t100.0\n" L_GEN "\t100.0\n" L_SP "\t100.0\n"
                            L_STR "\t100.0\n", "x/S9.txt", ML_RANK_PHYLUM), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_features(t), 1);
    CHECK_STR(ml_table_feature_id(t, 0), L_FIRM);
    CHECK_STR(ml_table_sample_raw_id(t, 0), "S9");
    ml_table_free(t);
}

static void test_metaphlan__v4_single_fixture(void) {
    char *buf = NULL;
    size_t len;
    ml_table *t = NULL;
    const char *path = "tests/data/fixtures/metaphlan/S02.metaphlan4.txt";
    CHECK_STATUS(ml__file_read(path, 1 << 20, &buf, &len), ML_OK);
    if (!buf) return;
    CHECK(ml__metaphlan_sniff(buf, len));
    CHECK_STATUS(ml__metaphlan_parse(&t, buf, len, path, NULL), ML_OK);
    free(buf);
    if (!t) return;
    CHECK_STR(ml_table_sample_raw_id(t, 0), "S02");
    CHECK_EQ_INT(ml_table_n_features(t), 5);
    /* 90% classified: UNCLASSIFIED (10%) is skipped and no genus/strain row adds in */
    CHECK_NEAR(ml_table_row_sum(t, 0), 90.0, 1e-9);
    ml_table_free(t);
}

static void test_metaphlan__merged_v3_skips_taxid_column(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#mpa_v30_CHOCOPhlAn_201901\nclade_name\tNCBI_tax_id\tA\tB\n"
                       L_GEN "\t2|1239\t70\t10\n" L_SP "\t2|1239|853\t70\t0\n"
                       L_SP2 "\t2|1239|166486\t30\t90\n"), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 2);
    CHECK_STR(ml_table_sample_raw_id(t, 0), "A");
    CHECK_STR(ml_table_sample_raw_id(t, 1), "B");
    CHECK_EQ_INT(ml_table_n_features(t), 2);
    CHECK_NEAR(value_of(t, 1, L_SP), 0.0, 0);
    CHECK_NEAR(value_of(t, 1, L_SP2), 90.0, 0);
    CHECK_STR(ml_table_layout_note(t), "MetaPhlAn merged profile, 2 samples; rank species (rows "
              "ending in s__), 2 of 3 clades kept");
    ml_table_free(t);
}

static void test_metaphlan__merged_v2_id_header(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_rank(&t, "ID\tA\tB\tC\n" L_BAC "\t100\t100\t100\n"
                            L_FIRM "\t100\t100\t100\n", "m.txt", ML_RANK_KINGDOM), ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 3);
    CHECK_EQ_INT(ml_table_n_features(t), 1);
    CHECK(strstr(ml_table_layout_note(t), "rank kingdom (rows ending in k__ or d__)") != NULL);
    ml_table_free(t);
}

static void test_metaphlan__gtdb_domain_and_semicolon_lineages(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_rank(&t, "#clade_name\trelative_abundance\nd__Bacteria\t100\n"
                            "d__Bacteria;p__Bacillota\t100\n", "g.txt", ML_RANK_KINGDOM),
                 ML_OK);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_features(t), 1);
    CHECK_STR(ml_table_feature_id(t, 0), "d__Bacteria");
    ml_table_free(t);
    CHECK_STATUS(parse_rank(&t, "#clade_name\trelative_abundance\nd__Bacteria\t100\n"
                            "d__Bacteria;p__Bacillota\t100\n", "g.txt", ML_RANK_PHYLUM),
                 ML_OK);
    if (!t) return;
    CHECK_STR(ml_table_feature_id(t, 0), "d__Bacteria;p__Bacillota");
    ml_table_free(t);
}

/* Every rank of the 3-sample fixture sums to the classified share: no rank ever adds the
 * rows of another, and the UNCLASSIFIED row never counts. */
static void test_metaphlan__merged_v4_fixture_every_rank_sums_once(void) {
    static const size_t n_features[8] = {2, 4, 4, 4, 4, 5, 6, 6};
    static const double classified[3] = {80.0, 90.0, 100.0};
    char *buf = NULL;
    size_t len;
    const char *path = "tests/data/fixtures/metaphlan/merged_v4.tsv";
    CHECK_STATUS(ml__file_read(path, 1 << 20, &buf, &len), ML_OK);
    if (!buf) return;
    CHECK(ml__metaphlan_sniff(buf, len));
    for (int r = ML_RANK_KINGDOM; r <= ML_RANK_STRAIN; r++) {
        ml_table_read_options o = ML_TABLE_READ_OPTIONS_INIT;
        ml_table *t = NULL;
        o.rank = (ml_rank)r;
        CHECK_STATUS(ml__metaphlan_parse(&t, buf, len, path, &o), ML_OK);
        if (!t) continue;
        CHECK_EQ_INT(ml_table_n_samples(t), 3);
        CHECK_EQ_INT(ml_table_n_features(t), n_features[r]);
        for (size_t i = 0; i < 3; i++) CHECK_NEAR(ml_table_row_sum(t, i), classified[i], 1e-9);
        ml_table_free(t);
    }
    ml_table *t = NULL;
    CHECK_STATUS(ml__metaphlan_parse(&t, buf, len, path, NULL), ML_OK);
    free(buf);
    if (!t) return;
    CHECK_STR(ml_table_layout_note(t), "MetaPhlAn merged profile, 3 samples; rank species (rows "
              "ending in s__), 6 of 36 clades kept");
    CHECK_NEAR(value_of(t, 2, "k__Bacteria|p__Bacteroidota|c__Bacteroidia|o__Bacteroidales|"
                        "f__Bacteroidaceae|g__Phocaeicola|s__Phocaeicola_vulgatus"), 35.5, 0);
    CHECK_NEAR(value_of(t, 1, "k__Bacteria|p__Bacteroidota|c__Bacteroidia|o__Bacteroidales|"
                        "f__Bacteroidaceae|g__Phocaeicola|s__Phocaeicola_vulgatus"), 0.0, 0);
    ml_table_free(t);
}

/* ---- errors ---- */

static void test_metaphlan__rejects_missing_rank_and_lists_present_ones(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#clade_name\trelative_abundance\n" L_BAC "\t100\n" L_FIRM
                       "\t100\nUNCLASSIFIED\t3\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt: no row at rank species (rows ending in s__); ranks present: "
                       "kingdom, phylum");
    CHECK(t == NULL);
}

static void test_metaphlan__rejects_unknown_rank_value(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse_rank(&t, v3_single, "m.txt", (ml_rank)42), ML_EINVAL);
}

static void test_metaphlan__rejects_duplicate_clade(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\tA\n" L_SP "\t1\n" L_BAC "\t1\n" L_SP "\t2\n"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:4:1: clade \"");
    CHECK_ERR_CONTAINS("appears twice (first on line 2");
}

static void test_metaphlan__rejects_bad_values(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\tA\tB\n" L_SP "\t1\tx1\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2:3: \"x1\" is not a number (expected a non-negative relative "
                       "abundance)");
    CHECK_STATUS(parse(&t, "#clade_name\tNCBI_tax_id\trelative_abundance\n" L_BAC
                       "\t2\t-4\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2:3: -4 is negative");
    CHECK_STATUS(parse(&t, "#clade_name\trelative_abundance\n" L_BAC "\tinf\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2:2: \"inf\" is not a finite number");
    CHECK_STATUS(parse(&t, "#clade_name\trelative_abundance\n" L_BAC "\t\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2:2: empty cell");
}

static void test_metaphlan__rejects_ragged_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\tA\tB\n" L_SP "\t1\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2: 2 fields, header has 3 (expected one field per column)");
    CHECK_STATUS(parse(&t, "#clade_name\tNCBI_tax_id\trelative_abundance\n" L_SP "\t853\n"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:2: 2 fields, header has 3");
    CHECK_STATUS(parse(&t, L_BAC "\t2\t100.0\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:1: 3 fields and no clade_name header");
}

static void test_metaphlan__rejects_bad_sample_header_without_echo(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\t" SECRET_ID "\tB\t" SECRET_ID "\n" L_SP "\t1\t2\t3\n"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:1:4: duplicate sample ID (first seen at column 2");
    CHECK(!strstr(ml_error_last()->message, SECRET_ID));
    CHECK_STATUS(parse(&t, "clade_name\tA\t \n" L_SP "\t1\t2\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:1:3: empty sample ID in the header");
    CHECK_STATUS(parse(&t, "clade_name\tNCBI_tax_id\n" L_SP "\t1\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:1: header has no sample columns");
}

static void test_metaphlan__rejects_non_lineage_clade(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\tA\n" L_SP "\t1\nEscherichia coli\t2\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:3:1: clade \"Escherichia coli\" does not end in a rank component");
    CHECK_STATUS(parse(&t, "clade_name\tA\n" L_SP "\t1\n \t2\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:3:1: empty clade name");
}

static void test_metaphlan__rejects_profile_without_rows(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "#mpa_v30_CHOCOPhlAn_201901\n#clade_name\tNCBI_tax_id\t"
                       "relative_abundance\tadditional_species\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt: no clade rows");
    CHECK_STATUS(parse(&t, ""), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt: no clade rows");
}

static void test_metaphlan__rejects_blank_line_inside(void) {
    ml_table *t = NULL;
    CHECK_STATUS(parse(&t, "clade_name\tA\n" L_BAC "\t1\n\n" L_SP "\t1\n\n"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("m.txt:3: blank line inside the profile");
}

/* ---- sniffing ---- */

static void test_metaphlan__sniff_accepts_metaphlan_shapes(void) {
    static const char v2[] = "#SampleID\tMetaphlan2_Analysis\nk__Bacteria\t100.0\n";
    static const char v2_merged[] = "ID\tA\tB\nk__Bacteria\t100\t100\n" L_FIRM "\t1\t2\n";
    static const char merged_v4[] = "clade_name\tA\nk__Bacteria\t100\n";
    static const char mpa[] = "#mpa_vOct22_CHOCOPhlAnSGB_202212\nwhatever\n";
    CHECK(ml__metaphlan_sniff(v3_single, strlen(v3_single)));
    CHECK(ml__metaphlan_sniff(v2, strlen(v2)));
    CHECK(ml__metaphlan_sniff(v2_merged, strlen(v2_merged)));
    CHECK(ml__metaphlan_sniff(merged_v4, strlen(merged_v4)));
    CHECK(ml__metaphlan_sniff(mpa, strlen(mpa)));
}

static void test_metaphlan__sniff_ignores_qiime_and_plain_tables(void) {
    static const char qiime[] =
        "# Constructed from biom file\n#OTU ID\tS1\ttaxonomy\n"
        "OTU1\t3\tk__Bacteria; p__Firmicutes; c__Clostridia\n";
    static const char qiime_pipe_tax[] = "#OTU ID\tS1\ttaxonomy\nOTU1\t3\tk__Bacteria|p__A\n";
    static const char plain[] = "sample_id,a,b\nS1,1,2\n";
    static const char sample_id_line[] = "#SampleID\tOTU1\nS1\t4\n";
    CHECK(!ml__metaphlan_sniff(qiime, strlen(qiime)));
    CHECK(!ml__metaphlan_sniff(qiime_pipe_tax, strlen(qiime_pipe_tax)));
    CHECK(!ml__metaphlan_sniff(plain, strlen(plain)));
    CHECK(!ml__metaphlan_sniff(sample_id_line, strlen(sample_id_line)));
    CHECK(!ml__metaphlan_sniff("", 0));
}

static void test_metaphlan__sniff_looks_at_first_lines_only(void) {
    static const char mpa[] = "#mpa_v30_CHOCOPhlAn_201901\n";
    char buf[512];
    size_t n = 0;
    for (int i = 0; i < 25; i++, n += 4) memcpy(buf + n, "x\t1\n", 4);
    memcpy(buf + n, mpa, sizeof mpa);
    CHECK(!ml__metaphlan_sniff(buf, strlen(buf)));
    CHECK(ml__metaphlan_sniff(buf + 4 * 10, strlen(buf + 4 * 10)));
}

int main(void) {
    RUN(test_metaphlan__v3_single_profile_keeps_species_rows);
    RUN(test_metaphlan__sample_id_line_names_the_sample);
    RUN(test_metaphlan__v2_headerless_profile);
    RUN(test_metaphlan__v4_single_fixture);
    RUN(test_metaphlan__merged_v3_skips_taxid_column);
    RUN(test_metaphlan__merged_v2_id_header);
    RUN(test_metaphlan__gtdb_domain_and_semicolon_lineages);
    RUN(test_metaphlan__merged_v4_fixture_every_rank_sums_once);
    RUN(test_metaphlan__rejects_missing_rank_and_lists_present_ones);
    RUN(test_metaphlan__rejects_unknown_rank_value);
    RUN(test_metaphlan__rejects_duplicate_clade);
    RUN(test_metaphlan__rejects_bad_values);
    RUN(test_metaphlan__rejects_ragged_rows);
    RUN(test_metaphlan__rejects_bad_sample_header_without_echo);
    RUN(test_metaphlan__rejects_non_lineage_clade);
    RUN(test_metaphlan__rejects_profile_without_rows);
    RUN(test_metaphlan__rejects_blank_line_inside);
    RUN(test_metaphlan__sniff_accepts_metaphlan_shapes);
    RUN(test_metaphlan__sniff_ignores_qiime_and_plain_tables);
    RUN(test_metaphlan__sniff_looks_at_first_lines_only);
    TEST_MAIN_END();
}
