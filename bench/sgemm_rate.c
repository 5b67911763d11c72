/* sgemm_rate.c - the machine's single-precision GEMM rate through the same OpenBLAS that
 * microlens links: best of a few 1024^3 cblas_sgemm calls, printed as GFLOP/s. It measures
 * nothing else and is not part of the library. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 1024
#define REPS 8

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < (size_t)N * N; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.2f;
    }
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f,
                    c, N);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("%.2f\n", 2.0 * N * N * N / best / 1e9);
    free(a);
    free(b);
    free(c);
    return c == NULL;
}
