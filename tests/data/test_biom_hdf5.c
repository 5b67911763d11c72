/* test_biom_hdf5.c - what biom_hdf5.c promises: BIOM 2.1 files written by biom-format/h5py
 * read exactly, cut or broken images refused with a message, never a crash. */
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/biom_h5build.h"
#include "data/readers.h"
#include "data/table.h"
#include "ml_test.h"
#include "util/fileio.h"

#define FIX "tests/data/fixtures/biom/"

/* The valid 3-observation x 2-sample table every error test breaks one part of:
 *        S_ONE S_TWO
 *   OTU_a   1     .
 *   OTU_b   .     4.5
 *   OTU_c   2     3          */
static const char *const obs_ids[] = {"OTU_a", "OTU_b", "OTU_c"};
static const char *const sample_ids[] = {"SAMPLE_ONE", "SAMPLE_TWO"};
static const int64_t indptr[] = {0, 2, 4};
static const int64_t indices[] = {0, 2, 2, 1};
static const double values[] = {1, 2, 3, 4.5};
static const char *const taxonomy[] = {"k__A", "p__B", "k__C", "", "k__D", "p__E"};

static h5b_recipe base_recipe(void) {
    h5b_recipe r = {0,
                    {2, 1},
                    {3, 2},
                    4,
                    obs_ids,
                    3,
                    sample_ids,
                    2,
                    indptr,
                    3,
                    indices,
                    4,
                    values,
                    4,
                    taxonomy,
                    2,
                    4};
    return r;
}

static ml_status parse_image(const unsigned char *img, size_t len, ml_table **t) {
    return ml__biom_hdf5_parse(t, img, len, "t.biom", NULL);
}

/* Builds r and parses it; returns the status, frees everything. */
static ml_status parse_recipe(const h5b_recipe *r) {
    unsigned char *img = NULL;
    size_t len = 0;
    ml_table *t = NULL;
    if (h5b_build(r, &img, &len) != 0) return ML_EIO;
    ml_status st = parse_image(img, len, &t);
    if (st != ML_OK) CHECK(t == NULL);
    ml_table_free(t);
    free(img);
    return st;
}

static void check_no_sample_ids(void) {
    CHECK(strstr(ml_error_last()->message, "SAMPLE_") == NULL);
}

static ml_table *read_fixture(const char *path) {
    char *buf;
    size_t len;
    ml_table *t = NULL;
    if (ml__file_read(path, 1 << 26, &buf, &len) != ML_OK) return NULL;
    CHECK_STATUS(ml__biom_hdf5_parse(&t, buf, len, path, NULL), ML_OK);
    free(buf);
    return t;
}

/* Compares with what biom-format computed for the same file (gen_fixtures.py). */
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

static void test_biom_hdf5__reads_biom_format_gzip_fixture(void) {
    ml_table *t = read_fixture(FIX "small.biom");
    CHECK(t != NULL);
    if (!t) return;
    check_against_expected(t, FIX "small.expected");
    CHECK_STR(ml_table_format_name(t), "biom-hdf5");
    CHECK_STR(ml_table_layout_note(t), "BIOM 2.1 HDF5, 3 samples x 4 observations, read from "
                                       "/sample/matrix (CSR)");
    CHECK_STR(ml_table_feature_id(t, 3), "OTU_4");
    CHECK_STR(ml_table_feature_taxonomy(t, 1), "k__Bacteria; p__Bacteroidetes; g__Bacteroides");
    CHECK_STR(ml_table_feature_taxonomy(t, 2), "k__Archaea");
    ml_table_free(t);
}

static void test_biom_hdf5__reads_fixed_length_ids_int_data_and_user_block(void) {
    ml_table *t = read_fixture(FIX "fixed_ids.biom");
    CHECK(t != NULL);
    if (!t) return;
    check_against_expected(t, FIX "fixed_ids.expected");
    CHECK_STR(ml_table_feature_id(t, 2), "CCC");
    const uint32_t *feat;
    const double *val;
    size_t n;
    ml_table_row(t, 0, &feat, &val, &n); /* stored as indices 2, 0, 1: rows come out sorted */
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(feat[0], 0);
        CHECK_EQ_INT(feat[2], 2);
        CHECK_NEAR(val[2], 3, 0);
    }
    ml_table_free(t);
}

