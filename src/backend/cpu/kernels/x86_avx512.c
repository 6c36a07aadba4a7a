/* The x86 kernels at the AVX-512 level (F, BW, VL and VNNI; compiled with those -m flags, run only
 * where lli_cpu_kernels() found them): vpdpbusd for the block types' integer dot products, on
 * 256-bit vectors with AVX-512's 32 registers holding four weight rows x four tokens per tile,
 * and 512-bit vectors for the float types. */
#include <immintrin.h>

#define KSUF avx512
#define QR 4
#define FR 4

static inline __attribute__((always_inline)) __m256i idot_vnni(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}
#define IDOT idot_vnni

typedef __m512 VF;
#define VN 16
#define vf_zero _mm512_setzero_ps
#define vf_fma _mm512_fmadd_ps
#define vf_load_f32 _mm512_loadu_ps
#define vf_load_f16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define vf_load_bf16(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))

#include "x86_avx512_sums.h"
#define vf_hsum hsum16
#define vf_sum_4x4 sum_4x4

#include "x86.inc"
