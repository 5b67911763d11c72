/* test_settransformer_parallel.c - what ml_settransformer_forward_backward_parallel promises:
 * the serial loss and gradients up to float rounding, the same bits run to run, the serial
 * bits with one worker, and refusals of workers that are not the model's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/nn.h"
#include "ml_test.h"
#include "util/rng.h"

enum { S = 5, T = 70, D_IN = 6, D = 10 };
static const size_t offsets[S + 1] = {0, 17, 18, 40, 52, 70};
static const int labels[S] = {1, 0, 2, 1, 0};

static ml_settransformer *make_model(int has_grad) {
    ml_settransformer_config c = ML_SETTRANSFORMER_CONFIG_INIT;
    c.d_in = D_IN;
    c.d_model = D;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_ff = 12;
    c.n_classes = 3;
    c.max_tokens = T;
    c.max_set_tokens = 24;
    c.max_sets = S;
    c.has_grad = has_grad;
    c.lora_rank = 2;
    c.lora_alpha = 4.0f;
    ml_settransformer *m = NULL;
    CHECK_STATUS(ml_settransformer_new(&m, &c), ML_OK);
    if (!m) return NULL;
    ml_settransformer_init(m, 11);
    /* LoRA B starts at zero, which would make every lora_A gradient zero: perturb it */
    ml__rng r;
    ml__rng_seed(&r, 3);
    for (size_t i = 0; i < ml_settransformer_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_settransformer_tensor(m, i, &t), ML_OK);
        if (strstr(t.name, "lora_B"))
            for (size_t j = 0; j < t.numel; j++)
                t.data[j] = (float)(0.2 * (2.0 * ml__rng_uniform(&r) - 1.0));
    }
    return m;
}

static void fill(float *x, size_t n, uint64_t seed, double lo, double hi) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * ml__rng_uniform(&r));
}

typedef struct inputs {
    float x[T * D_IN], tok[T], demb[S * D];
    ml_set_batch batch;
    ml_settransformer_targets targets;
} inputs;

static void make_inputs(inputs *in) {
    fill(in->x, T * D_IN, 5, -1.0, 1.0);
    fill(in->tok, T, 6, 0.0, 1.0);
    fill(in->demb, S * D, 7, -0.1, 0.1);
    in->batch = (ml_set_batch){S, offsets, in->x};
    in->targets = (ml_settransformer_targets){labels, in->tok, in->demb};
}

/* All trainable gradients of m back to back into out (which holds cap floats); returns count. */
static size_t grads_of(ml_settransformer *m, float *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < ml_settransformer_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_settransformer_tensor(m, i, &t), ML_OK);
        if (!t.grad || n + t.numel > cap) continue;
        memcpy(out + n, t.grad, t.numel * sizeof(float));
        n += t.numel;
    }
    return n;
}

#define GCAP 4096

/* One zero_grad + step with n_workers workers (0: serial); returns the loss. */
static double step(ml_settransformer *m, ml_settransformer **ws, size_t n_workers,
                   const inputs *in, float *g, size_t *n_g) {
    double loss = -1.0;
    ml_settransformer_zero_grad(m);
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, ws, n_workers, &in->batch,
                                                             &in->targets, &loss),
                 ML_OK);
    *n_g = grads_of(m, g, GCAP);
    return loss;
}

static int make_workers(ml_settransformer *m, ml_settransformer **ws, size_t n) {
    for (size_t k = 0; k < n; k++) {
        ws[k] = NULL;
        CHECK_STATUS(ml_settransformer_new_worker(&ws[k], m), ML_OK);
        if (!ws[k]) return 0;
    }
    return 1;
}

static void free_workers(ml_settransformer **ws, size_t n) {
    for (size_t k = 0; k < n; k++) ml_settransformer_free(ws[k]);
}

static void test_parallel__matches_serial_and_is_deterministic(void) {
    static inputs in;
    make_inputs(&in);
    ml_settransformer *m = make_model(1), *ws[7] = {0};
    if (!m || !make_workers(m, ws, 7)) goto done;
    static float g0[GCAP], g1[GCAP], ga[GCAP], gb[GCAP];
    size_t n0, n1, na, nb;
    double l0 = step(m, ws, 0, &in, g0, &n0);
    double plain = -1.0;
    ml_settransformer_zero_grad(m);
    CHECK_STATUS(ml_settransformer_forward_backward(m, &in.batch, &in.targets, &plain), ML_OK);
    CHECK(l0 == plain);
    /* one worker: the serial bits */
    double l1 = step(m, ws, 1, &in, g1, &n1);
    CHECK(l1 == l0 && n1 == n0 && memcmp(g0, g1, n0 * sizeof(float)) == 0);
    /* 2, 3 and 7 workers (more workers than sets): serial up to rounding (relative to the
     * largest gradient: sums that cancel lose relative precision element by element), and
     * the same bits twice */
    const size_t counts[] = {2, 3, 7};
    for (size_t c = 0; c < 3; c++) {
        double la = step(m, ws, counts[c], &in, ga, &na);
        double lb = step(m, ws, counts[c], &in, gb, &nb);
        CHECK(la == lb && na == nb && memcmp(ga, gb, na * sizeof(float)) == 0);
        CHECK_NEAR(la, l0, 1e-6 * fabs(l0));
        double max_abs = 0.0, max_diff = 0.0;
        for (size_t i = 0; i < n0 && na == n0; i++) {
            max_abs = fmax(max_abs, fabs((double)g0[i]));
            max_diff = fmax(max_diff, fabs((double)ga[i] - (double)g0[i]));
        }
        CHECK(max_abs > 1e-3 && max_diff < 1e-6 * max_abs);
    }
    CHECK(n0 > 100);
done:
    free_workers(ws, 7);
    ml_settransformer_free(m);
}

