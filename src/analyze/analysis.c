/* analysis.c - ml_analyze: takes the series of a run source in the step window, runs each
 * analysis on them, then the diagnosis; and ml_analysis_free. It computes nothing itself:
 * loss.c, overfit.c, gradient.c, weights.c, lrsched.c, evolution.c and diagnose.c do. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* The series called name in the window; *present false when the source has no such metric. */
static void window_series(const ml_run_source *s, const char *name, const ml_analyze_options *o,
                          ml_series *out, bool *present) {
    *present = ml_run_source_series(s, name, o->first_step, o->last_step, out) == ML_OK;
    if (!*present) ml_error_clear(); /* an absent metric leaves its analysis absent */
}

/* Every metric named prefix<tensor>, with the prefix cut off, in name order. */
static ml_status family(const ml_run_source *s, const char *prefix, const ml_analyze_options *o,
                        ml__named_series **out, size_t *n_out) {
    const char *const *names;
    size_t n, k = 0, pl = strlen(prefix);
    ml_run_source_metric_names(s, &names, &n);
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) k += strncmp(names[i], prefix, pl) == 0 && names[i][pl];
    if (k == 0) return ML_OK;
    ml__named_series *f = malloc(k * sizeof *f);
    if (!f) return ML_NOMEM();
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], prefix, pl) != 0 || !names[i][pl]) continue;
        f[k].name = names[i] + pl;
        ml_status st = ml_run_source_series(s, names[i], o->first_step, o->last_step,
                                            &f[k].series);
        if (st != ML_OK) {
            free(f);
            return st;
        }
        k++;
    }
    *out = f;
    *n_out = k;
    return ML_OK;
}

/* The window actually covered: the first and last step of any point inside the requested one. */
static void covered_window(ml_analysis *a, const ml_run_source *s, const ml_analyze_options *o) {
    const char *const *names;
    size_t n;
    ml_run_source_metric_names(s, &names, &n);
    int64_t lo = INT64_MAX, hi = -1;
    for (size_t i = 0; i < n; i++) {
        ml_series w;
        if (ml_run_source_series(s, names[i], o->first_step, o->last_step, &w) != ML_OK || !w.n)
            continue;
        if (w.steps[0] < lo) lo = w.steps[0];
        if (w.steps[w.n - 1] > hi) hi = w.steps[w.n - 1];
    }
    a->first_step = hi >= 0 ? lo : o->first_step;
    a->last_step = hi >= 0 ? hi : (o->last_step == ML_RUNSTORE_LAST_STEP ? -1 : o->last_step);
}

/* Status, last error and whether the window holds the run's first logged step. */
static void run_facts(ml__run_facts *f, const ml_run_source *s, const ml_analyze_options *o) {
    memset(f, 0, sizeof *f);
    f->status = s->status;
    f->last_error_step = -1;
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].level == ML_EVENT_ERROR) {
            f->last_error = s->events[i].text;
            f->last_error_step = s->events[i].step;
        }
    ml_series all;
    bool has_loss = ml_run_source_series(s, "loss", 0, ML_RUNSTORE_LAST_STEP, &all) == ML_OK;
    if (!has_loss) ml_error_clear();
    f->window_has_start = !has_loss || all.n == 0 || o->first_step <= all.steps[0];
}

static ml_status check_options(const ml_analyze_options *o) {
    if (!o || o->version != ML_ANALYZE_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "analyze options: unknown version (expected %d)",
                       ML_ANALYZE_OPTIONS_VERSION);
    if (o->first_step < 0 || o->last_step < o->first_step)
        return ML_FAIL(ML_EINVAL, "analyze options: step window %lld:%lld is empty (expected "
                       "0 <= first <= last)", (long long)o->first_step, (long long)o->last_step);
    return ML_OK;
}

