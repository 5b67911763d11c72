/* train_step.c - the microlens side of bench/train-step.sh: median milliseconds of one training
 * step (zero_grad, forward, loss, backward, AdamW update) on random data, for
 *   st   a LoRA fine-tune of the large set transformer (d_in 384, d_model 100, 5 layers,
 *        5 heads, ff 400, LoRA r=8 alpha=16 on q and v, classifier head with 2 classes),
 *        batch of 16 sets of 256 OTUs;
 *   mlp  the MLP 2000-256-64-2, batch 64.
 * Usage: train_step st|mlp SECONDS. The thread count comes from OPENBLAS_NUM_THREADS: for st
 * with 2 or more it runs that many data-parallel workers
 * (ml_settransformer_forward_backward_parallel), each with single-threaded OpenBLAS, since
 * the GEMMs are too small for OpenBLAS to split well; for mlp it is OpenBLAS's. It prints one
 * number; it does not compare (the script does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "microlens/nn.h"
#include "microlens/optim.h"

#define MAX_STEPS 10000
#define MIN_STEPS 3

enum { ST_SETS = 16, ST_N = 256, ST_IN = 384 };
enum { MLP_BATCH = 64, MLP_IN = 2000 };
enum { MAX_WORKERS = 16 };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    fprintf(stderr, "train_step: %s: %s\n", what, ml_error_last()->message);
    exit(1);
}

typedef int (*step_fn)(void *ctx);

/* Median step time after one warm-up step, over at least MIN_STEPS steps and `seconds`. */
static double time_steps(step_fn step, void *ctx, double seconds) {
    static double t[MAX_STEPS];
    if (step(ctx)) return -1.0;
    size_t n = 0;
    double start = now_ms();
    while (n < MAX_STEPS && (n < MIN_STEPS || now_ms() - start < seconds * 1e3)) {
        double t0 = now_ms();
        if (step(ctx)) return -1.0;
        t[n++] = now_ms() - t0;
    }
    qsort(t, n, sizeof t[0], cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static float rand_unit(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

typedef struct st_ctx {
    ml_settransformer *m;
    ml_settransformer *workers[MAX_WORKERS];
    size_t n_workers; /* 0: the serial forward_backward */
    ml_optim *opt;
    ml_set_batch batch;
    ml_settransformer_targets targets;
} st_ctx;

static int st_step(void *p) {
    st_ctx *c = p;
    double loss;
    ml_settransformer_zero_grad(c->m);
    if (ml_settransformer_forward_backward_parallel(c->m, c->workers, c->n_workers, &c->batch,
                                                    &c->targets, &loss) != ML_OK)
        die("forward_backward");
    return ml_optim_step(c->opt, 1e-4) != ML_OK;
}

static ml_optim *make_adamw(ml_nn_tensor *ts, size_t n) {
    ml_optim_config oc = ML_OPTIM_CONFIG_INIT;
    ml_optim *opt = NULL;
    if (ml_optim_new(&opt, &oc, ts, n) != ML_OK) die("optimizer");
    return opt;
}

static size_t thread_count(void) {
    const char *s = getenv("OPENBLAS_NUM_THREADS");
    long n = s ? strtol(s, NULL, 10) : 1;
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (size_t)n;
}

static double bench_st(double seconds) {
    ml_settransformer_config cfg = ML_SETTRANSFORMER_CONFIG_INIT;
    cfg.n_classes = 2;
    cfg.max_tokens = ST_SETS * ST_N;
    cfg.max_set_tokens = ST_N;
    cfg.max_sets = ST_SETS;
    cfg.has_grad = 1;
    cfg.lora_rank = 8;
    cfg.lora_alpha = 16.0f;
    cfg.lora_targets = ML_LORA_Q | ML_LORA_V;
    st_ctx c;
    if (ml_settransformer_new(&c.m, &cfg) != ML_OK) die("settransformer");
    ml_settransformer_init(c.m, 1);
    size_t threads = thread_count();
    c.n_workers = threads > 1 ? threads : 0;
    if (c.n_workers) openblas_set_num_threads(1);
    for (size_t k = 0; k < c.n_workers; k++)
        if (ml_settransformer_new_worker(&c.workers[k], c.m) != ML_OK) die("worker");
    size_t n = ml_settransformer_n_tensors(c.m);
    ml_nn_tensor *ts = calloc(n, sizeof *ts);
    static size_t offsets[ST_SETS + 1];
    static int labels[ST_SETS];
    float *x = malloc((size_t)ST_SETS * ST_N * ST_IN * sizeof(float));
    if (!ts || !x) return -1.0;
    for (size_t i = 0; i < n; i++)
        if (ml_settransformer_tensor(c.m, i, &ts[i]) != ML_OK) die("tensor");
    c.opt = make_adamw(ts, n);
    unsigned seed = 7;
    for (size_t i = 0; i < (size_t)ST_SETS * ST_N * ST_IN; i++) x[i] = rand_unit(&seed);
    for (size_t s = 0; s <= ST_SETS; s++) offsets[s] = s * ST_N;
    for (size_t s = 0; s < ST_SETS; s++) labels[s] = (int)(s % 2);
    c.batch = (ml_set_batch){ST_SETS, offsets, x};
    c.targets = (ml_settransformer_targets){labels, NULL, NULL};
    double ms = time_steps(st_step, &c, seconds);
    ml_optim_free(c.opt);
    for (size_t k = 0; k < c.n_workers; k++) ml_settransformer_free(c.workers[k]);
    ml_settransformer_free(c.m);
    free(ts);
    free(x);
    return ms;
}

typedef struct mlp_ctx {
    ml_mlp *m;
    ml_optim *opt;
    const float *x;
    const int *labels;
} mlp_ctx;

static int mlp_step(void *p) {
    mlp_ctx *c = p;
    double loss;
    ml_mlp_zero_grad(c->m);
    if (ml_mlp_forward_backward(c->m, c->x, MLP_BATCH, c->labels, &loss) != ML_OK)
        die("forward_backward");
    return ml_optim_step(c->opt, 1e-3) != ML_OK;
}

static double bench_mlp(double seconds) {
    ml_mlp_config cfg = ML_MLP_CONFIG_INIT;
    cfg.d_in = MLP_IN;
    cfg.max_batch = MLP_BATCH; /* hidden {256, 64} and 2 classes are the defaults */
    mlp_ctx c;
    if (ml_mlp_new(&c.m, &cfg) != ML_OK) die("mlp");
    ml_mlp_init(c.m, 1);
    ml_nn_tensor ts[6];
    for (size_t i = 0; i < 6; i++)
        if (ml_mlp_tensor(c.m, i, &ts[i]) != ML_OK) die("tensor");
    c.opt = make_adamw(ts, 6);
    static float x[MLP_BATCH * MLP_IN];
    static int labels[MLP_BATCH];
    unsigned seed = 9;
    for (size_t i = 0; i < MLP_BATCH * MLP_IN; i++) x[i] = rand_unit(&seed);
    for (size_t i = 0; i < MLP_BATCH; i++) labels[i] = (int)(i % 2);
    c.x = x;
    c.labels = labels;
    double ms = time_steps(mlp_step, &c, seconds);
    ml_optim_free(c.opt);
    ml_mlp_free(c.m);
    return ms;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "st") != 0 && strcmp(argv[1], "mlp") != 0)) {
        fprintf(stderr, "usage: train_step st|mlp SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    double ms = strcmp(argv[1], "st") == 0 ? bench_st(seconds) : bench_mlp(seconds);
    if (ms < 0) {
        fprintf(stderr, "train_step: failed\n");
        return 1;
    }
    printf("%.3f\n", ms);
    return 0;
}
