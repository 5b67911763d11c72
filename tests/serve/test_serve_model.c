/* test_serve_model.c - what the serving model promises: predictions equal the models' own
 * forward code (a bundle's ml_model_bundle_predict, an MLP checkpoint's ml_mlp on the
 * trainer's CLR features, a set-transformer checkpoint's ml_settransformer on sets built here,
 * a LoRA checkpoint's adapters over its verified base against an unmerged rebuild),
 * MANIFEST and signature checks before loading, the checksum, the info body, refusals (LoRA
 * without, with another or with a tampered base, wrong OTU vectors, run folders), privacy of
 * sample IDs, and the reference count under concurrent use. Request-body errors are
 * tests/serve/test_request.c. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/evaluate.h"
#include "microlens/manifest.h"
#include "microlens/memory.h"
#include "microlens/safetensors.h"
#include "microlens/serve.h"
#include "microlens/synth.h"
#include "microlens/train.h"
#include "ml_test.h"
#include "ml_tmp.h"
#include "train/preprocess.h"
#include "train/trainer.h"
#include "util/fileio.h"
#include "util/rng.h"

#define N_SAMPLES 60
#define N_FEATURES 12
#define N_GROUPS 15
#define UNKNOWN_FEATURE "ZZ_not_in_any_model"
#define N_THREADS 4
#define ROUNDS_PER_THREAD 20

static char tmp_root[256];
static ml_pseudonym_key *g_key;

static char *tmp_path(const char *name) {
    static char p[8][768];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp_root, name);
    return p[k];
}

typedef struct data {
    ml_table *t;
    ml_labels *l;
    ml_join *j;
} data;

static void free_data(data *d) {
    ml_join_free(d->j);
    ml_labels_free(d->l);
    ml_table_free(d->t);
}

/* Counts with a planted signal in feature 0; raw IDs that must never show in an outcome.
 * n_classes 2: sick/well by group parity; 3: a/b/c by sample. */
static void make_data(data *d, int n_classes) {
    static char table[16384], labels[4096];
    size_t tl = 0, ll = 0;
    ml__rng r;
    ml__rng_seed(&r, 9);
    tl += (size_t)snprintf(table + tl, sizeof table - tl, "sample");
    for (int f = 0; f < N_FEATURES; f++)
        tl += (size_t)snprintf(table + tl, sizeof table - tl, "\tOTU%d", f);
    ll += (size_t)snprintf(labels + ll, sizeof labels - ll, "sid,label,group\n");
    for (int i = 0; i < N_SAMPLES; i++) {
        int g = i % N_GROUPS, y = n_classes == 2 ? g % 2 : i % 3;
        tl += (size_t)snprintf(table + tl, sizeof table - tl, "\nRAWID-%02d", i);
        for (int f = 0; f < N_FEATURES; f++)
            tl += (size_t)snprintf(table + tl, sizeof table - tl, "\t%d",
                                   (int)ml__rng_below(&r, 20) + (f == y ? 30 : 0));
        const char *names2[] = {"well", "sick"}, *names3[] = {"a", "b", "c"};
        ll += (size_t)snprintf(labels + ll, sizeof labels - ll, "RAWID-%02d,%s,G%d\n", i,
                               n_classes == 2 ? names2[y] : names3[y], g);
    }
    tl += (size_t)snprintf(table + tl, sizeof table - tl, "\n");
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    ro.orientation = ML_ORIENT_SAMPLES_AS_ROWS;
    CHECK_STATUS(ml_table_parse(&d->t, table, tl, "t.tsv", &ro), ML_OK);
    CHECK_STATUS(ml_labels_parse(&d->l, labels, ll, "l.csv", NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&d->j, d->t, d->l, n_classes == 2 ? "sick" : NULL), ML_OK);
}

/* {"samples":[...]} of table rows 0..n: abundances in table order (or, with sets, the OTU
 * lists given), plus one unknown feature each when with_unknown. Caller frees. */
static char *request_for(const ml_table *t, size_t n, int with_unknown) {
    json_t *samples = json_array();
    for (size_t i = 0; i < n; i++) {
        const uint32_t *feat;
        const double *val;
        size_t k;
        ml_table_row(t, i, &feat, &val, &k);
        json_t *ab = json_object();
        for (size_t e = 0; e < k; e++)
            json_object_set_new(ab, ml_table_feature_id(t, feat[e]), json_real(val[e]));
        if (with_unknown) json_object_set_new(ab, UNKNOWN_FEATURE, json_integer(3));
        json_array_append_new(samples, json_pack("{s:s, s:o}", "id",
                                                 ml_table_sample_raw_id(t, i), "abundances", ab));
    }
    json_t *doc = json_pack("{s:o}", "samples", samples);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* The outcome of predicting body, with the privacy checks every outcome must pass. */
static json_t *predict(const ml_serve_model *m, const char *body, const ml_table *t,
                       ml_serve_outcome *out) {
    CHECK_STATUS(ml_serve_predict(m, body, strlen(body), out), ML_OK);
    for (size_t i = 0; i < ml_table_n_samples(t); i++)
        CHECK(!out->body || !strstr(out->body, ml_table_sample_raw_id(t, i)));
    for (size_t i = 0; out->pseudonyms && i < out->n_samples; i++) {
        char want[ML_PSEUDONYM_SIZE];
        const char *raw = ml_table_sample_raw_id(t, i);
        ml_pseudonym_make(g_key, raw, strlen(raw), want);
        CHECK_STR(out->pseudonyms[i], want);
    }
    json_t *doc = out->body ? json_loadb(out->body, out->body_len, 0, NULL) : NULL;
    CHECK(doc != NULL);
    return doc;
}

static ml_serve_model *load(const char *dir, const ml_serve_model_options *o) {
    ml_serve_model_options def = ML_SERVE_MODEL_OPTIONS_INIT;
    def.id_key = g_key;
    ml_serve_model *m = NULL;
    CHECK_STATUS(ml_serve_model_load(&m, dir, o ? o : &def), ML_OK);
    return m;
}

static json_t *info_of(const ml_serve_model *m) {
    char *text = NULL;
    CHECK_STATUS(ml_serve_model_info_json(m, &text), ML_OK);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(doc != NULL);
    CHECK(text && !strstr(text, tmp_root)); /* never the absolute path */
    ml_free(text);
    return doc;
}

static const char *info_str(json_t *info, const char *key) {
    return json_string_value(json_object_get(info, key));
}

static void sha256_hex(const char *const *paths, size_t n, char out[72]) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        char *bytes = NULL;
        size_t len = 0;
        CHECK_STATUS(ml__file_read(paths[i], 1u << 26, &bytes, &len), ML_OK);
        EVP_DigestUpdate(md, bytes, len);
        free(bytes);
    }
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 32; i++) snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