static void test_parallel__accumulates_into_existing_gradients(void) {
    static inputs in;
    make_inputs(&in);
    ml_settransformer *m = make_model(1), *ws[2] = {0};
    if (!m || !make_workers(m, ws, 2)) goto done;
    static float once[GCAP], twice[GCAP];
    size_t n;
    step(m, ws, 2, &in, once, &n);
    double loss;
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, ws, 2, &in.batch, &in.targets,
                                                             &loss),
                 ML_OK);
    CHECK(grads_of(m, twice, GCAP) == n);
    double max_abs = 0.0;
    for (size_t i = 0; i < n; i++) max_abs = fmax(max_abs, fabs((double)once[i]));
    /* (g + w0 + w1) + w0 + w1, not 2 g bit for bit: rounding relative to the largest */
    for (size_t i = 0; i < n; i++) CHECK_NEAR(twice[i], 2.0 * once[i], 1e-6 * max_abs);
done:
    free_workers(ws, 2);
    ml_settransformer_free(m);
}

static void test_parallel__rejects_workers_of_another_model(void) {
    static inputs in;
    make_inputs(&in);
    ml_settransformer *m = make_model(1), *other = make_model(1), *ws[2] = {0}, *sh = NULL;
    if (!m || !other) goto done;
    CHECK_STATUS(ml_settransformer_new_worker(&ws[0], m), ML_OK);
    CHECK_STATUS(ml_settransformer_new_worker(&ws[1], other), ML_OK);
    ml_settransformer_zero_grad(m);
    static float before[GCAP], after[GCAP];
    size_t n = grads_of(m, before, GCAP);
    double loss = 42.0;
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, ws, 2, &in.batch, &in.targets,
                                                             &loss),
                 ML_EINVAL);
    CHECK_ERR_CONTAINS("workers[1] is not a worker of this model");
    ml_settransformer *none[2] = {ws[0], NULL};
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, none, 2, &in.batch, &in.targets,
                                                             &loss),
                 ML_EINVAL);
    CHECK_ERR_CONTAINS("workers[1]");
    /* an inference model sharing m's weights has no gradients of its own */
    CHECK_STATUS(ml_settransformer_new_shared(&sh, m), ML_OK);
    ml_settransformer *inf[2] = {sh, ws[0]};
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, inf, 2, &in.batch, &in.targets,
                                                             &loss),
                 ML_EINVAL);
    CHECK_ERR_CONTAINS("workers[0]");
    CHECK(loss == 42.0);
    CHECK(grads_of(m, after, GCAP) == n && memcmp(before, after, n * sizeof(float)) == 0);
done:
    ml_settransformer_free(sh);
    free_workers(ws, 2);
    ml_settransformer_free(other);
    ml_settransformer_free(m);
}

static void test_parallel__rejects_bad_batch_before_running_workers(void) {
    static inputs in;
    make_inputs(&in);
    ml_settransformer *m = make_model(1), *ws[2] = {0};
    if (!m || !make_workers(m, ws, 2)) goto done;
    const size_t bad[S + 1] = {0, 17, 17, 40, 52, 70};
    ml_set_batch b = {S, bad, in.x};
    double loss = 42.0;
    CHECK_STATUS(ml_settransformer_forward_backward_parallel(m, ws, 2, &b, &in.targets, &loss),
                 ML_EINVAL);
    CHECK_ERR_CONTAINS("set 1 is empty");
    CHECK(loss == 42.0);
done:
    free_workers(ws, 2);
    ml_settransformer_free(m);
}

static void test_parallel__worker_needs_a_training_model(void) {
    ml_settransformer *m = make_model(0), *w = NULL;
    if (!m) return;
    CHECK_STATUS(ml_settransformer_new_worker(&w, m), ML_EINVAL);
    CHECK_ERR_CONTAINS("without gradients");
    CHECK(w == NULL);
    ml_settransformer_free(m);
}

int main(void) {
    RUN(test_parallel__matches_serial_and_is_deterministic);
    RUN(test_parallel__accumulates_into_existing_gradients);
    RUN(test_parallel__rejects_workers_of_another_model);
    RUN(test_parallel__rejects_bad_batch_before_running_workers);
    RUN(test_parallel__worker_needs_a_training_model);
    TEST_MAIN_END();
}
