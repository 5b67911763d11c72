/* test_settransformer_torch.c - the set transformer against PyTorch: random weights and a
 * ragged batch (sets of 5, 1 and 9 OTUs), forward, loss and backward in C, everything exported
 * to a safetensors file that tests/oracle/settransformer_torch.py reloads into the upstream
 * module structure (padded batch_first, src_key_padding_mask, float64) to compare outputs and
 * every gradient, without LoRA, with LoRA, and with LoRA dropout (the masks C drew exported
 * too, for the oracle to replay). Prints SKIP only when Debian's python3 cannot import
 * torch, and fails instead when CI=true. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "microlens/nn.h"
#include "microlens/safetensors.h"
#include "ml_test.h"
#include "nn/settransformer.h"
#include "util/rng.h"

#define PYTHON "/usr/bin/python3"
#define ORACLE "tests/oracle/settransformer_torch.py"
/* the oracle's exit status for "torch cannot be imported" (automake's SKIP code) */
#define ORACLE_SKIP 77

enum { D_IN = 12, D_MODEL = 20, N_LAYERS = 2, N_HEADS = 5, D_FF = 40, N_CLASSES = 3 };
enum { N_SETS = 3, N_TOKENS = 15, MAX_SET = 9 };
static const size_t offsets[N_SETS + 1] = {0, 5, 6, 15};
static const int labels[N_SETS] = {2, 0, 1};

#define MAX_EXPORT 320
#define LORA_DROPOUT 0.25f
#define NAME_LEN 128

typedef struct export_list {
    ml_tensor_view v[MAX_EXPORT];
    char names[MAX_EXPORT][NAME_LEN];
    size_t n;
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

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Moves every tensor off PyTorch's init so that zero biases, unit LayerNorm scales and zero
 * LoRA B cannot hide a wrong gradient. */
static void perturb(ml_settransformer *m, ml__rng *r) {
    for (size_t i = 0; i < ml_settransformer_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_settransformer_tensor(m, i, &t), ML_OK);
        int is_norm_w = strstr(t.name, ".norm") && ends_with(t.name, ".weight");
        int reset = ends_with(t.name, "bias") || strstr(t.name, ".norm") ||
                    strstr(t.name, "lora_B");
        if (!reset) continue;
        for (size_t j = 0; j < t.numel; j++)
            t.data[j] = (float)((is_norm_w ? 1.0 : 0.0) + (ml__rng_uniform(r) - 0.5) * 0.6);
    }
}

static int run_oracle(const char *path) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, PYTHON " " ORACLE " '%s' 2>&1", path);
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

typedef struct case_data {
    float x[N_TOKENS * D_IN], token_targets[N_TOKENS], d_emb[N_SETS * D_MODEL];
    int64_t offsets64[N_SETS + 1], labels64[N_SETS];
} case_data;

enum { CASE_BASE, CASE_LORA, CASE_LORA_DROPOUT };
static const char *const case_names[] = {"base", "lora", "lora_dropout"};

/* The dropout masks of the last forward, under the adapters' PEFT-style names. */
static void add_masks(export_list *e, ml_settransformer *m) {
    static const struct { unsigned bit; const char *name; size_t d_in; } targets[] = {
        {ML_LORA_Q, "self_attn.q_proj", D_MODEL},    {ML_LORA_K, "self_attn.k_proj", D_MODEL},
        {ML_LORA_V, "self_attn.v_proj", D_MODEL},    {ML_LORA_OUT, "self_attn.out_proj", D_MODEL},
        {ML_LORA_LINEAR1, "linear1", D_MODEL},       {ML_LORA_LINEAR2, "linear2", D_FF}};
    for (size_t l = 0; l < N_LAYERS; l++)
        for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
            const float *mask = ml__settransformer_lora_mask(m, l, targets[k].bit);
            CHECK(mask != NULL);
            if (!mask) continue;
            char name[NAME_LEN];
            snprintf(name, sizeof name, "base_model.model.transformer.layers.%zu.%s", l,
                     targets[k].name);
            add(e, "mask.", name, ML_DTYPE_F32, 2, N_TOKENS, targets[k].d_in, mask);
        }
}

