/* test_pool.c - what pool.c promises: each set's mean over its own rows only, float equals the
 * double reference, backward equals finite differences. */
#include "ml_test.h"
#include "nn/pool.h"
#include "nn_check.h"

enum { S = 3, T = 8, D = 4 };
static const size_t offsets[S + 1] = {0, 3, 4, 8};

typedef struct pool_case {
    double x[T * D], g[S * D], out[S * D];
} pool_case;

static double pool_loss(void *ctx) {
    pool_case *c = ctx;
    ml__meanpool_forward_ref(c->out, c->x, offsets, S, D);
    return nn_dot(c->out, c->g, S * D);
}

static void test_pool__fast_matches_ref_and_finite_differences(void) {
    pool_case c;
    ml__rng r;
    ml__rng_seed(&r, 6);
    nn_fill(c.x, T * D, &r, -1, 1);
    nn_fill(c.g, S * D, &r, -1, 1);
    nn_round_to_float(c.x, T * D);
    nn_round_to_float(c.g, S * D);
    float x[T * D], g[S * D], out[S * D], dx[T * D];
    double rdx[T * D];
    nn_to_float(x, c.x, T * D);
    nn_to_float(g, c.g, S * D);
    ml__meanpool_forward(out, x, offsets, S, D);
    pool_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, S * D), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < T * D; i++) dx[i] = 0.5f, rdx[i] = 0.5;
    ml__meanpool_backward(dx, g, offsets, S, D);
    ml__meanpool_backward_ref(rdx, c.g, offsets, S, D);
    CHECK_NEAR(nn_max_diff_fd(dx, rdx, T * D), 0.0, NN_FAST_TOL);
    double fd_dx[T * D] = {0};
    ml__meanpool_backward_ref(fd_dx, c.g, offsets, S, D);
    CHECK_NEAR(nn_fd_max_err(c.x, T * D, fd_dx, pool_loss, &c), 0.0, NN_FD_TOL);
}

static void test_pool__set_mean_ignores_other_sets(void) {
    /* set 1 is the single row 3; rows of sets 0 and 2 must not leak into it */
    float x[T * D], out[S * D];
    for (size_t i = 0; i < T * D; i++) x[i] = 100.0f;
    for (size_t j = 0; j < D; j++) x[3 * D + j] = (float)j;
    ml__meanpool_forward(out, x, offsets, S, D);
    for (size_t j = 0; j < D; j++) CHECK_NEAR(out[1 * D + j], (double)j, 0.0);
    CHECK_NEAR(out[0], 100.0, 1e-5);
}

int main(void) {
    RUN(test_pool__fast_matches_ref_and_finite_differences);
    RUN(test_pool__set_mean_ignores_other_sets);
    TEST_MAIN_END();
}
