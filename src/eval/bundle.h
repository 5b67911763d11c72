/* bundle.h - the in-memory form of ml_model_bundle_load, for the fuzzer and tests, and dense
 * scoring for serve; not part of the public API and no other bundle internals. */
#ifndef ML_EVAL_BUNDLE_H
#define ML_EVAL_BUNDLE_H

#include <stddef.h>

#include "microlens/evaluate.h"

/* ^As ml_model_bundle_load, with card.json's card_len bytes at card_text (card_name stands
 * for the file in messages: "CARD_NAME: field: what (expected)") and model.safetensors's
 * tensors_len bytes at tensors (borrowed for the call; tensors_name in its messages). The
 * card is checked first: a bad card fails whatever the tensors. ML_EFORMAT for a card over
 * 256 MiB. *out untouched on failure. */
ml_status ml__model_bundle_parse(ml_model_bundle **out, const char *card_text, size_t card_len,
                                 const char *card_name, const void *tensors, size_t tensors_len,
                                 const char *tensors_name);

/* ^Scores n samples given as raw values of the bundle's features: x (n, n_features) row-major
 * in ml_model_bundle_feature_id order, each finite and >= 0, and totals (n) each sample's sum
 * over ALL its features (unknown ones included), as ml_model_bundle_predict builds them from a
 * table; x is overwritten by the transformed features. The same arithmetic as
 * ml_model_bundle_predict, without a table (serve builds x from request bodies). ML_EINVAL as
 * ml_transform_apply_dense; score untouched on failure. Thread-safe for a const bundle. */
ml_status ml__model_bundle_score_dense(const ml_model_bundle *b, double *x, const double *totals,
                                       size_t n, double *score);

#endif
