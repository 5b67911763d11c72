/* test_collect.c - what the training collectors promise, checked on real training steps against
 * direct double computations from the raw tensors that snapshots keep: per-tensor and global
 * gradient norms (the global one is the norm of everything, not a sum of norms), cosine with
 * the previous collected gradient, weight norms and update ratios from the weights before and
 * after, LoRA norms against the dense B.A, activation statistics against the forward pass,
 * non-finite gradients, resume, cadence, option parsing, and that collecting changes no
 * weight. The CLI side is tests/cli/train_collect.sh, numpy's reading tests/oracle/collect_*. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/runstore.h"
#include "microlens/safetensors.h"
#include "microlens/synth.h"
#include "microlens/train.h"
#include "ml_test.h"
#include "ml_tmp.h"
#include "nn/actstats.h"
#include "nn/settransformer.h"
#include "util/fileio.h"
#include "util/rng.h"

static char tmp_root[256];

static char *run_path(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp_root, name);
    return p[k];
}

/* ---- data: a small synthetic cohort, read the way the CLI reads it ------------------------ */

typedef struct cohort {
    ml_table *t;
    ml_labels *l;
    ml_join *j;
    ml_otuvec *v;
} cohort;

static void make_cohort(cohort *c) {
    ml_synth_options so = ML_SYNTH_OPTIONS_INIT;
    so.n_samples = 60;
    so.n_patients = 15;
    so.n_otus = 40;
    so.dim = 8;
    so.seed = 11;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", run_path("cohort"));
    CHECK_STATUS(ml_synth_write(dir, &so, NULL), ML_OK);
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    snprintf(path, sizeof path, "%s/table.tsv", dir);
    CHECK_STATUS(ml_table_read(&c->t, path, &ro), ML_OK);
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    CHECK_STATUS(ml_labels_read(&c->l, path, NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&c->j, c->t, c->l, "allergy"), ML_OK);
    snprintf(path, sizeof path, "%s/otu_vectors.safetensors", dir);
    CHECK_STATUS(ml_otuvec_read(&c->v, path), ML_OK);
}

static void free_cohort(cohort *c) {
    ml_otuvec_free(c->v);
    ml_join_free(c->j);
    ml_labels_free(c->l);
    ml_table_free(c->t);
}

static ml_train_options mlp_options(void) {
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    o.steps = 4;
    o.batch = 8;
    o.n_hidden = 2;
    o.hidden[0] = 12;
    o.hidden[1] = 6;
    o.config_json = "{\"test\": 1}";
    o.collect = ML_COLLECT_ALL;
    o.collect_every = 1;
    return o;
}

static ml_train_options st_options(const cohort *c) {
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    o.model = ML_TRAIN_SETTRANSFORMER;
    o.vectors = c->v;
    o.steps = 3;
    o.batch = 6;
    o.max_otus = 12;
    o.st.d_model = 8;
    o.st.n_layers = 2;
    o.st.n_heads = 2;
    o.st.d_ff = 12;
    o.config_json = "{\"test\": 2}";
    o.collect = ML_COLLECT_ALL;
    o.collect_every = 1;
    return o;
}

/* ---- reading a run back ----------------------------------------------------------------- */

/* Value of metric name at step, NaN when the store has no such row. */
static double metric(const char *run, const char *name, int64_t step) {
    ml_runstore *rs = NULL;
    double v = NAN;
    if (ml_runstore_open(&rs, run, ML_RUNSTORE_READONLY, NULL) != ML_OK) return v;
    ml_series s;
    if (ml_runstore_series(rs, name, step, step, &s) == ML_OK && s.n == 1) v = s.values[0];
    ml_runstore_close(rs);
    return v;
}

static size_t metric_count(const char *run, const char *name) {
    ml_runstore *rs = NULL;
    size_t n = 0;
    if (ml_runstore_open(&rs, run, ML_RUNSTORE_READONLY, NULL) != ML_OK) return 0;
    if (ml_runstore_series_length(rs, name, 0, ML_RUNSTORE_LAST_STEP, &n) != ML_OK) n = 0;
    ml_runstore_close(rs);
    return n;
}

static ml_safetensors *open_snapshot(const char *run, int64_t step) {
    char path[700];
    snprintf(path, sizeof path, "%s/snapshots/step-%07lld.safetensors", run, (long long)step);
    ml_safetensors *st = NULL;
    CHECK_STATUS(ml_safetensors_open(&st, path), ML_OK);
    return st;
}

