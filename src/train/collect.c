/* collect.c - the training collectors: one fused read of each trainable tensor's gradient and
 * weight per collection step (norms, non-finite count, dot product with the previous collected
 * gradient), LoRA norms from r x r Gram matrices, activation statistics from the model, and the
 * metric rows they give. It neither clips nor steps, never writes a gradient or a weight, and
 * allocates only in ml__collect_new. */
#include "train/collect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "nn/optim.h"
#include "nn/simd.h"
#include "util/error.h"

/* Per-tensor metrics, in this order for trainable tensor k at names[N_PER_TENSOR * k + i]. */
enum { NM_GRAD, NM_WEIGHT, NM_UPDATE, N_PER_TENSOR };
/* Per-module LoRA metrics. */
enum { NM_A, NM_B, NM_BA, NM_A_GRAD, NM_B_GRAD, N_PER_MODULE };
static const char *const module_suffix[N_PER_MODULE] = {"/A_norm", "/B_norm", "/BA_norm",
                                                        "/A_grad_norm", "/B_grad_norm"};
static const char *const act_suffix[] = {"mean", "std", "max_abs", "zero_fraction"};
#define N_PER_LAYER 4

/* PEFT's suffixes: the module is the tensor name before them. */
#define LORA_A_SUFFIX ".lora_A.weight"
#define LORA_B_SUFFIX ".lora_B.weight"

typedef struct coll_tensor {
    const char *name;
    const float *data, *grad;
    size_t numel;
    float *prev;      /* this tensor's slice of the running gradient copy, or NULL */
    double g_sq, w_sq; /* of the step being collected */
} coll_tensor;

typedef struct coll_module {
    size_t a, b;           /* indices into t: lora_A (r, d_in), lora_B (d_out, r) */
    size_t rank, d_in, d_out;
    double a_sq, b_sq, ba_sq; /* squared Frobenius norms of A, B and B.A */
} coll_module;

struct ml__collector {
    unsigned mask;
    uint64_t every;
    size_t n_t;
    coll_tensor *t;        /* the trainable tensors, in the optimizer's order */
    char **names;          /* N_PER_TENSOR per tensor, then N_PER_MODULE per module */
    size_t n_mod;
    coll_module *mod;
    double *gram;          /* 2 (r, r): A A^T, then B^T B */
    float *prev;           /* running copy of the last collected gradient (grad-cosine) */
    size_t n_floats;       /* trainable values */
    bool has_prev;         /* prev holds a finite gradient from an earlier collection */
    double prev_sq;        /* its squared norm */
    double *update_sq;     /* (n_t): filled by the optimizer on collection steps */
    /* the collection in flight */
    double total_sq, dot;
    size_t n_nonfinite;
    bool cosine_valid;
    double cosine;
    size_t n_act;
    ml_nn_act_stats *act;  /* (n_act) */
};

/* ---- set-up -------------------------------------------------------------------------------- */

static ml_status make_name(char **out, const char *a, const char *b, const char *c) {
    size_t len = strlen(a) + strlen(b) + strlen(c);
    if (len > ML_RUNSTORE_MAX_NAME_BYTES)
        return ML_FAIL(ML_EINVAL, "collectors: metric name for tensor \"%.80s\" would be %zu "
                       "bytes (the run store takes at most %d)", b, len,
                       ML_RUNSTORE_MAX_NAME_BYTES);
    char *s = malloc(len + 1);
    if (!s) return ML_NOMEM();
    snprintf(s, len + 1, "%s%s%s", a, b, c);
    *out = s;
    return ML_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Pairs every lora_A tensor with the lora_B of the same module. */
static ml_status find_modules(ml__collector *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_t; i++) n += ends_with(c->t[i].name, LORA_A_SUFFIX);
    if (n == 0) return ML_OK;
    if (!(c->mod = calloc(n, sizeof *c->mod))) return ML_NOMEM();
    for (size_t i = 0; i < c->n_t; i++) {
        const char *an = c->t[i].name;
        if (!ends_with(an, LORA_A_SUFFIX)) continue;
        size_t stem = strlen(an) - strlen(LORA_A_SUFFIX);
        for (size_t j = 0; j < c->n_t; j++) {
            const char *bn = c->t[j].name;
            if (!ends_with(bn, LORA_B_SUFFIX) || strlen(bn) - strlen(LORA_B_SUFFIX) != stem ||
                strncmp(an, bn, stem) != 0)
                continue;
            coll_module *m = &c->mod[c->n_mod++];
            m->a = i;
            m->b = j;
            break;
        }
    }
    return ML_OK;
}

