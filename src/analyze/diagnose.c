/* diagnose.c - findings from the analysis parts, each with evidence (steps, values) and a
 * recommendation, then the score and the verdict by a stated rule (docs/analyze.md,
 * "Findings" and "Verdict"). It computes no statistic: the analyses did. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Score: 100 minus these per finding (info costs nothing: it says nothing is wrong). A
 * critical finding alone takes the score to 50, the poor band: a broken run is poor whatever
 * else went well. Three warnings (55) are still moderate, four (40) poor. */
#define PENALTY_CRITICAL 50
#define PENALTY_WARNING 15
#define GOOD_MIN_SCORE 85     /* one warning */
#define MODERATE_MIN_SCORE 55 /* two or three warnings */

/* Loss: at least this many points before "no progress" is called: fewer are a smoke test. */
#define NO_PROGRESS_MIN_POINTS 10
/* ... and a reduction below 1% of the initial loss: even a barely learning run on a hard
 * task gains more; a zero learning rate gains exactly the noise, about 0. */
#define NO_PROGRESS_REDUCTION 0.01
/* A final loss 10% above the initial one is divergence, not noise: the edge means average
 * 10% of the points each, so their noise is far below 10% of the level. */
#define DIVERGE_RISE 0.10
/* Loss deviating from its moving average by more than half its level on average is noise
 * that hides trends: smoothness below this. */
#define NOISY_SMOOTHNESS 0.5
/* Overfitting is critical when the last validation loss is above its first by this share:
 * training then made the model worse on unseen data than it was at the first evaluation. */
#define WORSE_THAN_START 0.05
/* Explosion is critical when the largest norm is this many times the run's median: three
 * orders of magnitude is beyond what clipping repairs quietly. */
#define EXPLOSION_CRITICAL_RATIO 1e3
/* Mean cosine of successive gradients below this: they point against each other on average,
 * the signature of steps overshooting a valley. Minibatch noise alone gives about 0. */
#define COSINE_OSCILLATION (-0.1)
/* A tensor's weight norm changing by more than 10% in one step: AdamW at usual learning rates
 * moves norms by well under 1% per step. */
#define WEIGHT_JUMP 0.10
/* Update-to-weight ratios (|lr * update| / |w| per step): ~1e-3 is the usual healthy value
 * (Karpathy, "A Recipe for Training Neural Networks"); 1e-2 is ten times that. */
#define UPDATE_RATIO_HIGH 1e-2
/* A learning rate at or below 1e-10 is zero in effect: an Adam step moves a weight by ~lr,
 * so even 10^5 steps move it by 1e-5, under float32's resolution for weights of order 0.1. */
#define LR_ZERO 1e-10
/* LoRA: effective rank under 30% of r in every module means r could be a third. */
#define LORA_LOW_UTILISATION 0.30
/* Normalised HHI, (HHI - 1/n) / (1 - 1/n): 0 spreads the update evenly, 1 puts it in one
 * module. Above 0.5 most of the update is in one or two modules. */
#define LORA_CONCENTRATED 0.5
/* Mean cosine of each module's update with the previous checkpoint's below this: the update's
 * direction still turns (cos 0.9 is 26 degrees) and the adapter has not settled. */
#define LORA_SETTLED_COSINE 0.9
/* Tensors named in one finding's evidence before "and N more". */
#define MAX_NAMED_TENSORS 5

const char *ml_severity_name(ml_severity s) {
    switch (s) {
    case ML_SEVERITY_INFO: return "info";
    case ML_SEVERITY_WARNING: return "warning";
    case ML_SEVERITY_CRITICAL: return "critical";
    }
    return "unknown";
}

const char *ml_verdict_name(ml_verdict v) {
    switch (v) {
    case ML_VERDICT_EXCELLENT: return "excellent";
    case ML_VERDICT_GOOD: return "good";
    case ML_VERDICT_MODERATE: return "moderate";
    case ML_VERDICT_POOR: return "poor";
    }
    return "unknown";
}

