/* bundle.c - model bundles: the final pipeline refitted on all labelled samples, saved as
 * model.safetensors + card.json, loaded back and applied to new tables by feature ID. It does
 * not cross-validate (evaluate.c) and keeps no sample ID. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval/bundle.h"
#include "eval/evaluate.h"
#include "microlens/memory.h"
#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/strmap.h"

#define BUNDLE_FORMAT "microlens-model-bundle"
#define BUNDLE_FORMAT_VERSION 1
/* A card is a few KB per thousand features; anything this large is not one of ours. */
#define CARD_MAX_BYTES (256u * 1024u * 1024u)
#define PATH_MAX_BYTES 4096
#define CLF_PREFIX "classifier."
#define MEAN_NAME "transform.mean"
#define SCALE_NAME "transform.scale"
/* Stream of the final model's inner split, apart from those of the CV repeats and folds. */
#define FINAL_SEARCH_STREAM UINT64_C(0x6d6c66696e616c) /* "mlfinal" */

struct ml_model_bundle {
    ml_evaluate_options opts; /* model holds the chosen grid point; hooks and grid cleared */
    ml_transform *tf;
    ml_classifier *clf;
    char *class_name[2];
    char *grid_spec, *chosen; /* NULL without tuning */
    size_t n_samples, n_positive;
    char fingerprint[ML__FINGERPRINT_SIZE];
    ml__strmap index;         /* feature ID -> output index; keys borrowed from tf */
};

void ml_model_bundle_free(ml_model_bundle *b) {
    if (!b) return;
    ml__strmap_free(&b->index);
    ml_classifier_free(b->clf);
    ml_transform_free(b->tf);
    free(b->class_name[0]);
    free(b->class_name[1]);
    free(b->grid_spec);
    free(b->chosen);
    free(b);
}

size_t ml_model_bundle_n_features(const ml_model_bundle *b) { return ml_transform_n_outputs(b->tf); }
const char *ml_model_bundle_feature_id(const ml_model_bundle *b, size_t k) {
    return ml_transform_output_feature_id(b->tf, k);
}
const char *ml_model_bundle_positive(const ml_model_bundle *b) { return b->class_name[1]; }
const char *ml_model_bundle_fingerprint(const ml_model_bundle *b) { return b->fingerprint; }
double ml_model_bundle_threshold(const ml_model_bundle *b) { return ml_classifier_threshold(b->clf); }

static char *dup_str(const char *s) {
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d) memcpy(d, s, len);
    return d;
}

static ml_status build_index(ml_model_bundle *b) {
    size_t m = ml_transform_n_outputs(b->tf);
    for (size_t k = 0; k < m; k++) {
        const char *id = ml_transform_output_feature_id(b->tf, k);
        size_t dup;
        ML_TRY(ml__strmap_put(&b->index, id, strlen(id), k, &dup));
    }
    return ML_OK;
}

/* With a grid: the inner search over all labelled samples picks the final settings. */
static ml_status choose(ml_model_bundle *b, const ml_table *t, const ml__eval_data *d,
                        const ml_evaluate_options *o) {
    ml_grid *g = NULL;
    size_t best;
    double auc;
    ml_evaluate_fit_info info = {ML_EVALUATE_FINAL, 0, 0, 0, 0, 0, NULL, 0, NULL, 0};
    ML_TRY(ml_grid_parse(&g, o->grid, &o->model));
    ml_status st = ml__grid_search(&best, &auc, t, d, d->rows, d->n_rows, o, g, &info,
                                   FINAL_SEARCH_STREAM);
    if (st == ML_OK) st = ml_grid_point(g, best, &o->model, &b->opts.model);
    char buf[512];
    if (st == ML_OK) {
        ml_grid_describe(g, best, buf, sizeof buf);
        if (!(b->chosen = dup_str(buf)) || !(b->grid_spec = dup_str(o->grid))) st = ML_NOMEM();
    }
    ml_grid_free(g);
    return st;
}