static void test_biom_hdf5__agrees_with_json_reader_on_same_table(void) {
    char *buf;
    size_t len;
    ml_table *j = NULL, *h = read_fixture(FIX "small.biom");
    CHECK_STATUS(ml__file_read(FIX "small.json", 1 << 20, &buf, &len), ML_OK);
    CHECK_STATUS(ml__biom_json_parse(&j, buf, len, "small.json", NULL), ML_OK);
    free(buf);
    CHECK(j && h);
    if (j && h) {
        CHECK_EQ_INT(ml_table_n_features(j), ml_table_n_features(h));
        CHECK_EQ_INT(ml_table_n_samples(j), ml_table_n_samples(h));
        for (size_t i = 0; i < ml_table_n_samples(j) && i < ml_table_n_samples(h); i++) {
            double a[8], b[8];
            ml_table_dense_row(j, i, a);
            ml_table_dense_row(h, i, b);
            CHECK(memcmp(a, b, ml_table_n_features(j) * sizeof *a) == 0);
            CHECK_STR(ml_table_sample_raw_id(j, i), ml_table_sample_raw_id(h, i));
        }
        for (size_t k = 0; k < ml_table_n_features(j); k++)
            CHECK_STR(ml_table_feature_taxonomy(j, k), ml_table_feature_taxonomy(h, k));
    }
    ml_table_free(j);
    ml_table_free(h);
}

/* Debian's q2-sample-classifier ships the ECAM table; only checked where it is unpacked. */
static void test_biom_hdf5__reads_ecam_table_when_present(void) {
    glob_t g;
    if (glob("/tmp/q2/e/*/data/feature-table.biom", 0, NULL, &g) != 0) {
        fprintf(stderr, "     (ECAM table not present: skipped)\n");
        return;
    }
    ml_table *t = read_fixture(g.gl_pathv[0]);
    globfree(&g);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 875);
    CHECK_EQ_INT(ml_table_n_features(t), 3117);
    CHECK_EQ_INT(ml_table_nnz(t), 43986);
    CHECK_STR(ml_table_format_name(t), "biom-hdf5");
    ml_table_free(t);
}

/* The image is read in place: a write by libhdf5 into it would fault on the read-only map. */
static void test_biom_hdf5__reads_image_in_read_only_memory(void) {
    int fd = open(FIX "small.biom", O_RDONLY);
    struct stat sb;
    CHECK(fd >= 0 && fstat(fd, &sb) == 0);
    if (fd < 0) return;
    size_t len = (size_t)sb.st_size;
    void *page = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(page != MAP_FAILED);
    if (page == MAP_FAILED) return;
    ml_table *t = NULL;
    CHECK_STATUS(parse_image(page, len, &t), ML_OK);
    ml_table_free(t);
    munmap(page, len);
}

static void test_biom_hdf5__reads_built_table_with_taxonomy_and_checks_every_value(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_COMPRESS | H5B_OBS_MATRIX;
    unsigned char *img = NULL;
    size_t len = 0;
    ml_table *t = NULL;
    CHECK(h5b_build(&r, &img, &len) == 0);
    CHECK_STATUS(parse_image(img, len, &t), ML_OK);
    free(img);
    if (!t) return;
    double row[3];
    ml_table_dense_row(t, 0, row);
    CHECK(row[0] == 1 && row[1] == 0 && row[2] == 2);
    ml_table_dense_row(t, 1, row);
    CHECK(row[0] == 0 && row[1] == 4.5 && row[2] == 3);
    CHECK_STR(ml_table_feature_taxonomy(t, 0), "k__A; p__B");
    CHECK_STR(ml_table_feature_taxonomy(t, 1), "k__C");
    ml_table_free(t);
}

