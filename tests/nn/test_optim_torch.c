/* test_optim_torch.c - the MLP, the optimizers, clipping and schedules against PyTorch: the MLP's
 * loss, logits and every gradient; 5 AdamW steps (weight decay, warm-up + cosine schedule,
 * clipping), 5 SGD-momentum steps (linear schedule) and 5 Nesterov steps on the MLP; 3 AdamW
 * steps on the LoRA adapters of a small set transformer. Each case is exported to a safetensors
 * file (initial parameters, data, hyper-parameters in __metadata__, C's results) that
 * tests/oracle/optim_torch.py replays with torch.optim in float64. Prints SKIP only when
 * Debian's python3 cannot import torch, and fails instead when CI=true. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "microlens/nn.h"
#include "microlens/optim.h"
#include "microlens/safetensors.h"
#include "ml_test.h"
#include "util/rng.h"

#define PYTHON "/usr/bin/python3"
#define ORACLE "tests/oracle/optim_torch.py"
#define ORACLE_SKIP 77 /* the oracle's status for "torch cannot be imported" */

#define MAX_EXPORT 192
#define NAME_LEN 160
#define MAX_STEPS 8

/* The MLP cases: 10 rows of 7 features, hidden 16 and 8, 3 classes. */
enum { MLP_ROWS = 10, MLP_IN = 7, MLP_CLASSES = 3 };
/* The LoRA case: the set transformer test's small model and ragged batch. */
enum { ST_IN = 12, ST_MODEL = 20, ST_LAYERS = 2, ST_HEADS = 5, ST_FF = 40, ST_CLASSES = 3 };
enum { ST_SETS = 3, ST_TOKENS = 15 };
static const size_t st_offsets[ST_SETS + 1] = {0, 5, 6, 15};
static const int st_labels[ST_SETS] = {2, 0, 1};

typedef struct export_list {
    ml_tensor_view v[MAX_EXPORT];
    char names[MAX_EXPORT][NAME_LEN];
    ml_kv meta[24];
    char meta_vals[24][48];
    size_t n, n_meta;
} export_list;

static void add(export_list *e, const char *prefix, const char *name, ml_dtype dtype,
                size_t n_dims, size_t s0, size_t s1, const void *data) {
    if (e->n >= MAX_EXPORT) {
        CHECK(e->n < MAX_EXPORT);
        return;
    }
    snprintf(e->names[e->n], NAME_LEN, "%s%s", prefix, name);
    ml_tensor_view *v = &e->v[e->n];
    memset(v, 0, sizeof *v);
    v->name = e->names[e->n];
    v->dtype = dtype;
    v->n_dims = n_dims;
    v->shape[0] = s0;
    v->shape[1] = s1;
    v->data = data;
    e->n++;
}

static void meta(export_list *e, const char *key, double value) {
    if (e->n_meta >= sizeof e->meta / sizeof e->meta[0]) {
        CHECK(0);
        return;
    }
    snprintf(e->meta_vals[e->n_meta], sizeof e->meta_vals[0], "%.17g", value);
    e->meta[e->n_meta].key = key;
    e->meta[e->n_meta].value = e->meta_vals[e->n_meta];
    e->n_meta++;
}

static void meta_str(export_list *e, const char *key, const char *value) {
    if (e->n_meta >= sizeof e->meta / sizeof e->meta[0]) {
        CHECK(0);
        return;
    }
    snprintf(e->meta_vals[e->n_meta], sizeof e->meta_vals[0], "%s", value);
    e->meta[e->n_meta].key = key;
    e->meta[e->n_meta].value = e->meta_vals[e->n_meta];
    e->n_meta++;
}

static char tmp_dir[64];
static char case_paths[8][256];
static size_t n_cases;

static void write_case(export_list *e, const char *name) {
    if (n_cases >= sizeof case_paths / sizeof case_paths[0]) {
        CHECK(0);
        return;
    }
    snprintf(case_paths[n_cases], sizeof case_paths[0], "%s/%s.safetensors", tmp_dir, name);
    CHECK_STATUS(ml_safetensors_write(case_paths[n_cases], e->v, e->n, e->meta, e->n_meta),
                 ML_OK);
    n_cases++;
}