static ml_status fit_final(ml_model_bundle *b, const ml_table *t, const ml_join *j,
                           const ml__eval_data *d, const ml_evaluate_options *o) {
    if (o->grid && *o->grid) ML_TRY(choose(b, t, d, o));
    ml_evaluate_fit_info info = {ML_EVALUATE_FINAL, 0, 0, 0, 0, 0, d->rows, d->n_rows, NULL, 0};
    if (o->on_fit) o->on_fit(o->on_fit_ctx, &info);
    ml__pipeline p = {NULL, NULL};
    ML_TRY(ml__pipeline_fit(&p, t, d->y, d->rows, d->n_rows, &o->transform, &b->opts.model));
    b->tf = p.tf;
    b->clf = p.clf;
    b->n_samples = d->n_rows;
    b->n_positive = d->n_positive;
    if (!(b->class_name[0] = dup_str(ml_join_class_name(j, 0))) ||
        !(b->class_name[1] = dup_str(ml_join_class_name(j, 1))))
        return ML_NOMEM();
    ML_TRY(ml__fingerprint(b->fingerprint, t, j));
    return build_index(b);
}

ml_status ml_model_bundle_fit(ml_model_bundle **out, const ml_table *t, const ml_join *j,
                              const ml_evaluate_options *o) {
    ML_TRY(ml__evaluate_options_check(o));
    ml__eval_data d;
    ML_TRY(ml__eval_data_init(&d, t, j, o->split != ML_SPLIT_STRATIFIED_KFOLD));
    ml_model_bundle *b = calloc(1, sizeof *b);
    ml_status st = b ? ML_OK : ML_NOMEM();
    if (st == ML_OK) {
        b->opts = *o;
        b->opts.grid = NULL;
        b->opts.progress = NULL;
        b->opts.on_fit = NULL;
        b->index = (ml__strmap)ML__STRMAP_INIT;
        st = fit_final(b, t, j, &d, o);
    }
    if (st == ML_OK) {
        *out = b;
        b = NULL;
    }
    ml_model_bundle_free(b);
    ml__eval_data_free(&d);
    return st;
}

/* ---- Saving ---------------------------------------------------------------------------- */

static ml_status join_path(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_MAX_BYTES, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX_BYTES)
        return ML_FAIL(ML_EINVAL, "bundle folder path is too long (expected < %d bytes)",
                       PATH_MAX_BYTES - 16);
    return ML_OK;
}

static ml_status save_tensors(const ml_model_bundle *b, const char *path) {
    size_t nc = ml_classifier_n_params(b->clf), m = ml_transform_n_outputs(b->tf), n = 0;
    ml_tensor_view *v = calloc(nc + 2, sizeof *v);
    char (*names)[64] = calloc(nc ? nc : 1, sizeof *names);
    ml_status st = v && names ? ML_OK : ML_NOMEM();
    for (size_t i = 0; i < nc && st == ML_OK; i++) {
        st = ml_classifier_param(b->clf, i, &v[n]);
        if (st != ML_OK) break;
        snprintf(names[i], sizeof names[i], CLF_PREFIX "%s", v[n].name);
        v[n++].name = names[i];
    }
    const double *mean, *scale;
    if (st == ML_OK && b->opts.transform.scale &&
        (st = ml_transform_scaler(b->tf, &mean, &scale)) == ML_OK) {
        v[n++] = (ml_tensor_view){MEAN_NAME, ML_DTYPE_F64, 1, {m}, mean};
        v[n++] = (ml_tensor_view){SCALE_NAME, ML_DTYPE_F64, 1, {m}, scale};
    }
    const ml_kv meta[] = {{"format", BUNDLE_FORMAT}, {"format_version", "1"}};
    if (st == ML_OK) st = ml_safetensors_write(path, v, n, meta, 2);
    free(names);
    free(v);
    return st;
}

static json_t *card_json(const ml_model_bundle *b, const ml_evaluation *cv) {
    json_t *features = json_array(), *tuning = json_null();
    for (size_t k = 0; features && k < ml_transform_n_outputs(b->tf); k++)
        json_array_append_new(features, json_string(ml_transform_output_feature_id(b->tf, k)));
    if (b->chosen)
        tuning = json_pack("{s:s, s:s, s:I, s:s}", "grid", b->grid_spec, "chosen", b->chosen,
                           "inner_k", (json_int_t)b->opts.n_inner_folds, "note",
                           "chosen by inner cross-validation on all labelled samples, for this "
                           "final model only; the cv metrics come from nested CV, where tuning "
                           "never saw a test fold");
    int is_prob = ml_classifier_score_is_probability(b->clf);
    return json_pack(
        "{s:s, s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:[s,s], s:s, s:f, s:s, s:I, s:I, s:s, s:o}",
        "format", BUNDLE_FORMAT, "format_version", BUNDLE_FORMAT_VERSION, "microlens_version",
        ml_version(), "created_by", "microlens evaluate --save-model", "model",
        ml__model_options_json(&b->opts.model), "tuning", tuning ? tuning : json_null(),
        "transform", ml__transform_options_json(&b->opts.transform), "features", features,
        "classes", b->class_name[0], b->class_name[1], "positive_class", b->class_name[1],
        "threshold", ml_classifier_threshold(b->clf), "score",
        is_prob ? "probability of the positive class" : "decision value", "n_samples",
        (json_int_t)b->n_samples, "n_positive", (json_int_t)b->n_positive, "data_fingerprint",
        b->fingerprint, "cv", cv ? ml__cv_summary_json(cv) : json_null());
}

