/* tensorstats.h - summary statistics of one floating-point tensor (min, max, mean, L2 norm,
 * counts of NaN and infinities), the quick look at weights that otherwise needs Python. It
 * reads tensor views from include/microlens/safetensors.h and never allocates. */
#ifndef MICROLENS_TENSORSTATS_H
#define MICROLENS_TENSORSTATS_H

#include <stddef.h>

#include "microlens/error.h"
#include "microlens/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Statistics over the finite elements of a tensor; NaN and infinities are only counted, so
 * one bad value does not hide the others' range. Every element is widened to double (F64
 * stays exact, F16/BF16/F32 convert exactly) and sums are accumulated in double. */
typedef struct ml_tensor_stats {
    size_t n_elements; /* product of the shape */
    size_t n_finite;   /* elements that are neither NaN nor infinite */
    size_t n_nan;
    size_t n_posinf;
    size_t n_neginf;
    double min, max;   /* over finite elements; NaN when n_finite == 0 */
    double mean;       /* over finite elements; NaN when n_finite == 0 */
    double l2_norm;    /* sqrt(sum x^2) over finite elements, 0 when n_finite == 0; computed
                        * with scaling, so it is +inf only if the true norm exceeds DBL_MAX */
} ml_tensor_stats;

/* ^1 if d is F64, F32, F16 or BF16 (the dtypes ml_tensor_stats_compute accepts), else 0. */
int ml_dtype_is_float(ml_dtype d);

/* ^Fills *out with the statistics of t, reading elements byte by byte (any alignment).
 * ^ML_EINVAL for a dtype that is not floating point, an element count that overflows, or
 * NULL data for a non-empty tensor; *out untouched then. */
ml_status ml_tensor_stats_compute(ml_tensor_stats *out, const ml_tensor_view *t);

#ifdef __cplusplus
}
#endif
#endif