static double pred_num(json_t *doc, size_t i, const char *key) {
    json_t *p = json_array_get(json_object_get(doc, "predictions"), i);
    json_t *v = json_object_get(p, key);
    CHECK(json_is_number(v));
    return json_number_value(v);
}

static const char *pred_str(json_t *doc, size_t i, const char *key) {
    return json_string_value(json_object_get(json_array_get(json_object_get(doc, "predictions"),
                                                            i), key));
}

/* ---- Bundles -------------------------------------------------------------------------------- */

/* with_unknown adds a feature the table lacks: log and relab divide by totals that then
 * differ from the table's, so only CLR bundles take it. */
static void check_bundle(ml_evaluate_options *eo, const char *name, const char *score_key,
                         int with_unknown) {
    data d = {0};
    make_data(&d, 2);
    ml_model_bundle *b = NULL;
    CHECK_STATUS(ml_model_bundle_fit(&b, d.t, d.j, eo), ML_OK);
    char *dir = tmp_path(name);
    CHECK_STATUS(ml_model_bundle_save(b, dir, NULL), ML_OK);
    ml_serve_model *m = load(dir, NULL);
    double want[N_SAMPLES];
    CHECK_STATUS(ml_model_bundle_predict(b, d.t, NULL, N_SAMPLES, want), ML_OK);
    size_t n_unknown_table = 0, n_missing = 0;
    CHECK_STATUS(ml_model_bundle_match(b, d.t, &n_unknown_table, &n_missing), ML_OK);
    char *body = request_for(d.t, N_SAMPLES, with_unknown);
    ml_serve_outcome out;
    json_t *doc = m ? predict(m, body, d.t, &out) : NULL;
    CHECK_EQ_INT(out.http_status, 200);
    CHECK_EQ_INT(out.n_samples, N_SAMPLES);
    size_t unknown_sent = 0; /* features the bundle's filters dropped count as unknown */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        const uint32_t *feat;
        const double *val;
        size_t k;
        ml_table_row(d.t, i, &feat, &val, &k);
        for (size_t e = 0; e < k; e++) {
            int known = 0;
            for (size_t c = 0; c < ml_model_bundle_n_features(b); c++)
                known |= strcmp(ml_model_bundle_feature_id(b, c),
                                ml_table_feature_id(d.t, feat[e])) == 0;
            unknown_sent += !known;
        }
        unknown_sent += (size_t)with_unknown; /* UNKNOWN_FEATURE */
    }
    CHECK_EQ_INT(out.n_unknown_features, unknown_sent);
    CHECK_EQ_INT(json_integer_value(json_object_get(doc, "unknown_features")), unknown_sent);
    double thr = ml_model_bundle_threshold(b);
    for (size_t i = 0; doc && i < N_SAMPLES; i++) {
        CHECK_NEAR(pred_num(doc, i, score_key), want[i], 1e-12);
        CHECK_STR(pred_str(doc, i, "label"), want[i] > thr ? "sick" : "well");
        CHECK_STR(pred_str(doc, i, "id"), out.pseudonyms[i]);
    }
    char want_sha[72];
    char card[768], tensors[768];
    snprintf(card, sizeof card, "%s/card.json", dir);
    snprintf(tensors, sizeof tensors, "%s/model.safetensors", dir);
    const char *files[] = {card, tensors};
    sha256_hex(files, 2, want_sha);
    if (m) CHECK_STR(ml_serve_model_sha256(m), want_sha);
    CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "model"), "sha256")),
              want_sha);
    json_t *info = m ? info_of(m) : NULL;
    CHECK_STR(info_str(info, "kind"), "bundle");
    CHECK_STR(info_str(info, "name"), name);
    CHECK_STR(info_str(info, "manifest"), "absent");
    CHECK_STR(info_str(info, "signature"), "unsigned");
    CHECK_STR(info_str(info, "positive_class"), "sick");
    CHECK_STR(info_str(info, "sha256"), want_sha);
    CHECK_EQ_INT(json_integer_value(json_object_get(info, "n_features")),
                 ml_model_bundle_n_features(b));
    CHECK(json_integer_value(json_object_get(json_object_get(info, "sizes"), "card.json")) > 0);
    json_decref(info);
    json_decref(doc);
    ml_serve_outcome_clear(&out);
    free(body);
    ml_serve_model_release(m);
    ml_model_bundle_free(b);
    free_data(&d);
}

static void test_serve__bundle_equals_bundle_predict(void) {
    ml_evaluate_options eo = ML_EVALUATE_OPTIONS_INIT; /* CLR + scaler + logreg */
    check_bundle(&eo, "bundle-logreg", "probability", 1);
}