/* Copies of every tensor's values, so that the initial parameters can be exported after the
 * model has been stepped. */
typedef struct snapshot {
    float *data;
    size_t used;
} snapshot;

static const float *snap(snapshot *s, const ml_nn_tensor *t) {
    float *dst = s->data + s->used;
    memcpy(dst, t->data, t->numel * sizeof(float));
    s->used += t->numel;
    return dst;
}

typedef struct mlp_data {
    float x[MLP_ROWS * MLP_IN];
    int labels[MLP_ROWS];
    int64_t labels64[MLP_ROWS];
} mlp_data;

static ml_mlp *new_mlp(mlp_data *d) {
    ml_mlp_config cfg = ML_MLP_CONFIG_INIT;
    cfg.d_in = MLP_IN;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 16;
    cfg.hidden[1] = 8;
    cfg.n_classes = MLP_CLASSES;
    cfg.max_batch = MLP_ROWS;
    ml_mlp *m = NULL;
    CHECK_STATUS(ml_mlp_new(&m, &cfg), ML_OK);
    if (!m) return NULL;
    ml_mlp_init(m, 7);
    ml__rng r;
    ml__rng_seed(&r, 99);
    for (size_t i = 0; i < MLP_ROWS * MLP_IN; i++) d->x[i] = (float)(4.0 * ml__rng_uniform(&r) - 2.0);
    for (size_t i = 0; i < MLP_ROWS; i++) {
        d->labels[i] = (int)(i % MLP_CLASSES);
        d->labels64[i] = d->labels[i];
    }
    return m;
}

static void add_mlp_data(export_list *e, const mlp_data *d) {
    add(e, "", "x", ML_DTYPE_F32, 2, MLP_ROWS, MLP_IN, d->x);
    add(e, "", "labels", ML_DTYPE_I64, 1, MLP_ROWS, 0, d->labels64);
}

static void test_optim_torch__mlp_loss_and_gradients(void) {
    static mlp_data d;
    static export_list e;
    memset(&e, 0, sizeof e);
    ml_mlp *m = new_mlp(&d);
    if (!m) return;
    double loss = 0.0;
    ml_mlp_zero_grad(m);
    CHECK_STATUS(ml_mlp_forward_backward(m, d.x, MLP_ROWS, d.labels, &loss), ML_OK);
    for (size_t i = 0; i < ml_mlp_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_mlp_tensor(m, i, &t), ML_OK);
        add(&e, "param.", t.name, ML_DTYPE_F32, t.n_dims, t.shape[0], t.shape[1], t.data);
        add(&e, "grad.", t.name, ML_DTYPE_F32, t.n_dims, t.shape[0], t.shape[1], t.grad);
    }
    add_mlp_data(&e, &d);
    add(&e, "out.", "logits", ML_DTYPE_F32, 2, MLP_ROWS, MLP_CLASSES, ml_mlp_logits(m));
    add(&e, "out.", "loss", ML_DTYPE_F64, 0, 0, 0, &loss);
    meta_str(&e, "case", "mlp_grad");
    write_case(&e, "mlp_grad");
    ml_mlp_free(m);
}

typedef struct run_opts {
    const char *name;
    ml_optim_config cfg;
    double lr, max_norm; /* max_norm 0: no clipping */
    ml_lr_schedule sched;
    size_t steps;
} run_opts;

static void add_run_meta(export_list *e, const run_opts *o) {
    meta_str(e, "optimizer", o->cfg.kind == ML_OPTIM_ADAMW ? "adamw" : "sgd");
    meta(e, "lr", o->lr);
    meta(e, "weight_decay", o->cfg.weight_decay);
    meta(e, "beta1", o->cfg.beta1);
    meta(e, "beta2", o->cfg.beta2);
    meta(e, "eps", o->cfg.eps);
    meta(e, "momentum", o->cfg.momentum);
    meta(e, "nesterov", o->cfg.is_nesterov);
    const char *kinds[] = {"constant", "linear", "cosine"};
    meta_str(e, "schedule", kinds[o->sched.kind]);
    meta(e, "warmup_steps", (double)o->sched.warmup_steps);
    meta(e, "total_steps", (double)o->sched.total_steps);
    meta(e, "num_cycles", o->sched.num_cycles);
    meta(e, "max_norm", o->max_norm);
    meta(e, "steps", (double)o->steps);
}

