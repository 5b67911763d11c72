/* test_softmax.c - what softmax.c promises: rows sum to 1, no overflow on large logits,
 * float equals the double reference, backward equals finite differences. */
#include "ml_test.h"
#include "nn/softmax.h"
#include "nn_check.h"

enum { R = 4, C = 6 };

typedef struct sm_case {
    double s[R * C], g[R * C], p[R * C];
} sm_case;

static double sm_loss(void *ctx) {
    sm_case *c = ctx;
    ml__softmax_forward_ref(c->p, c->s, R, C);
    return nn_dot(c->p, c->g, R * C);
}

static void make_case(sm_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 3);
    nn_fill(c->s, R * C, &r, -3, 3);
    nn_fill(c->g, R * C, &r, -1, 1);
    nn_round_to_float(c->s, R * C);
    nn_round_to_float(c->g, R * C);
}

static void test_softmax__fast_matches_ref_forward_and_backward(void) {
    sm_case c;
    make_case(&c);
    float s[R * C], g[R * C], p[R * C], ds[R * C];
    double rds[R * C];
    nn_to_float(s, c.s, R * C);
    nn_to_float(g, c.g, R * C);
    ml__softmax_forward(p, s, R, C);
    sm_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(p, c.p, R * C), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < R * C; i++) ds[i] = 0.125f, rds[i] = 0.125;
    ml__softmax_backward(ds, g, p, R, C);
    ml__softmax_backward_ref(rds, c.g, c.p, R, C);
    CHECK_NEAR(nn_max_diff_fd(ds, rds, R * C), 0.0, NN_FAST_TOL);
    /* aliased ds == dp overwrites with the same gradient (minus the 0.125 start) */
    ml__softmax_backward(g, g, p, R, C);
    for (size_t i = 0; i < R * C; i++) CHECK_NEAR(g[i], ds[i] - 0.125f, 1e-6);
}

static void test_softmax__backward_matches_finite_differences(void) {
    sm_case c;
    make_case(&c);
    double ds[R * C] = {0};
    sm_loss(&c);
    ml__softmax_backward_ref(ds, c.g, c.p, R, C);
    CHECK_NEAR(nn_fd_max_err(c.s, R * C, ds, sm_loss, &c), 0.0, NN_FD_TOL);
}

static void test_softmax__large_logits_do_not_overflow_and_rows_sum_to_one(void) {
    float s[3] = {1000.0f, 1001.0f, -1000.0f}, p[3];
    ml__softmax_forward(p, s, 1, 3);
    CHECK_NEAR(p[0], 1.0 / (1.0 + exp(1.0)), 1e-6);
    CHECK_NEAR(p[1], exp(1.0) / (1.0 + exp(1.0)), 1e-6);
    CHECK_NEAR(p[0] + p[1] + p[2], 1.0, 1e-6);
    CHECK(p[2] == 0.0f);
}

/* Rows wider than the 16-lane blocks (the vector body and its tail), computed in place. */
static void test_softmax__wide_rows_in_place_match_ref(void) {
    enum { WR = 3, WC = 37 };
    double s[WR * WC], p[WR * WC];
    float f[WR * WC];
    ml__rng r;
    ml__rng_seed(&r, 9);
    nn_fill(s, WR * WC, &r, -20, 20);
    nn_round_to_float(s, WR * WC);
    nn_to_float(f, s, WR * WC);
    ml__softmax_forward_ref(p, s, WR, WC);
    ml__softmax_forward(f, f, WR, WC);
    CHECK_NEAR(nn_max_diff_fd(f, p, WR * WC), 0.0, NN_FAST_TOL);
}

int main(void) {
    RUN(test_softmax__fast_matches_ref_forward_and_backward);
    RUN(test_softmax__backward_matches_finite_differences);
    RUN(test_softmax__large_logits_do_not_overflow_and_rows_sum_to_one);
    RUN(test_softmax__wide_rows_in_place_match_ref);
    TEST_MAIN_END();
}
