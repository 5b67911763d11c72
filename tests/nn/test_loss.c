/* test_loss.c - what loss.c promises: PyTorch's mean cross-entropy and BCE-with-logits
 * values, no overflow at large logits, float equals the double reference, backward equals
 * finite differences. */
#include "ml_test.h"
#include "nn/loss.h"
#include "nn_check.h"

enum { N = 5, C = 3 };
static const int labels[N] = {0, 2, 1, 1, 0};

typedef struct loss_case {
    double z[N * C], y[N], p[N * C];
} loss_case;

static double ce_loss(void *ctx) {
    loss_case *c = ctx;
    return ml__crossentropy_forward_ref(c->p, c->z, labels, N, C);
}

static double bce_loss(void *ctx) {
    loss_case *c = ctx;
    return ml__bce_forward_ref(c->z, c->y, N);
}

static void make_case(loss_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 7);
    nn_fill(c->z, N * C, &r, -4, 4);
    nn_fill(c->y, N, &r, 0, 1);
    nn_round_to_float(c->z, N * C);
    nn_round_to_float(c->y, N);
}

static void test_loss__fast_matches_ref(void) {
    loss_case c;
    make_case(&c);
    float z[N * C], y[N], p[N * C], dz[N * C];
    double rdz[N * C];
    nn_to_float(z, c.z, N * C);
    nn_to_float(y, c.y, N);
    CHECK_NEAR(ml__crossentropy_forward(p, z, labels, N, C), ce_loss(&c), 1e-6);
    for (size_t i = 0; i < N * C; i++) dz[i] = 0.25f, rdz[i] = 0.25;
    ml__crossentropy_backward(dz, p, labels, N, C, 2.0f);
    ml__crossentropy_backward_ref(rdz, c.p, labels, N, C, 2.0);
    CHECK_NEAR(nn_max_diff_fd(dz, rdz, N * C), 0.0, NN_FAST_TOL);
    CHECK_NEAR(ml__bce_forward(z, y, N), bce_loss(&c), 1e-6);
    for (size_t i = 0; i < N; i++) dz[i] = 0.25f, rdz[i] = 0.25;
    ml__bce_backward(dz, z, y, N, 2.0f);
    ml__bce_backward_ref(rdz, c.z, c.y, N, 2.0);
    CHECK_NEAR(nn_max_diff_fd(dz, rdz, N), 0.0, NN_FAST_TOL);
}

static void test_loss__backward_matches_finite_differences(void) {
    loss_case c;
    make_case(&c);
    double dz[N * C] = {0};
    ce_loss(&c);
    ml__crossentropy_backward_ref(dz, c.p, labels, N, C, 1.0);
    CHECK_NEAR(nn_fd_max_err(c.z, N * C, dz, ce_loss, &c), 0.0, NN_FD_TOL);
    memset(dz, 0, sizeof dz);
    ml__bce_backward_ref(dz, c.z, c.y, N, 1.0);
    CHECK_NEAR(nn_fd_max_err(c.z, N, dz, bce_loss, &c), 0.0, NN_FD_TOL);
}

static void test_loss__known_values_and_large_logits(void) {
    float z[3] = {0, 0, 0}, p[3];
    int y0 = 1;
    CHECK_NEAR(ml__crossentropy_forward(p, z, &y0, 1, 3), log(3.0), 1e-12);
    float t = 1.0f;
    CHECK_NEAR(ml__bce_forward(z, &t, 1), log(2.0), 1e-12);
    /* z = 200, y = 0: loss is 200 (log1p(exp(-200)) vanishes), no inf from exp(200) */
    float big = 200.0f, zero_t = 0.0f, dbig = 0.0f;
    CHECK_NEAR(ml__bce_forward(&big, &zero_t, 1), 200.0, 1e-9);
    ml__bce_backward(&dbig, &big, &zero_t, 1, 1.0f);
    CHECK_NEAR(dbig, 1.0, 0.0);
    float zz[2] = {1000.0f, -1000.0f}, pp[2];
    int y1 = 1;
    CHECK_NEAR(ml__crossentropy_forward(pp, zz, &y1, 1, 2), 2000.0, 1e-9);
    CHECK(isfinite(pp[0]) && isfinite(pp[1]));
}

int main(void) {
    RUN(test_loss__fast_matches_ref);
    RUN(test_loss__backward_matches_finite_differences);
    RUN(test_loss__known_values_and_large_logits);
    TEST_MAIN_END();
}