ml_status ml__finding_add(ml__findings *fs, const char *code, ml_severity sev, int64_t step,
                          const char *title, const char *recommendation,
                          const char *evidence_fmt, ...) {
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? 2 * fs->cap : 8;
        ml_finding *f = realloc(fs->f, cap * sizeof *f);
        if (!f) return ML_NOMEM();
        fs->f = f;
        fs->cap = cap;
    }
    ml__textbuf b = {NULL, 0, 0, false};
    va_list ap;
    va_start(ap, evidence_fmt);
    ml__textbuf_vprintf(&b, evidence_fmt, ap);
    va_end(ap);
    char *evidence = NULL;
    ML_TRY(ml__textbuf_take(&b, &evidence));
    ml__text_clean(evidence); /* event texts may hold newlines: one line per finding */
    ml_finding f = {strdup(code), sev, strdup(title), evidence, strdup(recommendation), step};
    if (!f.code || !f.title || !f.recommendation) {
        free((char *)f.code);
        free((char *)f.title);
        free(evidence);
        free((char *)f.recommendation);
        return ML_NOMEM();
    }
    fs->f[fs->n++] = f;
    return ML_OK;
}

void ml__findings_free(ml__findings *fs) {
    for (size_t i = 0; i < fs->n; i++) {
        free((char *)fs->f[i].code);
        free((char *)fs->f[i].title);
        free((char *)fs->f[i].evidence);
        free((char *)fs->f[i].recommendation);
    }
    free(fs->f);
    memset(fs, 0, sizeof *fs);
}

/* ---- Run -------------------------------------------------------------------------------------- */

static ml_status run_findings(ml__findings *fs, const ml__run_facts *r) {
    if (!r->status) return ML_OK;
    if (strcmp(r->status, "failed") == 0)
        return ml__finding_add(fs, "run.failed", ML_SEVERITY_CRITICAL, r->last_error_step,
                               "the run failed before its last step",
                               "fix the cause named above, then continue with microlens train "
                               "--resume (same settings) or start again",
                               "status failed; last error at step %" PRId64 ": %.300s",
                               r->last_error_step, r->last_error ? r->last_error : "(none logged)");
    if (strcmp(r->status, "interrupted") == 0)
        return ml__finding_add(fs, "run.interrupted", ML_SEVERITY_INFO, -1,
                               "the run was stopped by a signal after a checkpoint",
                               "continue it with microlens train --resume and the same settings",
                               "status interrupted");
    if (strcmp(r->status, "running") == 0)
        return ml__finding_add(fs, "run.running", ML_SEVERITY_INFO, -1,
                               "the run is still running, or was killed",
                               "analyse again when it ends; a killed run continues with "
                               "microlens train --resume",
                               "status running: the analysis covers the steps committed so far");
    return ML_OK;
}

/* ---- Loss ------------------------------------------------------------------------------------- */

static ml_status loss_progress(ml__findings *fs, const ml_analysis *a, const ml__run_facts *r) {
    const ml_loss_analysis *l = &a->loss;
    if (l->reduction < -DIVERGE_RISE)
        return ml__finding_add(fs, "loss.diverged", ML_SEVERITY_CRITICAL, l->best_step,
                               "the training loss ended higher than it started",
                               "lower the learning rate (try a tenth), clip gradients "
                               "(--clip-grad 1.0) and restart from the last good checkpoint",
                               "loss %.4g at the start (mean of the first points), %.4g at the "
                               "end (%+.3g%%); best %.4g at step %" PRId64,
                               l->initial, l->final, -100.0 * l->reduction, l->best, l->best_step);
    if (l->n_points < NO_PROGRESS_MIN_POINTS || !(l->reduction < NO_PROGRESS_REDUCTION))
        return ML_OK;
    bool lr_zero = a->lr.present && a->lr.peak <= LR_ZERO;
    return ml__finding_add(
        fs, "loss.no_progress", r->window_has_start ? ML_SEVERITY_CRITICAL : ML_SEVERITY_INFO,
        a->first_step >= 0 ? a->first_step : -1, "the training loss did not go down",
        lr_zero ? "set a positive learning rate (e.g. --lr 1e-3 for AdamW)"
                : "raise the learning rate tenfold; check that labels belong to their samples "
                  "and that features are not constant",
        "loss %.4g at the start, %.4g at the end (%.2f%% reduction, under %.0f%%) over %zu "
        "points%s",
        l->initial, l->final, 100.0 * l->reduction, 100.0 * NO_PROGRESS_REDUCTION, l->n_points,
        r->window_has_start ? "" : "; the window starts after the run's first step");
}