/* Tensor name of a snapshot as doubles (caller frees); *n its length; NULL when absent. */
static double *tensor(ml_safetensors *st, const char *name, size_t *n) {
    const ml_tensor_view *v = st ? ml_safetensors_find(st, name) : NULL;
    if (!v) return NULL;
    size_t k = ml_tensor_view_n_elements(v);
    float *f = malloc(k * sizeof *f);
    double *d = malloc(k * sizeof *d);
    if (!f || !d || ml_safetensors_read_f32(v, f) != ML_OK) {
        free(f);
        free(d);
        return NULL;
    }
    for (size_t i = 0; i < k; i++) d[i] = (double)f[i];
    free(f);
    *n = k;
    return d;
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static int rel_close(double a, double b, double tol) {
    return fabs(a - b) <= tol * fmax(fabs(a), fabs(b)) + 1e-300;
}

#define CHECK_REL(a, b, tol)                                                                 \
    do {                                                                                     \
        double ml_x = (a), ml_y = (b);                                                       \
        CHECK_NEAR(ml_x, ml_y, (tol) * fmax(fabs(ml_x), fabs(ml_y)));                        \
    } while (0)

/* The trainable tensor names of a snapshot's gradients ("grad.<name>"), in file order. */
static size_t grad_names(ml_safetensors *st, const char **names, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < ml_safetensors_n_tensors(st) && k < cap; i++) {
        const char *nm = ml_safetensors_tensor(st, i)->name;
        if (strncmp(nm, "grad.", 5) == 0) names[k++] = nm + 5;
    }
    return k;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_collect__parses_lists(void) {
    unsigned m = 0;
    CHECK_STATUS(ml_collect_parse(&m, "loss,grad-cosine,time"), ML_OK);
    CHECK_EQ_INT(m, ML_COLLECT_LOSS | ML_COLLECT_GRAD_COSINE | ML_COLLECT_TIME);
    CHECK_STATUS(ml_collect_parse(&m, "all"), ML_OK);
    CHECK_EQ_INT(m, ML_COLLECT_ALL);
    CHECK_STATUS(ml_collect_parse(&m, "default"), ML_OK);
    CHECK_EQ_INT(m, ML_COLLECT_ALL & ~ML_COLLECT_ACTIVATIONS);
    CHECK_STATUS(ml_collect_parse(&m, "none"), ML_OK);
    CHECK_EQ_INT(m, 0);
    CHECK_STATUS(ml_collect_parse(&m, "lr,lr"), ML_OK);
    CHECK_EQ_INT(m, ML_COLLECT_LR);
    m = 77;
    CHECK_STATUS(ml_collect_parse(&m, "loss,gradients"), ML_EINVAL);
    CHECK_ERR_CONTAINS("\"gradients\"");
    CHECK_ERR_CONTAINS("loss, lr, grad, grad-cosine, weights, lora, activations, memory, time");
    CHECK_EQ_INT(m, 77);
    CHECK_STATUS(ml_collect_parse(&m, "loss,"), ML_EINVAL);
    CHECK_STATUS(ml_collect_parse(&m, ""), ML_EINVAL);
    CHECK_STATUS(ml_collect_parse(&m, "all,loss"), ML_EINVAL);
    CHECK_STATUS(ml_snapshot_parse(&m, "grads,lora"), ML_OK);
    CHECK_EQ_INT(m, ML_SNAPSHOT_GRADS | ML_SNAPSHOT_LORA);
    CHECK_STATUS(ml_snapshot_parse(&m, "activations"), ML_EINVAL);
    CHECK_ERR_CONTAINS("lora, grads, weights");
}

static void test_collect__rejects_bad_options(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.collect_every = 0;
    CHECK_STATUS(ml_train(run_path("bad"), c.t, c.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("collect_every");
    o = mlp_options();
    o.collect = 1u << 20;
    CHECK_STATUS(ml_train(run_path("bad"), c.t, c.j, &o, NULL), ML_EINVAL);
    o = mlp_options();
    o.snapshot = ML_SNAPSHOT_LORA;
    CHECK_STATUS(ml_train(run_path("bad"), c.t, c.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("LoRA");
    o = mlp_options();
    o.snapshot = ML_SNAPSHOT_GRADS;
    o.snapshot_every = 0;
    CHECK_STATUS(ml_train(run_path("bad"), c.t, c.j, &o, NULL), ML_EINVAL);
    struct stat sb;
    CHECK(stat(run_path("bad"), &sb) != 0);
    free_cohort(&c);
}

/* Per-tensor and global gradient norms, cosine, weight norms and update ratios of a real MLP
 * run with clipping on, from its gradient and weight snapshots. */
static void test_collect__gradient_and_weight_metrics_match_snapshots(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.clip_grad = 0.05; /* active: the collectors must see the gradients before it */
    o.snapshot = ML_SNAPSHOT_GRADS | ML_SNAPSHOT_WEIGHTS;
    o.snapshot_every = 1;
    const char *run = run_path("mlp");
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, NULL), ML_OK);
    double *prev = NULL;
    size_t n_prev = 0;
    double prev_sq = 0.0;
    int saw_clipping = 0;
    for (int64_t s = 1; s <= 4; s++) {
        ml_safetensors *st = open_snapshot(run, s), *next = s < 4 ? open_snapshot(run, s + 1)
                                                                   : NULL;
        const char *names[16];
        size_t nt = st ? grad_names(st, names, 16) : 0;
        CHECK_EQ_INT(nt, 6); /* layers.{0,1,2}.{weight,bias} */
        double total_sq = 0.0, sum_norms = 0.0, d = 0.0;
        size_t n_all = 0;
        double *all = NULL;
        for (size_t k = 0; k < nt; k++) {
            char key[256];
            size_t n = 0, nw = 0, nw1 = 0;
            snprintf(key, sizeof key, "grad.%s", names[k]);
            double *g = tensor(st, key, &n), *w = tensor(st, names[k], &nw);
            CHECK(g && w && n == nw);
            if (!g || !w) continue;
            double g_sq = dot(g, g, n), w_sq = dot(w, w, n);
            total_sq += g_sq;
            sum_norms += sqrt(g_sq);
            snprintf(key, sizeof key, "grad_norm/%s", names[k]);
            CHECK_REL(metric(run, key, s), sqrt(g_sq), 1e-9);
            snprintf(key, sizeof key, "weight_norm/%s", names[k]);
            CHECK_REL(metric(run, key, s), sqrt(w_sq), 1e-9);
            /* the next snapshot's weights are this step's result */
            double *w1 = next ? tensor(next, names[k], &nw1) : NULL;
            snprintf(key, sizeof key, "update_ratio/%s", names[k]);
            if (w1 && nw1 == n) {
                double dw_sq = 0.0;
                for (size_t i = 0; i < n; i++) dw_sq += (w1[i] - w[i]) * (w1[i] - w[i]);
                CHECK_REL(metric(run, key, s), sqrt(dw_sq) / sqrt(w_sq), 1e-9);
            }
            double *grown = realloc(all, (n_all + n) * sizeof *all);
            if (grown) {
                all = grown;
                memcpy(all + n_all, g, n * sizeof *g);
                n_all += n;
            }
            free(w1);
            free(g);
            free(w);
        }
        /* the global norm is the norm of everything together, before clipping */
        CHECK_REL(metric(run, "grad_norm", s), sqrt(total_sq), 1e-9);
        CHECK(!rel_close(sqrt(total_sq), sum_norms, 1e-3));
        saw_clipping |= sqrt(total_sq) > o.clip_grad;
        CHECK_NEAR(metric(run, "grad/nonfinite_fraction", s), 0.0, 0.0);
        if (prev && n_prev == n_all) {
            d = dot(all, prev, n_all) / sqrt(total_sq * prev_sq);
            CHECK_REL(metric(run, "grad/cosine_prev", s), d, 1e-9);
        } else {
            CHECK(isnan(metric(run, "grad/cosine_prev", s))); /* step 1: nothing before it */
        }
        CHECK(metric(run, "time/step_seconds", s) > 0);
        CHECK(metric(run, "memory/peak_rss_bytes", s) > 1e6);
        free(prev);
        prev = all;
        n_prev = n_all;
        prev_sq = total_sq;
        ml_safetensors_close(st);
        ml_safetensors_close(next);
    }
    CHECK(saw_clipping);
    free(prev);
    free_cohort(&c);
}

/* Set transformer, then LoRA on its weights: the lora/<module> metrics against B.A formed densely. */
static void test_collect__lora_norms_match_dense_product(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = st_options(&c);
    o.collect = 0;
    const char *base = run_path("stbase");
    CHECK_STATUS(ml_train(base, c.t, c.j, &o, NULL), ML_OK);
    char init[700];
    snprintf(init, sizeof init, "%s/checkpoints/step-0000003/model.safetensors", base);
    o = st_options(&c);
    o.init_path = init;
    o.st.lora_rank = 2;
    o.st.lora_alpha = 4.0f;
    o.st.lora_targets = ML_LORA_Q | ML_LORA_V | ML_LORA_LINEAR1;
    o.snapshot = ML_SNAPSHOT_LORA | ML_SNAPSHOT_GRADS;
    o.snapshot_every = 1;
    const char *run = run_path("lora");
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, NULL), ML_OK);
    const char *mods[] = {"base_model.model.transformer.layers.0.self_attn.q_proj",
                          "base_model.model.transformer.layers.1.self_attn.v_proj",
                          "base_model.model.transformer.layers.1.linear1"};
    int nonzero = 0;
    for (int64_t s = 1; s <= 3; s++) {
        ml_safetensors *st = open_snapshot(run, s);
        CHECK_EQ_INT(st ? ml_safetensors_n_tensors(st) : 0, 2 * 2 * 3 * 2 + 2);
        for (size_t k = 0; k < 3; k++) {
            char an[256], bn[256], key[300];
            size_t na = 0, nb = 0, nga = 0, ngb = 0;
            snprintf(an, sizeof an, "%s.lora_A.weight", mods[k]);
            snprintf(bn, sizeof bn, "%s.lora_B.weight", mods[k]);
            double *A = tensor(st, an, &na), *B = tensor(st, bn, &nb);
            snprintf(key, sizeof key, "grad.%s", an);
            double *gA = tensor(st, key, &nga);
            snprintf(key, sizeof key, "grad.%s", bn);
            double *gB = tensor(st, key, &ngb);
            CHECK(A && B && gA && gB);
            if (A && B && gA && gB) {
                size_t r = 2, d_in = na / r, d_out = nb / r;
                double ba_sq = 0.0;
                for (size_t i = 0; i < d_out; i++)
                    for (size_t j = 0; j < d_in; j++) {
                        double v = 0.0;
                        for (size_t q = 0; q < r; q++) v += B[i * r + q] * A[q * d_in + j];
                        ba_sq += v * v;
                    }
                nonzero += ba_sq > 0.0;
                snprintf(key, sizeof key, "lora/%s/BA_norm", mods[k]);
                CHECK_NEAR(metric(run, key, s), sqrt(ba_sq), 1e-9 * sqrt(ba_sq) + 1e-12);
                snprintf(key, sizeof key, "lora/%s/A_norm", mods[k]);
                CHECK_REL(metric(run, key, s), sqrt(dot(A, A, na)), 1e-9);
                snprintf(key, sizeof key, "lora/%s/B_norm", mods[k]);
                CHECK_NEAR(metric(run, key, s), sqrt(dot(B, B, nb)), 1e-12);
                snprintf(key, sizeof key, "lora/%s/A_grad_norm", mods[k]);
                CHECK_NEAR(metric(run, key, s), sqrt(dot(gA, gA, nga)), 1e-12);
                snprintf(key, sizeof key, "lora/%s/B_grad_norm", mods[k]);
                CHECK_REL(metric(run, key, s), sqrt(dot(gB, gB, ngb)), 1e-9);
            }
            free(A);
            free(B);
            free(gA);
            free(gB);
        }
        ml_safetensors_close(st);
    }
    CHECK(nonzero >= 3); /* B is zero at step 1 only: later steps test a real product */
    /* frozen base tensors get no per-tensor metric; activations come per encoder layer */
    CHECK_EQ_INT(metric_count(run, "grad_norm/transformer.layers.0.linear1.weight"), 0);
    CHECK_EQ_INT(metric_count(run, "grad_norm/classifier.weight"), 3);
    CHECK_EQ_INT(metric_count(run, "act/transformer.layers.1/zero_fraction"), 3);
    free_cohort(&c);
}

static void moments_direct(const float *x, size_t n, double *mean, double *sd, double *mx,
                           double *zf) {
    double s = 0.0, q = 0.0, m = 0.0;
    size_t z = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double mu = s / (double)n;
    for (size_t i = 0; i < n; i++) {
        q += ((double)x[i] - mu) * ((double)x[i] - mu);
        m = fmax(m, fabs((double)x[i]));
        z += x[i] == 0.0f;
    }
    *mean = mu;
    *sd = sqrt(q / (double)n);
    *mx = m;
    *zf = (double)z / (double)n;
}

static void test_collect__moments_match_reference(void) {
    ml__rng r;
    ml__rng_seed(&r, 5);
    float x[1000];
    for (size_t i = 0; i < 1000; i++)
        x[i] = i % 7 == 0 ? 0.0f : (float)(3.0 * ml__rng_uniform(&r) - 1.0);
    x[500] = -0.0f;
    x[123] = -9.5f;
    size_t lens[] = {0, 1, 15, 16, 17, 999, 1000};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        ml__moments a = ML__MOMENTS_INIT, b = ML__MOMENTS_INIT;
        ml__moments_add(&a, x, lens[k]);
        ml__moments_add_ref(&b, x, lens[k]);
        CHECK_EQ_INT(a.n, b.n);
        CHECK_EQ_INT(a.n_zero, b.n_zero);
        CHECK_NEAR(a.sum, b.sum, 1e-9);
        CHECK_NEAR(a.sum_sq, b.sum_sq, 1e-9);
        CHECK_EQ_INT(a.max_abs == b.max_abs, 1);
    }
    ml_nn_act_stats st;
    ml__moments a = ML__MOMENTS_INIT;
    ml__moments_add(&a, x, 1000);
    ml__moments_finish(&st, &a, &a);
    double mean, sd, mx, zf;
    moments_direct(x, 1000, &mean, &sd, &mx, &zf);
    CHECK_NEAR(st.mean, mean, 1e-12);
    CHECK_REL(st.std, sd, 1e-10);
    CHECK_NEAR(st.max_abs, 9.5, 0);
    CHECK_NEAR(st.zero_fraction, zf, 0);
    x[77] = NAN;
    ml__moments b = ML__MOMENTS_INIT;
    ml__moments_add(&b, x, 1000);
    CHECK(isnan(b.max_abs) && isnan(b.sum));
}

