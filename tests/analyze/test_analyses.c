/* test_analyses.c - what each analysis promises on series built by hand: loss (edge means,
 * convergence step by the stated rule - not the middle step -, plateau, NaN tails),
 * overfitting (best checkpoint, divergence, early stop), gradients (spikes against the running
 * median, every flagged step listed, non-finite steps from three sources, vanishing, dead
 * tensors), weights (jumps, CUSUM), learning-rate shapes after a warm-up, and the verdict rule. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"
#include "ml_test.h"

#define MAX_POINTS 1000

typedef struct series_buf {
    int64_t steps[MAX_POINTS];
    double values[MAX_POINTS];
    ml_series s;
} series_buf;

static void finish(series_buf *b, size_t n) {
    b->s.n = n;
    b->s.steps = b->steps;
    b->s.values = b->values;
    b->s.wall_times = NULL;
}

/* Deterministic noise in [-1, 1] (xorshift64), so that the tests never depend on a seed file. */
static double noise(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (double)(*state >> 11) / (double)(1ull << 52) - 1.0;
}

/* ---- Loss ------------------------------------------------------------------------------------- */

/* Steps 1..200 fall linearly from 1.0 to 0.2, steps 201..400 stay at 0.2 (+ tiny noise). The
 * rule (windows of 40 points, 1% of the scale 0.8 = 0.008) first holds when the older window
 * holds at most ~12 ramp points: step ~268 by hand; the middle step would be 200. */
static void ramp_then_flat(series_buf *b, double amp) {
    uint64_t st = 42;
    for (size_t i = 0; i < 400; i++) {
        b->steps[i] = (int64_t)i + 1;
        double v = i < 200 ? 1.0 - 0.8 * (double)i / 199.0 : 0.2;
        b->values[i] = v + amp * noise(&st);
    }
    finish(b, 400);
}

static void test_loss__convergence_step_follows_the_rule(void) {
    static series_buf b;
    ramp_then_flat(&b, 1e-4);
    ml_loss_analysis l;
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK(l.present);
    CHECK_EQ_INT(l.n_points, 400);
    CHECK(l.converged);
    CHECK(l.converged_step >= 255 && l.converged_step <= 285);
    CHECK(l.converged_step != 200);
    /* plateau: the 40-point trailing mean enters 2% of its range (~0.72) near step 223 */
    CHECK(l.plateau);
    CHECK(l.plateau_step >= 210 && l.plateau_step <= 240);
    CHECK_NEAR(l.final, 0.2, 1e-3);
    CHECK_NEAR(l.initial, 1.0 - 0.8 * 19.5 / 199.0, 1e-3); /* mean of the first 40 points */
    CHECK_NEAR(l.reduction, (l.initial - 0.2) / l.initial, 2e-3);
    CHECK(l.smoothness > 0.99);
}

static void test_loss__still_falling_is_not_converged(void) {
    static series_buf b;
    for (size_t i = 0; i < 300; i++) {
        b.steps[i] = (int64_t)i + 1;
        b.values[i] = 2.0 * exp(-(double)i / 150.0);
    }
    finish(&b, 300);
    ml_loss_analysis l;
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK(!l.converged);
    CHECK_EQ_INT(l.converged_step, -1);
    CHECK(!l.plateau);
}

static void test_loss__nan_tail_is_not_converged(void) {
    static series_buf b;
    ramp_then_flat(&b, 1e-4);
    b.values[399] = NAN;
    ml_loss_analysis l;
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK_EQ_INT(l.n_points, 399);
    CHECK(!l.converged);
}

static void test_loss__noise_only_converges_without_progress(void) {
    static series_buf b;
    uint64_t st = 7;
    for (size_t i = 0; i < 200; i++) {
        b.steps[i] = (int64_t)i + 1;
        b.values[i] = 0.69 + 0.05 * noise(&st);
    }
    finish(&b, 200);
    ml_loss_analysis l;
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK(fabs(l.reduction) < 0.01);
    CHECK(l.converged); /* no trend beyond 2 standard errors from the start */
}

