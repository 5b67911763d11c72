/* model.c - loading a model folder for serving: tell a bundle from a train checkpoint, verify
 * its MANIFEST (and signature) before reading anything else, load the weights and the
 * preprocessing, and describe the result for GET /v1/model; plus the atomic reference count.
 * Scoring lives in predict.c, request bodies in request.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/safetensors.h"
#include "serve/model.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/sha256.h"

#define PATH_MAX_BYTES 4096
#define CARD_NAME "card.json"
#define WEIGHTS_NAME "model.safetensors"
#define STATE_NAME "trainer_state.json"
#define ADAPTER_NAME "adapter_model.safetensors"
#define ADAPTER_CONFIG_NAME "adapter_config.json"
/* The JSON files of a model folder are KBs to a few MB (a card or preprocess.json lists the
 * features); anything this large is not one of ours. */
#define JSON_MAX_BYTES (256u * 1024u * 1024u)

/* What verification found, for the info body. */
typedef struct provenance {
    const char *manifest;  /* "verified" or "absent" (bundles only) */
    const char *signature; /* "verified", "unchecked" (present, no public key), "unsigned" */
} provenance;

static ml_status join(char dst[PATH_MAX_BYTES], const char *dir, const char *name) {
    int n = snprintf(dst, PATH_MAX_BYTES, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX_BYTES)
        return ML_FAIL(ML_EINVAL, "model folder path is too long (expected < %d bytes)",
                       PATH_MAX_BYTES - 32);
    return ML_OK;
}

static int has_file(const char *dir, const char *name) {
    char p[PATH_MAX_BYTES];
    struct stat sb;
    return join(p, dir, name) == ML_OK && lstat(p, &sb) == 0;
}

static ml_status read_json(json_t **out, const char *dir, const char *name) {
    char p[PATH_MAX_BYTES];
    ML_TRY(join(p, dir, name));
    char *text = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(p, JSON_MAX_BYTES, &text, &len));
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ML_FAIL(ML_EFORMAT, "%s: not a JSON object (%s)", p, doc ? "other value" : err.text);
    }
    *out = doc;
    return ML_OK;
}

/* ---- Verification and checksum --------------------------------------------------------------- */

static const char *signature_word(ml_signature_state s) {
    return s == ML_SIGNATURE_VALID ? "verified" : s == ML_SIGNATURE_UNCHECKED ? "unchecked"
                                                                              : "unsigned";
}

/* Checkpoints need a MANIFEST; a bundle is checked when it has one, and needs one when a
 * signature is required. */
static ml_status verify(const char *dir, int is_bundle, const ml_verify_options *vo,
                        provenance *pv) {
    pv->manifest = "absent";
    pv->signature = "unsigned";
    if (is_bundle && !has_file(dir, ML_MANIFEST_NAME)) {
        if (vo->require_signature)
            return ML_FAIL(ML_EINTEGRITY, "%s: a signature is required but the bundle has no "
                           "MANIFEST (run `microlens manifest %s`, then `microlens sign`)", dir,
                           dir);
        return ML_OK;
    }
    ml_verify_result r;
    ML_TRY(ml_checkpoint_verify(dir, vo, &r));
    pv->manifest = "verified";
    pv->signature = signature_word(r.signature);
    return ML_OK;
}

/* The MANIFEST's SHA-256, or for an unmanifested bundle that of card.json then
 * model.safetensors; for a LoRA checkpoint the MANIFEST then the base weights file (base),
 * since the checkpoint's MANIFEST does not cover the base the predictions depend on. */