/* Shapes from the model's tensors: A is (r, d_in), B is (d_out, r). */
static ml_status module_shapes(ml__collector *c, ml__trainer *tr) {
    size_t n = ml__trainer_n_tensors(tr), max_rank = 0;
    for (size_t k = 0; k < c->n_mod; k++) {
        coll_module *m = &c->mod[k];
        for (size_t i = 0; i < n; i++) {
            ml_nn_tensor x;
            ML_TRY(ml__trainer_tensor(tr, i, &x));
            if (x.data == c->t[m->a].data) {
                m->rank = x.shape[0];
                m->d_in = x.shape[1];
            } else if (x.data == c->t[m->b].data) {
                m->d_out = x.shape[0];
            }
        }
        if (m->rank > max_rank) max_rank = m->rank;
    }
    if (max_rank > 0 && !(c->gram = malloc(2 * max_rank * max_rank * sizeof *c->gram)))
        return ML_NOMEM();
    return ML_OK;
}

static ml_status make_names(ml__collector *c) {
    static const char *const prefix[N_PER_TENSOR] = {"grad_norm/", "weight_norm/",
                                                     "update_ratio/"};
    size_t n = N_PER_TENSOR * c->n_t + N_PER_MODULE * c->n_mod;
    if (!(c->names = calloc(n, sizeof *c->names))) return ML_NOMEM();
    for (size_t k = 0; k < c->n_t; k++)
        for (size_t i = 0; i < N_PER_TENSOR; i++)
            ML_TRY(make_name(&c->names[N_PER_TENSOR * k + i], prefix[i], c->t[k].name, ""));
    char **mn = c->names + N_PER_TENSOR * c->n_t;
    for (size_t k = 0; k < c->n_mod; k++) {
        const char *an = c->t[c->mod[k].a].name;
        char module[ML_RUNSTORE_MAX_NAME_BYTES + 1];
        snprintf(module, sizeof module, "%.*s", (int)(strlen(an) - strlen(LORA_A_SUFFIX)), an);
        for (size_t i = 0; i < N_PER_MODULE; i++)
            ML_TRY(make_name(&mn[N_PER_MODULE * k + i], "lora/", module, module_suffix[i]));
    }
    return ML_OK;
}

static ml_status gather_tensors(ml__collector *c, ml__trainer *tr) {
    size_t n = ml__trainer_n_tensors(tr);
    c->n_t = ml__optim_n_trainable(tr->opt);
    if (!(c->t = calloc(c->n_t ? c->n_t : 1, sizeof *c->t))) return ML_NOMEM();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ml_nn_tensor x;
        ML_TRY(ml__trainer_tensor(tr, i, &x));
        if (!x.grad) continue;
        if (k == c->n_t) break; /* the optimizer saw the same tensors: cannot happen */
        c->t[k] = (coll_tensor){x.name, x.data, x.grad, x.numel, NULL, 0.0, 0.0};
        c->n_floats += x.numel;
        k++;
    }
    c->n_t = k;
    return ML_OK;
}

