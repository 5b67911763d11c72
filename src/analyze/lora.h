/* lora.h - LoRA adapters loaded once for many questions: spectra and update cosines over a
 * checkpoint series without reopening or reconverting a file per question. The public face is
 * ml_lora_spectra_compute / ml_lora_update_cosine in include/microlens/analyze.h; a scan over
 * checkpoints (ml_analyze) keeps the first and the previous adapter open and uses these. */
#ifndef ML_ANALYZE_LORA_H
#define ML_ANALYZE_LORA_H

#include <stddef.h>

#include "microlens/analyze.h"

/* One PEFT adapter in memory: its modules sorted by name, each with its scale, its factors A
 * (r, d_in) and B (d_out, r) in double (for cosines) and the r x r core scale·R_B·R_A^T of
 * their thin QRs (for spectra and norms). It holds no file open. Memory: 8 bytes per factor
 * element (twice an F32 file, four times a BF16 one) plus 8 r^2 per module. */
typedef struct ml__lora_adapter ml__lora_adapter;

/* ^Reads weights_path (safetensors, strict reader) and config_path (adapter_config.json; NULL:
 * alpha = r, scale 1), pairs "<module>.lora_A[.<adapter>].weight" with the lora_B of the same
 * module, checks shapes, dtypes (F32, F16, BF16, F64), finiteness and the config's r, converts
 * the factors and computes each core (two thin QRs per module: the bulk of a scan's work).
 * Other tensors are ignored; a file with no pair gives 0 modules.
 * ^ML_EFORMAT naming the file and tensor (or config field) for every broken rule;
 * ML_EFORMAT also for a module whose update overflows double (F64 factors near DBL_MAX);
 * ML_EUNSUPPORTED for a peft_type other than LORA; the readers' errors. *out untouched on
 * failure; free with ml__lora_adapter_free. */
ml_status ml__lora_adapter_open(ml__lora_adapter **out, const char *weights_path,
                                const char *config_path);
void ml__lora_adapter_free(ml__lora_adapter *a); /* NULL: no-op */

/* ^adapter_config.json's len bytes at text, parsed as ml__lora_adapter_open parses its
 * config_path (name stands for the file in messages), then each of modules[0 .. n_modules)
 * (module names, PEFT's prefix optional) resolved through rank_pattern / alpha_pattern as
 * pairing resolves it: r[i] and scale[i] (NULL arrays with n_modules 0: parse only). The path
 * version reads the file and calls the same parser; this one lets the parser be fuzzed on
 * bytes (fuzz/fuzz_adapter_config.c). Pattern keys over 512 bytes, with a back-reference, an
 * interval {m,n} or more than 8 repetitions (*, +, ?) are refused (ML_EFORMAT): glibc's regex
 * engine is slow or huge on them.
 * ^ML_EFORMAT / ML_EUNSUPPORTED as ml__lora_adapter_open for its config; ML_EINVAL. */
ml_status ml__lora_config_parse(const char *text, size_t len, const char *name,
                                const char *const *modules, size_t n_modules, double *r,
                                double *scale);

/* ^Number of modules, and module i's name (sorted bytewise; borrowed from a; NULL when i is
 * out of range). */
size_t ml__lora_adapter_n_modules(const ml__lora_adapter *a);
const char *ml__lora_adapter_module(const ml__lora_adapter *a, size_t i);

/* ^Spectra of every module of a (see ml_lora_spectra_compute), independent of a afterwards:
 * one r x r SVD per module, cheap next to opening. ^ML_ENOMEM; ML_EFORMAT if LAPACK fails to
 * converge or singular values overflow (F64 input near DBL_MAX). *out untouched on failure. */
ml_status ml__lora_adapter_spectra(ml_lora_spectra **out, const ml__lora_adapter *a);

/* ^cosine[i], for each module i of ref (ml__lora_adapter_n_modules(ref) values, in ref's
 * order): the cosine of ref's update with the same module's update in other, NaN when other
 * lacks the module, its d_out or d_in differ, or either update is zero. Ranks may differ.
 * ^ML_ENOMEM (cosine untouched then). */
ml_status ml__lora_adapter_cosines(double *cosine, const ml__lora_adapter *ref,
                                   const ml__lora_adapter *other);

/* ^The same for one module by name: NaN when either adapter lacks it. ^ML_ENOMEM. */
ml_status ml__lora_adapter_cosine(const ml__lora_adapter *a1, const ml__lora_adapter *a2,
                                  const char *module, double *cosine);

#endif
