/* test_optim.c - what optim.h promises without PyTorch: AdamW's and SGD's updates on values
 * worked out by hand, frozen tensors, clipping, the schedules' values, the state's names,
 * round trip through a safetensors file, and every error path. (PyTorch agreement over several
 * steps is tests/nn/test_optim_torch.c.) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/optim.h"
#include "microlens/safetensors.h"
#include "ml_test.h"

/* Two trainable tensors and a frozen one, owned by the test. */
typedef struct toy {
    float w[6], gw[6], b[2], gb[2], frozen[3];
    ml_nn_tensor t[3];
} toy;

static void toy_init(toy *m) {
    static const float w0[6] = {0.5f, -0.25f, 1.0f, 0.0f, 2.0f, -1.5f};
    static const float g0[6] = {0.2f, -0.3f, 0.0f, 1.0f, -2.0f, 0.5f};
    memcpy(m->w, w0, sizeof w0);
    memcpy(m->gw, g0, sizeof g0);
    m->b[0] = 0.1f;
    m->b[1] = -0.1f;
    m->gb[0] = 0.05f;
    m->gb[1] = -0.4f;
    m->frozen[0] = m->frozen[1] = m->frozen[2] = 3.0f;
    ml_nn_tensor w = {"layers.0.weight", 2, {2, 3}, 6, m->w, m->gw};
    ml_nn_tensor f = {"frozen.weight", 1, {3, 0}, 3, m->frozen, NULL};
    ml_nn_tensor b = {"layers.0.bias", 1, {2, 0}, 2, m->b, m->gb};
    m->t[0] = w;
    m->t[1] = f;
    m->t[2] = b;
}

static ml_optim *toy_optim(toy *m, const ml_optim_config *cfg) {
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, cfg, m->t, 3), ML_OK);
    return o;
}

static void test_optim__adamw_first_step_is_lr_times_sign_after_decay(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    cfg.weight_decay = 0.1;
    ml_optim *o = toy_optim(&m, &cfg);
    if (!o) return;
    float w0[6];
    memcpy(w0, m.w, sizeof w0);
    CHECK_STATUS(ml_optim_step(o, 0.1), ML_OK);
    /* after one step m_hat = g and sqrt(v_hat) = |g|: w (1 - lr wd) - lr g / (|g| + eps) */
    for (size_t i = 0; i < 6; i++) {
        double g = m.gw[i];
        double want = w0[i] * (1.0 - 0.01) - 0.1 * g / (fabs(g) + 1e-8);
        CHECK_NEAR(m.w[i], want, 1e-6);
    }
    CHECK_EQ_INT(ml_optim_step_count(o), 1);
    CHECK(m.frozen[0] == 3.0f && m.frozen[2] == 3.0f);
    ml_optim_free(o);
}

