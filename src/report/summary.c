/* summary.c - chooses and words the key numbers, top recommendations and run comparison that
 * every report format shows; it reads ml_analysis and decides nothing about the run itself. */
#include "report/summary.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ml__report_fmt(char *buf, size_t cap, double v) {
    if (isnan(v)) snprintf(buf, cap, "n/a");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else snprintf(buf, cap, "%.4g", v);
}

static void step_text(char *buf, size_t cap, const char *prefix, int64_t step) {
    if (step >= 0) snprintf(buf, cap, "%s%lld", prefix, (long long)step);
    else buf[0] = '\0';
}

const char *ml__report_verdict_sentence(ml_verdict v) {
    switch (v) {
    case ML_VERDICT_EXCELLENT: return "the run trained cleanly; nothing needs fixing";
    case ML_VERDICT_GOOD: return "the run trained well; the warnings below are worth a look";
    case ML_VERDICT_MODERATE: return "the run has problems that cost quality; see the fixes";
    case ML_VERDICT_POOR: return "the run is broken or wasted; fix it before trusting it";
    }
    return "no verdict";
}

static ml__report_number *next(ml__report_number *out, size_t cap, size_t *n,
                               const char *label) {
    if (*n >= cap) return NULL;
    ml__report_number *r = &out[(*n)++];
    r->label = label;
    r->value[0] = r->note[0] = '\0';
    return r;
}

static void loss_numbers(const ml_analysis *a, ml__report_number *out, size_t cap, size_t *n) {
    const ml_loss_analysis *l = &a->loss;
    if (!l->present) return;
    ml__report_number *r = next(out, cap, n, "final training loss");
    char from[32];
    if (r) {
        ml__report_fmt(r->value, sizeof r->value, l->final);
        ml__report_fmt(from, sizeof from, l->initial);
        snprintf(r->note, sizeof r->note, "from %s (%+.1f%%)", from, -100 * l->reduction);
    }
    if (!(r = next(out, cap, n, "convergence"))) return;
    if (l->converged) {
        step_text(r->value, sizeof r->value, "step ", l->converged_step);
        snprintf(r->note, sizeof r->note, "convergence rule held from then on");
    } else {
        snprintf(r->value, sizeof r->value, "not converged");
        if (l->plateau) step_text(r->note, sizeof r->note, "plateau since step ", l->plateau_step);
        else snprintf(r->note, sizeof r->note, "loss still moving at the end");
    }
}

static void overfit_numbers(const ml_analysis *a, ml__report_number *out, size_t cap,
                            size_t *n) {
    const ml_overfit_analysis *o = &a->overfit;
    if (!o->present) return;
    ml__report_number *r = next(out, cap, n, "best evaluation loss");
    if (r) {
        ml__report_fmt(r->value, sizeof r->value, o->best_eval_loss);
        step_text(r->note, sizeof r->note, "at step ", o->best_eval_step);
    }
    if (!(r = next(out, cap, n, "overfitting"))) return;
    if (o->overfitting) {
        step_text(r->value, sizeof r->value, "from step ", o->divergence_step);
        step_text(r->note, sizeof r->note, "stop early at step ", o->early_stop_step);
    } else {
        snprintf(r->value, sizeof r->value, "none seen");
        char gap[32];
        ml__report_fmt(gap, sizeof gap, o->gap);
        snprintf(r->note, sizeof r->note, "eval - train gap %s", gap);
    }
}

static void gradient_numbers(const ml_analysis *a, ml__report_number *out, size_t cap,
                             size_t *n) {
    const ml_gradient_analysis *g = &a->gradient;
    if (!g->present) return;
    ml__report_number *r = next(out, cap, n, "gradient norm (median)");
    char v[32];
    if (r) {
        ml__report_fmt(r->value, sizeof r->value, g->median_norm);
        ml__report_fmt(v, sizeof v, g->max_norm);
        snprintf(r->note, sizeof r->note, "max %s at step %lld", v, (long long)g->max_norm_step);
    }
    if ((r = next(out, cap, n, "gradient spikes"))) {
        snprintf(r->value, sizeof r->value, "%zu", g->n_spikes);
        if (g->n_nonfinite > 0)
            snprintf(r->note, sizeof r->note, "%zu non-finite steps, first at step %lld",
                     g->n_nonfinite, (long long)g->first_nonfinite_step);
        else if (g->n_spikes > 0)
            step_text(r->note, sizeof r->note, "first at step ", g->first_spike_step);
        else snprintf(r->note, sizeof r->note, "no non-finite gradient");
    }
    if (g->has_cosine && (r = next(out, cap, n, "gradient consistency"))) {
        ml__report_fmt(r->value, sizeof r->value, g->cosine_mean);
        ml__report_fmt(v, sizeof v, g->cosine_std);
        snprintf(r->note, sizeof r->note, "mean cosine with the previous step (sd %s)", v);
    }
}