static ml_status gradient_part(ml_analysis *a, const ml_run_source *s,
                               const ml_analyze_options *o) {
    ml_series norm, loss, nonfinite, cosine;
    bool has_norm, has_loss, has_nf, has_cos;
    window_series(s, "grad_norm", o, &norm, &has_norm);
    window_series(s, "loss", o, &loss, &has_loss);
    window_series(s, "grad/nonfinite_fraction", o, &nonfinite, &has_nf);
    window_series(s, "grad/cosine_prev", o, &cosine, &has_cos);
    ml__gradient_inputs in = {has_norm ? &norm : NULL, has_loss ? &loss : NULL,
                              has_nf ? &nonfinite : NULL, has_cos ? &cosine : NULL, NULL, 0};
    ml__named_series *tensors = NULL;
    ML_TRY(family(s, "grad_norm/", o, &tensors, &in.n_tensors));
    in.tensors = tensors;
    ml_status st = ml__gradient_analyze(&a->gradient, &in);
    free(tensors);
    return st;
}

static ml_status weights_part(ml_analysis *a, const ml_run_source *s,
                              const ml_analyze_options *o) {
    ml__named_series *norms = NULL, *ratios = NULL;
    size_t n_norms = 0, n_ratios = 0;
    ml_status st = family(s, "weight_norm/", o, &norms, &n_norms);
    if (st == ML_OK) st = family(s, "update_ratio/", o, &ratios, &n_ratios);
    if (st == ML_OK) st = ml__weights_analyze(&a->weights, norms, n_norms, ratios, n_ratios);
    free(norms);
    free(ratios);
    return st;
}

static ml_status overfit_part(ml_analysis *a, const ml_run_source *s,
                              const ml_analyze_options *o) {
    ml_series eval, loss;
    bool has_eval, has_loss;
    window_series(s, "eval_loss", o, &eval, &has_eval);
    window_series(s, "loss", o, &loss, &has_loss);
    ml__ckpt_ref *refs = malloc((s->n_ckpts ? s->n_ckpts : 1) * sizeof *refs);
    if (!refs) return ML_NOMEM();
    for (size_t i = 0; i < s->n_ckpts; i++)
        refs[i] = (ml__ckpt_ref){s->ckpts[i].step, s->ckpt_names[i], s->ckpts[i].deleted};
    ml_status st = ml__overfit_analyze(&a->overfit, has_eval ? &eval : NULL,
                                       has_loss ? &loss : NULL, refs, s->n_ckpts);
    free(refs);
    return st;
}

static ml_status run_all(ml_analysis *a, const ml_run_source *s, const ml_analyze_options *o) {
    ml_series loss, lr;
    bool has_loss, has_lr;
    covered_window(a, s, o);
    window_series(s, "loss", o, &loss, &has_loss);
    window_series(s, "learning_rate", o, &lr, &has_lr);
    ML_TRY(ml__loss_analyze(&a->loss, has_loss ? &loss : NULL));
    ML_TRY(ml__lr_analyze(&a->lr, has_lr ? &lr : NULL));
    ML_TRY(overfit_part(a, s, o));
    ML_TRY(gradient_part(a, s, o));
    ML_TRY(weights_part(a, s, o));
    if (o->lora) ML_TRY(ml__lora_evolution(&a->lora, &a->has_lora, s, o->first_step, o->last_step));
    ml__run_facts facts;
    run_facts(&facts, s, o);
    return ml__diagnose(a, &facts);
}

ml_status ml_analyze(ml_analysis **out, const ml_run_source *s, const ml_analyze_options *o) {
    if (!out || !s) return ML_FAIL(ML_EINVAL, "analyze: NULL argument");
    ML_TRY(check_options(o));
    ml_analysis *a = calloc(1, sizeof *a);
    if (!a) return ML_NOMEM();
    ml_status st = run_all(a, s, o);
    if (st != ML_OK) {
        ml_analysis_free(a);
        return st;
    }
    *out = a;
    return ML_OK;
}

void ml_analysis_free(ml_analysis *a) {
    if (!a) return;
    ml__overfit_free(&a->overfit);
    ml__gradient_free(&a->gradient);
    ml__weights_free(&a->weights);
    ml__lora_evolution_free(&a->lora);
    ml__findings fs = {a->findings, a->n_findings, a->n_findings};
    ml__findings_free(&fs);
    free(a);
}