ml_status ml_model_bundle_save(const ml_model_bundle *b, const char *dir,
                               const ml_evaluation *cv) {
    char path[PATH_MAX_BYTES];
    ML_TRY(ml__mkdir_p(dir, 0755));
    ML_TRY(join_path(path, dir, "model.safetensors"));
    ML_TRY(save_tensors(b, path));
    json_t *card = card_json(b, cv);
    char *text = card ? json_dumps(card, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(card);
    if (!text) return ML_NOMEM();
    ml_status st = join_path(path, dir, "card.json");
    if (st == ML_OK) st = ml__file_write_atomic(path, text, strlen(text), 0644);
    free(text);
    return st;
}

/* ---- Loading --------------------------------------------------------------------------- */

/* Card reading: the path for messages and the first failure. */
typedef struct card_reader {
    const char *path;
    ml_status st;
} card_reader;

static ml_status bad_card(card_reader *r, const char *field, const char *what) {
    if (r->st == ML_OK)
        r->st = ML_FAIL(ML_EFORMAT, "%s: %s: %s", r->path, field, what);
    return r->st;
}

/* bad_card with the last error's message as what: copied first, since ML_FAIL formats into
 * the very buffer ml_error_last() lends. */
static ml_status bad_card_inner(card_reader *r, const char *field) {
    char inner[sizeof ml_error_last()->message];
    snprintf(inner, sizeof inner, "%s", ml_error_last()->message);
    return bad_card(r, field, inner);
}

static const char *get_string(card_reader *r, json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) bad_card(r, key, "missing or not a string (expected a string)");
    return s;
}

/* One "model" entry as the text ml_classifier_options_set takes. */
static int value_text(json_t *v, char *buf, size_t cap) {
    if (json_is_string(v)) return snprintf(buf, cap, "%s", json_string_value(v)) < (int)cap;
    if (json_is_integer(v)) return snprintf(buf, cap, "%lld", (long long)json_integer_value(v)) > 0;
    if (json_is_real(v)) return snprintf(buf, cap, "%.17g", json_real_value(v)) > 0;
    if (json_is_boolean(v)) return snprintf(buf, cap, "%d", json_is_true(v) ? 1 : 0) > 0;
    if (!json_is_array(v) || json_array_size(v) == 0) return 0;
    size_t len = 0, i;
    json_t *w;
    buf[0] = '\0';
    json_array_foreach(v, i, w) {
        if (!json_is_integer(w)) return 0;
        int n = snprintf(buf + len, cap - len, "%s%lld", i ? "x" : "", (long long)json_integer_value(w));
        if (n < 0 || (size_t)n >= cap - len) return 0;
        len += (size_t)n;
    }
    return 1;
}

static ml_status read_model(card_reader *r, json_t *card, ml_classifier_options *co) {
    json_t *m = json_object_get(card, "model");
    if (!json_is_object(m)) return bad_card(r, "model", "missing or not an object");
    ml_classifier_options o = ML_CLASSIFIER_OPTIONS_INIT;
    const char *key;
    json_t *v;
    char buf[256], field[300];
    json_object_foreach(m, key, v) {
        snprintf(field, sizeof field, "model.%.60s", key);
        if (!value_text(v, buf, sizeof buf)) return bad_card(r, field, "not a classifier setting");
        if (ml_classifier_options_set(&o, key, buf) != ML_OK)
            return bad_card_inner(r, field);
    }
    *co = o;
    return ML_OK;
}

static double get_number(card_reader *r, json_t *o, const char *key, const char *field) {
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) bad_card(r, field, "missing or not a number");
    return json_number_value(v);
}

