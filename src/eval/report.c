/* report.c - an evaluation as JSON, as text and as a fold-assignment CSV. It computes no
 * metric: everything shown was computed by evaluate.c. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluate.h"
#include "util/error.h"
#include "util/json.h"
#include "util/outbuf.h"

static const char *const metric_names[5] = {"roc_auc", "average_precision", "f1", "accuracy",
                                            "balanced_accuracy"};

static double metric_value(const ml__metric_set *m, size_t k) {
    const double v[5] = {m->roc_auc, m->average_precision, m->f1, m->accuracy,
                         m->balanced_accuracy};
    return v[k];
}


static const char *split_name(ml_split_kind k) {
    static const char *const names[] = {"stratified_kfold", "stratified_group_kfold",
                                        "leave_one_group_out"};
    return (unsigned)k <= ML_SPLIT_LEAVE_ONE_GROUP_OUT ? names[k] : "unknown";
}

json_t *ml__metric_set_json(const ml__metric_set *m, int with_confusion) {
    json_t *o = json_object();
    if (!o) return NULL;
    for (size_t k = 0; k < 5; k++)
        json_object_set_new(o, metric_names[k], ml__json_number(metric_value(m, k)));
    if (with_confusion)
        json_object_set_new(o, "confusion",
                            json_pack("{s:I,s:I,s:I,s:I}", "tp", (json_int_t)m->tp, "fp",
                                      (json_int_t)m->fp, "tn", (json_int_t)m->tn, "fn",
                                      (json_int_t)m->fn));
    return o;
}

static json_t *u64_json(uint64_t v) {
    if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

/* Every field, named as ml_classifier_options_set accepts them, so a card can be read back. */
json_t *ml__model_options_json(const ml_classifier_options *o) {
    json_t *hidden = json_array();
    for (size_t i = 0; hidden && i < o->n_hidden; i++)
        json_array_append_new(hidden, json_integer((json_int_t)o->hidden[i]));
    return json_pack(
        "{s:s, s:f, s:s, s:f, s:b, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:o, s:f, s:f, s:I, s:I, "
        "s:I, s:f, s:o}",
        "kind", ml_classifier_kind_name(o->kind), "C", o->C, "penalty",
        ml_penalty_name(o->penalty), "l1_ratio", o->l1_ratio, "has_intercept", o->has_intercept,
        "class_weight", o->is_balanced ? "balanced" : "none", "tol", o->tol, "max_iter",
        (json_int_t)o->max_iter, "n_trees", (json_int_t)o->n_trees, "max_depth",
        (json_int_t)o->max_depth, "max_features", (json_int_t)o->max_features,
        "min_samples_leaf", (json_int_t)o->min_samples_leaf, "hidden", hidden, "lr", o->lr,
        "weight_decay", o->weight_decay, "batch_size", (json_int_t)o->batch_size, "max_epochs",
        (json_int_t)o->max_epochs, "patience", (json_int_t)o->patience, "validation_fraction",
        o->validation_fraction, "seed", u64_json(o->seed));
}

json_t *ml__transform_options_json(const ml_transform_options *o) {
    double pc = o->kind == ML_TRANSFORM_CLR   ? o->clr_pseudocount
                : o->kind == ML_TRANSFORM_LOG ? o->log_pseudocount
                                              : 0.0;
    return json_pack("{s:s, s:o, s:f, s:f, s:f, s:f, s:I, s:b}", "kind",
                     ml_transform_kind_name(o->kind), "pseudocount",
                     pc > 0 ? json_real(pc) : json_null(), "log_pseudocount",
                     o->log_pseudocount, "clr_pseudocount", o->clr_pseudocount,
                     "min_prevalence", o->min_prevalence, "min_abundance", o->min_abundance,
                     "top_k", (json_int_t)o->top_k, "scale", o->scale);
}

static json_t *cv_settings_json(const ml_evaluation *e) {
    const ml_evaluate_options *o = &e->opts;
    return json_pack("{s:s, s:I, s:I, s:o, s:b, s:o, s:I}", "kind", split_name(o->split),
                     "k", (json_int_t)e->n_folds, "repeats", (json_int_t)e->n_repeats, "seed",
                     u64_json(o->seed), "nested", e->grid != NULL, "grid",
                     e->grid_spec ? json_string(e->grid_spec) : json_null(), "inner_k",
                     (json_int_t)(e->grid ? o->n_inner_folds : 0));
}