static void test_loss__edges_and_absence(void) {
    static series_buf b;
    for (size_t i = 0; i < 20; i++) {
        b.steps[i] = 10 * (int64_t)i;
        b.values[i] = (double)(20 - i);
    }
    finish(&b, 20);
    ml_loss_analysis l;
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK_NEAR(l.initial, 19.5, 1e-12); /* edge window: 10% of 20 points = 2 */
    CHECK_NEAR(l.final, 1.5, 1e-12);
    CHECK_NEAR(l.best, 1.5, 1e-12);
    CHECK_EQ_INT(l.best_step, 190);
    finish(&b, 1);
    CHECK_STATUS(ml__loss_analyze(&l, &b.s), ML_OK);
    CHECK(!l.present);
    CHECK_STATUS(ml__loss_analyze(&l, NULL), ML_OK);
    CHECK(!l.present);
    CHECK(isnan(l.final));
}

/* ---- Overfitting ------------------------------------------------------------------------------ */

static void eval_v_shape(series_buf *e, series_buf *t) {
    for (size_t i = 0; i < 10; i++) { /* evaluations at 10, 20, ..., 100; best at 40 */
        e->steps[i] = 10 * ((int64_t)i + 1);
        e->values[i] = i <= 3 ? 1.0 - 0.1 * (double)i : 0.7 + 0.05 * (double)(i - 3);
    }
    finish(e, 10);
    for (size_t i = 0; i < 100; i++) {
        t->steps[i] = (int64_t)i + 1;
        t->values[i] = 1.0 - 0.009 * (double)i;
    }
    finish(t, 100);
}

static void test_overfit__best_checkpoint_divergence_and_early_stop(void) {
    static series_buf e, t;
    eval_v_shape(&e, &t);
    ml__ckpt_ref ck[] = {{25, "checkpoint-25", false}, {35, "checkpoint-35", true},
                         {30, "checkpoint-30", false}, {50, "checkpoint-50", false}};
    ml_overfit_analysis o;
    CHECK_STATUS(ml__overfit_analyze(&o, &e.s, &t.s, ck, 4), ML_OK);
    CHECK(o.present);
    CHECK_NEAR(o.best_eval_loss, 0.7, 1e-12);
    CHECK_EQ_INT(o.best_eval_step, 40);
    CHECK_STR(o.best_checkpoint, "checkpoint-30"); /* 35 was deleted; 50 is after the best */
    CHECK(o.overfitting);
    CHECK_EQ_INT(o.divergence_step, 50);
    CHECK_EQ_INT(o.early_stop_step, 70); /* 3 evaluations after the best */
    CHECK(o.eval_slope > 0 && o.train_slope < 0);
    CHECK_NEAR(o.eval_slope, 5.0, 1e-9); /* +0.05 per 10 steps = 5 per 1000 */
    CHECK_NEAR(o.first_eval_loss, 1.0, 1e-12);
    CHECK_NEAR(o.final_eval_loss, 1.0, 1e-12);
    ml__overfit_free(&o);
}

static void test_overfit__small_rise_or_falling_eval_is_not_overfitting(void) {
    static series_buf e, t;
    eval_v_shape(&e, &t);
    for (size_t i = 4; i < 10; i++) e.values[i] = 0.7 + 0.005 * (double)(i - 3); /* +4.3% */
    ml_overfit_analysis o;
    CHECK_STATUS(ml__overfit_analyze(&o, &e.s, &t.s, NULL, 0), ML_OK);
    CHECK(!o.overfitting);
    CHECK(o.best_checkpoint == NULL);
    CHECK_EQ_INT(o.early_stop_step, -1);
    for (size_t i = 0; i < 10; i++) e.values[i] = 1.0 - 0.05 * (double)i;
    CHECK_STATUS(ml__overfit_analyze(&o, &e.s, &t.s, NULL, 0), ML_OK);
    CHECK(!o.overfitting);
    CHECK_EQ_INT(o.best_eval_step, 100);
    CHECK(isnan(o.eval_slope));
    ml__overfit_free(&o);
}

/* ---- Gradients -------------------------------------------------------------------------------- */