static ml_status build(ml__collector *c, ml__trainer *tr) {
    ML_TRY(gather_tensors(c, tr));
    if (c->mask & ML_COLLECT_LORA) {
        ML_TRY(find_modules(c));
        ML_TRY(module_shapes(c, tr));
    }
    ML_TRY(make_names(c));
    if (c->mask & ML_COLLECT_GRAD_COSINE) {
        if (!(c->prev = malloc((c->n_floats ? c->n_floats : 1) * sizeof *c->prev)))
            return ML_NOMEM();
        size_t off = 0;
        for (size_t k = 0; k < c->n_t; k++) {
            c->t[k].prev = c->prev + off;
            off += c->t[k].numel;
        }
    }
    if ((c->mask & ML_COLLECT_WEIGHTS) &&
        !(c->update_sq = calloc(c->n_t ? c->n_t : 1, sizeof *c->update_sq)))
        return ML_NOMEM();
    if (c->mask & ML_COLLECT_ACTIVATIONS) {
        c->n_act = tr->mlp ? ml_mlp_n_act_layers(tr->mlp) : ml_settransformer_n_act_layers(tr->st);
        if (!(c->act = calloc(c->n_act ? c->n_act : 1, sizeof *c->act))) return ML_NOMEM();
    }
    return ML_OK;
}

ml_status ml__collect_new(ml__collector **out, ml__trainer *tr) {
    ml__collector *c = calloc(1, sizeof *c);
    if (!c) return ML_NOMEM();
    c->mask = tr->o->collect;
    c->every = tr->o->collect_every ? tr->o->collect_every : 1;
    ml_status st = build(c, tr);
    if (st != ML_OK) {
        ml__collect_free(c);
        return st;
    }
    *out = c;
    return ML_OK;
}

void ml__collect_free(ml__collector *c) {
    if (!c) return;
    if (c->names)
        for (size_t i = 0; i < N_PER_TENSOR * c->n_t + N_PER_MODULE * c->n_mod; i++)
            free(c->names[i]);
    free(c->names);
    free(c->t);
    free(c->mod);
    free(c->gram);
    free(c->prev);
    free(c->update_sq);
    free(c->act);
    free(c);
}

bool ml__collect_due(const ml__collector *c, uint64_t s) {
    return c->mask != 0 && s % c->every == 0;
}

/* ---- the gradient pass ------------------------------------------------------------------- */

/* Double accumulator chains of the gradient pass: GCC 12 vectorises 8 in every clone (AVX-512,
 * AVX2, SSE2) but not reliably 16 (ML_LANES), and not at all with the store of the running
 * copy in the same loop; hence the blocks below. */
#define PASS_LANES 8
/* Values per block: a block of g, w and prev stays in L1 between the read and the copy. */
#define PASS_BLOCK 1024

/* Sums of g^2, w^2 and g.prev over one block (flags constant in each clone below), with
 * PASS_LANES independent chains added in a fixed order. */
ML_KERNEL_INLINE void block_sums(const float *restrict g, const float *restrict w,
                                 const float *restrict prev, size_t n, int with_w,
                                 int with_prev, double out[3]) {
    double gs[PASS_LANES] = {0}, ws[PASS_LANES] = {0}, ds[PASS_LANES] = {0};
    size_t i = 0;
    for (; i + PASS_LANES <= n; i += PASS_LANES)
        for (size_t j = 0; j < PASS_LANES; j++) {
            double gv = (double)g[i + j];
            gs[j] += gv * gv;
            if (with_w) ws[j] += (double)w[i + j] * (double)w[i + j];
            if (with_prev) ds[j] += gv * (double)prev[i + j];
        }
    double gsum = 0.0, wsum = 0.0, dsum = 0.0;
    for (size_t j = 0; j < PASS_LANES; j++) {
        gsum += gs[j];
        wsum += ws[j];
        dsum += ds[j];
    }
    for (; i < n; i++) {
        double gv = (double)g[i];
        gsum += gv * gv;
        if (with_w) wsum += (double)w[i] * (double)w[i];
        if (with_prev) dsum += gv * (double)prev[i];
    }
    out[0] += gsum;
    out[1] += wsum;
    out[2] += dsum;
}

ML_MULTIVERSION
static void block_g(const float *restrict g, size_t n, double out[3]) {
    block_sums(g, NULL, NULL, n, 0, 0, out);
}

ML_MULTIVERSION
static void block_gw(const float *restrict g, const float *restrict w, size_t n, double out[3]) {
    block_sums(g, w, NULL, n, 1, 0, out);
}

ML_MULTIVERSION
static void block_gp(const float *restrict g, const float *restrict prev, size_t n,
                     double out[3]) {
    block_sums(g, NULL, prev, n, 0, 1, out);
}

