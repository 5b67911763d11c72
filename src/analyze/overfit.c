/* overfit.c - validation against training loss: the best validation step and the checkpoint
 * to keep, the trends after it, overfitting and early-stop advice (docs/analyze.md,
 * "Overfitting"). It reads no checkpoint: rows come from the run source. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

/* Validation points needed after the best one before a rise counts: one point higher is
 * noise as often as not; two in a row with a positive fitted slope is a trend. */
#define OVERFIT_MIN_EVALS_AFTER 2
/* ... and the last validation loss must exceed the best by this share: validation losses of
 * small sets wander by a few per cent between evaluations without any trend. */
#define OVERFIT_MIN_RISE 0.05
/* Early-stopping patience in evaluations: 3 is the common default (Keras / HF
 * EarlyStoppingCallback users), long enough to ride out one noisy evaluation. */
#define PATIENCE_EVALS 3
/* Slopes are reported per this many steps, so that numbers read like "+0.2 per 1k steps". */
#define SLOPE_PER_STEPS 1000.0

void ml__overfit_free(ml_overfit_analysis *o) {
    if (!o) return;
    free((char *)o->best_checkpoint);
    o->best_checkpoint = NULL;
}

static ml_status pick_checkpoint(ml_overfit_analysis *out, const ml__ckpt_ref *ck, size_t n) {
    const ml__ckpt_ref *pick = NULL;
    for (size_t i = 0; i < n; i++)
        if (!ck[i].deleted && ck[i].step <= out->best_eval_step &&
            (!pick || ck[i].step > pick->step))
            pick = &ck[i];
    if (pick && !(out->best_checkpoint = strdup(pick->name))) return ML_NOMEM();
    return ML_OK;
}

/* Median distance between consecutive evaluations, the unit of patience. */
static ml_status eval_spacing(const ml__points *e, double *out) {
    *out = NAN;
    if (e->n < 2) return ML_OK;
    double *d = malloc((e->n - 1) * sizeof *d);
    if (!d) return ML_NOMEM();
    for (size_t i = 1; i < e->n; i++) d[i - 1] = (double)(e->steps[i] - e->steps[i - 1]);
    ml_status st = ml__median(d, e->n - 1, out);
    free(d);
    return st;
}

static ml_status trends(ml_overfit_analysis *out, const ml__points *e, const ml__points *t,
                        size_t best) {
    size_t n_after = e->n - best - 1;
    out->eval_slope = SLOPE_PER_STEPS * ml__slope(e->steps + best, e->values + best, e->n - best);
    size_t t0 = ml__lower_bound(t->steps, t->n, out->best_eval_step);
    out->train_slope = SLOPE_PER_STEPS * ml__slope(t->steps + t0, t->values + t0, t->n - t0);
    if (t->n) {
        size_t w = ml__edge_points(t->n);
        out->gap = e->values[e->n - 1] - ml__mean(t->values + t->n - w, w);
    }
    double rise = (e->values[e->n - 1] - out->best_eval_loss) / fabs(out->best_eval_loss);
    out->overfitting = n_after >= OVERFIT_MIN_EVALS_AFTER && out->eval_slope > 0 &&
                       out->train_slope < 0 && rise > OVERFIT_MIN_RISE;
    if (!out->overfitting) return ML_OK;
    out->divergence_step = e->steps[best + 1];
    if (n_after >= PATIENCE_EVALS) {
        out->early_stop_step = e->steps[best + PATIENCE_EVALS];
    } else {
        double spacing;
        ML_TRY(eval_spacing(e, &spacing));
        out->early_stop_step = out->best_eval_step + (int64_t)llround(PATIENCE_EVALS * spacing);
    }
    return ML_OK;
}

ml_status ml__overfit_analyze(ml_overfit_analysis *out, const ml_series *eval,
                              const ml_series *loss, const ml__ckpt_ref *ckpts, size_t n_ckpts) {
    memset(out, 0, sizeof *out);
    out->best_eval_loss = out->train_slope = out->eval_slope = out->gap = NAN;
    out->first_eval_loss = out->final_eval_loss = NAN;
    out->best_eval_step = out->divergence_step = out->early_stop_step = -1;
    ml__points e, t;
    ML_TRY(ml__points_finite(&e, eval));
    ml_status st = ml__points_finite(&t, loss);
    if (st == ML_OK && e.n >= 2) {
        out->present = true;
        size_t best = 0;
        for (size_t i = 1; i < e.n; i++)
            if (e.values[i] < e.values[best]) best = i;
        out->best_eval_loss = e.values[best];
        out->first_eval_loss = e.values[0];
        out->final_eval_loss = e.values[e.n - 1];
        out->best_eval_step = e.steps[best];
        st = pick_checkpoint(out, ckpts, n_ckpts);
        if (st == ML_OK) st = trends(out, &e, &t, best);
    }
    ml__points_free(&e);
    ml__points_free(&t);
    if (st != ML_OK) ml__overfit_free(out);
    return st;
}
