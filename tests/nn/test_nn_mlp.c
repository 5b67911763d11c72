/* test_nn_mlp.c - what the MLP part of nn.h promises: names and shapes, nn.Linear's init bounds,
 * forward and every gradient against a double-precision reference built from the kernels' _ref
 * loops (itself checked against central differences), accumulation, and every error path.
 * (Agreement with PyTorch is tests/nn/test_optim_torch.c.) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "microlens/nn.h"
#include "ml_test.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/nn_check.h"
#include "nn/pointwise.h"

enum { ROWS = 6, D_IN = 5, H0 = 7, H1 = 4, CLASSES = 3 };
static const size_t widths[4] = {D_IN, H0, H1, CLASSES};
static const int labels[ROWS] = {0, 2, 1, 1, 0, 2};

static ml_mlp *small_mlp(int has_grad) {
    ml_mlp_config c = ML_MLP_CONFIG_INIT;
    c.d_in = D_IN;
    c.n_hidden = 2;
    c.hidden[0] = H0;
    c.hidden[1] = H1;
    c.n_classes = CLASSES;
    c.max_batch = ROWS;
    c.has_grad = has_grad;
    ml_mlp *m = NULL;
    CHECK_STATUS(ml_mlp_new(&m, &c), ML_OK);
    if (m) ml_mlp_init(m, 3);
    return m;
}

/* Double reference: the whole network's loss and, when grads != NULL, d loss / d params in
 * the model's tensor order (weight, bias per layer), from the _ref kernels. */
typedef struct ref_net {
    double p[256], g[256];
    size_t off[6];
} ref_net;

static double ref_loss(ref_net *r, const double *x, int want_grad) {
    double act[4][ROWS * 8], probs[ROWS * CLASSES], d[ROWS * 8], dn[ROWS * 8];
    const double *inp = x;
    for (size_t l = 0; l < 3; l++) {
        ml__linear_forward_ref(act[l + 1], inp, r->p + r->off[2 * l], r->p + r->off[2 * l + 1],
                               ROWS, widths[l], widths[l + 1]);
        if (l < 2) ml__relu_forward_ref(act[l + 1], act[l + 1], ROWS * widths[l + 1]);
        inp = act[l + 1];
    }
    double loss = ml__crossentropy_forward_ref(probs, act[3], labels, ROWS, CLASSES);
    if (!want_grad) return loss;
    memset(r->g, 0, sizeof r->g);
    memset(d, 0, sizeof d);
    ml__crossentropy_backward_ref(d, probs, labels, ROWS, CLASSES, 1.0);
    for (size_t l = 3; l-- > 0;) {
        memset(dn, 0, sizeof dn);
        ml__linear_backward_ref(l ? dn : NULL, r->g + r->off[2 * l], r->g + r->off[2 * l + 1],
                                d, l ? act[l] : x, r->p + r->off[2 * l], ROWS, widths[l],
                                widths[l + 1]);
        if (!l) break;
        memset(d, 0, sizeof d);
        ml__relu_backward_ref(d, dn, act[l], ROWS * widths[l]);
    }
    return loss;
}

static void fill_ref(ref_net *r, ml_mlp *m) {
    size_t off = 0;
    for (size_t i = 0; i < ml_mlp_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_mlp_tensor(m, i, &t), ML_OK);
        r->off[i] = off;
        nn_to_double(r->p + off, t.data, t.numel);
        off += t.numel;
    }
}

static void make_x(float *xf, double *xd) {
    ml__rng r;
    ml__rng_seed(&r, 17);
    nn_fill(xd, ROWS * D_IN, &r, -2.0, 2.0);
    nn_round_to_float(xd, ROWS * D_IN);
    nn_to_float(xf, xd, ROWS * D_IN);
}