static void test_optim__adamw_second_step_uses_bias_corrected_moments(void) {
    float w = 1.0f, g = 0.5f;
    ml_nn_tensor t = {"w", 1, {1, 0}, 1, &w, &g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    cfg.weight_decay = 0.0;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    CHECK_STATUS(ml_optim_step(o, 0.01), ML_OK);
    g = -0.5f;
    CHECK_STATUS(ml_optim_step(o, 0.01), ML_OK);
    /* m = 0.9*0.05 - 0.05 = -0.005, m_hat = -0.005/0.19; v = 0.25*(0.001*0.999 + 0.001) and
     * v_hat = v / (1 - 0.999^2) = 0.25: the second step is 0.01 * (0.005/0.19) / 0.5 */
    double m_hat = -0.005 / 0.19, v_hat = 0.25;
    double want = 0.99 - 0.01 * m_hat / (sqrt(v_hat) + 1e-8);
    CHECK_NEAR(w, want, 1e-6);
    ml_optim_free(o);
}

/* 7 elements: the vector path takes the first 4, the scalar loop the last 3. Elements 4..6
 * repeat 0..2, so equal results mean both paths compute bit for bit the same. */
static void test_optim__adamw_vector_and_scalar_paths_agree_bitwise(void) {
    float w[7] = {0.3f, -1.7f, 2.5e-3f, 9.0f, 0.3f, -1.7f, 2.5e-3f};
    float g[7] = {1e-3f, -0.7f, 3.3f, 0.0f, 1e-3f, -0.7f, 3.3f};
    ml_nn_tensor t = {"w", 1, {7, 0}, 7, w, g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    for (int s = 0; s < 4; s++) {
        for (int j = 0; j < 3; j++) g[j] = g[j + 4] = g[j] * -1.3f + 0.01f;
        CHECK_STATUS(ml_optim_step(o, 0.05), ML_OK);
    }
    CHECK(memcmp(w, w + 4, 3 * sizeof(float)) == 0);
    CHECK(w[0] != 0.3f);
    ml_optim_free(o);
}

static void test_optim__sgd_momentum_accumulates_velocity(void) {
    float w = 1.0f, g = 0.5f;
    ml_nn_tensor t = {"w", 1, {1, 0}, 1, &w, &g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    cfg.kind = ML_OPTIM_SGD;
    cfg.weight_decay = 0.0;
    cfg.momentum = 0.9;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    CHECK_STATUS(ml_optim_step(o, 0.1), ML_OK);
    CHECK_NEAR(w, 0.95, 1e-7); /* buffer = g on the first step */
    CHECK_STATUS(ml_optim_step(o, 0.1), ML_OK);
    CHECK_NEAR(w, 0.855, 1e-7); /* buffer = 0.9 * 0.5 + 0.5 */
    ml_optim_free(o);
}

static void test_optim__sgd_nesterov_looks_ahead(void) {
    float w = 1.0f, g = 0.5f;
    ml_nn_tensor t = {"w", 1, {1, 0}, 1, &w, &g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    cfg.kind = ML_OPTIM_SGD;
    cfg.weight_decay = 0.0;
    cfg.momentum = 0.9;
    cfg.is_nesterov = 1;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    CHECK_STATUS(ml_optim_step(o, 0.1), ML_OK);
    CHECK_NEAR(w, 1.0 - 0.1 * (0.5 + 0.9 * 0.5), 1e-7);
    ml_optim_free(o);
}

static void test_optim__sgd_weight_decay_adds_to_gradient(void) {
    float w = 2.0f, g = 0.0f;
    ml_nn_tensor t = {"w", 1, {1, 0}, 1, &w, &g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    cfg.kind = ML_OPTIM_SGD;
    cfg.weight_decay = 0.1;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    CHECK_EQ_INT(ml_optim_n_state(o), 1); /* plain SGD keeps only the step */
    CHECK_STATUS(ml_optim_step(o, 0.5), ML_OK);
    CHECK_NEAR(w, 2.0 - 0.5 * 0.1 * 2.0, 1e-7);
    ml_optim_free(o);
}

static void test_optim__step_rejects_bad_learning_rate(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = toy_optim(&m, &cfg);
    if (!o) return;
    CHECK_STATUS(ml_optim_step(o, -0.1), ML_EINVAL);
    CHECK_ERR_CONTAINS("learning rate");
    CHECK_STATUS(ml_optim_step(o, NAN), ML_EINVAL);
    CHECK_EQ_INT(ml_optim_step_count(o), 0);
    CHECK(m.w[0] == 0.5f);
    ml_optim_free(o);
}

static void test_optim__clip_scales_to_max_norm_and_returns_norm(void) {
    float w[2] = {0, 0}, g[2] = {3.0f, 4.0f}, b = 0, gb = 0;
    ml_nn_tensor t[2] = {{"w", 1, {2, 0}, 2, w, g}, {"b", 1, {1, 0}, 1, &b, &gb}};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, t, 2), ML_OK);
    if (!o) return;
    double norm = 0.0;
    CHECK_STATUS(ml_optim_clip_grad_norm(o, 1.0, &norm), ML_OK);
    CHECK_NEAR(norm, 5.0, 1e-12);
    CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    CHECK_STATUS(ml_optim_clip_grad_norm(o, 10.0, &norm), ML_OK); /* now under: untouched */
    CHECK_NEAR(norm, 1.0, 1e-6);
    CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CHECK_STATUS(ml_optim_clip_grad_norm(o, INFINITY, &norm), ML_OK); /* measure only */
    CHECK_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    ml_optim_free(o);
}

static void test_optim__clip_leaves_gradients_when_norm_is_not_finite(void) {
    float w[2] = {0, 0}, g[2] = {INFINITY, 1.0f};
    ml_nn_tensor t = {"w", 1, {2, 0}, 2, w, g};
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &t, 1), ML_OK);
    if (!o) return;
    double norm = 0.0;
    CHECK_STATUS(ml_optim_clip_grad_norm(o, 1.0, &norm), ML_OK);
    CHECK(isinf(norm));
    CHECK(g[1] == 1.0f);
    ml_optim_free(o);
}

static void test_optim__clip_rejects_nonpositive_max_norm(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = toy_optim(&m, &cfg);
    if (!o) return;
    double norm = -1.0;
    CHECK_STATUS(ml_optim_clip_grad_norm(o, 0.0, &norm), ML_EINVAL);
    CHECK_ERR_CONTAINS("max_norm");
    CHECK_STATUS(ml_optim_clip_grad_norm(o, NAN, &norm), ML_EINVAL);
    CHECK(norm == -1.0 && m.gw[0] == 0.2f);
    ml_optim_free(o);
}

static void test_optim__schedules_follow_transformers_formulas(void) {
    ml_lr_schedule s = ML_LR_SCHEDULE_INIT;
    s.kind = ML_SCHEDULE_LINEAR;
    s.warmup_steps = 2;
    s.total_steps = 6;
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_OK);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 0), 0.0, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 1), 0.5, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 2), 1.0, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 4), 0.5, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 6), 0.0, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 9), 0.0, 1e-15);
    s.kind = ML_SCHEDULE_COSINE;
    s.warmup_steps = 0;
    s.total_steps = 4;
    CHECK_NEAR(ml_lr_schedule_factor(&s, 0), 1.0, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 2), 0.5, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 3), 0.5 * (1.0 + cos(0.75 * 3.14159265358979)), 1e-12);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 4), 0.0, 1e-15);
    s.kind = ML_SCHEDULE_CONSTANT;
    s.warmup_steps = 4;
    s.total_steps = 0; /* ignored by constant */
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_OK);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 1), 0.25, 1e-15);
    CHECK_NEAR(ml_lr_schedule_factor(&s, 100), 1.0, 1e-15);
}