static ml_status read_transform(card_reader *r, json_t *card, ml_transform_options *to) {
    json_t *t = json_object_get(card, "transform");
    if (!json_is_object(t)) return bad_card(r, "transform", "missing or not an object");
    ml_transform_options o = ML_TRANSFORM_OPTIONS_INIT;
    const char *kind = json_string_value(json_object_get(t, "kind"));
    if (!kind || ml_transform_kind_parse(&o.kind, kind) != ML_OK)
        return bad_card(r, "transform.kind", "not none, relab, log or clr");
    o.log_pseudocount = get_number(r, t, "log_pseudocount", "transform.log_pseudocount");
    o.clr_pseudocount = get_number(r, t, "clr_pseudocount", "transform.clr_pseudocount");
    json_t *scale = json_object_get(t, "scale");
    if (!json_is_boolean(scale)) return bad_card(r, "transform.scale", "missing or not a boolean");
    o.scale = json_is_true(scale);
    *to = o;
    return r->st;
}

/* features: a non-empty array of strings, borrowed from card. */
static ml_status read_features(card_reader *r, json_t *card, const char ***ids, size_t *n) {
    json_t *f = json_object_get(card, "features");
    if (!json_is_array(f) || json_array_size(f) == 0)
        return bad_card(r, "features", "missing or empty (expected an array of feature IDs)");
    const char **v = malloc(json_array_size(f) * sizeof *v);
    if (!v) return ML_NOMEM();
    for (size_t k = 0; k < json_array_size(f); k++) {
        if (!(v[k] = json_string_value(json_array_get(f, k)))) {
            char field[48];
            snprintf(field, sizeof field, "features[%zu]", k);
            free(v);
            return bad_card(r, field, "not a string");
        }
    }
    *ids = v;
    *n = json_array_size(f);
    return ML_OK;
}

static ml_status read_classes(card_reader *r, json_t *card, ml_model_bundle *b) {
    json_t *c = json_object_get(card, "classes");
    const char *c0 = json_string_value(json_array_get(c, 0));
    const char *c1 = json_string_value(json_array_get(c, 1));
    if (!json_is_array(c) || json_array_size(c) != 2 || !c0 || !c1)
        return bad_card(r, "classes", "expected an array of 2 class names");
    const char *pos = get_string(r, card, "positive_class");
    if (pos && strcmp(pos, c1) != 0)
        return bad_card(r, "positive_class", "not the second class (expected classes[1])");
    const char *fp = get_string(r, card, "data_fingerprint");
    if (fp && strlen(fp) >= sizeof b->fingerprint)
        return bad_card(r, "data_fingerprint", "too long (expected sha256:<64 hex digits>)");
    if (r->st != ML_OK) return r->st;
    memcpy(b->fingerprint, fp, strlen(fp) + 1);
    b->n_samples = (size_t)json_integer_value(json_object_get(card, "n_samples"));
    b->n_positive = (size_t)json_integer_value(json_object_get(card, "n_positive"));
    if (!(b->class_name[0] = dup_str(c0)) || !(b->class_name[1] = dup_str(c1))) return ML_NOMEM();
    return ML_OK;
}

static ml_status read_vector(card_reader *r, const ml_safetensors *st, const char *name,
                             size_t m, double *dst) {
    const ml_tensor_view *v = ml_safetensors_find(st, name);
    if (!v || v->dtype != ML_DTYPE_F64 || v->n_dims != 1 || v->shape[0] != m)
        return bad_card(r, name, "tensor missing or not F64 [n_features] in model.safetensors");
    memcpy(dst, v->data, m * sizeof *dst);
    return ML_OK;
}

static ml_status load_transform(card_reader *r, ml_model_bundle *b, const ml_safetensors *st,
                                const char *const *ids, size_t m) {
    double *mean = NULL, *scale = NULL;
    ml_status s = ML_OK;
    if (b->opts.transform.scale) {
        mean = malloc(m * sizeof *mean);
        scale = malloc(m * sizeof *scale);
        if (!mean || !scale) s = ML_NOMEM();
        if (s == ML_OK) s = read_vector(r, st, MEAN_NAME, m, mean);
        if (s == ML_OK) s = read_vector(r, st, SCALE_NAME, m, scale);
    }
    if (s == ML_OK &&
        (s = ml_transform_from_params(&b->tf, &b->opts.transform, ids, m, mean, scale)) != ML_OK)
        s = bad_card_inner(r, "transform");
    free(mean);
    free(scale);
    return s;
}