ML_MULTIVERSION
static void block_gwp(const float *restrict g, const float *restrict w, const float *restrict prev,
                      size_t n, double out[3]) {
    block_sums(g, w, prev, n, 1, 1, out);
}

/* One read of g (and w, and prev, as asked), block by block; prev = g after each block's
 * sums, while the block is still in L1. */
static void tensor_pass(const float *g, const float *w, float *prev, size_t n, double out[3]) {
    out[0] = out[1] = out[2] = 0.0;
    for (size_t b = 0; b < n; b += PASS_BLOCK) {
        size_t m = n - b < PASS_BLOCK ? n - b : PASS_BLOCK;
        if (w && prev) block_gwp(g + b, w + b, prev + b, m, out);
        else if (w) block_gw(g + b, w + b, m, out);
        else if (prev) block_gp(g + b, prev + b, m, out);
        else block_g(g + b, m, out);
        if (prev) memcpy(prev + b, g + b, m * sizeof *g);
    }
}

static size_t count_nonfinite(const float *g, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += isfinite(g[i]) ? 0u : 1u;
    return k;
}

static void gradient_pass(ml__collector *c) {
    bool with_w = (c->mask & ML_COLLECT_WEIGHTS) != 0, with_prev = c->prev != NULL;
    c->total_sq = c->dot = 0.0;
    for (size_t k = 0; k < c->n_t; k++) {
        coll_tensor *t = &c->t[k];
        double r[3];
        tensor_pass(t->grad, with_w ? t->data : NULL, with_prev ? t->prev : NULL, t->numel, r);
        t->g_sq = r[0];
        t->w_sq = r[1];
        c->total_sq += r[0];
        c->dot += r[2];
    }
    /* a float squared is finite in double, so the sum is finite iff every value is */
    c->n_nonfinite = 0;
    if (!isfinite(c->total_sq))
        for (size_t k = 0; k < c->n_t; k++)
            c->n_nonfinite += count_nonfinite(c->t[k].grad, c->t[k].numel);
    c->cosine_valid = false;
    if (!with_prev) return;
    if (c->has_prev && c->n_nonfinite == 0 && c->total_sq > 0.0 && c->prev_sq > 0.0) {
        c->cosine = c->dot / sqrt(c->total_sq * c->prev_sq);
        c->cosine_valid = true;
    }
    /* the copy now holds this gradient; a non-finite one is no base for the next cosine */
    c->has_prev = c->n_nonfinite == 0;
    c->prev_sq = c->total_sq;
}

/* ---- LoRA -------------------------------------------------------------------------------- */

/* ||A||^2, ||B||^2 and ||B A||_F^2 = trace((A A^T)(B^T B)) from the two (r, r) Gram matrices,
 * in double: O(r^2 (d_in + d_out)) work and never the (d_out, d_in) product. */
static void lora_norms(coll_module *m, const float *A, const float *B, double *ga, double *gb) {
    size_t r = m->rank;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j <= i; j++) {
            const float *ai = A + i * m->d_in, *aj = A + j * m->d_in;
            double s = 0.0;
            for (size_t k = 0; k < m->d_in; k++) s += (double)ai[k] * (double)aj[k];
            ga[i * r + j] = s;
        }
    for (size_t i = 0; i < r * r; i++) gb[i] = 0.0;
    for (size_t k = 0; k < m->d_out; k++) {
        const float *row = B + k * r;
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j <= i; j++) gb[i * r + j] += (double)row[i] * (double)row[j];
    }
    double a_sq = 0.0, b_sq = 0.0, ba = 0.0;
    for (size_t i = 0; i < r; i++) {
        a_sq += ga[i * r + i];
        b_sq += gb[i * r + i];
        ba += ga[i * r + i] * gb[i * r + i];
        for (size_t j = 0; j < i; j++) ba += 2.0 * ga[i * r + j] * gb[i * r + j];
    }
    m->a_sq = a_sq;
    m->b_sq = b_sq;
    m->ba_sq = ba > 0.0 ? ba : 0.0; /* rounding can leave -0 or a tiny negative */
}