static ml_status loss_findings(ml__findings *fs, const ml_analysis *a, const ml__run_facts *r) {
    const ml_loss_analysis *l = &a->loss;
    if (!l->present)
        return ml__finding_add(fs, "loss.missing", ML_SEVERITY_WARNING, -1,
                               "no training loss to judge the run by",
                               "log the training loss every step (microlens train does; Hugging "
                               "Face: logging_steps)",
                               "%zu finite loss points in the window", l->n_points);
    ML_TRY(loss_progress(fs, a, r));
    bool progressing = l->reduction >= NO_PROGRESS_REDUCTION;
    bool diverged = l->reduction < -DIVERGE_RISE;
    if (l->converged && progressing)
        ML_TRY(ml__finding_add(fs, "loss.converged", ML_SEVERITY_INFO, l->converged_step,
                               "the training loss converged",
                               "nothing to do; steps after this one refine little",
                               "from step %" PRId64 " on, consecutive windows of the loss "
                               "differ by under 1%% of its scale or 2 standard errors; final "
                               "%.4g", l->converged_step, l->final));
    else if (progressing && !a->overfit.overfitting)
        ML_TRY(ml__finding_add(fs, "loss.not_converged", ML_SEVERITY_INFO, -1,
                               "the training loss was still falling at the end",
                               "train longer (more --steps or --epochs) while validation "
                               "improves",
                               "the last windows of the loss still differ by more than 1%% "
                               "and 2 standard errors; final %.4g, best %.4g at step %" PRId64,
                               l->final, l->best, l->best_step));
    if (l->plateau && progressing)
        ML_TRY(ml__finding_add(fs, "loss.plateau", ML_SEVERITY_INFO, l->plateau_step,
                               "the loss has been on a plateau",
                               "stop at the plateau's start to save compute, or lower the "
                               "learning rate / use a decaying schedule to get further",
                               "from step %" PRId64 " to the end the smoothed loss stayed within "
                               "2%% of its whole range", l->plateau_step));
    if (l->smoothness < NOISY_SMOOTHNESS && !diverged)
        ML_TRY(ml__finding_add(fs, "loss.noisy", ML_SEVERITY_INFO, -1,
                               "the training loss is very noisy",
                               "use a larger batch or a lower learning rate to read trends",
                               "smoothness %.2f (deviation from the moving average is %.0f%% "
                               "of the loss' size)", l->smoothness, 100.0 * (1 - l->smoothness)));
    return ML_OK;
}

/* ---- Overfitting ------------------------------------------------------------------------------ */

static ml_status overfit_findings(ml__findings *fs, const ml_analysis *a) {
    const ml_overfit_analysis *o = &a->overfit;
    if (!o->present)
        return ml__finding_add(fs, "overfitting.no_validation", ML_SEVERITY_INFO, -1,
                               "no validation loss: overfitting cannot be judged",
                               "hold out validation data and evaluate during training "
                               "(--val-fraction 0.2 --eval-every N)",
                               "fewer than 2 finite eval_loss points in the window");
    if (!o->overfitting) return ML_OK;
    bool worse = o->first_eval_loss > 0 &&
                 o->final_eval_loss > o->first_eval_loss * (1 + WORSE_THAN_START);
    char *keep = o->best_checkpoint
        ? ml__strdup_printf("keep %.200s (the checkpoint of the best validation loss); stop at "
                            "step %" PRId64 " next time (patience 3 evaluations); regularise: "
                            "weight decay, dropout, fewer epochs, more data",
                            o->best_checkpoint, o->early_stop_step)
        : ml__strdup_printf("stop at step %" PRId64 " next time (patience 3 evaluations) and "
                            "checkpoint at every evaluation to keep the best model; "
                            "regularise: weight decay, dropout, fewer epochs, more data",
                            o->early_stop_step);
    if (!keep) return ML_NOMEM();
    ml_status st = ml__finding_add(
        fs, "overfitting", worse ? ML_SEVERITY_CRITICAL : ML_SEVERITY_WARNING, o->divergence_step,
        worse ? "overfitting: validation loss ended above its first value"
              : "overfitting: validation loss rises while training loss falls",
        keep,
        "eval_loss best %.4g at step %" PRId64 ", then rising to %.4g (first evaluation %.4g); "
        "after the best, eval slope %+.3g and train slope %+.3g per 1000 steps; best "
        "checkpoint %s",
        o->best_eval_loss, o->best_eval_step, o->final_eval_loss, o->first_eval_loss,
        o->eval_slope, o->train_slope, o->best_checkpoint ? o->best_checkpoint : "none");
    free(keep);
    return st;
}

