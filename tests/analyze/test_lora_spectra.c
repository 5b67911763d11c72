/* test_lora_spectra.c - what src/analyze/lora.c promises: singular values of scale·B·A from
 * the thin factors equal those of the dense product (LAPACK's SVD of W formed here), the
 * derived numbers follow their definitions, PEFT's config rules (rank_pattern, alpha_pattern,
 * use_rslora, adapter-named tensors) are honoured, every broken rule is refused naming file
 * and tensor, and update cosines equal the dense <W1, W2>_F / (||W1|| ||W2||).
 *
 * With arguments it is the C side of tests/oracle/lora_numpy.sh instead:
 *   test_lora_spectra --dump WEIGHTS CONFIG|- [WEIGHTS2 CONFIG2|-]
 * prints the spectra of WEIGHTS (and each module's update cosine with WEIGHTS2) as JSON. */
#include <dirent.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/lora.h"
#include "microlens/analyze.h"
#include "microlens/safetensors.h"
#include "ml_test.h"
#include "util/rng.h"

#define FIXTURE ML_SOURCE_DIR "/../shared/fixtures/peft-tiny-lora/"
/* Thin-factor and dense SVDs of the same double inputs agree to a few ulps of sigma_max. */
#define SIGMA_TOL 1e-11
#define MAX_MODULES 8
/* lora.c's LORA_PATTERN_MAX_BYTES: the longest rank_pattern / alpha_pattern key it compiles. */
#define LONG_KEY_BYTES 512

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[16][256]; /* a ring: a test holds up to 16 paths at once */
    static int next;
    next = (next + 1) % 16;
    snprintf(path[next], sizeof path[next], "%s/%s", tmpdir, name);
    return path[next];
}

/* One module as written: B (d_out, r), A (r, d_in[, kernel]) in float. */
typedef struct mod {
    const char *name;
    size_t d_out, d_in, r;
    float *a, *b;
} mod;

static void mod_random(mod *m, const char *name, size_t d_out, size_t d_in, size_t r,
                       uint64_t seed) {
    ml__rng g;
    ml__rng_seed(&g, seed);
    *m = (mod){name, d_out, d_in, r, malloc(r * d_in * sizeof(float)),
               malloc(d_out * r * sizeof(float))};
    for (size_t i = 0; i < r * d_in; i++) m->a[i] = (float)ml__rng_normal(&g);
    for (size_t i = 0; i < d_out * r; i++) m->b[i] = (float)ml__rng_normal(&g);
}

/* Values k/8, |k| <= 64: exact in F32, F16 and BF16 alike. */
static void mod_grid(mod *m, const char *name, size_t d_out, size_t d_in, size_t r,
                     uint64_t seed) {
    ml__rng g;
    ml__rng_seed(&g, seed);
    mod_random(m, name, d_out, d_in, r, seed);
    for (size_t i = 0; i < r * d_in; i++) m->a[i] = (float)((int)ml__rng_below(&g, 129) - 64) / 8;
    for (size_t i = 0; i < d_out * r; i++) m->b[i] = (float)((int)ml__rng_below(&g, 129) - 64) / 8;
}

static void mod_free(mod *m) {
    free(m->a);
    free(m->b);
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(u >> 16);
}

/* Exact for the grid values (normal, 11 significant bits at most). */
static uint16_t to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, exp = (u >> 23) & 0xffu, mant = u & 0x7fffffu;
    if (exp == 0) return (uint16_t)sign;
    return (uint16_t)(sign | ((exp - 112u) << 10) | (mant >> 13));
}

/* Writes the modules as "<name>.lora_<kind>A<tail>" / B in dtype: kind "" or "embedding_",
 * tail ".weight", ".default.weight", "" or ".default". */
static const char *write_named(const char *file, const mod *m, size_t n, ml_dtype dtype,
                               const char *kind, const char *tail) {
    ml_tensor_view t[2 * MAX_MODULES];
    char names[2 * MAX_MODULES][128];
    void *bufs[2 * MAX_MODULES];
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            size_t j = 2 * i + (size_t)k, count = m[i].r * (k ? m[i].d_out : m[i].d_in);
            const float *src = k ? m[i].b : m[i].a;
            snprintf(names[j], sizeof names[j], "%s.lora_%s%c%s", m[i].name, kind, k ? 'B' : 'A',
                     tail);
            size_t size = ml_dtype_size(dtype);
            bufs[j] = malloc(count * size);
            for (size_t e = 0; e < count; e++) {
                if (dtype == ML_DTYPE_F32) ((float *)bufs[j])[e] = src[e];
                if (dtype == ML_DTYPE_BF16) ((uint16_t *)bufs[j])[e] = to_bf16(src[e]);
                if (dtype == ML_DTYPE_F16) ((uint16_t *)bufs[j])[e] = to_f16(src[e]);
            }
            t[j] = (ml_tensor_view){names[j], dtype, 2,
                                    {k ? m[i].d_out : m[i].r, k ? m[i].r : m[i].d_in}, bufs[j]};
        }
    }
    const char *path = tmp_path(file);
    if (ml_safetensors_write(path, t, 2 * n, NULL, 0) != ML_OK)
        fprintf(stderr, "cannot write %s: %s\n", path, ml_error_last()->message);
    for (size_t j = 0; j < 2 * n; j++) free(bufs[j]);
    return path;
}