static void test_gradient__spike_and_nonfinite_steps(void) {
    static series_buf norm, loss, nf;
    uint64_t st = 3;
    for (size_t i = 0; i < 100; i++) {
        norm.steps[i] = loss.steps[i] = (int64_t)i + 1;
        norm.values[i] = 1.0 + 0.5 * noise(&st);
        loss.values[i] = 0.5;
    }
    norm.values[29] = 50.0; /* step 30: 50x a median near 1 */
    norm.values[59] = NAN;  /* step 60 */
    loss.values[44] = INFINITY; /* step 45 */
    finish(&norm, 100);
    finish(&loss, 100);
    for (size_t i = 0; i < 10; i++) {
        nf.steps[i] = 10 * ((int64_t)i + 1);
        nf.values[i] = i == 3 ? 0.25 : 0.0; /* step 40 */
    }
    finish(&nf, 10);
    ml__gradient_inputs in = {&norm.s, &loss.s, &nf.s, NULL, NULL, 0};
    ml_gradient_analysis g;
    CHECK_STATUS(ml__gradient_analyze(&g, &in), ML_OK);
    CHECK(g.present);
    CHECK_EQ_INT(g.n_spikes, 1);
    CHECK_EQ_INT(g.n_spike_steps, 1);
    CHECK_EQ_INT(g.spike_steps[0], 30);
    CHECK_EQ_INT(g.first_spike_step, 30);
    CHECK_NEAR(g.first_spike_norm, 50.0, 0);
    CHECK(g.first_spike_median > 0.5 && g.first_spike_median < 1.5);
    CHECK_EQ_INT(g.n_nonfinite, 3);
    CHECK_EQ_INT(g.first_nonfinite_step, 40);
    CHECK_NEAR(g.max_norm, 50.0, 0);
    CHECK_EQ_INT(g.max_norm_step, 30);
    CHECK(!g.vanishing);
    CHECK(!g.has_cosine);
    ml__gradient_free(&g);
}

/* Spikes planted at known steps (one before the history is long enough, one NaN between two
 * adjacent spikes, one at the very end): spike_steps lists exactly the flagged ones, in step
 * order, with their norms, and agrees with n_spikes and first_spike_step. */
static void test_gradient__every_spike_step_listed(void) {
    static series_buf norm;
    static const int64_t planted[] = {12, 57, 58, 140, 141, 233, 300};
    static const double height[] = {20.0, 40.0, 15.0, 1e3, 14.0, 30.0, 99.0};
    uint64_t st = 11;
    for (size_t i = 0; i < 300; i++) {
        norm.steps[i] = (int64_t)i + 1;
        norm.values[i] = 1.0 + 0.3 * noise(&st); /* 0.7 .. 1.3: never 10x the median */
    }
    norm.values[2] = 80.0;  /* step 3: fewer than SPIKE_MIN_HISTORY norms precede it */
    norm.values[99] = NAN;  /* step 100: skipped, not a spike */
    for (size_t k = 0; k < sizeof planted / sizeof *planted; k++)
        norm.values[planted[k] - 1] = height[k];
    finish(&norm, 300);
    ml__gradient_inputs in = {&norm.s, NULL, NULL, NULL, NULL, 0};
    ml_gradient_analysis g;
    CHECK_STATUS(ml__gradient_analyze(&g, &in), ML_OK);
    CHECK_EQ_INT(g.n_spikes, sizeof planted / sizeof *planted);
    CHECK_EQ_INT(g.n_spike_steps, g.n_spikes);
    CHECK_NEAR(g.spike_ratio, 10.0, 0);
    for (size_t k = 0; k < g.n_spike_steps && k < sizeof planted / sizeof *planted; k++) {
        CHECK_EQ_INT(g.spike_steps[k], planted[k]);
        CHECK_NEAR(g.spike_norms[k], height[k], 0);
    }
    CHECK_EQ_INT(g.first_spike_step, 12);
    CHECK_EQ_INT(g.max_norm_step, 140);
    ml__gradient_free(&g);
    CHECK(g.spike_steps == NULL && g.spike_norms == NULL && g.n_spike_steps == 0);
}

