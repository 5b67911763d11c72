/* simd.h - ML_MULTIVERSION, the attribute that has the compiler build a hot kernel once per
 * x86-64 level (AVX-512, AVX2, baseline SSE2) and pick the clone when the program loads. The
 * kernels themselves are plain C loops written for the auto-vectoriser (fixed 16-wide inner
 * loops over independent accumulators); this header holds no kernel.
 *
 * Why clones rather than -march=native for the whole build: the binary stays portable (it runs
 * on any x86-64 and still uses AVX-512 where there is one) and no build flag changes results.
 * ISO C mode keeps -ffp-contract=off (the compiler forms no fused multiply-add of its own),
 * kernels that want one call fmaf (one instruction in the v3/v4 clones, a correctly rounded
 * libm call in the baseline one: the same bits, only slower), and the accumulators are summed
 * in a fixed order, so every clone does the same IEEE operations in the same order: results do
 * not depend on which clone runs. A kernel's helpers must be ML_KERNEL_INLINE, or they are
 * compiled once, for the baseline. */
#ifndef ML_NN_SIMD_H
#define ML_NN_SIMD_H

/* GCC only: clang 14 emits no resolver for a clone called from another translation unit
 * (undefined references at link time), so clang builds (the fuzzers) get the portable code. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define ML_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ML_MULTIVERSION
#endif

/* For the helpers of a multiversioned kernel: inlined, they are compiled for each clone's
 * instruction set; left out of line they would be baseline code (and fmaf a libm call). */
#if defined(__GNUC__) || defined(__clang__)
#define ML_KERNEL_INLINE static inline __attribute__((always_inline))
#else
#define ML_KERNEL_INLINE static inline
#endif

/* Complete unrolling of a short fixed loop (GCC's pragma; other compilers decide alone). */
#if defined(__GNUC__) && !defined(__clang__)
#define ML_PRAGMA(x) _Pragma(#x)
#define ML_UNROLL(n) ML_PRAGMA(GCC unroll n)
#else
#define ML_UNROLL(n)
#endif

/* Width of the independent accumulators: one AVX-512 register of floats. */
#define ML_LANES 16

#endif