static json_t *pooled_json(const ml_evaluation *e) {
    if (e->n_repeats == 1) return ml__metric_set_json(&e->pooled[0], 1);
    ml__metric_set avg = {0};
    double sums[5] = {0};
    for (size_t r = 0; r < e->n_repeats; r++)
        for (size_t k = 0; k < 5; k++) sums[k] += metric_value(&e->pooled[r], k);
    double R = (double)e->n_repeats;
    avg.roc_auc = sums[0] / R;
    avg.average_precision = sums[1] / R;
    avg.f1 = sums[2] / R;
    avg.accuracy = sums[3] / R;
    avg.balanced_accuracy = sums[4] / R;
    return ml__metric_set_json(&avg, 0); /* a mean of confusions is no confusion matrix */
}

static json_t *ci_json(const ml_evaluation *e, size_t r) {
    return json_pack("{s:[f,f], s:I}", "roc_auc", e->pooled_ci[2 * r], e->pooled_ci[2 * r + 1],
                     "n_boot_used", (json_int_t)e->ci_used[r]);
}

json_t *ml__cv_summary_json(const ml_evaluation *e) {
    json_t *o = cv_settings_json(e);
    if (!o) return NULL;
    json_object_set_new(o, "n_samples", json_integer((json_int_t)e->n_labelled));
    json_object_set_new(o, "pooled", pooled_json(e));
    json_object_set_new(o, "mean", ml__metric_set_json(&e->mean, 0));
    json_object_set_new(o, "sd", ml__metric_set_json(&e->sd, 0));
    json_object_set_new(o, "ci95", ci_json(e, 0));
    return o;
}

static json_t *fold_json(const ml_evaluation *e, const ml__fold_result *f) {
    json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "repeat", (json_int_t)f->repeat, "fold",
                          (json_int_t)f->fold, "n_train", (json_int_t)f->n_train, "n_test",
                          (json_int_t)f->n_test);
    json_t *m = ml__metric_set_json(&f->m, 1);
    if (!o || !m) {
        json_decref(o);
        json_decref(m);
        return NULL;
    }
    json_object_update(o, m);
    json_decref(m);
    if (e->grid && f->chosen != SIZE_MAX) {
        char buf[512];
        ml_grid_describe(e->grid, f->chosen, buf, sizeof buf);
        json_object_set_new(o, "chosen", json_string(buf));
        json_object_set_new(o, "chosen_inner_roc_auc", ml__json_number(f->chosen_inner_auc));
    }
    return o;
}

static json_t *evaluation_json(const ml_evaluation *e) {
    json_t *root = json_object(), *folds = json_array(), *by_repeat = json_array();
    if (!root || !folds || !by_repeat) {
        json_decref(root);
        json_decref(folds);
        json_decref(by_repeat);
        return NULL;
    }
    json_object_set_new(root, "model", ml__model_options_json(&e->opts.model));
    json_object_set_new(root, "transform", ml__transform_options_json(&e->opts.transform));
    json_object_set_new(root, "cv", cv_settings_json(e));
    json_object_set_new(root, "n_samples", json_integer((json_int_t)e->n_labelled));
    json_object_set_new(root, "n_positive", json_integer((json_int_t)e->n_positive));
    json_object_set_new(root, "classes", json_pack("[s,s]", e->class_name[0], e->class_name[1]));
    json_object_set_new(root, "positive_class", json_string(e->class_name[1]));
    json_object_set_new(root, "threshold", json_real(e->threshold));
    json_object_set_new(root, "pooled", pooled_json(e));
    for (size_t r = 0; r < e->n_repeats; r++) {
        json_t *p = ml__metric_set_json(&e->pooled[r], 1);
        if (p) json_object_set_new(p, "ci95", ci_json(e, r));
        json_array_append_new(by_repeat, p);
    }
    json_object_set_new(root, "pooled_by_repeat", by_repeat);
    json_object_set_new(root, "mean", ml__metric_set_json(&e->mean, 0));
    json_object_set_new(root, "sd", ml__metric_set_json(&e->sd, 0));
    json_object_set_new(root, "ci95", ci_json(e, 0));
    for (size_t i = 0; i < e->n_repeats * e->n_folds; i++)
        json_array_append_new(folds, fold_json(e, &e->folds[i]));
    json_object_set_new(root, "folds", folds);
    json_object_set_new(root, "fingerprint", json_string(e->fingerprint));
    return root;
}

