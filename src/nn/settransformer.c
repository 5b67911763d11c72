/* settransformer.c - the set transformer model: tensor layout and names, initialisation,
 * forward and backward over ragged batches, LoRA merge. It owns three blocks (parameters,
 * gradients, activations) allocated once in _new; the per-step path never allocates. The
 * numeric work lives in the kernels (linear, attention, layernorm, ...); nothing here loops
 * over matrix elements except zeroing and copying. */
#include "microlens/nn.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/actstats.h"
#include "nn/attention.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/lora.h"
#include "nn/loss.h"
#include "nn/pointwise.h"
#include "nn/pool.h"
#include "nn/settransformer.h"
#include "util/error.h"
#include "util/rng.h"

/* Any single size above this is refused as absurd, which also keeps every GEMM dimension far
 * inside OpenBLAS's 32-bit integers. */
#define MAX_DIM ((size_t)1 << 24)
/* Longest tensor name: "base_model.model.transformer.layers.16777215.self_attn.out_proj.
 * lora_B.weight" is 78 bytes. */
#define NAME_CAP 96
/* Activation views start on 64-byte boundaries (16 floats) for the BLAS kernels. */
#define ALIGN_FLOATS 16

enum { LQ, LK, LV, LOUT, LL1, LL2, N_TARGETS };
static const char *const target_names[N_TARGETS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
    "self_attn.out_proj", "linear1", "linear2"};

typedef struct tensor_entry {
    char name[NAME_CAP];
    size_t n_dims, shape[2], numel, offset; /* offset: floats into the param and grad blocks */
    int is_trainable;
} tensor_entry;

/* Views of one layer's tensors in the param or the grad block (NULL: frozen or absent). */
typedef struct layer_w {
    float *in_w, *in_b, *out_w, *out_b, *l1_w, *l1_b, *l2_w, *l2_b, *n1_w, *n1_b, *n2_w, *n2_b;
    float *lora_a[N_TARGETS], *lora_b[N_TARGETS];
} layer_w;

typedef struct model_w {
    float *inp_w, *inp_b, *outp_w, *outp_b, *cls_w, *cls_b;
    layer_w *layers;
} model_w;

/* One layer's kept activations; row counts are T (tokens of the batch). */
typedef struct layer_act {
    float *qkv;          /* (T, 3d) in_proj output */
    float *att;          /* (T, d) attention output, heads concatenated */
    float *probs;        /* softmax blocks, see attention.h (NULL without gradients) */
    float *r1, *y1;      /* (T, d) x + out_proj(att), norm1 of it */
    float *h;            /* (T, d_ff) linear1 output, ReLU applied in place */
    float *r2, *out;     /* (T, d) y1 + linear2(h), norm2 of it */
    float *mean1, *rstd1, *mean2, *rstd2; /* (T) */
    float *lora_u[N_TARGETS];             /* (T, r) adapter inputs dropout(x) A^T */
    float *lora_mask[N_TARGETS];          /* (T, d_in) dropout masks (0 or 1/(1-p)), only
                                           * with has_grad and lora_dropout > 0 */
} layer_act;

struct ml_settransformer {
    ml_settransformer_config cfg;
    tensor_entry *tensors;
    size_t n_tensors, n_params;
    float *params, *grads, *acts;
    model_w p, g;
    layer_act *la; /* n_layers entries; without gradients all alias one set of buffers */
    float *x0, *tok_logits, *emb, *cls_logits, *cls_probs, *set_targets;
    /* backward scratch: gradients of activations, reused by every layer */
    float *dx_a, *dx_b, *dqkv, *datt, *dr1, *dy1, *dr2, *dh, *dp, *du;
    float *dtok, *demb, *dlogits;
    float *lora_xd;          /* (T, max(d_model, d_ff)) dropped-out adapter input, scratch */
    float *att_scratch;      /* attention forward's packed K^T, V^T and score rows */
    ml__rng dropout_rng;     /* LoRA dropout masks: stream 2 of the init seed */
    int is_training;         /* forward_backward draws dropout masks (ignored without dropout) */
    int dropout_on;          /* the last forward applied masks (backward must use them) */
    size_t n_sets, n_tokens; /* of the last forward */
    const size_t *offsets;   /* borrowed during a call only */
    int is_merged;
    int owns_params;         /* 0: params are another model's (ml_settransformer_new_shared) */
    size_t *sub_offsets;     /* (max_sets + 1): a worker's rebased share of a batch, else NULL */
    int has_acts;            /* la[] holds the activations of the last forward of this model
                              * (0 before any, or after a parallel call: the workers hold them) */
    char (*layer_names)[NAME_CAP]; /* "transformer.layers.{i}", for activation statistics */
};

/* ---- sizes ------------------------------------------------------------------------------ */

static size_t mul_sat(size_t a, size_t b) { return (b && a > SIZE_MAX / b) ? SIZE_MAX : a * b; }
static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static size_t n_lora_targets(const ml_settransformer_config *c) {
    if (c->lora_rank == 0) return 0;
    size_t k = 0;
    for (int t = 0; t < N_TARGETS; t++) k += (c->lora_targets >> t) & 1u;
    return k;
}

static void target_dims(const ml_settransformer_config *c, int t, size_t *d_in, size_t *d_out) {
    *d_in = t == LL2 ? c->d_ff : c->d_model;
    *d_out = t == LL1 ? c->d_ff : c->d_model;
}

static int has_target(const ml_settransformer_config *c, int t) {
    return c->lora_rank > 0 && ((c->lora_targets >> t) & 1u);
}