static ml_status load_classifier(card_reader *r, ml_model_bundle *b, const ml_safetensors *st,
                                 size_t m) {
    size_t nt = ml_safetensors_n_tensors(st), n = 0;
    size_t plen = strlen(CLF_PREFIX);
    ml_tensor_view *v = calloc(nt ? nt : 1, sizeof *v);
    if (!v) return ML_NOMEM();
    ml_status s = ML_OK;
    for (size_t i = 0; i < nt && s == ML_OK; i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        if (strncmp(t->name, CLF_PREFIX, plen) == 0) {
            v[n] = *t;
            v[n++].name = t->name + plen;
        } else if (strcmp(t->name, MEAN_NAME) != 0 && strcmp(t->name, SCALE_NAME) != 0) {
            s = bad_card(r, "model.safetensors", "unexpected tensor (expected classifier.* and "
                         "transform.mean/scale only)");
        }
    }
    if (s == ML_OK &&
        (s = ml_classifier_from_params(&b->clf, &b->opts.model, m, v, n)) != ML_OK)
        s = bad_card_inner(r, "model.safetensors");
    free(v);
    return s;
}

static ml_status parse_card(json_t **out, const char *data, size_t len, const char *name) {
    json_error_t err;
    json_t *card = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!card)
        return ML_FAIL(ML_EFORMAT, "%s:%d:%d: %s (expected a JSON object)", name, err.line,
                       err.column, err.text);
    if (!json_is_object(card)) {
        json_decref(card); /* parsed whole: err holds no position */
        return ML_FAIL(ML_EFORMAT, "%s: not an object (expected a JSON object)", name);
    }
    *out = card;
    return ML_OK;
}

static ml_status read_card(json_t **out, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return ML_FAIL(ML_ENOTFOUND, "%s: no such file (expected a model bundle folder)", path);
    char *data = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(path, CARD_MAX_BYTES, &data, &len));
    ml_status st = parse_card(out, data, len, path);
    free(data);
    return st;
}

/* The settings and features of the card; ids borrowed from card. */
static ml_status load_card(card_reader *r, ml_model_bundle *b, json_t *card, const char ***ids,
                           size_t *m) {
    const char *format = get_string(r, card, "format");
    if (format && strcmp(format, BUNDLE_FORMAT) != 0)
        return bad_card(r, "format", "not " BUNDLE_FORMAT);
    json_t *ver = json_object_get(card, "format_version");
    if (!json_is_integer(ver) || json_integer_value(ver) != BUNDLE_FORMAT_VERSION)
        return bad_card(r, "format_version", "unsupported (expected 1)");
    ML_TRY(read_model(r, card, &b->opts.model));
    ML_TRY(read_transform(r, card, &b->opts.transform));
    ML_TRY(read_classes(r, card, b));
    return read_features(r, card, ids, m);
}

/* Where model.safetensors comes from: a file (path) or bytes in memory (buf, len, name). */
typedef struct tensor_source {
    const char *path;
    const void *buf;
    size_t len;
    const char *name;
} tensor_source;

static ml_status load_parts(card_reader *r, ml_model_bundle *b, json_t *card,
                            const tensor_source *src) {
    const char **ids = NULL;
    size_t m = 0;
    ML_TRY(load_card(r, b, card, &ids, &m));
    ml_safetensors *st = NULL;
    ml_status s = src->path ? ml_safetensors_open(&st, src->path)
                            : ml_safetensors_parse_buffer(&st, src->buf, src->len, src->name);
    if (s == ML_OK) s = load_transform(r, b, st, ids, m);
    if (s == ML_OK) s = load_classifier(r, b, st, m);
    if (s == ML_OK) s = build_index(b);
    ml_safetensors_close(st);
    free(ids);
    return s;
}

/* Takes card (a reference) whatever the result. */
static ml_status assemble(ml_model_bundle **out, json_t *card, const char *card_name,
                          const tensor_source *src) {
    ml_model_bundle *b = calloc(1, sizeof *b);
    ml_status st = b ? ML_OK : ML_NOMEM();
    card_reader r = {card_name, ML_OK};
    if (st == ML_OK) {
        ml_evaluate_options defaults = ML_EVALUATE_OPTIONS_INIT;
        b->opts = defaults;
        b->index = (ml__strmap)ML__STRMAP_INIT;
        st = load_parts(&r, b, card, src);
    }
    if (st == ML_OK) {
        *out = b;
        b = NULL;
    }
    ml_model_bundle_free(b);
    json_decref(card);
    return st;
}