static void test_optim__schedule_check_rejects_bad_fields(void) {
    ml_lr_schedule s = ML_LR_SCHEDULE_INIT;
    s.kind = ML_SCHEDULE_COSINE;
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_EINVAL);
    CHECK_ERR_CONTAINS("total_steps is 0");
    s.total_steps = 5;
    s.warmup_steps = 6;
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_EINVAL);
    CHECK_ERR_CONTAINS("warmup_steps 6 exceeds total_steps 5");
    s.warmup_steps = 1;
    s.num_cycles = NAN;
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_EINVAL);
    CHECK_ERR_CONTAINS("num_cycles");
    s.kind = (ml_schedule_kind)7;
    CHECK_STATUS(ml_lr_schedule_check(&s), ML_EINVAL);
    CHECK_ERR_CONTAINS("kind 7");
    CHECK_STATUS(ml_lr_schedule_check(NULL), ML_EINVAL);
}

static void expect_config_error(const ml_optim_config *cfg, const char *what) {
    toy m;
    toy_init(&m);
    ml_optim *o = (ml_optim *)&m; /* must stay as is */
    CHECK_STATUS(ml_optim_new(&o, cfg, m.t, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS(what);
    CHECK(o == (ml_optim *)&m);
}

static void test_optim__new_rejects_bad_config(void) {
    ml_optim_config c = ML_OPTIM_CONFIG_INIT;
    c.version = 9;
    expect_config_error(&c, "version 9");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.kind = (ml_optim_kind)5;
    expect_config_error(&c, "kind 5");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.weight_decay = -1.0;
    expect_config_error(&c, "weight_decay");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.beta1 = 1.0;
    expect_config_error(&c, "beta1");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.beta2 = -0.1;
    expect_config_error(&c, "beta2");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.eps = NAN;
    expect_config_error(&c, "eps");
    c = (ml_optim_config)ML_OPTIM_CONFIG_INIT;
    c.kind = ML_OPTIM_SGD;
    c.momentum = -0.5;
    expect_config_error(&c, "momentum");
    c.momentum = 0.0;
    c.is_nesterov = 1;
    expect_config_error(&c, "Nesterov");
    expect_config_error(NULL, "version");
}

static void test_optim__new_rejects_bad_tensor_lists(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = NULL;
    CHECK_STATUS(ml_optim_new(&o, &cfg, &m.t[1], 1), ML_EINVAL); /* only a frozen tensor */
    CHECK_ERR_CONTAINS("no trainable tensor");
    m.t[2].name = "layers.0.weight";
    CHECK_STATUS(ml_optim_new(&o, &cfg, m.t, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("appears twice");
    m.t[2].name = "";
    CHECK_STATUS(ml_optim_new(&o, &cfg, m.t, 3), ML_EINVAL);
    CHECK_ERR_CONTAINS("empty name");
    CHECK_STATUS(ml_optim_new(&o, &cfg, NULL, 2), ML_EINVAL);
    CHECK(o == NULL);
}

static void test_optim__state_names_follow_pytorch(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = toy_optim(&m, &cfg);
    if (!o) return;
    CHECK_EQ_INT(ml_optim_n_state(o), 5);
    const char *want[] = {"exp_avg.layers.0.weight", "exp_avg_sq.layers.0.weight",
                          "exp_avg.layers.0.bias", "exp_avg_sq.layers.0.bias", "step"};
    for (size_t i = 0; i < 5; i++) {
        ml_tensor_view v;
        CHECK_STATUS(ml_optim_state(o, i, &v), ML_OK);
        CHECK_STR(v.name, want[i]);
    }
    ml_tensor_view v;
    CHECK_STATUS(ml_optim_state(o, 0, &v), ML_OK);
    CHECK(v.dtype == ML_DTYPE_F32 && v.n_dims == 2 && v.shape[0] == 2 && v.shape[1] == 3);
    CHECK_STATUS(ml_optim_state(o, 5, &v), ML_EINVAL);
    CHECK_ERR_CONTAINS("out of range");
    ml_optim_free(o);
    cfg.kind = ML_OPTIM_SGD;
    cfg.momentum = 0.9;
    o = toy_optim(&m, &cfg);
    if (!o) return;
    CHECK_STATUS(ml_optim_state(o, 1, &v), ML_OK);
    CHECK_STR(v.name, "momentum_buffer.layers.0.bias");
    ml_optim_free(o);
}

/* Steps a, saves its state to a file, loads it into b over the same weights: the next step
 * must be bit-identical. */
static void test_optim__state_round_trip_through_safetensors_resumes_exactly(void) {
    char path[] = "/tmp/ml_optim_state_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    toy ma, mb;
    toy_init(&ma);
    toy_init(&mb);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *a = toy_optim(&ma, &cfg), *b = toy_optim(&mb, &cfg);
    if (!a || !b) goto done;
    for (int s = 0; s < 3; s++) {
        ma.gw[s] += 0.25f; /* gradients that change between steps */
        CHECK_STATUS(ml_optim_step(a, 0.01), ML_OK);
    }
    ml_tensor_view v[5];
    for (size_t i = 0; i < 5; i++) CHECK_STATUS(ml_optim_state(a, i, &v[i]), ML_OK);
    CHECK_STATUS(ml_safetensors_write(path, v, 5, NULL, 0), ML_OK);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_OK);
    if (!st) goto done;
    ml_tensor_view got[5];
    for (size_t i = 0; i < 5 && i < ml_safetensors_n_tensors(st); i++)
        got[i] = *ml_safetensors_tensor(st, i);
    CHECK_STATUS(ml_optim_load_state(b, got, 5), ML_OK);
    ml_safetensors_close(st);
    CHECK_EQ_INT(ml_optim_step_count(b), 3);
    memcpy(mb.w, ma.w, sizeof ma.w);
    memcpy(mb.gw, ma.gw, sizeof ma.gw);
    memcpy(mb.b, ma.b, sizeof ma.b);
    CHECK_STATUS(ml_optim_step(a, 0.01), ML_OK);
    CHECK_STATUS(ml_optim_step(b, 0.01), ML_OK);
    CHECK(memcmp(ma.w, mb.w, sizeof ma.w) == 0);
    CHECK(memcmp(ma.b, mb.b, sizeof ma.b) == 0);
done:
    ml_optim_free(a);
    ml_optim_free(b);
    unlink(path);
}

static void expect_load_error(ml_optim *o, const ml_tensor_view *v, size_t n, const char *what) {
    CHECK_STATUS(ml_optim_load_state(o, v, n), ML_EFORMAT);
    CHECK_ERR_CONTAINS(what);
    CHECK_EQ_INT(ml_optim_step_count(o), 0); /* state untouched */
    ml_tensor_view first;
    CHECK_STATUS(ml_optim_state(o, 0, &first), ML_OK);
    CHECK(((const float *)first.data)[0] == 0.0f);
}

static void test_optim__load_state_rejects_malformed_tensors(void) {
    toy m;
    toy_init(&m);
    ml_optim_config cfg = ML_OPTIM_CONFIG_INIT;
    ml_optim *o = toy_optim(&m, &cfg);
    if (!o) return;
    float ones[6] = {1, 1, 1, 1, 1, 1}, bad[6] = {1, 1, NAN, 1, 1, 1};
    int64_t step = 4, neg = -1;
    ml_tensor_view v[6] = {
        {"exp_avg.layers.0.weight", ML_DTYPE_F32, 2, {2, 3}, ones},
        {"exp_avg_sq.layers.0.weight", ML_DTYPE_F32, 2, {2, 3}, ones},
        {"exp_avg.layers.0.bias", ML_DTYPE_F32, 1, {2}, ones},
        {"exp_avg_sq.layers.0.bias", ML_DTYPE_F32, 1, {2}, ones},
        {"step", ML_DTYPE_I64, 0, {0}, &step},
        {"exp_avg.other", ML_DTYPE_F32, 1, {1}, ones}};
    expect_load_error(o, v, 4, "\"step\" is missing");
    expect_load_error(o, v, 6, "unexpected tensor \"exp_avg.other\"");
    ml_tensor_view w[5];
    memcpy(w, v, sizeof w);
    w[4] = v[0];
    expect_load_error(o, w, 5, "appears twice");
    memcpy(w, v, sizeof w);
    w[2].dtype = ML_DTYPE_F64;
    expect_load_error(o, w, 5, "\"exp_avg.layers.0.bias\" is F64");
    memcpy(w, v, sizeof w);
    w[0].shape[0] = 3;
    w[0].shape[1] = 2;
    expect_load_error(o, w, 5, "expected F32 with the shape of its parameter");
    memcpy(w, v, sizeof w);
    w[1].data = bad;
    expect_load_error(o, w, 5, "non-finite value at index 2");
    memcpy(w, v, sizeof w);
    w[4].data = &neg;
    expect_load_error(o, w, 5, "step -1");
    memcpy(w, v, sizeof w);
    w[4].dtype = ML_DTYPE_F32;
    expect_load_error(o, w, 5, "expected an I64 scalar");
    CHECK_STATUS(ml_optim_load_state(o, v, 5), ML_OK);
    CHECK_EQ_INT(ml_optim_step_count(o), 4);
    ml_optim_free(o);
}

int main(void) {
    RUN(test_optim__adamw_first_step_is_lr_times_sign_after_decay);
    RUN(test_optim__adamw_second_step_uses_bias_corrected_moments);
    RUN(test_optim__adamw_vector_and_scalar_paths_agree_bitwise);
    RUN(test_optim__sgd_momentum_accumulates_velocity);
    RUN(test_optim__sgd_nesterov_looks_ahead);
    RUN(test_optim__sgd_weight_decay_adds_to_gradient);
    RUN(test_optim__step_rejects_bad_learning_rate);
    RUN(test_optim__clip_scales_to_max_norm_and_returns_norm);
    RUN(test_optim__clip_leaves_gradients_when_norm_is_not_finite);
    RUN(test_optim__clip_rejects_nonpositive_max_norm);
    RUN(test_optim__schedules_follow_transformers_formulas);
    RUN(test_optim__schedule_check_rejects_bad_fields);
    RUN(test_optim__new_rejects_bad_config);
    RUN(test_optim__new_rejects_bad_tensor_lists);
    RUN(test_optim__state_names_follow_pytorch);
    RUN(test_optim__state_round_trip_through_safetensors_resumes_exactly);
    RUN(test_optim__load_state_rejects_malformed_tensors);
    TEST_MAIN_END();
}