static ml_status checksum(ml_serve_model *m, const char *dir, int has_manifest,
                          const char *base) {
    char a[PATH_MAX_BYTES], b[PATH_MAX_BYTES];
    ML_TRY(join(a, dir, has_manifest ? ML_MANIFEST_NAME : CARD_NAME));
    ML_TRY(join(b, dir, WEIGHTS_NAME));
    unsigned char d[ML__SHA256_BYTES];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int dl = 0;
    errno = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             ml__sha256_update_file(md, a) && (has_manifest || ml__sha256_update_file(md, b)) &&
             (!base || ml__sha256_update_file(md, base)) && EVP_DigestFinal_ex(md, d, &dl) == 1 &&
             dl == ML__SHA256_BYTES;
    EVP_MD_CTX_free(md);
    if (!ok) return ML_FAIL(ML_EIO, "%s: cannot hash the model files (%s)", dir, strerror(errno));
    ml__sha256_tag(m->sha256, d);
    return ML_OK;
}

/* ---- Classes and the feature index ----------------------------------------------------------- */

static ml_status set_classes(ml_serve_model *m, const char *const *names, size_t n) {
    m->classes = calloc(n, sizeof *m->classes);
    m->class_json = calloc(n, sizeof *m->class_json);
    if (!m->classes || !m->class_json) return ML_NOMEM();
    m->n_classes = n;
    for (size_t k = 0; k < n; k++) {
        json_t *s = json_string(names[k]);
        m->classes[k] = strdup(names[k]);
        m->class_json[k] = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        if (!m->classes[k] || !m->class_json[k]) return ML_NOMEM();
    }
    return ML_OK;
}

static ml_status index_features(ml_serve_model *m, const char *(*id_of)(const void *, size_t),
                                const void *src) {
    for (size_t k = 0; k < m->n_inputs; k++) {
        const char *id = id_of(src, k);
        size_t dup;
        ML_TRY(ml__strmap_put(&m->index, id, strlen(id), k, &dup));
    }
    return ML_OK;
}

static const char *bundle_feature(const void *b, size_t k) {
    return ml_model_bundle_feature_id(b, k);
}

static const char *transform_feature(const void *tf, size_t k) {
    return ml_transform_output_feature_id(tf, k);
}

/* ---- Bundles --------------------------------------------------------------------------------- */

static ml_status load_bundle(ml_serve_model *m, const char *dir, json_t **card) {
    char p[PATH_MAX_BYTES];
    ML_TRY(join(p, dir, CARD_NAME));
    ML_TRY(ml_model_bundle_load(&m->bundle, dir));
    ML_TRY(read_json(card, dir, CARD_NAME));
    json_t *c = json_object_get(*card, "classes");
    const char *names[2] = {json_string_value(json_array_get(c, 0)),
                            json_string_value(json_array_get(c, 1))};
    if (!names[0] || !names[1]) /* the bundle loader checked it: the file changed since */
        return ML_FAIL(ML_EFORMAT, "%s: classes: expected 2 class names", p);
    ML_TRY(set_classes(m, names, 2));
    m->kind = ML__SERVE_BUNDLE;
    m->n_inputs = ml_model_bundle_n_features(m->bundle);
    m->threshold = ml_model_bundle_threshold(m->bundle);
    const char *kind = json_string_value(json_object_get(json_object_get(*card, "model"), "kind"));
    m->has_probability = !kind || strcmp(kind, "svm") != 0;
    return index_features(m, bundle_feature, m->bundle);
}

static json_t *bundle_training(json_t *card) {
    const char *keys[] = {"cv", "tuning", "n_samples", "n_positive", "data_fingerprint"};
    json_t *t = json_object();
    for (size_t k = 0; t && k < sizeof keys / sizeof *keys; k++) {
        json_t *v = json_object_get(card, keys[k]);
        json_object_set(t, keys[k], v ? v : json_null());
    }
    return t;
}

/* ---- Train checkpoints ----------------------------------------------------------------------- */

/* A LoRA checkpoint holds adapters and the head, not the base weights it was trained over:
 * without them named, refused saying which file is needed. */