typedef struct run_log {
    double norms[MAX_STEPS], losses[MAX_STEPS];
} run_log;

/* Steps the optimizer as a training loop would: zero, forward/backward, clip, schedule, step. */
typedef ml_status (*fb_fn)(void *model, const void *data, double *loss);

static void run_steps(const run_opts *o, ml_optim *opt, void *model, void (*zero)(void *),
                      fb_fn fb, const void *data, run_log *log) {
    for (size_t s = 0; s < o->steps; s++) {
        zero(model);
        CHECK_STATUS(fb(model, data, &log->losses[s]), ML_OK);
        log->norms[s] = 0.0;
        if (o->max_norm > 0.0)
            CHECK_STATUS(ml_optim_clip_grad_norm(opt, o->max_norm, &log->norms[s]), ML_OK);
        double lr = o->lr * ml_lr_schedule_factor(&o->sched, ml_optim_step_count(opt));
        CHECK_STATUS(ml_optim_step(opt, lr), ML_OK);
    }
}

static void add_state(export_list *e, const ml_optim *opt) {
    for (size_t i = 0; i < ml_optim_n_state(opt); i++) {
        ml_tensor_view v;
        CHECK_STATUS(ml_optim_state(opt, i, &v), ML_OK);
        add(e, "state.", v.name, v.dtype, v.n_dims, v.shape[0], v.shape[1], v.data);
    }
}

static void mlp_zero(void *m) { ml_mlp_zero_grad(m); }

static ml_status mlp_fb(void *m, const void *data, double *loss) {
    const mlp_data *d = data;
    return ml_mlp_forward_backward(m, d->x, MLP_ROWS, d->labels, loss);
}

static void run_mlp_case(const run_opts *o) {
    static mlp_data d;
    static export_list e;
    static float init[4096];
    static run_log log;
    memset(&e, 0, sizeof e);
    ml_mlp *m = new_mlp(&d);
    if (!m) return;
    ml_nn_tensor ts[2 * ML_NN_MLP_MAX_HIDDEN + 2];
    size_t n = ml_mlp_n_tensors(m);
    snapshot sn = {init, 0};
    for (size_t i = 0; i < n; i++) {
        CHECK_STATUS(ml_mlp_tensor(m, i, &ts[i]), ML_OK);
        add(&e, "param.", ts[i].name, ML_DTYPE_F32, ts[i].n_dims, ts[i].shape[0],
            ts[i].shape[1], snap(&sn, &ts[i]));
        add(&e, "final.", ts[i].name, ML_DTYPE_F32, ts[i].n_dims, ts[i].shape[0],
            ts[i].shape[1], ts[i].data);
    }
    ml_optim *opt = NULL;
    CHECK_STATUS(ml_optim_new(&opt, &o->cfg, ts, n), ML_OK);
    if (!opt) {
        ml_mlp_free(m);
        return;
    }
    run_steps(o, opt, m, mlp_zero, mlp_fb, &d, &log);
    if (o->max_norm > 0.0) {
        /* clipping must have acted on some step, or this case would not test it */
        double most = 0.0;
        for (size_t s = 0; s < o->steps; s++) most = fmax(most, log.norms[s]);
        CHECK(most > o->max_norm);
    }
    add_mlp_data(&e, &d);
    add(&e, "", "norms", ML_DTYPE_F64, 1, o->steps, 0, log.norms);
    add(&e, "", "losses", ML_DTYPE_F64, 1, o->steps, 0, log.losses);
    add_state(&e, opt);
    meta_str(&e, "case", "mlp_optim");
    add_run_meta(&e, o);
    write_case(&e, o->name);
    ml_optim_free(opt);
    ml_mlp_free(m);
}