ml_status ml__collect_gradients(ml__collector *c, ml__trainer *tr) {
    if (c->mask & (ML_COLLECT_GRAD | ML_COLLECT_GRAD_COSINE | ML_COLLECT_WEIGHTS |
                   ML_COLLECT_LORA))
        gradient_pass(c);
    if (c->mask & ML_COLLECT_LORA)
        for (size_t k = 0; k < c->n_mod; k++) {
            coll_module *m = &c->mod[k];
            lora_norms(m, c->t[m->a].data, c->t[m->b].data, c->gram,
                       c->gram + m->rank * m->rank);
        }
    for (size_t l = 0; l < c->n_act; l++) {
        if (tr->mlp) ML_TRY(ml_mlp_act_stats(tr->mlp, l, &c->act[l]));
        else ML_TRY(ml_settransformer_act_stats(tr->st, l, &c->act[l]));
    }
    return ML_OK;
}

double *ml__collect_update_buffer(ml__collector *c) { return c->update_sq; }

/* ---- logging ------------------------------------------------------------------------------ */

static ml_status log_tensors(ml__collector *c, ml_runstore *rs, int64_t s, bool stepped) {
    for (size_t k = 0; k < c->n_t; k++) {
        const coll_tensor *t = &c->t[k];
        char *const *nm = &c->names[N_PER_TENSOR * k];
        if (c->mask & ML_COLLECT_GRAD)
            ML_TRY(ml_runstore_log_metric(rs, s, nm[NM_GRAD], sqrt(t->g_sq)));
        if (!(c->mask & ML_COLLECT_WEIGHTS)) continue;
        ML_TRY(ml_runstore_log_metric(rs, s, nm[NM_WEIGHT], sqrt(t->w_sq)));
        /* no ratio for a step the optimizer skipped, nor for a zero tensor (LoRA B at
         * initialisation), where it is undefined */
        if (stepped && t->w_sq > 0.0)
            ML_TRY(ml_runstore_log_metric(rs, s, nm[NM_UPDATE],
                                          sqrt(c->update_sq[k]) / sqrt(t->w_sq)));
    }
    return ML_OK;
}

static ml_status log_lora(ml__collector *c, ml_runstore *rs, int64_t s) {
    char *const *names = c->names + N_PER_TENSOR * c->n_t;
    for (size_t k = 0; k < c->n_mod; k++) {
        const coll_module *m = &c->mod[k];
        char *const *nm = &names[N_PER_MODULE * k];
        double v[N_PER_MODULE] = {sqrt(m->a_sq), sqrt(m->b_sq), sqrt(m->ba_sq),
                                  sqrt(c->t[m->a].g_sq), sqrt(c->t[m->b].g_sq)};
        for (size_t i = 0; i < N_PER_MODULE; i++)
            ML_TRY(ml_runstore_log_metric(rs, s, nm[i], v[i]));
    }
    return ML_OK;
}

static ml_status log_activations(ml__collector *c, ml_runstore *rs, int64_t s) {
    char name[ML_RUNSTORE_MAX_NAME_BYTES + 1];
    for (size_t l = 0; l < c->n_act; l++) {
        const ml_nn_act_stats *a = &c->act[l];
        double v[N_PER_LAYER] = {a->mean, a->std, a->max_abs, a->zero_fraction};
        for (size_t i = 0; i < N_PER_LAYER; i++) {
            snprintf(name, sizeof name, "act/%s/%s", a->layer, act_suffix[i]);
            ML_TRY(ml_runstore_log_metric(rs, s, name, v[i]));
        }
    }
    return ML_OK;
}

/* Linux reports ru_maxrss in KiB. */
#define RSS_UNIT_BYTES 1024.0