static ml_status check_config(const ml_settransformer_config *c) {
    if (!c || c->version != ML_SETTRANSFORMER_CONFIG_VERSION)
        return ML_FAIL(ML_EINVAL, "settransformer config: version %d (expected %d; start from "
                       "ML_SETTRANSFORMER_CONFIG_INIT)", c ? c->version : 0,
                       ML_SETTRANSFORMER_CONFIG_VERSION);
    const struct { const char *name; size_t v; int may_be_zero; } f[] = {
        {"d_in", c->d_in, 0},           {"d_model", c->d_model, 0},
        {"n_layers", c->n_layers, 0},   {"n_heads", c->n_heads, 0},
        {"d_ff", c->d_ff, 0},           {"n_classes", c->n_classes, 1},
        {"max_tokens", c->max_tokens, 0}, {"max_set_tokens", c->max_set_tokens, 0},
        {"max_sets", c->max_sets, 0},   {"lora_rank", c->lora_rank, 1}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].may_be_zero && f[i].v == 0)
            return ML_FAIL(ML_EINVAL, "settransformer config: %s is 0 (expected >= 1)", f[i].name);
        if (f[i].v > MAX_DIM)
            return ML_FAIL(ML_EINVAL, "settransformer config: %s = %zu (expected <= %zu)",
                           f[i].name, f[i].v, MAX_DIM);
    }
    if (c->d_model % c->n_heads != 0)
        return ML_FAIL(ML_EINVAL, "settransformer config: n_heads %zu does not divide d_model "
                       "%zu", c->n_heads, c->d_model);
    if (c->max_set_tokens > c->max_tokens)
        return ML_FAIL(ML_EINVAL, "settransformer config: max_set_tokens %zu exceeds max_tokens "
                       "%zu", c->max_set_tokens, c->max_tokens);
    if (c->lora_rank > 0) {
        if ((c->lora_targets & ~ML_LORA_ALL) || (c->lora_targets & ML_LORA_ALL) == 0)
            return ML_FAIL(ML_EINVAL, "settransformer config: lora_targets 0x%x (expected a "
                           "non-empty combination of ML_LORA_* bits)", c->lora_targets);
        if (!(c->lora_alpha > 0.0f) || !isfinite(c->lora_alpha))
            return ML_FAIL(ML_EINVAL, "settransformer config: lora_alpha %g (expected a finite "
                           "value > 0)", (double)c->lora_alpha);
        if (!(c->lora_dropout >= 0.0f && c->lora_dropout < 1.0f))
            return ML_FAIL(ML_EINVAL, "settransformer config: lora_dropout %g (expected 0 <= p "
                           "< 1)", (double)c->lora_dropout);
    }
    return ML_OK;
}

/* ---- tensor table ----------------------------------------------------------------------- */

/* Walks the tensors in state-dict order. With record set it appends entries to m->tensors;
 * otherwise it hands out views of block (NULL for frozen tensors when is_grad). */
typedef struct layout_walk {
    ml_settransformer *m;
    float *block;
    int record, is_grad;
    size_t k, offset;
} layout_walk;

static float *slot(layout_walk *w, int trainable, size_t n_dims, size_t s0, size_t s1,
                   const char *name) {
    if (w->record) {
        tensor_entry *e = &w->m->tensors[w->k];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->n_dims = n_dims;
        e->shape[0] = s0;
        e->shape[1] = n_dims == 2 ? s1 : 0;
        e->numel = n_dims == 2 ? s0 * s1 : s0;
        e->offset = w->offset;
        e->is_trainable = trainable;
        w->offset += e->numel;
    }
    const tensor_entry *e = &w->m->tensors[w->k++];
    if (!w->block || (w->is_grad && !e->is_trainable)) return NULL;
    return w->block + e->offset;
}

/* A layer index has at most 8 digits (MAX_DIM), so names always fit NAME_CAP. */
static const char *layer_name(char *buf, size_t l, const char *lora, const char *suffix) {
    int len = snprintf(buf, NAME_CAP, "%stransformer.layers.%zu.%s", lora, l, suffix);
    return len > 0 && len < NAME_CAP ? buf : "";
}

static void walk_layout(layout_walk *w, model_w *v) {
    const ml_settransformer_config *c = &w->m->cfg;
    size_t d = c->d_model, ff = c->d_ff;
    int base = c->lora_rank == 0; /* LoRA freezes the base */
    v->inp_w = slot(w, base, 2, d, c->d_in, "input_projection_type1.weight");
    v->inp_b = slot(w, base, 1, d, 0, "input_projection_type1.bias");
    for (size_t l = 0; l < c->n_layers; l++) {
        layer_w *L = &v->layers[l];
        char nm[NAME_CAP];
        L->in_w = slot(w, base, 2, 3 * d, d, layer_name(nm, l, "", "self_attn.in_proj_weight"));
        L->in_b = slot(w, base, 1, 3 * d, 0, layer_name(nm, l, "", "self_attn.in_proj_bias"));
        L->out_w = slot(w, base, 2, d, d, layer_name(nm, l, "", "self_attn.out_proj.weight"));
        L->out_b = slot(w, base, 1, d, 0, layer_name(nm, l, "", "self_attn.out_proj.bias"));
        L->l1_w = slot(w, base, 2, ff, d, layer_name(nm, l, "", "linear1.weight"));
        L->l1_b = slot(w, base, 1, ff, 0, layer_name(nm, l, "", "linear1.bias"));
        L->l2_w = slot(w, base, 2, d, ff, layer_name(nm, l, "", "linear2.weight"));
        L->l2_b = slot(w, base, 1, d, 0, layer_name(nm, l, "", "linear2.bias"));
        L->n1_w = slot(w, base, 1, d, 0, layer_name(nm, l, "", "norm1.weight"));
        L->n1_b = slot(w, base, 1, d, 0, layer_name(nm, l, "", "norm1.bias"));
        L->n2_w = slot(w, base, 1, d, 0, layer_name(nm, l, "", "norm2.weight"));
        L->n2_b = slot(w, base, 1, d, 0, layer_name(nm, l, "", "norm2.bias"));
    }
    int token_head = base && !c->freeze_token_head;
    v->outp_w = slot(w, token_head, 2, 1, d, "output_projection.weight");
    v->outp_b = slot(w, token_head, 1, 1, 0, "output_projection.bias");
    v->cls_w = v->cls_b = NULL;
    if (c->n_classes > 0) {
        v->cls_w = slot(w, 1, 2, c->n_classes, d, "classifier.weight");
        v->cls_b = slot(w, 1, 1, c->n_classes, 0, "classifier.bias");
    }
    for (size_t l = 0; l < c->n_layers; l++)
        for (int t = 0; t < N_TARGETS; t++) {
            layer_w *L = &v->layers[l];
            L->lora_a[t] = L->lora_b[t] = NULL;
            if (!has_target(c, t)) continue;
            size_t d_in, d_out;
            target_dims(c, t, &d_in, &d_out);
            char nm[NAME_CAP], suffix[NAME_CAP];
            snprintf(suffix, sizeof suffix, "%s.lora_A.weight", target_names[t]);
            L->lora_a[t] = slot(w, 1, 2, c->lora_rank, d_in,
                                layer_name(nm, l, "base_model.model.", suffix));
            snprintf(suffix, sizeof suffix, "%s.lora_B.weight", target_names[t]);
            L->lora_b[t] = slot(w, 1, 2, d_out, c->lora_rank,
                                layer_name(nm, l, "base_model.model.", suffix));
        }
}

static size_t count_tensors(const ml_settransformer_config *c) {
    return 2 + 12 * c->n_layers + 2 + (c->n_classes > 0 ? 2 : 0) +
           2 * c->n_layers * n_lora_targets(c);
}

