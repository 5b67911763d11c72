/* test_load.c - what ml_settransformer_load promises: sizes read from the shapes, the head
 * count from metadata or the option, exact weights, and a refusal (with the tensor named) for
 * every missing, extra, misshapen, non-float or non-finite tensor. Files are written with
 * ml_safetensors_write from a model made in memory. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/nn.h"
#include "microlens/safetensors.h"
#include "ml_test.h"

#define MAX_T 64

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* The source model: d_in 4, d_model 6, 2 layers, 3 heads, d_ff 8. */
static ml_settransformer *source_model(size_t n_classes) {
    ml_settransformer_config c = ML_SETTRANSFORMER_CONFIG_INIT;
    c.d_in = 4;
    c.d_model = 6;
    c.n_layers = 2;
    c.n_heads = 3;
    c.d_ff = 8;
    c.n_classes = n_classes;
    c.max_tokens = 16;
    c.max_set_tokens = 8;
    c.max_sets = 4;
    ml_settransformer *m = NULL;
    if (ml_settransformer_new(&m, &c) != ML_OK) return NULL;
    ml_settransformer_init(m, 7);
    return m;
}

/* The model's tensors as F32 views, in state-dict order. */
typedef struct export {
    ml_tensor_view t[MAX_T];
    size_t n;
    ml_kv meta[1];
    size_t n_meta;
} export;

static void export_model(export *e, ml_settransformer *m, const char *nhead) {
    memset(e, 0, sizeof *e);
    for (size_t i = 0; i < ml_settransformer_n_tensors(m) && i < MAX_T; i++) {
        ml_nn_tensor p;
        if (ml_settransformer_tensor(m, i, &p) != ML_OK) continue;
        ml_tensor_view *v = &e->t[e->n++];
        v->name = p.name;
        v->dtype = ML_DTYPE_F32;
        v->n_dims = p.n_dims;
        v->shape[0] = p.shape[0];
        v->shape[1] = p.shape[1];
        v->data = p.data;
    }
    if (nhead) {
        e->meta[0] = (ml_kv){"nhead", nhead};
        e->n_meta = 1;
    }
}

static ml_tensor_view *find(export *e, const char *name) {
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->t[i].name, name) == 0) return &e->t[i];
    return NULL;
}

static void drop(export *e, const char *name) {
    ml_tensor_view *v = find(e, name);
    if (!v) return;
    *v = e->t[--e->n];
}

static const char *write_export(const export *e, const char *name) {
    const char *path = tmp_path(name);
    if (ml_safetensors_write(path, e->t, e->n, e->meta, e->n_meta) != ML_OK) {
        fprintf(stderr, "cannot write %s: %s\n", path, ml_error_last()->message);
        return "";
    }
    return path;
}

static ml_status load(ml_settransformer **out, const char *path, size_t heads) {
    ml_settransformer_load_options o = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    o.n_heads = heads;
    o.max_tokens = 16;
    o.max_set_tokens = 8;
    o.max_sets = 4;
    return ml_settransformer_load(out, path, &o);
}

static void test_load__reads_sizes_and_exact_weights(void) {
    ml_settransformer *src = source_model(0), *m = NULL;
    export e;
    export_model(&e, src, "3");
    CHECK_STATUS(load(&m, write_export(&e, "ok.safetensors"), 0), ML_OK);
    if (!m) goto done;
    const ml_settransformer_config *c = ml_settransformer_get_config(m);
    CHECK_EQ_INT(c->d_in, 4);
    CHECK_EQ_INT(c->d_model, 6);
    CHECK_EQ_INT(c->n_layers, 2);
    CHECK_EQ_INT(c->n_heads, 3);
    CHECK_EQ_INT(c->d_ff, 8);
    CHECK_EQ_INT(c->n_classes, 0);
    CHECK_EQ_INT(c->has_grad, 0);
    CHECK_EQ_INT(ml_settransformer_n_tensors(m), ml_settransformer_n_tensors(src));
    for (size_t i = 0; i < ml_settransformer_n_tensors(src); i++) {
        ml_nn_tensor a, b;
        CHECK_STATUS(ml_settransformer_tensor(src, i, &a), ML_OK);
        CHECK_STATUS(ml_settransformer_tensor(m, i, &b), ML_OK);
        CHECK_STR(a.name, b.name);
        CHECK(memcmp(a.data, b.data, a.numel * sizeof(float)) == 0);
    }
    /* Same weights, same embeddings. */
    float x[3 * 4];
    for (size_t i = 0; i < 12; i++) x[i] = (float)i * 0.1f - 0.5f;
    size_t offsets[3] = {0, 1, 3};
    ml_set_batch b = {2, offsets, x};
    CHECK_STATUS(ml_settransformer_forward(src, &b), ML_OK);
    CHECK_STATUS(ml_settransformer_forward(m, &b), ML_OK);
    CHECK(memcmp(ml_settransformer_embeddings(src), ml_settransformer_embeddings(m),
                 2 * 6 * sizeof(float)) == 0);
done:
    ml_settransformer_free(m);
    ml_settransformer_free(src);
}

