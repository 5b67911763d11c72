/* test_export.c - the helpers every export format shares: names made into file names
 * (percent-encoding, a leading '.', the cut with a SHA-256 suffix), RFC 4180 CSV fields,
 * shortest round-trip numbers with CSV / JSON spellings of NaN and infinities, and the format
 * names. Whole exports are tests/cli/export.sh and tests/oracle/export_*.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/export.h"
#include "ml_test.h"
#include "report/export_internal.h"
#include "util/fileio.h"

static char dir[64];

static void test_export__file_names_percent_encode(void) {
    char f[ML__EXPORT_NAME_CAP];
    CHECK_STATUS(ml__export_file_name(f, "grad_norm/layers.0.weight", ".npy"), ML_OK);
    CHECK_STR(f, "grad_norm%2Flayers.0.weight.npy");
    CHECK_STATUS(ml__export_file_name(f, "odd name,\"x\"%~", ".npy"), ML_OK);
    CHECK_STR(f, "odd%20name%2C%22x%22%25%7E.npy");
    CHECK_STATUS(ml__export_file_name(f, "..", ""), ML_OK);
    CHECK_STR(f, "%2E."); /* no hidden file, never ".." */
    CHECK_STATUS(ml__export_file_name(f, "caf\xc3\xa9", ".npy"), ML_OK);
    CHECK_STR(f, "caf%C3%A9.npy");
    CHECK_STATUS(ml__export_file_name(f, "", ".npy"), ML_EINVAL);
}

static void test_export__long_names_are_cut_with_a_hash(void) {
    char name[301], f[ML__EXPORT_NAME_CAP], g[ML__EXPORT_NAME_CAP];
    memset(name, 'a', 300);
    name[300] = '\0';
    CHECK_STATUS(ml__export_file_name(f, name, ".npy"), ML_OK);
    CHECK_EQ_INT(strlen(f), ML__EXPORT_NAME_MAX + 4);
    /* SHA-256 of 300 'a's begins 9835fa6bf4e20a9b (Python's hashlib.sha256). */
    CHECK(strstr(f, "~9835fa6bf4e20a9b.npy") == f + ML__EXPORT_NAME_MAX - 1 - ML__EXPORT_HASH_HEX);
    name[299] = 'b'; /* a different name with the same kept prefix gets another file */
    CHECK_STATUS(ml__export_file_name(g, name, ".npy"), ML_OK);
    CHECK(strcmp(f, g) != 0);
    CHECK_EQ_INT(strlen(g), ML__EXPORT_NAME_MAX + 4);
    /* A cut never splits a %XX: 100 slashes encode to 300 bytes. */
    memset(name, '/', 100);
    name[100] = '\0';
    CHECK_STATUS(ml__export_file_name(f, name, ""), ML_OK);
    const char *tilde = strchr(f, '~');
    CHECK(tilde != NULL && (tilde - f) % 3 == 0);
    CHECK_EQ_INT(strlen(tilde), 1 + ML__EXPORT_HASH_HEX);
}

/* Writes through a buffered file and returns what landed (caller frees). */
static char *written(void (*fill)(ml__outbuf *)) {
    char path[128], *got = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    ml__outbuf b;
    if (ml__outbuf_open(&b, path, 0644) != ML_OK) return NULL;
    fill(&b);
    if (ml__outbuf_commit(&b) != ML_OK || ml__file_read(path, 4096, &got, &len) != ML_OK)
        got = NULL;
    unlink(path);
    return got;
}

static void fill_csv(ml__outbuf *b) {
    ml__csv_field(b, "plain");
    ml__outbuf_puts(b, "|");
    ml__csv_field(b, "a,b");
    ml__outbuf_puts(b, "|");
    ml__csv_field(b, "say \"hi\"");
    ml__outbuf_puts(b, "|");
    ml__csv_field(b, "two\nlines");
}

static void fill_numbers(ml__outbuf *b) {
    const double v[] = {0.1, 1.0, -2.5e-300, 1.0 / 3.0, 1795444971.3527496, NAN, INFINITY,
                        -INFINITY};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ml__number(b, v[i], "nan", 0);
        ml__outbuf_puts(b, " ");
    }
    ml__number(b, NAN, "null", 1);
    ml__outbuf_puts(b, " ");
    ml__number(b, -INFINITY, "null", 1);
    ml__outbuf_puts(b, " ");
    ml__json_string(b, "a\"b\\c\n\xc3\xa9");
}

static void test_export__csv_fields_follow_rfc_4180(void) {
    char *got = written(fill_csv);
    CHECK_STR(got, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"");
    free(got);
}

static void test_export__numbers_are_shortest_round_trip(void) {
    char *got = written(fill_numbers);
    CHECK_STR(got, "0.1 1 -2.5e-300 0.3333333333333333 1795444971.3527496 nan inf -inf "
                   "null null \"a\\\"b\\\\c\\n\xc3\xa9\"");
    free(got);
}