static size_t count_params(const ml_settransformer_config *c) {
    size_t d = c->d_model, ff = c->d_ff, r = c->lora_rank;
    size_t layer = 3 * d * d + 3 * d + d * d + d + 2 * ff * d + ff + d + 4 * d;
    size_t lora = 0;
    for (int t = 0; t < N_TARGETS; t++) {
        size_t d_in, d_out;
        target_dims(c, t, &d_in, &d_out);
        if (has_target(c, t)) lora += r * (d_in + d_out);
    }
    return d * c->d_in + d + c->n_layers * (layer + lora) + d + 1 +
           c->n_classes * (d + 1);
}

/* ---- activations ------------------------------------------------------------------------ */

typedef struct carver {
    float *base; /* NULL: only count */
    size_t used;
} carver;

static float *carve(carver *cv, size_t n) {
    float *p = cv->base ? cv->base + cv->used : NULL;
    size_t rounded = mul_sat(add_sat(n, ALIGN_FLOATS - 1) / ALIGN_FLOATS, ALIGN_FLOATS);
    cv->used = add_sat(cv->used, rounded);
    return p;
}

/* Most sum of n_s^2 over a batch: sets as large as allowed, the rest in one set. */
static size_t max_sum_squares(size_t max_tokens, size_t max_set) {
    size_t full = max_tokens / max_set, rest = max_tokens % max_set;
    return add_sat(mul_sat(full, mul_sat(max_set, max_set)), rest * rest);
}

/* Masks and their scratch exist only where dropout can be applied: training models. */
static int has_dropout(const ml_settransformer_config *c) {
    return c->has_grad && c->lora_rank > 0 && c->lora_dropout > 0.0f;
}

static void carve_layer(carver *cv, layer_act *a, const ml_settransformer_config *c) {
    size_t T = c->max_tokens, d = c->d_model, ff = c->d_ff;
    size_t probs = c->has_grad ? max_sum_squares(T, c->max_set_tokens) : 0;
    a->qkv = carve(cv, mul_sat(T, 3 * d));
    a->att = carve(cv, mul_sat(T, d));
    a->probs = probs ? carve(cv, mul_sat(c->n_heads, probs)) : NULL;
    a->r1 = carve(cv, mul_sat(T, d));
    a->y1 = carve(cv, mul_sat(T, d));
    a->h = carve(cv, mul_sat(T, ff));
    a->r2 = carve(cv, mul_sat(T, d));
    a->out = NULL; /* set by the caller: the next layer's input */
    a->mean1 = carve(cv, T);
    a->rstd1 = carve(cv, T);
    a->mean2 = carve(cv, T);
    a->rstd2 = carve(cv, T);
    for (int t = 0; t < N_TARGETS; t++) {
        size_t d_in, d_out;
        target_dims(c, t, &d_in, &d_out);
        a->lora_u[t] = has_target(c, t) ? carve(cv, mul_sat(T, c->lora_rank)) : NULL;
        a->lora_mask[t] = has_target(c, t) && has_dropout(c) ? carve(cv, mul_sat(T, d_in)) : NULL;
    }
}

/* Lays out every activation and scratch buffer; returns the floats needed. With m->la NULL
 * it only counts. Without gradients every layer shares one set of buffers and writes its
 * output over x0 (a layer reads its input before it writes its output). */
static size_t carve_acts(ml_settransformer *m, float *base) {
    const ml_settransformer_config *c = &m->cfg;
    size_t T = c->max_tokens, d = c->d_model, ff = c->d_ff, S = c->max_sets;
    carver cv = {base, 0};
    m->x0 = carve(&cv, mul_sat(T, d));
    size_t n_act_layers = c->has_grad ? c->n_layers : 1;
    for (size_t l = 0; l < n_act_layers; l++) {
        layer_act dummy, *a = m->la ? &m->la[l] : &dummy;
        carve_layer(&cv, a, c);
        a->out = c->has_grad ? carve(&cv, mul_sat(T, d)) : m->x0;
    }
    if (m->la && !c->has_grad)
        for (size_t l = 1; l < c->n_layers; l++) m->la[l] = m->la[0];
    m->att_scratch = carve(&cv, ml__attention_scratch_size(c->max_set_tokens, d, c->n_heads));
    m->tok_logits = carve(&cv, T);
    m->emb = carve(&cv, mul_sat(S, d));
    m->cls_logits = carve(&cv, mul_sat(S, c->n_classes));
    m->cls_probs = carve(&cv, mul_sat(S, c->n_classes));
    m->set_targets = carve(&cv, S);
    if (c->has_grad) {
        float **td[] = {&m->dx_a, &m->dx_b, &m->datt, &m->dr1, &m->dy1, &m->dr2};
        for (size_t i = 0; i < sizeof td / sizeof td[0]; i++) *td[i] = carve(&cv, mul_sat(T, d));
        m->dqkv = carve(&cv, mul_sat(T, 3 * d));
        m->dh = carve(&cv, mul_sat(T, ff));
        m->dp = carve(&cv, mul_sat(c->max_set_tokens, c->max_set_tokens));
        m->du = carve(&cv, mul_sat(T, c->lora_rank));
        m->dtok = carve(&cv, T);
        m->demb = carve(&cv, mul_sat(S, d));
        m->dlogits = carve(&cv, mul_sat(S, c->n_classes));
        m->lora_xd = has_dropout(c) ? carve(&cv, mul_sat(T, ff > d ? ff : d)) : NULL;
    }
    return cv.used;
}

/* Floats of the three blocks together (SIZE_MAX on overflow); the config is valid. */
static size_t total_floats(const ml_settransformer_config *c, size_t *n_params, size_t *n_acts) {
    ml_settransformer probe;
    memset(&probe, 0, sizeof probe);
    probe.cfg = *c;
    *n_acts = carve_acts(&probe, NULL);
    *n_params = count_params(c);
    size_t total = add_sat(*n_params, *n_acts);
    if (c->has_grad) total = add_sat(total, *n_params);
    return total;
}

/* 1 TiB of floats: beyond any machine this runs on, so a larger config is a mistake, and it
 * keeps every byte count far from overflow. */
#define MAX_TOTAL_FLOATS ((size_t)1 << 38)

size_t ml_settransformer_workspace_size(const ml_settransformer_config *cfg) {
    if (check_config(cfg) != ML_OK) return 0;
    size_t n_params, n_acts, total = total_floats(cfg, &n_params, &n_acts);
    return total >= MAX_TOTAL_FLOATS ? 0 : total * sizeof(float);
}

/* The constructor behind _new and _new_shared: with shared non-NULL the model reads its
 * parameters there and allocates only the rest. */
