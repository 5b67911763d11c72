/* fuzz_safetensors.c - hostile bytes into the strict safetensors parser; every tensor it
 * accepts is then read in full (float conversion included) to prove the views are sound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Floats converted per tensor at most: enough to touch every byte of small inputs. */
#define SCRATCH_FLOATS 4096

/* Reading every byte of a view lets ASan catch one that points outside the input. */
static void check_tensor(const ml_safetensors *st, const ml_tensor_view *t,
                         const uint8_t *data, size_t size, float *scratch) {
    size_t n_bytes = ml_tensor_view_n_bytes(t);
    if (n_bytes == SIZE_MAX || ml_dtype_size(t->dtype) == 0) __builtin_trap();
    if (n_bytes == 0 ? t->data != NULL : t->data == NULL) __builtin_trap();
    const uint8_t *p = t->data;
    if (p && (p < data || p + n_bytes > data + size)) __builtin_trap();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n_bytes; i++) sink ^= p[i];
    (void)sink;
    if (ml_safetensors_find(st, t->name) != t) __builtin_trap();
    size_t n = ml_tensor_view_n_elements(t);
    ml_status s = ml_safetensors_read_f32(t, n <= SCRATCH_FLOATS ? scratch : NULL);
    int is_float = t->dtype == ML_DTYPE_F32 || t->dtype == ML_DTYPE_F16 ||
                   t->dtype == ML_DTYPE_BF16 || t->dtype == ML_DTYPE_F64;
    if (is_float && n <= SCRATCH_FLOATS && s != ML_OK) __builtin_trap();
    if (!is_float && s == ML_OK) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ml_safetensors *st = NULL;
    if (ml_safetensors_parse_buffer(&st, data, size, "fuzz.safetensors") != ML_OK) return 0;
    float *scratch = malloc(SCRATCH_FLOATS * sizeof *scratch);
    if (!scratch) __builtin_trap();
    for (size_t i = 0; i < ml_safetensors_n_tensors(st); i++)
        check_tensor(st, ml_safetensors_tensor(st, i), data, size, scratch);
    for (size_t i = 0; i < ml_safetensors_n_metadata(st); i++) {
        const ml_kv *kv = ml_safetensors_metadata(st, i);
        const char *v = ml_safetensors_metadata_find(st, kv->key);
        if (!v || strcmp(v, kv->value) != 0) __builtin_trap();
    }
    if (ml_safetensors_tensor(st, ml_safetensors_n_tensors(st)) != NULL) __builtin_trap();
    free(scratch);
    ml_safetensors_close(st);
    return 0;
}