/* log relative abundances over totals that include the features a top-k filter dropped (sent,
 * unknown to the bundle), and an svm whose score is a decision value. */
static void test_serve__bundle_svm_log_topk(void) {
    ml_evaluate_options eo = ML_EVALUATE_OPTIONS_INIT;
    eo.transform.kind = ML_TRANSFORM_LOG;
    eo.transform.top_k = 5;
    eo.model.kind = ML_CLASSIFIER_SVM;
    check_bundle(&eo, "bundle-svm", "score", 0);
}

static void test_serve__bundle_manifest_and_signature(void) {
    data d = {0};
    make_data(&d, 2);
    ml_evaluate_options eo = ML_EVALUATE_OPTIONS_INIT;
    ml_model_bundle *b = NULL;
    CHECK_STATUS(ml_model_bundle_fit(&b, d.t, d.j, &eo), ML_OK);
    char *dir = tmp_path("bundle-signed");
    CHECK_STATUS(ml_model_bundle_save(b, dir, NULL), ML_OK);
    ml_serve_model_options o = ML_SERVE_MODEL_OPTIONS_INIT;
    o.id_key = g_key;
    o.verify.require_signature = true;
    ml_serve_model *m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, dir, &o), ML_EINTEGRITY); /* no MANIFEST */
    CHECK_ERR_CONTAINS("microlens manifest");
    CHECK(m == (ml_serve_model *)0x1);
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    CHECK_STATUS(ml_serve_model_load(&m, dir, &o), ML_EINTEGRITY); /* unsigned */
    o.verify.require_signature = false;
    m = load(dir, &o);
    char manifest[768], want_sha[72];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", dir);
    const char *files[] = {manifest};
    sha256_hex(files, 1, want_sha);
    if (m) CHECK_STR(ml_serve_model_sha256(m), want_sha);
    json_t *info = m ? info_of(m) : NULL;
    CHECK_STR(info_str(info, "manifest"), "verified");
    CHECK_STR(info_str(info, "signature"), "unsigned");
    json_decref(info);
    ml_serve_model_release(m);
    char *key = tmp_path("signing.key"), pub[800];
    snprintf(pub, sizeof pub, "%s.pub", key);
    CHECK_STATUS(ml_signing_key_generate(key), ML_OK);
    CHECK_STATUS(ml_manifest_sign(dir, key), ML_OK);
    o.verify.require_signature = true;
    o.verify.pubkey_path = pub;
    m = load(dir, &o);
    info = m ? info_of(m) : NULL;
    CHECK_STR(info_str(info, "signature"), "verified");
    json_decref(info);
    ml_serve_model_release(m);
    /* a byte changed after signing: refused before anything is parsed */
    char card[768];
    snprintf(card, sizeof card, "%s/card.json", dir);
    FILE *f = fopen(card, "ab");
    if (f) {
        fputc(' ', f);
        fclose(f);
    }
    m = (ml_serve_model *)0x1;
    o.verify.require_signature = false;
    CHECK_STATUS(ml_serve_model_load(&m, dir, &o), ML_EINTEGRITY);
    CHECK(m == (ml_serve_model *)0x1);
    ml_model_bundle_free(b);
    free_data(&d);
}

/* ---- MLP checkpoints ------------------------------------------------------------------------ */

static ml_train_options mlp_options(void) {
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    o.steps = 24;
    o.batch = 8;
    o.hidden[0] = 8;
    o.eval_every = 6;
    o.config_json = "{\"test\": \"serve\"}";
    return o;
}

/* The checkpoint's MLP rebuilt here from its safetensors, for the reference forward. */
static ml_mlp *mlp_from(const char *ckpt, size_t d_in, size_t n_classes) {
    ml_mlp_config c = ML_MLP_CONFIG_INIT;
    c.d_in = d_in;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.n_classes = n_classes;
    c.max_batch = N_SAMPLES;
    c.has_grad = 0;
    ml_mlp *mlp = NULL;
    char p[800];
    snprintf(p, sizeof p, "%s/model.safetensors", ckpt);
    ml_safetensors *sf = NULL;
    CHECK_STATUS(ml_mlp_new(&mlp, &c), ML_OK);
    CHECK_STATUS(ml_safetensors_open(&sf, p), ML_OK);
    for (size_t i = 0; mlp && sf && i < ml_mlp_n_tensors(mlp); i++) {
        ml_nn_tensor t;
        CHECK_STATUS(ml_mlp_tensor(mlp, i, &t), ML_OK);
        const ml_tensor_view *v = ml_safetensors_find(sf, t.name);
        CHECK(v != NULL);
        if (v) CHECK_STATUS(ml_safetensors_read_f32(v, t.data), ML_OK);
    }
    ml_safetensors_close(sf);
    return mlp;
}

