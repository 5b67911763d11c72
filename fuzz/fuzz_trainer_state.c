/* fuzz_trainer_state.c - hostile bytes into the Hugging Face trainer_state.json importer
 * (ml__hf_state_parse), then the loss, learning-rate and gradient analyses on what it produced,
 * checking the importer's promises: series sorted by strictly increasing step, names sorted,
 * the first value of a repeated step kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void analyse(const ml__metric_set *m) {
    for (size_t i = 0; i < m->n; i++) {
        ml_series s = {m->m[i].n, m->m[i].steps, m->m[i].values, m->m[i].wall_times};
        ml_loss_analysis l;
        ml_lr_analysis lr;
        ml_gradient_analysis g;
        ml__gradient_inputs in = {&s, &s, &s, &s, NULL, 0};
        if (ml__loss_analyze(&l, &s) == ML_OK && l.present && l.converged &&
            (l.converged_step < s.steps[0] || l.converged_step > s.steps[s.n - 1]))
            abort(); /* the convergence step is one of the series' steps */
        (void)ml__lr_analyze(&lr, &s);
        if (ml__gradient_analyze(&g, &in) == ML_OK) ml__gradient_free(&g);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ml__hf_state st;
    if (ml__hf_state_parse(&st, (const char *)data, size, "fuzz.json") != ML_OK) return 0;
    const ml__metric_set *m = &st.metrics;
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0 && strcmp(m->m[i - 1].name, m->m[i].name) >= 0) abort();
        for (size_t k = 1; k < m->m[i].n; k++)
            if (m->m[i].steps[k] <= m->m[i].steps[k - 1]) abort();
        for (size_t k = 0; k < m->m[i].n; k++)
            if (m->m[i].steps[k] < 0) abort();
        if (strcmp(m->m[i].name, "step") == 0 || strcmp(m->m[i].name, "train_loss") == 0)
            abort(); /* the axis and run summaries never become series */
    }
    for (size_t i = 0; i < st.n_notes; i++)
        if (!st.notes[i] || !st.notes[i][0]) abort();
    analyse(m);
    ml__hf_state_free(&st);
    return 0;
}
