/* evolution.c - LoRA adapters over a run's checkpoints: the spectra of every adapter
 * checkpoint and the cosine of each module's update with the first and the previous
 * checkpoint's, each adapter read once (lora.c does the linear algebra, from the thin
 * factors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_internal.h"
#include "analyze/lora.h"

void ml__lora_evolution_free(ml_lora_evolution *e) {
    if (!e) return;
    for (size_t i = 0; e->spectra && i < e->n_checkpoints; i++) ml_lora_spectra_free(e->spectra[i]);
    free(e->spectra);
    free(e->steps);
    free(e->cos_first);
    free(e->cos_prev);
    memset(e, 0, sizeof *e);
}

static bool selected(const ml_run_checkpoint *c, int64_t first, int64_t last) {
    return !c->deleted && c->weights && c->is_adapter && c->step >= first && c->step <= last;
}

/* Cosines of checkpoint c's modules with the first (in the first's module order) and, for
 * each of those modules, with the previous checkpoint. */
static ml_status cosines(ml_lora_evolution *e, size_t c, const ml__lora_adapter *first,
                         const ml__lora_adapter *prev, const ml__lora_adapter *cur) {
    size_t m = e->spectra[0]->n_modules;
    if (m == 0) return ML_OK;
    ML_TRY(ml__lora_adapter_cosines(e->cos_first + c * m, first, cur));
    for (size_t j = 0; j < m; j++) {
        double *prev_cos = &e->cos_prev[c * m + j];
        *prev_cos = NAN;
        if (prev)
            ML_TRY(ml__lora_adapter_cosine(prev, cur, e->spectra[0]->modules[j].module,
                                           prev_cos));
    }
    return ML_OK;
}

/* Each adapter is read once; the first and the previous stay open for the cosines. */
static ml_status scan(ml_lora_evolution *e, const ml_run_checkpoint *rows, size_t n_rows,
                      int64_t first_step, int64_t last_step) {
    ml__lora_adapter *first = NULL, *prev = NULL, *cur = NULL;
    ml_status st = ML_OK;
    for (size_t i = 0, k = 0; st == ML_OK && i < n_rows; i++) {
        const ml_run_checkpoint *c = &rows[i];
        if (!selected(c, first_step, last_step)) continue;
        e->steps[k] = c->step;
        st = ml__lora_adapter_open(&cur, c->weights, c->adapter_config);
        if (st == ML_OK) st = ml__lora_adapter_spectra(&e->spectra[k], cur);
        if (st == ML_OK && k == 0) {
            size_t m = e->spectra[0]->n_modules ? e->spectra[0]->n_modules : 1;
            e->cos_first = malloc(e->n_checkpoints * m * sizeof *e->cos_first);
            e->cos_prev = malloc(e->n_checkpoints * m * sizeof *e->cos_prev);
            if (!e->cos_first || !e->cos_prev) st = ML_NOMEM();
        }
        if (st == ML_OK) st = cosines(e, k, k == 0 ? cur : first, k == 0 ? NULL : prev, cur);
        if (st != ML_OK) {
            ml__error_prefix("%s", c->dir);
            break;
        }
        if (k == 0) first = cur;
        else if (prev != first) ml__lora_adapter_free(prev);
        prev = cur;
        cur = NULL;
        k++;
    }
    ml__lora_adapter_free(cur);
    if (prev != first) ml__lora_adapter_free(prev);
    ml__lora_adapter_free(first);
    return st;
}

ml_status ml__lora_evolution(ml_lora_evolution *out, bool *has_lora, const ml_run_source *s,
                             int64_t first, int64_t last) {
    memset(out, 0, sizeof *out);
    *has_lora = false;
    const ml_run_checkpoint *rows;
    size_t n_rows, n = 0;
    ml_run_source_checkpoints(s, &rows, &n_rows);
    for (size_t i = 0; i < n_rows; i++) n += selected(&rows[i], first, last);
    if (n == 0) return ML_OK;
    ml_lora_evolution e = {n, malloc(n * sizeof(int64_t)), calloc(n, sizeof(ml_lora_spectra *)),
                           NULL, NULL};
    ml_status st = (!e.steps || !e.spectra) ? ML_NOMEM() : scan(&e, rows, n_rows, first, last);
    if (st != ML_OK) {
        ml__lora_evolution_free(&e);
        return st;
    }
    *out = e;
    *has_lora = true;
    return ML_OK;
}