static ml_status build(ml_settransformer **out, const ml_settransformer_config *cfg,
                       float *shared) {
    ml_status st = check_config(cfg);
    if (st != ML_OK) return st;
    size_t n_params, n_acts;
    if (total_floats(cfg, &n_params, &n_acts) >= MAX_TOTAL_FLOATS)
        return ML_FAIL(ML_EINVAL, "settransformer config: the sizes need more memory than can "
                       "be addressed (lower max_tokens or max_set_tokens)");
    ml_settransformer *m = calloc(1, sizeof *m);
    if (!m) return ML_NOMEM();
    m->cfg = *cfg;
    m->n_tensors = count_tensors(cfg);
    m->n_params = n_params;
    m->owns_params = shared == NULL;
    m->tensors = calloc(m->n_tensors, sizeof *m->tensors);
    m->p.layers = calloc(cfg->n_layers, sizeof *m->p.layers);
    m->g.layers = calloc(cfg->n_layers, sizeof *m->g.layers);
    m->la = calloc(cfg->n_layers, sizeof *m->la);
    m->layer_names = calloc(cfg->n_layers, sizeof *m->layer_names);
    m->params = shared ? shared : calloc(n_params, sizeof(float));
    m->acts = malloc(n_acts * sizeof(float));
    if (cfg->has_grad) m->grads = calloc(n_params, sizeof(float));
    if (!m->tensors || !m->p.layers || !m->g.layers || !m->la || !m->layer_names || !m->params ||
        !m->acts || (cfg->has_grad && !m->grads)) {
        ml_settransformer_free(m);
        return ML_NOMEM();
    }
    layout_walk rec = {m, m->params, 1, 0, 0, 0};
    walk_layout(&rec, &m->p);
    layout_walk gw = {m, m->grads, 0, 1, 0, 0};
    walk_layout(&gw, &m->g);
    carve_acts(m, m->acts);
    for (size_t l = 0; l < cfg->n_layers; l++)
        snprintf(m->layer_names[l], NAME_CAP, "transformer.layers.%zu", l);
    ml__rng_seed_stream(&m->dropout_rng, 0, 2);
    m->is_training = cfg->has_grad;
    *out = m;
    return ML_OK;
}

ml_status ml_settransformer_new(ml_settransformer **out, const ml_settransformer_config *cfg) {
    return build(out, cfg, NULL);
}

ml_status ml_settransformer_new_shared(ml_settransformer **out, const ml_settransformer *m) {
    ml_settransformer_config cfg = m->cfg;
    cfg.has_grad = 0;
    ml_settransformer *s = NULL;
    ML_TRY(build(&s, &cfg, m->params));
    s->is_merged = m->is_merged;
    *out = s;
    return ML_OK;
}

ml_status ml_settransformer_new_worker(ml_settransformer **out, const ml_settransformer *m) {
    if (!m->grads)
        return ML_FAIL(ML_EINVAL, "settransformer: built without gradients (set has_grad = 1)");
    ml_settransformer *w = NULL;
    ML_TRY(build(&w, &m->cfg, m->params));
    w->sub_offsets = malloc((m->cfg.max_sets + 1) * sizeof *w->sub_offsets);
    if (!w->sub_offsets) {
        ml_settransformer_free(w);
        return ML_NOMEM();
    }
    *out = w;
    return ML_OK;
}

void ml_settransformer_free(ml_settransformer *m) {
    if (!m) return;
    free(m->tensors);
    free(m->p.layers);
    free(m->g.layers);
    free(m->la);
    free(m->layer_names);
    if (m->owns_params) free(m->params);
    free(m->sub_offsets);
    free(m->grads);
    free(m->acts);
    free(m);
}

const ml_settransformer_config *ml_settransformer_get_config(const ml_settransformer *m) {
    return &m->cfg;
}

/* ---- initialisation --------------------------------------------------------------------- */

static void fill_uniform(ml__rng *r, float *w, size_t n, double bound) {
    for (size_t i = 0; i < n; i++) w[i] = (float)((2.0 * ml__rng_uniform(r) - 1.0) * bound);
}

static void fill_const(float *w, size_t n, float v) {
    for (size_t i = 0; i < n; i++) w[i] = v;
}

/* nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in), and the
 * bias uses the same bound. */
static void init_linear(ml__rng *r, float *w, float *b, size_t d_in, size_t d_out) {
    double bound = 1.0 / sqrt((double)d_in);
    fill_uniform(r, w, d_in * d_out, bound);
    if (b) fill_uniform(r, b, d_out, bound);
}

void ml_settransformer_init(ml_settransformer *m, uint64_t seed) {
    const ml_settransformer_config *c = &m->cfg;
    size_t d = c->d_model, ff = c->d_ff;
    ml__rng r;
    ml__rng_seed_stream(&r, seed, 0);
    init_linear(&r, m->p.inp_w, m->p.inp_b, c->d_in, d);
    layer_w *L0 = &m->p.layers[0];
    /* nn.MultiheadAttention._reset_parameters: xavier_uniform_ on (3d, d), zero biases */
    fill_uniform(&r, L0->in_w, 3 * d * d, sqrt(6.0 / (double)(d + 3 * d)));
    fill_const(L0->in_b, 3 * d, 0.0f);
    init_linear(&r, L0->out_w, NULL, d, d);
    fill_const(L0->out_b, d, 0.0f);
    init_linear(&r, L0->l1_w, L0->l1_b, d, ff);
    init_linear(&r, L0->l2_w, L0->l2_b, ff, d);
    fill_const(L0->n1_w, d, 1.0f);
    fill_const(L0->n1_b, d, 0.0f);
    fill_const(L0->n2_w, d, 1.0f);
    fill_const(L0->n2_b, d, 0.0f);
    /* a layer's 12 base tensors are contiguous, in_proj_weight first, norm2.bias last */
    size_t layer_floats = (size_t)(L0->n2_b + d - L0->in_w);
    for (size_t l = 1; l < c->n_layers; l++)
        memcpy(m->p.layers[l].in_w, L0->in_w, layer_floats * sizeof(float));
    init_linear(&r, m->p.outp_w, m->p.outp_b, d, 1);
    if (c->n_classes > 0) init_linear(&r, m->p.cls_w, m->p.cls_b, d, c->n_classes);
    ml__rng_seed_stream(&r, seed, 1);
    for (size_t l = 0; l < c->n_layers; l++)
        for (int t = 0; t < N_TARGETS; t++) {
            if (!has_target(c, t)) continue;
            size_t d_in, d_out;
            target_dims(c, t, &d_in, &d_out);
            fill_uniform(&r, m->p.layers[l].lora_a[t], c->lora_rank * d_in,
                         1.0 / sqrt((double)d_in));
            fill_const(m->p.layers[l].lora_b[t], d_out * c->lora_rank, 0.0f);
        }
    ml__rng_seed_stream(&m->dropout_rng, seed, 2);
    m->is_merged = 0;
}