static const char *write_adapter(const char *file, const mod *m, size_t n, ml_dtype dtype,
                                 const char *tag) {
    char tail[32];
    snprintf(tail, sizeof tail, "%s.weight", tag);
    return write_named(file, m, n, dtype, "", tail);
}

static const char *write_text(const char *file, const char *text) {
    const char *path = tmp_path(file);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* W = scale B A, (d_out x d_in) column-major, in double. */
static double *dense(const mod *m, double scale) {
    double *w = calloc(m->d_out * m->d_in, sizeof *w);
    for (size_t i = 0; i < m->d_out; i++)
        for (size_t j = 0; j < m->d_in; j++) {
            double s = 0;
            for (size_t q = 0; q < m->r; q++) s += (double)m->b[i * m->r + q] * m->a[q * m->d_in + j];
            w[i + j * m->d_out] = scale * s;
        }
    return w;
}

/* The first r singular values of the dense W (zeros past min(d_out, d_in)). */
static void dense_sigma(double *sigma, const mod *m, double scale) {
    double *w = dense(m, scale);
    size_t k = m->d_out < m->d_in ? m->d_out : m->d_in;
    double *s = calloc(k, sizeof *s);
    LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)m->d_out, (lapack_int)m->d_in, w,
                   (lapack_int)m->d_out, s, NULL, 1, NULL, 1);
    for (size_t i = 0; i < m->r; i++) sigma[i] = i < k ? s[i] : 0.0;
    free(s);
    free(w);
}

/* Checks one spectrum against the dense SVD and the definitions written out plainly. */
static void check_spectrum(const ml_lora_spectrum *x, const mod *m, double scale) {
    CHECK_STR(x->module, m->name);
    CHECK_EQ_INT(x->rank, m->r);
    CHECK_EQ_INT(x->d_out, m->d_out);
    CHECK_EQ_INT(x->d_in, m->d_in);
    CHECK_NEAR(x->scale, scale, 1e-15 * fabs(scale));
    double *want = calloc(m->r, sizeof *want);
    dense_sigma(want, m, scale);
    double f = 0, h = 0;
    for (size_t i = 0; i < m->r; i++) {
        CHECK_NEAR(x->sigma[i], want[i], SIGMA_TOL * want[0]);
        f += want[i] * want[i];
    }
    for (size_t i = 0; i < m->r; i++)
        if (want[i] > 0) h -= want[i] * want[i] / f * log(want[i] * want[i] / f);
    CHECK_NEAR(x->frob_sq, f, 1e-12 * f);
    CHECK_NEAR(x->effective_rank, exp(h), 1e-9);
    CHECK_NEAR(x->stable_rank, f / (want[0] * want[0]), 1e-9);
    CHECK_NEAR(x->utilisation, exp(h) / (double)m->r, 1e-9);
    if (isfinite(x->condition)) CHECK_NEAR(x->condition / (want[0] / want[m->r - 1]), 1.0, 1e-8);
    free(want);
}