/* Builds, runs and exports one case; returns the oracle's exit status. */
static int run_case(int which, const char *dir) {
    int with_lora = which != CASE_BASE;
    ml_settransformer_config cfg = ML_SETTRANSFORMER_CONFIG_INIT;
    cfg.d_in = D_IN;
    cfg.d_model = D_MODEL;
    cfg.n_layers = N_LAYERS;
    cfg.n_heads = N_HEADS;
    cfg.d_ff = D_FF;
    cfg.n_classes = N_CLASSES;
    cfg.max_tokens = N_TOKENS;
    cfg.max_set_tokens = MAX_SET;
    cfg.max_sets = N_SETS;
    cfg.has_grad = 1;
    cfg.lora_rank = with_lora ? 3 : 0;
    cfg.lora_alpha = 6.0f;
    cfg.lora_targets = ML_LORA_ALL;
    cfg.lora_dropout = which == CASE_LORA_DROPOUT ? LORA_DROPOUT : 0.0f;
    ml_settransformer *m = NULL;
    CHECK_STATUS(ml_settransformer_new(&m, &cfg), ML_OK);
    if (!m) return 1;
    ml_settransformer_init(m, 42);
    ml__rng r;
    ml__rng_seed(&r, 1001 + (uint64_t)which);
    perturb(m, &r);

    static case_data c;
    for (size_t i = 0; i < N_TOKENS * D_IN; i++) c.x[i] = (float)(2.0 * ml__rng_uniform(&r) - 1.0);
    for (size_t i = 0; i < N_TOKENS; i++) c.token_targets[i] = (float)ml__rng_uniform(&r);
    for (size_t i = 0; i < N_SETS * D_MODEL; i++)
        c.d_emb[i] = (float)(ml__rng_uniform(&r) - 0.5);
    for (size_t i = 0; i <= N_SETS; i++) c.offsets64[i] = (int64_t)offsets[i];
    for (size_t i = 0; i < N_SETS; i++) c.labels64[i] = labels[i];

    ml_set_batch batch = {N_SETS, offsets, c.x};
    ml_settransformer_targets tg = {labels, c.token_targets, c.d_emb};
    double loss = 0.0;
    ml_settransformer_zero_grad(m);
    CHECK_STATUS(ml_settransformer_forward_backward(m, &batch, &tg, &loss), ML_OK);

    static export_list e;
    e.n = 0;
    for (size_t i = 0; i < ml_settransformer_n_tensors(m); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_settransformer_tensor(m, i, &t), ML_OK);
        add(&e, "param.", t.name, ML_DTYPE_F32, t.n_dims, t.shape[0], t.shape[1], t.data);
        if (t.grad)
            add(&e, "grad.", t.name, ML_DTYPE_F32, t.n_dims, t.shape[0], t.shape[1], t.grad);
    }
    add(&e, "", "x", ML_DTYPE_F32, 2, N_TOKENS, D_IN, c.x);
    add(&e, "", "offsets", ML_DTYPE_I64, 1, N_SETS + 1, 0, c.offsets64);
    add(&e, "", "labels", ML_DTYPE_I64, 1, N_SETS, 0, c.labels64);
    add(&e, "", "token_targets", ML_DTYPE_F32, 1, N_TOKENS, 0, c.token_targets);
    add(&e, "", "d_embeddings", ML_DTYPE_F32, 2, N_SETS, D_MODEL, c.d_emb);
    add(&e, "out.", "embeddings", ML_DTYPE_F32, 2, N_SETS, D_MODEL,
        ml_settransformer_embeddings(m));
    add(&e, "out.", "class_logits", ML_DTYPE_F32, 2, N_SETS, N_CLASSES,
        ml_settransformer_class_logits(m));
    add(&e, "out.", "token_logits", ML_DTYPE_F32, 1, N_TOKENS, 0,
        ml_settransformer_token_logits(m));
    add(&e, "out.", "loss", ML_DTYPE_F64, 0, 0, 0, &loss);
    if (which == CASE_LORA_DROPOUT) add_masks(&e, m);
    char rank[32], alpha[32], dropout[32];
    snprintf(rank, sizeof rank, "%zu", cfg.lora_rank);
    snprintf(alpha, sizeof alpha, "%.9g", (double)cfg.lora_alpha);
    snprintf(dropout, sizeof dropout, "%.9g", (double)cfg.lora_dropout);
    ml_kv meta[] = {{"nhead", "5"}, {"lora_rank", rank}, {"lora_alpha", alpha},
                    {"lora_dropout", dropout}};
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, case_names[which]);
    CHECK_STATUS(ml_safetensors_write(path, e.v, e.n, meta, 4), ML_OK);
    ml_settransformer_free(m);
    int status = run_oracle(path);
    unlink(path);
    return status;
}

static int oracle_status(int status) {
    if (status == ORACLE_SKIP) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0) {
            fprintf(stderr, "torch is required when CI=true\n");
            return 1;
        }
        fprintf(stderr, "SKIP: " PYTHON " cannot import torch\n");
        return 0;
    }
    return status;
}

static char tmp_dir[64];

static void test_settransformer_torch__matches_pytorch_without_lora(void) {
    CHECK_EQ_INT(oracle_status(run_case(CASE_BASE, tmp_dir)), 0);
}

static void test_settransformer_torch__matches_pytorch_with_lora(void) {
    CHECK_EQ_INT(oracle_status(run_case(CASE_LORA, tmp_dir)), 0);
}

static void test_settransformer_torch__matches_pytorch_with_lora_dropout(void) {
    CHECK_EQ_INT(oracle_status(run_case(CASE_LORA_DROPOUT, tmp_dir)), 0);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ml_settransformer_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_settransformer_torch__matches_pytorch_without_lora);
    RUN(test_settransformer_torch__matches_pytorch_with_lora);
    RUN(test_settransformer_torch__matches_pytorch_with_lora_dropout);
    rmdir(tmp_dir);
    TEST_MAIN_END();
}
