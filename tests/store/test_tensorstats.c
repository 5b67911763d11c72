/* test_tensorstats.c - what ml_tensor_stats_compute promises: exact statistics for each
 * floating dtype (hand-computed values, and the reference implementation's sample files,
 * which hold -3..2), NaN and infinities counted apart, no overflow near DBL_MAX, any
 * alignment, empty tensors, and integer dtypes refused. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "microlens/tensorstats.h"
#include "ml_test.h"

#define SAMPLES ML_SOURCE_DIR "/../shared/fixtures/safetensors-samples/"

static ml_tensor_view view(ml_dtype d, size_t n, const void *data) {
    ml_tensor_view t = {"t", d, 1, {n}, data};
    return t;
}

static void test_tensorstats__f32_values(void) {
    float v[] = {1.0f, -2.0f, 3.0f, 4.0f};
    ml_tensor_view t = view(ML_DTYPE_F32, 4, v);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_EQ_INT(s.n_elements, 4);
    CHECK_EQ_INT(s.n_finite, 4);
    CHECK_NEAR(s.min, -2.0, 0);
    CHECK_NEAR(s.max, 4.0, 0);
    CHECK_NEAR(s.mean, 1.5, 0);
    CHECK_NEAR(s.l2_norm, sqrt(30.0), 1e-15);
}

static void test_tensorstats__nan_and_inf_counted_apart(void) {
    float v[] = {1.0f, NAN, INFINITY, -INFINITY, 3.0f, NAN};
    ml_tensor_view t = view(ML_DTYPE_F32, 6, v);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_EQ_INT(s.n_elements, 6);
    CHECK_EQ_INT(s.n_finite, 2);
    CHECK_EQ_INT(s.n_nan, 2);
    CHECK_EQ_INT(s.n_posinf, 1);
    CHECK_EQ_INT(s.n_neginf, 1);
    CHECK_NEAR(s.min, 1.0, 0);
    CHECK_NEAR(s.max, 3.0, 0);
    CHECK_NEAR(s.mean, 2.0, 0);
    CHECK_NEAR(s.l2_norm, sqrt(10.0), 1e-15);
}

static void test_tensorstats__all_nan_gives_nan_range_and_zero_norm(void) {
    float v[] = {NAN, NAN};
    ml_tensor_view t = view(ML_DTYPE_F32, 2, v);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_EQ_INT(s.n_finite, 0);
    CHECK(isnan(s.min) && isnan(s.max) && isnan(s.mean));
    CHECK_NEAR(s.l2_norm, 0.0, 0);
}

static void test_tensorstats__empty_tensor(void) {
    ml_tensor_view t = view(ML_DTYPE_F32, 0, NULL);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_EQ_INT(s.n_elements, 0);
    CHECK(isnan(s.mean));
}

/* binary16 bit patterns, little-endian: 1, -2, 0.5, the smallest subnormal (2^-24), +inf,
 * NaN, 65504 (the largest finite). */
static void test_tensorstats__f16_exact(void) {
    const unsigned char b[] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01, 0x00,
                               0x00, 0x7c, 0x00, 0x7e, 0xff, 0x7b};
    ml_tensor_view t = view(ML_DTYPE_F16, 7, b);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_EQ_INT(s.n_finite, 5);
    CHECK_EQ_INT(s.n_posinf, 1);
    CHECK_EQ_INT(s.n_nan, 1);
    CHECK_NEAR(s.min, -2.0, 0);
    CHECK_NEAR(s.max, 65504.0, 0);
    CHECK_NEAR(s.mean, (1.0 - 2.0 + 0.5 + ldexp(1.0, -24) + 65504.0) / 5.0, 1e-12);
}