static void test_lora__thin_factors_match_dense_svd(void) {
    mod m[4];
    mod_random(&m[0], "base_model.model.h.0.attn.c_attn", 40, 30, 8, 1);
    mod_random(&m[1], "base_model.model.h.0.mlp.up", 12, 50, 16, 2); /* r > d_out */
    mod_random(&m[2], "base_model.model.h.1.attn.c_attn", 7, 5, 9, 3); /* r > both */
    mod_random(&m[3], "base_model.model.h.1.mlp.up", 64, 64, 1, 4);
    const char *w = write_adapter("shapes.safetensors", m, 4, ML_DTYPE_F32, "");
    const char *c = write_text("shapes.json",
        "{\"peft_type\": \"LORA\", \"r\": 8, \"lora_alpha\": 16, "
        "\"rank_pattern\": {\"h\\\\.1\\\\.mlp\\\\.up\": 1, \"up\": 16, \"h.1.attn.c_attn\": 9}, "
        "\"alpha_pattern\": {\"h.1.attn.c_attn\": 3, \"c_attn\": 4}}");
    ml_lora_spectra *s = NULL;
    CHECK_STATUS(ml_lora_spectra_compute(&s, w, c), ML_OK);
    if (!s) return;
    CHECK_EQ_INT(s->n_modules, 4);
    /* sorted by name: h.0.attn, h.0.mlp, h.1.attn, h.1.mlp - the order written */
    const double scale[4] = {4.0 / 8, 16.0 / 16, 3.0 / 9, 16.0 / 1};
    double share = 0, hhi = 0, total = 0;
    for (size_t i = 0; i < 4 && i < s->n_modules; i++) {
        check_spectrum(&s->modules[i], &m[i], scale[i]);
        total += s->modules[i].frob_sq;
    }
    for (size_t i = 0; i < s->n_modules; i++) {
        CHECK_NEAR(s->modules[i].energy_share, s->modules[i].frob_sq / total, 1e-15);
        share += s->modules[i].energy_share;
        hhi += s->modules[i].energy_share * s->modules[i].energy_share;
    }
    CHECK_NEAR(share, 1.0, 1e-12);
    CHECK_NEAR(s->hhi, hhi, 1e-15);
    /* r > min(d): the spectrum pads W's 5 singular values with exact zeros -> infinite cond */
    CHECK(s->modules[2].sigma[4] > 0 && s->modules[2].sigma[5] == 0 && s->modules[2].sigma[8] == 0);
    CHECK(isinf(s->modules[2].condition));
    /* rank 1: one direction, effective and stable rank 1, condition 1 */
    CHECK_NEAR(s->modules[3].effective_rank, 1.0, 1e-12);
    CHECK_NEAR(s->modules[3].condition, 1.0, 0);
    ml_lora_spectra_free(s);
    for (int i = 0; i < 4; i++) mod_free(&m[i]);
}

static void test_lora__rank_deficient_and_zero_updates(void) {
    mod m[2];
    mod_random(&m[0], "defic", 30, 20, 6, 5);
    for (size_t i = 0; i < m[0].d_out; i++) m[0].b[i * 6 + 5] = m[0].b[i * 6 + 4]; /* B: rank 5 */
    for (size_t j = 0; j < m[0].d_in; j++) m[0].a[4 * 20 + j] = m[0].a[5 * 20 + j]; /* A: rank 5 */
    mod_random(&m[1], "zero", 10, 9, 4, 6);
    memset(m[1].b, 0, 10 * 4 * sizeof(float)); /* PEFT's initialisation */
    const char *w = write_adapter("defic.safetensors", m, 2, ML_DTYPE_F32, "");
    ml_lora_spectra *s = NULL;
    CHECK_STATUS(ml_lora_spectra_compute(&s, w, NULL), ML_OK);
    if (!s) return;
    const ml_lora_spectrum *d = &s->modules[0], *z = &s->modules[1];
    check_spectrum(d, &m[0], 1.0);
    CHECK(d->sigma[4] > 1e-3 * d->sigma[0]);
    CHECK(d->sigma[5] <= 1e-12 * d->sigma[0]);
    CHECK(isinf(d->condition)); /* sigma_6 is rounding noise, counted as zero */
    CHECK(d->effective_rank < 5.0 + 1e-9);
    for (size_t i = 0; i < 4; i++) CHECK(z->sigma[i] == 0.0);
    CHECK(z->frob_sq == 0 && z->effective_rank == 0 && z->stable_rank == 0 && z->utilisation == 0);
    CHECK(isnan(z->condition));
    CHECK(z->energy_share == 0.0);
    CHECK_NEAR(d->energy_share, 1.0, 0);
    CHECK_NEAR(s->hhi, 1.0, 0);
    ml_lora_spectra_free(s);

    /* every update zero (a step-0 checkpoint): shares and HHI undefined */
    memset(m[0].b, 0, 30 * 6 * sizeof(float));
    w = write_adapter("allzero.safetensors", m, 2, ML_DTYPE_F32, "");
    CHECK_STATUS(ml_lora_spectra_compute(&s, w, NULL), ML_OK);
    CHECK(isnan(s->modules[0].energy_share) && isnan(s->modules[1].energy_share));
    CHECK(isnan(s->hhi));
    ml_lora_spectra_free(s);
    mod_free(&m[0]);
    mod_free(&m[1]);
}

