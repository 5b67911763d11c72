/* bundle.h - the in-memory form of ml_model_bundle_load, for the fuzzer and tests; not part
 * of the public API and no other bundle internals. */
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

#endif
