/* lora.c - rebuilding a LoRA checkpoint's set transformer for serving: the checkpoint holds the
 * adapters and the classifier head (adapter_model.safetensors) and PEFT's adapter_config.json,
 * not the base weights; those come from a file the caller names, verified through the
 * MANIFEST beside it and matched by name against the one the checkpoint records. The model is
 * built as training built it (base tensors by name, then adapters and head by name), and the
 * adapters are merged: serving runs at base cost and, as PEFT's eval mode, without dropout.
 * The checkpoint folder itself was verified by model.c before this runs. */
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/manifest.h"
#include "microlens/safetensors.h"
#include "serve/model.h"
#include "train/preprocess.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/sha256.h"

#define ADAPTER_CONFIG_NAME "adapter_config.json"
#define ADAPTER_WEIGHTS_NAME "adapter_model.safetensors"
/* PEFT's prefix of every tensor in an adapter file (the wrapped model's state-dict names). */
#define LORA_PREFIX "base_model.model."
#define CLASSIFIER_PREFIX "classifier."
/* adapter_config.json is under a KB; anything this large is not one of ours. */
#define ADAPTER_CONFIG_MAX_BYTES (1u << 20)
/* Head counts beyond this are not a set transformer's (ml_settransformer_new caps sizes at
 * 2^24 too). */
#define MAX_HEADS (1u << 24)
#define PATH_BYTES 4096

typedef ml__serve_lora_config lora_config;

/* PEFT's target_modules names, as train's checkpoint writer spells them. */
static const struct {
    const char *name;
    unsigned bit;
} TARGETS[] = {{"q_proj", ML_LORA_Q},       {"k_proj", ML_LORA_K},
               {"v_proj", ML_LORA_V},       {"out_proj", ML_LORA_OUT},
               {"linear1", ML_LORA_LINEAR1}, {"linear2", ML_LORA_LINEAR2}};

static ml_status parse_targets(const char *path, json_t *arr, unsigned *bits) {
    *bits = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return ML_FAIL(ML_EFORMAT, "%s: target_modules: expected a non-empty list", path);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        unsigned bit = 0;
        for (size_t k = 0; s && k < sizeof TARGETS / sizeof *TARGETS; k++)
            if (strcmp(s, TARGETS[k].name) == 0) bit = TARGETS[k].bit;
        if (!bit)
            return ML_FAIL(ML_EFORMAT, "%s: target_modules[%zu]: expected one of q_proj, "
                           "k_proj, v_proj, out_proj, linear1, linear2", path, i);
        *bits |= bit;
    }
    return ML_OK;
}

static ml_status parse_config(const char *path, json_t *doc, lora_config *lc) {
    json_t *r = json_object_get(doc, "r"), *a = json_object_get(doc, "lora_alpha");
    json_t *dr = json_object_get(doc, "lora_dropout"), *pt = json_object_get(doc, "peft_type");
    json_t *base = json_object_get(doc, "base_model_name_or_path");
    if (pt && (!json_is_string(pt) || strcmp(json_string_value(pt), "LORA") != 0))
        return ML_FAIL(ML_EFORMAT, "%s: peft_type: expected \"LORA\"", path);
    if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > MAX_HEADS)
        return ML_FAIL(ML_EFORMAT, "%s: r: expected an integer >= 1", path);
    /* both are used as floats: a double past FLT_MAX would become inf, one just below 1
     * would round to 1.0f (dropout's 1 / (1 - p) is then infinite); the set transformer takes
     * only alpha > 0, refused here to name the file */
    if (!json_is_number(a) || !(json_number_value(a) > 0 && json_number_value(a) <= FLT_MAX))
        return ML_FAIL(ML_EFORMAT, "%s: lora_alpha: expected a positive number within float "
                       "range", path);
    if (dr && !(json_is_number(dr) && json_number_value(dr) >= 0 &&
                (float)json_number_value(dr) < 1.0f))
        return ML_FAIL(ML_EFORMAT, "%s: lora_dropout: expected a number in [0, 1)", path);
    if (!json_is_string(base) || json_string_length(base) == 0 ||
        json_string_length(base) >= sizeof lc->base_name)
        return ML_FAIL(ML_EFORMAT, "%s: base_model_name_or_path: expected the base weights' "
                       "file name (1 to %zu bytes); without it the base cannot be checked",
                       path, sizeof lc->base_name - 1);
    lc->r = (size_t)json_integer_value(r);
    lc->alpha = (float)json_number_value(a);
    lc->dropout = dr ? (float)json_number_value(dr) : 0.0f;
    snprintf(lc->base_name, sizeof lc->base_name, "%s", json_string_value(base));
    return parse_targets(path, json_object_get(doc, "target_modules"), &lc->targets);
}