static void test_nn_mlp__names_shapes_and_init_bounds(void) {
    ml_mlp *m = small_mlp(1);
    if (!m) return;
    CHECK_EQ_INT(ml_mlp_n_tensors(m), 6);
    const char *names[6] = {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                            "layers.1.bias", "layers.2.weight", "layers.2.bias"};
    for (size_t i = 0; i < 6; i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_mlp_tensor(m, i, &t), ML_OK);
        CHECK_STR(t.name, names[i]);
        size_t l = i / 2;
        CHECK_EQ_INT(t.shape[0], widths[l + 1]);
        CHECK_EQ_INT(t.numel, i % 2 ? widths[l + 1] : widths[l + 1] * widths[l]);
        CHECK(t.grad != NULL);
        float bound = (float)(1.0 / sqrt((double)widths[l])), most = 0.0f;
        for (size_t j = 0; j < t.numel; j++) most = fmaxf(most, fabsf(t.data[j]));
        CHECK(most <= bound);
        if (t.numel >= 12) CHECK(most > 0.5f * bound); /* not all squeezed near 0 */
    }
    float *data = NULL;
    size_t n = 0;
    CHECK_STATUS(ml_mlp_param(m, "layers.1.bias", &data, &n), ML_OK);
    CHECK_EQ_INT(n, H1);
    ml_mlp *again = small_mlp(1);
    float *data2 = NULL;
    if (again) {
        CHECK_STATUS(ml_mlp_param(again, "layers.1.bias", &data2, &n), ML_OK);
        CHECK(memcmp(data, data2, H1 * sizeof(float)) == 0); /* same seed, same weights */
        ml_mlp_init(again, 4);
        CHECK(memcmp(data, data2, H1 * sizeof(float)) != 0);
    }
    ml_mlp_free(again);
    ml_mlp_free(m);
}

static void test_nn_mlp__gradients_match_double_reference(void) {
    ml_mlp *m = small_mlp(1);
    if (!m) return;
    static ref_net r;
    float xf[ROWS * D_IN];
    double xd[ROWS * D_IN];
    make_x(xf, xd);
    fill_ref(&r, m);
    double loss = 0.0;
    ml_mlp_zero_grad(m);
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, labels, &loss), ML_OK);
    double want = ref_loss(&r, xd, 1);
    CHECK_NEAR(loss, want, 1e-5);
    for (size_t i = 0; i < 6; i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_mlp_tensor(m, i, &t), ML_OK);
        double diff = nn_max_diff_fd(t.grad, r.g + r.off[i], t.numel);
        if (diff > NN_FAST_TOL) fprintf(stderr, "%s: max diff %.3g\n", t.name, diff);
        CHECK(diff <= NN_FAST_TOL);
    }
    /* the reference against central differences, every parameter */
    double worst = 0.0;
    for (size_t k = 0; k < r.off[5] + CLASSES; k++) {
        double keep = r.p[k], g = r.g[k];
        r.p[k] = keep + NN_FD_STEP;
        double up = ref_loss(&r, xd, 0);
        r.p[k] = keep - NN_FD_STEP;
        double down = ref_loss(&r, xd, 0);
        r.p[k] = keep;
        worst = fmax(worst, fabs((up - down) / (2 * NN_FD_STEP) - g));
    }
    ref_loss(&r, xd, 1);
    CHECK(worst <= NN_FD_TOL);
    ml_mlp_free(m);
}

static void test_nn_mlp__backward_accumulates_and_zero_grad_clears(void) {
    ml_mlp *m = small_mlp(1);
    if (!m) return;
    float xf[ROWS * D_IN];
    double xd[ROWS * D_IN];
    make_x(xf, xd);
    double loss = 0.0;
    ml_mlp_zero_grad(m);
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, labels, &loss), ML_OK);
    ml_nn_tensor t;
    CHECK_STATUS(ml_mlp_tensor(m, 0, &t), ML_OK);
    float once = t.grad[3];
    CHECK(once != 0.0f);
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, labels, &loss), ML_OK);
    CHECK_NEAR(t.grad[3], 2.0 * once, 1e-6);
    ml_mlp_zero_grad(m);
    CHECK(t.grad[3] == 0.0f);
    ml_mlp_free(m);
}

static void test_nn_mlp__forward_matches_forward_backward_logits(void) {
    ml_mlp *m = small_mlp(0);
    if (!m) return;
    float xf[ROWS * D_IN];
    double xd[ROWS * D_IN];
    make_x(xf, xd);
    static ref_net r;
    fill_ref(&r, m);
    CHECK_STATUS(ml_mlp_forward(m, xf, 2), ML_OK); /* fewer rows than max_batch */
    double act[ROWS * 8], tmp[ROWS * 8];
    const double *inp = xd;
    for (size_t l = 0; l < 3; l++) {
        ml__linear_forward_ref(l == 1 ? tmp : act, inp, r.p + r.off[2 * l],
                               r.p + r.off[2 * l + 1], 2, widths[l], widths[l + 1]);
        double *out = l == 1 ? tmp : act;
        if (l < 2) ml__relu_forward_ref(out, out, 2 * widths[l + 1]);
        inp = out;
    }
    CHECK(nn_max_diff_fd(ml_mlp_logits(m), act, 2 * CLASSES) <= NN_FAST_TOL);
    ml_nn_tensor t;
    CHECK_STATUS(ml_mlp_tensor(m, 0, &t), ML_OK);
    CHECK(t.grad == NULL);
    double loss = 0.0;
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, labels, &loss), ML_EINVAL);
    CHECK_ERR_CONTAINS("without gradients");
    ml_mlp_zero_grad(m); /* no-op without gradients */
    ml_mlp_free(m);
}

