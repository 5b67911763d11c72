/* test_attention.c - what attention.c promises: per-set multi-head attention over a ragged
 * batch (sets never see each other), the GEMM (training) path and the fused inference kernel
 * equal the loops, a set's inference output is bit-identical alone or batched, backward equals
 * the loops and finite differences. */
#include <stdlib.h>
#include <string.h>

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
    CHECK_EQ_INT(ml__attention_probs_size(offsets, S, H), PROBS);
}

static void test_attention__fast_matches_ref(void) {
    att_case c;
    make_case(&c);
    float qkv[T * 3 * D], g[T * D], out[T * D], probs[PROBS], dqkv[T * 3 * D];
    double rdqkv[T * 3 * D];
    nn_to_float(qkv, c.qkv, T * 3 * D);
    nn_to_float(g, c.g, T * D);
    float scratch[1024];
    CHECK(ml__attention_scratch_size(4, D, H) <= 1024);
    ml__attention_forward(out, probs, scratch, qkv, offsets, S, D, H);
    att_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, T * D), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(probs, c.probs, PROBS), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < T * 3 * D; i++) dqkv[i] = 0.5f, rdqkv[i] = 0.5;
    ml__attention_backward(dqkv, scratch, g, qkv, probs, offsets, S, D, H);
    ml__attention_backward_ref(rdqkv, c.g, c.qkv, c.probs, offsets, S, D, H);
    CHECK_NEAR(nn_max_diff_fd(dqkv, rdqkv, T * 3 * D), 0.0, NN_FAST_TOL);
    /* inference: P not stored, same output */
    float out2[T * D];
    ml__attention_forward(out2, NULL, scratch, qkv, offsets, S, D, H);
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
    float qkv[T * 3 * D], out[T * D], out2[T * D], probs[PROBS], scratch[1024];
    nn_to_float(qkv, c.qkv, T * 3 * D);
    ml__attention_forward(out, probs, scratch, qkv, offsets, S, D, H);
    for (size_t i = 3 * 3 * D; i < 4 * 3 * D; i++) qkv[i] += 5.0f; /* change set 1 only */
    ml__attention_forward(out2, probs, scratch, qkv, offsets, S, D, H);
    for (size_t i = 0; i < 3 * D; i++) CHECK(out[i] == out2[i]);
    for (size_t i = 4 * D; i < T * D; i++) CHECK(out[i] == out2[i]);
    /* a one-token set attends to itself only: its output is its own v */
    for (size_t j = 0; j < D; j++) CHECK_NEAR(out2[3 * D + j], qkv[3 * 3 * D + 2 * D + j], 1e-6);
}

/* Sets of sizes around the kernel's blocks (query rows in sixes, keys in 32s, value columns
 * in fours) with head dimension 20, as the large model has; two sets ragged. */
enum { BD = 40, BH = 2, BS = 3 };
static const size_t big_offsets[BS + 1] = {0, 37, 38, 108};

typedef struct big_case {
    size_t t;
    double *qkv, *out, *probs;
    float *fqkv, *fout, *fprobs, *scratch;
} big_case;

static int big_make(big_case *c) {
    size_t t = big_offsets[BS], np = ml__attention_probs_size(big_offsets, BS, BH);
    c->t = t;
    c->qkv = malloc(t * 3 * BD * sizeof *c->qkv);
    c->out = malloc(t * BD * sizeof *c->out);
    c->probs = malloc(np * sizeof *c->probs);
    c->fqkv = malloc(t * 3 * BD * sizeof *c->fqkv);
    c->fout = malloc(t * BD * sizeof *c->fout);
    c->fprobs = malloc(np * sizeof *c->fprobs);
    c->scratch = malloc(ml__attention_scratch_size(70, BD, BH) * sizeof *c->scratch);
    if (!c->qkv || !c->out || !c->probs || !c->fqkv || !c->fout || !c->fprobs || !c->scratch)
        return 0;
    ml__rng r;
    ml__rng_seed(&r, 21);
    nn_fill(c->qkv, t * 3 * BD, &r, -2, 2);
    nn_round_to_float(c->qkv, t * 3 * BD);
    nn_to_float(c->fqkv, c->qkv, t * 3 * BD);
    return 1;
}

static void big_free(big_case *c) {
    free(c->qkv), free(c->out), free(c->probs);
    free(c->fqkv), free(c->fout), free(c->fprobs), free(c->scratch);
}