static void softmax(const float *z, size_t c, double *p) {
    double mx = z[0], s = 0;
    for (size_t k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
    for (size_t k = 0; k < c; k++) s += exp((double)z[k] - mx);
    for (size_t k = 0; k < c; k++) p[k] = exp((double)z[k] - mx - log(s));
}

/* The trainer's own features (tr.X, from the table) through the checkpoint's weights. */
static void reference_mlp(const data *d, const ml_train_options *o, const char *ckpt,
                          size_t n_classes, double *p) {
    ml__trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = o;
    tr.t = d->t;
    CHECK_STATUS(ml__train_data_prepare(&tr, d->j), ML_OK);
    CHECK_EQ_INT(tr.n_features, N_FEATURES);
    ml_mlp *mlp = mlp_from(ckpt, tr.n_features, n_classes);
    if (mlp && tr.X) {
        CHECK_STATUS(ml_mlp_forward(mlp, tr.X, N_SAMPLES), ML_OK);
        for (size_t i = 0; i < N_SAMPLES; i++)
            softmax(ml_mlp_logits(mlp) + i * n_classes, n_classes, p + i * n_classes);
    }
    /* the recorded scaler is the one fitted on the training split */
    ml_transform_options to = ML_TRANSFORM_OPTIONS_INIT;
    to.clr_pseudocount = 1.0;
    to.scale = true;
    ml_transform *tf = NULL;
    CHECK_STATUS(ml_transform_fit(&tf, d->t, tr.train, tr.n_train, &to), ML_OK);
    char path[800], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/" ML__PREPROCESS_NAME, ckpt);
    CHECK_STATUS(ml__file_read(path, 1u << 24, &text, &len), ML_OK);
    ml__preprocess pp;
    memset(&pp, 0, sizeof pp);
    CHECK_STATUS(ml__preprocess_parse(&pp, text, len, path), ML_OK);
    const double *m1, *s1, *m2, *s2;
    if (tf && pp.tf && ml_transform_scaler(tf, &m1, &s1) == ML_OK &&
        ml_transform_scaler(pp.tf, &m2, &s2) == ML_OK) {
        for (size_t k = 0; k < N_FEATURES; k++) {
            CHECK_STR(ml_transform_output_feature_id(pp.tf, k), ml_table_feature_id(d->t, k));
            CHECK(m1[k] == m2[k] && s1[k] == s2[k]);
        }
    }
    CHECK_EQ_INT(pp.n_classes, n_classes);
    ml__preprocess_free(&pp);
    free(text);
    ml_transform_free(tf);
    ml_mlp_free(mlp);
    ml__train_data_free(&tr);
}

static void check_mlp(int n_classes) {
    data d = {0};
    make_data(&d, n_classes);
    ml_train_options o = mlp_options();
    char *run = tmp_path(n_classes == 2 ? "run-mlp" : "run-mlp3");
    ml_train_result r;
    CHECK_STATUS(ml_train(run, d.t, d.j, &o, &r), ML_OK);
    char ckpt[800];
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, r.last_checkpoint);
    ml_serve_model *m = load(ckpt, NULL);
    double want[N_SAMPLES * 3];
    reference_mlp(&d, &o, ckpt, (size_t)n_classes, want);
    char *body = request_for(d.t, N_SAMPLES, 1);
    ml_serve_outcome out;
    json_t *doc = m ? predict(m, body, d.t, &out) : NULL;
    CHECK_EQ_INT(out.http_status, 200);
    CHECK_EQ_INT(out.n_unknown_features, N_SAMPLES);
    const char *names[] = {"well", "sick", "a", "b", "c"};
    const char **cls = n_classes == 2 ? names : names + 2;
    for (size_t i = 0; doc && i < N_SAMPLES; i++) {
        const double *p = want + i * (size_t)n_classes;
        CHECK_NEAR(pred_num(doc, i, "probability"), p[n_classes - 1], 1e-12);
        size_t best = 0;
        for (size_t k = 1; k < (size_t)n_classes; k++) best = p[k] > p[best] ? k : best;
        CHECK_STR(pred_str(doc, i, "label"), cls[best]);
        json_t *probs = json_object_get(json_array_get(json_object_get(doc, "predictions"), i),
                                        "probabilities");
        CHECK(n_classes == 2 ? probs == NULL : json_object_size(probs) == 3);
        for (size_t k = 0; n_classes == 3 && k < 3; k++)
            CHECK_NEAR(json_number_value(json_object_get(probs, cls[k])), p[k], 1e-12);
    }
    json_t *info = m ? info_of(m) : NULL;
    char want_name[64];
    snprintf(want_name, sizeof want_name, "%s/step-0000024",
             n_classes == 2 ? "run-mlp" : "run-mlp3");
    CHECK_STR(info_str(info, "kind"), "mlp");
    CHECK_STR(info_str(info, "name"), want_name);
    CHECK_STR(info_str(info, "manifest"), "verified");
    if (n_classes == 3) CHECK(json_is_null(json_object_get(info, "positive_class")));
    json_t *training = json_object_get(info, "training");
    CHECK_EQ_INT(json_integer_value(json_object_get(training, "global_step")), 24);
    CHECK(json_is_number(json_object_get(training, "val_loss")));
    json_decref(info);
    json_decref(doc);
    ml_serve_outcome_clear(&out);
    free(body);
    ml_serve_model_release(m);
    free_data(&d);
}

static void test_serve__mlp_checkpoint_equals_mlp_forward(void) { check_mlp(2); }
static void test_serve__mlp_multiclass_probabilities(void) { check_mlp(3); }

/* A flipped byte, a missing signature, a preprocess-less checkpoint, a run folder. */
static void test_serve__checkpoint_refusals(void) {
    data d = {0};
    make_data(&d, 2);
    ml_train_options o = mlp_options();
    char *run = tmp_path("run-refuse");
    ml_train_result r;
    CHECK_STATUS(ml_train(run, d.t, d.j, &o, &r), ML_OK);
    char ckpt[800], file[900];
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, r.last_checkpoint);
    ml_serve_model_options so = ML_SERVE_MODEL_OPTIONS_INIT;
    so.id_key = g_key;
    ml_serve_model *m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, run, &so), ML_EINVAL);
    CHECK_ERR_CONTAINS("checkpoints/step-N");
    CHECK_STATUS(ml_serve_model_load(&m, tmp_path("nowhere"), &so), ML_ENOTFOUND);
    so.verify.require_signature = true;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    so.verify.require_signature = false;
    so.id_key = NULL;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINVAL);
    so.id_key = g_key;
    snprintf(file, sizeof file, "%s/" ML__PREPROCESS_NAME, ckpt);
    FILE *f = fopen(file, "ab");
    if (f) {
        fputc('\n', f);
        fclose(f);
    }
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    unlink(file);
    CHECK_STATUS(ml_manifest_write(ckpt), ML_OK);
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EUNSUPPORTED);
    CHECK_ERR_CONTAINS("preprocess");
    CHECK(m == (ml_serve_model *)0x1);
    free_data(&d);
}