static void test_lora__dtypes_and_peft_names_read_alike(void) {
    mod m[2];
    mod_grid(&m[0], "q", 24, 16, 4, 7);
    mod_grid(&m[1], "v", 16, 24, 4, 8);
    const char *c = write_text("grid.json", "{\"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true}");
    enum { N_FILES = 6 };
    const char *files[N_FILES] = {
        write_adapter("g32.safetensors", m, 2, ML_DTYPE_F32, ""),
        write_adapter("g16.safetensors", m, 2, ML_DTYPE_F16, ""),
        write_adapter("gbf.safetensors", m, 2, ML_DTYPE_BF16, ""),
        write_adapter("gdef.safetensors", m, 2, ML_DTYPE_F32, ".default"),
        write_named("gemb.safetensors", m, 2, ML_DTYPE_F32, "embedding_", ""),
        write_named("gembdef.safetensors", m, 2, ML_DTYPE_BF16, "embedding_", ".default")};
    ml_lora_spectra *s[N_FILES] = {NULL};
    for (int f = 0; f < N_FILES; f++)
        CHECK_STATUS(ml_lora_spectra_compute(&s[f], files[f], c), ML_OK);
    for (int f = 0; f < N_FILES; f++)
        if (!s[f]) return;
    check_spectrum(&s[0]->modules[0], &m[0], 8.0 / 2.0); /* rsLoRA: alpha / sqrt(r) */
    check_spectrum(&s[0]->modules[1], &m[1], 8.0 / 2.0);
    for (int f = 1; f < N_FILES; f++) {
        CHECK_EQ_INT(s[f]->n_modules, 2);
        for (size_t i = 0; i < 2; i++) {
            CHECK_STR(s[f]->modules[i].module, s[0]->modules[i].module);
            for (size_t k = 0; k < 4; k++)
                CHECK(s[f]->modules[i].sigma[k] == s[0]->modules[i].sigma[k]);
        }
    }
    for (int f = 0; f < N_FILES; f++) ml_lora_spectra_free(s[f]);
    mod_free(&m[0]);
    mod_free(&m[1]);
}

static void test_lora__patterns_follow_peft_matching(void) {
    mod m[3];
    mod_random(&m[0], "base_model.model.layers.0.q", 8, 8, 2, 9);
    mod_random(&m[1], "base_model.model.layers.10.q", 8, 8, 4, 10);
    mod_random(&m[2], "base_model.model.xlayers.0.q", 8, 8, 2, 11);
    const char *w = write_adapter("pat.safetensors", m, 3, ML_DTYPE_F32, "");
    /* "layers.10.q" matches a dotted suffix only: never "xlayers.0.q" by "layers.0.q"'s rule;
     * "model.layers.0.q" would match in PEFT's terms only with the wrapper prefix, which PEFT
     * does not see: it must not match. First matching key wins. */
    const char *c = write_text("pat.json",
        "{\"r\": 2, \"lora_alpha\": 2, \"rank_pattern\": {\"layers.10.q\": 4}, "
        "\"alpha_pattern\": {\"model.layers.0.q\": 100, \"layers\\\\.0\\\\.q\": 6, \"q\": 7}}");
    ml_lora_spectra *s = NULL;
    CHECK_STATUS(ml_lora_spectra_compute(&s, w, c), ML_OK);
    if (!s) return;
    CHECK_NEAR(s->modules[0].scale, 6.0 / 2, 0); /* layers.0.q: "layers\.0\.q" */
    CHECK_NEAR(s->modules[1].scale, 7.0 / 4, 0); /* layers.10.q: r 4, alpha "q" */
    CHECK_NEAR(s->modules[2].scale, 7.0 / 2, 0); /* xlayers.0.q: only "q" matches a suffix */
    ml_lora_spectra_free(s);
    for (int i = 0; i < 3; i++) mod_free(&m[i]);
}

static void expect_refused(const char *w, const char *c, ml_status code, const char *sub1,
                           const char *sub2) {
    ml_lora_spectra *s = (ml_lora_spectra *)&tmpdir; /* a sentinel: must stay untouched */
    CHECK_STATUS(ml_lora_spectra_compute(&s, w, c), code);
    CHECK(s == (ml_lora_spectra *)&tmpdir);
    if (sub1) CHECK_ERR_CONTAINS(sub1);
    if (sub2) CHECK_ERR_CONTAINS(sub2);
}

