/* The x86 kernels at the AVX2 level (AVX2, FMA, F16C; this file is compiled with those -m flags
 * and runs only where lli_cpu_kernels() found them): vpmaddubsw and vpmaddwd for the block
 * types' integer sums, prefill tiles of 4 weight rows x 8 tokens (16 registers). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KSUF avx2
#define FR 3

/* vpmaddubsw's pair sums stay inside int16: codes are at most 63 (Q8_0's signed, |q| <= 128)
 * and activations |q| <= 127. */
#define idot_add(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)))
#define wdot_add(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))

#define Q8_SIGNED 1
#define XN 2 /* tokens per pass of the X8 decode of Q4_K and Q5_K (16 registers) */
#define TN 8
#define TR 4
typedef __m256i VT;
typedef __m256 VTF;
static inline __attribute__((always_inline)) __m256i vt_bcast(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}
#define vt_zero _mm256_setzero_si256
#define vt_load(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define vt_dot(acc, a, b) idot_add(acc, a, b)
#define vt_wdot(acc, a, b) wdot_add(acc, a, b)
#define vt_add _mm256_add_epi32
#define vt_mullo _mm256_mullo_epi32
#define vt_abs8 _mm256_abs_epi8
#define vt_sign8 _mm256_sign_epi8
#define vtf_zero _mm256_setzero_ps
#define vtf_load _mm256_loadu_ps
#define vtf_store _mm256_storeu_ps
#define vtf_set1 _mm256_set1_ps
#define vtf_add _mm256_add_ps
#define vtf_mul _mm256_mul_ps
#define vtf_fma _mm256_fmadd_ps
#define vtf_cvt _mm256_cvtepi32_ps

typedef __m256 VF;
#define VN 8
#define vf_zero _mm256_setzero_ps
#define vf_fma _mm256_fmadd_ps
#define vf_load_f32 _mm256_loadu_ps
#define vf_load_f16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vf_load_bf16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
#define vf_hsum hsum8

#include "x86.inc"
