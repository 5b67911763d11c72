/* actstats.h - moments of an activation tensor (sum, sum of squares, max |x|, exact zeros) for
 * the activation statistics of nn.h; it reads activations that a forward pass kept, never runs
 * one. */
#ifndef ML_NN_ACTSTATS_H
#define ML_NN_ACTSTATS_H

#include <stddef.h>

#include "microlens/nn.h"

/* Running totals over any number of arrays. */
typedef struct ml__moments {
    double sum, sum_sq; /* of the values, in double */
    double max_abs;     /* NaN when any value is NaN */
    size_t n, n_zero;   /* values seen; values == 0 (either sign) */
} ml__moments;

#define ML__MOMENTS_INIT {0.0, 0.0, 0.0, 0, 0}

/* Adds x (n) to m: per-lane double accumulators in a fixed order, vectorised. */
void ml__moments_add(ml__moments *m, const float *x, size_t n);
/* The same totals with a plain loop, one accumulator: the reference of the tests. */
void ml__moments_add_ref(ml__moments *m, const float *x, size_t n);

/* Fills st's mean, std (divisor n), max_abs from m, and zero_fraction from z (the totals of
 * the array whose zeros count, which may be m itself); n_values = m->n. */
void ml__moments_finish(ml_nn_act_stats *st, const ml__moments *m, const ml__moments *z);

#endif