static void other_numbers(const ml_analysis *a, ml__report_number *out, size_t cap, size_t *n) {
    ml__report_number *r;
    char v[32];
    if (a->lr.present && (r = next(out, cap, n, "learning-rate schedule"))) {
        snprintf(r->value, sizeof r->value, "%s", ml_lr_schedule_shape_name(a->lr.shape));
        ml__report_fmt(v, sizeof v, a->lr.peak);
        snprintf(r->note, sizeof r->note, "peak %s, warm-up %lld steps", v,
                 (long long)a->lr.warmup_steps);
    }
    const ml_lora_evolution *e = &a->lora;
    if (a->has_lora && e->n_checkpoints > 0 && (r = next(out, cap, n, "LoRA effective rank"))) {
        const ml_lora_spectra *s = e->spectra[e->n_checkpoints - 1];
        double sum = 0, rank = 0;
        for (size_t m = 0; s && m < s->n_modules; m++) {
            sum += s->modules[m].effective_rank;
            rank += (double)s->modules[m].rank;
        }
        size_t nm = s ? s->n_modules : 0;
        ml__report_fmt(r->value, sizeof r->value, nm ? sum / (double)nm : NAN);
        snprintf(r->note, sizeof r->note, "mean of %zu modules (rank %.0f) at step %lld", nm,
                 nm ? rank / (double)nm : 0.0, (long long)e->steps[e->n_checkpoints - 1]);
    }
    if ((r = next(out, cap, n, "steps analysed")))
        snprintf(r->value, sizeof r->value, "%lld to %lld", (long long)a->first_step,
                 (long long)a->last_step);
}

size_t ml__report_numbers(const ml_analysis *a, ml__report_number *out, size_t cap) {
    size_t n = 0;
    loss_numbers(a, out, cap, &n);
    overfit_numbers(a, out, cap, &n);
    gradient_numbers(a, out, cap, &n);
    other_numbers(a, out, cap, &n);
    return n;
}

size_t ml__report_top_findings(const ml_analysis *a, size_t max) {
    return a->n_findings < max ? a->n_findings : max;
}

static double step_or_nan(bool ok, int64_t step) { return ok && step >= 0 ? (double)step : NAN; }

size_t ml__report_deltas(const ml_analysis *a, const ml_analysis *b, ml__report_delta *out,
                         size_t cap) {
    const ml__report_delta rows[] = {
        {"score (0-100)", a->score, b->score, +1, false},
        {"final training loss", a->loss.present ? a->loss.final : NAN,
         b->loss.present ? b->loss.final : NAN, -1, false},
        {"loss reduction", a->loss.present ? a->loss.reduction : NAN,
         b->loss.present ? b->loss.reduction : NAN, +1, false},
        {"convergence step", step_or_nan(a->loss.converged, a->loss.converged_step),
         step_or_nan(b->loss.converged, b->loss.converged_step), -1, true},
        {"best evaluation loss", a->overfit.present ? a->overfit.best_eval_loss : NAN,
         b->overfit.present ? b->overfit.best_eval_loss : NAN, -1, false},
        {"best evaluation step", step_or_nan(a->overfit.present, a->overfit.best_eval_step),
         step_or_nan(b->overfit.present, b->overfit.best_eval_step), 0, true},
        {"eval - train gap", a->overfit.present ? a->overfit.gap : NAN,
         b->overfit.present ? b->overfit.gap : NAN, -1, false},
        {"median gradient norm", a->gradient.present ? a->gradient.median_norm : NAN,
         b->gradient.present ? b->gradient.median_norm : NAN, 0, false},
        {"gradient spikes", a->gradient.present ? (double)a->gradient.n_spikes : NAN,
         b->gradient.present ? (double)b->gradient.n_spikes : NAN, -1, true},
        {"non-finite gradient steps", a->gradient.present ? (double)a->gradient.n_nonfinite : NAN,
         b->gradient.present ? (double)b->gradient.n_nonfinite : NAN, -1, true},
        {"last step", (double)a->last_step, (double)b->last_step, 0, true},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof rows / sizeof *rows && n < cap; i++) out[n++] = rows[i];
    return n;
}

