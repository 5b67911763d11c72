/* test_linear.c - what linear.c promises: the BLAS path equals the loops, backward equals
 * finite differences, NULL gradients are skipped. */
#include "ml_test.h"
#include "nn/linear.h"
#include "nn_check.h"

enum { N = 7, DI = 5, DO = 4 };

typedef struct lin_case {
    double x[N * DI], w[DO * DI], b[DO], g[N * DO], out[N * DO];
} lin_case;

static void make_case(lin_case *c, uint64_t seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    nn_fill(c->x, N * DI, &r, -1, 1);
    nn_fill(c->w, DO * DI, &r, -1, 1);
    nn_fill(c->b, DO, &r, -1, 1);
    nn_fill(c->g, N * DO, &r, -1, 1);
    nn_round_to_float(c->x, N * DI);
    nn_round_to_float(c->w, DO * DI);
    nn_round_to_float(c->b, DO);
    nn_round_to_float(c->g, N * DO);
}

static double lin_loss(void *ctx) {
    lin_case *c = ctx;
    ml__linear_forward_ref(c->out, c->x, c->w, c->b, N, DI, DO);
    return nn_dot(c->out, c->g, N * DO);
}

static void test_linear__fast_matches_ref(void) {
    lin_case c;
    make_case(&c, 1);
    float x[N * DI], w[DO * DI], b[DO], g[N * DO], out[N * DO];
    nn_to_float(x, c.x, N * DI);
    nn_to_float(w, c.w, DO * DI);
    nn_to_float(b, c.b, DO);
    nn_to_float(g, c.g, N * DO);
    ml__linear_forward(out, x, w, b, N, DI, DO);
    ml__linear_forward_ref(c.out, c.x, c.w, c.b, N, DI, DO);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, N * DO), 0.0, NN_FAST_TOL);
    /* gradients start non-zero: backward must accumulate, not overwrite */
    float dx[N * DI], dw[DO * DI], db[DO];
    double rdx[N * DI], rdw[DO * DI], rdb[DO];
    for (size_t i = 0; i < N * DI; i++) dx[i] = 0.5f, rdx[i] = 0.5;
    for (size_t i = 0; i < DO * DI; i++) dw[i] = -0.25f, rdw[i] = -0.25;
    for (size_t i = 0; i < DO; i++) db[i] = 1.0f, rdb[i] = 1.0;
    ml__linear_backward(dx, dw, db, g, x, w, N, DI, DO);
    ml__linear_backward_ref(rdx, rdw, rdb, c.g, c.x, c.w, N, DI, DO);
    CHECK_NEAR(nn_max_diff_fd(dx, rdx, N * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(dw, rdw, DO * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(db, rdb, DO), 0.0, NN_FAST_TOL);
}

static void test_linear__backward_matches_finite_differences(void) {
    lin_case c;
    make_case(&c, 2);
    double dx[N * DI] = {0}, dw[DO * DI] = {0}, db[DO] = {0};
    ml__linear_backward_ref(dx, dw, db, c.g, c.x, c.w, N, DI, DO);
    CHECK_NEAR(nn_fd_max_err(c.x, N * DI, dx, lin_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.w, DO * DI, dw, lin_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.b, DO, db, lin_loss, &c), 0.0, NN_FD_TOL);
}

static void test_linear__null_gradients_are_skipped_and_no_bias_means_zero(void) {
    float x[2 * 3] = {1, 2, 3, 4, 5, 6}, w[2 * 3] = {1, 0, 0, 0, 1, 1}, out[4];
    ml__linear_forward(out, x, w, NULL, 2, 3, 2);
    CHECK_NEAR(out[0], 1.0, 0.0);
    CHECK_NEAR(out[1], 5.0, 0.0);
    CHECK_NEAR(out[3], 11.0, 0.0);
    float g[4] = {1, 1, 1, 1}, dw[6] = {0};
    ml__linear_backward(NULL, dw, NULL, g, x, w, 2, 3, 2);
    CHECK_NEAR(dw[0], 5.0, 0.0); /* 1 + 4 */
    CHECK_NEAR(dw[5], 9.0, 0.0); /* 3 + 6 */
}

int main(void) {
    RUN(test_linear__fast_matches_ref);
    RUN(test_linear__backward_matches_finite_differences);
    RUN(test_linear__null_gradients_are_skipped_and_no_bias_means_zero);
    TEST_MAIN_END();
}