/* MLP: hidden activations recomputed in double from the parameters and the batch. */
static void test_collect__mlp_activation_stats_match_forward(void) {
    ml_mlp_config cfg = ML_MLP_CONFIG_INIT;
    cfg.d_in = 7;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 9;
    cfg.hidden[1] = 5;
    cfg.max_batch = 16;
    ml_mlp *m = NULL;
    CHECK_STATUS(ml_mlp_new(&m, &cfg), ML_OK);
    if (!m) return;
    ml_mlp_init(m, 3);
    ml_nn_act_stats st;
    CHECK_STATUS(ml_mlp_act_stats(m, 0, &st), ML_EINVAL); /* no forward yet */
    CHECK_ERR_CONTAINS("no forward");
    float x[13 * 7];
    int y[13];
    ml__rng r;
    ml__rng_seed(&r, 8);
    for (size_t i = 0; i < 13 * 7; i++) x[i] = (float)(2.0 * ml__rng_uniform(&r) - 1.0);
    for (size_t i = 0; i < 13; i++) y[i] = (int)(i % 2);
    double loss;
    CHECK_STATUS(ml_mlp_forward_backward(m, x, 13, y, &loss), ML_OK);
    CHECK_EQ_INT(ml_mlp_n_act_layers(m), 2);
    double in[13 * 9], out[13 * 9];
    for (size_t i = 0; i < 13 * 7; i++) in[i] = x[i];
    size_t width[] = {7, 9, 5};
    for (size_t l = 0; l < 2; l++) {
        ml_nn_tensor w, b;
        CHECK_STATUS(ml_mlp_tensor(m, 2 * l, &w), ML_OK);
        CHECK_STATUS(ml_mlp_tensor(m, 2 * l + 1, &b), ML_OK);
        size_t di = width[l], dn = width[l + 1], zeros = 0;
        double s = 0.0, q = 0.0, mx = 0.0;
        for (size_t i = 0; i < 13; i++)
            for (size_t o = 0; o < dn; o++) {
                double v = b.data[o];
                for (size_t k = 0; k < di; k++) v += in[i * di + k] * w.data[o * di + k];
                v = v > 0.0 ? v : 0.0;
                out[i * dn + o] = v;
                s += v;
                zeros += v == 0.0;
                mx = fmax(mx, v);
            }
        double mean = s / (double)(13 * dn);
        for (size_t i = 0; i < 13 * dn; i++) q += (out[i] - mean) * (out[i] - mean);
        CHECK_STATUS(ml_mlp_act_stats(m, l, &st), ML_OK);
        CHECK_STR(st.layer, l == 0 ? "layers.0" : "layers.1");
        CHECK_EQ_INT(st.n_values, 13 * dn);
        CHECK_REL(st.mean, mean, 1e-5);
        CHECK_REL(st.std, sqrt(q / (double)(13 * dn)), 1e-5);
        CHECK_REL(st.max_abs, mx, 1e-5);
        CHECK_NEAR(st.zero_fraction, (double)zeros / (double)(13 * dn), 1.5 / (double)(13 * dn));
        memcpy(in, out, 13 * dn * sizeof *out);
    }
    CHECK_STATUS(ml_mlp_act_stats(m, 2, &st), ML_EINVAL);
    ml_mlp_free(m);
}