/* ---- Gradients -------------------------------------------------------------------------------- */

static ml_status dead_tensors(ml__findings *fs, const ml_gradient_analysis *g) {
    size_t n_dead = 0;
    ml__textbuf b = {NULL, 0, 0, false};
    for (size_t i = 0; i < g->n_tensors; i++) {
        if (!g->tensors[i].dead) continue;
        if (n_dead < MAX_NAMED_TENSORS)
            ml__textbuf_printf(&b, "%s%.120s", n_dead ? ", " : "", g->tensors[i].name);
        n_dead++;
    }
    if (n_dead > MAX_NAMED_TENSORS)
        ml__textbuf_printf(&b, " and %zu more", n_dead - MAX_NAMED_TENSORS);
    char *names = NULL;
    ML_TRY(ml__textbuf_take(&b, &names));
    ml_status st = ML_OK;
    if (n_dead)
        st = ml__finding_add(fs, "gradient.dead_tensors", ML_SEVERITY_WARNING, -1,
                             "some tensors never received a gradient",
                             "if they are not meant to be frozen, they are cut off from the "
                             "loss: check dead activations, unused heads, detached branches",
                             "%zu of %zu tensors had a gradient norm <= 1e-12 at every step: %s",
                             n_dead, g->n_tensors, names);
    free(names);
    return st;
}

static ml_status gradient_findings(ml__findings *fs, const ml_gradient_analysis *g) {
    if (g->n_nonfinite)
        ML_TRY(ml__finding_add(fs, "gradient.nonfinite", ML_SEVERITY_CRITICAL,
                               g->first_nonfinite_step, "non-finite gradients or loss",
                               "lower the learning rate (try a tenth), clip gradients "
                               "(--clip-grad 1.0), add a warm-up; check the inputs for NaN/inf",
                               "%zu steps with a NaN/inf gradient norm or loss, the first at "
                               "step %" PRId64, g->n_nonfinite, g->first_nonfinite_step));
    if (g->n_spikes) {
        bool critical = g->n_nonfinite > 0 ||
                        g->max_norm > EXPLOSION_CRITICAL_RATIO * g->median_norm;
        double clip = 2.0 * g->first_spike_median;
        ML_TRY(ml__finding_add(
            fs, "gradient.explosion", critical ? ML_SEVERITY_CRITICAL : ML_SEVERITY_WARNING,
            g->first_spike_step, "exploding gradient norm",
            "clip the global gradient norm at about twice its typical value and lower the "
            "learning rate; a warm-up helps when spikes come early",
            "%zu spikes above 10x the running median; the first at step %" PRId64 ": norm %.4g "
            "= %.3gx the median %.4g of the previous steps; largest %.4g at step %" PRId64
            "; suggested --clip-grad %.3g",
            g->n_spikes, g->first_spike_step, g->first_spike_norm,
            g->first_spike_norm / g->first_spike_median, g->first_spike_median, g->max_norm,
            g->max_norm_step, clip));
    }
    if (g->vanishing)
        ML_TRY(ml__finding_add(fs, "gradient.vanishing", ML_SEVERITY_WARNING, -1,
                               "vanishing gradients",
                               "check for saturated or dead activations and a detached loss; "
                               "normalisation layers or a larger learning rate help",
                               "median global gradient norm %.3g, under 1e-8", g->median_norm));
    if (g->has_cosine && g->cosine_mean < COSINE_OSCILLATION)
        ML_TRY(ml__finding_add(fs, "gradient.oscillation", ML_SEVERITY_WARNING, -1,
                               "successive gradients point against each other",
                               "lower the learning rate or add momentum (steps overshoot)",
                               "mean cosine of consecutive gradients %.3f (sd %.3f)",
                               g->cosine_mean, g->cosine_std));
    return dead_tensors(fs, g);
}