static void test_lora__refuses_broken_adapters(void) {
    mod m;
    mod_random(&m, "mlp", 6, 5, 3, 12);
    float nan_a[15];
    memcpy(nan_a, m.a, sizeof nan_a);
    nan_a[7] = NAN;
    const ml_tensor_view a = {"mlp.lora_A.weight", ML_DTYPE_F32, 2, {3, 5}, m.a};
    const ml_tensor_view b = {"mlp.lora_B.weight", ML_DTYPE_F32, 2, {6, 3}, m.b};
    const ml_tensor_view b_chain = {"mlp.lora_B.weight", ML_DTYPE_F32, 2, {5, 3}, m.b};
    const ml_tensor_view a_bad = {"mlp.lora_A.weight", ML_DTYPE_F32, 2, {5, 3}, m.a};
    const ml_tensor_view a_nan = {"mlp.lora_A.weight", ML_DTYPE_F32, 2, {3, 5}, nan_a};
    const ml_tensor_view a_int = {"mlp.lora_A.weight", ML_DTYPE_I32, 2, {3, 5}, m.a};
    const ml_tensor_view a_other = {"mlp.lora_A.other.weight", ML_DTYPE_F32, 2, {3, 5}, m.a};
    const ml_tensor_view a_def = {"mlp.lora_A.default.weight", ML_DTYPE_F32, 2, {3, 5}, m.a};
    const ml_tensor_view b_def = {"mlp.lora_B.default.weight", ML_DTYPE_F32, 2, {6, 3}, m.b};
    const char *p = tmp_path("bad.safetensors");
    ml_tensor_view t[3];

    t[0] = a;
    ml_safetensors_write(p, t, 1, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "bad.safetensors: tensor mlp.lora_A.weight has no lora_B",
                   "mlp.lora_B.weight");
    t[0] = b;
    ml_safetensors_write(p, t, 1, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensor mlp.lora_B.weight has no lora_A", NULL);
    const ml_tensor_view b_emb = {"emb.lora_embedding_B.x", ML_DTYPE_F32, 2, {6, 3}, m.b};
    ml_safetensors_write(p, &b_emb, 1, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensor emb.lora_embedding_B.x has no lora_A (expected "
                   "emb.lora_embedding_A.x beside it)", NULL);
    t[0] = a_bad;
    t[1] = b_chain;
    ml_safetensors_write(p, t, 2, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensor mlp.lora_A.weight is (5, 3) and tensor "
                   "mlp.lora_B.weight is (5, 3): the shapes do not chain", NULL);
    t[0] = a_nan;
    t[1] = b;
    ml_safetensors_write(p, t, 2, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensor mlp.lora_A.weight: element 7 is NaN", NULL);
    t[0] = a_int;
    ml_safetensors_write(p, t, 2, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensor mlp.lora_A.weight: dtype I32", NULL);
    t[0] = a_def;
    t[1] = b_def;
    t[2] = a_other;
    ml_safetensors_write(p, t, 3, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "module mlp has 2 lora_A and 1 lora_B", NULL);
    t[1] = b;
    ml_safetensors_write(p, t, 2, NULL, 0);
    expect_refused(p, NULL, ML_EFORMAT, "tensors mlp.lora_A.default.weight and "
                   "mlp.lora_B.weight do not pair", NULL);

    /* the config: r disagreeing (which source says so), types, JSON, peft_type, regex */
    t[0] = a;
    ml_safetensors_write(p, t, 2, NULL, 0);
    expect_refused(p, write_text("c1.json", "{\"r\": 8}"), ML_EFORMAT,
                   "tensor mlp.lora_A.weight has r = 3 rows but", "gives r = 8 (from field r)");
    expect_refused(p, write_text("c2.json", "{\"r\": 3, \"rank_pattern\": {\"m.p\": 4}}"),
                   ML_EFORMAT, "gives r = 4 (from rank_pattern[\"m.p\"])", NULL);
    expect_refused(p, write_text("c3.json", "{\"r\": \"3\"}"), ML_EFORMAT,
                   "c3.json: r: found a string (expected a positive integer rank)", NULL);
    expect_refused(p, write_text("c4.json", "{\"r\": 3, \"lora_alpha\": null, "
                   "\"alpha_pattern\": {\"mlp\": [1]}}"), ML_EFORMAT,
                   "c4.json: alpha_pattern[\"mlp\"]: found an array", NULL);
    expect_refused(p, write_text("c5.json", "{\"r\": 3,"), ML_EFORMAT, "c5.json:1:", NULL);
    expect_refused(p, write_text("c6.json", "{\"peft_type\": \"ADALORA\"}"), ML_EUNSUPPORTED,
                   "peft_type: \"ADALORA\"", NULL);
    expect_refused(p, write_text("c7.json", "{\"rank_pattern\": {\"(\": 3}}"), ML_EFORMAT,
                   "rank_pattern[\"(\"]: not a regular expression", NULL);
    expect_refused(p, write_text("c8.json", "{\"r\": 3, \"use_rslora\": 1}"), ML_EFORMAT,
                   "use_rslora: found an integer", NULL);
    expect_refused(tmp_path("missing.safetensors"), NULL, ML_ENOTFOUND, "missing.safetensors",
                   NULL);
    mod_free(&m);
}

/* One rank_pattern key in an otherwise valid config, through the bytes entry point. */
static ml_status parse_key(const char *key, double *r, const char *module) {
    json_t *doc = json_pack("{s:i, s:{s:i}}", "r", 2, "rank_pattern", key, 4);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    if (!text) return ML_ENOMEM;
    double scale = 0;
    ml_status st = ml__lora_config_parse(text, strlen(text), "keys.json", &module, 1, r, &scale);
    free(text);
    return st;
}

/* Keys glibc's regex engine is slow or huge on are refused, the ones PEFT configs use kept. */
static void test_lora__regex_keys_bounded(void) {
    double r = 0;
    CHECK_STATUS(parse_key("(a)\\1", &r, "m"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("keys.json: rank_pattern[\"(a)\\1\"]: back-reference \\1 refused");
    CHECK_STATUS(parse_key("((a{99}){99}){99}", &r, "m"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("interval repetition {m,n} refused");
    char key[LONG_KEY_BYTES + 2];
    memset(key, '+', sizeof key);
    key[0] = 'a';
    key[9] = '\0'; /* "a" and 8 '+': a tree of 2^8 copies */
    CHECK_STATUS(parse_key(key, &r, "m"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("too many '+' repetitions");
    CHECK_STATUS(parse_key("((((.*)*)*)*)*(a|b)*(c|d)?x*y+", &r, "m"), ML_EFORMAT); /* 9 */
    CHECK_ERR_CONTAINS("more than 8 repetitions");
    CHECK_STATUS(parse_key("((((.*)*)*)*)*(a|b)*(c|d)?x*", &r, "m.a.dx"), ML_OK); /* 8 */
    CHECK_NEAR(r, 4, 0);
    memset(key, 'q', sizeof key);
    key[LONG_KEY_BYTES + 1] = '\0';
    CHECK_STATUS(parse_key(key, &r, "m"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("rank_pattern: a key of 513 bytes");
    key[LONG_KEY_BYTES] = '\0'; /* 512 bytes: still a key */
    CHECK_STATUS(parse_key(key, &r, key), ML_OK);
    CHECK_NEAR(r, 4, 0);
    /* escaped backslash then a digit, escaped braces, one '+': literals and PEFT's usual */
    CHECK_STATUS(parse_key("x\\\\1", &r, "a.x\\1"), ML_OK);
    CHECK_NEAR(r, 4, 0);
    CHECK_STATUS(parse_key("\\{q\\}", &r, "a.{q}"), ML_OK);
    CHECK_NEAR(r, 4, 0);
    CHECK_STATUS(parse_key("layers\\.[0-9]+\\.q", &r, "base_model.model.m.layers.12.q"), ML_OK);
    CHECK_NEAR(r, 4, 0);
    CHECK_STATUS(parse_key("layers\\.[0-9]+\\.q", &r, "m.layers.x.q"), ML_OK);
    CHECK_NEAR(r, 2, 0); /* no match: field r */
}

static void test_lora__file_without_pairs_has_no_modules(void) {
    float x[2] = {1, 2};
    /* near misses of PEFT's names are other tensors, not broken LoRA factors */
    const char *names[6] = {"linear.weight", "m.lora_A.a.b.weight", "lora_A.weight",
                            "m.lora_magnitude_vector.default.weight", "m.lora_embedding_A.x.y",
                            "m.lora_B.weight.x"};
    ml_tensor_view t[6];
    for (int i = 0; i < 6; i++) t[i] = (ml_tensor_view){names[i], ML_DTYPE_F32, 2, {1, 2}, x};
    const char *p = tmp_path("plain.safetensors");
    ml_safetensors_write(p, t, 6, NULL, 0);
    ml_lora_spectra *s = NULL;
    CHECK_STATUS(ml_lora_spectra_compute(&s, p, NULL), ML_OK);
    if (!s) return;
    CHECK_EQ_INT(s->n_modules, 0);
    CHECK(isnan(s->hhi));
    ml_lora_spectra_free(s);
    ml_lora_spectra_free(NULL);
}

static double dense_cosine(const mod *m1, double s1, const mod *m2, double s2) {
    double *w1 = dense(m1, s1), *w2 = dense(m2, s2), dot = 0, n1 = 0, n2 = 0;
    for (size_t i = 0; i < m1->d_out * m1->d_in; i++) {
        dot += w1[i] * w2[i];
        n1 += w1[i] * w1[i];
        n2 += w2[i] * w2[i];
    }
    free(w1);
    free(w2);
    return dot / sqrt(n1 * n2);
}

static void test_lora__update_cosine_matches_dense(void) {
    mod m1[3], m2[3];
    mod_random(&m1[0], "a", 20, 30, 4, 13);
    mod_random(&m1[1], "b", 12, 12, 3, 14);
    mod_random(&m1[2], "c", 9, 7, 2, 15);
    mod_random(&m2[0], "a", 20, 30, 6, 16); /* other rank */
    for (size_t i = 0; i < 20 * 4; i++) m2[0].b[(i / 4) * 6 + i % 4] += m1[0].b[i]; /* related */
    for (size_t i = 0; i < 4 * 30; i++) m2[0].a[i] += m1[0].a[i];
    mod_random(&m2[1], "b", 12, 11, 3, 17); /* other d_in */
    mod_random(&m2[2], "d", 9, 7, 2, 18);   /* "c" missing */
    const char *w1 = write_adapter("cos1.safetensors", m1, 3, ML_DTYPE_F32, "");
    const char *w2 = write_adapter("cos2.safetensors", m2, 3, ML_DTYPE_F32, "");
    const char *c1 = write_text("cos1.json", "{\"r\": 4, \"lora_alpha\": 8, \"rank_pattern\": "
                                "{\"b\": 3, \"c\": 2}}");
    const char *c2 = write_text("cos2.json", "{\"r\": 6, \"lora_alpha\": 3, \"rank_pattern\": "
                                "{\"b\": 3, \"c\": 2, \"d\": 2}}");
    double cos = 0;
    CHECK_STATUS(ml_lora_update_cosine(w1, c1, w2, c2, "a", &cos), ML_OK);
    double want = dense_cosine(&m1[0], 2.0, &m2[0], 0.5);
    CHECK_NEAR(cos, want, 1e-12);
    CHECK(fabs(want) > 0.1); /* the case is not a trivial near-orthogonal one */
    CHECK_STATUS(ml_lora_update_cosine(w1, c1, w1, NULL, "a", &cos), ML_OK);
    CHECK_NEAR(cos, 1.0, 1e-14); /* scale changes the norm, not the direction */
    CHECK_STATUS(ml_lora_update_cosine(w1, c1, w2, c2, "b", &cos), ML_OK);
    CHECK(isnan(cos));
    CHECK_STATUS(ml_lora_update_cosine(w1, c1, w2, c2, "c", &cos), ML_OK);
    CHECK(isnan(cos));
    CHECK_STATUS(ml_lora_update_cosine(w1, c1, w2, c2, "nope", &cos), ML_OK);
    CHECK(isnan(cos));

    /* negated update: -1; zero update: NaN; the batched form agrees with the single one */
    mod neg[3];
    for (int i = 0; i < 3; i++) {
        neg[i] = m1[i];
        neg[i].b = malloc(m1[i].d_out * m1[i].r * sizeof(float));
        for (size_t k = 0; k < m1[i].d_out * m1[i].r; k++)
            neg[i].b[k] = i == 2 ? 0.0f : -m1[i].b[k];
    }
    const char *w3 = write_adapter("cos3.safetensors", neg, 3, ML_DTYPE_F32, "");
    ml__lora_adapter *a1 = NULL, *a3 = NULL, *a2 = NULL;
    CHECK_STATUS(ml__lora_adapter_open(&a1, w1, c1), ML_OK);
    CHECK_STATUS(ml__lora_adapter_open(&a2, w2, c2), ML_OK);
    CHECK_STATUS(ml__lora_adapter_open(&a3, w3, NULL), ML_OK);
    if (a1 && a2 && a3) {
        double v[3];
        CHECK_EQ_INT(ml__lora_adapter_n_modules(a1), 3);
        CHECK_STR(ml__lora_adapter_module(a1, 2), "c");
        CHECK(ml__lora_adapter_module(a1, 3) == NULL);
        CHECK_STATUS(ml__lora_adapter_cosines(v, a1, a3), ML_OK);
        CHECK_NEAR(v[0], -1.0, 1e-14);
        CHECK_NEAR(v[1], -1.0, 1e-14);
        CHECK(isnan(v[2]));
        CHECK_STATUS(ml__lora_adapter_cosines(v, a1, a2), ML_OK);
        CHECK_NEAR(v[0], want, 1e-12);
        CHECK(isnan(v[1]) && isnan(v[2]));
    }
    ml__lora_adapter_free(a1);
    ml__lora_adapter_free(a2);
    ml__lora_adapter_free(a3);
    for (int i = 0; i < 3; i++) {
        mod_free(&m1[i]);
        mod_free(&m2[i]);
        free(neg[i].b);
    }
}

static void test_lora__reads_the_peft_fixture(void) {
    ml_lora_spectra *s = NULL;
    CHECK_STATUS(ml_lora_spectra_compute(&s, FIXTURE "adapter_model.safetensors",
                                         FIXTURE "adapter_config.json"), ML_OK);
    if (!s) return;
    CHECK_EQ_INT(s->n_modules, 12);
    CHECK_STR(s->modules[0].module, "base_model.model.transformer.h.0.attn.c_attn");
    CHECK_EQ_INT(s->modules[0].d_out, 2304);
    CHECK_EQ_INT(s->modules[0].d_in, 768);
    CHECK_STR(s->modules[1].module, "base_model.model.transformer.h.0.attn.c_proj");
    double share = 0;
    for (size_t i = 0; i < s->n_modules; i++) {
        const ml_lora_spectrum *x = &s->modules[i];
        CHECK_EQ_INT(x->rank, 8);
        CHECK_NEAR(x->scale, 2.0, 0);
        for (size_t k = 1; k < 8; k++) CHECK(x->sigma[k] <= x->sigma[k - 1]);
        CHECK(x->sigma[7] > 0 && x->effective_rank > 1 && x->effective_rank <= 8);
        CHECK(x->stable_rank >= 1 && x->stable_rank <= x->effective_rank + 1e-12);
        share += x->energy_share;
    }
    CHECK_NEAR(share, 1.0, 1e-12);
    CHECK(s->hhi >= 1.0 / 12 && s->hhi <= 1);
    ml_lora_spectra_free(s);
}

/* ---- --dump: JSON for the numpy oracle ----------------------------------------------------- */

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static int dump(int argc, char **argv) {
    const char *c1 = strcmp(argv[3], "-") ? argv[3] : NULL;
    ml__lora_adapter *a = NULL, *b = NULL;
    ml_lora_spectra *s = NULL;
    if (ml__lora_adapter_open(&a, argv[2], c1) != ML_OK ||
        ml__lora_adapter_spectra(&s, a) != ML_OK ||
        (argc == 6 && ml__lora_adapter_open(&b, argv[4], strcmp(argv[5], "-") ? argv[5] : NULL))) {
        fprintf(stderr, "test_lora_spectra: %s\n", ml_error_last()->message);
        return 1;
    }
    double *cos = calloc(s->n_modules + 1, sizeof *cos);
    if (b) ml__lora_adapter_cosines(cos, a, b);
    json_t *root = json_object(), *mods = json_array();
    for (size_t i = 0; i < s->n_modules; i++) {
        const ml_lora_spectrum *x = &s->modules[i];
        json_t *m = json_object(), *sig = json_array();
        for (size_t k = 0; k < x->rank; k++) json_array_append_new(sig, json_real(x->sigma[k]));
        json_object_set_new(m, "module", json_string(x->module));
        json_object_set_new(m, "rank", json_integer((json_int_t)x->rank));
        json_object_set_new(m, "d_out", json_integer((json_int_t)x->d_out));
        json_object_set_new(m, "d_in", json_integer((json_int_t)x->d_in));
        json_object_set_new(m, "scale", json_real(x->scale));
        json_object_set_new(m, "sigma", sig);
        json_object_set_new(m, "frob_sq", json_real(x->frob_sq));
        json_object_set_new(m, "effective_rank", json_real(x->effective_rank));
        json_object_set_new(m, "stable_rank", json_real(x->stable_rank));
        json_object_set_new(m, "utilisation", json_real(x->utilisation));
        json_object_set_new(m, "condition", num(x->condition));
        json_object_set_new(m, "condition_is_inf", json_boolean(isinf(x->condition)));
        json_object_set_new(m, "energy_share", num(x->energy_share));
        if (b) json_object_set_new(m, "cosine", num(cos[i]));
        json_array_append_new(mods, m);
    }
    json_object_set_new(root, "modules", mods);
    json_object_set_new(root, "hhi", num(s->hhi));
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);
    json_decref(root);
    free(cos);
    ml_lora_spectra_free(s);
    ml__lora_adapter_free(a);
    ml__lora_adapter_free(b);
    return 0;
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        unlink(tmp_path(e->d_name));
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if ((argc == 4 || argc == 6) && strcmp(argv[1], "--dump") == 0) return dump(argc, argv);
        fprintf(stderr, "usage: test_lora_spectra [--dump WEIGHTS CONFIG|- [WEIGHTS2 CONFIG2|-]]\n");
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ml_test_lora.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_lora__thin_factors_match_dense_svd);
    RUN(test_lora__rank_deficient_and_zero_updates);
    RUN(test_lora__dtypes_and_peft_names_read_alike);
    RUN(test_lora__patterns_follow_peft_matching);
    RUN(test_lora__refuses_broken_adapters);
    RUN(test_lora__regex_keys_bounded);
    RUN(test_lora__file_without_pairs_has_no_modules);
    RUN(test_lora__update_cosine_matches_dense);
    RUN(test_lora__reads_the_peft_fixture);
    remove_tmpdir();
    TEST_MAIN_END();
}