void ml_settransformer_set_training(ml_settransformer *m, int training) {
    m->is_training = training != 0;
}

void ml_settransformer_seed_dropout(ml_settransformer *m, uint64_t seed) {
    ml__rng_seed_stream(&m->dropout_rng, seed, 2);
}

/* ---- tensors by index and name ---------------------------------------------------------- */

size_t ml_settransformer_n_tensors(const ml_settransformer *m) { return m->n_tensors; }

ml_status ml_settransformer_tensor(ml_settransformer *m, size_t i, ml_nn_tensor *out) {
    if (i >= m->n_tensors)
        return ML_FAIL(ML_EINVAL, "tensor index %zu out of range (the model has %zu)", i,
                       m->n_tensors);
    const tensor_entry *e = &m->tensors[i];
    out->name = e->name;
    out->n_dims = e->n_dims;
    out->shape[0] = e->shape[0];
    out->shape[1] = e->shape[1];
    out->numel = e->numel;
    out->data = m->params + e->offset;
    out->grad = (m->grads && e->is_trainable) ? m->grads + e->offset : NULL;
    return ML_OK;
}

ml_status ml_settransformer_param(ml_settransformer *m, const char *name, float **data,
                                  size_t *n) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) {
            *data = m->params + m->tensors[i].offset;
            *n = m->tensors[i].numel;
            return ML_OK;
        }
    char shown[NAME_CAP];
    snprintf(shown, sizeof shown, "%s", name); /* truncated; ml__fail scrubs control bytes */
    return ML_FAIL(ML_ENOTFOUND, "settransformer has no tensor named \"%s\"", shown);
}

