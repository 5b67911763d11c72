/* test_attention.c - what attention.c promises: per-set multi-head attention over a ragged
 * batch (sets never see each other), the GEMM path equals the loops, inference layout equals
 * the kept one, backward equals finite differences. */
#include "ml_test.h"
#include "nn/attention.h"
#include "nn_check.h"

enum { S = 3, T = 8, D = 6, H = 2, PROBS = H * (9 + 1 + 16) };
static const size_t offsets[S + 1] = {0, 3, 4, 8};

typedef struct att_case {
    double qkv[T * 3 * D], g[T * D], out[T * D], probs[PROBS];
} att_case;

static double att_loss(void *ctx) {
    att_case *c = ctx;
    ml__attention_forward_ref(c->out, c->probs, c->qkv, offsets, S, D, H);
    return nn_dot(c->out, c->g, T * D);
}

static void make_case(att_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 8);
    nn_fill(c->qkv, T * 3 * D, &r, -2, 2);
    nn_fill(c->g, T * D, &r, -1, 1);
    nn_round_to_float(c->qkv, T * 3 * D);
    nn_round_to_float(c->g, T * D);
}

static void test_attention__probs_size_counts_blocks(void) {
    CHECK_EQ_INT(ml__attention_probs_size(offsets, S, H, 1), PROBS);
    CHECK_EQ_INT(ml__attention_probs_size(offsets, S, H, 0), H * 16);
}

static void test_attention__fast_matches_ref(void) {
    att_case c;
    make_case(&c);
    float qkv[T * 3 * D], g[T * D], out[T * D], probs[PROBS], dqkv[T * 3 * D], dp[16];
    double rdqkv[T * 3 * D];
    nn_to_float(qkv, c.qkv, T * 3 * D);
    nn_to_float(g, c.g, T * D);
    ml__attention_forward(out, probs, qkv, offsets, S, D, H, 1);
    att_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, T * D), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(probs, c.probs, PROBS), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < T * 3 * D; i++) dqkv[i] = 0.5f, rdqkv[i] = 0.5;
    ml__attention_backward(dqkv, dp, g, qkv, probs, offsets, S, D, H);
    ml__attention_backward_ref(rdqkv, c.g, c.qkv, c.probs, offsets, S, D, H);
    CHECK_NEAR(nn_max_diff_fd(dqkv, rdqkv, T * 3 * D), 0.0, NN_FAST_TOL);
    /* inference layout: one reused block, same output */
    float out2[T * D], probs2[H * 16];
    ml__attention_forward(out2, probs2, qkv, offsets, S, D, H, 0);
    CHECK_NEAR(nn_max_diff_fd(out2, c.out, T * D), 0.0, NN_FAST_TOL);
}

static void test_attention__backward_matches_finite_differences(void) {
    att_case c;
    make_case(&c);
    double dqkv[T * 3 * D] = {0};
    att_loss(&c);
    ml__attention_backward_ref(dqkv, c.g, c.qkv, c.probs, offsets, S, D, H);
    CHECK_NEAR(nn_fd_max_err(c.qkv, T * 3 * D, dqkv, att_loss, &c), 0.0, NN_FD_TOL);
}

static void test_attention__sets_do_not_see_each_other(void) {
    att_case c;
    make_case(&c);
    float qkv[T * 3 * D], out[T * D], out2[T * D], probs[PROBS];
    nn_to_float(qkv, c.qkv, T * 3 * D);
    ml__attention_forward(out, probs, qkv, offsets, S, D, H, 1);
    for (size_t i = 3 * 3 * D; i < 4 * 3 * D; i++) qkv[i] += 5.0f; /* change set 1 only */
    ml__attention_forward(out2, probs, qkv, offsets, S, D, H, 1);
    for (size_t i = 0; i < 3 * D; i++) CHECK(out[i] == out2[i]);
    for (size_t i = 4 * D; i < T * D; i++) CHECK(out[i] == out2[i]);
    /* a one-token set attends to itself only: its output is its own v */
    for (size_t j = 0; j < D; j++) CHECK_NEAR(out2[3 * D + j], qkv[3 * 3 * D + 2 * D + j], 1e-6);
}

int main(void) {
    RUN(test_attention__probs_size_counts_blocks);
    RUN(test_attention__fast_matches_ref);
    RUN(test_attention__backward_matches_finite_differences);
    RUN(test_attention__sets_do_not_see_each_other);
    TEST_MAIN_END();
}
