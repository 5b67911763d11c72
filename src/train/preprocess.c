/* preprocess.c - preprocess.json: built by the trainer from its split's fitted transform and
 * the join's classes, parsed back for serving. It reads and writes no file itself (the
 * checkpoint writer and the loaders do) and computes no feature. */
#include "train/preprocess.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/sha256.h"


/* ---- Writing -------------------------------------------------------------------------------- */

typedef struct id_ref {
    const char *id;
    size_t i;
} id_ref;

static int id_ref_cmp(const void *pa, const void *pb) {
    return strcmp(((const id_ref *)pa)->id, ((const id_ref *)pb)->id);
}

static int hash_vector(EVP_MD_CTX *md, const ml_otuvec *v, size_t i) {
    const char *id = ml_otuvec_id(v, i);
    const float *x = ml_otuvec_vector(v, i);
    size_t len = strlen(id), d = ml_otuvec_dim(v);
    unsigned char le[8];
    for (size_t b = 0; b < 8; b++) le[b] = (unsigned char)((uint64_t)len >> (8 * b));
    if (EVP_DigestUpdate(md, le, 8) != 1 || EVP_DigestUpdate(md, id, len) != 1) return 0;
    for (size_t k = 0; k < d; k++) {
        uint32_t u;
        memcpy(&u, &x[k], sizeof u);
        for (size_t b = 0; b < 4; b++) le[b] = (unsigned char)(u >> (8 * b));
        if (EVP_DigestUpdate(md, le, 4) != 1) return 0;
    }
    return 1;
}

ml_status ml__otuvec_fingerprint(const ml_otuvec *v, char out[ML__OTUVEC_FINGERPRINT_SIZE]) {
    size_t n = ml_otuvec_count(v);
    id_ref *refs = malloc((n + 1) * sizeof *refs);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = refs && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) refs[i] = (id_ref){ml_otuvec_id(v, i), i};
    if (ok) qsort(refs, n, sizeof *refs, id_ref_cmp);
    for (size_t k = 0; ok && k < n; k++) ok = hash_vector(md, v, refs[k].i);
    unsigned char d[ML__SHA256_BYTES];
    unsigned int dl = 0;
    if (ok) ok = EVP_DigestFinal_ex(md, d, &dl) == 1 && dl == ML__SHA256_BYTES;
    EVP_MD_CTX_free(md);
    free(refs);
    if (!ok) return ML_FAIL(ML_ENOMEM, "OTU vectors fingerprint: SHA-256 failed (OpenSSL)");
    ml__sha256_tag(out, d);
    return ML_OK;
}

