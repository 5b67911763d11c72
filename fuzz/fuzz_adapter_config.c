/* fuzz_adapter_config.c - hostile bytes into both readers of PEFT's adapter_config.json: the
 * spectra's (src/analyze/lora.c: r, lora_alpha, use_rslora, peft_type, rank_pattern and
 * alpha_pattern compiled as POSIX regexes, then matched against module names) and serving's
 * (src/serve/lora.c: r, lora_alpha, lora_dropout, target_modules, base_model_name_or_path).
 * Besides memory errors it checks what each promises of an accepted config: ranks positive
 * integers, scales finite, and serving's fields in range as the float values it builds with.
 * Hostile regex keys are the slow path to watch: a run over the time limit is a finding. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/lora.h"
#include "microlens/nn.h"
#include "serve/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Module names to resolve through the patterns: PEFT's usual ones with and without the
 * wrapper prefix, odd ones, and a long dotted name to make matching work. */
#define LONG_NAME_PARTS 64
static const char *const modules[] = {
    "base_model.model.transformer.h.0.attn.c_attn",
    "base_model.model.model.layers.10.self_attn.q_proj",
    "model.layers.0.mlp.down_proj",
    "q_proj",
    "",
    ".",
    "base_model.model.",
    "encoder.layers.1.linear1",
};
#define N_MODULES (sizeof modules / sizeof *modules + 1)

/* The ML_LORA_* bits serving knows (q, k, v, out, linear1, linear2). */
#define SERVE_TARGET_BITS                                                                     \
    (ML_LORA_Q | ML_LORA_K | ML_LORA_V | ML_LORA_OUT | ML_LORA_LINEAR1 | ML_LORA_LINEAR2)
/* serve/lora.c's bound on r (MAX_HEADS there). */
#define SERVE_MAX_R (1u << 24)

static void fuzz_analyze(const char *text, size_t size) {
    static const char part[] = "layers.";
    char long_name[LONG_NAME_PARTS * (sizeof part - 1) + 8];
    size_t k = 0;
    for (size_t i = 0; i < LONG_NAME_PARTS; i++, k += sizeof part - 1)
        memcpy(long_name + k, part, sizeof part - 1);
    memcpy(long_name + k, "q_proj", sizeof "q_proj"); /* NUL included */
    const char *names[N_MODULES];
    for (size_t i = 0; i + 1 < N_MODULES; i++) names[i] = modules[i];
    names[N_MODULES - 1] = long_name;
    double r[N_MODULES], scale[N_MODULES];
    ml_status st = ml__lora_config_parse(text, size, "fuzz.json", names, N_MODULES, r, scale);
    if (st != ML_OK && st != ML_EFORMAT && st != ML_EUNSUPPORTED && st != ML_ENOMEM) abort();
    if (st != ML_OK) return;
    for (size_t i = 0; i < N_MODULES; i++) {
        if (!(r[i] >= 1 && r[i] <= INT32_MAX && r[i] == floor(r[i]))) abort();
        if (!isfinite(scale[i])) abort();
    }
    if (ml__lora_config_parse(text, size, "fuzz.json", NULL, 0, NULL, NULL) != ML_OK) abort();
}

static void fuzz_serve(const char *text, size_t size) {
    ml__serve_lora_config c;
    ml_status st = ml__serve_lora_config_parse(&c, text, size, "fuzz.json");
    if (st != ML_OK && st != ML_EFORMAT && st != ML_ENOMEM) abort();
    if (st != ML_OK) return;
    if (c.r < 1 || c.r > SERVE_MAX_R) abort();
    if (!(c.alpha > 0.0f) || !isfinite(c.alpha)) abort(); /* the float scaling the adapters */
    if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) abort();
    if (c.targets == 0 || (c.targets & ~(unsigned)SERVE_TARGET_BITS)) abort();
    size_t n = strnlen(c.base_name, sizeof c.base_name);
    if (n == 0 || n == sizeof c.base_name) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a copy of exactly size bytes: ASan then catches a parser reading past the end */
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    fuzz_analyze(text, size);
    fuzz_serve(text, size);
    free(text);
    return 0;
}
