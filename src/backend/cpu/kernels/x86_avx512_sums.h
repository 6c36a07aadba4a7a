/* Sums across the lanes of 512-bit float accumulators, for the avx512 level's float products
 * (x86_avx512.c, x86_avx512bf16.c). Both sum each accumulator by the same tree: lane i with lane
 * i + 8, then i + 4, i + 2, i + 1; float addition being commutative, an output is the same bits
 * whether summed alone (hsum16) or in a tile (sum_4x4), which keeps the products batch invariant. */
#ifndef LLI_X86_AVX512_SUMS_H
#define LLI_X86_AVX512_SUMS_H

#include <immintrin.h>
#include <stdint.h>

static inline __attribute__((always_inline)) float hsum16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One step of the tree for two vectors at once, each holding partial sums of one or more
 * accumulators: their 256-bit halves (fold8), 128-bit quarters (fold4), and within each 128-bit
 * lane pairs two apart (fold2) and neighbours (fold1). Each halves the lanes per accumulator and
 * puts a's partials before b's. */
static inline __attribute__((always_inline)) __m512 fold8(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
}
static inline __attribute__((always_inline)) __m512 fold4(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
}
static inline __attribute__((always_inline)) __m512 fold2(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xee));
}
static inline __attribute__((always_inline)) __m512 fold1(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xdd));
}

/* out[t * os + r] = the sum of acc[r][t]'s lanes, for a tile of 4 rows x 4 tokens: 15 folds of
 * two vectors instead of 16 sums of one; each token's four rows end up side by side. */
static inline __attribute__((always_inline)) void sum_4x4(__m512 acc[4][4], float *out, int64_t os) {
    __m512 row[4];
    for (int r = 0; r < 4; r++) row[r] = fold4(fold8(acc[r][0], acc[r][1]), fold8(acc[r][2], acc[r][3]));
    /* row[r]'s 128-bit lane t: four partials of acc[r][t] */
    __m512 all = fold1(fold2(row[0], row[1]), fold2(row[2], row[3]));
    /* lane 4 t + r: acc[r][t] */
    _mm_storeu_ps(out, _mm512_castps512_ps128(all));
    _mm_storeu_ps(out + os, _mm512_extractf32x4_ps(all, 1));
    _mm_storeu_ps(out + 2 * os, _mm512_extractf32x4_ps(all, 2));
    _mm_storeu_ps(out + 3 * os, _mm512_extractf32x4_ps(all, 3));
}

#endif