ml_status ml__serve_lora_config_parse(ml__serve_lora_config *out, const char *text, size_t len,
                                      const char *name) {
    if (!out || !text || !name)
        return ML_FAIL(ML_EINVAL, "ml__serve_lora_config_parse: every argument is required");
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    ml_status st = json_is_object(doc) ? parse_config(name, doc, out)
                                       : ML_FAIL(ML_EFORMAT, "%s: not a JSON object (%s)", name,
                                                 doc ? "other value" : err.text);
    json_decref(doc);
    return st;
}

static ml_status read_config(const char *dir, lora_config *lc) {
    char p[PATH_BYTES];
    int n = snprintf(p, sizeof p, "%s/" ADAPTER_CONFIG_NAME, dir);
    if (n < 0 || (size_t)n >= sizeof p) return ML_FAIL(ML_EINVAL, "%s: path too long", dir);
    char *text = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(p, ADAPTER_CONFIG_MAX_BYTES, &text, &len));
    ml_status st = ml__serve_lora_config_parse(lc, text, len, p);
    free(text);
    return st;
}

static const char *file_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The base file is the one the adapters were trained over: same name as recorded (the
 * checkpoint keeps a name, never a path), and vouched for by the MANIFEST beside it. */
static ml_status check_base(const char *dir, const char *base_path, const char *base_sha256,
                            const lora_config *lc, const ml_verify_options *vo) {
    if (strcmp(file_name(base_path), lc->base_name) != 0)
        return ML_FAIL(ML_EINVAL, "%s: base weights \"%s\" are not the ones this LoRA "
                       "checkpoint was trained over (%s/" ADAPTER_CONFIG_NAME " records "
                       "base_model_name_or_path \"%s\")", base_path, file_name(base_path), dir,
                       lc->base_name);
    bool checked = false;
    ML_TRY(ml_weights_verify(base_path, vo, &checked));
    if (!checked)
        return ML_FAIL(ML_EINTEGRITY, "%s: no MANIFEST beside the base weights, so they cannot "
                       "be verified (run `microlens manifest` on their folder)", base_path);
    if (!base_sha256) return ML_OK; /* a checkpoint from before the record: name only */
    char got[ML__SHA256_TAG_SIZE];
    ML_TRY(ml__sha256_file(base_path, got));
    if (strcmp(got, base_sha256) != 0)
        return ML_FAIL(ML_EINTEGRITY, "%s: not the base weights this LoRA checkpoint was "
                       "trained over (content %s, %s/preprocess.json records %s)", base_path,
                       got, dir, base_sha256);
    return ML_OK;
}

/* The head count the run used, recorded in the adapter file's metadata; 0: unknown (the
 * base file's own "nhead" then decides). */
static ml_status recorded_heads(const char *path, const ml_safetensors *sf, size_t *n_heads) {
    const char *s = ml_safetensors_metadata_find(sf, "nhead");
    *n_heads = 0;
    if (!s) return ML_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > MAX_HEADS)
        return ML_FAIL(ML_EFORMAT, "%s: __metadata__ nhead: expected a positive integer", path);
    *n_heads = (size_t)v;
    return ML_OK;
}

/* Base tensors into the LoRA model by name, each of the same size. */
static ml_status copy_base(const char *base_path, ml_settransformer *base,
                           ml_settransformer *st) {
    for (size_t i = 0; i < ml_settransformer_n_tensors(base); i++) {
        ml_nn_tensor src;
        float *dst;
        size_t n;
        ML_TRY(ml_settransformer_tensor(base, i, &src));
        ML_TRY(ml_settransformer_param(st, src.name, &dst, &n));
        if (n != src.numel)
            return ML_FAIL(ML_EFORMAT, "%s: %s has %zu values, the checkpoint's model %zu "
                           "(another architecture or class count)", base_path, src.name,
                           src.numel, n);
        memcpy(dst, src.data, n * sizeof *dst);
    }
    return ML_OK;
}

/* One adapter-file tensor into model tensor t: exact shape, finite values. */
static ml_status read_tensor(const char *path, const ml_tensor_view *v, const char *name,
                             const ml_nn_tensor *t) {
    int same = v && v->n_dims == t->n_dims && v->shape[0] == t->shape[0] &&
               (t->n_dims < 2 || v->shape[1] == t->shape[1]);
    if (!same)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s %s (expected shape [%zu%s%zu])", path, name,
                       v ? "misshapen" : "missing", t->shape[0], t->n_dims > 1 ? ", " : "",
                       t->n_dims > 1 ? t->shape[1] : (size_t)0);
    ML_TRY(ml_safetensors_read_f32(v, t->data));
    for (size_t k = 0; k < t->numel; k++)
        if (!isfinite(t->data[k]))
            return ML_FAIL(ML_EFORMAT, "%s: %s[%zu] is not finite", path, name, k);
    return ML_OK;
}

/* The model's name for an adapter-file tensor: PEFT's prefix stays on adapters and comes off
 * the head (modules_to_save); NULL for anything else (training never saves a base tensor). */
