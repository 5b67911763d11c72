/* classifier.h - what every classifier kind shares inside the library: the fitted object as a
 * list of named tensors, input checks, and each kind's fit and predict entry points. */
#ifndef ML_CLASSIFY_CLASSIFIER_H
#define ML_CLASSIFY_CLASSIFIER_H

#include <stddef.h>

#include "microlens/classify.h"

/* Most tensors a fitted classifier holds: an MLP with ML_MLP_MAX_HIDDEN hidden layers. */
#define ML__CLF_MAX_PARAMS (2 * (ML_MLP_MAX_HIDDEN + 1))
#define ML__PARAM_NAME_MAX 48

typedef struct ml__param {
    char name[ML__PARAM_NAME_MAX];
    ml_dtype dtype;  /* F64, I32 or I64 */
    size_t n_dims;
    size_t shape[2];
    void *data;      /* owned */
} ml__param;

struct ml_classifier {
    ml_classifier_options opts; /* defaults resolved */
    size_t n_features;
    size_t n_iter;
    int is_converged;
    size_t n_params;
    ml__param params[ML__CLF_MAX_PARAMS];
};

/* A zeroed classifier for opts (copied) and d features; NULL when out of memory. */
ml_classifier *ml__classifier_alloc(const ml_classifier_options *opts, size_t d);
/* Appends a zero-filled tensor; NULL (and ML_ENOMEM raised) when out of memory. */
void *ml__classifier_add(ml_classifier *c, const char *name, ml_dtype dtype, size_t n_dims,
                         size_t rows, size_t cols);
/* The tensor called name, or NULL. */
const ml__param *ml__classifier_find(const ml_classifier *c, const char *name);

/* Per-sample weights: sample_weight (or 1) times the balanced class weight when asked.
 * Returns a malloc'd (n) array or NULL with ML_ENOMEM raised. */
double *ml__effective_weights(const int *y, size_t n, const double *sample_weight,
                              int is_balanced);

/* Each kind fills c's tensors (already allocated object, opts resolved). */
ml_status ml__logreg_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                         const double *w);
ml_status ml__svm_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                      const double *w);
ml_status ml__forest_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                         const double *w);
ml_status ml__mlp_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                      const double *w);

/* score (n) = X (n, d) w + b for the linear kinds. */
void ml__linear_decision(const ml_classifier *c, const double *X, size_t n, double *score);
void ml__forest_predict(const ml_classifier *c, const double *X, size_t n, double *score);
ml_status ml__mlp_predict(const ml_classifier *c, const double *X, size_t n, double *score);
/* ML_EFORMAT unless the rf tensors describe valid trees. */
ml_status ml__forest_validate(const ml_classifier *c);

#endif