static void test_biom_hdf5__rejects_every_truncation_of_a_real_file(void) {
    char *buf;
    size_t len;
    CHECK_STATUS(ml__file_read(FIX "small.biom", 1 << 20, &buf, &len), ML_OK);
    size_t refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        ml_table *t = NULL;
        if (parse_image((const unsigned char *)buf, cut, &t) == ML_EFORMAT &&
            strstr(ml_error_last()->message, "t.biom: truncated or corrupt HDF5 (")) refused++;
        ml_table_free(t);
    }
    CHECK_EQ_INT(refused, len);
    free(buf);
}

static void test_biom_hdf5__rejects_bad_superblocks(void) {
    unsigned char img[128];
    memset(img, 0, sizeof img);
    ml_table *t = NULL;
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: truncated or corrupt HDF5 (no HDF5 signature in 128 bytes)");
    memcpy(img, "\x89HDF\r\n\x1a\n", 8);
    img[8] = 7;
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("(superblock version 7, expected 0 to 3)");
    img[8] = 2;
    img[9] = 3;
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("(size of offsets 3, expected 2, 4 or 8)");
    img[9] = 8;
    memset(img + 28, 0xff, 8); /* v2: end-of-file address at 12 + 2 * 8 */
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("end-of-file address is undefined");
    memset(img + 28, 0, 8);
    img[28] = 200;
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("(the superblock says the file has 200 bytes, found 128)");
    img[28] = 100; /* plausible superblock, garbage after it: libhdf5 itself refuses */
    CHECK_STATUS(parse_image(img, sizeof img, &t), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: truncated or corrupt HDF5 (libhdf5 cannot open it: ");
    CHECK(t == NULL);
}

static void test_biom_hdf5__rejects_missing_or_wrong_root_attributes(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_OMIT_VERSION;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute format-version: missing (required by BIOM 2.1)");
    r = base_recipe();
    r.version[0] = 1;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute format-version: 1.1 (expected 2.x, BIOM 2.1 HDF5)");
    r = base_recipe();
    r.flags = H5B_SHAPE_AS_FLOAT;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute shape: not 2 integers (expected a pair of integers)");
    r = base_recipe();
    r.flags = H5B_OMIT_NNZ;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute nnz: missing");
    r = base_recipe();
    r.shape[1] = -2;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute shape: shape[1] is -2 (expected 0 to 4294967295)");
    r = base_recipe();
    r.nnz = -1;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: attribute nnz: -1 is negative");
    r = base_recipe();
    r.nnz = (int64_t)1 << 50;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("values cannot fit in");
}

static void test_biom_hdf5__rejects_missing_or_mistyped_id_datasets(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_OMIT_OBS_IDS;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /observation/ids: missing (required by BIOM 2.1)");
    r.flags = H5B_IDS_AS_INTS;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/ids: is not a string dataset (expected strings)");
    r.flags = H5B_IDS_2D;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/ids: has 2 dimensions (expected 1)");
}

static void test_biom_hdf5__rejects_id_count_that_disagrees_with_shape(void) {
    h5b_recipe r = base_recipe();
    r.n_sample_ids = 1;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/ids: 1 IDs but shape[1] is 2 (expected them to agree)");
}

static void test_biom_hdf5__rejects_empty_and_duplicate_ids(void) {
    static const char *const empty_obs[] = {"OTU_a", "", "OTU_c"};
    static const char *const dup_obs[] = {"OTU_a", "OTU_b", "OTU_a"};
    static const char *const dup_samples[] = {"SAMPLE_ONE", "SAMPLE_ONE"};
    h5b_recipe r = base_recipe();
    r.obs_ids = empty_obs;
    r.flags = H5B_FIXED_IDS;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /observation/ids[1]: empty ID (expected a non-empty string)");
    r = base_recipe();
    r.obs_ids = dup_obs;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /observation/ids[2]: duplicate observation ID \"OTU_a\" (first "
                       "at /observation/ids[0])");
    r = base_recipe();
    r.sample_ids = dup_samples;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/ids[1]: duplicate sample ID (first at /sample/ids[0])");
    check_no_sample_ids();
}

static void test_biom_hdf5__rejects_bad_taxonomy_shape(void) {
    h5b_recipe r = base_recipe();
    r.n_obs_ids = 2; /* taxonomy then has 2 rows; obs ids fail later but taxonomy is first */
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /observation/metadata/taxonomy: 2 rows but shape[0] is 3 "
                       "(expected one row per observation)");
}

