/* test_accesslog.c - what accesslog.c promises: one JSON object per line with the documented
 * fields, nothing but pseudonyms as sample IDs, client text kept out (method words, routes),
 * a new file (mode 0600) after reopen, and whole lines under concurrent writers. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ml_test.h"
#include "serve/accesslog.h"
#include "util/fileio.h"

static char dir[64];

static ml__access_entry sample_entry(void) {
    static char p1[] = "s_0123456789abcdef", raw[] = "P001_S1", p2[] = "s_fedcba9876543210";
    static char *ps[] = {p1, raw, p2};
    ml__access_entry e = {0};
    e.time.tv_sec = 1714564800; /* 2024-05-01T12:00:00Z */
    e.time.tv_nsec = 123456789;
    e.token_name = "alice";
    e.method = "POST";
    e.route = "/v1/predict";
    e.status = 200;
    e.latency_ms = 1.23456;
    e.n_samples = 3;
    e.pseudonyms = ps;
    e.n_pseudonyms = 3;
    return e;
}

static void test_accesslog__line_has_the_fields_and_only_pseudonyms(void) {
    ml__access_entry e = sample_entry();
    char *line = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__access_format(&e, &line, &len), ML_OK);
    if (!line) return;
    CHECK(len > 0 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1);
    CHECK(strncmp(line, "{\"time\":\"2024-05-01T12:00:00.123Z\",\"token\":\"alice\","
                        "\"method\":\"POST\",\"route\":\"/v1/predict\",\"status\":200,",
                  102) == 0);
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    CHECK(o != NULL);
    CHECK_NEAR(json_real_value(json_object_get(o, "latency_ms")), 1.23456, 1e-9);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "n_samples")), 3);
    json_t *samples = json_object_get(o, "samples");
    CHECK_EQ_INT(json_array_size(samples), 2); /* the raw ID was dropped */
    CHECK_STR(json_string_value(json_array_get(samples, 1)), "s_fedcba9876543210");
    CHECK(json_object_get(o, "terminated") == NULL);
    CHECK(strstr(line, "P001") == NULL);
    json_decref(o);
    free(line);
}

static void test_accesslog__client_text_stays_out(void) {
    ml__access_entry e = {0};
    e.method = "BREW\"}\n{\"evil\":1";
    e.token_name = "bad\"name\n";
    e.route = NULL;
    e.status = 0;
    e.terminated = "timeout";
    char *line = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__access_format(&e, &line, &len), ML_OK);
    if (!line) return;
    json_t *o = json_loads(line, 0, NULL);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "method")), "OTHER");
    CHECK_STR(json_string_value(json_object_get(o, "route")), "other");
    CHECK_STR(json_string_value(json_object_get(o, "token")), "bad?name?");
    CHECK(json_is_real(json_object_get(o, "latency_ms"))); /* 0.0, still a real */
    CHECK_STR(json_string_value(json_object_get(o, "terminated")), "timeout");
    CHECK_EQ_INT(json_array_size(json_object_get(o, "samples")), 0);
    CHECK(strstr(line, "evil") == NULL);
    json_decref(o);
    free(line);
}

static size_t count_lines(const char *path) {
    char *data = NULL;
    size_t len = 0, n = 0;
    if (ml__file_read(path, 1 << 26, &data, &len) != ML_OK) return 0;
    for (size_t i = 0; i < len; i++) n += data[i] == '\n';
    free(data);
    return n;
}

static void test_accesslog__reopen_after_rotation(void) {
    char path[128], rotated[160];
    snprintf(path, sizeof path, "%s/access.log", dir);
    snprintf(rotated, sizeof rotated, "%s.1", path);
    ml__accesslog log;
    CHECK_STATUS(ml__accesslog_open(&log, path), ML_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    ml__access_entry e = sample_entry();
    CHECK_STATUS(ml__accesslog_write(&log, &e), ML_OK);
    CHECK(rename(path, rotated) == 0);
    CHECK_STATUS(ml__accesslog_write(&log, &e), ML_OK); /* still the moved file */
    CHECK_STATUS(ml__accesslog_reopen(&log), ML_OK);
    CHECK_STATUS(ml__accesslog_write(&log, &e), ML_OK);
    ml__accesslog_close(&log);
    CHECK_EQ_INT(count_lines(rotated), 2);
    CHECK_EQ_INT(count_lines(path), 1);
    unlink(path);
    unlink(rotated);
}

static void test_accesslog__no_path_drops_and_bad_path_fails(void) {
    ml__accesslog log;
    CHECK_STATUS(ml__accesslog_open(&log, NULL), ML_OK);
    ml__access_entry e = sample_entry();
    CHECK_STATUS(ml__accesslog_write(&log, &e), ML_OK);
    CHECK_STATUS(ml__accesslog_reopen(&log), ML_OK);
    ml__accesslog_close(&log);
    CHECK_STATUS(ml__accesslog_open(&log, "/nonexistent-dir/access.log"), ML_EIO);
    CHECK_ERR_CONTAINS("/nonexistent-dir/access.log");
}

typedef struct writer {
    ml__accesslog *log;
    int id;
} writer;

static void *write_many(void *arg) {
    writer *w = arg;
    /* long lines (2048 pseudonyms, ~45 KB) make interleaving likely if it could happen */
    static char p[] = "s_0123456789abcdef";
    char **ps = malloc(2048 * sizeof *ps);
    if (!ps) return NULL;
    for (int i = 0; i < 2048; i++) ps[i] = p;
    ml__access_entry e = sample_entry();
    e.pseudonyms = ps;
    e.n_pseudonyms = 2048;
    e.status = 200 + w->id;
    for (int i = 0; i < 25; i++) ml__accesslog_write(w->log, &e);
    free(ps);
    return NULL;
}

static void test_accesslog__concurrent_lines_stay_whole(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/busy.log", dir);
    ml__accesslog log;
    CHECK_STATUS(ml__accesslog_open(&log, path), ML_OK);
    pthread_t th[4];
    writer w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (writer){&log, i};
        pthread_create(&th[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    ml__accesslog_close(&log);
    char *data = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 26, &data, &len), ML_OK);
    size_t n_lines = 0, n_bad = 0;
    for (char *s = data, *nl; s && (nl = strchr(s, '\n')); s = nl + 1) {
        *nl = '\0';
        json_t *o = json_loads(s, 0, NULL);
        if (!o || json_array_size(json_object_get(o, "samples")) != 2048) n_bad++;
        json_decref(o);
        n_lines++;
    }
    CHECK_EQ_INT(n_lines, 100);
    CHECK_EQ_INT(n_bad, 0);
    free(data);
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_accesslog_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_accesslog__line_has_the_fields_and_only_pseudonyms);
    RUN(test_accesslog__client_text_stays_out);
    RUN(test_accesslog__reopen_after_rotation);
    RUN(test_accesslog__no_path_drops_and_bad_path_fails);
    RUN(test_accesslog__concurrent_lines_stay_whole);
    rmdir(dir);
    TEST_MAIN_END();
}