/* Set transformer: statistics of the kept buffers, and the top layer's mean against the
 * embeddings (the token-weighted mean of the per-set means). */
static void test_collect__settransformer_activation_stats(void) {
    ml_settransformer_config cfg = ML_SETTRANSFORMER_CONFIG_INIT;
    cfg.d_in = 6;
    cfg.d_model = 8;
    cfg.n_layers = 3;
    cfg.n_heads = 2;
    cfg.d_ff = 16;
    cfg.n_classes = 2;
    cfg.max_tokens = 64;
    cfg.max_set_tokens = 32;
    cfg.max_sets = 4;
    cfg.has_grad = 1;
    ml_settransformer *m = NULL;
    CHECK_STATUS(ml_settransformer_new(&m, &cfg), ML_OK);
    if (!m) return;
    ml_settransformer_init(m, 4);
    ml_nn_act_stats st;
    CHECK_STATUS(ml_settransformer_act_stats(m, 0, &st), ML_EINVAL);
    size_t off[] = {0, 5, 17, 20};
    float x[20 * 6];
    ml__rng r;
    ml__rng_seed(&r, 2);
    for (size_t i = 0; i < 20 * 6; i++) x[i] = (float)(2.0 * ml__rng_uniform(&r) - 1.0);
    int labels[] = {0, 1, 1};
    ml_set_batch b = {3, off, x};
    ml_settransformer_targets tg = {labels, NULL, NULL};
    double loss;
    CHECK_STATUS(ml_settransformer_forward_backward(m, &b, &tg, &loss), ML_OK);
    for (size_t l = 0; l < 3; l++) {
        const float *out, *relu;
        size_t T;
        ml__settransformer_layer_acts(m, l, &out, &relu, &T);
        CHECK(out && relu && T == 20);
        if (!out) continue;
        double mean, sd, mx, zf, hm, hs, hx, hz;
        moments_direct(out, T * 8, &mean, &sd, &mx, &zf);
        moments_direct(relu, T * 16, &hm, &hs, &hx, &hz);
        CHECK_STATUS(ml_settransformer_act_stats(m, l, &st), ML_OK);
        char want[40];
        snprintf(want, sizeof want, "transformer.layers.%zu", l);
        CHECK_STR(st.layer, want);
        CHECK_NEAR(st.mean, mean, 1e-9);
        CHECK_REL(st.std, sd, 1e-9);
        CHECK_NEAR(st.max_abs, mx, 0);
        CHECK_NEAR(st.zero_fraction, hz, 0);
        CHECK(hz > 0.0 && hz < 1.0);
        if (l == 2) {
            const float *emb = ml_settransformer_embeddings(m);
            double s = 0.0;
            for (size_t k = 0; k < 3; k++)
                for (size_t j = 0; j < 8; j++) s += (double)(off[k + 1] - off[k]) * emb[k * 8 + j];
            CHECK_NEAR(st.mean, s / (20.0 * 8.0), 1e-6);
        }
    }
    CHECK_STATUS(ml_settransformer_act_stats(m, 3, &st), ML_EINVAL);
    ml_settransformer *inf = NULL;
    CHECK_STATUS(ml_settransformer_new_shared(&inf, m), ML_OK);
    if (inf) {
        CHECK_STATUS(ml_settransformer_forward(inf, &b), ML_OK);
        CHECK_STATUS(ml_settransformer_act_stats(inf, 0, &st), ML_EINVAL);
        CHECK_ERR_CONTAINS("gradients");
    }
    ml_settransformer_free(inf);
    ml_settransformer_free(m);
}

