/* load.c - builds an inference set transformer from an upstream state dict in safetensors,
 * strictly (every tensor expected, present, well shaped; nothing extra); it never reads
 * pickles, LoRA adapters or manifests. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/nn.h"
#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/text.h"

#define LAYER_PREFIX "transformer.layers."
#define TENSORS_PER_LAYER 12 /* in_proj, out_proj, linear1, linear2, norm1, norm2: w and b */
#define SHOWN_BYTES 96 /* bytes of a tensor name echoed in a message */

static const char *const layer_suffixes[TENSORS_PER_LAYER] = {
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
    "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
    "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"};

static void shown(char dst[SHOWN_BYTES], const char *s) {
    ml__sanitize(dst, SHOWN_BYTES, s, strlen(s));
}

/* Parses the digits after LAYER_PREFIX up to the next '.'; false if there are none. */
static int layer_index(const char *name, size_t *out) {
    size_t n = strlen(LAYER_PREFIX);
    if (strncmp(name, LAYER_PREFIX, n) != 0) return 0;
    const char *p = name + n;
    size_t v = 0, k = 0;
    for (; p[k] >= '0' && p[k] <= '9'; k++) {
        if (v > ((size_t)1 << 24)) return 0;
        v = v * 10 + (size_t)(p[k] - '0');
    }
    if (k == 0 || p[k] != '.' || (k > 1 && p[0] == '0')) return 0;
    *out = v;
    return 1;
}

static ml_status shape_of(const char *path, const ml_safetensors *st, const char *name,
                          size_t want_dims, size_t shape[2]) {
    const ml_tensor_view *t = ml_safetensors_find(st, name);
    if (!t)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s is missing (expected an upstream "
                       "MicrobiomeTransformer state dict)", path, name);
    if (t->n_dims != want_dims)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s has %zu dimensions (expected %zu)", path, name,
                       t->n_dims, want_dims);
    shape[0] = t->shape[0];
    shape[1] = want_dims == 2 ? t->shape[1] : 0;
    return ML_OK;
}

/* n_layers = 1 + the largest layer index named in the file; gaps show up later as missing
 * tensors. */
static ml_status count_layers(const char *path, const ml_safetensors *st, size_t *n_layers) {
    size_t n = 0;
    for (size_t i = 0; i < ml_safetensors_n_tensors(st); i++) {
        size_t l;
        if (layer_index(ml_safetensors_tensor(st, i)->name, &l) && l + 1 > n) n = l + 1;
    }
    if (n == 0)
        return ML_FAIL(ML_EFORMAT, "%s: no tensor named " LAYER_PREFIX "{i}.* (expected an "
                       "upstream MicrobiomeTransformer state dict)", path);
    /* A lone high index must not size a huge model: 12 tensors per layer have to be there. */
    if (n > ml_safetensors_n_tensors(st) / TENSORS_PER_LAYER) {
        /* Fewer tensors than 12 per layer: one of them is missing, and it is found after at
         * most n_tensors + 1 lookups. */
        for (size_t k = 0; k < n * TENSORS_PER_LAYER; k++) {
            char name[96];
            snprintf(name, sizeof name, LAYER_PREFIX "%zu.%s", k / TENSORS_PER_LAYER,
                     layer_suffixes[k % TENSORS_PER_LAYER]);
            if (!ml_safetensors_find(st, name))
                return ML_FAIL(ML_EFORMAT, "%s: tensor %s is missing (layer %zu exists, so "
                               "layers 0..%zu are expected)", path, name, n - 1, n - 1);
        }
    }
    *n_layers = n;
    return ML_OK;
}

/* "nhead" from __metadata__: 0 when absent. */
static ml_status file_heads(const char *path, const ml_safetensors *st, size_t *heads) {
    const char *v = ml_safetensors_metadata_find(st, "nhead");
    *heads = 0;
    if (!v) return ML_OK;
    size_t h = 0, k = 0;
    for (; v[k] >= '0' && v[k] <= '9' && k < 9; k++) h = h * 10 + (size_t)(v[k] - '0');
    if (k == 0 || v[k] != '\0' || h == 0) {
        char s[SHOWN_BYTES];
        shown(s, v);
        return ML_FAIL(ML_EFORMAT, "%s: __metadata__ nhead is \"%s\" (expected a positive "
                       "integer)", path, s);
    }
    *heads = h;
    return ML_OK;
}

static ml_status resolve_heads(const char *path, const ml_safetensors *st, size_t option,
                               size_t d_model, size_t *out) {
    size_t from_file;
    ML_TRY(file_heads(path, st, &from_file));
    if (!from_file && !option)
        return ML_FAIL(ML_EINVAL, "%s: the head count is unknown: __metadata__ has no nhead "
                       "(give it, e.g. --heads 5, or convert with "
                       "tools/convert-upstream-checkpoint --nhead N)", path);
    if (from_file && option && from_file != option)
        return ML_FAIL(ML_EINVAL, "%s: %zu heads requested but __metadata__ nhead is %zu "
                       "(leave the option out or make them agree)", path, option, from_file);
    size_t h = option ? option : from_file;
    if (d_model % h != 0)
        return ML_FAIL(option ? ML_EINVAL : ML_EFORMAT, "%s: %zu heads do not divide d_model "
                       "%zu (input_projection_type1.weight rows)", path, h, d_model);
    *out = h;
    return ML_OK;
}