/* ---- Set-transformer checkpoints ------------------------------------------------------------ */

#define ST_MAX_OTUS 8

typedef struct cohort {
    ml_table *t;
    ml_labels *l;
    ml_join *j;
    ml_otuvec *v;
    char vectors[800];
} cohort;

static void make_cohort(cohort *c, const char *name, uint64_t seed) {
    ml_synth_options so = ML_SYNTH_OPTIONS_INIT;
    so.n_samples = 40;
    so.n_patients = 10;
    so.n_otus = 30;
    so.dim = 8;
    so.seed = seed;
    char *dir = tmp_path(name), p[800];
    CHECK_STATUS(ml_synth_write(dir, &so, NULL), ML_OK);
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    ro.orientation = ML_ORIENT_SAMPLES_AS_COLUMNS;
    snprintf(p, sizeof p, "%s/table.tsv", dir);
    CHECK_STATUS(ml_table_read(&c->t, p, &ro), ML_OK);
    snprintf(p, sizeof p, "%s/labels.csv", dir);
    CHECK_STATUS(ml_labels_read(&c->l, p, NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&c->j, c->t, c->l, "allergy"), ML_OK);
    snprintf(c->vectors, sizeof c->vectors, "%s/otu_vectors.safetensors", dir);
    CHECK_STATUS(ml_otuvec_read(&c->v, c->vectors), ML_OK);
}

static void free_cohort(cohort *c) {
    ml_otuvec_free(c->v);
    ml_join_free(c->j);
    ml_labels_free(c->l);
    ml_table_free(c->t);
}

static ml_train_options st_options(const cohort *c) {
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    o.model = ML_TRAIN_SETTRANSFORMER;
    o.vectors = c->v;
    o.st.d_model = 10;
    o.st.n_layers = 1;
    o.st.n_heads = 2;
    o.st.d_ff = 16;
    o.max_otus = ST_MAX_OTUS;
    o.steps = 4;
    o.batch = 8;
    o.config_json = "{\"test\": \"serve-st\"}";
    return o;
}

typedef struct pick {
    double v;
    uint32_t f;
} pick;

static int pick_cmp(const void *pa, const void *pb) {
    const pick *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? 1 : -1;
    return (a->f > b->f) - (a->f < b->f);
}

