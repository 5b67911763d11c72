/* sklearn_oracle.h - test-side plumbing for scikit-learn oracles: a temp folder, CSV in and
 * out (%.17g), and running /usr/bin/python3 tests/oracle/<script>.py DIR. Tests only. */
#ifndef ML_SKLEARN_ORACLE_H
#define ML_SKLEARN_ORACLE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_PYTHON "/usr/bin/python3"

/* 1 when scikit-learn can run; 0 (after printing SKIP) when it cannot and CI is not "true";
 * -1 (a failure) when it cannot and CI=true. */
static inline int oracle_available(void) {
    FILE *p = popen(ORACLE_PYTHON " -c 'import sklearn, numpy' 2>&1", "r");
    if (p) {
        char line[256];
        while (fgets(line, sizeof line, p)) continue;
        if (pclose(p) == 0) return 1;
    }
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        fprintf(stderr, "FAIL: scikit-learn oracle unavailable and CI=true\n");
        return -1;
    }
    fprintf(stderr, "SKIP: %s with scikit-learn not available\n", ORACLE_PYTHON);
    return 0;
}

static inline void oracle_path(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

static inline int oracle_write_doubles(const char *dir, const char *name, const double *v,
                                       size_t rows, size_t cols) {
    char path[512];
    oracle_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            fprintf(f, "%.17g%c", v[i * cols + j], j + 1 == cols ? '\n' : ',');
    return fclose(f);
}

static inline int oracle_write_ints(const char *dir, const char *name, const int *v, size_t n) {
    char path[512];
    oracle_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (size_t i = 0; i < n; i++) fprintf(f, "%d\n", v[i]);
    return fclose(f);
}

static inline int oracle_write_text(const char *dir, const char *name, const char *text) {
    char path[512];
    oracle_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Reads up to cap numbers separated by commas/newlines; returns how many, -1 if unreadable. */
static inline long oracle_read_doubles(const char *dir, const char *name, double *v, size_t cap) {
    char path[512];
    oracle_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t k = 0;
    while (k < cap && fscanf(f, " %lf ,", &v[k]) == 1) k++;
    fclose(f);
    return (long)k;
}

/* Runs the script on dir; prints its output on failure. Returns 0 on success. */
static inline int oracle_run(const char *script, const char *dir) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, ORACLE_PYTHON " %s/tests/oracle/%s %s 2>&1", ML_SOURCE_DIR, script,
             dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    while (fgets(line, sizeof line, p)) fprintf(stderr, "  [%s] %s", script, line);
    int rc = pclose(p);
    return rc == 0 ? 0 : -1;
}

/* A fresh temp folder name in buf (capacity >= 32); 0 on success. */
static inline int oracle_tmpdir(char *buf) {
    memcpy(buf, "/tmp/ml_oracle_XXXXXX", sizeof "/tmp/ml_oracle_XXXXXX");
    return mkdtemp(buf) ? 0 : -1;
}

/* Removes the folder and the plain files the test and script wrote into it. */
static inline void oracle_cleanup(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        oracle_path(path, sizeof path, dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    if (rmdir(dir) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