static void test_export__format_names(void) {
    ml_export_format f = ML_EXPORT_CSV;
    CHECK_STATUS(ml_export_format_parse(&f, "tensorboard"), ML_OK);
    CHECK_EQ_INT(f, ML_EXPORT_TENSORBOARD);
    CHECK_STR(ml_export_format_name(ML_EXPORT_JSONL), "jsonl");
    CHECK_STR(ml_export_format_name((ml_export_format)99), "unknown");
    CHECK_STATUS(ml_export_format_parse(&f, "CSV"), ML_EINVAL);
    CHECK_ERR_CONTAINS("expected csv, jsonl, npy or tensorboard");
    CHECK_EQ_INT(f, ML_EXPORT_TENSORBOARD); /* untouched */
}

/* A Hugging Face Trainer folder is the smallest real run source: one trainer_state.json. */
static ml_run_source *open_hf_source(char *run, size_t cap) {
    char sub[192], state[224];
    snprintf(run, cap, "%s/hf", dir);
    snprintf(sub, sizeof sub, "%s/checkpoint-4", run);
    snprintf(state, sizeof state, "%s/trainer_state.json", sub);
    static const char json[] = "{\"global_step\": 4, \"log_history\": ["
                               "{\"loss\": 0.5, \"step\": 2}, "
                               "{\"loss\": 0.25, \"grad_norm\": 1.5, \"step\": 4}]}";
    ml_run_source *s = NULL;
    if (ml__mkdir_p(sub, 0755) != ML_OK ||
        ml__file_write_atomic(state, json, sizeof json - 1, 0644) != ML_OK ||
        ml_run_source_open(&s, run) != ML_OK)
        return NULL;
    return s;
}

static void test_export__refusals_leave_nothing_and_a_good_export_counts(void) {
    char run[128], out[160], path[200], *got = NULL;
    size_t len = 0;
    ml_run_source *s = open_hf_source(run, sizeof run);
    CHECK(s != NULL);
    if (!s) return;
    snprintf(out, sizeof out, "%s/out", dir);
    ml_export_options o = ML_EXPORT_OPTIONS_INIT;
    ml_export_result r = {0};
    o.version = 99;
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_EINVAL);
    o.version = ML_EXPORT_OPTIONS_VERSION;
    o.metrics = "";
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_EINVAL);
    CHECK_ERR_CONTAINS("metrics pattern is empty");
    o.metrics = "nothing*";
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_ENOTFOUND);
    CHECK_ERR_CONTAINS("matches none of the run's 2 metrics (grad_norm, loss)");
    o.metrics = NULL;
    o.format = (ml_export_format)7;
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_EINVAL);
    CHECK_STATUS(ml_export_source(s, run, &o, &r), ML_EINVAL); /* checked first: bad format */
    CHECK(access(out, F_OK) != 0);
    o.format = ML_EXPORT_JSONL;
    o.analysis = false;
    o.metrics = "l*";
    CHECK_STATUS(ml_export_source(s, run, &o, &r), ML_EINVAL); /* run: exists, not empty */
    CHECK_ERR_CONTAINS("exists and is not empty");
    CHECK_EQ_INT(r.n_files, 0); /* untouched on failure */
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_OK);
    CHECK_EQ_INT(r.n_files, 3);
    CHECK_EQ_INT(r.n_metrics, 1);
    CHECK_EQ_INT(r.n_points, 2);
    CHECK_EQ_INT(r.n_checkpoints, 1);
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    CHECK_STATUS(ml__file_read(path, 4096, &got, &len), ML_OK);
    CHECK_STR(got, "{\"step\":2,\"name\":\"loss\",\"value\":0.5,\"wall_time\":null}\n"
                   "{\"step\":4,\"name\":\"loss\",\"value\":0.25,\"wall_time\":null}\n");
    free(got);
    CHECK_STATUS(ml_export_source(s, out, &o, &r), ML_EINVAL); /* never overwrites */
    ml_run_source_free(s);
    const char *files[] = {"metrics.jsonl", "checkpoints.jsonl", "events.jsonl"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        CHECK(unlink(path) == 0);
    }
    CHECK(rmdir(out) == 0);
    snprintf(path, sizeof path, "%s/checkpoint-4/trainer_state.json", run);
    unlink(path);
    snprintf(path, sizeof path, "%s/checkpoint-4", run);
    rmdir(path);
    rmdir(run);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_export_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_export__file_names_percent_encode);
    RUN(test_export__long_names_are_cut_with_a_hash);
    RUN(test_export__csv_fields_follow_rfc_4180);
    RUN(test_export__numbers_are_shortest_round_trip);
    RUN(test_export__format_names);
    RUN(test_export__refusals_leave_nothing_and_a_good_export_counts);
    rmdir(dir);
    TEST_MAIN_END();
}