static int u32_cmp(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

/* Sample i's set as train builds it: OTUs with a count > 0 and a vector, the ST_MAX_OTUS most
 * abundant (ties: first in the table), in table order. */
static size_t set_of(const cohort *c, size_t i, uint32_t *out) {
    const uint32_t *feat;
    const double *val;
    size_t k, n = 0;
    pick picks[64];
    ml_table_row(c->t, i, &feat, &val, &k);
    for (size_t e = 0; e < k && n < 64; e++)
        if (val[e] > 0 && ml_otuvec_find(c->v, ml_table_feature_id(c->t, feat[e])))
            picks[n++] = (pick){val[e], feat[e]};
    if (n > ST_MAX_OTUS) {
        qsort(picks, n, sizeof *picks, pick_cmp);
        n = ST_MAX_OTUS;
    }
    for (size_t e = 0; e < n; e++) out[e] = picks[e].f;
    qsort(out, n, sizeof *out, u32_cmp);
    return n;
}

/* P(allergy) per sample through st, 16 sets a forward as the server batches them. */
static void forward_st(const cohort *c, ml_settransformer *st, double *p) {
    size_t d = ml_otuvec_dim(c->v), ns = ml_table_n_samples(c->t);
    float *x = malloc(16 * ST_MAX_OTUS * d * sizeof *x);
    size_t off[17];
    for (size_t i0 = 0; st && x && i0 < ns; i0 += 16) {
        size_t n = ns - i0 < 16 ? ns - i0 : 16, tok = 0;
        off[0] = 0;
        for (size_t r = 0; r < n; r++) {
            uint32_t set[ST_MAX_OTUS];
            size_t k = set_of(c, i0 + r, set);
            for (size_t e = 0; e < k; e++, tok++)
                memcpy(x + tok * d, ml_otuvec_find(c->v, ml_table_feature_id(c->t, set[e])),
                       d * sizeof *x);
            off[r + 1] = tok;
        }
        ml_set_batch b = {n, off, x};
        CHECK_STATUS(ml_settransformer_forward(st, &b), ML_OK);
        for (size_t r = 0; r < n; r++) {
            double q[2];
            softmax(ml_settransformer_class_logits(st) + 2 * r, 2, q);
            p[i0 + r] = q[1];
        }
    }
    free(x);
}

/* The same through ml_settransformer loaded from the checkpoint's model.safetensors. */
static void reference_st(const cohort *c, const char *ckpt, double *p) {
    ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    lo.max_sets = 16;
    lo.max_set_tokens = ST_MAX_OTUS;
    lo.max_tokens = 16 * ST_MAX_OTUS;
    char path[800];
    snprintf(path, sizeof path, "%s/model.safetensors", ckpt);
    ml_settransformer *st = NULL;
    CHECK_STATUS(ml_settransformer_load(&st, path, &lo), ML_OK);
    forward_st(c, st, p);
    ml_settransformer_free(st);
}

/* The same samples as OTU lists: each sample's set, in table order. */
static char *otu_request(const cohort *c) {
    json_t *samples = json_array();
    for (size_t i = 0; i < ml_table_n_samples(c->t); i++) {
        uint32_t set[ST_MAX_OTUS];
        size_t k = set_of(c, i, set);
        json_t *otus = json_array();
        for (size_t e = 0; e < k; e++)
            json_array_append_new(otus, json_string(ml_table_feature_id(c->t, set[e])));
        json_array_append_new(samples, json_pack("{s:s, s:o}", "id",
                                                 ml_table_sample_raw_id(c->t, i), "otus", otus));
    }
    json_t *doc = json_pack("{s:o}", "samples", samples);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void test_serve__settransformer_equals_forward(void) {
    cohort c = {0};
    make_cohort(&c, "cohort", 42);
    ml_train_options o = st_options(&c);
    char *run = tmp_path("run-st");
    ml_train_result r;
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, &r), ML_OK);
    char ckpt[800];
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, r.last_checkpoint);
    ml_serve_model_options so = ML_SERVE_MODEL_OPTIONS_INIT;
    so.id_key = g_key;
    ml_serve_model *m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINVAL); /* no vectors given */
    CHECK_ERR_CONTAINS("OTU vectors");
    so.otu_vectors = c.vectors;
    m = load(ckpt, &so);
    size_t ns = ml_table_n_samples(c.t);
    double *want = calloc(ns, sizeof *want);
    reference_st(&c, ckpt, want);
    char *bodies[2] = {request_for(c.t, ns, 1), otu_request(&c)};
    for (int form = 0; form < 2 && m; form++) {
        ml_serve_outcome out;
        json_t *doc = predict(m, bodies[form], c.t, &out);
        CHECK_EQ_INT(out.http_status, 200);
        CHECK_EQ_INT(out.n_unknown_features, form == 0 ? ns : 0);
        for (size_t i = 0; doc && i < ns; i++) {
            CHECK_NEAR(pred_num(doc, i, "probability"), want[i], 1e-6);
            CHECK_STR(pred_str(doc, i, "label"), want[i] > 0.5 ? "allergy" : "healthy");
        }
        json_decref(doc);
        ml_serve_outcome_clear(&out);
    }
    json_t *info = m != (ml_serve_model *)0x1 && m ? info_of(m) : NULL;
    CHECK_STR(info_str(info, "kind"), "settransformer");
    CHECK_EQ_INT(json_integer_value(json_object_get(info, "n_features")), 30);
    json_decref(info);
    free(bodies[0]);
    free(bodies[1]);
    free(want);
    ml_serve_model_release(m);
    /* other vectors (another cohort's) are refused by fingerprint */
    cohort other = {0};
    make_cohort(&other, "cohort-other", 7);
    so.otu_vectors = other.vectors;
    m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINVAL);
    CHECK_ERR_CONTAINS("not the OTU vectors");
    CHECK(m == (ml_serve_model *)0x1);
    /* a LoRA run over the checkpoint's weights: refused, saying why */
    char init[900];
    snprintf(init, sizeof init, "%s/model.safetensors", ckpt);
    o.init_path = init;
    o.st.lora_rank = 2;
    run = tmp_path("run-lora");
    CHECK_STATUS(ml_train(run, c.t, c.j, &o, &r), ML_OK);
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, r.last_checkpoint);
    so.otu_vectors = c.vectors;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EUNSUPPORTED);
    CHECK_ERR_CONTAINS("LoRA");
    CHECK_ERR_CONTAINS("model.safetensors"); /* the base's recorded name */
    CHECK_ERR_CONTAINS("--base-weights FILE");
    free_cohort(&other);
    free_cohort(&c);
}

/* ---- LoRA checkpoints ----------------------------------------------------------------------- */

#define LORA_RANK 2
#define LORA_ALPHA 4.0f
/* Served (merged adapters) against the unmerged reference: float rounding of the merge. */
#define LORA_TOL 1e-5

/* The LoRA run's model rebuilt here without the server's code: the base file loaded, a LoRA
 * model of the run's settings, base tensors copied by name, then every tensor of the adapter
 * file by name (adapters keep PEFT's prefix, the head loses it); not merged, eval mode.
 * with_adapters 0 skips the adapters (B stays 0: the base with the trained head). */
static ml_settransformer *reference_lora(const char *base, const char *ckpt, int with_adapters) {
    ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    ml_settransformer *b = NULL, *st = NULL;
    CHECK_STATUS(ml_settransformer_load(&b, base, &lo), ML_OK);
    if (!b) return NULL;
    ml_settransformer_config cfg = *ml_settransformer_get_config(b);
    cfg.n_classes = 2;
    cfg.max_sets = 16;
    cfg.max_set_tokens = ST_MAX_OTUS;
    cfg.max_tokens = 16 * ST_MAX_OTUS;
    cfg.has_grad = 0;
    cfg.lora_rank = LORA_RANK;
    cfg.lora_alpha = LORA_ALPHA;
    cfg.lora_targets = ML_LORA_ALL;
    cfg.lora_dropout = 0.1f;
    CHECK_STATUS(ml_settransformer_new(&st, &cfg), ML_OK);
    for (size_t i = 0; st && i < ml_settransformer_n_tensors(b); i++) {
        ml_nn_tensor t;
        float *dst = NULL;
        size_t n = 0;
        CHECK_STATUS(ml_settransformer_tensor(b, i, &t), ML_OK);
        CHECK_STATUS(ml_settransformer_param(st, t.name, &dst, &n), ML_OK);
        if (dst && n == t.numel) memcpy(dst, t.data, n * sizeof *dst);
    }
    ml_settransformer_free(b);
    char path[800];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", ckpt);
    ml_safetensors *sf = NULL;
    CHECK_STATUS(ml_safetensors_open(&sf, path), ML_OK);
    const char *prefix = "base_model.model.", *head = "base_model.model.classifier.";
    for (size_t i = 0; st && sf && i < ml_safetensors_n_tensors(sf); i++) {
        const ml_tensor_view *v = ml_safetensors_tensor(sf, i);
        int is_head = strncmp(v->name, head, strlen(head)) == 0;
        if (!is_head && !with_adapters) continue;
        float *dst = NULL;
        size_t n = 0;
        CHECK_STATUS(ml_settransformer_param(st, is_head ? v->name + strlen(prefix) : v->name,
                                             &dst, &n), ML_OK);
        CHECK_EQ_INT(ml_tensor_view_n_elements(v), n);
        if (dst && ml_tensor_view_n_elements(v) == n)
            CHECK_STATUS(ml_safetensors_read_f32(v, dst), ML_OK);
    }
    ml_safetensors_close(sf);
    if (st) ml_settransformer_set_training(st, 0);
    return st;
}