static void test_nn_mlp__rejects_bad_rows_and_labels(void) {
    ml_mlp *m = small_mlp(1);
    if (!m) return;
    float xf[ROWS * D_IN];
    double xd[ROWS * D_IN];
    make_x(xf, xd);
    CHECK_STATUS(ml_mlp_forward(m, xf, 0), ML_EINVAL);
    CHECK_ERR_CONTAINS("0 rows");
    CHECK_STATUS(ml_mlp_forward(m, xf, ROWS + 1), ML_EINVAL);
    CHECK_ERR_CONTAINS("max_batch = 6");
    CHECK_STATUS(ml_mlp_forward(m, NULL, 1), ML_EINVAL);
    ml_mlp_zero_grad(m);
    int bad[ROWS] = {0, 1, 3, 0, 0, 0};
    double loss = -1.0;
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, bad, &loss), ML_EINVAL);
    CHECK_ERR_CONTAINS("labels[2] = 3");
    bad[2] = -1;
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, bad, &loss), ML_EINVAL);
    CHECK_STATUS(ml_mlp_forward_backward(m, xf, ROWS, NULL, &loss), ML_EINVAL);
    CHECK(loss == -1.0);
    ml_nn_tensor t;
    CHECK_STATUS(ml_mlp_tensor(m, 0, &t), ML_OK);
    CHECK(t.grad[0] == 0.0f); /* untouched */
    CHECK_STATUS(ml_mlp_tensor(m, 6, &t), ML_EINVAL);
    CHECK_ERR_CONTAINS("out of range");
    float *data = NULL;
    size_t n = 0;
    CHECK_STATUS(ml_mlp_param(m, "layers.9.weight", &data, &n), ML_ENOTFOUND);
    CHECK_ERR_CONTAINS("layers.9.weight");
    CHECK(data == NULL);
    ml_mlp_free(m);
}

static void expect_config_error(const ml_mlp_config *c, const char *what) {
    ml_mlp *m = NULL;
    CHECK_STATUS(ml_mlp_new(&m, c), ML_EINVAL);
    CHECK_ERR_CONTAINS(what);
    CHECK(m == NULL);
}

static void test_nn_mlp__new_rejects_bad_config(void) {
    ml_mlp_config c = ML_MLP_CONFIG_INIT;
    expect_config_error(&c, "d_in = 0"); /* d_in has no default */
    c.d_in = 10;
    c.n_classes = 1;
    expect_config_error(&c, "n_classes = 1");
    c.n_classes = 2;
    c.n_hidden = ML_NN_MLP_MAX_HIDDEN + 1;
    expect_config_error(&c, "n_hidden = 9");
    c.n_hidden = 2;
    c.hidden[1] = 0;
    expect_config_error(&c, "hidden[1] = 0");
    c.hidden[1] = 64;
    c.max_batch = 0;
    expect_config_error(&c, "max_batch = 0");
    c.max_batch = (size_t)1 << 25;
    expect_config_error(&c, "max_batch");
    c.max_batch = 16;
    c.version = 0;
    expect_config_error(&c, "version 0");
    expect_config_error(NULL, "version");
    ml_mlp_free(NULL);
}

int main(void) {
    RUN(test_nn_mlp__names_shapes_and_init_bounds);
    RUN(test_nn_mlp__gradients_match_double_reference);
    RUN(test_nn_mlp__backward_accumulates_and_zero_grad_clears);
    RUN(test_nn_mlp__forward_matches_forward_backward_logits);
    RUN(test_nn_mlp__rejects_bad_rows_and_labels);
    RUN(test_nn_mlp__new_rejects_bad_config);
    TEST_MAIN_END();
}
