/* classify.h - binary classifiers on dense features behind one interface: logistic regression
 * (scikit-learn's objective), linear SVM (hinge), random forest (Gini) and an MLP (AdamW).
 * No feature scaling or transforms here (see transform.h) and no cross-validation (eval.h). */
#ifndef MICROLENS_CLASSIFY_H
#define MICROLENS_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "microlens/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ml_classifier_kind {
    ML_CLASSIFIER_LOGREG = 0, /* logistic regression; score = P(y=1) */
    ML_CLASSIFIER_SVM,        /* linear SVM, hinge loss; score = decision value w.x+b */
    ML_CLASSIFIER_RF,         /* random forest; score = mean over trees of the leaf P(y=1) */
    ML_CLASSIFIER_MLP         /* multilayer perceptron, ReLU, sigmoid output; score = P(y=1) */
} ml_classifier_kind;

typedef enum ml_penalty {
    ML_PENALTY_L2 = 0,     /* 1/2 |w|^2 + C sum s_i logloss_i (scikit-learn's default) */
    ML_PENALTY_L1,         /* |w|_1 + C sum ... */
    ML_PENALTY_ELASTICNET, /* (1-r)/2 |w|^2 + r |w|_1 + C sum ..., r = l1_ratio */
    ML_PENALTY_NONE        /* C sum ... only (diverges on separable data: see converged) */
} ml_penalty;

/* Most hidden layers an MLP may have. */
#define ML_MLP_MAX_HIDDEN 8

#define ML_CLASSIFIER_OPTIONS_VERSION 1
/* Every field can also be set by name from text with ml_classifier_options_set (the name is
 * the field name; listed as name=example). Fields a kind does not use are ignored. */
typedef struct ml_classifier_options {
    int version;             /* ML_CLASSIFIER_OPTIONS_VERSION */
    ml_classifier_kind kind; /* kind=logreg|svm|rf|mlp; default logreg */
    /* logreg, svm */
    double C;                /* inverse regularisation strength, > 0; default 1.0; C=0.1 */
    ml_penalty penalty;      /* logreg only; penalty=l2|l1|elasticnet|none; default l2 */
    double l1_ratio;         /* elastic-net mixing r in [0,1]; default 0.5; l1_ratio=0.2 */
    int has_intercept;       /* fit an unpenalised intercept (svm: a bias feature of value 1,
                              * penalised as liblinear does); default 1; has_intercept=0 */
    /* all kinds: class_weight="balanced" multiplies each sample's weight by
     * n / (2 * count of its class), counts taken from y (not from sample weights). */
    int is_balanced;         /* default 0; is_balanced=1 (alias class_weight=balanced) */
    double tol;              /* stopping tolerance; 0 picks the kind's default: logreg 1e-10
                              * (max |gradient| / max |gradient at 0|, i.e. relative), svm 1e-6
                              * (liblinear's projected-gradient gap); tol=1e-8 */
    size_t max_iter;         /* solver iterations; 0 picks logreg 1000 (Newton steps), svm
                              * 1000 (epochs over the data, scikit-learn's default) */
    /* rf */
    size_t n_trees;          /* default 100; n_trees=500 */
    size_t max_depth;        /* 0: unlimited (default); max_depth=8 */
    size_t max_features;     /* features tried per split; 0: floor(sqrt(d)) (default, as
                              * scikit-learn's "sqrt"); max_features=10 */
    size_t min_samples_leaf; /* default 1 */
    /* mlp */
    size_t n_hidden;                   /* hidden layers; default 1 */
    size_t hidden[ML_MLP_MAX_HIDDEN];  /* widths; default {100}; hidden=256x64 */
    double lr;               /* AdamW learning rate; default 1e-3 */
    double weight_decay;     /* AdamW decoupled decay, on all parameters (PyTorch's default
                              * when given model.parameters()); default 1e-2 */
    size_t batch_size;       /* default 32 */
    size_t max_epochs;       /* default 200 */
    size_t patience;         /* epochs without a better validation loss before stopping;
                              * default 10 */
    double validation_fraction; /* inner stratified split for early stopping, in (0, 0.5];
                              * default 0.1; 0 disables early stopping */
    /* rf, mlp, svm (visiting order) */
    uint64_t seed;           /* default 42 */
} ml_classifier_options;
#define ML_CLASSIFIER_OPTIONS_INIT                                                           \
    {ML_CLASSIFIER_OPTIONS_VERSION, ML_CLASSIFIER_LOGREG, 1.0, ML_PENALTY_L2, 0.5, 1, 0, 0.0, \
     0, 100, 0, 0, 1, 1, {100}, 1e-3, 1e-2, 32, 200, 10, 0.1, 42}

typedef struct ml_classifier ml_classifier;

/* ^Fits a classifier. X: (n, d) row-major, finite. y[i] in {0, 1}, both classes present.
 * sample_weight: n finite values >= 0 with a positive sum, or NULL for all ones.
 * ^ML_EINVAL for bad options (the message names the field and the accepted range), a label
 * outside {0,1} ("y[7] is 2 (expected 0 or 1)"), a single class, a non-finite value; ML_ENOMEM.
 * Not converging within max_iter is not an error (see ml_classifier_converged).
 * *out untouched on failure; the caller frees *out with ml_classifier_free. */
ml_status ml_classifier_fit(ml_classifier **out, const ml_classifier_options *opts,
                            const double *X, size_t n, size_t d, const int *y,
                            const double *sample_weight);