static const char *model_name_of(const char *file_name) {
    static const char head[] = LORA_PREFIX CLASSIFIER_PREFIX;
    if (strncmp(file_name, head, strlen(head)) == 0) return file_name + strlen(LORA_PREFIX);
    if (strncmp(file_name, LORA_PREFIX, strlen(LORA_PREFIX)) == 0 && strstr(file_name, ".lora_"))
        return file_name;
    return NULL;
}

/* Adapters and head from the adapter file, by name; every tensor of the file must be one of
 * them (a file with other tensors is not what this model was trained as). */
static ml_status copy_adapters(const char *path, const ml_safetensors *sf, ml_settransformer *st) {
    size_t n = ml_safetensors_n_tensors(sf);
    for (size_t i = 0; i < n; i++) { /* names map one to one: then each is consumed below */
        const char *name = ml_safetensors_tensor(sf, i)->name, *local = model_name_of(name);
        float *d;
        size_t k;
        if (!local || ml_settransformer_param(st, local, &d, &k) != ML_OK)
            return ML_FAIL(ML_EFORMAT, "%s: unexpected tensor %s (not an adapter or the head "
                           "of the model adapter_config.json describes)", path, name);
    }
    for (size_t i = 0; i < ml_settransformer_n_tensors(st); i++) {
        ml_nn_tensor t;
        char name[512];
        ML_TRY(ml_settransformer_tensor(st, i, &t));
        int prefixed = strncmp(t.name, LORA_PREFIX, strlen(LORA_PREFIX)) == 0;
        if (!prefixed && strncmp(t.name, CLASSIFIER_PREFIX, strlen(CLASSIFIER_PREFIX)) != 0)
            continue; /* a frozen base tensor: from the base file */
        snprintf(name, sizeof name, "%s%s", prefixed ? "" : LORA_PREFIX, t.name);
        ML_TRY(read_tensor(path, ml_safetensors_find(sf, name), name, &t));
    }
    return ML_OK;
}

/* The LoRA model with the serving sizes in *sizes (batch limits, n_classes), its architecture
 * from the base, its adapters from lc. */
static ml_status build(ml_settransformer **out, const char *base_path, size_t n_heads,
                       const lora_config *lc, const ml_settransformer_config *sizes,
                       ml_settransformer **base) {
    ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    lo.n_heads = n_heads;
    lo.max_tokens = lo.max_set_tokens = lo.max_sets = 1; /* only its weights are used */
    ML_TRY(ml_settransformer_load(base, base_path, &lo));
    const ml_settransformer_config *bc = ml_settransformer_get_config(*base);
    if (bc->d_in != sizes->d_in)
        return ML_FAIL(ML_EFORMAT, "%s: d_in %zu, but the OTU vectors have length %zu",
                       base_path, bc->d_in, sizes->d_in);
    ml_settransformer_config c = *sizes;
    c.d_model = bc->d_model;
    c.n_layers = bc->n_layers;
    c.n_heads = bc->n_heads;
    c.d_ff = bc->d_ff;
    c.has_grad = 0;
    c.lora_rank = lc->r;
    c.lora_alpha = lc->alpha;
    c.lora_targets = lc->targets;
    c.lora_dropout = lc->dropout;
    return ml_settransformer_new(out, &c);
}

ml_status ml__serve_lora_load(ml_settransformer **out, const char *dir, const char *base_path,
                              const char *base_sha256, const ml_verify_options *vo,
                              const ml_settransformer_config *sizes, char **base_name) {
    lora_config lc;
    char p[PATH_BYTES];
    int len = snprintf(p, sizeof p, "%s/" ADAPTER_WEIGHTS_NAME, dir);
    if (len < 0 || (size_t)len >= sizeof p) return ML_FAIL(ML_EINVAL, "%s: path too long", dir);
    ML_TRY(read_config(dir, &lc));
    ML_TRY(check_base(dir, base_path, base_sha256, &lc, vo)); /* before the base is parsed */
    ml_safetensors *sf = NULL;
    ml_settransformer *base = NULL, *st = NULL;
    size_t n_heads = 0;
    ml_status s = ml_safetensors_open(&sf, p);
    if (s == ML_OK) s = recorded_heads(p, sf, &n_heads);
    if (s == ML_OK) s = build(&st, base_path, n_heads, &lc, sizes, &base);
    if (s == ML_OK) s = copy_base(base_path, base, st);
    if (s == ML_OK) s = copy_adapters(p, sf, st);
    /* folded in: forward at base cost, and no dropout (PEFT merges ignore it as eval does) */
    if (s == ML_OK) s = ml_settransformer_lora_merge(st);
    char *name = s == ML_OK ? strdup(lc.base_name) : NULL;
    if (s == ML_OK && !name) s = ML_NOMEM();
    ml_settransformer_free(base);
    ml_safetensors_close(sf);
    if (s != ML_OK) {
        ml_settransformer_free(st);
        return s;
    }
    *out = st;
    *base_name = name;
    return ML_OK;
}
