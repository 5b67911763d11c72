/* fuzz_lora_pairs.c - hostile safetensors images into the LoRA spectra (ml_lora_spectra_compute,
 * no config): pairing lora_A with lora_B by PEFT's names, shape chaining, dtype conversion
 * (F32, F16, BF16, F64), finiteness, the QRs and the SVD. The reader takes a path, so the
 * bytes go to an anonymous memory file (memfd) opened as /proc/self/fd/N. On success it checks
 * the promises of include/microlens/analyze.h: modules sorted by name, sigma descending and
 * non-negative, finite sizes and shares. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "microlens/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const ml_lora_spectra *s) {
    double share_sum = 0.0;
    for (size_t i = 0; i < s->n_modules; i++) {
        const ml_lora_spectrum *m = &s->modules[i];
        if (i > 0 && strcmp(s->modules[i - 1].module, m->module) >= 0) abort();
        if (m->rank == 0 || m->d_out == 0 || m->d_in == 0 || m->scale != 1.0) abort();
        for (size_t k = 0; k < m->rank; k++) {
            if (!(m->sigma[k] >= 0.0) || !isfinite(m->sigma[k])) abort();
            if (k > 0 && m->sigma[k] > m->sigma[k - 1]) abort();
        }
        /* a product of rank-r factors (d_out x r)(r x d_in) has at most min(...) nonzero */
        size_t kmax = m->d_out < m->d_in ? m->d_out : m->d_in;
        for (size_t k = kmax; k < m->rank; k++)
            if (m->sigma[k] != 0.0) abort();
        if (!(m->frob_sq >= 0.0) || !(m->effective_rank >= 0.0) ||
            m->effective_rank > (double)m->rank * (1 + 1e-9))
            abort();
        if (isfinite(m->energy_share)) share_sum += m->energy_share;
    }
    if (isfinite(s->hhi) && (s->hhi <= 0.0 || s->hhi > 1.0 + 1e-9)) abort();
    if (isfinite(s->hhi) && fabs(share_sum - 1.0) > 1e-6) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz_lora_pairs", 0);
    if (fd < 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ml_lora_spectra *s = NULL;
    ml_status st = ml_lora_spectra_compute(&s, path, NULL);
    if (st == ML_OK) {
        check(s);
        ml_lora_spectra_free(s);
    } else if (st != ML_EFORMAT && st != ML_EUNSUPPORTED && st != ML_ENOMEM && st != ML_EIO) {
        abort(); /* EIO: an empty image cannot be mapped */
    }
    close(fd);
    return 0;
}
