/* Which x86 SIMD extensions the running CPU offers, asked once at init by the CPU kernels. */
#ifndef LLI_CPU_FEATURES_H
#define LLI_CPU_FEATURES_H

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* True when the AVX2 kernels may run: AVX2 and FMA (which __builtin_cpu_supports checks, OS
 * support for the YMM state included) and F16C. F16C is read from CPUID leaf 1 (ECX bit 29)
 * because clang 14 rejects __builtin_cpu_supports("f16c"); it is part of the same AVX state. */
static inline int lli_cpu_has_avx2_fma_f16c(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & (1u << 29)) != 0;
}
#else
static inline int lli_cpu_has_avx2_fma_f16c(void) { return 0; }
#endif

#endif
