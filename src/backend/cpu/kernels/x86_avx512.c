/* The x86 kernels at the AVX-512 level (F, BW, VL and VNNI; compiled with those -m flags, run only
 * where lli_cpu_kernels() found them): vpdpbusd and vpdpwssd for the block types' integer sums,
 * prefill tiles of 8 weight rows x 16 tokens (AVX-512's 32 registers hold their 24 accumulators),
 * and 512-bit vectors for the float types. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KSUF avx512
#define FR 4

#define idot_add(acc, a, b) _mm256_dpbusd_epi32(acc, a, b)
#define wdot_add(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)

#define Q8_SIGNED 0
#define XN 8 /* tokens per pass of the X8 decode of Q4_K and Q5_K (ymm accumulators: 32 registers) */
#define TN 16
#define TR 8
typedef __m512i VT;
typedef __m512 VTF;
static inline __attribute__((always_inline)) __m512i vt_bcast(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}
#define vt_zero _mm512_setzero_si512
#define vt_load(p) _mm512_loadu_si512((const void *)(p))
#define vt_dot(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#define vt_wdot(acc, a, b) _mm512_dpwssd_epi32(acc, a, b)
#define vt_add _mm512_add_epi32
#define vt_mullo _mm512_mullo_epi32
#define vt_abs8 _mm512_abs_epi8
#define vt_sign8(x, s) (x) /* unused: Q8_0's codes are unsigned here */
#define vtf_zero _mm512_setzero_ps
#define vtf_load _mm512_loadu_ps
#define vtf_store _mm512_storeu_ps
#define vtf_set1 _mm512_set1_ps
#define vtf_add _mm512_add_ps
#define vtf_mul _mm512_mul_ps
#define vtf_fma _mm512_fmadd_ps
#define vtf_cvt _mm512_cvtepi32_ps

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
