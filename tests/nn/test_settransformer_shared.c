/* test_settransformer_shared.c - what ml_settransformer_new_shared promises: a model that
 * reads another's weights in place (no copy), owns its activations, forwards bit for bit as
 * the source does, and whose free leaves the source working. */
#include <stdlib.h>
#include <string.h>

#include "microlens/nn.h"
#include "ml_test.h"
#include "util/rng.h"

enum { S = 3, T = 40, D = 10 };
static const size_t offsets[S + 1] = {0, 17, 18, 40};

static ml_settransformer *make_source(int has_grad) {
    ml_settransformer_config c = ML_SETTRANSFORMER_CONFIG_INIT;
    c.d_in = 6;
    c.d_model = D;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_ff = 12;
    c.n_classes = 2;
    c.max_tokens = T;
    c.max_set_tokens = 24;
    c.max_sets = S;
    c.has_grad = has_grad;
    ml_settransformer *m = NULL;
    CHECK_STATUS(ml_settransformer_new(&m, &c), ML_OK);
    if (m) ml_settransformer_init(m, 11);
    return m;
}

static void fill_input(float *x, size_t n) {
    ml__rng r;
    ml__rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * ml__rng_uniform(&r) - 1.0);
}

static void test_shared__forward_is_bit_identical_and_weights_are_not_copied(void) {
    ml_settransformer *m = make_source(1), *s = NULL;
    if (!m) return;
    CHECK_STATUS(ml_settransformer_new_shared(&s, m), ML_OK);
    if (!s) {
        ml_settransformer_free(m);
        return;
    }
    CHECK(ml_settransformer_get_config(s)->has_grad == 0);
    float *wm, *ws;
    size_t nm, ns;
    CHECK_STATUS(ml_settransformer_param(m, "transformer.layers.1.linear1.weight", &wm, &nm),
                 ML_OK);
    CHECK_STATUS(ml_settransformer_param(s, "transformer.layers.1.linear1.weight", &ws, &ns),
                 ML_OK);
    CHECK(wm == ws && nm == ns);
    float x[T * 6], emb_m[S * D], emb_s[S * D], cls_m[S * 2];
    fill_input(x, T * 6);
    ml_set_batch b = {S, offsets, x};
    CHECK_STATUS(ml_settransformer_forward(m, &b), ML_OK);
    memcpy(emb_m, ml_settransformer_embeddings(m), sizeof emb_m);
    memcpy(cls_m, ml_settransformer_class_logits(m), sizeof cls_m);
    CHECK_STATUS(ml_settransformer_forward(s, &b), ML_OK);
    memcpy(emb_s, ml_settransformer_embeddings(s), sizeof emb_s);
    CHECK(memcmp(emb_m, emb_s, sizeof emb_m) == 0);
    CHECK(memcmp(cls_m, ml_settransformer_class_logits(s), sizeof cls_m) == 0);
    /* separate activations: the source's results survive the shared model's forward */
    CHECK(ml_settransformer_embeddings(m) != ml_settransformer_embeddings(s));
    CHECK(memcmp(emb_m, ml_settransformer_embeddings(m), sizeof emb_m) == 0);
    /* a weight change in the source shows in the shared model: it reads, never copies */
    wm[0] += 0.5f;
    CHECK_STATUS(ml_settransformer_forward(s, &b), ML_OK);
    CHECK(memcmp(emb_s, ml_settransformer_embeddings(s), sizeof emb_s) != 0);
    ml_settransformer_free(s);
    /* freeing the shared model left the source's weights in place */
    CHECK_STATUS(ml_settransformer_forward(m, &b), ML_OK);
    CHECK(memcmp(emb_s, ml_settransformer_embeddings(m), sizeof emb_s) != 0);
    wm[0] -= 0.5f;
    ml_settransformer_free(m);
}

static void test_shared__sharing_an_inference_model_works_too(void) {
    ml_settransformer *m = make_source(0), *s = NULL;
    if (!m) return;
    CHECK_STATUS(ml_settransformer_new_shared(&s, m), ML_OK);
    float x[T * 6];
    fill_input(x, T * 6);
    ml_set_batch b = {S, offsets, x};
    CHECK_STATUS(ml_settransformer_forward(m, &b), ML_OK);
    if (s) {
        CHECK_STATUS(ml_settransformer_forward(s, &b), ML_OK);
        CHECK(memcmp(ml_settransformer_embeddings(m), ml_settransformer_embeddings(s),
                     S * D * sizeof(float)) == 0);
    }
    ml_settransformer_free(s);
    ml_settransformer_free(m);
}

int main(void) {
    RUN(test_shared__forward_is_bit_identical_and_weights_are_not_copied);
    RUN(test_shared__sharing_an_inference_model_works_too);
    TEST_MAIN_END();
}