/* No spike: the list is empty and NULL (nothing to free). */
static void test_gradient__no_spike_no_list(void) {
    static series_buf norm;
    for (size_t i = 0; i < 60; i++) {
        norm.steps[i] = (int64_t)i + 1;
        norm.values[i] = 1.0 / sqrt((double)i + 1);
    }
    finish(&norm, 60);
    ml__gradient_inputs in = {&norm.s, NULL, NULL, NULL, NULL, 0};
    ml_gradient_analysis g;
    CHECK_STATUS(ml__gradient_analyze(&g, &in), ML_OK);
    CHECK_EQ_INT(g.n_spikes, 0);
    CHECK_EQ_INT(g.n_spike_steps, 0);
    CHECK(g.spike_steps == NULL && g.spike_norms == NULL);
    ml__gradient_free(&g);
}

static void test_gradient__steady_growth_is_a_spike_first_steps_are_not(void) {
    static series_buf norm;
    for (size_t i = 0; i < 40; i++) {
        norm.steps[i] = (int64_t)i + 1;
        norm.values[i] = i < 5 ? 100.0 * (double)(i + 1) : pow(1.5, (double)i); /* first 5 rise */
    }
    finish(&norm, 40);
    ml__gradient_inputs in = {&norm.s, NULL, NULL, NULL, NULL, 0};
    ml_gradient_analysis g;
    CHECK_STATUS(ml__gradient_analyze(&g, &in), ML_OK);
    CHECK(g.n_spikes > 0);
    CHECK(g.first_spike_step > 5);
    CHECK_EQ_INT(g.n_spike_steps, g.n_spikes);
    for (size_t i = 1; i < g.n_spike_steps; i++) CHECK(g.spike_steps[i] > g.spike_steps[i - 1]);
    ml__gradient_free(&g);
}

static void test_gradient__vanishing_cosine_and_dead_tensors(void) {
    static series_buf norm, cosine, t1, t2;
    for (size_t i = 0; i < 50; i++) {
        norm.steps[i] = cosine.steps[i] = t1.steps[i] = t2.steps[i] = (int64_t)i + 1;
        norm.values[i] = 1e-10;
        cosine.values[i] = i % 2 ? -0.5 : -0.3;
        t1.values[i] = 2.0;
        t2.values[i] = 0.0;
    }
    finish(&norm, 50);
    finish(&cosine, 50);
    finish(&t1, 50);
    finish(&t2, 50);
    ml__named_series ts[] = {{"a.dead", t2.s}, {"b.live", t1.s}};
    ml__gradient_inputs in = {&norm.s, NULL, NULL, &cosine.s, ts, 2};
    ml_gradient_analysis g;
    CHECK_STATUS(ml__gradient_analyze(&g, &in), ML_OK);
    CHECK(g.vanishing);
    CHECK(g.has_cosine);
    CHECK_NEAR(g.cosine_mean, -0.4, 1e-12);
    CHECK_EQ_INT(g.n_tensors, 2);
    CHECK_STR(g.tensors[0].name, "b.live"); /* by decreasing share */
    CHECK_NEAR(g.tensors[0].share, 1.0, 0);
    CHECK(!g.tensors[0].dead);
    CHECK(g.tensors[1].dead);
    ml__gradient_free(&g);
}

/* ---- Weights ---------------------------------------------------------------------------------- */

static void test_weights__jump_and_change_point(void) {
    static series_buf w, r;
    uint64_t st = 5;
    for (size_t i = 0; i < 100; i++) {
        w.steps[i] = r.steps[i] = (int64_t)i + 1;
        /* growth 0.001 per step, then 0.01 per step from step 51: one change of regime */
        w.values[i] = (i < 50 ? 10.0 + 0.001 * (double)i : 10.049 + 0.01 * (double)(i - 49)) +
                      1e-4 * noise(&st);
        r.values[i] = 1e-3;
    }
    finish(&w, 100);
    finish(&r, 100);
    ml__named_series norms[] = {{"layer.weight", w.s}}, ratios[] = {{"layer.weight", r.s}};
    ml_weight_analysis wa;
    CHECK_STATUS(ml__weights_analyze(&wa, norms, 1, ratios, 1), ML_OK);
    CHECK(wa.present);
    CHECK_EQ_INT(wa.n_tensors, 1);
    CHECK_EQ_INT(wa.tensors[0].n_change_points, 1);
    CHECK(wa.tensors[0].first_change_step >= 51 && wa.tensors[0].first_change_step <= 54);
    CHECK_NEAR(wa.tensors[0].final_update_ratio, 1e-3, 0);
    CHECK(wa.tensors[0].max_jump < 0.002);
    ml__weights_free(&wa);
    /* a 30% jump at step 80, collected every step */
    w.values[79] *= 1.3;
    CHECK_STATUS(ml__weights_analyze(&wa, norms, 1, NULL, 0), ML_OK);
    CHECK_EQ_INT(wa.tensors[0].max_jump_step, 80);
    CHECK(wa.tensors[0].max_jump > 0.29);
    CHECK(isnan(wa.tensors[0].final_update_ratio));
    ml__weights_free(&wa);
    /* steady growth: MAD 0, the sigma floor keeps rounding from raising alarms */
    for (size_t i = 0; i < 100; i++) w.values[i] = 10.0 + 0.001 * (double)i;
    CHECK_STATUS(ml__weights_analyze(&wa, norms, 1, NULL, 0), ML_OK);
    CHECK_EQ_INT(wa.tensors[0].n_change_points, 0);
    ml__weights_free(&wa);
}

