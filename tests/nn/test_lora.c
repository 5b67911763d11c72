/* test_lora.c - what lora.c promises: the adapter adds scale (dropout(x) A^T) B^T into a
 * strided output, the GEMM path equals the loops (with and without a dropout mask), backward
 * equals finite differences with the mask held fixed, the mask has rate p and values
 * 1/(1-p) and repeats with its seed, merge equals running the adapter and unmerge undoes it. */
#include "ml_test.h"
#include "nn/linear.h"
#include "nn/lora.h"
#include "nn_check.h"

enum { N = 5, DI = 6, DO = 4, R = 2, LDY = 9 };
#define SCALE 1.5

typedef struct lora_case {
    double x[N * DI], a[R * DI], b[DO * R], g[N * LDY], y[N * LDY], u[N * R];
    const double *mask; /* NULL: no dropout */
} lora_case;

static double lora_loss(void *ctx) {
    lora_case *c = ctx;
    memset(c->y, 0, sizeof c->y);
    ml__lora_forward_ref(c->y, LDY, c->u, c->x, c->a, c->b, SCALE, N, DI, DO, R, c->mask);
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
    c->mask = NULL;
}

#define P_DROP 0.25f

/* A mask with both kinds of entries, as ml__lora_dropout_mask draws it, in float and double. */
static void make_mask(float *mf, double *md) {
    ml__rng r;
    ml__rng_seed(&r, 77);
    ml__lora_dropout_mask(mf, N * DI, P_DROP, &r);
    nn_to_double(md, mf, N * DI);
}

static void check_fast_matches_ref(int with_mask) {
    lora_case c;
    make_case(&c);
    float mf[N * DI], xd[N * DI];
    double md[N * DI];
    make_mask(mf, md);
    const float *mask = with_mask ? mf : NULL;
    c.mask = with_mask ? md : NULL;
    size_t zeros = 0;
    for (size_t i = 0; i < N * DI; i++) zeros += mf[i] == 0.0f;
    CHECK(zeros > 0 && zeros < N * DI); /* the mask drops some inputs and keeps others */
    float x[N * DI], a[R * DI], b[DO * R], g[N * LDY], y[N * LDY], u[N * R], du[N * R];
    nn_to_float(x, c.x, N * DI);
    nn_to_float(a, c.a, R * DI);
    nn_to_float(b, c.b, DO * R);
    nn_to_float(g, c.g, N * LDY);
    memset(y, 0, sizeof y);
    ml__lora_forward(y, LDY, u, x, a, b, (float)SCALE, N, DI, DO, R, mask, xd);
    lora_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(y, c.y, N * LDY), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < N; i++) /* columns past d_out are untouched */
        for (size_t j = DO; j < LDY; j++) CHECK(y[i * LDY + j] == 0.0f);
    float dx[N * DI], da[R * DI], db[DO * R];
    double rdx[N * DI], rda[R * DI], rdb[DO * R];
    for (size_t i = 0; i < N * DI; i++) dx[i] = 0.5f, rdx[i] = 0.5;
    for (size_t i = 0; i < R * DI; i++) da[i] = 0.5f, rda[i] = 0.5;
    for (size_t i = 0; i < DO * R; i++) db[i] = 0.5f, rdb[i] = 0.5;
    ml__lora_backward(dx, da, db, du, g, LDY, x, u, a, b, (float)SCALE, N, DI, DO, R, mask, xd);
    ml__lora_backward_ref(rdx, rda, rdb, c.g, LDY, c.x, c.a, c.b, SCALE, N, DI, DO, R, c.mask);
    CHECK_NEAR(nn_max_diff_fd(dx, rdx, N * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(da, rda, R * DI), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(db, rdb, DO * R), 0.0, NN_FAST_TOL);
    if (with_mask) /* a dropped input gets no gradient through the adapter */
        for (size_t i = 0; i < N * DI; i++)
            if (mf[i] == 0.0f) CHECK(dx[i] == 0.5f);
}

static void test_lora__fast_matches_ref_on_a_strided_output(void) { check_fast_matches_ref(0); }

static void test_lora__fast_matches_ref_with_a_dropout_mask(void) { check_fast_matches_ref(1); }

static void check_fd(int with_mask) {
    lora_case c;
    make_case(&c);
    float mf[N * DI];
    double md[N * DI];
    make_mask(mf, md);
    c.mask = with_mask ? md : NULL;
    double dx[N * DI] = {0}, da[R * DI] = {0}, db[DO * R] = {0};
    ml__lora_backward_ref(dx, da, db, c.g, LDY, c.x, c.a, c.b, SCALE, N, DI, DO, R, c.mask);
    CHECK_NEAR(nn_fd_max_err(c.x, N * DI, dx, lora_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.a, R * DI, da, lora_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.b, DO * R, db, lora_loss, &c), 0.0, NN_FD_TOL);
}

static void test_lora__backward_matches_finite_differences(void) { check_fd(0); }

static void test_lora__backward_with_fixed_mask_matches_finite_differences(void) { check_fd(1); }

/* 2^20 draws: the kept fraction's sd is sqrt(p(1-p)/n) ~ 4e-4, so 3e-3 is over 7 sd. */
static void test_lora__dropout_mask_has_rate_p_and_scale_and_repeats(void) {
    enum { M = 1 << 20 };
    static float mask[M + 1], again[M + 1];
    const float ps[] = {0.1f, 0.5f, 0.9f};
    for (size_t k = 0; k < 3; k++) {
        ml__rng r;
        ml__rng_seed(&r, 5 + k);
        ml__lora_dropout_mask(mask, M + 1, ps[k], &r); /* odd length: the tail value too */
        size_t kept = 0, bad = 0;
        double sum = 0.0;
        for (size_t i = 0; i <= M; i++) {
            if (mask[i] != 0.0f) kept++;
            if (mask[i] != 0.0f && mask[i] != 1.0f / (1.0f - ps[k])) bad++;
            sum += mask[i];
        }
        CHECK_EQ_INT(bad, 0);
        CHECK_NEAR((double)kept / (M + 1), 1.0 - ps[k], 3e-3);
        CHECK_NEAR(sum / (M + 1), 1.0, 3e-3 / (1.0 - ps[k])); /* E[mask] = 1: inverted dropout */
        ml__rng_seed(&r, 5 + k);
        ml__lora_dropout_mask(again, M + 1, ps[k], &r);
        CHECK(memcmp(mask, again, sizeof mask) == 0);
    }
    ml__rng r;
    ml__rng_seed(&r, 1);
    ml__lora_dropout_mask(mask, 1000, 0.0f, &r);
    for (size_t i = 0; i < 1000; i++) CHECK(mask[i] == 1.0f);
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
    ml__lora_forward(y_adapter, DO, u, x, a, b, (float)SCALE, N, DI, DO, R, NULL, NULL);
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
    RUN(test_lora__fast_matches_ref_with_a_dropout_mask);
    RUN(test_lora__backward_matches_finite_differences);
    RUN(test_lora__backward_with_fixed_mask_matches_finite_differences);
    RUN(test_lora__dropout_mask_has_rate_p_and_scale_and_repeats);
    RUN(test_lora__merge_equals_adapter_and_unmerge_restores);
    TEST_MAIN_END();
}