static json_t *classes_json(const ml_join *j) {
    json_t *a = json_array();
    for (size_t c = 0; a && c < ml_join_n_classes(j); c++)
        if (json_array_append_new(a, json_string(ml_join_class_name(j, c))) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static ml_status add_vectors(json_t *doc, const ml_train_options *o) {
    char fp[ML__OTUVEC_FINGERPRINT_SIZE];
    ML_TRY(ml__otuvec_fingerprint(o->vectors, fp));
    json_t *v = json_pack("{s:s, s:I, s:I}", "sha256", fp, "count",
                          (json_int_t)ml_otuvec_count(o->vectors), "dim",
                          (json_int_t)ml_otuvec_dim(o->vectors));
    if (!v || json_object_set_new(doc, "otu_vectors", v) != 0 ||
        json_object_set_new(doc, "max_otus", json_integer((json_int_t)o->max_otus)) != 0)
        return ML_NOMEM();
    return ML_OK;
}

/* LoRA runs: the base weights by content, so that serving can refuse another file that merely
 * has the same name (adapter_config.json records the name only, as PEFT does). */
static ml_status add_base(json_t *doc, const ml_train_options *o) {
    char fp[ML__SHA256_TAG_SIZE];
    ML_TRY(ml__sha256_file(o->init_path, fp));
    json_t *v = json_pack("{s:s}", "sha256", fp);
    if (!v || json_object_set_new(doc, "base_weights", v) != 0) return ML_NOMEM();
    return ML_OK;
}

ml_status ml__preprocess_new(json_t **out, const ml_train_options *o, const ml_join *j) {
    const char *pos = ml_join_positive(j);
    json_t *doc = json_pack("{s:s, s:i, s:s, s:o, s:o}", "format", ML__PREPROCESS_FORMAT,
                            "format_version", ML__PREPROCESS_FORMAT_VERSION, "model",
                            ml_train_model_name(o->model), "classes", classes_json(j),
                            "positive_class", pos ? json_string(pos) : json_null());
    if (!doc) return ML_NOMEM();
    ml_status st = o->model == ML_TRAIN_SETTRANSFORMER ? add_vectors(doc, o) : ML_OK;
    if (st == ML_OK && o->st.lora_rank > 0 && o->init_path) st = add_base(doc, o);
    if (st != ML_OK) {
        json_decref(doc);
        return st;
    }
    *out = doc;
    return ML_OK;
}

static json_t *doubles_json(const double *x, size_t n) {
    json_t *a = json_array();
    for (size_t k = 0; a && k < n; k++)
        if (json_array_append_new(a, json_real(x[k])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

ml_status ml__preprocess_set_transform(json_t *doc, const ml_transform *tf,
                                       const ml_transform_options *to) {
    size_t m = ml_transform_n_outputs(tf);
    const double *mean = NULL, *scale = NULL;
    if (to->scale) ML_TRY(ml_transform_scaler(tf, &mean, &scale));
    json_t *features = json_array();
    for (size_t k = 0; features && k < m; k++) {
        if (json_array_append_new(features, json_string(ml_transform_output_feature_id(tf, k)))) {
            json_decref(features);
            features = NULL;
        }
    }
    json_t *t = json_pack("{s:s, s:f, s:f, s:b}", "kind", ml_transform_kind_name(to->kind),
                          "clr_pseudocount", to->clr_pseudocount, "log_pseudocount",
                          to->log_pseudocount, "scale", to->scale ? 1 : 0);
    json_t *scaler = !to->scale ? json_null()
                                : json_pack("{s:o, s:o}", "mean", doubles_json(mean, m),
                                            "scale", doubles_json(scale, m));
    int bad = !features || !t || !scaler;
    if (!bad) bad = json_object_set(doc, "features", features) != 0 ||
                    json_object_set(doc, "transform", t) != 0 ||
                    json_object_set(doc, "scaler", scaler) != 0;
    json_decref(features);
    json_decref(t);
    json_decref(scaler);
    return bad ? ML_NOMEM() : ML_OK;
}

/* ---- Reading -------------------------------------------------------------------------------- */

typedef struct reader {
    const char *name;
    ml_status st;
} reader;

static ml_status bad(reader *r, const char *field, const char *what) {
    if (r->st == ML_OK) r->st = ML_FAIL(ML_EFORMAT, "%s: %s: %s", r->name, field, what);
    return r->st;
}

static size_t get_size(reader *r, json_t *o, const char *key, size_t min) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min)
        bad(r, key, min ? "missing or not a positive integer" : "missing or not an integer");
    return json_is_integer(v) ? (size_t)json_integer_value(v) : 0;
}

static ml_status read_classes(reader *r, ml__preprocess *p) {
    json_t *c = json_object_get(p->doc, "classes");
    if (!json_is_array(c) || json_array_size(c) < 2)
        return bad(r, "classes", "missing or fewer than 2 (expected an array of class names)");
    p->n_classes = json_array_size(c);
    if (!(p->classes = calloc(p->n_classes, sizeof *p->classes))) return ML_NOMEM();
    for (size_t k = 0; k < p->n_classes; k++)
        if (!(p->classes[k] = json_string_value(json_array_get(c, k))))
            return bad(r, "classes", "not all strings");
    json_t *pos = json_object_get(p->doc, "positive_class");
    if (json_is_null(pos)) return ML_OK;
    p->positive = json_string_value(pos);
    if (!p->positive || strcmp(p->positive, p->classes[p->n_classes - 1]) != 0)
        return bad(r, "positive_class", "not the last class (expected it or null)");
    return ML_OK;
}

static double *read_doubles(reader *r, json_t *scaler, const char *key, size_t m) {
    json_t *a = json_object_get(scaler, key);
    if (!json_is_array(a) || json_array_size(a) != m) {
        bad(r, "scaler", "mean or scale missing or not one number per feature");
        return NULL;
    }
    double *x = malloc(m * sizeof *x);
    for (size_t k = 0; x && k < m; k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_number(v)) {
            bad(r, "scaler", "mean or scale holds a value that is not a number");
            free(x);
            return NULL;
        }
        x[k] = json_number_value(v);
    }
    if (!x) r->st = ML_NOMEM();
    return x;
}

static ml_status read_transform_options(reader *r, json_t *doc, ml_transform_options *to) {
    json_t *t = json_object_get(doc, "transform");
    *to = (ml_transform_options)ML_TRANSFORM_OPTIONS_INIT;
    const char *kind = json_string_value(json_object_get(t, "kind"));
    if (!json_is_object(t) || !kind || ml_transform_kind_parse(&to->kind, kind) != ML_OK)
        return bad(r, "transform.kind", "missing or not none, relab, log or clr");
    json_t *clr = json_object_get(t, "clr_pseudocount");
    json_t *lg = json_object_get(t, "log_pseudocount"), *sc = json_object_get(t, "scale");
    if (!json_is_number(clr) || !json_is_number(lg) || !json_is_boolean(sc))
        return bad(r, "transform", "pseudocounts or scale missing (expected numbers and a "
                   "boolean)");
    to->clr_pseudocount = json_number_value(clr);
    to->log_pseudocount = json_number_value(lg);
    to->scale = json_is_true(sc);
    return ML_OK;
}

static ml_status read_mlp(reader *r, ml__preprocess *p) {
    json_t *f = json_object_get(p->doc, "features");
    if (!json_is_array(f) || json_array_size(f) == 0)
        return bad(r, "features", "missing or empty (expected the feature IDs in input order)");
    size_t m = json_array_size(f);
    ml_transform_options to;
    ML_TRY(read_transform_options(r, p->doc, &to));
    const char **ids = malloc(m * sizeof *ids);
    double *mean = NULL, *scale = NULL;
    if (!ids) return ML_NOMEM();
    for (size_t k = 0; k < m && r->st == ML_OK; k++)
        if (!(ids[k] = json_string_value(json_array_get(f, k))))
            bad(r, "features", "not all strings");
    json_t *scaler = json_object_get(p->doc, "scaler");
    if (r->st == ML_OK && to.scale && !json_is_object(scaler))
        bad(r, "scaler", "missing (expected mean and scale, the transform scales)");
    if (r->st == ML_OK && to.scale && (mean = read_doubles(r, scaler, "mean", m)))
        scale = read_doubles(r, scaler, "scale", m);
    if (r->st == ML_OK && ml_transform_from_params(&p->tf, &to, ids, m, mean, scale) != ML_OK) {
        char inner[sizeof ml_error_last()->message];
        snprintf(inner, sizeof inner, "%s", ml_error_last()->message);
        bad(r, "transform", inner);
    }
    free(ids);
    free(mean);
    free(scale);
    return r->st;
}

static ml_status read_settransformer(reader *r, ml__preprocess *p) {
    json_t *v = json_object_get(p->doc, "otu_vectors");
    p->otuvec_sha256 = json_string_value(json_object_get(v, "sha256"));
    if (!json_is_object(v) || !p->otuvec_sha256 ||
        strlen(p->otuvec_sha256) != ML__OTUVEC_FINGERPRINT_SIZE - 1)
        return bad(r, "otu_vectors.sha256", "missing (expected sha256:<64 hex digits>)");
    p->otuvec_count = get_size(r, v, "count", 1);
    p->otuvec_dim = get_size(r, v, "dim", 1);
    p->max_otus = get_size(r, p->doc, "max_otus", 1);
    json_t *b = json_object_get(p->doc, "base_weights");
    if (r->st == ML_OK && b) {
        p->base_sha256 = json_string_value(json_object_get(b, "sha256"));
        if (!json_is_object(b) || !p->base_sha256 ||
            strlen(p->base_sha256) != ML__SHA256_TAG_SIZE - 1 ||
            strncmp(p->base_sha256, "sha256:", 7) != 0)
            return bad(r, "base_weights.sha256", "expected sha256:<64 hex digits>");
    }
    return r->st;
}

static ml_status read_doc(reader *r, ml__preprocess *p) {
    const char *format = json_string_value(json_object_get(p->doc, "format"));
    if (!format || strcmp(format, ML__PREPROCESS_FORMAT) != 0)
        return bad(r, "format", "missing or not " ML__PREPROCESS_FORMAT);
    json_t *ver = json_object_get(p->doc, "format_version");
    if (!json_is_integer(ver))
        return bad(r, "format_version", "missing or not an integer");
    if (json_integer_value(ver) != ML__PREPROCESS_FORMAT_VERSION)
        return ML_FAIL(ML_EUNSUPPORTED, "%s: format_version %lld (this microlens reads %d)",
                       r->name, (long long)json_integer_value(ver),
                       ML__PREPROCESS_FORMAT_VERSION);
    const char *model = json_string_value(json_object_get(p->doc, "model"));
    if (!model || ml_train_model_parse(&p->model, model) != ML_OK)
        return bad(r, "model", "missing or not mlp or settransformer");
    ML_TRY(read_classes(r, p));
    return p->model == ML_TRAIN_MLP ? read_mlp(r, p) : read_settransformer(r, p);
}

ml_status ml__preprocess_parse(ml__preprocess *out, const char *text, size_t len,
                               const char *name) {
    ml__preprocess p;
    memset(&p, 0, sizeof p);
    json_error_t err;
    if (!(p.doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err)))
        return ML_FAIL(ML_EFORMAT, "%s:%d:%d: %s (expected a JSON object)", name, err.line,
                       err.column, err.text);
    reader r = {name, ML_OK};
    ml_status st = json_is_object(p.doc) ? read_doc(&r, &p)
                                         : bad(&r, "(root)", "not an object");
    if (st != ML_OK) {
        ml__preprocess_free(&p);
        return st;
    }
    *out = p;
    return ML_OK;
}

void ml__preprocess_free(ml__preprocess *p) {
    if (!p) return;
    ml_transform_free(p->tf);
    free(p->classes);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}