static void test_load__converts_f64_tensors(void) {
    ml_settransformer *src = source_model(0), *m = NULL;
    export e;
    export_model(&e, src, "3");
    ml_tensor_view *v = find(&e, "transformer.layers.1.linear2.bias");
    double d[6] = {0.5, -1.25, 3.0, 1e-3, -2.0, 0.0};
    v->dtype = ML_DTYPE_F64;
    v->data = d;
    CHECK_STATUS(load(&m, write_export(&e, "f64.safetensors"), 0), ML_OK);
    float *p = NULL;
    size_t n = 0;
    if (m) CHECK_STATUS(ml_settransformer_param(m, "transformer.layers.1.linear2.bias", &p, &n),
                        ML_OK);
    if (p) {
        CHECK_EQ_INT(n, 6);
        CHECK_NEAR(p[1], -1.25, 0.0);
        CHECK_NEAR(p[3], 1e-3, 1e-10);
    }
    ml_settransformer_free(m);
    ml_settransformer_free(src);
}

/* Writes e, expects status st from loading it (with heads) and sub in the message. */
static void expect_refused(const export *e, const char *file, size_t heads, ml_status st,
                           const char *sub) {
    ml_settransformer *m = (ml_settransformer *)0x1;
    CHECK_STATUS(load(&m, write_export(e, file), heads), st);
    CHECK(m == (ml_settransformer *)0x1); /* untouched */
    CHECK_ERR_CONTAINS(sub);
}

static void test_load__rejects_missing_tensor(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    drop(&e, "transformer.layers.1.linear2.bias");
    expect_refused(&e, "missing.safetensors", 0, ML_EFORMAT,
                   "tensor transformer.layers.1.linear2.bias is missing");
    export_model(&e, src, "3");
    drop(&e, "input_projection_type1.weight");
    expect_refused(&e, "noinput.safetensors", 0, ML_EFORMAT,
                   "input_projection_type1.weight is missing");
    ml_settransformer_free(src);
}

static void test_load__rejects_missing_middle_layer(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    /* Renaming layer 1's norm2.bias to layer 5 implies layers 2..4, which are absent. */
    find(&e, "transformer.layers.1.norm2.bias")->name = "transformer.layers.5.norm2.bias";
    expect_refused(&e, "gap.safetensors", 0, ML_EFORMAT, "layers 0..5 are expected");
    ml_settransformer_free(src);
}

static void test_load__huge_layer_index_is_refused_before_allocating(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    find(&e, "transformer.layers.1.norm2.bias")->name = "transformer.layers.9999999.norm2.bias";
    expect_refused(&e, "huge.safetensors", 0, ML_EFORMAT, "is missing");
    ml_settransformer_free(src);
}

static void test_load__rejects_wrong_shape(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    float big[7] = {0};
    ml_tensor_view *v = find(&e, "transformer.layers.0.norm1.weight");
    v->shape[0] = 7;
    v->data = big;
    expect_refused(&e, "shape.safetensors", 0, ML_EFORMAT,
                   "transformer.layers.0.norm1.weight has shape (7) (expected (6)");
    export_model(&e, src, "3");
    v = find(&e, "transformer.layers.0.linear1.weight");
    v->n_dims = 1;
    v->shape[0] = 48;
    expect_refused(&e, "rank.safetensors", 0, ML_EFORMAT, "has 1 dimensions (expected 2)");
    ml_settransformer_free(src);
}

static void test_load__rejects_extra_tensor(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    float one[1] = {1.0f};
    e.t[e.n++] = (ml_tensor_view){"transformer.layers.0.extra", ML_DTYPE_F32, 1, {1}, one};
    expect_refused(&e, "extra.safetensors", 0, ML_EFORMAT,
                   "unexpected tensor \"transformer.layers.0.extra\"");
    ml_settransformer_free(src);
}

static void test_load__rejects_integer_dtype(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    int32_t ints[6] = {0};
    ml_tensor_view *v = find(&e, "transformer.layers.0.norm2.bias");
    v->dtype = ML_DTYPE_I32;
    v->data = ints;
    expect_refused(&e, "int.safetensors", 0, ML_EFORMAT, "has dtype I32");
    ml_settransformer_free(src);
}

static void test_load__rejects_non_finite_weight(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    float bad[6] = {0, 0, (float)NAN, 0, 0, 0};
    find(&e, "transformer.layers.1.norm1.bias")->data = bad;
    expect_refused(&e, "nan.safetensors", 0, ML_EFORMAT, "value 2 is not finite");
    ml_settransformer_free(src);
}

static void test_load__head_count_from_option_when_no_metadata(void) {
    ml_settransformer *src = source_model(0), *m = NULL;
    export e;
    export_model(&e, src, NULL);
    expect_refused(&e, "nohead.safetensors", 0, ML_EINVAL, "--heads");
    CHECK_STATUS(load(&m, tmp_path("nohead.safetensors"), 3), ML_OK);
    if (m) CHECK_EQ_INT(ml_settransformer_get_config(m)->n_heads, 3);
    ml_settransformer_free(m);
    m = NULL;
    /* agreeing option and metadata are fine */
    export_model(&e, src, "3");
    CHECK_STATUS(load(&m, write_export(&e, "agree.safetensors"), 3), ML_OK);
    ml_settransformer_free(m);
    ml_settransformer_free(src);
}

