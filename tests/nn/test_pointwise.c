/* test_pointwise.c - what pointwise.c promises: ReLU (gradient 0 at 0) and residual add,
 * float equals the double reference, backward equals finite differences. */
#include "ml_test.h"
#include "nn/pointwise.h"
#include "nn_check.h"

enum { N = 16 };

typedef struct pw_case {
    double a[N], b[N], g[N], out[N];
} pw_case;

static double relu_loss(void *ctx) {
    pw_case *c = ctx;
    ml__relu_forward_ref(c->out, c->a, N);
    return nn_dot(c->out, c->g, N);
}

static double residual_loss(void *ctx) {
    pw_case *c = ctx;
    ml__residual_forward_ref(c->out, c->a, c->b, N);
    return nn_dot(c->out, c->g, N);
}

static void make_case(pw_case *c) {
    ml__rng r;
    ml__rng_seed(&r, 5);
    nn_fill(c->a, N, &r, -1, 1);
    nn_fill(c->b, N, &r, -1, 1);
    nn_fill(c->g, N, &r, -1, 1);
    for (size_t i = 0; i < N; i++) /* keep clear of the kink, where differences are one-sided */
        if (fabs(c->a[i]) < 1e-3) c->a[i] = 0.5;
    nn_round_to_float(c->a, N);
    nn_round_to_float(c->b, N);
    nn_round_to_float(c->g, N);
}

static void test_pointwise__fast_matches_ref(void) {
    pw_case c;
    make_case(&c);
    float a[N], b[N], g[N], out[N], da[N], db[N];
    double ra[N], rb[N];
    nn_to_float(a, c.a, N);
    nn_to_float(b, c.b, N);
    nn_to_float(g, c.g, N);
    ml__relu_forward(out, a, N);
    relu_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, N), 0.0, 0.0);
    for (size_t i = 0; i < N; i++) da[i] = 1.0f, ra[i] = 1.0;
    ml__relu_backward(da, g, a, N);
    ml__relu_backward_ref(ra, c.g, c.a, N);
    CHECK_NEAR(nn_max_diff_fd(da, ra, N), 0.0, NN_FAST_TOL);
    ml__residual_forward(out, a, b, N);
    residual_loss(&c);
    CHECK_NEAR(nn_max_diff_fd(out, c.out, N), 0.0, NN_FAST_TOL);
    for (size_t i = 0; i < N; i++) da[i] = db[i] = 2.0f, ra[i] = rb[i] = 2.0;
    ml__residual_backward(da, db, g, N);
    ml__residual_backward_ref(ra, rb, c.g, N);
    CHECK_NEAR(nn_max_diff_fd(da, ra, N), 0.0, NN_FAST_TOL);
    CHECK_NEAR(nn_max_diff_fd(db, rb, N), 0.0, NN_FAST_TOL);
}

static void test_pointwise__backward_matches_finite_differences(void) {
    pw_case c;
    make_case(&c);
    double da[N] = {0}, db[N] = {0};
    ml__relu_backward_ref(da, c.g, c.a, N);
    CHECK_NEAR(nn_fd_max_err(c.a, N, da, relu_loss, &c), 0.0, NN_FD_TOL);
    memset(da, 0, sizeof da);
    ml__residual_backward_ref(da, db, c.g, N);
    CHECK_NEAR(nn_fd_max_err(c.a, N, da, residual_loss, &c), 0.0, NN_FD_TOL);
    CHECK_NEAR(nn_fd_max_err(c.b, N, db, residual_loss, &c), 0.0, NN_FD_TOL);
}

static void test_pointwise__relu_gradient_is_zero_at_zero(void) {
    float x[2] = {0.0f, -0.0f}, g[2] = {1, 1}, dx[2] = {0, 0};
    ml__relu_backward(dx, g, x, 2);
    CHECK(dx[0] == 0.0f && dx[1] == 0.0f);
}

/* The in-place form gates on the ReLU's output and must equal relu_backward into zeros on
 * every value, the ReLU's kink (an output of +0) included. */
static void test_pointwise__inplace_relu_backward_equals_accumulating_form(void) {
    pw_case c;
    make_case(&c);
    float a[N + 2], g[N + 2], out[N + 2], zeroed[N + 2];
    nn_to_float(a, c.a, N);
    nn_to_float(g, c.g, N);
    a[N] = 0.0f, a[N + 1] = -0.0f, g[N] = g[N + 1] = 1.0f;
    ml__relu_forward(out, a, N + 2);
    memset(zeroed, 0, sizeof zeroed);
    ml__relu_backward(zeroed, g, a, N + 2);
    ml__relu_backward_inplace(g, out, N + 2);
    size_t n_zero = 0;
    for (size_t i = 0; i < N + 2; i++) {
        CHECK(g[i] == zeroed[i]);
        n_zero += zeroed[i] == 0.0f;
    }
    CHECK(n_zero >= 2 && n_zero < N + 2);
}

int main(void) {
    RUN(test_pointwise__fast_matches_ref);
    RUN(test_pointwise__backward_matches_finite_differences);
    RUN(test_pointwise__relu_gradient_is_zero_at_zero);
    RUN(test_pointwise__inplace_relu_backward_equals_accumulating_form);
    TEST_MAIN_END();
}
