/* BF16 weights on CPUs with AVX512_BF16, within the avx512 level (compiled with its -m flags and
 * -mavx512bf16; filled in only where lli_cpu_kernels() found the feature). vdpbf16ps multiplies
 * pairs of BF16 values and adds them to F32 lanes: 32 products per instruction, twice what an
 * F32 FMA does, and the weights need no widening. Its other operand must be BF16 too, so the
 * activations are rounded to BF16 (to nearest, ties to even), as llama.cpp does for BF16 weights:
 * a relative change of at most 2^-9 per activation, for outputs whose weights carry no more
 * precision than that anyway. Both instructions take denormals (below 2^-126) as zero. */
#include <immintrin.h>
#include <stdint.h>

#include "backend/cpu/quant.h"
#include "format/tensor_types.h"
#include "x86_avx512_sums.h"

#define INLINE static inline __attribute__((always_inline))

/* Tiles of BR rows x BT tokens in prefill: 16 accumulators, four weight vectors and one of
 * activations in AVX-512's 32 registers. Decode goes one row at a time, for the reason the other
 * float types do (x86_float.inc). */
#define BR 4
#define BT 4

/* Elements i .. i + 31 of a row; with tail, those below n and zeros past it. */
INLINE __m512bh load_bf16(const uint16_t *p, int64_t i, int64_t n, int tail) {
    if (!tail) return (__m512bh)_mm512_loadu_si512((const void *)(p + i));
    return (__m512bh)_mm512_maskz_loadu_epi16((__mmask32)((1ull << (n - i)) - 1), p + i);
}

/* The same from floats, rounded to BF16 in registers: the bits to_bf16 writes. */
INLINE __m512bh load_f32_as_bf16(const float *p, int64_t i, int64_t n, int tail) {
    if (!tail) return _mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + i + 16), _mm512_loadu_ps(p + i));
    int64_t left = n - i;
    __mmask16 lo = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
    __mmask16 hi = (__mmask16)(left > 16 ? (1u << (left - 16)) - 1 : 0);
    return _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, p + i + 16), _mm512_maskz_loadu_ps(lo, p + i));
}

/* Activations are BF16 (bf16x, rounded by to_bf16) or floats rounded here; the flag is a constant
 * in each product, so each gets a loop of its own. Token t of x, k elements a token: */
INLINE const void *token(const void *x, const int bf16x, int64_t t, int64_t k) {
    return bf16x ? (const void *)((const uint16_t *)x + t * k) : (const void *)((const float *)x + t * k);
}

/* Elements i .. i + 31 of R rows x T tokens into their accumulators. */
INLINE void bstep(const int R, const int T, __m512 acc[BR][BT], const uint8_t *w, uint64_t rb, const void *x,
                  const int bf16x, int64_t i, int64_t k, const int tail) {
    __m512bh wv[BR];
    for (int r = 0; r < R; r++) wv[r] = load_bf16((const uint16_t *)(const void *)(w + r * rb), i, k, tail);
    for (int t = 0; t < T; t++) {
        __m512bh xv = bf16x ? load_bf16(token(x, 1, t, k), i, k, tail) : load_f32_as_bf16(token(x, 0, t, k), i, k, tail);
        for (int r = 0; r < R; r++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
}

/* R rows x T tokens: each output one accumulator along the row in order, then its lanes summed,
 * whatever the tile. */
INLINE void btile(const int R, const int T, const uint8_t *w, uint64_t rb, const void *x, const int bf16x, int64_t k,
                  float *out, int64_t os) {
    __m512 acc[BR][BT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) bstep(R, T, acc, w, rb, x, bf16x, i, k, 0);
    if (i < k) bstep(R, T, acc, w, rb, x, bf16x, i, k, 1); /* the last elements, with masked loads */
    if (R == 4 && T == 4) {
        sum_4x4(acc, out, os);
        return;
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) out[t * os + r] = hsum16(acc[r][t]);
}

INLINE void btile_rest(const int R, int64_t T, const uint8_t *w, uint64_t rb, const void *x, const int bf16x, int64_t k,
                       float *out, int64_t os) {
    switch (T) {
    case 1: btile(R, 1, w, rb, x, bf16x, k, out, os); break;
    case 2: btile(R, 2, w, rb, x, bf16x, k, out, os); break;
    case 3: btile(R, 3, w, rb, x, bf16x, k, out, os); break;
    default: break;
    }
}

INLINE void bmm(const uint8_t *w, uint64_t rb, int64_t nr, const void *x, const int bf16x, int64_t nt, int64_t k,
                float *out, int64_t os) {
    if (nt < BT) {
        for (int64_t r = 0; r < nr; r++)
            for (int64_t t = 0; t < nt; t++) btile(1, 1, w + r * rb, rb, token(x, bf16x, t, k), bf16x, k, out + t * os + r, os);
        return;
    }
    int64_t r = 0;
    for (; r + BR <= nr; r += BR) {
        int64_t t = 0;
        for (; t + BT <= nt; t += BT) btile(BR, BT, w + r * rb, rb, token(x, bf16x, t, k), bf16x, k, out + t * os + r, os);
        btile_rest(BR, nt - t, w + r * rb, rb, token(x, bf16x, t, k), bf16x, k, out + t * os + r, os);
    }
    for (; r < nr; r++) {
        int64_t t = 0;
        for (; t + BT <= nt; t += BT) btile(1, BT, w + r * rb, rb, token(x, bf16x, t, k), bf16x, k, out + t * os + r, os);
        btile_rest(1, nt - t, w + r * rb, rb, token(x, bf16x, t, k), bf16x, k, out + t * os + r, os);
    }
}

static void mm_bf16_bf16(const uint8_t *w, uint64_t rb, int64_t nr, const uint16_t *x, int64_t nt, int64_t k, float *out,
                         int64_t os) {
    bmm(w, rb, nr, x, 1, nt, k, out, os);
}

static void mm_bf16(const uint8_t *w, uint64_t rb, int64_t nr, const float *x, const lli_q8 *xq, int64_t nt, int64_t k,
                    float *out, int64_t os) {
    (void)xq;
    bmm(w, rb, nr, x, 0, nt, k, out, os);
}

static void to_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 32) {
        const int tail = i + 32 > n;
        __m512bh v = load_f32_as_bf16(x, i, n, tail);
        if (!tail) _mm512_storeu_si512((void *)(y + i), (__m512i)v);
        else _mm512_mask_storeu_epi16(y + i, (__mmask32)((1ull << (n - i)) - 1), (__m512i)v);
    }
}

void lli_kernels_fill_avx512bf16(lli_kernels *k) {
    k->mm[LLI_TT_BF16] = mm_bf16;
    k->mm_bf16_bf16 = mm_bf16_bf16;
    k->to_bf16 = to_bf16;
}