static ml_status refuse_lora(const char *dir) {
    json_t *cfg = NULL;
    const char *base = NULL;
    if (read_json(&cfg, dir, "adapter_config.json") == ML_OK)
        base = json_string_value(json_object_get(cfg, "base_model_name_or_path"));
    char shown[128];
    snprintf(shown, sizeof shown, "%s", base ? base : "unknown");
    json_decref(cfg);
    return ML_FAIL(ML_EUNSUPPORTED, "%s: a LoRA adapter checkpoint holds the adapters and the "
                   "head, not the base weights \"%s\" it was trained over: pass --base-weights "
                   "FILE (serve option base_weights) naming that file, with its MANIFEST beside "
                   "it", dir, shown);
}

static ml_status read_preprocess(ml_serve_model *m, const char *dir) {
    char p[PATH_MAX_BYTES];
    ML_TRY(join(p, dir, ML__PREPROCESS_NAME));
    if (!has_file(dir, ML__PREPROCESS_NAME))
        return ML_FAIL(ML_EUNSUPPORTED, "%s: missing: the checkpoint predates recorded "
                       "preprocessing, so its inputs cannot be rebuilt (train it again)", p);
    char *text = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(p, JSON_MAX_BYTES, &text, &len));
    ml_status st = ml__preprocess_parse(&m->pp, text, len, p);
    free(text);
    ML_TRY(st);
    return set_classes(m, m->pp.classes, m->pp.n_classes);
}