static void copy_file(const char *from, const char *to) {
    char *bytes = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(from, 1u << 26, &bytes, &len), ML_OK);
    CHECK_STATUS(ml__file_write_atomic(to, bytes, len, 0644), ML_OK);
    free(bytes);
}

/* A folder holding a copy of base named name, with (manifest) a MANIFEST. Returns its path. */
static char *base_copy(const char *base, const char *folder, const char *name, int manifest) {
    char *dir = tmp_path(folder);
    static char file[4][900];
    static int k;
    k = (k + 1) % 4;
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(file[k], sizeof file[k], "%s/%s", dir, name);
    copy_file(base, file[k]);
    if (manifest) CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    return file[k];
}

static void check_lora_predictions(const cohort *c, ml_serve_model *m, const double *want) {
    char *body = otu_request(c);
    ml_serve_outcome out;
    json_t *doc = m ? predict(m, body, c->t, &out) : NULL;
    CHECK_EQ_INT(out.http_status, 200);
    for (size_t i = 0; doc && i < ml_table_n_samples(c->t); i++)
        CHECK_NEAR(pred_num(doc, i, "probability"), want[i], LORA_TOL);
    json_decref(doc);
    ml_serve_outcome_clear(&out);
    free(body);
}

static void test_serve__lora_equals_unmerged_forward(void) {
    cohort c = {0};
    make_cohort(&c, "cohort-lora", 42);
    ml_train_options o = st_options(&c);
    ml_train_result r;
    CHECK_STATUS(ml_train(tmp_path("run-lora-base"), c.t, c.j, &o, &r), ML_OK);
    char base[900], ckpt[800];
    snprintf(base, sizeof base, "%s/%s/model.safetensors", tmp_path("run-lora-base"),
             r.last_checkpoint);
    o.init_path = base;
    o.st.lora_rank = LORA_RANK;
    o.st.lora_alpha = LORA_ALPHA;
    o.st.lora_targets = ML_LORA_ALL;
    o.st.lora_dropout = 0.1f;
    o.steps = 6;
    o.lr = 0.05;
    CHECK_STATUS(ml_train(tmp_path("run-lora-all"), c.t, c.j, &o, &r), ML_OK);
    snprintf(ckpt, sizeof ckpt, "%s/%s", tmp_path("run-lora-all"), r.last_checkpoint);
    size_t ns = ml_table_n_samples(c.t);
    double *want = calloc(ns, sizeof *want), *bare = calloc(ns, sizeof *bare);
    ml_settransformer *ref = reference_lora(base, ckpt, 1);
    ml_settransformer *no_ad = reference_lora(base, ckpt, 0);
    if (ref && no_ad) {
        forward_st(&c, ref, want);
        forward_st(&c, no_ad, bare);
    }
    double moved = 0; /* the adapters must matter, or the comparison below proves little */
    for (size_t i = 0; i < ns; i++) moved = fmax(moved, fabs(want[i] - bare[i]));
    CHECK(moved > 100 * LORA_TOL);
    ml_serve_model_options so = ML_SERVE_MODEL_OPTIONS_INIT;
    so.id_key = g_key;
    so.otu_vectors = c.vectors;
    so.base_weights = base;
    ml_serve_model *m = load(ckpt, &so);
    check_lora_predictions(&c, m, want);
    char manifest[900], want_sha[72];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", ckpt);
    const char *files[] = {manifest, base};
    sha256_hex(files, 2, want_sha); /* the base is part of the model's identity */
    if (m) CHECK_STR(ml_serve_model_sha256(m), want_sha);
    json_t *info = m ? info_of(m) : NULL;
    json_t *lora = json_object_get(json_object_get(info, "model"), "lora");
    CHECK_STR(info_str(info, "kind"), "settransformer");
    CHECK_STR(json_string_value(json_object_get(lora, "base_weights")), "model.safetensors");
    CHECK_EQ_INT(json_integer_value(json_object_get(lora, "r")), LORA_RANK);
    json_decref(info);
    ml_serve_model_release(m);
    /* a signature required: the checkpoint signed is not enough, the base's folder must be */
    char *key = tmp_path("lora-signing.key"), pub[800], base_dir[900];
    snprintf(pub, sizeof pub, "%s.pub", key);
    snprintf(base_dir, sizeof base_dir, "%s", base);
    *strrchr(base_dir, '/') = '\0';
    CHECK_STATUS(ml_signing_key_generate(key), ML_OK);
    CHECK_STATUS(ml_manifest_sign(ckpt, key), ML_OK);
    so.verify.require_signature = true;
    so.verify.pubkey_path = pub;
    m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("run-lora-base"); /* the base's folder, not the checkpoint */
    CHECK_STATUS(ml_manifest_sign(base_dir, key), ML_OK);
    m = load(ckpt, &so);
    check_lora_predictions(&c, m, want);
    ml_serve_model_release(m);
    so.verify.require_signature = false;
    /* another file: refused by name, both names in the message */
    so.base_weights = base_copy(base, "base-other", "other.safetensors", 1);
    m = (ml_serve_model *)0x1;
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINVAL);
    CHECK_ERR_CONTAINS("other.safetensors");
    CHECK_ERR_CONTAINS("\"model.safetensors\"");
    /* the right name without a MANIFEST, then with a byte changed after its MANIFEST */
    so.base_weights = base_copy(base, "base-bare", "model.safetensors", 0);
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("microlens manifest");
    so.base_weights = base_copy(base, "base-tampered", "model.safetensors", 1);
    FILE *f = fopen(so.base_weights, "r+b");
    if (f) {
        fseek(f, -3, SEEK_END);
        int b = fgetc(f);
        fseek(f, -3, SEEK_END);
        fputc(b ^ 1, f);
        fclose(f);
    }
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    CHECK(m == (ml_serve_model *)0x1);
    /* the right name, other content, and a MANIFEST that matches it: refused by the SHA-256
     * that training recorded in preprocess.json */
    so.base_weights = base_copy(base, "base-swapped", "model.safetensors", 0);
    f = fopen(so.base_weights, "r+b");
    if (f) {
        fseek(f, -3, SEEK_END);
        int b = fgetc(f);
        fseek(f, -3, SEEK_END);
        fputc(b ^ 1, f);
        fclose(f);
    }
    char swapped_dir[900];
    snprintf(swapped_dir, sizeof swapped_dir, "%s", so.base_weights);
    *strrchr(swapped_dir, '/') = '\0';
    CHECK_STATUS(ml_manifest_write(swapped_dir), ML_OK);
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("not the base weights this LoRA checkpoint was trained over");
    CHECK(m == (ml_serve_model *)0x1);
    /* base weights for a checkpoint that is not LoRA: a mistake, said so */
    so.base_weights = base;
    snprintf(ckpt, sizeof ckpt, "%s", base_dir);
    CHECK_STATUS(ml_serve_model_load(&m, ckpt, &so), ML_EINVAL);
    CHECK_ERR_CONTAINS("not a LoRA checkpoint");
    ml_settransformer_free(ref);
    ml_settransformer_free(no_ad);
    free(want);
    free(bare);
    free_cohort(&c);
}