static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = ml__file_read(a, 1u << 26, &x, &nx) == ML_OK &&
               ml__file_read(b, 1u << 26, &y, &ny) == ML_OK && nx == ny &&
               memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void check_same_checkpoint(const char *a, const char *b, const char *file, int64_t s) {
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/checkpoints/step-%07lld/%s", a, (long long)s, file);
    snprintf(pb, sizeof pb, "%s/checkpoints/step-%07lld/%s", b, (long long)s, file);
    CHECK(same_file(pa, pb));
}

/* Collecting everything at every step (and snapshots) leaves the weights bit for bit those of
 * a run that collects nothing: MLP with AdamW and clipping, MLP with SGD momentum, LoRA with
 * dropout. */
static void test_collect__collectors_do_not_change_training(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.steps = 6;
    o.clip_grad = 0.1;
    o.collect = 0;
    CHECK_STATUS(ml_train(run_path("off"), c.t, c.j, &o, NULL), ML_OK);
    CHECK_EQ_INT(metric_count(run_path("off"), "loss"), 0); /* none: no metric at all */
    struct stat sb;
    char snap[700];
    snprintf(snap, sizeof snap, "%s/snapshots", run_path("off"));
    CHECK(stat(snap, &sb) != 0);
    o.collect = ML_COLLECT_ALL;
    o.snapshot = ML_SNAPSHOT_ALL & ~ML_SNAPSHOT_LORA;
    o.snapshot_every = 1;
    CHECK_STATUS(ml_train(run_path("on"), c.t, c.j, &o, NULL), ML_OK);
    check_same_checkpoint(run_path("off"), run_path("on"), "model.safetensors", 6);
    check_same_checkpoint(run_path("off"), run_path("on"), "optimizer.safetensors", 6);
    o = mlp_options();
    o.steps = 6;
    o.optim.kind = ML_OPTIM_SGD;
    o.optim.momentum = 0.9;
    o.lr = 0.05;
    o.collect = 0;
    CHECK_STATUS(ml_train(run_path("sgd-off"), c.t, c.j, &o, NULL), ML_OK);
    o.collect = ML_COLLECT_ALL;
    CHECK_STATUS(ml_train(run_path("sgd-on"), c.t, c.j, &o, NULL), ML_OK);
    check_same_checkpoint(run_path("sgd-off"), run_path("sgd-on"), "model.safetensors", 6);
    CHECK(metric(run_path("sgd-on"), "update_ratio/layers.0.weight", 3) > 0);
    o = st_options(&c);
    o.collect = 0;
    CHECK_STATUS(ml_train(run_path("stb"), c.t, c.j, &o, NULL), ML_OK);
    char init[700];
    snprintf(init, sizeof init, "%s/checkpoints/step-0000003/model.safetensors", run_path("stb"));
    o.init_path = init;
    o.st.lora_rank = 2;
    o.st.lora_dropout = 0.2f;
    o.clip_grad = 0.01;
    CHECK_STATUS(ml_train(run_path("lora-off"), c.t, c.j, &o, NULL), ML_OK);
    o.collect = ML_COLLECT_ALL;
    o.snapshot = ML_SNAPSHOT_ALL;
    o.snapshot_every = 1;
    CHECK_STATUS(ml_train(run_path("lora-on"), c.t, c.j, &o, NULL), ML_OK);
    check_same_checkpoint(run_path("lora-off"), run_path("lora-on"), "adapter_model.safetensors",
                          3);
    check_same_checkpoint(run_path("lora-off"), run_path("lora-on"), "optimizer.safetensors", 3);
    free_cohort(&c);
}