/* ---- Weights ---------------------------------------------------------------------------------- */

/* Biases and LoRA B factors start at zero, so their norms are tiny early on and relative
 * changes or update ratios say nothing about the learning rate: the jump and ratio rules skip
 * "*.bias", "bias" and "*.lora_B.*". */
static bool zero_init(const char *name) {
    size_t n = strlen(name);
    return strcmp(name, "bias") == 0 || (n >= 5 && strcmp(name + n - 5, ".bias") == 0) ||
           strstr(name, ".lora_B.") != NULL;
}

static ml_status weight_findings(ml__findings *fs, const ml_weight_analysis *w) {
    const ml_tensor_stability *jump = NULL, *high = NULL;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const ml_tensor_stability *t = &w->tensors[i];
        if (zero_init(t->name)) continue;
        if (t->max_jump > WEIGHT_JUMP && (!jump || t->max_jump > jump->max_jump)) jump = t;
        if (t->final_update_ratio > UPDATE_RATIO_HIGH &&
            (!high || t->final_update_ratio > high->final_update_ratio))
            high = t;
    }
    if (jump)
        ML_TRY(ml__finding_add(fs, "weights.jump", ML_SEVERITY_WARNING, jump->max_jump_step,
                               "a weight tensor's norm jumped",
                               "lower the learning rate or clip gradients; look at the batch "
                               "of that step for outliers",
                               "norm of %.160s changed by %.1f%% per step up to step %" PRId64
                               " (over 10%%)", jump->name, 100.0 * jump->max_jump,
                               jump->max_jump_step));
    if (high)
        ML_TRY(ml__finding_add(fs, "weights.update_ratio_high", ML_SEVERITY_WARNING, -1,
                               "updates are large relative to the weights",
                               "lower the learning rate: about 1e-3 per step is usual",
                               "last update/weight ratio of %.160s is %.3g (over 1e-2)",
                               high->name, high->final_update_ratio));
    return ML_OK;
}

/* ---- Learning rate ---------------------------------------------------------------------------- */

static ml_status lr_findings(ml__findings *fs, const ml_analysis *a) {
    const ml_lr_analysis *lr = &a->lr;
    if (!lr->present || !(lr->peak <= LR_ZERO)) return ML_OK;
    return ml__finding_add(fs, "lr.zero", ML_SEVERITY_CRITICAL, a->first_step,
                           "the learning rate is zero",
                           "set a positive learning rate (e.g. --lr 1e-3 for AdamW)",
                           "learning_rate at most %.3g in the window (zero in effect at or "
                           "below 1e-10)", lr->peak);
}

/* ---- LoRA ------------------------------------------------------------------------------------- */