/* bfloat16: the top half of a float32. 1.0 = 0x3f80, -3.0 = 0xc040. */
static void test_tensorstats__bf16_values(void) {
    const unsigned char b[] = {0x80, 0x3f, 0x40, 0xc0};
    ml_tensor_view t = view(ML_DTYPE_BF16, 2, b);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_NEAR(s.min, -3.0, 0);
    CHECK_NEAR(s.max, 1.0, 0);
    CHECK_NEAR(s.l2_norm, sqrt(10.0), 1e-15);
}

/* Summing or squaring these naively overflows; the statistics must not. */
static void test_tensorstats__f64_near_dbl_max_does_not_overflow(void) {
    double v[] = {1e308, 1e308, 1e308};
    ml_tensor_view t = view(ML_DTYPE_F64, 3, v);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_NEAR(s.mean / 1e308, 1.0, 1e-15);
    CHECK(isfinite(s.l2_norm));
    CHECK_NEAR(s.l2_norm / 1e308, sqrt(3.0), 1e-15);
}

static void test_tensorstats__unaligned_data(void) {
    unsigned char buf[1 + 2 * sizeof(double)];
    double v[] = {-0.25, 8.0};
    memcpy(buf + 1, v, sizeof v);
    ml_tensor_view t = view(ML_DTYPE_F64, 2, buf + 1);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_OK);
    CHECK_NEAR(s.min, -0.25, 0);
    CHECK_NEAR(s.max, 8.0, 0);
}

static void test_tensorstats__rejects_integer_dtype(void) {
    int32_t v[] = {1, 2};
    ml_tensor_view t = view(ML_DTYPE_I32, 2, v);
    ml_tensor_stats s;
    memset(&s, 0x5a, sizeof s);
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_EINVAL);
    CHECK_ERR_CONTAINS("I32");
    CHECK_EQ_INT(s.n_elements, (size_t)0x5a5a5a5a5a5a5a5aull);
    CHECK(!ml_dtype_is_float(ML_DTYPE_BOOL));
    CHECK(ml_dtype_is_float(ML_DTYPE_BF16));
}

static void test_tensorstats__rejects_null_data(void) {
    ml_tensor_view t = view(ML_DTYPE_F32, 3, NULL);
    ml_tensor_stats s;
    CHECK_STATUS(ml_tensor_stats_compute(&s, &t), ML_EINVAL);
}

/* d, e, f.safetensors (F64, F16, F32) each hold -3, -2, -1, 0, 1, 2 (read by hand with xxd:
 * e.g. F16 00c2 00c0 00bc 0000 003c 0040). */
static void test_tensorstats__reference_samples(void) {
    const char *files[] = {SAMPLES "d.safetensors", SAMPLES "e.safetensors",
                           SAMPLES "f.safetensors"};
    for (size_t i = 0; i < 3; i++) {
        ml_safetensors *st = NULL;
        CHECK_STATUS(ml_safetensors_open(&st, files[i]), ML_OK);
        if (!st) continue;
        ml_tensor_stats s;
        CHECK_STATUS(ml_tensor_stats_compute(&s, ml_safetensors_tensor(st, 0)), ML_OK);
        CHECK_NEAR(s.min, -3.0, 0);
        CHECK_NEAR(s.max, 2.0, 0);
        CHECK_NEAR(s.mean, -0.5, 0);
        CHECK_NEAR(s.l2_norm, sqrt(19.0), 1e-15);
        ml_safetensors_close(st);
    }
}

int main(void) {
    RUN(test_tensorstats__f32_values);
    RUN(test_tensorstats__nan_and_inf_counted_apart);
    RUN(test_tensorstats__all_nan_gives_nan_range_and_zero_norm);
    RUN(test_tensorstats__empty_tensor);
    RUN(test_tensorstats__f16_exact);
    RUN(test_tensorstats__bf16_values);
    RUN(test_tensorstats__f64_near_dbl_max_does_not_overflow);
    RUN(test_tensorstats__unaligned_data);
    RUN(test_tensorstats__rejects_integer_dtype);
    RUN(test_tensorstats__rejects_null_data);
    RUN(test_tensorstats__reference_samples);
    TEST_MAIN_END();
}
