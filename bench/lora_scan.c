/* lora_scan.c - the microlens side of bench/lora-scan.sh: a scan of a LoRA checkpoint series
 * as ml_analyze does it - open each checkpoint's adapter once (safetensors + config, factors
 * to double), its spectra (thin QR/LQ + r x r SVD per module), and each module's update cosine
 * with the first and with the previous checkpoint - keeping only the first, the previous and
 * the current adapter in memory.
 * Usage: lora_scan REPEATS CKPT_DIR...  (each holding adapter_model.safetensors and
 * adapter_config.json). Prints the best wall time over REPEATS scans, then per checkpoint the
 * sum of all singular values and the sums of the finite cosines, for the script to compare
 * with numpy's. It does not compare (the script does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze/lora.h"
#include "microlens/analyze.h"

#define MAX_CKPTS 4096

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "lora_scan: %s: %s\n", what, ml_error_last()->message);
    exit(1);
}

typedef struct sums {
    double sigma, cos_first, cos_prev;
} sums;

static double finite_sum(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) s += x[i];
    return s;
}

static void scan(char **dirs, size_t n, sums *out) {
    char w[4096], c[4096];
    ml__lora_adapter *first = NULL, *prev = NULL;
    for (size_t k = 0; k < n; k++) {
        snprintf(w, sizeof w, "%s/adapter_model.safetensors", dirs[k]);
        snprintf(c, sizeof c, "%s/adapter_config.json", dirs[k]);
        ml__lora_adapter *cur = NULL;
        ml_lora_spectra *s = NULL;
        if (ml__lora_adapter_open(&cur, w, c) != ML_OK) die(w);
        if (ml__lora_adapter_spectra(&s, cur) != ML_OK) die("spectra");
        size_t m = ml__lora_adapter_n_modules(cur);
        double *cf = calloc(m + 1, sizeof *cf), *cp = calloc(m + 1, sizeof *cp);
        if (!cf || !cp) die("calloc");
        if (ml__lora_adapter_cosines(cf, cur, first ? first : cur) != ML_OK) die("cosines");
        if (ml__lora_adapter_cosines(cp, cur, prev ? prev : cur) != ML_OK) die("cosines");
        out[k] = (sums){0, finite_sum(cf, m), finite_sum(cp, m)};
        for (size_t i = 0; i < s->n_modules; i++)
            for (size_t j = 0; j < s->modules[i].rank; j++) out[k].sigma += s->modules[i].sigma[j];
        free(cf);
        free(cp);
        ml_lora_spectra_free(s);
        if (prev != first) ml__lora_adapter_free(prev);
        if (!first) first = cur;
        prev = cur;
    }
    if (prev != first) ml__lora_adapter_free(prev);
    ml__lora_adapter_free(first);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: lora_scan REPEATS CKPT_DIR...\n");
        return 2;
    }
    int repeats = (int)strtol(argv[1], NULL, 10);
    size_t n = (size_t)(argc - 2);
    if (repeats < 1 || n > MAX_CKPTS) {
        fprintf(stderr, "lora_scan: REPEATS >= 1 and at most %d checkpoints\n", MAX_CKPTS);
        return 2;
    }
    sums *out = calloc(n, sizeof *out);
    if (!out) die("calloc");
    double best = INFINITY;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_s();
        scan(argv + 2, n, out);
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    printf("seconds %.6f\n", best);
    for (size_t k = 0; k < n; k++)
        printf("ckpt %zu %.12e %.12e %.12e\n", k, out[k].sigma, out[k].cos_first, out[k].cos_prev);
    free(out);
    return 0;
}