/* jansson allocates with its own allocator; the caller gets a malloc'd copy for ml_free. */
static ml_status dump(json_t *doc, char **out) {
    char *s = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!s) return ML_NOMEM();
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);
    if (copy) memcpy(copy, s, len);
    free(s);
    if (!copy) return ML_NOMEM();
    *out = copy;
    return ML_OK;
}

ml_status ml_evaluation_json(const ml_evaluation *e, char **json) {
    return dump(evaluation_json(e), json);
}

/* A growing text buffer; sticky out-of-memory. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void add(text *t, const char *fmt, ...) ML_PRINTF(2, 3);
static void add(text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    size_t need = t->len + (size_t)n + 1;
    if (need > t->cap) {
        size_t cap = need * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void add_metric_line(text *t, const char *label, const ml__metric_set *m, int confusion) {
    add(t, "%-10s roc_auc %.4f  ap %.4f  f1 %.4f  acc %.4f  bal_acc %.4f", label, m->roc_auc,
        m->average_precision, m->f1, m->accuracy, m->balanced_accuracy);
    if (confusion) add(t, "  tp %zu fp %zu tn %zu fn %zu", m->tp, m->fp, m->tn, m->fn);
    add(t, "\n");
}

ml_status ml_evaluation_text(const ml_evaluation *e, char **out) {
    text t = {NULL, 0, 0, 0};
    const ml_evaluate_options *o = &e->opts;
    add(&t, "model: %s (C %g, penalty %s%s)\n", ml_classifier_kind_name(o->model.kind),
        o->model.C, ml_penalty_name(o->model.penalty),
        o->model.is_balanced ? ", balanced classes" : "");
    add(&t, "transform: %s%s\n", ml_transform_kind_name(o->transform.kind),
        o->transform.scale ? " + standard scaling (fitted per training fold)" : "");
    add(&t, "cv: %s, %zu folds x %zu repeats, seed %llu%s%s\n", split_name(o->split),
        e->n_folds, e->n_repeats, (unsigned long long)o->seed, e->grid ? ", nested grid " : "",
        e->grid ? e->grid_spec : "");
    add(&t, "samples: %zu labelled, %zu positive (%s)\n", e->n_labelled, e->n_positive,
        e->class_name[1]);
    for (size_t i = 0; i < e->n_repeats * e->n_folds; i++) {
        const ml__fold_result *f = &e->folds[i];
        char label[32];
        snprintf(label, sizeof label, "r%zu f%zu", f->repeat, f->fold);
        add_metric_line(&t, label, &f->m, 1);
    }
    for (size_t r = 0; r < e->n_repeats; r++) {
        char label[32];
        snprintf(label, sizeof label, "pooled r%zu", r);
        add_metric_line(&t, label, &e->pooled[r], 1);
    }
    add_metric_line(&t, "mean", &e->mean, 0);
    add_metric_line(&t, "sd", &e->sd, 0);
    add(&t, "pooled ROC-AUC %.4f, 95%% CI [%.4f, %.4f] (bootstrap, %zu resamples, repeat 0)\n",
        ml_evaluation_pooled_roc_auc(e), e->pooled_ci[0], e->pooled_ci[1], e->ci_used[0]);
    add(&t, "fingerprint: %s\n", e->fingerprint);
    if (t.failed) {
        free(t.s);
        return ML_NOMEM();
    }
    *out = t.s;
    return ML_OK;
}

ml_status ml_evaluation_write_folds(const ml_evaluation *e, const char *path) {
    ml__outbuf b;
    ml_status st = ml__outbuf_open(&b, path, 0644);
    if (st != ML_OK) {
        ml__outbuf_abort(&b);
        return st;
    }
    ml__outbuf_puts(&b, "sample_index,repeat,fold\n");
    for (size_t r = 0; r < e->n_repeats; r++)
        for (size_t i = 0; i < e->n; i++)
            if (e->fold[r * e->n + i] >= 0)
                ml__outbuf_printf(&b, "%zu,%zu,%d\n", i, r, e->fold[r * e->n + i]);
    return ml__outbuf_commit(&b);
}