/* ^score[i] for each row of X (n, d) with the d of the fit: P(y=1) for logreg, rf and mlp,
 * the decision value w.x + b for svm (ranking metrics such as ROC-AUC use it as is).
 * ML_EINVAL if X holds a non-finite value; score untouched on failure. */
ml_status ml_classifier_predict_score(const ml_classifier *c, const double *X, size_t n,
                                      double *score);

/* ^The score above which a sample is predicted positive: 0.5 for probabilities, 0 for svm.
 * A score equal to it is predicted negative, as scikit-learn's predict does. */
double ml_classifier_threshold(const ml_classifier *c);
/* ^1 when the score is a probability (logreg, rf, mlp), 0 for svm. */
int ml_classifier_score_is_probability(const ml_classifier *c);

ml_classifier_kind ml_classifier_kind_of(const ml_classifier *c);
size_t ml_classifier_n_features(const ml_classifier *c);
/* Options used by the fit, defaults resolved (tol, max_iter, max_features). Borrowed. */
const ml_classifier_options *ml_classifier_options_of(const ml_classifier *c);
/* Solver iterations run (logreg Newton steps, svm epochs, mlp epochs; rf: 0). */
size_t ml_classifier_n_iter(const ml_classifier *c);
/* 1 if the solver met tol (logreg, svm) or stopped early (mlp); rf: always 1. */
int ml_classifier_converged(const ml_classifier *c);

/* ^Linear models only (logreg, svm): *coef (d values) and *intercept, borrowed from c.
 * ML_EINVAL for rf and mlp; out-params untouched then. */
ml_status ml_classifier_coef(const ml_classifier *c, const double **coef, double *intercept);

/* The fitted parameters as named tensors, to save with ml_safetensors_write. The set
 * fully determines predictions (see ml_classifier_from_params):
 *   logreg, svm: "coef" F64 [1, d], "intercept" F64 [1]
 *   rf:  "tree_offset" I64 [n_trees+1] (node range of each tree), "feature" I32 [nodes]
 *        (-1 for a leaf), "threshold" F64 [nodes] (go left when x <= threshold),
 *        "left", "right" I32 [nodes] (node index within the tree), "value" F64 [nodes]
 *        (weighted fraction of class 1 in the node's bootstrap sample)
 *   mlp: "layers.{i}.weight" F64 [out, in] and "layers.{i}.bias" F64 [out], i = 0..n_hidden
 *        (the last layer has out = 1: the logit), as PyTorch's nn.Linear lays them out. */
size_t ml_classifier_n_params(const ml_classifier *c);
/* ^Fills *out with parameter idx (< ml_classifier_n_params); name and data borrowed from c.
 * ML_EINVAL if idx is out of range. */
ml_status ml_classifier_param(const ml_classifier *c, size_t idx, ml_tensor_view *out);

/* ^Rebuilds a classifier from tensors as ml_classifier_param lists them (any order; extra
 * names refused). opts gives the kind (and is kept for ml_classifier_options_of); d the
 * number of features. ML_EFORMAT if a tensor is missing, has the wrong dtype or shape, or
 * an rf tree is not a valid tree (child out of range or not after its parent). *out
 * untouched on failure. Tensor data is copied. */
ml_status ml_classifier_from_params(ml_classifier **out, const ml_classifier_options *opts,
                                    size_t d, const ml_tensor_view *tensors, size_t n_tensors);

void ml_classifier_free(ml_classifier *c); /* NULL: no-op */

/* ^Sets one option field from text by its name (see the struct): numbers in C syntax,
 * kind/penalty by word, hidden as widths joined by 'x' ("256x64"), class_weight=balanced|none.
 * ML_EINVAL names the field and what it accepts if the name or value is bad; o untouched. */
ml_status ml_classifier_options_set(ml_classifier_options *o, const char *name,
                                    const char *value);
/* ^Checks every field the kind uses; ML_EINVAL naming the first bad field. */
ml_status ml_classifier_options_check(const ml_classifier_options *o);

/* A hyper-parameter grid: the Cartesian product of value lists per option name. */
typedef struct ml_grid ml_grid;

/* ^Parses "NAME=V1,V2,...[;NAME=V1,...]" (spaces allowed around tokens), e.g.
 * "C=0.01,0.1,1" or "penalty=l1,l2; C=0.1,1". Every value is checked against a copy of
 * base (ml_classifier_options_set), so a bad name or value fails here, not mid-search.
 * ML_EINVAL "grid: ..." with the offending text; *out untouched on failure. */
ml_status ml_grid_parse(ml_grid **out, const char *spec, const ml_classifier_options *base);
void ml_grid_free(ml_grid *g); /* NULL: no-op */
/* Number of combinations (product of the list lengths; 1 for an empty spec). */
size_t ml_grid_size(const ml_grid *g);
/* ^Copies base into *o and applies combination k (< ml_grid_size; the last name varies
 * fastest). ML_EINVAL if k is out of range; *o untouched then. */
ml_status ml_grid_point(const ml_grid *g, size_t k, const ml_classifier_options *base,
                        ml_classifier_options *o);
/* ^Writes combination k as "C=0.1;penalty=l1" into buf (always NUL-terminated when
 * buf_capacity > 0); returns the length it needed, as snprintf does. */
size_t ml_grid_describe(const ml_grid *g, size_t k, char *buf, size_t buf_capacity);

/* Names of kinds and penalties as ml_classifier_options_set accepts them ("logreg", "l2"). */
const char *ml_classifier_kind_name(ml_classifier_kind k);
const char *ml_penalty_name(ml_penalty p);

#ifdef __cplusplus
}
#endif
#endif