void ml__report_faster(char *buf, size_t cap, const ml_analysis *a, const ml_analysis *b,
                       const char *name_a, const char *name_b) {
    bool ca = a->loss.present && a->loss.converged, cb = b->loss.present && b->loss.converged;
    long long sa = (long long)a->loss.converged_step, sb = (long long)b->loss.converged_step;
    if (ca && cb && sa == sb)
        snprintf(buf, cap, "Both runs converged at step %lld.", sa);
    else if (ca && cb)
        snprintf(buf, cap, "%s converged faster: step %lld against step %lld for %s.",
                 sa < sb ? name_a : name_b, sa < sb ? sa : sb, sa < sb ? sb : sa,
                 sa < sb ? name_b : name_a);
    else if (ca || cb)
        snprintf(buf, cap, "Only %s converged (step %lld); %s did not.", ca ? name_a : name_b,
                 ca ? sa : sb, ca ? name_b : name_a);
    else if (a->loss.present && b->loss.present) {
        char fa[32], fb[32];
        ml__report_fmt(fa, sizeof fa, a->loss.final);
        ml__report_fmt(fb, sizeof fb, b->loss.final);
        snprintf(buf, cap,
                 "Neither run met the convergence rule; %s ends with the lower training loss "
                 "(%s against %s).",
                 a->loss.final <= b->loss.final ? name_a : name_b,
                 a->loss.final <= b->loss.final ? fa : fb,
                 a->loss.final <= b->loss.final ? fb : fa);
    } else
        snprintf(buf, cap, "Convergence cannot be compared: a training loss was not collected.");
}

/* The last component of a path, trailing slashes ignored ("runs/a/" -> "a"). */
static void last_component(char *buf, size_t cap, const char *p) {
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/') start--;
    snprintf(buf, cap, "%.*s", (int)(len - start), p + start);
}

void ml__report_run_name(char *buf, size_t cap, const ml_run_source *s) {
    last_component(buf, cap, ml_run_source_path(s));
}

void ml__report_strip_paths(json_t *run) {
    json_t *config = json_object_get(run, "config"), *v;
    const char *key, *path = json_string_value(json_object_get(run, "path"));
    char name[256];
    if (path && strchr(path, '/')) {
        last_component(name, sizeof name, path);
        json_object_set_new(run, "path", json_string(name));
    }
    json_object_foreach(config, key, v) {
        if (json_is_string(v) && json_string_value(v)[0] == '/') {
            last_component(name, sizeof name, json_string_value(v));
            json_object_set_new(config, key, json_string(name));
        }
    }
}

/* Metric name (or prefix, ending in '/') and how the report calls it. */
static const struct {
    const char *name, *what;
} families[] = {
    {"loss", "training loss (loss)"},
    {"eval_loss", "evaluation loss (eval_loss)"},
    {"learning_rate", "learning rate (learning_rate)"},
    {"grad_norm", "global gradient norm (grad_norm)"},
    {"grad/cosine_prev", "gradient cosine with the previous step (grad/cosine_prev)"},
    {"grad_norm/", "per-tensor gradient norms (grad_norm/<tensor>)"},
    {"weight_norm/", "weight norms (weight_norm/<tensor>)"},
    {"update_ratio/", "update-to-weight ratios (update_ratio/<tensor>)"},
    {"lora/", "LoRA factor norms (lora/<module>/...)"},
    {"act/", "activation statistics (act/<layer>/...)"},
    {"time/step_seconds", "step time (time/step_seconds)"},
    {"memory/peak_rss_bytes", "peak memory (memory/peak_rss_bytes)"},
};

static bool has_metric(const char *const *names, size_t n, const char *want) {
    size_t len = strlen(want);
    bool prefix = len > 0 && want[len - 1] == '/';
    for (size_t i = 0; i < n; i++)
        if (prefix ? strncmp(names[i], want, len) == 0 : strcmp(names[i], want) == 0) return true;
    return false;
}

size_t ml__report_missing(const ml_run_source *s, const ml_analysis *a, const char **out,
                          size_t cap) {
    const char *const *names;
    size_t n_names, n = 0;
    ml_run_source_metric_names(s, &names, &n_names);
    for (size_t i = 0; i < sizeof families / sizeof *families && n < cap; i++)
        if (!has_metric(names, n_names, families[i].name)) out[n++] = families[i].what;
    if (!a->has_lora && n < cap) out[n++] = "LoRA spectra (no checkpoint holds a LoRA adapter)";
    return n;
}
