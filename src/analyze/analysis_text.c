/* analysis_text.c - an ml_analysis as text for people: the verdict first, then every finding
 * with its evidence and recommendation, then the numbers of each analysis, then the notes. It
 * decides nothing and prints nothing: the caller writes the string. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Tensors listed per table in text (all of them are in the JSON). */
#define TEXT_MAX_TENSORS 8

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

/* "step N" or "-" into buf. */
static const char *step_text(char *buf, size_t cap, int64_t step) {
    if (step < 0) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%" PRId64, step);
    return buf;
}

static void header(ml__textbuf *b, const ml_analysis *a, const ml_run_source *s) {
    ml__textbuf_printf(b, "verdict: %s (score %.0f/100)\n", ml_verdict_name(a->verdict), a->score);
    ml__textbuf_printf(b, "run: %s (%s%s%s), steps %" PRId64 "..%" PRId64 "\n",
                       ml_run_source_path(s),
                       s->kind == ML_RUN_SOURCE_MICROLENS ? "microlens run" : "Hugging Face "
                                                                              "Trainer folder",
                       s->status ? ", status " : "", s->status ? s->status : "", a->first_step,
                       a->last_step);
}

static void findings(ml__textbuf *b, const ml_analysis *a) {
    ml__textbuf_printf(b, "\nfindings (%zu):\n", a->n_findings);
    if (a->n_findings == 0) ml__textbuf_printf(b, "  none\n");
    for (size_t i = 0; i < a->n_findings; i++) {
        const ml_finding *f = &a->findings[i];
        char st[32];
        ml__textbuf_printf(b, "  [%s] %s (step %s): %s\n", ml_severity_name(f->severity), f->code,
                           step_text(st, sizeof st, f->step), f->title);
        ml__textbuf_printf(b, "      evidence: %s\n      do: %s\n", f->evidence,
                           f->recommendation);
    }
}

static void loss(ml__textbuf *b, const ml_loss_analysis *l) {
    char s1[32], s2[32];
    if (!l->present) {
        ml__textbuf_printf(b, "\nloss: none (%zu finite points)\n", l->n_points);
        return;
    }
    ml__textbuf_printf(b, "\nloss: %zu points; initial %.4g, final %.4g, best %.4g at step %s; "
                       "reduction %.3g%%; smoothness %.2f\n", l->n_points, l->initial, l->final,
                       l->best, step_text(s1, sizeof s1, l->best_step), 100 * l->reduction,
                       l->smoothness);
    ml__textbuf_printf(b, "  plateau: %s%s%s; converged: %s%s%s\n", yes_no(l->plateau),
                       l->plateau ? " from step " : "",
                       l->plateau ? step_text(s1, sizeof s1, l->plateau_step) : "",
                       yes_no(l->converged), l->converged ? " at step " : "",
                       l->converged ? step_text(s2, sizeof s2, l->converged_step) : "");
}

static void overfit(ml__textbuf *b, const ml_overfit_analysis *o) {
    char s1[32], s2[32], s3[32];
    if (!o->present) {
        ml__textbuf_printf(b, "validation: none\n");
        return;
    }
    ml__textbuf_printf(b, "validation: best eval_loss %.4g at step %s (checkpoint %s); first "
                       "%.4g, final %.4g; gap to train %.4g\n", o->best_eval_loss,
                       step_text(s1, sizeof s1, o->best_eval_step),
                       o->best_checkpoint ? o->best_checkpoint : "none", o->first_eval_loss,
                       o->final_eval_loss, o->gap);
    if (isnan(o->eval_slope)) {
        ml__textbuf_printf(b, "  the best is the last evaluation; overfitting: no\n");
        return;
    }
    ml__textbuf_printf(b, "  after the best: eval slope %+.3g, train slope %+.3g per 1000 "
                       "steps; overfitting: %s", o->eval_slope, o->train_slope,
                       yes_no(o->overfitting));
    if (o->overfitting)
        ml__textbuf_printf(b, " (from step %s, early stop at %s)",
                           step_text(s2, sizeof s2, o->divergence_step),
                           step_text(s3, sizeof s3, o->early_stop_step));
    ml__textbuf_printf(b, "\n");
}

static void gradient(ml__textbuf *b, const ml_gradient_analysis *g) {
    char s1[32], s2[32], s3[32];
    if (!g->present && !g->n_nonfinite) {
        ml__textbuf_printf(b, "gradients: none\n");
        return;
    }
    ml__textbuf_printf(b, "gradients: median norm %.4g, max %.4g at step %s; spikes %zu (first "
                       "at %s); non-finite steps %zu (first at %s); vanishing %s\n",
                       g->median_norm, g->max_norm, step_text(s1, sizeof s1, g->max_norm_step),
                       g->n_spikes, step_text(s2, sizeof s2, g->first_spike_step),
                       g->n_nonfinite, step_text(s3, sizeof s3, g->first_nonfinite_step),
                       yes_no(g->vanishing));
    if (g->has_cosine)
        ml__textbuf_printf(b, "  consistency: mean cosine of consecutive gradients %.3f (sd "
                           "%.3f)\n", g->cosine_mean, g->cosine_std);
    for (size_t i = 0; i < g->n_tensors && i < TEXT_MAX_TENSORS; i++)
        ml__textbuf_printf(b, "  %-48s mean norm %-10.4g share %5.1f%%%s\n", g->tensors[i].name,
                           g->tensors[i].mean_grad_norm, 100 * g->tensors[i].share,
                           g->tensors[i].dead ? "  DEAD" : "");
    if (g->n_tensors > TEXT_MAX_TENSORS)
        ml__textbuf_printf(b, "  ... %zu more tensors (--json lists all)\n",
                           g->n_tensors - TEXT_MAX_TENSORS);
}

