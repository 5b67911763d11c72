/* collect.h - the training collectors: per-step statistics of gradients, weights, LoRA factors
 * and activations read between backward and the optimizer step, streamed into the run store.
 * They keep one running copy of the previous collected gradient and no history; they never
 * change a gradient or a weight. Metric names: include/microlens/analyze.h. */
#ifndef ML_TRAIN_COLLECT_H
#define ML_TRAIN_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "train/trainer.h"

typedef struct ml__collector ml__collector;

/* ^Builds the collectors that tr->o->collect selects for tr's model and optimizer: metric
 * names, the running gradient copy (grad-cosine), the LoRA Gram buffers; nothing is allocated
 * afterwards. ^ML_EINVAL naming the tensor when a metric name would exceed
 * ML_RUNSTORE_MAX_NAME_BYTES; ML_ENOMEM. *out untouched on failure. */
ml_status ml__collect_new(ml__collector **out, ml__trainer *tr);
void ml__collect_free(ml__collector *c); /* NULL: no-op */

/* ^True when step s (counted from 1, the step being run) is a collection step. */
bool ml__collect_due(const ml__collector *c, uint64_t s);

/* ^Reads the gradients (as backward left them, before clipping), the weights, the LoRA factors
 * and the last forward's activations, as selected; call on a collection step, after backward
 * and before clipping. ^The model's errors for activation statistics. */
ml_status ml__collect_gradients(ml__collector *c, ml__trainer *tr);

/* ^Where the optimizer step of a collection step sums each trainable tensor's squared change
 * (ml__optim_step_measured), or NULL when update ratios are not collected. */
double *ml__collect_update_buffer(ml__collector *c);

/* ^Logs the collection of step s to rs: gradient, weight, LoRA and activation metrics, and
 * update ratios when stepped (the optimizer stepped and filled the update buffer), peak RSS
 * and step_seconds as selected. ^The run store's errors. */
ml_status ml__collect_log(ml__collector *c, ml_runstore *rs, int64_t s, bool stepped,
                          double step_seconds);

#endif