static void test_biom_hdf5__rejects_missing_matrix_datasets_and_non_datasets(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_OMIT_INDPTR;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr: missing (required by BIOM 2.1)");
    r.flags = H5B_DATA_GROUP;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data: is not a dataset (expected a dataset)");
    r.flags = H5B_EXTERNAL_LINK;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data: is a soft or external link");
    r.flags = H5B_FLOAT_INDICES;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indices: has HDF5 type class 1 (expected integers)");
}

static void test_biom_hdf5__rejects_filters_that_would_load_plugins(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_NBIT_FILTER;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr: compressed with HDF5 filter 5 (expected "
                       "gzip, shuffle or fletcher32)");
}

static void test_biom_hdf5__refuses_huge_unstored_dataset_without_allocating(void) {
    h5b_recipe r = base_recipe();
    r.flags = H5B_HUGE_EMPTY;
    r.nnz = 1 << 20; /* passes the nnz-vs-image-size bound; nothing of it is stored */
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indices: 1048576 entries of 8 bytes but the file "
                       "stores 0 bytes for it (truncated or corrupt HDF5)");
}

static void test_biom_hdf5__rejects_lengths_that_disagree_with_nnz_or_shape(void) {
    h5b_recipe r = base_recipe();
    r.n_indptr = 2;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr: 2 entries (expected 3, number of samples "
                       "+ 1)");
    r = base_recipe();
    r.n_data = 3;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data: 3 entries (expected 4, the nnz attribute)");
    r = base_recipe();
    r.flags = H5B_OBS_MATRIX;
    r.obs_matrix_len = 5;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /observation/matrix/data: 5 entries (expected 4, the nnz "
                       "attribute)");
}

static void test_biom_hdf5__rejects_bad_indptr(void) {
    static const int64_t not_zero[] = {1, 2, 4}, decreasing[] = {0, 3, 2}, short_end[] = {0, 2, 3};
    h5b_recipe r = base_recipe();
    r.indptr = not_zero;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr[0]: 1 (expected 0)");
    r.indptr = decreasing;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr[2]: 2 is less than the 3 before it "
                       "(expected non-decreasing offsets)");
    r.indptr = short_end;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indptr[2]: 3 (expected 4, the number of stored "
                       "values)");
}

static void test_biom_hdf5__rejects_bad_indices(void) {
    static const int64_t out_of_range[] = {0, 2, 3, 1}, negative[] = {0, 2, -1, 1},
                         repeated[] = {0, 2, 1, 1};
    h5b_recipe r = base_recipe();
    r.indices = out_of_range;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indices[2]: 3 is out of range (expected 0 to 2 "
                       "for 3 observations)");
    r.indices = negative;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indices[2]: -1 is out of range");
    r.indices = repeated;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/indices[3]: observation 1 appears twice in sample "
                       "#2 (expected one value per cell)");
}