void ml_settransformer_zero_grad(ml_settransformer *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ---- forward ---------------------------------------------------------------------------- */

static ml_status check_batch(const ml_settransformer *m, const ml_set_batch *b) {
    const ml_settransformer_config *c = &m->cfg;
    if (!b || !b->offsets || !b->x)
        return ML_FAIL(ML_EINVAL, "batch: offsets and x must not be NULL");
    if (b->n_sets == 0 || b->n_sets > c->max_sets)
        return ML_FAIL(ML_EINVAL, "batch: %zu sets (expected 1 to max_sets = %zu)", b->n_sets,
                       c->max_sets);
    if (b->offsets[0] != 0)
        return ML_FAIL(ML_EINVAL, "batch: offsets[0] = %zu (expected 0)", b->offsets[0]);
    for (size_t s = 0; s < b->n_sets; s++) {
        if (b->offsets[s + 1] <= b->offsets[s])
            return ML_FAIL(ML_EINVAL, "batch: set %zu is empty or offsets decrease (every set "
                           "needs at least one OTU)", s);
        size_t n = b->offsets[s + 1] - b->offsets[s];
        if (n > c->max_set_tokens)
            return ML_FAIL(ML_EINVAL, "batch: set %zu has %zu OTUs (expected at most "
                           "max_set_tokens = %zu)", s, n, c->max_set_tokens);
        if (b->offsets[s + 1] > c->max_tokens)
            return ML_FAIL(ML_EINVAL, "batch: more than max_tokens = %zu OTUs in all (at set "
                           "%zu)", c->max_tokens, s);
    }
    return ML_OK;
}

static const float *layer_input(const ml_settransformer *m, size_t l) {
    return l == 0 ? m->x0 : m->la[l - 1].out;
}

/* Adds adapter t of layer l to y (rows of stride ldy) and keeps x A^T for backward. */
static void lora_fwd(ml_settransformer *m, size_t l, int t, float *y, size_t ldy,
                     const float *x) {
    const ml_settransformer_config *c = &m->cfg;
    if (!has_target(c, t) || m->is_merged) return;
    size_t d_in, d_out;
    target_dims(c, t, &d_in, &d_out);
    float *mask = m->dropout_on ? m->la[l].lora_mask[t] : NULL;
    if (mask) ml__lora_dropout_mask(mask, m->n_tokens * d_in, c->lora_dropout, &m->dropout_rng);
    ml__lora_forward(y, ldy, m->la[l].lora_u[t], x, m->p.layers[l].lora_a[t],
                     m->p.layers[l].lora_b[t], c->lora_alpha / (float)c->lora_rank,
                     m->n_tokens, d_in, d_out, c->lora_rank, mask, m->lora_xd);
}

/* A linear layer over the batch, one GEMM per set: a set's rows then go through exactly the
 * same calls whatever else is in the batch. OpenBLAS picks kernels (small-matrix paths) by
 * the row count, so one GEMM over all T rows would make a sample's embedding depend, in its
 * last bits, on its batch mates. Sets of hundreds of rows keep the GEMMs efficient. */
static void linear_sets(const ml_settransformer *m, float *out, const float *inp, const float *w,
                        const float *b, size_t d_in, size_t d_out) {
    for (size_t s = 0; s < m->n_sets; s++) {
        size_t r0 = m->offsets[s], n = m->offsets[s + 1] - r0;
        ml__linear_forward(out + r0 * d_out, inp + r0 * d_in, w, b, n, d_in, d_out);
    }
}

/* keep: store attention probabilities for backward; a forward alone runs the fused inference
 * kernel, so it gives the same bits with or without gradients (and shared models agree). */
static void layer_forward(ml_settransformer *m, size_t l, int keep) {
    const ml_settransformer_config *c = &m->cfg;
    size_t T = m->n_tokens, d = c->d_model, ff = c->d_ff;
    const layer_w *p = &m->p.layers[l];
    layer_act *a = &m->la[l];
    const float *x = layer_input(m, l);
    linear_sets(m, a->qkv, x, p->in_w, p->in_b, d, 3 * d);
    lora_fwd(m, l, LQ, a->qkv, 3 * d, x);
    lora_fwd(m, l, LK, a->qkv + d, 3 * d, x);
    lora_fwd(m, l, LV, a->qkv + 2 * d, 3 * d, x);
    ml__attention_forward(a->att, keep ? a->probs : NULL, m->att_scratch, a->qkv, m->offsets,
                          m->n_sets, d, c->n_heads);
    linear_sets(m, a->r1, a->att, p->out_w, p->out_b, d, d);
    lora_fwd(m, l, LOUT, a->r1, d, a->att);
    ml__residual_forward(a->r1, a->r1, x, T * d); /* x is not read after this line */
    ml__layernorm_forward(a->y1, a->mean1, a->rstd1, a->r1, p->n1_w, p->n1_b, T, d);
    linear_sets(m, a->h, a->y1, p->l1_w, p->l1_b, d, ff);
    lora_fwd(m, l, LL1, a->h, ff, a->y1);
    ml__relu_forward(a->h, a->h, T * ff);
    linear_sets(m, a->r2, a->h, p->l2_w, p->l2_b, ff, d);
    lora_fwd(m, l, LL2, a->r2, d, a->h);
    ml__residual_forward(a->r2, a->r2, a->y1, T * d);
    ml__layernorm_forward(a->out, a->mean2, a->rstd2, a->r2, p->n2_w, p->n2_b, T, d);
}

/* dropout: draw LoRA dropout masks (a training forward_backward of a model with dropout);
 * keep: store what backward needs. */
static void run_forward(ml_settransformer *m, const ml_set_batch *b, int dropout, int keep) {
    const ml_settransformer_config *c = &m->cfg;
    m->dropout_on = dropout && has_dropout(c) && !m->is_merged;
    m->n_sets = b->n_sets;
    m->n_tokens = b->offsets[b->n_sets];
    m->offsets = b->offsets;
    m->has_acts = 1;
    size_t d = c->d_model;
    linear_sets(m, m->x0, b->x, m->p.inp_w, m->p.inp_b, c->d_in, d);
    for (size_t l = 0; l < c->n_layers; l++) layer_forward(m, l, keep);
    const float *top = m->la[c->n_layers - 1].out;
    ml__meanpool_forward(m->emb, top, b->offsets, b->n_sets, d);
    linear_sets(m, m->tok_logits, top, m->p.outp_w, m->p.outp_b, d, 1);
    if (c->n_classes > 0) /* a row at a time, for the reason linear_sets gives */
        for (size_t s = 0; s < b->n_sets; s++)
            ml__linear_forward(m->cls_logits + s * c->n_classes, m->emb + s * d, m->p.cls_w,
                               m->p.cls_b, 1, d, c->n_classes);
}

ml_status ml_settransformer_forward(ml_settransformer *m, const ml_set_batch *batch) {
    ML_TRY(check_batch(m, batch));
    run_forward(m, batch, 0, 0);
    m->offsets = NULL;
    return ML_OK;
}

const float *ml_settransformer_embeddings(const ml_settransformer *m) { return m->emb; }
const float *ml_settransformer_token_logits(const ml_settransformer *m) { return m->tok_logits; }
const float *ml_settransformer_class_logits(const ml_settransformer *m) {
    return m->cfg.n_classes > 0 ? m->cls_logits : NULL;
}

/* ---- backward --------------------------------------------------------------------------- */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

static void lora_bwd(ml_settransformer *m, size_t l, int t, float *dx, const float *dy,
                     size_t ldy, const float *x) {
    const ml_settransformer_config *c = &m->cfg;
    if (!has_target(c, t)) return;
    size_t d_in, d_out;
    target_dims(c, t, &d_in, &d_out);
    const layer_w *p = &m->p.layers[l];
    const layer_w *g = &m->g.layers[l];
    ml__lora_backward(dx, g->lora_a[t], g->lora_b[t], m->du, dy, ldy, x, m->la[l].lora_u[t],
                      p->lora_a[t], p->lora_b[t], c->lora_alpha / (float)c->lora_rank,
                      m->n_tokens, d_in, d_out, c->lora_rank,
                      m->dropout_on ? m->la[l].lora_mask[t] : NULL, m->lora_xd);
}

/* dout: gradient of the layer's output; dinp receives (=) the gradient of its input, or is
 * NULL when nothing needs it (layer 0 under a frozen input projection). A residual branch's
 * gradient is the same array as the sum's, so the sum's buffer stands in for it (no copy),
 * and buffers a GEMM fills first are written with beta = 0 rather than zeroed and added to:
 * the values are the same, the memory traffic is not. */
static void layer_backward(ml_settransformer *m, size_t l, float *dinp, const float *dout) {
    const ml_settransformer_config *c = &m->cfg;
    size_t T = m->n_tokens, d = c->d_model, ff = c->d_ff;
    const layer_w *p = &m->p.layers[l], *g = &m->g.layers[l];
    const layer_act *a = &m->la[l];
    const float *x = layer_input(m, l);
    zero(m->dr2, T * d);
    ml__layernorm_backward(m->dr2, g->n2_w, g->n2_b, dout, a->r2, p->n2_w, a->mean2, a->rstd2,
                           T, d);
    const float *df2 = m->dr2; /* r2 = y1 + linear2(h): both get dr2 */
    memcpy(m->dy1, m->dr2, T * d * sizeof(float));
    ml__linear_backward_input_set(m->dh, df2, p->l2_w, T, ff, d);
    ml__linear_backward(NULL, g->l2_w, g->l2_b, df2, a->h, p->l2_w, T, ff, d);
    lora_bwd(m, l, LL2, m->dh, df2, d, a->h);
    /* h > 0 exactly where linear1's output was > 0, so the ReLU output stands in for its input */
    ml__relu_backward_inplace(m->dh, a->h, T * ff);
    ml__linear_backward(m->dy1, g->l1_w, g->l1_b, m->dh, a->y1, p->l1_w, T, d, ff);
    lora_bwd(m, l, LL1, m->dy1, m->dh, ff, a->y1);
    zero(m->dr1, T * d);
    ml__layernorm_backward(m->dr1, g->n1_w, g->n1_b, m->dy1, a->r1, p->n1_w, a->mean1,
                           a->rstd1, T, d);
    const float *da = m->dr1; /* r1 = x + out_proj(att) */
    if (dinp) memcpy(dinp, m->dr1, T * d * sizeof(float));
    ml__linear_backward_input_set(m->datt, da, p->out_w, T, d, d);
    ml__linear_backward(NULL, g->out_w, g->out_b, da, a->att, p->out_w, T, d, d);
    lora_bwd(m, l, LOUT, m->datt, da, d, a->att);
    zero(m->dqkv, T * 3 * d);
    ml__attention_backward(m->dqkv, m->dp, m->datt, a->qkv, a->probs, m->offsets, m->n_sets, d,
                           c->n_heads);
    ml__linear_backward(dinp, g->in_w, g->in_b, m->dqkv, x, p->in_w, T, d, 3 * d);
    lora_bwd(m, l, LQ, dinp, m->dqkv, 3 * d, x);
    lora_bwd(m, l, LK, dinp, m->dqkv + d, 3 * d, x);
    lora_bwd(m, l, LV, dinp, m->dqkv + 2 * d, 3 * d, x);
}

static ml_status check_targets(const ml_settransformer *m, const ml_settransformer_targets *t,
                               size_t n_sets) {
    const ml_settransformer_config *c = &m->cfg;
    if (!m->grads)
        return ML_FAIL(ML_EINVAL, "settransformer: built without gradients (set has_grad = 1)");
    if (m->is_merged)
        return ML_FAIL(ML_EINVAL, "settransformer: LoRA is merged (unmerge before training)");
    if (!t || (!t->labels && !t->token_targets && !t->d_embeddings))
        return ML_FAIL(ML_EINVAL, "targets: no loss term (expected labels, token_targets or "
                       "d_embeddings)");
    if (t->labels) {
        if (c->n_classes == 0)
            return ML_FAIL(ML_EINVAL, "targets: labels given but the model has no classifier "
                           "(n_classes = 0)");
        int hi = c->n_classes == 1 ? 2 : (int)c->n_classes;
        for (size_t s = 0; s < n_sets; s++)
            if (t->labels[s] < 0 || t->labels[s] >= hi)
                return ML_FAIL(ML_EINVAL, "targets: labels[%zu] = %d (expected 0 to %d)", s,
                               t->labels[s], hi - 1);
    }
    return ML_OK;
}

/* Loss gradients down to the top layer's output, accumulated into m->dx_a. The mean terms are
 * weighted by cls_w and tok_w: 1 for a whole batch, a worker's share of the sets (tokens) for
 * a part of one, so that the parts' losses and gradients add up to the whole's. */
static double heads_backward(ml_settransformer *m, const ml_settransformer_targets *t,
                             float cls_w, float tok_w) {
    const ml_settransformer_config *c = &m->cfg;
    size_t S = m->n_sets, T = m->n_tokens, d = c->d_model, nc = c->n_classes;
    const float *top = m->la[c->n_layers - 1].out;
    double loss = 0.0;
    zero(m->dx_a, T * d);
    zero(m->demb, S * d);
    if (t->labels) {
        zero(m->dlogits, S * nc);
        if (nc == 1) {
            for (size_t s = 0; s < S; s++) m->set_targets[s] = (float)t->labels[s];
            loss += cls_w * ml__bce_forward(m->cls_logits, m->set_targets, S);
            ml__bce_backward(m->dlogits, m->cls_logits, m->set_targets, S, cls_w);
        } else {
            loss += cls_w * ml__crossentropy_forward(m->cls_probs, m->cls_logits, t->labels, S,
                                                     nc);
            ml__crossentropy_backward(m->dlogits, m->cls_probs, t->labels, S, nc, cls_w);
        }
        ml__linear_backward(m->demb, m->g.cls_w, m->g.cls_b, m->dlogits, m->emb, m->p.cls_w, S,
                            d, nc);
    }
    if (t->token_targets) {
        zero(m->dtok, T);
        loss += tok_w * ml__bce_forward(m->tok_logits, t->token_targets, T);
        ml__bce_backward(m->dtok, m->tok_logits, t->token_targets, T, tok_w);
        ml__linear_backward(m->dx_a, m->g.outp_w, m->g.outp_b, m->dtok, top, m->p.outp_w, T, d,
                            1);
    }
    if (t->d_embeddings)
        for (size_t i = 0; i < S * d; i++) m->demb[i] += t->d_embeddings[i];
    ml__meanpool_backward(m->dx_a, m->demb, m->offsets, S, d);
    return loss;
}

/* forward_backward on a checked batch and targets; returns the loss. */
static double run_forward_backward(ml_settransformer *m, const ml_set_batch *batch,
                                   const ml_settransformer_targets *targets, float cls_w,
                                   float tok_w) {
    const ml_settransformer_config *c = &m->cfg;
    run_forward(m, batch, m->is_training, 1);
    double value = heads_backward(m, targets, cls_w, tok_w);
    float *dout = m->dx_a, *dinp = m->dx_b;
    for (size_t l = c->n_layers; l-- > 0;) {
        /* a frozen input projection needs no gradient of layer 0's input */
        layer_backward(m, l, (l > 0 || m->g.inp_w) ? dinp : NULL, dout);
        float *tmp = dout;
        dout = dinp;
        dinp = tmp;
    }
    if (m->g.inp_w)
        ml__linear_backward(NULL, m->g.inp_w, m->g.inp_b, dout, batch->x, m->p.inp_w,
                            m->n_tokens, c->d_in, c->d_model);
    m->offsets = NULL;
    return value;
}

ml_status ml_settransformer_forward_backward(ml_settransformer *m, const ml_set_batch *batch,
                                             const ml_settransformer_targets *targets,
                                             double *loss) {
    ML_TRY(check_batch(m, batch));
    ML_TRY(check_targets(m, targets, batch->n_sets));
    *loss = run_forward_backward(m, batch, targets, 1.0f, 1.0f);
    return ML_OK;
}

/* ---- data-parallel forward_backward ----------------------------------------------------- */

/* One worker's share of a batch: sets [s0, s1), rebased into the worker's own offsets. */
typedef struct part {
    ml_settransformer *w;
    ml_set_batch batch;
    ml_settransformer_targets targets;
    float cls_w, tok_w;
    double loss;
} part;

static void make_part(part *p, ml_settransformer *w, const ml_set_batch *b,
                      const ml_settransformer_targets *t, size_t s0, size_t s1) {
    size_t r0 = b->offsets[s0], d_in = w->cfg.d_in, d = w->cfg.d_model;
    for (size_t s = s0; s <= s1; s++) w->sub_offsets[s - s0] = b->offsets[s] - r0;
    p->w = w;
    p->batch = (ml_set_batch){s1 - s0, w->sub_offsets, b->x + r0 * d_in};
    p->targets.labels = t->labels ? t->labels + s0 : NULL;
    p->targets.token_targets = t->token_targets ? t->token_targets + r0 : NULL;
    p->targets.d_embeddings = t->d_embeddings ? t->d_embeddings + s0 * d : NULL;
    p->cls_w = (float)(s1 - s0) / (float)b->n_sets;
    p->tok_w = (float)(b->offsets[s1] - r0) / (float)b->offsets[b->n_sets];
}

static void zero_trainable(ml_settransformer *m) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_trainable) zero(m->grads + m->tensors[i].offset, m->tensors[i].numel);
}

