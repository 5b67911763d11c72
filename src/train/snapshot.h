/* snapshot.h - raw tensors of chosen training steps (LoRA factors, gradients, weights) in
 * RUN_DIR/snapshots/step-NNNNNNN.safetensors, one atomic file per step; never in checkpoints/.
 * Which steps and tensors: docs/training.md, "Snapshots". */
#ifndef ML_TRAIN_SNAPSHOT_H
#define ML_TRAIN_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "train/trainer.h"

/* Snapshot folder inside the run folder. */
#define ML__SNAPSHOT_DIR "snapshots"

typedef struct ml__snapshot ml__snapshot;

/* ^Prepares the snapshots tr->o->snapshot selects: the tensor views (into the model: no copy)
 * and RUN_DIR/snapshots/, where temporary files a crash left are removed. ^ML_EINVAL when lora
 * is asked of a model without LoRA tensors; ML_EIO for the folder; ML_ENOMEM. *out untouched
 * on failure. */
ml_status ml__snapshot_new(ml__snapshot **out, ml__trainer *tr);
void ml__snapshot_free(ml__snapshot *s); /* NULL: no-op */

/* ^True when step s (counted from 1) gets a snapshot. */
bool ml__snapshot_due(const ml__snapshot *s, uint64_t step);

/* ^Writes snapshots/step-<s>.safetensors atomically (temporary file, fsync, rename) with the
 * selected tensors as they are now: call after backward and before clipping, so gradients are
 * step s's unclipped ones and weights those they were computed at (after s - 1 updates).
 * __metadata__ says so. ^ml_safetensors_write's errors; a previous file is untouched then. */
ml_status ml__snapshot_write(ml__snapshot *s, uint64_t step);

#endif