static void test_biom_hdf5__rejects_negative_and_non_finite_values(void) {
    const double negative[] = {1, 2, -3, 4}, nan_value[] = {1, NAN, 3, 4},
                 inf_value[] = {1, 2, 3, INFINITY};
    h5b_recipe r = base_recipe();
    r.data = negative;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data[2]: value -3 is negative (expected a "
                       "non-negative count)");
    r.data = nan_value;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data[1]: value is not finite");
    r.data = inf_value;
    CHECK_STATUS(parse_recipe(&r), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.biom: /sample/matrix/data[3]: value is not finite");
}

static void test_biom_hdf5__reads_sample_without_counts_and_empty_matrix(void) {
    static const int64_t ptr[] = {0, 0, 3}, idx[] = {2, 0, 1}, one_ptr[] = {0, 0};
    static const char *const one_sample[] = {"SAMPLE_ONE"};
    h5b_recipe r = base_recipe();
    r.indptr = ptr;
    r.indices = idx;
    r.nnz = 3;
    r.n_indices = r.n_data = 3;
    r.flags = H5B_INT_DATA | H5B_FIXED_IDS | H5B_COMPRESS;
    unsigned char *img = NULL;
    size_t len = 0;
    ml_table *t = NULL;
    CHECK(h5b_build(&r, &img, &len) == 0);
    CHECK_STATUS(parse_image(img, len, &t), ML_OK);
    free(img);
    if (t) {
        CHECK_NEAR(ml_table_row_sum(t, 0), 0, 0);
        CHECK_NEAR(ml_table_row_sum(t, 1), 6, 0);
        CHECK_STR(ml_table_sample_raw_id(t, 1), "SAMPLE_TWO");
    }
    ml_table_free(t);
    t = NULL;
    r = base_recipe();
    r.shape[1] = 1;
    r.sample_ids = one_sample;
    r.n_sample_ids = 1;
    r.indptr = one_ptr;
    r.n_indptr = 2;
    r.nnz = 0;
    r.n_indices = r.n_data = 0;
    r.taxonomy = NULL;
    CHECK(h5b_build(&r, &img, &len) == 0);
    CHECK_STATUS(parse_image(img, len, &t), ML_OK);
    free(img);
    if (!t) return;
    CHECK_EQ_INT(ml_table_n_samples(t), 1);
    CHECK_EQ_INT(ml_table_n_features(t), 3);
    CHECK_EQ_INT(ml_table_nnz(t), 0);
    CHECK(ml_table_feature_taxonomy(t, 0) == NULL);
    ml_table_free(t);
}

int main(void) {
    RUN(test_biom_hdf5__reads_biom_format_gzip_fixture);
    RUN(test_biom_hdf5__reads_fixed_length_ids_int_data_and_user_block);
    RUN(test_biom_hdf5__agrees_with_json_reader_on_same_table);
    RUN(test_biom_hdf5__reads_ecam_table_when_present);
    RUN(test_biom_hdf5__reads_image_in_read_only_memory);
    RUN(test_biom_hdf5__reads_built_table_with_taxonomy_and_checks_every_value);
    RUN(test_biom_hdf5__rejects_every_truncation_of_a_real_file);
    RUN(test_biom_hdf5__rejects_bad_superblocks);
    RUN(test_biom_hdf5__rejects_missing_or_wrong_root_attributes);
    RUN(test_biom_hdf5__rejects_missing_or_mistyped_id_datasets);
    RUN(test_biom_hdf5__rejects_id_count_that_disagrees_with_shape);
    RUN(test_biom_hdf5__rejects_empty_and_duplicate_ids);
    RUN(test_biom_hdf5__rejects_bad_taxonomy_shape);
    RUN(test_biom_hdf5__rejects_missing_matrix_datasets_and_non_datasets);
    RUN(test_biom_hdf5__rejects_filters_that_would_load_plugins);
    RUN(test_biom_hdf5__refuses_huge_unstored_dataset_without_allocating);
    RUN(test_biom_hdf5__rejects_lengths_that_disagree_with_nnz_or_shape);
    RUN(test_biom_hdf5__rejects_bad_indptr);
    RUN(test_biom_hdf5__rejects_bad_indices);
    RUN(test_biom_hdf5__rejects_negative_and_non_finite_values);
    RUN(test_biom_hdf5__reads_sample_without_counts_and_empty_matrix);
    TEST_MAIN_END();
}