static void test_optim_torch__adamw_cosine_warmup_clipping_on_mlp(void) {
    run_opts o = {"adamw", ML_OPTIM_CONFIG_INIT, 0.02, 0.25, ML_LR_SCHEDULE_INIT, 5};
    o.cfg.weight_decay = 0.05;
    o.sched.kind = ML_SCHEDULE_COSINE;
    o.sched.warmup_steps = 2;
    o.sched.total_steps = 5;
    run_mlp_case(&o);
}

static void test_optim_torch__sgd_momentum_linear_schedule_on_mlp(void) {
    run_opts o = {"sgd", ML_OPTIM_CONFIG_INIT, 0.1, 0.0, ML_LR_SCHEDULE_INIT, 5};
    o.cfg.kind = ML_OPTIM_SGD;
    o.cfg.weight_decay = 1e-3;
    o.cfg.momentum = 0.9;
    o.sched.kind = ML_SCHEDULE_LINEAR;
    o.sched.warmup_steps = 1;
    o.sched.total_steps = 6;
    run_mlp_case(&o);
}

static void test_optim_torch__sgd_nesterov_with_clipping_on_mlp(void) {
    run_opts o = {"sgd_nesterov", ML_OPTIM_CONFIG_INIT, 0.05, 0.3, ML_LR_SCHEDULE_INIT, 5};
    o.cfg.kind = ML_OPTIM_SGD;
    o.cfg.weight_decay = 0.0;
    o.cfg.momentum = 0.8;
    o.cfg.is_nesterov = 1;
    run_mlp_case(&o);
}

/* ---- LoRA fine-tune of the set transformer ---------------------------------------------- */

typedef struct st_data {
    float x[ST_TOKENS * ST_IN];
    int64_t offsets64[ST_SETS + 1], labels64[ST_SETS];
} st_data;

static void st_zero(void *m) { ml_settransformer_zero_grad(m); }

static ml_status st_fb(void *m, const void *data, double *loss) {
    const st_data *d = data;
    ml_set_batch b = {ST_SETS, st_offsets, d->x};
    ml_settransformer_targets t = {st_labels, NULL, NULL};
    return ml_settransformer_forward_backward(m, &b, &t, loss);
}