ml_status ml_model_bundle_load(ml_model_bundle **out, const char *dir) {
    char card_path[PATH_MAX_BYTES], tensors_path[PATH_MAX_BYTES];
    ML_TRY(join_path(card_path, dir, "card.json"));
    ML_TRY(join_path(tensors_path, dir, "model.safetensors"));
    json_t *card = NULL;
    ML_TRY(read_card(&card, card_path));
    tensor_source src = {tensors_path, NULL, 0, NULL};
    return assemble(out, card, card_path, &src);
}

ml_status ml__model_bundle_parse(ml_model_bundle **out, const char *card_text, size_t card_len,
                                 const char *card_name, const void *tensors, size_t tensors_len,
                                 const char *tensors_name) {
    if (card_len > CARD_MAX_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s: %zu bytes (expected at most %u for a card)", card_name,
                       card_len, CARD_MAX_BYTES);
    json_t *card = NULL;
    ML_TRY(parse_card(&card, card_text, card_len, card_name));
    tensor_source src = {NULL, tensors, tensors_len, tensors_name};
    return assemble(out, card, card_name, &src);
}

/* ---- Scoring --------------------------------------------------------------------------- */

/* out_of (n_features of t): the bundle output of each table feature, or SIZE_MAX. */
static size_t *map_features(const ml_model_bundle *b, const ml_table *t) {
    size_t nf = ml_table_n_features(t);
    size_t *out_of = malloc((nf ? nf : 1) * sizeof *out_of);
    if (!out_of) return NULL;
    for (size_t j = 0; j < nf; j++) {
        const char *id = ml_table_feature_id(t, j);
        if (!ml__strmap_get(&b->index, id, strlen(id), &out_of[j])) out_of[j] = SIZE_MAX;
    }
    return out_of;
}

ml_status ml_model_bundle_match(const ml_model_bundle *b, const ml_table *t, size_t *n_unknown,
                                size_t *n_missing) {
    size_t *out_of = map_features(b, t);
    if (!out_of) return ML_NOMEM();
    size_t unknown = 0, found = 0;
    for (size_t j = 0; j < ml_table_n_features(t); j++) {
        if (out_of[j] == SIZE_MAX) unknown++;
        else found++;
    }
    free(out_of);
    *n_unknown = unknown;
    *n_missing = ml_transform_n_outputs(b->tf) - found;
    return ML_OK;
}

ml_status ml__model_bundle_score_dense(const ml_model_bundle *b, double *x, const double *totals,
                                       size_t n, double *score) {
    ML_TRY(ml_transform_apply_dense(b->tf, x, totals, n, x));
    return ml_classifier_predict_score(b->clf, x, n, score);
}

ml_status ml_model_bundle_predict(const ml_model_bundle *b, const ml_table *t,
                                  const size_t *rows, size_t n, double *score) {
    size_t ns = ml_table_n_samples(t), m = ml_transform_n_outputs(b->tf);
    if (!rows && n != ns)
        return ML_FAIL(ML_EINVAL, "rows is NULL (all samples) but n is %zu, not the table's "
                       "%zu samples", n, ns);
    for (size_t i = 0; rows && i < n; i++)
        if (rows[i] >= ns)
            return ML_FAIL(ML_EINVAL, "rows[%zu] = %zu is out of range (table has %zu samples)",
                           i, rows[i], ns);
    if (n > SIZE_MAX / sizeof(double) / m) return ML_NOMEM();
    size_t *out_of = map_features(b, t);
    double *X = calloc((n ? n : 1) * m, sizeof *X), *totals = malloc((n ? n : 1) * sizeof *totals);
    ml_status st = out_of && X && totals ? ML_OK : ML_NOMEM();
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        size_t s = rows ? rows[i] : i, k;
        const uint32_t *feat;
        const double *val;
        ml_table_row(t, s, &feat, &val, &k);
        for (size_t e = 0; e < k; e++)
            if (out_of[feat[e]] != SIZE_MAX) X[i * m + out_of[feat[e]]] = val[e];
        totals[i] = ml_table_row_sum(t, s);
    }
    if (st == ML_OK) st = ml__model_bundle_score_dense(b, X, totals, n, score);
    free(totals);
    free(X);
    free(out_of);
    return st;
}