/* Layer l's weight (out, in) and bias (out), F32 or another float type. */
static ml_status mlp_layer(const char *path, const ml_safetensors *sf, size_t l, size_t in,
                           size_t *out) {
    char wn[48], bn[48];
    snprintf(wn, sizeof wn, "layers.%zu.weight", l);
    snprintf(bn, sizeof bn, "layers.%zu.bias", l);
    const ml_tensor_view *w = ml_safetensors_find(sf, wn), *b = ml_safetensors_find(sf, bn);
    if (!w || !b || w->n_dims != 2 || b->n_dims != 1 || w->shape[1] != in ||
        b->shape[0] != w->shape[0] || w->shape[0] == 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s / %s missing or misshapen (expected [out, %zu] and "
                       "[out])", path, wn, bn, in);
    *out = w->shape[0];
    return ML_OK;
}

/* Sizes from the shapes: layers.0 .. layers.L, inputs = the preprocess features. */
static ml_status mlp_config(const char *path, const ml_safetensors *sf, size_t d_in,
                            size_t n_classes, ml_mlp_config *c) {
    size_t n_t = ml_safetensors_n_tensors(sf), n_layers = n_t / 2, in = d_in, out = 0;
    if (n_t % 2 != 0 || n_layers == 0 || n_layers > ML_NN_MLP_MAX_HIDDEN + 1)
        return ML_FAIL(ML_EFORMAT, "%s: %zu tensors (expected layers.{i}.weight and .bias for "
                       "1 to %d layers)", path, n_t, ML_NN_MLP_MAX_HIDDEN + 1);
    *c = (ml_mlp_config)ML_MLP_CONFIG_INIT;
    for (size_t l = 0; l < n_layers; l++, in = out) {
        ML_TRY(mlp_layer(path, sf, l, in, &out));
        if (l + 1 < n_layers) c->hidden[l] = out;
    }
    if (out != n_classes)
        return ML_FAIL(ML_EFORMAT, "%s: the last layer has %zu outputs, preprocess.json %zu "
                       "classes", path, out, n_classes);
    c->d_in = d_in;
    c->n_hidden = n_layers - 1;
    c->n_classes = n_classes;
    c->max_batch = ML__SERVE_CHUNK;
    c->has_grad = 0;
    return ML_OK;
}

static ml_status mlp_fill(const char *path, const ml_safetensors *sf, ml_mlp *mlp) {
    for (size_t i = 0; i < ml_mlp_n_tensors(mlp); i++) {
        ml_nn_tensor t;
        ML_TRY(ml_mlp_tensor(mlp, i, &t));
        const ml_tensor_view *v = ml_safetensors_find(sf, t.name);
        ML_TRY(ml_safetensors_read_f32(v, t.data));
        for (size_t k = 0; k < t.numel; k++)
            if (!isfinite(t.data[k]))
                return ML_FAIL(ML_EFORMAT, "%s: %s[%zu] is not finite", path, t.name, k);
    }
    return ML_OK;
}

static ml_status load_mlp(ml_serve_model *m, const char *dir) {
    char p[PATH_MAX_BYTES];
    ML_TRY(join(p, dir, WEIGHTS_NAME));
    ml_safetensors *sf = NULL;
    ml_mlp_config c;
    m->kind = ML__SERVE_MLP;
    m->has_probability = 1;
    m->threshold = 0.5;
    m->n_inputs = ml_transform_n_outputs(m->pp.tf);
    ml_status st = ml_safetensors_open(&sf, p);
    if (st == ML_OK) st = mlp_config(p, sf, m->n_inputs, m->n_classes, &c);
    if (st == ML_OK) st = ml_mlp_new(&m->mlp, &c);
    if (st == ML_OK) st = mlp_fill(p, sf, m->mlp);
    ml_safetensors_close(sf);
    ML_TRY(st);
    return index_features(m, transform_feature, m->pp.tf);
}

static ml_status load_vectors(ml_serve_model *m, const char *path) {
    if (!path)
        return ML_FAIL(ML_EINVAL, "a set-transformer checkpoint needs its OTU vectors "
                       "(otu_vectors: the file it was trained with)");
    ML_TRY(ml_otuvec_read(&m->vectors, path));
    char fp[ML__OTUVEC_FINGERPRINT_SIZE];
    ML_TRY(ml__otuvec_fingerprint(m->vectors, fp));
    if (strcmp(fp, m->pp.otuvec_sha256) != 0)
        return ML_FAIL(ML_EINVAL, "%s: not the OTU vectors the model was trained with "
                       "(fingerprint %s, preprocess.json records %s for %zu vectors of %zu)",
                       path, fp, m->pp.otuvec_sha256, m->pp.otuvec_count, m->pp.otuvec_dim);
    return ML_OK;
}

/* Batch limits of the serving model: ML__SERVE_SET_CHUNK sets of up to max_otus OTUs. */
static void serving_sizes(const ml_serve_model *m, ml_settransformer_config *c) {
    *c = (ml_settransformer_config)ML_SETTRANSFORMER_CONFIG_INIT;
    c->d_in = m->n_inputs;
    c->n_classes = m->n_classes;
    c->max_sets = ML__SERVE_SET_CHUNK;
    c->max_set_tokens = m->max_otus;
    c->max_tokens = ML__SERVE_SET_CHUNK * m->max_otus;
}

/* Full weights from model.safetensors, or (base given) a LoRA checkpoint over those. */
static ml_status load_settransformer(ml_serve_model *m, const char *dir,
                                     const ml_serve_model_options *o, const char *base) {
    char p[PATH_MAX_BYTES];
    ML_TRY(join(p, dir, base ? ADAPTER_NAME : WEIGHTS_NAME));
    ML_TRY(load_vectors(m, o->otu_vectors));
    m->kind = ML__SERVE_SETTRANSFORMER;
    m->has_probability = 1;
    m->threshold = 0.5;
    m->max_otus = m->pp.max_otus;
    m->n_inputs = ml_otuvec_dim(m->vectors);
    ml_settransformer_config sizes;
    serving_sizes(m, &sizes);
    if (base) {
        ML_TRY(ml__serve_lora_load(&m->st, dir, base, m->pp.base_sha256, &o->verify, &sizes,
                                   &m->lora_base));
    } else {
        ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
        lo.max_sets = sizes.max_sets;
        lo.max_set_tokens = sizes.max_set_tokens;
        lo.max_tokens = sizes.max_tokens;
        ML_TRY(ml_settransformer_load(&m->st, p, &lo));
    }
    const ml_settransformer_config *c = ml_settransformer_get_config(m->st);
    if (c->d_in != m->n_inputs || c->n_classes != m->n_classes)
        return ML_FAIL(ML_EFORMAT, "%s: d_in %zu and %zu classes, expected %zu (the OTU "
                       "vectors) and %zu (preprocess.json)", p, c->d_in, c->n_classes,
                       m->n_inputs, m->n_classes);
    return ML_OK;
}

static ml_status load_checkpoint(ml_serve_model *m, const char *dir,
                                 const ml_serve_model_options *o) {
    int lora = has_file(dir, ADAPTER_NAME) || has_file(dir, ADAPTER_CONFIG_NAME);
    if (lora && !o->base_weights) return refuse_lora(dir);
    if (!lora && o->base_weights)
        return ML_FAIL(ML_EINVAL, "%s: base weights given (%s) but the folder is not a LoRA "
                       "checkpoint (no " ADAPTER_NAME ")", dir, o->base_weights);
    ML_TRY(read_preprocess(m, dir));
    if (lora && m->pp.model != ML_TRAIN_SETTRANSFORMER)
        return ML_FAIL(ML_EFORMAT, "%s: a LoRA checkpoint whose preprocess.json is not a set "
                       "transformer's", dir);
    return m->pp.model == ML_TRAIN_MLP ? load_mlp(m, dir)
                                       : load_settransformer(m, dir, o,
                                                             lora ? o->base_weights : NULL);
}

/* The last log_history entries with a training loss and with a validation loss. */
static json_t *checkpoint_training(const char *dir) {
    json_t *state = NULL;
    if (read_json(&state, dir, STATE_NAME) != ML_OK) return json_null();
    json_t *hist = json_object_get(state, "log_history"), *loss = NULL, *eval = NULL, *e;
    for (size_t k = json_array_size(hist); k-- > 0 && (!loss || !eval);) {
        e = json_array_get(hist, k);
        if (!loss && json_object_get(e, "loss")) loss = e;
        if (!eval && json_object_get(e, "eval_loss")) eval = e;
    }
    json_t *t = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "global_step",
                          json_object_get(state, "global_step"), "epoch",
                          json_object_get(state, "epoch"), "loss", json_object_get(loss, "loss"),
                          "val_loss", json_object_get(eval, "eval_loss"), "val_roc_auc",
                          json_object_get(eval, "eval_roc_auc"), "best_metric",
                          json_object_get(state, "best_metric"));
    json_decref(state);
    return t ? t : json_null();
}