static void test_optim_torch__adamw_on_lora_adapters_of_settransformer(void) {
    ml_settransformer_config cfg = ML_SETTRANSFORMER_CONFIG_INIT;
    cfg.d_in = ST_IN;
    cfg.d_model = ST_MODEL;
    cfg.n_layers = ST_LAYERS;
    cfg.n_heads = ST_HEADS;
    cfg.d_ff = ST_FF;
    cfg.n_classes = ST_CLASSES;
    cfg.max_tokens = ST_TOKENS;
    cfg.max_set_tokens = 9;
    cfg.max_sets = ST_SETS;
    cfg.has_grad = 1;
    cfg.lora_rank = 4;
    cfg.lora_alpha = 8.0f;
    cfg.lora_targets = ML_LORA_Q | ML_LORA_V;
    ml_settransformer *m = NULL;
    CHECK_STATUS(ml_settransformer_new(&m, &cfg), ML_OK);
    if (!m) return;
    ml_settransformer_init(m, 5);
    static st_data d;
    static export_list e;
    static float init[65536];
    static run_log log;
    memset(&e, 0, sizeof e);
    ml__rng r;
    ml__rng_seed(&r, 2024);
    size_t n = ml_settransformer_n_tensors(m);
    static ml_nn_tensor ts[128];
    CHECK(n <= 128);
    snapshot sn = {init, 0};
    for (size_t i = 0; i < n && i < 128; i++) {
        CHECK_STATUS(ml_settransformer_tensor(m, i, &ts[i]), ML_OK);
        if (strstr(ts[i].name, "lora_B")) /* B = 0 would give A no gradient */
            for (size_t j = 0; j < ts[i].numel; j++)
                ts[i].data[j] = (float)(ml__rng_uniform(&r) - 0.5) * 0.4f;
        add(&e, "param.", ts[i].name, ML_DTYPE_F32, ts[i].n_dims, ts[i].shape[0],
            ts[i].shape[1], snap(&sn, &ts[i]));
        if (ts[i].grad)
            add(&e, "final.", ts[i].name, ML_DTYPE_F32, ts[i].n_dims, ts[i].shape[0],
                ts[i].shape[1], ts[i].data);
    }
    for (size_t i = 0; i < ST_TOKENS * ST_IN; i++) d.x[i] = (float)(2.0 * ml__rng_uniform(&r) - 1.0);
    for (size_t i = 0; i <= ST_SETS; i++) d.offsets64[i] = (int64_t)st_offsets[i];
    for (size_t i = 0; i < ST_SETS; i++) d.labels64[i] = st_labels[i];
    run_opts o = {"lora_adamw", ML_OPTIM_CONFIG_INIT, 0.01, 0.0, ML_LR_SCHEDULE_INIT, 3};
    ml_optim *opt = NULL;
    CHECK_STATUS(ml_optim_new(&opt, &o.cfg, ts, n), ML_OK);
    if (opt) {
        /* LoRA A and B of q and v in 2 layers, plus the classifier (PEFT's modules_to_save) */
        CHECK_EQ_INT(ml_optim_n_state(opt), 2 * (ST_LAYERS * 2 * 2 + 2) + 1);
        run_steps(&o, opt, m, st_zero, st_fb, &d, &log);
        add(&e, "", "x", ML_DTYPE_F32, 2, ST_TOKENS, ST_IN, d.x);
        add(&e, "", "offsets", ML_DTYPE_I64, 1, ST_SETS + 1, 0, d.offsets64);
        add(&e, "", "labels", ML_DTYPE_I64, 1, ST_SETS, 0, d.labels64);
        add(&e, "", "norms", ML_DTYPE_F64, 1, o.steps, 0, log.norms);
        add(&e, "", "losses", ML_DTYPE_F64, 1, o.steps, 0, log.losses);
        add_state(&e, opt);
        meta_str(&e, "case", "lora_optim");
        meta_str(&e, "nhead", "5");
        meta(&e, "lora_rank", (double)cfg.lora_rank);
        meta(&e, "lora_alpha", (double)cfg.lora_alpha);
        add_run_meta(&e, &o);
        write_case(&e, o.name);
        ml_optim_free(opt);
    }
    ml_settransformer_free(m);
}

/* Runs the oracle once over every case file; returns its exit status. */
static int run_oracle(void) {
    char cmd[4096];
    size_t len = (size_t)snprintf(cmd, sizeof cmd, PYTHON " " ORACLE);
    for (size_t i = 0; i < n_cases && len < sizeof cmd; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, " '%s'", case_paths[i]);
    if (len >= sizeof cmd - 8) return 1;
    snprintf(cmd + len, sizeof cmd - len, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "cannot start %s\n", PYTHON);
        return 1;
    }
    char line[512];
    while (fgets(line, sizeof line, p)) fputs(line, stderr);
    int status = pclose(p);
    if (status == -1 || !WIFEXITED(status)) return 1;
    return WEXITSTATUS(status);
}

static void test_optim_torch__pytorch_agrees_on_every_case(void) {
    CHECK_EQ_INT(n_cases, 5);
    int status = run_oracle();
    if (status == ORACLE_SKIP) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) {
            fprintf(stderr, "torch is required when CI=true\n");
            status = 1;
        } else {
            fprintf(stderr, "SKIP: " PYTHON " cannot import torch\n");
            status = 0;
        }
    }
    CHECK_EQ_INT(status, 0);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ml_optim_torch_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_optim_torch__mlp_loss_and_gradients);
    RUN(test_optim_torch__adamw_cosine_warmup_clipping_on_mlp);
    RUN(test_optim_torch__sgd_momentum_linear_schedule_on_mlp);
    RUN(test_optim_torch__sgd_nesterov_with_clipping_on_mlp);
    RUN(test_optim_torch__adamw_on_lora_adapters_of_settransformer);
    RUN(test_optim_torch__pytorch_agrees_on_every_case);
    for (size_t i = 0; i < n_cases; i++) unlink(case_paths[i]);
    rmdir(tmp_dir);
    TEST_MAIN_END();
}
