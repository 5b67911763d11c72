/* test_synth.c - what synth.c promises: byte-identical output per options, the promised
 * shapes and file layouts, realistic sparsity, a label signal in the counts and in the OTU
 * vectors, labels shared within patients, and refusal of impossible options. The files are
 * parsed here by hand so that this test does not depend on the table readers. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/synth.h"
#include "ml_test.h"
#include "ml_tmp.h"
#include "util/fileio.h"

static char root[64];

static const char *sub(const char *a, const char *b) {
    static char path[2][512];
    static int which;
    which ^= 1;
    if (b) snprintf(path[which], sizeof path[which], "%s/%s/%s", root, a, b);
    else snprintf(path[which], sizeof path[which], "%s/%s", root, a);
    return path[which];
}

static char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    if (ml__file_read(path, (size_t)1 << 28, &buf, &n) != ML_OK) return NULL;
    if (len) *len = n;
    return buf;
}

/* The parsed cohort: counts (n_samples, n_otus), labels, groups, OTU IDs, signal OTUs. */
typedef struct parsed {
    size_t n_samples, n_otus, n_signal;
    double *counts;
    char **otu_ids;
    int *positive;
    char (*group)[32];
    char (*sid)[32];
    size_t signal[64];
} parsed;

static void parsed_free(parsed *p) {
    for (size_t j = 0; p->otu_ids && j < p->n_otus; j++) free(p->otu_ids[j]);
    free(p->otu_ids);
    free(p->counts);
    free(p->positive);
    free(p->group);
    free(p->sid);
}

static int parse_table(parsed *p, const char *dir, size_t ns, size_t no) {
    char *buf = slurp(sub(dir, "table.tsv"), NULL);
    if (!buf) return 0;
    p->n_samples = ns;
    p->n_otus = no;
    p->counts = calloc(ns * no, sizeof *p->counts);
    p->otu_ids = calloc(no, sizeof *p->otu_ids);
    p->sid = calloc(ns, sizeof *p->sid);
    int ok = p->counts && p->otu_ids && p->sid;
    const char *first = "# Constructed from biom file\n#OTU ID\t";
    ok = ok && strncmp(buf, first, strlen(first)) == 0;
    char *line = buf + strlen("# Constructed from biom file\n"), *save = NULL;
    char *hdr = strtok_r(line, "\n", &save);
    size_t i = 0;
    char *fs = NULL;
    for (char *f = strtok_r(hdr, "\t", &fs); ok && f; f = strtok_r(NULL, "\t", &fs), i++)
        if (i > 0 && i <= ns) snprintf(p->sid[i - 1], sizeof p->sid[i - 1], "%s", f);
    ok = ok && i == ns + 1;
    size_t j = 0;
    for (char *row; ok && (row = strtok_r(NULL, "\n", &save)); j++) {
        if (j >= no) { ok = 0; break; }
        size_t k = 0;
        for (char *f = strtok_r(row, "\t", &fs); f; f = strtok_r(NULL, "\t", &fs), k++) {
            if (k == 0) p->otu_ids[j] = strdup(f);
            else if (k <= ns) p->counts[(k - 1) * no + j] = strtod(f, NULL);
        }
        ok = ok && k == ns + 1;
    }
    ok = ok && j == no;
    free(buf);
    return ok;
}

static int parse_labels(parsed *p, const char *dir) {
    char *buf = slurp(sub(dir, "labels.csv"), NULL);
    if (!buf) return 0;
    p->positive = calloc(p->n_samples, sizeof *p->positive);
    p->group = calloc(p->n_samples, sizeof *p->group);
    int ok = p->positive && p->group && strncmp(buf, "sid,label,group\n", 16) == 0;
    char *save = NULL;
    size_t i = 0;
    for (char *l = strtok_r(buf + 16, "\n", &save); ok && l;
         l = strtok_r(NULL, "\n", &save), i++) {
        char sid[32], label[32], group[32];
        ok = i < p->n_samples && sscanf(l, "%31[^,],%31[^,],%31s", sid, label, group) == 3;
        if (!ok) break;
        ok = strcmp(sid, p->sid[i]) == 0 &&
             (!strcmp(label, "allergy") || !strcmp(label, "healthy"));
        p->positive[i] = strcmp(label, "allergy") == 0;
        snprintf(p->group[i], sizeof p->group[i], "%s", group);
    }
    free(buf);
    return ok && i == p->n_samples;
}

static int parse_signal(parsed *p, const char *dir) {
    char *buf = slurp(sub(dir, "SOURCE.md"), NULL);
    if (!buf) return 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "- 90_", 5) != 0 || p->n_signal == 64) continue;
        for (size_t j = 0; j < p->n_otus; j++)
            if (strcmp(p->otu_ids[j], l + 2) == 0) p->signal[p->n_signal++] = j;
    }
    free(buf);
    return 1;
}

static int parse_all(parsed *p, const char *dir, size_t ns, size_t no) {
    memset(p, 0, sizeof *p);
    return parse_table(p, dir, ns, no) && parse_labels(p, dir) && parse_signal(p, dir);
}