/* ---- Learning rate ---------------------------------------------------------------------------- */

/* microlens logs at step s the rate of step s - 1 (schedule factor of train.c's optimizer). */
static double microlens_factor(int kind, uint64_t step, uint64_t warmup, uint64_t total) {
    if (step < warmup) return (double)step / (double)warmup;
    if (kind == 0) return 1.0;
    double span = (double)(total - warmup), p = (double)(step - warmup) / span;
    if (kind == 1) return (double)(total - step) / span;
    return 0.5 * (1.0 + cos(3.14159265358979323846 * p));
}

static ml_lr_analysis lr_of(series_buf *b, size_t n) {
    finish(b, n);
    ml_lr_analysis l;
    CHECK_STATUS(ml__lr_analyze(&l, &b->s), ML_OK);
    return l;
}

static void test_lr__shapes_after_warmup(void) {
    static series_buf b;
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < 300; i++) {
            b.steps[i] = (int64_t)i + 1;
            b.values[i] = 1e-3 * microlens_factor(kind, i, 20, 300);
        }
        ml_lr_analysis l = lr_of(&b, 300);
        ml_lr_schedule_shape want[] = {ML_LR_SHAPE_CONSTANT, ML_LR_SHAPE_LINEAR,
                                       ML_LR_SHAPE_COSINE};
        CHECK_EQ_INT(l.shape, want[kind]);
        CHECK_EQ_INT(l.warmup_steps, 20);
        CHECK_NEAR(l.peak, 1e-3, 1e-15);
        CHECK(l.fit_rmse < 1e-3);
    }
    /* Hugging Face style: logged every 10 steps, rate of step s + 1, cosine stopped at 60% */
    size_t n = 0;
    for (int64_t s = 10; s <= 600; s += 10, n++) {
        double sched = s < 50 ? (double)s / 50.0
                              : 0.5 * (1 + cos(3.14159265358979323846 * (double)(s - 50) / 950.0));
        b.steps[n] = s;
        b.values[n] = 5e-5 * sched;
    }
    ml_lr_analysis l = lr_of(&b, n);
    CHECK_EQ_INT(l.shape, ML_LR_SHAPE_COSINE);
    CHECK_EQ_INT(l.warmup_steps, 50);
}

static void test_lr__step_exponential_unknown_and_zero(void) {
    static series_buf b;
    for (size_t i = 0; i < 300; i++) {
        b.steps[i] = (int64_t)i + 1;
        b.values[i] = 0.1 * pow(0.1, (double)(i / 100));
    }
    ml_lr_analysis l = lr_of(&b, 300);
    CHECK_EQ_INT(l.shape, ML_LR_SHAPE_STEP);
    CHECK_EQ_INT(l.warmup_steps, 0);
    for (size_t i = 0; i < 300; i++) b.values[i] = 0.1 * pow(0.98, (double)i);
    l = lr_of(&b, 300);
    CHECK_EQ_INT(l.shape, ML_LR_SHAPE_EXPONENTIAL);
    uint64_t st = 11;
    for (size_t i = 0; i < 300; i++) b.values[i] = 0.1 * (1.5 + noise(&st));
    l = lr_of(&b, 300);
    CHECK_EQ_INT(l.shape, ML_LR_SHAPE_UNKNOWN);
    for (size_t i = 0; i < 300; i++) b.values[i] = 0.0;
    l = lr_of(&b, 300);
    CHECK_EQ_INT(l.shape, ML_LR_SHAPE_CONSTANT);
    CHECK_NEAR(l.peak, 0.0, 0);
}

