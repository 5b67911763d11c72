/* test_lora.c - what lora.c promises: the adapter adds scale (x A^T) B^T into a strided
 * output, the GEMM path equals the loops, backward equals finite differences, merge equals
 * running the adapter and unmerge undoes it. */
#include "ml_test.h"
#include "nn/linear.h"
#include "nn/lora.h"
#include "nn_check.h"

enum { N = 5, DI = 6, DO = 4, R = 2, LDY = 9 };
#define SCALE 1.5

typedef struct lora_case {
    double x[N * DI], a[R * DI], b[DO * R], g[N * LDY], y[N * LDY], u[N * R];
} lora_case;

static double lora_loss(void *ctx) {
    lora_case *c = ctx;
    memset(c->y, 0, sizeof c->y);
    ml__lora_forward_ref(c->y, LDY, c->u, c->x, c->a, c->b, SCALE, N, DI, DO, R);
    return nn_dot(c->y, c->g, N * LDY);
}

static void make_case(lora_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 9);
    nn_fill(c->x, N * DI, &r, -1, 1);
    nn_fill(c->a, R * DI, &r, -1, 1);
    nn_fill(c->b, DO * R, &r, -1, 1);
    nn_fill(c->g, N * LDY, &r, -1, 1);
    nn_round_to_float(c->x, N * DI);
    nn_round_to_float(c->a, R * DI);
    nn_round_to_float(c->b, DO * R);
    nn_round_to_float(c->g, N * LDY);
}

static void test_lora__fast_matches_ref_on_a_strided_output(void) {
    lora_case c;
    make_case(&c);
    float x[N * DI], a[R * DI], b[DO * R], g[N * LDY], y[N * LDY], u[N * R], du[N * R];
    nn_to_float(x, c.x, N * DI);
    nn_to_float(a, c.a, R * DI);
    nn_to_float(b, c.b, DO * R);
    nn_to_float(g, c.g, N * LDY);
    memset(y, 0, sizeof y);
    ml__lora_forward(y, LDY, u, x, a, b, (float)SCALE, N, DI, DO, R);
    lora_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(y, c.y, N * LDY), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < N; i++) /* columns past d_out are untouched */
        for (size_t j = DO; j < LDY; j++) CHECK(y[i * LDY + j] == 0.0f);
    float dx[N * DI], da[R * DI], db[DO * R];
    double rdx[N * DI], rda[R * DI], rdb[DO * R];
    for (size_t i = 0; i < N * DI; i++) dx[i] = 0.5f, rdx[i] = 0.5;
    for (size_t i = 0; i < R * DI; i++) da[i] = 0.5f, rda[i] = 0.5;
    for (size_t i = 0; i < DO * R; i++) db[i] = 0.5f, rdb[i] = 0.5;
    ml__lora_backward(dx, da, db, du, g, LDY, x, u, a, b, (float)SCALE, N, DI, DO, R);
    ml__lora_backward_ref(rdx, rda, rdb, c.g, LDY, c.x, c.a, c.b, SCALE, N, DI, DO, R);
    CHECK_NEAR(nn_max_diff_fd(dx, rdx, N * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(da, rda, R * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(db, rdb, DO * R), 0.0, NN_FAST_TOL);
}

static void test_lora__backward_matches_finite_differences(void) {
    lora_case c;
    make_case(&c);
    double dx[N * DI] = {0}, da[R * DI] = {0}, db[DO * R] = {0};
    ml__lora_backward_ref(dx, da, db, c.g, LDY, c.x, c.a, c.b, SCALE, N, DI, DO, R);
    CHECK_NEAR(nn_fd_max_err(c.x, N * DI, dx, lora_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.a, R * DI, da, lora_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.b, DO * R, db, lora_loss, &c), 0.0, NN_FD_TOL);
}

static void test_lora__merge_equals_adapter_and_unmerge_restores(void) {
    lora_case c;
    make_case(&c);
    ml__rng r;
    ml__rng_seed(&r, 10);
    double wd[DO * DI];
    nn_fill(wd, DO * DI, &r, -1, 1);
    float x[N * DI], a[R * DI], b[DO * R], w[DO * DI], w0[DO * DI], u[N * R];
    float y_adapter[N * DO], y_merged[N * DO];
    nn_to_float(x, c.x, N * DI);
    nn_to_float(a, c.a, R * DI);
    nn_to_float(b, c.b, DO * R);
    nn_to_float(w, wd, DO * DI);
    memcpy(w0, w, sizeof w);
    ml__linear_forward(y_adapter, x, w, NULL, N, DI, DO);
    ml__lora_forward(y_adapter, DO, u, x, a, b, (float)SCALE, N, DI, DO, R);
    ml__lora_merge(w, a, b, (float)SCALE, DI, DO, R);
    ml__linear_forward(y_merged, x, w, NULL, N, DI, DO);
    double worst = 0.0;
    for (size_t i = 0; i < N * DO; i++) worst = fmax(worst, fabs(y_adapter[i] - y_merged[i]));
    CHECK_NEAR(worst, 0.0, 1e-5);
    ml__lora_merge(w, a, b, -(float)SCALE, DI, DO, R);
    worst = 0.0;
    for (size_t i = 0; i < DO * DI; i++) worst = fmax(worst, fabs(w[i] - w0[i]));
    CHECK_NEAR(worst, 0.0, 1e-6);
}

int main(void) {
    RUN(test_lora__fast_matches_ref_on_a_strided_output);
    RUN(test_lora__backward_matches_finite_differences);
    RUN(test_lora__merge_equals_adapter_and_unmerge_restores);
    TEST_MAIN_END();
}