static void test_load__rejects_conflicting_head_counts(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3");
    expect_refused(&e, "conflict.safetensors", 2, ML_EINVAL,
                   "2 heads requested but __metadata__ nhead is 3");
    ml_settransformer_free(src);
}

static void test_load__rejects_heads_not_dividing_d_model(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "4");
    expect_refused(&e, "div.safetensors", 0, ML_EFORMAT, "4 heads do not divide d_model 6");
    export_model(&e, src, NULL);
    expect_refused(&e, "div2.safetensors", 4, ML_EINVAL, "4 heads do not divide d_model 6");
    ml_settransformer_free(src);
}

static void test_load__rejects_bad_nhead_text(void) {
    ml_settransformer *src = source_model(0);
    export e;
    export_model(&e, src, "3x");
    expect_refused(&e, "text.safetensors", 0, ML_EFORMAT, "nhead is \"3x\"");
    export_model(&e, src, "0");
    expect_refused(&e, "zero.safetensors", 0, ML_EFORMAT, "expected a positive integer");
    ml_settransformer_free(src);
}

static void test_load__output_projection_is_optional_as_a_pair(void) {
    ml_settransformer *src = source_model(0), *m = NULL;
    export e;
    export_model(&e, src, "3");
    drop(&e, "output_projection.weight");
    drop(&e, "output_projection.bias");
    CHECK_STATUS(load(&m, write_export(&e, "noout.safetensors"), 0), ML_OK);
    float *p = NULL;
    size_t n = 0;
    if (m) CHECK_STATUS(ml_settransformer_param(m, "output_projection.weight", &p, &n), ML_OK);
    for (size_t i = 0; p && i < n; i++) CHECK(p[i] == 0.0f);
    ml_settransformer_free(m);
    export_model(&e, src, "3");
    drop(&e, "output_projection.bias");
    expect_refused(&e, "halfout.safetensors", 0, ML_EFORMAT, "only one of weight and bias");
    ml_settransformer_free(src);
}

static void test_load__reads_classifier_head(void) {
    ml_settransformer *src = source_model(2), *m = NULL;
    export e;
    export_model(&e, src, "3");
    CHECK_STATUS(load(&m, write_export(&e, "cls.safetensors"), 0), ML_OK);
    if (m) CHECK_EQ_INT(ml_settransformer_get_config(m)->n_classes, 2);
    ml_settransformer_free(m);
    drop(&e, "classifier.bias");
    expect_refused(&e, "clsb.safetensors", 0, ML_EFORMAT, "classifier.bias is missing");
    ml_settransformer_free(src);
}

static void test_load__refuses_pickled_checkpoint(void) {
    const char *path = tmp_path("ckpt.pt");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite("PK\3\4rest-of-a-zip", 1, 17, f);
    fclose(f);
    ml_settransformer *m = NULL;
    CHECK_STATUS(load(&m, path, 5), ML_EFORMAT);
    CHECK_ERR_CONTAINS("tools/convert-upstream-checkpoint");
    CHECK(m == NULL);
}

static void test_load__rejects_bad_options(void) {
    ml_settransformer *m = NULL;
    ml_settransformer_load_options o = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    o.version = 0;
    CHECK_STATUS(ml_settransformer_load(&m, tmp_path("ok.safetensors"), &o), ML_EINVAL);
    CHECK_STATUS(ml_settransformer_load(&m, tmp_path("ok.safetensors"), NULL), ML_EINVAL);
    o = (ml_settransformer_load_options)ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    o.max_set_tokens = o.max_tokens + 1;
    CHECK_STATUS(ml_settransformer_load(&m, tmp_path("ok.safetensors"), &o), ML_EINVAL);
    CHECK_ERR_CONTAINS("max_set_tokens");
    CHECK_STATUS(load(&m, tmp_path("absent.safetensors"), 3), ML_ENOTFOUND);
    CHECK(m == NULL);
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        unlink(tmp_path(e->d_name));
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ml_test_load.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_load__reads_sizes_and_exact_weights);
    RUN(test_load__converts_f64_tensors);
    RUN(test_load__rejects_missing_tensor);
    RUN(test_load__rejects_missing_middle_layer);
    RUN(test_load__huge_layer_index_is_refused_before_allocating);
    RUN(test_load__rejects_wrong_shape);
    RUN(test_load__rejects_extra_tensor);
    RUN(test_load__rejects_integer_dtype);
    RUN(test_load__rejects_non_finite_weight);
    RUN(test_load__head_count_from_option_when_no_metadata);
    RUN(test_load__rejects_conflicting_head_counts);
    RUN(test_load__rejects_heads_not_dividing_d_model);
    RUN(test_load__rejects_bad_nhead_text);
    RUN(test_load__output_projection_is_optional_as_a_pair);
    RUN(test_load__reads_classifier_head);
    RUN(test_load__refuses_pickled_checkpoint);
    RUN(test_load__rejects_bad_options);
    remove_tmpdir();
    TEST_MAIN_END();
}