/* ---- Verdict ---------------------------------------------------------------------------------- */

static void test_diagnose__verdict_rule(void) {
    ml_analysis a;
    memset(&a, 0, sizeof a);
    a.loss.present = true;
    a.loss.n_points = 100;
    a.loss.initial = 1.0;
    a.loss.final = 0.5;
    a.loss.reduction = 0.5;
    a.loss.smoothness = 0.9;
    a.loss.converged = true;
    a.loss.converged_step = 80;
    a.overfit.present = true;
    ml__run_facts f = {"completed", NULL, -1, true};
    CHECK_STATUS(ml__diagnose(&a, &f), ML_OK);
    CHECK_EQ_INT(a.verdict, ML_VERDICT_EXCELLENT);
    CHECK_NEAR(a.score, 100, 0);
    CHECK_EQ_INT(a.n_findings, 1);
    CHECK_STR(a.findings[0].code, "loss.converged");
    ml__findings fs = {a.findings, a.n_findings, a.n_findings};
    ml__findings_free(&fs);
    /* overfitting (a warning) plus a dead tensor (a warning): moderate, 70 */
    a.overfit.overfitting = true;
    a.overfit.best_eval_loss = a.overfit.first_eval_loss = 0.5;
    a.overfit.final_eval_loss = 0.51;
    a.overfit.divergence_step = 60;
    ml_tensor_flow t = {"x.weight", 0, 0, true};
    a.gradient.present = true;
    a.gradient.n_tensors = 1;
    a.gradient.tensors = &t;
    CHECK_STATUS(ml__diagnose(&a, &f), ML_OK);
    CHECK_EQ_INT(a.verdict, ML_VERDICT_MODERATE);
    CHECK_NEAR(a.score, 70, 0);
    CHECK_EQ_INT(a.findings[0].severity, ML_SEVERITY_WARNING);
    CHECK_STR(a.findings[0].code, "overfitting"); /* step 60 before the stepless one */
    fs = (ml__findings){a.findings, a.n_findings, a.n_findings};
    ml__findings_free(&fs);
    /* any critical finding: poor */
    f.status = "failed";
    f.last_error = "disk full\nreally";
    f.last_error_step = 70;
    CHECK_STATUS(ml__diagnose(&a, &f), ML_OK);
    CHECK_EQ_INT(a.verdict, ML_VERDICT_POOR);
    CHECK_STR(a.findings[0].code, "run.failed");
    CHECK(strstr(a.findings[0].evidence, "disk full really") != NULL); /* one line */
    fs = (ml__findings){a.findings, a.n_findings, a.n_findings};
    ml__findings_free(&fs);
    CHECK_STR(ml_verdict_name((ml_verdict)9), "unknown");
    CHECK_STR(ml_severity_name(ML_SEVERITY_CRITICAL), "critical");
}

int main(void) {
    RUN(test_loss__convergence_step_follows_the_rule);
    RUN(test_loss__still_falling_is_not_converged);
    RUN(test_loss__nan_tail_is_not_converged);
    RUN(test_loss__noise_only_converges_without_progress);
    RUN(test_loss__edges_and_absence);
    RUN(test_overfit__best_checkpoint_divergence_and_early_stop);
    RUN(test_overfit__small_rise_or_falling_eval_is_not_overfitting);
    RUN(test_gradient__spike_and_nonfinite_steps);
    RUN(test_gradient__every_spike_step_listed);
    RUN(test_gradient__no_spike_no_list);
    RUN(test_gradient__steady_growth_is_a_spike_first_steps_are_not);
    RUN(test_gradient__vanishing_cosine_and_dead_tensors);
    RUN(test_weights__jump_and_change_point);
    RUN(test_lr__shapes_after_warmup);
    RUN(test_lr__step_exponential_unknown_and_zero);
    RUN(test_diagnose__verdict_rule);
    TEST_MAIN_END();
}
