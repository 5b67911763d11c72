/* fuzz_bundle_card.c - hostile bytes as a model bundle (card.json + model.safetensors, split
 * at the first occurrence of the input's first byte: a NUL never appears in JSON, so the
 * seeds use it); any bundle accepted is then used to score a small table, so tensors that
 * fit the card's checks but not the classifier's arrays show up here, not in production. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "eval/bundle.h"
#include "microlens/evaluate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_SAMPLES 3
#define MAX_USED_FEATURES 64 /* of the bundle's features put in the table */

/* A table of N_SAMPLES over some of b's features plus one it does not know. */
static ml_table *table_for(const ml_model_bundle *b, const uint8_t *data, size_t size) {
    ml__table_builder *tb = NULL;
    if (ml__tb_new(&tb) != ML_OK) return NULL;
    size_t idx, dup, m = ml_model_bundle_n_features(b);
    ml_status st = ML_OK;
    for (size_t s = 0; s < N_SAMPLES && st == ML_OK; s++) {
        char id[8] = {'S', (char)('0' + s), 0};
        st = ml__tb_add_sample(tb, id, strlen(id), &idx, &dup);
    }
    for (size_t k = 0; k < m && k < MAX_USED_FEATURES && st == ML_OK; k++) {
        const char *id = ml_model_bundle_feature_id(b, k);
        st = ml__tb_add_feature(tb, id, strlen(id), NULL, &idx, &dup);
        for (size_t s = 0; s < N_SAMPLES && st == ML_OK && dup == SIZE_MAX; s++)
            st = ml__tb_add_value(tb, s, idx, size ? data[(k * N_SAMPLES + s) % size] : 1.0);
    }
    if (st == ML_OK) st = ml__tb_add_feature(tb, "\x01unknown", 8, NULL, &idx, &dup);
    if (st == ML_OK && dup == SIZE_MAX) st = ml__tb_add_value(tb, 0, idx, 5.0);
    ml_table *t = NULL;
    if (st == ML_OK) {
        ml__tb_finish(tb, "fuzz", "fuzz", "fuzz", &t);
        return t;
    }
    ml__tb_free(tb);
    return NULL;
}

static void use_bundle(const ml_model_bundle *b, const uint8_t *data, size_t size) {
    size_t m = ml_model_bundle_n_features(b);
    if (m == 0 || !ml_model_bundle_positive(b) || !ml_model_bundle_fingerprint(b))
        __builtin_trap();
    for (size_t k = 0; k < m; k++)
        if (!ml_model_bundle_feature_id(b, k)) __builtin_trap();
    (void)ml_model_bundle_threshold(b);
    ml_table *t = table_for(b, data, size);
    if (!t) return;
    size_t unknown, missing;
    double score[N_SAMPLES];
    if (ml_model_bundle_match(b, t, &unknown, &missing) == ML_OK && (unknown > 1 || missing > m))
        __builtin_trap();
    if (ml_model_bundle_predict(b, t, NULL, N_SAMPLES, score) == ML_OK) {
        volatile double sink = 0;
        for (size_t i = 0; i < N_SAMPLES; i++) sink += score[i];
        (void)sink;
    }
    ml_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t *card = data + 1, *end = data + size;
    const uint8_t *sep = memchr(card, data[0], (size_t)(end - card));
    size_t card_len = (size_t)((sep ? sep : end) - card);
    const uint8_t *tensors = sep ? sep + 1 : end;
    ml_model_bundle *b = NULL;
    if (ml__model_bundle_parse(&b, (const char *)card, card_len, "fuzz/card.json", tensors,
                               (size_t)(end - tensors), "fuzz/model.safetensors") != ML_OK)
        return 0;
    use_bundle(b, data, size);
    ml_model_bundle_free(b);
    return 0;
}