static void run_part(part *p) {
    zero_trainable(p->w);
    p->loss = run_forward_backward(p->w, &p->batch, &p->targets, p->cls_w, p->tok_w);
}

static void *part_thread(void *arg) {
    run_part(arg);
    return NULL;
}

/* Parts 1.. on threads of their own, part 0 on the calling thread; a part whose thread cannot
 * be started runs on the calling thread afterwards (the parts are independent). */
static ml_status run_parts(part *parts, size_t n) {
    pthread_t *tids = calloc(n, sizeof *tids);
    unsigned char *started = calloc(n, 1);
    if (!tids || !started) {
        free(tids);
        free(started);
        return ML_NOMEM();
    }
    for (size_t k = 1; k < n; k++)
        started[k] = pthread_create(&tids[k], NULL, part_thread, &parts[k]) == 0;
    run_part(&parts[0]);
    for (size_t k = 1; k < n; k++) {
        if (started[k]) pthread_join(tids[k], NULL);
        else run_part(&parts[k]);
    }
    free(tids);
    free(started);
    return ML_OK;
}

/* m's trainable gradients += each part's, in part order (the same bits every run). */
static double reduce_parts(ml_settransformer *m, const part *parts, size_t n) {
    double loss = 0.0;
    for (size_t k = 0; k < n; k++) {
        loss += parts[k].loss;
        for (size_t i = 0; i < m->n_tensors; i++) {
            const tensor_entry *e = &m->tensors[i];
            if (!e->is_trainable) continue;
            float *g = m->grads + e->offset;
            const float *gw = parts[k].w->grads + e->offset;
            for (size_t j = 0; j < e->numel; j++) g[j] += gw[j];
        }
    }
    return loss;
}