static void test_synth__same_options_give_identical_files(void) {
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    CHECK_STATUS(ml_synth_write(sub("a", NULL), &o, NULL), ML_OK);
    CHECK_STATUS(ml_synth_write(sub("b", NULL), &o, NULL), ML_OK);
    o.seed = 43;
    CHECK_STATUS(ml_synth_write(sub("c", NULL), &o, NULL), ML_OK);
    const char *files[] = {"table.tsv", "labels.csv", "otu_vectors.safetensors", "SOURCE.md"};
    for (int f = 0; f < 4; f++) {
        size_t la = 0, lb = 0;
        char *a = slurp(sub("a", files[f]), &la), *b = slurp(sub("b", files[f]), &lb);
        CHECK(a && b && la == lb && memcmp(a, b, la) == 0);
        free(a);
        free(b);
    }
    size_t la = 0, lc = 0;
    char *a = slurp(sub("a", "table.tsv"), &la), *c = slurp(sub("c", "table.tsv"), &lc);
    CHECK(a && c && (la != lc || memcmp(a, c, la) != 0)); /* the seed matters */
    free(a);
    free(c);
    struct stat sb;
    CHECK(stat(sub("a", NULL), &sb) == 0 && (sb.st_mode & 0777) == 0755);
}

static void test_synth__default_cohort_shape_sparsity_and_signal(void) {
    ml_synth_summary s;
    memset(&s, 0, sizeof s);
    CHECK_STATUS(ml_synth_write(sub("d", NULL), NULL, &s), ML_OK); /* NULL: defaults */
    CHECK_EQ_INT(s.n_samples, 240);
    CHECK_EQ_INT(s.n_patients, 60);
    CHECK_EQ_INT(s.n_otus, 500);
    CHECK_EQ_INT(s.dim, 384);
    parsed p;
    int ok = parse_all(&p, "d", 240, 500);
    CHECK(ok);
    if (!ok) {
        parsed_free(&p);
        return;
    }
    size_t nnz = 0, n_pos = 0;
    for (size_t k = 0; k < 240 * 500; k++) nnz += p.counts[k] > 0;
    for (size_t i = 0; i < 240; i++) n_pos += (size_t)p.positive[i];
    CHECK_EQ_INT(nnz, s.nnz);
    CHECK_EQ_INT(n_pos, s.n_positive);
    CHECK_EQ_INT(n_pos, 96); /* 24 of 60 patients, 4 samples each */
    double zeros = 1.0 - (double)nnz / (240.0 * 500.0);
    CHECK(zeros >= 0.70 && zeros <= 0.90);
    CHECK_EQ_INT(p.n_signal, 8);
    /* Mean relative abundance of the signal OTUs, positives vs negatives. */
    double pos = 0, neg = 0;
    for (size_t i = 0; i < 240; i++) {
        double total = 0, sig = 0;
        for (size_t j = 0; j < 500; j++) total += p.counts[i * 500 + j];
        for (size_t k = 0; k < p.n_signal; k++) sig += p.counts[i * 500 + p.signal[k]];
        CHECK(total >= 1000);
        if (p.positive[i]) pos += sig / total / 96.0;
        else neg += sig / total / 144.0;
    }
    CHECK(pos > 2.0 * neg);
    /* Every OTU ID is unique and in MicrobeAtlas style. */
    for (size_t j = 0; j < 500; j++) {
        unsigned a, b, c;
        CHECK(sscanf(p.otu_ids[j], "90_%u;96_%u;97_%u", &a, &b, &c) == 3);
        CHECK_EQ_INT(c, j + 1);
    }
    parsed_free(&p);
}