/* Collection every 3 steps; loss, learning rate and grad_norm every step. */
static void test_collect__every_n_steps(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.steps = 7;
    o.collect = ML_COLLECT_DEFAULT;
    o.collect_every = 3;
    const char *run = run_path("every");
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, NULL), ML_OK);
    CHECK_EQ_INT(metric_count(run, "loss"), 7);
    CHECK_EQ_INT(metric_count(run, "learning_rate"), 7);
    CHECK_EQ_INT(metric_count(run, "grad_norm"), 7);
    CHECK_EQ_INT(metric_count(run, "grad_norm/layers.1.bias"), 2);
    CHECK(!isnan(metric(run, "grad_norm/layers.1.bias", 6)));
    CHECK(isnan(metric(run, "grad_norm/layers.1.bias", 5)));
    CHECK_EQ_INT(metric_count(run, "grad/cosine_prev"), 1); /* step 6 against step 3 */
    CHECK_EQ_INT(metric_count(run, "time/step_seconds"), 2);
    CHECK_EQ_INT(metric_count(run, "act/layers.0/mean"), 0); /* not in the default set */
    free_cohort(&c);
}

/* A learning rate so large that the weights overflow: the step with non-finite gradients is
 * skipped (a warning event), its fraction logged, no ratio, and no cosine then or next. */
