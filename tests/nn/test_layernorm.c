/* test_layernorm.c - what layernorm.c promises: PyTorch's normalisation (biased variance,
 * eps 1e-5), float equals the double reference, backward equals finite differences. */
#include "ml_test.h"
#include "nn/layernorm.h"
#include "nn_check.h"

enum { N = 5, D = 8 };

typedef struct ln_case {
    double x[N * D], w[D], b[D], g[N * D], out[N * D], mean[N], rstd[N];
} ln_case;

static double ln_loss(void *ctx) {
    ln_case *c = ctx;
    ml__layernorm_forward_ref(c->out, c->mean, c->rstd, c->x, c->w, c->b, N, D);
    return nn_dot(c->out, c->g, N * D);
}

static void make_case(ln_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 4);
    nn_fill(c->x, N * D, &r, -2, 3);
    nn_fill(c->w, D, &r, 0.5, 1.5);
    nn_fill(c->b, D, &r, -1, 1);
    nn_fill(c->g, N * D, &r, -1, 1);
    nn_round_to_float(c->x, N * D);
    nn_round_to_float(c->w, D);
    nn_round_to_float(c->b, D);
    nn_round_to_float(c->g, N * D);
}

static void test_layernorm__fast_matches_ref_forward_and_backward(void) {
    ln_case c;
    make_case(&c);
    float x[N * D], w[D], b[D], g[N * D], out[N * D], mean[N], rstd[N];
    nn_to_float(x, c.x, N * D);
    nn_to_float(w, c.w, D);
    nn_to_float(b, c.b, D);
    nn_to_float(g, c.g, N * D);
    ml__layernorm_forward(out, mean, rstd, x, w, b, N, D);
    ln_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, N * D), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(rstd, c.rstd, N), 0.0, NN_FAST_TOL);
    float dx[N * D] = {0}, dw[D] = {0}, db[D] = {0};
    double rdx[N * D] = {0}, rdw[D] = {0}, rdb[D] = {0};
    ml__layernorm_backward(dx, dw, db, g, x, w, mean, rstd, N, D);
    ml__layernorm_backward_ref(rdx, rdw, rdb, c.g, c.x, c.w, c.mean, c.rstd, N, D);
    CHECK_NEAR(nn_max_diff_fd(dx, rdx, N * D), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(dw, rdw, D), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(db, rdb, D), 0.0, NN_FAST_TOL);
    /* frozen weights: dw, db NULL, dinp unchanged */
    float dx2[N * D] = {0};
    ml__layernorm_backward(dx2, NULL, NULL, g, x, w, mean, rstd, N, D);
    CHECK_NEAR(nn_max_diff_fd(dx2, rdx, N * D), 0.0, NN_FAST_TOL);
}

static void test_layernorm__backward_matches_finite_differences(void) {
    ln_case c;
    make_case(&c);
    double dx[N * D] = {0}, dw[D] = {0}, db[D] = {0};
    ln_loss(&c);
    ml__layernorm_backward_ref(dx, dw, db, c.g, c.x, c.w, c.mean, c.rstd, N, D);
    CHECK_NEAR(nn_fd_max_err(c.x, N * D, dx, ln_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.w, D, dw, ln_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.b, D, db, ln_loss, &c), 0.0, NN_FD_TOL);
}

static void test_layernorm__uses_biased_variance_and_eps(void) {
    /* x = (1, 3): mean 2, biased variance 1, so y = (-1, 1) / sqrt(1 + 1e-5) */
    float x[2] = {1, 3}, w[2] = {1, 1}, b[2] = {0, 0}, y[2], mean, rstd;
    ml__layernorm_forward(y, &mean, &rstd, x, w, b, 1, 2);
    CHECK_NEAR(mean, 2.0, 0.0);
    CHECK_NEAR(y[1], 1.0 / sqrt(1.0 + 1e-5), 1e-7);
    CHECK_NEAR(y[0], -1.0 / sqrt(1.0 + 1e-5), 1e-7);
}

int main(void) {
    RUN(test_layernorm__fast_matches_ref_forward_and_backward);
    RUN(test_layernorm__backward_matches_finite_differences);
    RUN(test_layernorm__uses_biased_variance_and_eps);
    TEST_MAIN_END();
}
