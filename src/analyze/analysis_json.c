/* analysis_json.c - an ml_analysis as one JSON document (jansson) with the run's metadata and
 * notes; NaN and infinities become null, absent steps (-1) too. It decides nothing: the
 * numbers and findings are the analysis'. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"
#include "util/json.h"

static json_t *num(double v) { return ml__json_number(v); } /* forty uses: short */
static json_t *step_or_null(int64_t s) { return s >= 0 ? json_integer((json_int_t)s) : json_null(); }
static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }
static json_t *count(size_t n) { return json_integer((json_int_t)n); }

/* Sets key to v (stolen); returns 1 on failure so that callers can OR the results. */
static int put(json_t *o, const char *key, json_t *v) {
    return !o || json_object_set_new(o, key, v) != 0;
}

static int append(json_t *a, json_t *v) { return !a || json_array_append_new(a, v) != 0; }

static json_t *loss_json(const ml_loss_analysis *l) {
    json_t *o = json_object();
    int bad = put(o, "present", json_boolean(l->present));
    bad |= put(o, "n_points", count(l->n_points));
    bad |= put(o, "initial", num(l->initial));
    bad |= put(o, "final", num(l->final));
    bad |= put(o, "best", num(l->best));
    bad |= put(o, "best_step", step_or_null(l->best_step));
    bad |= put(o, "reduction", num(l->reduction));
    bad |= put(o, "smoothness", num(l->smoothness));
    bad |= put(o, "plateau", json_boolean(l->plateau));
    bad |= put(o, "plateau_step", step_or_null(l->plateau_step));
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

static json_t *convergence_json(const ml_loss_analysis *l) {
    json_t *o = json_object();
    int bad = put(o, "converged", json_boolean(l->converged));
    bad |= put(o, "step", step_or_null(l->converged_step));
    bad |= put(o, "rule", json_string("consecutive windows of 10% of the loss points (1..50) "
                                      "differ by under 1% of the loss scale or 2 standard "
                                      "errors, from this step to the end"));
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

static json_t *overfit_json(const ml_overfit_analysis *v) {
    json_t *o = json_object();
    int bad = put(o, "present", json_boolean(v->present));
    bad |= put(o, "best_eval_loss", num(v->best_eval_loss));
    bad |= put(o, "best_eval_step", step_or_null(v->best_eval_step));
    bad |= put(o, "best_checkpoint", str_or_null(v->best_checkpoint));
    bad |= put(o, "first_eval_loss", num(v->first_eval_loss));
    bad |= put(o, "final_eval_loss", num(v->final_eval_loss));
    bad |= put(o, "train_slope_per_1k_steps", num(v->train_slope));
    bad |= put(o, "eval_slope_per_1k_steps", num(v->eval_slope));
    bad |= put(o, "gap", num(v->gap));
    bad |= put(o, "overfitting", json_boolean(v->overfitting));
    bad |= put(o, "divergence_step", step_or_null(v->divergence_step));
    bad |= put(o, "early_stop_step", step_or_null(v->early_stop_step));
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

/* gradients.spike_steps lists at most this many flagged steps (the first ones), and
 * spike_steps_truncated how many more there were: a diverging 100k-step run can flag every
 * step, and the document is for reading, not for replaying the series (metrics has that). */
#define JSON_MAX_SPIKE_STEPS 1000

/* [{"step": s, "norm": v}, ...] of the first JSON_MAX_SPIKE_STEPS flagged steps. */
static json_t *spike_steps_json(const ml_gradient_analysis *g) {
    json_t *a = json_array();
    int bad = !a;
    for (size_t i = 0; !bad && i < g->n_spike_steps && i < JSON_MAX_SPIKE_STEPS; i++)
        bad |= append(a, json_pack("{s:I, s:o}", "step", (json_int_t)g->spike_steps[i], "norm",
                                   num(g->spike_norms[i])));
    if (bad) json_decref(a);
    return bad ? NULL : a;
}

static json_t *gradient_json(const ml_gradient_analysis *g) {
    json_t *o = json_object(), *t = json_array();
    int bad = put(o, "present", json_boolean(g->present));
    bad |= put(o, "median_norm", num(g->median_norm));
    bad |= put(o, "max_norm", num(g->max_norm));
    bad |= put(o, "max_norm_step", step_or_null(g->max_norm_step));
    bad |= put(o, "n_spikes", count(g->n_spikes));
    bad |= put(o, "first_spike_step", step_or_null(g->first_spike_step));
    bad |= put(o, "first_spike_norm", num(g->first_spike_norm));
    bad |= put(o, "first_spike_median", num(g->first_spike_median));
    bad |= put(o, "spike_ratio", num(g->spike_ratio));
    bad |= put(o, "spike_steps", spike_steps_json(g));
    if (g->n_spike_steps > JSON_MAX_SPIKE_STEPS)
        bad |= put(o, "spike_steps_truncated", count(g->n_spike_steps - JSON_MAX_SPIKE_STEPS));
    bad |= put(o, "n_nonfinite", count(g->n_nonfinite));
    bad |= put(o, "first_nonfinite_step", step_or_null(g->first_nonfinite_step));
    bad |= put(o, "vanishing", json_boolean(g->vanishing));
    bad |= put(o, "cosine_mean", g->has_cosine ? num(g->cosine_mean) : json_null());
    bad |= put(o, "cosine_std", g->has_cosine ? num(g->cosine_std) : json_null());
    for (size_t i = 0; !bad && i < g->n_tensors; i++) {
        const ml_tensor_flow *f = &g->tensors[i];
        bad |= append(t, json_pack("{s:s, s:o, s:o, s:b}", "name", f->name, "mean_grad_norm",
                                   num(f->mean_grad_norm), "share", num(f->share), "dead",
                                   f->dead));
    }
    bad |= put(o, "tensors", t);
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

static json_t *weights_json(const ml_weight_analysis *w) {
    json_t *o = json_object(), *t = json_array();
    int bad = put(o, "present", json_boolean(w->present));
    for (size_t i = 0; !bad && i < w->n_tensors; i++) {
        const ml_tensor_stability *s = &w->tensors[i];
        bad |= append(t, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "name", s->name, "cv",
                                   num(s->cv), "n_change_points", count(s->n_change_points),
                                   "first_change_step", step_or_null(s->first_change_step),
                                   "max_jump", num(s->max_jump), "max_jump_step",
                                   step_or_null(s->max_jump_step), "final_update_ratio",
                                   num(s->final_update_ratio)));
    }
    bad |= put(o, "tensors", t);
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

static json_t *lr_json(const ml_lr_analysis *l) {
    json_t *o = json_object();
    int bad = put(o, "present", json_boolean(l->present));
    bad |= put(o, "shape", json_string(ml_lr_schedule_shape_name(l->shape)));
    bad |= put(o, "warmup_steps", json_integer((json_int_t)l->warmup_steps));
    bad |= put(o, "initial", num(l->initial));
    bad |= put(o, "peak", num(l->peak));
    bad |= put(o, "final", num(l->final));
    bad |= put(o, "fit_rmse", num(l->fit_rmse));
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

/* Index of module in the first checkpoint's spectra (the cosine columns), or SIZE_MAX. */
static size_t first_index(const ml_lora_evolution *e, const char *module) {
    const ml_lora_spectra *f = e->spectra[0];
    for (size_t j = 0; j < f->n_modules; j++)
        if (strcmp(f->modules[j].module, module) == 0) return j;
    return SIZE_MAX;
}

static json_t *module_json(const ml_lora_evolution *e, size_t c, const ml_lora_spectrum *m) {
    json_t *sig = json_array();
    int bad = 0;
    for (size_t k = 0; sig && k < m->rank; k++) bad |= append(sig, num(m->sigma[k]));
    size_t j = first_index(e, m->module), w = e->spectra[0]->n_modules;
    double cf = j != SIZE_MAX && e->cos_first ? e->cos_first[c * w + j] : NAN;
    double cp = j != SIZE_MAX && e->cos_prev ? e->cos_prev[c * w + j] : NAN;
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                          "module", m->module, "rank", count(m->rank), "d_out", count(m->d_out),
                          "d_in", count(m->d_in), "scale", num(m->scale), "frob_sq",
                          num(m->frob_sq), "effective_rank", num(m->effective_rank),
                          "stable_rank", num(m->stable_rank), "utilisation",
                          num(m->utilisation), "condition", num(m->condition), "energy_share",
                          num(m->energy_share), "cos_first", num(cf), "cos_prev", num(cp),
                          "sigma", sig ? sig : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *lora_json(const ml_analysis *a) {
    if (!a->has_lora) return json_null();
    const ml_lora_evolution *e = &a->lora;
    json_t *o = json_object(), *cks = json_array();
    int bad = !o || !cks;
    for (size_t c = 0; !bad && c < e->n_checkpoints; c++) {
        const ml_lora_spectra *sp = e->spectra[c];
        json_t *mods = json_array();
        for (size_t j = 0; mods && !bad && j < sp->n_modules; j++)
            bad |= append(mods, module_json(e, c, &sp->modules[j]));
        bad |= append(cks, json_pack("{s:I, s:o, s:o}", "step", (json_int_t)e->steps[c], "hhi",
                                     num(sp->hhi), "modules", mods ? mods : json_null()));
    }
    bad |= put(o, "checkpoints", cks);
    if (bad) json_decref(o);
    return bad ? NULL : o;
}

static json_t *findings_json(const ml_analysis *a) {
    json_t *arr = json_array();
    int bad = !arr;
    for (size_t i = 0; !bad && i < a->n_findings; i++) {
        const ml_finding *f = &a->findings[i];
        bad |= append(arr, json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "code", f->code,
                                     "severity", ml_severity_name(f->severity), "step",
                                     step_or_null(f->step), "title", f->title, "evidence",
                                     f->evidence, "recommendation", f->recommendation));
    }
    if (bad) json_decref(arr);
    return bad ? NULL : arr;
}

static json_t *notes_json(const ml_run_source *s) {
    const char *const *notes;
    size_t n;
    ml_run_source_notes(s, &notes, &n);
    json_t *arr = json_array();
    int bad = !arr;
    for (size_t i = 0; !bad && i < n; i++) bad |= append(arr, json_string(notes[i]));
    if (bad) json_decref(arr);
    return bad ? NULL : arr;
}

ml_status ml_analysis_json(const ml_analysis *a, const ml_run_source *s, char **json) {
    if (!a || !s || !json) return ML_FAIL(ML_EINVAL, "analysis JSON: NULL argument");
    json_t *o = json_object();
    int bad = put(o, "verdict", json_string(ml_verdict_name(a->verdict)));
    bad |= put(o, "score", num(a->score));
    bad |= put(o, "window", json_pack("{s:o, s:o}", "first_step", step_or_null(a->first_step),
                                      "last_step", step_or_null(a->last_step)));
    bad |= put(o, "loss", loss_json(&a->loss));
    bad |= put(o, "convergence", convergence_json(&a->loss));
    bad |= put(o, "overfitting", overfit_json(&a->overfit));
    bad |= put(o, "gradients", gradient_json(&a->gradient));
    bad |= put(o, "weights", weights_json(&a->weights));
    bad |= put(o, "learning_rate", lr_json(&a->lr));
    bad |= put(o, "lora", lora_json(a));
    bad |= put(o, "findings", findings_json(a));
    bad |= put(o, "run", json_deep_copy(s->meta));
    bad |= put(o, "notes", notes_json(s));
    char *text = bad ? NULL : json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    json_decref(o);
    if (!text) return ML_NOMEM();
    *json = text;
    return ML_OK;
}