static void test_collect__nonfinite_gradients(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.steps = 6;
    o.lr = 1e37;
    o.val_fraction = 0.0; /* validation would refuse the non-finite scores */
    o.optim.kind = ML_OPTIM_SGD;
    o.optim.weight_decay = 0.0;
    const char *run = run_path("nan");
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, NULL), ML_OK);
    int64_t bad = 0;
    for (int64_t s = 6; s >= 1; s--)
        if (metric(run, "grad/nonfinite_fraction", s) > 0) bad = s;
    CHECK(bad > 0);
    if (bad > 0) {
        double f = metric(run, "grad/nonfinite_fraction", bad);
        CHECK(f > 0.0 && f <= 1.0);
        CHECK(isnan(metric(run, "update_ratio/layers.0.weight", bad)));
        CHECK(!isnan(metric(run, "weight_norm/layers.0.weight", bad)));
        CHECK(isnan(metric(run, "grad/cosine_prev", bad)));
        if (bad < 6) CHECK(isnan(metric(run, "grad/cosine_prev", bad + 1)));
    }
    ml_runstore *rs = NULL;
    const ml_event_row *ev;
    size_t n = 0, warnings = 0;
    CHECK_STATUS(ml_runstore_open(&rs, run, ML_RUNSTORE_READONLY, NULL), ML_OK);
    CHECK_STATUS(ml_runstore_events(rs, &ev, &n), ML_OK);
    for (size_t i = 0; i < n; i++)
        if (ev[i].level == ML_EVENT_WARNING && strstr(ev[i].text, "step skipped")) {
            warnings++;
            CHECK_EQ_INT(ev[i].step >= bad, 1);
        }
    CHECK(warnings >= 1);
    ml_runstore_close(rs);
    free_cohort(&c);
}