static ml_status lora_findings(ml__findings *fs, const ml_analysis *a) {
    if (!a->has_lora || a->lora.n_checkpoints == 0) return ML_OK;
    const ml_lora_evolution *e = &a->lora;
    size_t last = e->n_checkpoints - 1;
    const ml_lora_spectra *sp = e->spectra[last];
    int64_t step = e->steps[last];
    size_t n_live = 0, n_low = 0, top = 0;
    double max_eff = 0;
    for (size_t j = 0; j < sp->n_modules; j++) {
        const ml_lora_spectrum *m = &sp->modules[j];
        if (!(m->frob_sq > 0)) continue;
        n_live++;
        n_low += m->utilisation < LORA_LOW_UTILISATION;
        max_eff = fmax(max_eff, m->effective_rank);
        if (m->energy_share > sp->modules[top].energy_share) top = j;
    }
    if (sp->n_modules && n_live == 0)
        return ml__finding_add(fs, "lora.no_update", ML_SEVERITY_WARNING, step,
                               "the LoRA adapters never moved",
                               "check the learning rate and that the adapters are trainable",
                               "every module's update B·A is zero at step %" PRId64, step);
    if (n_live && n_low == n_live && sp->modules[top].rank > 1)
        ML_TRY(ml__finding_add(fs, "lora.low_utilisation", ML_SEVERITY_INFO, step,
                               "the adapters use a small part of their rank",
                               "a smaller r trains the same update with fewer parameters",
                               "at step %" PRId64 " every module's effective rank is under 30%% "
                               "of r = %zu (largest %.2f); r = %.0f would do", step,
                               sp->modules[top].rank, max_eff, fmax(1.0, ceil(max_eff))));
    size_t n = sp->n_modules;
    double norm_hhi = n > 1 ? (sp->hhi - 1.0 / (double)n) / (1.0 - 1.0 / (double)n) : 0.0;
    if (n_live && norm_hhi > LORA_CONCENTRATED)
        ML_TRY(ml__finding_add(fs, "lora.concentrated", ML_SEVERITY_INFO, step,
                               "the update is concentrated in few modules",
                               "modules that barely move add parameters for nothing: target "
                               "fewer modules, or check why the others do not learn",
                               "at step %" PRId64 " %.160s holds %.0f%% of the update energy "
                               "(HHI %.3f over %zu modules)", step, sp->modules[top].module,
                               100.0 * sp->modules[top].energy_share, sp->hhi, n));
    if (last > 0 && e->cos_prev && n) {
        double sum = 0;
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (isfinite(e->cos_prev[last * n + j])) {
                sum += e->cos_prev[last * n + j];
                k++;
            }
        if (k && sum / (double)k < LORA_SETTLED_COSINE)
            ML_TRY(ml__finding_add(fs, "lora.not_settled", ML_SEVERITY_INFO, step,
                                   "the adapters' update direction still turns",
                                   "train longer or lower the learning rate and compare again",
                                   "mean cosine of each module's update with the previous "
                                   "checkpoint's is %.3f at step %" PRId64 " (under 0.9)",
                                   sum / (double)k, step));
    }
    return ML_OK;
}

/* ---- Verdict ---------------------------------------------------------------------------------- */

static int cmp_finding(const void *x, const void *y) {
    const ml_finding *a = x, *b = y;
    if (a->severity != b->severity) return a->severity > b->severity ? -1 : 1;
    if ((a->step < 0) != (b->step < 0)) return a->step < 0 ? 1 : -1; /* stepless last */
    if (a->step != b->step) return a->step < b->step ? -1 : 1;
    return strcmp(a->code, b->code);
}

static void verdict(ml_analysis *a) {
    size_t n_crit = 0, n_warn = 0;
    for (size_t i = 0; i < a->n_findings; i++) {
        n_crit += a->findings[i].severity == ML_SEVERITY_CRITICAL;
        n_warn += a->findings[i].severity == ML_SEVERITY_WARNING;
    }
    double score = 100.0 - PENALTY_CRITICAL * (double)n_crit - PENALTY_WARNING * (double)n_warn;
    a->score = score > 0 ? score : 0;
    if (n_crit) a->verdict = ML_VERDICT_POOR;
    else if (a->score >= 100) a->verdict = ML_VERDICT_EXCELLENT;
    else if (a->score >= GOOD_MIN_SCORE) a->verdict = ML_VERDICT_GOOD;
    else if (a->score >= MODERATE_MIN_SCORE) a->verdict = ML_VERDICT_MODERATE;
    else a->verdict = ML_VERDICT_POOR;
}

ml_status ml__diagnose(ml_analysis *a, const ml__run_facts *facts) {
    ml__findings fs = {NULL, 0, 0};
    ml_status st = run_findings(&fs, facts);
    if (st == ML_OK) st = lr_findings(&fs, a);
    if (st == ML_OK) st = loss_findings(&fs, a, facts);
    if (st == ML_OK) st = overfit_findings(&fs, a);
    if (st == ML_OK && (a->gradient.present || a->gradient.n_nonfinite))
        st = gradient_findings(&fs, &a->gradient);
    if (st == ML_OK) st = weight_findings(&fs, &a->weights);
    if (st == ML_OK) st = lora_findings(&fs, a);
    if (st != ML_OK) {
        ml__findings_free(&fs);
        return st;
    }
    if (fs.n > 1) qsort(fs.f, fs.n, sizeof *fs.f, cmp_finding);
    a->findings = fs.f;
    a->n_findings = fs.n;
    verdict(a);
    return ML_OK;
}