static void test_attention__fused_kernel_matches_ref_on_ragged_blocks(void) {
    big_case c;
    int made = big_make(&c);
    CHECK(made);
    if (!made) {
        big_free(&c);
        return;
    }
    ml__attention_forward_ref(c.out, c.probs, c.qkv, big_offsets, BS, BD, BH);
    ml__attention_forward(c.fout, c.fprobs, c.scratch, c.fqkv, big_offsets, BS, BD, BH);
    CHECK_NEAR(nn_max_diff_fd(c.fout, c.out, c.t * BD), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(c.fprobs, c.probs, ml__attention_probs_size(big_offsets, BS, BH)),
               0.0, NN_FAST_TOL);
    /* inference: the fused kernel, P not kept */
    float *out2 = malloc(c.t * BD * sizeof *out2);
    CHECK(out2 != NULL);
    if (out2) {
        ml__attention_forward(out2, NULL, c.scratch, c.fqkv, big_offsets, BS, BD, BH);
        CHECK_NEAR(nn_max_diff_fd(out2, c.out, c.t * BD), 0.0, NN_FAST_TOL);
    }
    free(out2);
    big_free(&c);
}

static void test_attention__backward_matches_ref_on_ragged_blocks(void) {
    big_case c;
    int made = big_make(&c);
    size_t t = c.t;
    double *g = malloc(t * BD * sizeof *g), *rd = malloc(t * 3 * BD * sizeof *rd);
    float *fg = malloc(t * BD * sizeof *fg), *fd = malloc(t * 3 * BD * sizeof *fd);
    float *bs = malloc(70 * 70 * sizeof *bs);
    CHECK(made && g && rd && fg && fd && bs);
    if (made && g && rd && fg && fd && bs) {
        ml__rng r;
        ml__rng_seed(&r, 22);
        nn_fill(g, t * BD, &r, -1, 1);
        nn_round_to_float(g, t * BD);
        nn_to_float(fg, g, t * BD);
        for (size_t i = 0; i < t * 3 * BD; i++) rd[i] = 0.25, fd[i] = 0.25f;
        ml__attention_forward_ref(c.out, c.probs, c.qkv, big_offsets, BS, BD, BH);
        ml__attention_forward(c.fout, c.fprobs, c.scratch, c.fqkv, big_offsets, BS, BD, BH);
        ml__attention_backward_ref(rd, g, c.qkv, c.probs, big_offsets, BS, BD, BH);
        ml__attention_backward(fd, bs, fg, c.fqkv, c.fprobs, big_offsets, BS, BD, BH);
        CHECK_NEAR(nn_max_diff_fd(fd, rd, t * 3 * BD), 0.0, NN_FAST_TOL);
    }
    free(g), free(rd), free(fg), free(fd), free(bs);
    big_free(&c);
}

static void test_attention__set_output_is_bit_identical_alone_or_batched(void) {
    big_case c;
    int made = big_make(&c);
    CHECK(made);
    if (!made) {
        big_free(&c);
        return;
    }
    ml__attention_forward(c.fout, NULL, c.scratch, c.fqkv, big_offsets, BS, BD, BH);
    /* the last set (70 rows) run on its own, from a fresh copy */
    size_t r0 = big_offsets[2], n = big_offsets[3] - r0, one[2] = {0, n};
    float *qkv1 = malloc(n * 3 * BD * sizeof *qkv1), *out1 = malloc(n * BD * sizeof *out1);
    CHECK(qkv1 && out1);
    if (qkv1 && out1) {
        memcpy(qkv1, c.fqkv + r0 * 3 * BD, n * 3 * BD * sizeof *qkv1);
        ml__attention_forward(out1, NULL, c.scratch, qkv1, one, 1, BD, BH);
        CHECK(memcmp(out1, c.fout + r0 * BD, n * BD * sizeof *out1) == 0);
    }
    free(qkv1), free(out1);
    big_free(&c);
}

int main(void) {
    RUN(test_attention__probs_size_counts_blocks);
    RUN(test_attention__fast_matches_ref);
    RUN(test_attention__backward_matches_finite_differences);
    RUN(test_attention__sets_do_not_see_each_other);
    RUN(test_attention__fused_kernel_matches_ref_on_ragged_blocks);
    RUN(test_attention__backward_matches_ref_on_ragged_blocks);
    RUN(test_attention__set_output_is_bit_identical_alone_or_batched);
    TEST_MAIN_END();
}