typedef struct stopper {
    volatile sig_atomic_t *flag;
    size_t at;
} stopper;

static void stop_at(void *ctx, size_t done, size_t total) {
    stopper *s = ctx;
    (void)total;
    if (done == s->at) *s->flag = 1;
}

/* A resumed run has no previous gradient: its first collected step logs no cosine; the
 * snapshot of a replayed step is rewritten with the same bytes. */
static void test_collect__resume_starts_without_cosine(void) {
    cohort c = {0};
    make_cohort(&c);
    ml_train_options o = mlp_options();
    o.steps = 8;
    o.snapshot = ML_SNAPSHOT_GRADS;
    o.snapshot_every = 1;
    const char *full = run_path("full"), *part = run_path("part");
    CHECK_STATUS(ml_train(full, c.t, c.j, &o, NULL), ML_OK);
    volatile sig_atomic_t flag = 0;
    stopper s = {&flag, 3};
    o.stop = &flag;
    o.progress = stop_at;
    o.progress_ctx = &s;
    ml_train_result r;
    CHECK_STATUS(ml_train(part, c.t, c.j, &o, &r), ML_OK);
    CHECK_EQ_INT(r.steps, 4);
    /* a leftover temporary file of a killed snapshot write is removed on resume */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s/snapshots/step-0000005.safetensors.tmp.AbC123", part);
    CHECK_STATUS(ml__file_write_atomic(tmp, "x", 1, 0644), ML_OK);
    flag = 0;
    o.resume = true;
    CHECK_STATUS(ml_train(part, c.t, c.j, &o, &r), ML_OK);
    CHECK_EQ_INT(r.start_step, 4);
    struct stat sb;
    CHECK(stat(tmp, &sb) != 0);
    CHECK(!isnan(metric(part, "grad/cosine_prev", 4)));
    CHECK(isnan(metric(part, "grad/cosine_prev", 5)));
    CHECK_REL(metric(part, "grad/cosine_prev", 6), metric(full, "grad/cosine_prev", 6), 1e-12);
    CHECK_REL(metric(part, "grad_norm/layers.0.weight", 5),
              metric(full, "grad_norm/layers.0.weight", 5), 1e-12);
    for (int64_t k = 1; k <= 8; k++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/snapshots/step-%07lld.safetensors", full, (long long)k);
        snprintf(b, sizeof b, "%s/snapshots/step-%07lld.safetensors", part, (long long)k);
        CHECK(same_file(a, b));
    }
    free_cohort(&c);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ml_test_collect_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_collect__parses_lists);
    RUN(test_collect__rejects_bad_options);
    RUN(test_collect__gradient_and_weight_metrics_match_snapshots);
    RUN(test_collect__lora_norms_match_dense_product);
    RUN(test_collect__moments_match_reference);
    RUN(test_collect__mlp_activation_stats_match_forward);
    RUN(test_collect__settransformer_activation_stats);
    RUN(test_collect__collectors_do_not_change_training);
    RUN(test_collect__every_n_steps);
    RUN(test_collect__nonfinite_gradients);
    RUN(test_collect__resume_starts_without_cosine);
    ml_test_remove_tree(tmp_root);
    TEST_MAIN_END();
}