ml_status ml__collect_log(ml__collector *c, ml_runstore *rs, int64_t s, bool stepped,
                          double step_seconds) {
    if (c->mask & (ML_COLLECT_GRAD | ML_COLLECT_WEIGHTS)) ML_TRY(log_tensors(c, rs, s, stepped));
    if (c->mask & ML_COLLECT_GRAD)
        ML_TRY(ml_runstore_log_metric(rs, s, "grad/nonfinite_fraction",
                                      c->n_floats ? (double)c->n_nonfinite / (double)c->n_floats
                                                  : 0.0));
    if ((c->mask & ML_COLLECT_GRAD_COSINE) && c->cosine_valid)
        ML_TRY(ml_runstore_log_metric(rs, s, "grad/cosine_prev", c->cosine));
    if (c->mask & ML_COLLECT_LORA) ML_TRY(log_lora(c, rs, s));
    if (c->mask & ML_COLLECT_ACTIVATIONS) ML_TRY(log_activations(c, rs, s));
    if (c->mask & ML_COLLECT_MEMORY) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            ML_TRY(ml_runstore_log_metric(rs, s, "memory/peak_rss_bytes",
                                          (double)ru.ru_maxrss * RSS_UNIT_BYTES));
    }
    if (c->mask & ML_COLLECT_TIME)
        ML_TRY(ml_runstore_log_metric(rs, s, "time/step_seconds", step_seconds));
    return ML_OK;
}

/* ---- option lists ------------------------------------------------------------------------ */

typedef struct named_bit {
    const char *name;
    unsigned bit;
} named_bit;

static const named_bit collect_names[] = {
    {"loss", ML_COLLECT_LOSS},         {"lr", ML_COLLECT_LR},
    {"grad", ML_COLLECT_GRAD},         {"grad-cosine", ML_COLLECT_GRAD_COSINE},
    {"weights", ML_COLLECT_WEIGHTS},   {"lora", ML_COLLECT_LORA},
    {"activations", ML_COLLECT_ACTIVATIONS}, {"memory", ML_COLLECT_MEMORY},
    {"time", ML_COLLECT_TIME},         {NULL, 0}};

static const named_bit snapshot_names[] = {
    {"lora", ML_SNAPSHOT_LORA}, {"grads", ML_SNAPSHOT_GRADS}, {"weights", ML_SNAPSHOT_WEIGHTS},
    {NULL, 0}};

/* Longest list we parse: every name once with commas is ~80 bytes. */
#define MAX_LIST_BYTES 256

static ml_status parse_list(unsigned *out, const char *list, const named_bit *names,
                            const char *what, const char *valid) {
    if (!list || !*list)
        return ML_FAIL(ML_EINVAL, "%s list is empty (valid: %s)", what, valid);
    size_t len = strnlen(list, MAX_LIST_BYTES + 1);
    if (len > MAX_LIST_BYTES)
        return ML_FAIL(ML_EINVAL, "%s list is over %d bytes (valid: %s)", what, MAX_LIST_BYTES,
                       valid);
    unsigned bits = 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        unsigned bit = 0;
        for (size_t i = 0; names[i].name && !bit; i++)
            if (strlen(names[i].name) == n && strncmp(names[i].name, p, n) == 0)
                bit = names[i].bit;
        if (!bit)
            return ML_FAIL(ML_EINVAL, "unknown %s \"%.*s\" (valid: %s)", what,
                           (int)(n > 40 ? 40 : n), p, valid);
        bits |= bit;
        if (!end) break;
        p = end + 1;
    }
    *out = bits;
    return ML_OK;
}

ml_status ml_collect_parse(unsigned *out, const char *list) {
    static const char valid[] = "none, all, default, or a comma list of loss, lr, grad, "
                                "grad-cosine, weights, lora, activations, memory, time";
    if (list && strcmp(list, "none") == 0) *out = 0;
    else if (list && strcmp(list, "all") == 0) *out = ML_COLLECT_ALL;
    else if (list && strcmp(list, "default") == 0) *out = ML_COLLECT_DEFAULT;
    else return parse_list(out, list, collect_names, "collector", valid);
    return ML_OK;
}

ml_status ml_snapshot_parse(unsigned *out, const char *list) {
    static const char valid[] = "none, or a comma list of lora, grads, weights";
    if (list && strcmp(list, "none") == 0) {
        *out = 0;
        return ML_OK;
    }
    return parse_list(out, list, snapshot_names, "snapshot", valid);
}
