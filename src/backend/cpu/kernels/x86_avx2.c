/* The x86 kernels at the AVX2 level (AVX2, FMA, F16C; this file is compiled with those -m flags
 * and runs only where lli_cpu_kernels() found them): two weight rows x four tokens per tile. */
#include <immintrin.h>

#define KSUF avx2
#define QR 2
#define FR 3

/* vpmaddubsw's pair sums stay below 2 * 128 * 127, inside int16. */
static inline __attribute__((always_inline)) __m256i idot_avx2(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}
#define IDOT idot_avx2

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