static ml_status infer_config(const char *path, const ml_safetensors *st,
                              const ml_settransformer_load_options *o,
                              ml_settransformer_config *c) {
    size_t s[2] = {0, 0};
    ML_TRY(shape_of(path, st, "input_projection_type1.weight", 2, s));
    c->d_model = s[0];
    c->d_in = s[1];
    ML_TRY(count_layers(path, st, &c->n_layers));
    ML_TRY(shape_of(path, st, LAYER_PREFIX "0.linear1.weight", 2, s));
    c->d_ff = s[0];
    c->n_classes = 0;
    if (ml_safetensors_find(st, "classifier.weight")) {
        ML_TRY(shape_of(path, st, "classifier.weight", 2, s));
        c->n_classes = s[0];
    }
    ML_TRY(resolve_heads(path, st, o->n_heads, c->d_model, &c->n_heads));
    c->max_tokens = o->max_tokens;
    c->max_set_tokens = o->max_set_tokens;
    c->max_sets = o->max_sets;
    c->has_grad = 0;
    c->lora_rank = 0;
    return ML_OK;
}

static int is_optional(const char *name) {
    return strncmp(name, "output_projection.", strlen("output_projection.")) == 0;
}

/* Copies one file tensor into the model tensor after checking its shape, dtype and values. */
static ml_status fill_tensor(const char *path, const ml_tensor_view *t, const ml_nn_tensor *p) {
    int same = t->n_dims == p->n_dims;
    for (size_t k = 0; same && k < p->n_dims; k++) same = t->shape[k] == p->shape[k];
    if (!same) {
        char got[64] = "(", want[64];
        for (size_t k = 0; k < t->n_dims && k < 4; k++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%zu", k ? ", " : "", t->shape[k]);
        }
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s)", t->n_dims > 4 ? ", ..." : "");
        if (p->n_dims == 2)
            snprintf(want, sizeof want, "(%zu, %zu)", p->shape[0], p->shape[1]);
        else
            snprintf(want, sizeof want, "(%zu)", p->shape[0]);
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s has shape %s (expected %s from the other "
                       "tensors' sizes)", path, p->name, got, want);
    }
    if (ml_safetensors_read_f32(t, p->data) != ML_OK)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s has dtype %s (expected F32, F16, BF16 or "
                       "F64)", path, p->name, ml_dtype_name(t->dtype));
    for (size_t i = 0; i < p->numel; i++)
        if (!isfinite(p->data[i]))
            return ML_FAIL(ML_EFORMAT, "%s: tensor %s: value %zu is not finite (expected "
                           "finite weights)", path, p->name, i);
    return ML_OK;
}

static ml_status fill_model(const char *path, const ml_safetensors *st, ml_settransformer *m) {
    size_t n_found = 0, n_optional_missing = 0;
    for (size_t i = 0; i < ml_settransformer_n_tensors(m); i++) {
        ml_nn_tensor p;
        ML_TRY(ml_settransformer_tensor(m, i, &p));
        const ml_tensor_view *t = ml_safetensors_find(st, p.name);
        if (!t && is_optional(p.name)) {
            n_optional_missing++;
            continue;
        }
        if (!t)
            return ML_FAIL(ML_EFORMAT, "%s: tensor %s is missing (expected by the sizes read "
                           "from the other tensors)", path, p.name);
        ML_TRY(fill_tensor(path, t, &p));
        n_found++;
    }
    if (n_optional_missing == 1)
        return ML_FAIL(ML_EFORMAT, "%s: output_projection has only one of weight and bias "
                       "(expected both or neither)", path);
    if (n_found == ml_safetensors_n_tensors(st)) return ML_OK;
    /* Some file tensor is not one of the model's: name the first in file order. */
    for (size_t i = 0; i < ml_safetensors_n_tensors(st); i++) {
        const char *name = ml_safetensors_tensor(st, i)->name;
        float *data;
        size_t n;
        if (ml_settransformer_param(m, name, &data, &n) == ML_OK) continue;
        char s[SHOWN_BYTES];
        shown(s, name);
        return ML_FAIL(ML_EFORMAT, "%s: unexpected tensor \"%s\" (not part of a "
                       "MicrobiomeTransformer with these sizes; LoRA adapters must be merged "
                       "first)", path, s);
    }
    return ML_OK;
}

ml_status ml_settransformer_load(ml_settransformer **out, const char *path,
                                 const ml_settransformer_load_options *o) {
    if (!o || o->version != ML_SETTRANSFORMER_LOAD_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "settransformer load options: version %d (expected %d; start "
                       "from ML_SETTRANSFORMER_LOAD_OPTIONS_INIT)", o ? o->version : 0,
                       ML_SETTRANSFORMER_LOAD_OPTIONS_VERSION);
    ml_safetensors *st = NULL;
    ml_settransformer *m = NULL;
    ml_settransformer_config c = ML_SETTRANSFORMER_CONFIG_INIT;
    ml_status s = ml_safetensors_open(&st, path);
    if (s != ML_OK) goto done;
    if ((s = infer_config(path, st, o, &c)) != ML_OK) goto done;
    if ((s = ml_settransformer_new(&m, &c)) != ML_OK) goto done;
    if ((s = fill_model(path, st, m)) != ML_OK) goto done;
    *out = m;
    m = NULL;
done:
    ml_settransformer_free(m);
    ml_safetensors_close(st);
    return s;
}