ml_status ml_settransformer_forward_backward_parallel(ml_settransformer *m,
                                                      ml_settransformer *const *workers,
                                                      size_t n_workers,
                                                      const ml_set_batch *batch,
                                                      const ml_settransformer_targets *targets,
                                                      double *loss) {
    ML_TRY(check_batch(m, batch));
    ML_TRY(check_targets(m, targets, batch->n_sets));
    size_t n = n_workers < batch->n_sets ? n_workers : batch->n_sets;
    if (n == 0) {
        *loss = run_forward_backward(m, batch, targets, 1.0f, 1.0f);
        return ML_OK;
    }
    for (size_t k = 0; k < n; k++)
        if (!workers[k] || workers[k]->params != m->params || !workers[k]->sub_offsets)
            return ML_FAIL(ML_EINVAL, "settransformer: workers[%zu] is not a worker of this "
                           "model (make it with ml_settransformer_new_worker)", k);
    part *parts = calloc(n, sizeof *parts);
    if (!parts) return ML_NOMEM();
    m->has_acts = 0;
    for (size_t k = 0; k < n; k++) {
        workers[k]->is_training = m->is_training;
        workers[k]->is_merged = m->is_merged;
        make_part(&parts[k], workers[k], batch, targets, batch->n_sets * k / n,
                  batch->n_sets * (k + 1) / n);
    }
    ml_status st = run_parts(parts, n);
    if (st == ML_OK) *loss = reduce_parts(m, parts, n);
    free(parts);
    return st;
}

/* ---- LoRA merge ------------------------------------------------------------------------- */

static float *target_weight(const layer_w *p, int t, size_t d) {
    switch (t) {
    case LQ: return p->in_w;
    case LK: return p->in_w + d * d;
    case LV: return p->in_w + 2 * d * d;
    case LOUT: return p->out_w;
    case LL1: return p->l1_w;
    default: return p->l2_w;
    }
}

static void merge_all(ml_settransformer *m, float sign) {
    const ml_settransformer_config *c = &m->cfg;
    float scale = sign * c->lora_alpha / (float)c->lora_rank;
    for (size_t l = 0; l < c->n_layers; l++)
        for (int t = 0; t < N_TARGETS; t++) {
            if (!has_target(c, t)) continue;
            size_t d_in, d_out;
            target_dims(c, t, &d_in, &d_out);
            const layer_w *p = &m->p.layers[l];
            ml__lora_merge(target_weight(p, t, c->d_model), p->lora_a[t], p->lora_b[t], scale,
                           d_in, d_out, c->lora_rank);
        }
}

ml_status ml_settransformer_lora_merge(ml_settransformer *m) {
    if (m->cfg.lora_rank == 0) return ML_FAIL(ML_EINVAL, "settransformer: no LoRA to merge");
    if (m->is_merged) return ML_FAIL(ML_EINVAL, "settransformer: LoRA is already merged");
    merge_all(m, 1.0f);
    m->is_merged = 1;
    return ML_OK;
}

ml_status ml_settransformer_lora_unmerge(ml_settransformer *m) {
    if (m->cfg.lora_rank == 0) return ML_FAIL(ML_EINVAL, "settransformer: no LoRA to unmerge");
    if (!m->is_merged) return ML_FAIL(ML_EINVAL, "settransformer: LoRA is not merged");
    merge_all(m, -1.0f);
    m->is_merged = 0;
    return ML_OK;
}

/* ---- activation statistics -------------------------------------------------------------- */

size_t ml_settransformer_n_act_layers(const ml_settransformer *m) { return m->cfg.n_layers; }

ml_status ml_settransformer_act_stats(const ml_settransformer *m, size_t layer,
                                      ml_nn_act_stats *out) {
    const ml_settransformer_config *c = &m->cfg;
    if (!m->grads)
        return ML_FAIL(ML_EINVAL, "settransformer: activation statistics need a model with "
                       "gradients (an inference model keeps one layer's activations)");
    if (layer >= c->n_layers)
        return ML_FAIL(ML_EINVAL, "settransformer: activation layer %zu out of range (%zu "
                       "layers)", layer, c->n_layers);
    if (!m->has_acts)
        return ML_FAIL(ML_EINVAL, "settransformer: no forward pass of this model to describe "
                       "(none yet, or the last was run by workers)");
    const layer_act *a = &m->la[layer];
    ml__moments o = ML__MOMENTS_INIT, h = ML__MOMENTS_INIT;
    ml__moments_add(&o, a->out, m->n_tokens * c->d_model);
    ml__moments_add(&h, a->h, m->n_tokens * c->d_ff); /* ReLU applied in place */
    ml__moments_finish(out, &o, &h);
    out->layer = m->layer_names[layer];
    return ML_OK;
}

/* ---- test access ------------------------------------------------------------------------ */

const float *ml__settransformer_lora_mask(const ml_settransformer *m, size_t layer,
                                          unsigned target) {
    int t = 0;
    while (t < N_TARGETS && target != (1u << t)) t++;
    if (t == N_TARGETS || layer >= m->cfg.n_layers || !m->dropout_on) return NULL;
    return m->la[layer].lora_mask[t];
}

void ml__settransformer_layer_acts(const ml_settransformer *m, size_t layer, const float **out,
                                   const float **relu, size_t *n_tokens) {
    int ok = m->grads && m->has_acts && layer < m->cfg.n_layers;
    *out = ok ? m->la[layer].out : NULL;
    *relu = ok ? m->la[layer].h : NULL;
    *n_tokens = ok ? m->n_tokens : 0;
}