static void test_synth__labels_shared_within_patients_and_samples_spread_evenly(void) {
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    o.n_samples = 11;
    o.n_patients = 3;
    o.n_otus = 40;
    o.dim = 4;
    o.n_signal_otus = 2;
    CHECK_STATUS(ml_synth_write(sub("e", NULL), &o, NULL), ML_OK);
    parsed p;
    int ok = parse_all(&p, "e", 11, 40);
    CHECK(ok);
    if (ok) {
        /* 11 over 3: 4, 4, 3 */
        const char *want[11] = {"P000_S00", "P000_S01", "P000_S02", "P000_S03", "P001_S00",
                                "P001_S01", "P001_S02", "P001_S03", "P002_S00", "P002_S01",
                                "P002_S02"};
        size_t n_pos_patients = 0;
        for (size_t i = 0; i < 11; i++) {
            CHECK_STR(p.sid[i], want[i]);
            CHECK(strncmp(p.group[i], p.sid[i], 4) == 0 && strlen(p.group[i]) == 4);
            if (i > 0 && strcmp(p.group[i], p.group[i - 1]) == 0)
                CHECK_EQ_INT(p.positive[i], p.positive[i - 1]);
            else n_pos_patients += (size_t)p.positive[i];
        }
        CHECK_EQ_INT(n_pos_patients, 1); /* round(0.4 * 3) */
    }
    parsed_free(&p);
}

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void test_synth__otu_vectors_file_and_signal_direction(void) {
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    o.n_otus = 100;
    o.dim = 64;
    o.n_signal_otus = 6;
    o.seed = 7;
    CHECK_STATUS(ml_synth_write(sub("v", NULL), &o, NULL), ML_OK);
    parsed p;
    int ok = parse_all(&p, "v", 240, 100);
    CHECK(ok);
    size_t len = 0;
    char *buf = slurp(sub("v", "otu_vectors.safetensors"), &len);
    CHECK(buf != NULL && len > 8);
    json_t *h = NULL;
    if (ok && buf && len > 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | (unsigned char)buf[i];
        h = json_loadb(buf + 8, (size_t)n, 0, NULL);
        CHECK(h != NULL);
        const char *data = buf + 8 + n;
        if (h) {
            json_t *meta = json_object_get(h, "__metadata__");
            CHECK_STR(json_string_value(json_object_get(meta, "generator")), "microlens synth");
            CHECK_STR(json_string_value(json_object_get(meta, "seed")), "7");
            CHECK_EQ_INT(json_object_size(h), 101);
        }
        const float *v[100] = {NULL};
        for (size_t j = 0; h && j < 100; j++) {
            json_t *e = json_object_get(h, p.otu_ids[j]);
            CHECK_STR(json_string_value(json_object_get(e, "dtype")), "F32");
            CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(e, "shape"), 0)), 64);
            json_t *off = json_object_get(e, "data_offsets");
            size_t b = (size_t)json_integer_value(json_array_get(off, 0));
            v[j] = (const float *)(const void *)(data + b);
        }
        double sig = 0, other = 0;
        size_t n_sig = 0, n_other = 0;
        int is_sig[100] = {0};
        for (size_t k = 0; k < p.n_signal; k++) is_sig[p.signal[k]] = 1;
        for (size_t a = 0; h && a < 100; a++)
            for (size_t b = a + 1; b < 100; b++) {
                double c = cosine(v[a], v[b], 64);
                if (is_sig[a] && is_sig[b]) sig += c, n_sig++;
                else if (!is_sig[a] && !is_sig[b]) other += c, n_other++;
            }
        CHECK_EQ_INT(n_sig, 15);
        CHECK(n_sig && sig / (double)n_sig > 0.3);
        CHECK(n_other && fabs(other / (double)n_other) < 0.05);
    }
    json_decref(h);
    free(buf);
    parsed_free(&p);
}

static void check_refused(ml_synth_options o, const char *dir, const char *sub_msg) {
    ml_synth_summary s = {1, 2, 3, 4, 5, 6};
    CHECK_STATUS(ml_synth_write(sub(dir, NULL), &o, &s), ML_EINVAL);
    CHECK_ERR_CONTAINS(sub_msg);
    CHECK_EQ_INT(s.nnz, 6); /* untouched */
    CHECK(access(sub(dir, NULL), F_OK) != 0); /* nothing created */
}

static void test_synth__rejects_impossible_options(void) {
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    o.version = 2;
    check_refused(o, "x", "version 2");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.n_samples = 0;
    check_refused(o, "x", "n_samples 0");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.n_patients = 241;
    check_refused(o, "x", "n_patients 241 (expected 1 to n_samples, 240)");
    o.n_patients = 0;
    check_refused(o, "x", "n_patients 0");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.n_otus = 1;
    check_refused(o, "x", "n_otus 1");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.dim = 0;
    check_refused(o, "x", "dim 0");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.n_signal_otus = 201;
    check_refused(o, "x", "n_signal_otus 201 (expected at most 200");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.signal_log_fold = NAN;
    check_refused(o, "x", "signal_log_fold nan");
    o.signal_log_fold = 11;
    check_refused(o, "x", "signal_log_fold 11");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    o.n_samples = 100000;
    o.n_patients = 10;
    o.n_otus = 100000;
    check_refused(o, "x", "cells");
    o = (ml_synth_options)ML_SYNTH_OPTIONS_INIT;
    CHECK_STATUS(ml_synth_write("", &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("out_dir");
    CHECK_STATUS(ml_synth_write(NULL, &o, NULL), ML_EINVAL);
}

static void test_synth__unwritable_out_dir_is_an_io_error(void) {
    CHECK_STATUS(ml__file_write_atomic(sub("plainfile", NULL), "x", 1, 0644), ML_OK);
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    o.n_otus = 20;
    o.dim = 2;
    o.n_signal_otus = 1;
    CHECK_STATUS(ml_synth_write(sub("plainfile", NULL), &o, NULL), ML_EIO);
    CHECK_STATUS(ml_synth_write(sub("plainfile", "below"), &o, NULL), ML_EIO);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/ml_synth_XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_synth__same_options_give_identical_files);
    RUN(test_synth__default_cohort_shape_sparsity_and_signal);
    RUN(test_synth__labels_shared_within_patients_and_samples_spread_evenly);
    RUN(test_synth__otu_vectors_file_and_signal_direction);
    RUN(test_synth__rejects_impossible_options);
    RUN(test_synth__unwritable_out_dir_is_an_io_error);
    ml_test_remove_tree(root);
    TEST_MAIN_END();
}