/* ---- GET /v1/model --------------------------------------------------------------------------- */

/* The folder's own name, with its run's name for a checkpoint (RUN/checkpoints/step-N ->
 * "RUN/step-N"): never the absolute path. */
static void model_name(const char *path, char *dst, size_t cap) {
    char p[PATH_MAX_BYTES];
    snprintf(p, sizeof p, "%s", path);
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--) p[n - 1] = '\0';
    char *last = strrchr(p, '/');
    const char *leaf = last ? last + 1 : p;
    const char *run = NULL;
    if (last && last > p) {
        *last = '\0';
        char *prev = strrchr(p, '/');
        if (strcmp(prev ? prev + 1 : p, "checkpoints") == 0 && prev && prev > p) {
            *prev = '\0';
            char *r = strrchr(p, '/');
            run = r ? r + 1 : p;
        }
    }
    if (!*leaf || strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0) leaf = "model";
    snprintf(dst, cap, "%s%s%s", run ? run : "", run ? "/" : "", leaf);
}

static json_t *file_sizes(const char *dir) {
    json_t *s = json_object();
    DIR *d = opendir(dir);
    json_int_t total = 0;
    struct dirent *e;
    while (s && d && (e = readdir(d)) != NULL) {
        char p[PATH_MAX_BYTES];
        struct stat sb;
        if (join(p, dir, e->d_name) != ML_OK || lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        json_object_set_new(s, e->d_name, json_integer((json_int_t)sb.st_size));
        total += (json_int_t)sb.st_size;
    }
    if (d) closedir(d);
    if (s) json_object_set_new(s, "total", json_integer(total));
    return s;
}

static const char *kind_word(ml__serve_kind k) {
    return k == ML__SERVE_BUNDLE ? "bundle" : k == ML__SERVE_MLP ? "mlp" : "settransformer";
}

static json_t *kind_details(const ml_serve_model *m, json_t *card) {
    if (m->kind == ML__SERVE_BUNDLE)
        return json_pack("{s:O?, s:O?, s:s}", "classifier", json_object_get(card, "model"),
                         "transform", json_object_get(card, "transform"), "score",
                         m->has_probability ? "probability of the positive class"
                                            : "decision value");
    if (m->kind == ML__SERVE_MLP)
        return json_pack("{s:O?, s:s}", "transform", json_object_get(m->pp.doc, "transform"),
                         "score", "probability of the positive class (the last class)");
    const ml_settransformer_config *c = ml_settransformer_get_config(m->st);
    json_t *lora = m->lora_base ? json_pack("{s:s, s:I, s:f, s:o}", "base_weights",
                                            m->lora_base, "r", (json_int_t)c->lora_rank,
                                            "lora_alpha", (double)c->lora_alpha, "merged",
                                            json_true())
                                : json_null();
    return json_pack("{s:O?, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:o?, s:s}", "otu_vectors",
                     json_object_get(m->pp.doc, "otu_vectors"), "max_otus",
                     (json_int_t)m->max_otus, "architecture", "d_in", (json_int_t)c->d_in,
                     "d_model", (json_int_t)c->d_model, "n_layers", (json_int_t)c->n_layers,
                     "n_heads", (json_int_t)c->n_heads, "d_ff", (json_int_t)c->d_ff, "lora",
                     lora, "score",
                     "probability of the positive class (the last class)");
}

static ml_status make_info(ml_serve_model *m, const char *dir, json_t *card,
                           const provenance *pv) {
    char name[256];
    model_name(dir, name, sizeof name);
    json_t *classes = json_array();
    for (size_t k = 0; classes && k < m->n_classes; k++)
        json_array_append_new(classes, json_string(m->classes[k]));
    const char *pos = m->kind == ML__SERVE_BUNDLE ? m->classes[1] : m->pp.positive;
    size_t n_features = m->kind == ML__SERVE_SETTRANSFORMER ? ml_otuvec_count(m->vectors)
                                                            : m->n_inputs;
    json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:o, s:s?, s:o, s:o, s:s, s:s, s:s, s:o, "
                            "s:o}", "kind", kind_word(m->kind), "name", name, "n_features",
                            (json_int_t)n_features, "n_classes", (json_int_t)m->n_classes,
                            "classes", classes, "positive_class", pos, "threshold",
                            m->n_classes == 2 ? json_real(m->threshold) : json_null(),
                            "sizes", file_sizes(dir), "sha256", m->sha256, "manifest",
                            pv->manifest, "signature", pv->signature, "model",
                            kind_details(m, card), "training",
                            card ? bundle_training(card) : checkpoint_training(dir));
    m->info_json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return m->info_json ? ML_OK : ML_NOMEM();
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

static void model_free(ml_serve_model *m) {
    if (!m) return;
    ml__serve_pool_free(m->pool);
    for (size_t k = 0; k < m->n_classes; k++) {
        free(m->classes[k]);
        free(m->class_json[k]);
    }
    free(m->classes);
    free(m->class_json);
    free(m->info_json);
    ml__strmap_free(&m->index);
    ml_model_bundle_free(m->bundle);
    ml_mlp_free(m->mlp);
    ml_settransformer_free(m->st);
    free(m->lora_base);
    ml_otuvec_free(m->vectors);
    ml__preprocess_free(&m->pp);
    free(m);
}

static ml_status check_options(const char *path, const ml_serve_model_options *o) {
    if (!o || o->version != ML_SERVE_MODEL_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "serve model options: unknown version (expected %d; start "
                       "from ML_SERVE_MODEL_OPTIONS_INIT)", ML_SERVE_MODEL_OPTIONS_VERSION);
    if (!path) return ML_FAIL(ML_EINVAL, "serve model: a model folder is required");
    if (!o->id_key)
        return ML_FAIL(ML_EINVAL, "serve model options: id_key is required (pseudonyms of the "
                       "sample IDs echoed in responses)");
    if (o->max_samples == 0)
        return ML_FAIL(ML_EINVAL, "serve model options: max_samples must be >= 1");
    return ML_OK;
}

/* What path is: a bundle (1), a checkpoint (0), or refused. */
static ml_status classify_folder(const char *path, int *is_bundle) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: %s (expected a model "
                       "folder)", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ML_FAIL(ML_EINVAL, "%s: not a folder (expected a model bundle or a checkpoint "
                       "folder)", path);
    if (has_file(path, "run.sqlite"))
        return ML_FAIL(ML_EINVAL, "%s: a training run's folder (expected one of its "
                       "checkpoints, e.g. %s/checkpoints/step-N)", path, path);
    *is_bundle = has_file(path, CARD_NAME);
    if (!*is_bundle && !has_file(path, ML_MANIFEST_NAME) && !has_file(path, WEIGHTS_NAME) &&
        !has_file(path, "adapter_model.safetensors"))
        return ML_FAIL(ML_ENOTFOUND, "%s: neither card.json (a model bundle) nor a train "
                       "checkpoint (MANIFEST, model.safetensors)", path);
    return ML_OK;
}

static ml_status load_into(ml_serve_model *m, const char *path, const ml_serve_model_options *o) {
    int is_bundle = 0;
    provenance pv;
    ML_TRY(classify_folder(path, &is_bundle));
    ML_TRY(verify(path, is_bundle, &o->verify, &pv)); /* before anything is parsed */
    json_t *card = NULL;
    ml_status st = is_bundle ? load_bundle(m, path, &card) : load_checkpoint(m, path, o);
    if (st == ML_OK)
        st = checksum(m, path, strcmp(pv.manifest, "verified") == 0,
                      m->lora_base ? o->base_weights : NULL);
    if (st == ML_OK) st = make_info(m, path, card, &pv);
    json_decref(card);
    if (st == ML_OK) st = ml__serve_pool_new(m);
    return st;
}

ml_status ml_serve_model_load(ml_serve_model **out, const char *path,
                              const ml_serve_model_options *o) {
    ML_TRY(check_options(path, o));
    ml_serve_model *m = calloc(1, sizeof *m);
    if (!m) return ML_NOMEM();
    atomic_init(&m->refs, 1);
    m->key = o->id_key;
    m->max_samples = o->max_samples;
    m->index = (ml__strmap)ML__STRMAP_INIT;
    ml_status st = load_into(m, path, o);
    if (st != ML_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return ML_OK;
}

ml_serve_model *ml_serve_model_retain(ml_serve_model *m) {
    if (m) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void ml_serve_model_release(ml_serve_model *m) {
    /* acq_rel: the last releaser sees every other thread's use of m before freeing it */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) model_free(m);
}

const char *ml_serve_model_sha256(const ml_serve_model *m) { return m->sha256; }

ml_status ml_serve_model_info_json(const ml_serve_model *m, char **json) {
    size_t n = strlen(m->info_json) + 1;
    char *s = malloc(n);
    if (!s) return ML_NOMEM();
    memcpy(s, m->info_json, n);
    *json = s;
    return ML_OK;
}