static void weights(ml__textbuf *b, const ml_weight_analysis *w) {
    if (!w->present) {
        ml__textbuf_printf(b, "weights: none\n");
        return;
    }
    ml__textbuf_printf(b, "weights: %zu tensors\n", w->n_tensors);
    for (size_t i = 0; i < w->n_tensors && i < TEXT_MAX_TENSORS; i++) {
        const ml_tensor_stability *t = &w->tensors[i];
        char s1[32];
        ml__textbuf_printf(b, "  %-48s cv %-8.3g change points %zu, max jump %.2f%% at step "
                           "%s, update ratio %.3g\n", t->name, t->cv, t->n_change_points,
                           100 * t->max_jump, step_text(s1, sizeof s1, t->max_jump_step),
                           t->final_update_ratio);
    }
    if (w->n_tensors > TEXT_MAX_TENSORS)
        ml__textbuf_printf(b, "  ... %zu more tensors (--json lists all)\n",
                           w->n_tensors - TEXT_MAX_TENSORS);
}

static void lr(ml__textbuf *b, const ml_lr_analysis *l) {
    if (!l->present) {
        ml__textbuf_printf(b, "learning rate: none\n");
        return;
    }
    if (l->warmup_steps > 0)
        ml__textbuf_printf(b, "learning rate: %s after a %" PRId64 "-step warm-up",
                           ml_lr_schedule_shape_name(l->shape), l->warmup_steps);
    else
        ml__textbuf_printf(b, "learning rate: %s, no warm-up", ml_lr_schedule_shape_name(l->shape));
    ml__textbuf_printf(b, " (fit error %.2g of the peak); initial %.4g, peak %.4g, final %.4g\n",
                       l->fit_rmse, l->initial, l->peak, l->final);
}

static void lora(ml__textbuf *b, const ml_analysis *a) {
    if (!a->has_lora) return;
    const ml_lora_evolution *e = &a->lora;
    ml__textbuf_printf(b, "lora: %zu adapter checkpoints\n", e->n_checkpoints);
    for (size_t c = 0; c < e->n_checkpoints; c++) {
        const ml_lora_spectra *sp = e->spectra[c];
        ml__textbuf_printf(b, "  step %" PRId64 ": %zu modules, energy HHI %.3f\n", e->steps[c],
                           sp->n_modules, sp->hhi);
    }
    size_t last = e->n_checkpoints - 1, w = e->spectra[0]->n_modules;
    const ml_lora_spectra *sp = e->spectra[last];
    ml__textbuf_printf(b, "  at step %" PRId64 ":  module  r  eff.rank  stable  util  cond  "
                       "energy  cos(first)  cos(prev)\n", e->steps[last]);
    for (size_t j = 0; j < sp->n_modules; j++) {
        const ml_lora_spectrum *m = &sp->modules[j];
        double cf = NAN, cp = NAN;
        for (size_t k = 0; k < w && e->cos_first; k++)
            if (strcmp(e->spectra[0]->modules[k].module, m->module) == 0) {
                cf = e->cos_first[last * w + k];
                cp = e->cos_prev[last * w + k];
            }
        ml__textbuf_printf(b, "    %s  %zu  %.2f  %.2f  %.2f  %.3g  %.1f%%  %.3f  %.3f\n",
                           m->module, m->rank, m->effective_rank, m->stable_rank, m->utilisation,
                           m->condition, 100 * m->energy_share, cf, cp);
    }
}

static void notes(ml__textbuf *b, const ml_run_source *s) {
    const char *const *n;
    size_t k;
    ml_run_source_notes(s, &n, &k);
    if (k) ml__textbuf_printf(b, "\nnotes:\n");
    for (size_t i = 0; i < k; i++) ml__textbuf_printf(b, "  - %s\n", n[i]);
}

ml_status ml_analysis_text(const ml_analysis *a, const ml_run_source *s, char **text) {
    if (!a || !s || !text) return ML_FAIL(ML_EINVAL, "analysis text: NULL argument");
    ml__textbuf b = {NULL, 0, 0, false};
    header(&b, a, s);
    findings(&b, a);
    loss(&b, &a->loss);
    overfit(&b, &a->overfit);
    gradient(&b, &a->gradient);
    weights(&b, &a->weights);
    lr(&b, &a->lr);
    lora(&b, a);
    notes(&b, s);
    return ml__textbuf_take(&b, text);
}