/* ---- Reference count and concurrent use ----------------------------------------------------- */

typedef struct job {
    ml_serve_model *m;
    const char *body;
    const char *want; /* the single-threaded body */
    int mismatches;
} job;

static void *worker_main(void *arg) {
    job *jb = arg;
    ml_serve_model *m = jb->m; /* retained for this thread by its creator */
    for (int k = 0; k < ROUNDS_PER_THREAD; k++) {
        ml_serve_outcome out;
        if (ml_serve_predict(m, jb->body, strlen(jb->body), &out) != ML_OK ||
            !out.body || strcmp(out.body, jb->want) != 0)
            jb->mismatches++;
        ml_serve_outcome_clear(&out);
    }
    ml_serve_model_release(m);
    return NULL;
}

static void test_serve__refcount_and_threads(void) {
    data d = {0};
    make_data(&d, 2);
    ml_train_options o = mlp_options();
    char *run = tmp_path("run-threads");
    ml_train_result r;
    CHECK_STATUS(ml_train(run, d.t, d.j, &o, &r), ML_OK);
    char ckpt[800];
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, r.last_checkpoint);
    ml_serve_model *m = load(ckpt, NULL);
    if (!m) {
        free_data(&d);
        return;
    }
    CHECK(ml_serve_model_retain(m) == m);
    ml_serve_model_release(m); /* back to 1: still usable */
    char *body = request_for(d.t, 10, 0);
    ml_serve_outcome ref;
    CHECK_STATUS(ml_serve_predict(m, body, strlen(body), &ref), ML_OK);
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int k = 0; k < N_THREADS; k++) {
        jobs[k] = (job){ml_serve_model_retain(m), body, ref.body, 0};
        CHECK(pthread_create(&th[k], NULL, worker_main, &jobs[k]) == 0);
    }
    ml_serve_model_release(m); /* the threads' references keep it alive */
    for (int k = 0; k < N_THREADS; k++) {
        pthread_join(th[k], NULL);
        CHECK_EQ_INT(jobs[k].mismatches, 0);
    }
    ml_serve_model_release(NULL);
    ml_serve_outcome_clear(&ref);
    ml_serve_outcome_clear(NULL);
    free(body);
    free_data(&d);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ml_test_serve_XXXXXX");
    if (!mkdtemp(tmp_root)) return 1;
    CHECK_STATUS(ml_pseudonym_key_from_secret(&g_key, "00112233445566778899aabbccddeeff"),
                 ML_OK);
    RUN(test_serve__bundle_equals_bundle_predict);
    RUN(test_serve__bundle_svm_log_topk);
    RUN(test_serve__bundle_manifest_and_signature);
    RUN(test_serve__mlp_checkpoint_equals_mlp_forward);
    RUN(test_serve__mlp_multiclass_probabilities);
    RUN(test_serve__checkpoint_refusals);
    RUN(test_serve__settransformer_equals_forward);
    RUN(test_serve__lora_equals_unmerged_forward);
    RUN(test_serve__refcount_and_threads);
    ml_pseudonym_key_free(g_key);
    ml_test_remove_tree(tmp_root);
    TEST_MAIN_END();
}
