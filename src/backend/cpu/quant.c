#include "backend/cpu/quant.h"
#include "backend/cpu/cpu_features.h"

#include <math.h>
#include <string.h>

#include "format/tensor_types.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LLI_X86 1
#endif

/* ---- half precision ------------------------------------------------------------------------ */

float lli_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (!mant) bits = sign;
        else { /* subnormal: value = mant * 2^-24 */
            float f = (float)mant * 5.9604644775390625e-8f;
            return sign ? -f : f;
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | mant << 13;
    else bits = sign | (exp + 112) << 23 | mant << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t lli_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | (uint32_t)exp << 10 | mant >> 13, rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* round to nearest even */
    return (uint16_t)half;
}

static float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return lli_f16_to_f32(h);
}

static float bf16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- dequantization (the reference for every type) ------------------------------------------ */

static void k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void dequant_block(int type, const uint8_t *b, float *y) {
    switch (type) {
    case LLI_TT_Q8_0: {
        float d = half_at(b);
        for (int i = 0; i < 32; i++) y[i] = d * (int8_t)b[2 + i];
        return;
    }
    case LLI_TT_Q4_0: {
        float d = half_at(b);
        for (int i = 0; i < 16; i++) y[i] = d * ((b[2 + i] & 0xf) - 8), y[i + 16] = d * ((b[2 + i] >> 4) - 8);
        return;
    }
    case LLI_TT_Q4_1: {
        float d = half_at(b), m = half_at(b + 2);
        for (int i = 0; i < 16; i++) y[i] = d * (b[4 + i] & 0xf) + m, y[i + 16] = d * (b[4 + i] >> 4) + m;
        return;
    }
    case LLI_TT_Q5_0:
    case LLI_TT_Q5_1: {
        int has_m = type == LLI_TT_Q5_1;
        float d = half_at(b), m = has_m ? half_at(b + 2) : 0;
        uint32_t qh;
        memcpy(&qh, b + 2 + 2 * has_m, 4);
        const uint8_t *qs = b + 6 + 2 * has_m;
        int off = has_m ? 0 : 16;
        for (int i = 0; i < 16; i++) {
            int lo = (qs[i] & 0xf) | (int)((qh >> i) & 1) << 4, hi = (qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
            y[i] = d * (lo - off) + m;
            y[i + 16] = d * (hi - off) + m;
        }
        return;
    }
    case LLI_TT_Q4_K:
    case LLI_TT_Q5_K: {
        int five = type == LLI_TT_Q5_K;
        float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 16 + (five ? 32 : 0);
        for (int c = 0; c < 4; c++) { /* 64 elements: low nibbles, then high nibbles */
            int sc1, m1, sc2, m2;
            k_scale_min(2 * c, scales, &sc1, &m1);
            k_scale_min(2 * c + 1, scales, &sc2, &m2);
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * c + l] & 0xf, hi = qs[32 * c + l] >> 4;
                if (five) {
                    lo += (qh[l] >> (2 * c) & 1) << 4;
                    hi += (qh[l] >> (2 * c + 1) & 1) << 4;
                }
                y[64 * c + l] = d * sc1 * lo - dmin * m1;
                y[64 * c + 32 + l] = d * sc2 * hi - dmin * m2;
            }
        }
        return;
    }
    case LLI_TT_Q6_K: {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = half_at(b + 208);
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        return;
    }
    case LLI_TT_Q2_K: {
        const uint8_t *sc = b, *q = b + 16;
        float d = half_at(b + 80), dmin = half_at(b + 82);
        int is = 0;
        for (int n = 0; n < 2; n++, q += 32)
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++, is++) {
                    float dl = d * (sc[is] & 0xf), ml = dmin * (sc[is] >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        return;
    }
    case LLI_TT_Q3_K: {
        const uint8_t *hm = b, *q = b + 32, *s = b + 96;
        float d_all = half_at(b + 108);
        /* 16 six-bit scales packed in 12 bytes. */
        int8_t scales[16];
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
            int hi = (s[8 + (j % 4)] >> (2 * (j / 4))) & 3;
            scales[j] = (int8_t)((lo | hi << 4) - 32);
        }
        int is = 0;
        uint8_t m = 1;
        for (int n = 0; n < 2; n++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int half = 0; half < 2; half++, is++) {
                    float dl = d_all * scales[is];
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (((q[16 * half + l] >> shift) & 3) - ((hm[16 * half + l] & m) ? 0 : 4));
                }
        return;
    }
    default: return;
    }
}

int lli_cpu_type_supported(int type) {
    switch (type) {
    case LLI_TT_F32: case LLI_TT_F16: case LLI_TT_BF16: case LLI_TT_Q4_0: case LLI_TT_Q4_1: case LLI_TT_Q5_0:
    case LLI_TT_Q5_1: case LLI_TT_Q8_0: case LLI_TT_Q2_K: case LLI_TT_Q3_K: case LLI_TT_Q4_K: case LLI_TT_Q5_K:
    case LLI_TT_Q6_K: return 1;
    default: return 0;
    }
}

void lli_dequant_row(int type, const void *row, float *out, int64_t n) {
    const uint8_t *p = row;
    if (type == LLI_TT_F32) {
        memcpy(out, row, (size_t)n * 4);
        return;
    }
    if (type == LLI_TT_F16 || type == LLI_TT_BF16) {
        for (int64_t i = 0; i < n; i++) out[i] = type == LLI_TT_F16 ? half_at(p + 2 * i) : bf16_at(p + 2 * i);
        return;
    }
    const lli_ttype_info *t = lli_ttype_by_id(type);
    for (int64_t i = 0; i < n; i += t->block, p += t->block_bytes) dequant_block(type, p, out + i);
}

/* ---- activations --------------------------------------------------------------------------- */

static void quantize_q8_ref(const float *x, lli_q8 *out, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = amax ? 127.0f / amax : 0;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = (int)lrintf(x[i] * id);
            out[b].q[i] = (int8_t)q;
            sum += q;
        }
        /* Scales are kept at half precision, as GGUF's q8 activation blocks do, so that results
         * agree with other implementations to the last bit where possible. */
        out[b].d = lli_f16_to_f32(lli_f32_to_f16(d));
        out[b].s = lli_f16_to_f32(lli_f32_to_f16(d * (float)sum));
    }
}

#ifdef LLI_X86
__attribute__((target("avx2,fma,f16c"))) static void quantize_q8_avx2(const float *x, lli_q8 *out, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k), m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), d = amax / 127.0f, id = amax ? 127.0f / amax : 0;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT));
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_hadd_epi32(s4, s4);
        s4 = _mm_hadd_epi32(s4, s4);
        /* pack 32 int32 to int8 in order: packs interleave lanes, the permute restores the order */
        __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)out[b].q, p);
        out[b].d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        out[b].s = _cvtsh_ss(_cvtss_sh(d * (float)_mm_cvtsi128_si32(s4), _MM_FROUND_TO_NEAREST_INT));
    }
}
#endif

static void (*g_quantize)(const float *, lli_q8 *, int64_t) = quantize_q8_ref;
void lli_quantize_q8(const float *x, lli_q8 *out, int64_t n) { g_quantize(x, out, n); }

/* ---- dot products: portable ---------------------------------------------------------------- */

static float dot_q8_0_ref(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 34) {
        int s = 0;
        for (int i = 0; i < 32; i++) s += (int8_t)w[2 + i] * x[b].q[i];
        acc += half_at(w) * x[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_0_ref(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 18) {
        int s = 0;
        for (int i = 0; i < 16; i++) s += ((w[2 + i] & 0xf) - 8) * x[b].q[i] + ((w[2 + i] >> 4) - 8) * x[b].q[i + 16];
        acc += half_at(w) * x[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_1_ref(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 20) {
        int s = 0;
        for (int i = 0; i < 16; i++) s += (w[4 + i] & 0xf) * x[b].q[i] + (w[4 + i] >> 4) * x[b].q[i + 16];
        acc += half_at(w) * x[b].d * (float)s + half_at(w + 2) * x[b].s;
    }
    return acc;
}

/* Q4_K with 8-bit activations: each 32-element sub-block (a 6-bit scale and min) meets one q8 block. */
static float dot_q4_k_ref(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 144, x += 8) {
        float d = half_at(w), dmin = half_at(w + 2);
        const uint8_t *qs = w + 16;
        for (int c = 0; c < 4; c++) {
            int sc1, m1, sc2, m2, s1 = 0, s2 = 0;
            k_scale_min(2 * c, w + 4, &sc1, &m1);
            k_scale_min(2 * c + 1, w + 4, &sc2, &m2);
            for (int l = 0; l < 32; l++) {
                s1 += (qs[32 * c + l] & 0xf) * x[2 * c].q[l];
                s2 += (qs[32 * c + l] >> 4) * x[2 * c + 1].q[l];
            }
            acc += d * (sc1 * x[2 * c].d * (float)s1 + sc2 * x[2 * c + 1].d * (float)s2) -
                   dmin * (m1 * x[2 * c].s + m2 * x[2 * c + 1].s);
        }
    }
    return acc;
}

/* Q6_K with 8-bit activations: in each half of a block, four groups of 32 (one q8 block each), each
 * group two 16-element sub-blocks with their own int8 scale. */
static float dot_q6_k_ref(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++, w += 210) {
        float d = half_at(w + 208);
        const int8_t *sc = (const int8_t *)(w + 192);
        for (int half = 0; half < 2; half++, x += 4) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            for (int g = 0; g < 4; g++) {
                int sum[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    int lo = g & 1 ? ql[l + 32] : ql[l], nib = g < 2 ? lo & 0xf : lo >> 4;
                    int q = (nib | ((qh[l] >> (2 * g)) & 3) << 4) - 32;
                    sum[l / 16] += q * x[g].q[l];
                }
                acc += d * x[g].d * (float)(sc[8 * half + 2 * g] * sum[0] + sc[8 * half + 2 * g + 1] * sum[1]);
            }
        }
    }
    return acc;
}

/* Any type: dequantize a block at a time and multiply with the float activations. */
static float dot_generic(int type, const uint8_t *w, const float *x, int64_t n) {
    const lli_ttype_info *t = lli_ttype_by_id(type);
    float buf[256], acc = 0;
    if (type == LLI_TT_F32) {
        for (int64_t i = 0; i < n; i++) acc += ((const float *)(const void *)w)[i] * x[i];
        return acc;
    }
    int64_t step = type == LLI_TT_F16 || type == LLI_TT_BF16 ? 256 : t->block;
    for (int64_t i = 0; i < n; i += step) {
        int64_t k = n - i < step ? n - i : step;
        lli_dequant_row(type, w + (i / t->block) * t->block_bytes, buf, k);
        for (int64_t j = 0; j < k; j++) acc += buf[j] * x[i + j];
    }
    return acc;
}

/* ---- dot products: AVX2 -------------------------------------------------------------------- */

#ifdef LLI_X86
/* Half to float with the F16C instruction: inlined into the kernels, unlike a call. */
__attribute__((target("avx2,fma,f16c"))) static inline float half_f16c(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Decode reads each weight row once, straight from memory, one block after another: asking for
 * the bytes 1 KiB ahead keeps the memory busy while the current block is multiplied (a Q8_0 row
 * pass over SmolLM2's output head takes a third less time than with the hardware prefetcher alone). */
__attribute__((target("avx2"))) static inline void prefetch_ahead(const uint8_t *w) {
    _mm_prefetch((const char *)w + 1024, _MM_HINT_T0);
}

/* Sum of products of 32 signed bytes, as 8 float lanes. */
__attribute__((target("avx2,fma"))) static inline __m256 mul_i8(__m256i a, __m256i b) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
}

/* Sum of products of 32 unsigned (a) and signed (b) bytes. */
__attribute__((target("avx2,fma"))) static inline __m256 mul_u8_i8(__m256i a, __m256i b) {
    const __m256i ones = _mm256_set1_epi16(1);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
}

__attribute__((target("avx2,fma"))) static inline __m256i nibbles(const uint8_t *p) {
    __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0xf));
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q8_0_avx2(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, w += 34) {
        prefetch_ahead(w);
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(w + 2));
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)x[b].q);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(w) * x[b].d), mul_i8(a, q), acc);
    }
    return hsum8(acc);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q4_0_avx2(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t b = 0; b < nb; b++, w += 18) {
        prefetch_ahead(w);
        __m256i a = _mm256_sub_epi8(nibbles(w + 2), eight);
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)x[b].q);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(w) * x[b].d), mul_i8(a, q), acc);
    }
    return hsum8(acc);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q4_k_avx2(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    const __m256i low = _mm256_set1_epi8(0xf);
    for (int64_t b = 0; b < nb; b++, w += 144, x += 8) {
        prefetch_ahead(w);
        float d = half_f16c(w), dmin = half_f16c(w + 2);
        for (int c = 0; c < 4; c++) {
            int sc1, m1, sc2, m2;
            k_scale_min(2 * c, w + 4, &sc1, &m1);
            k_scale_min(2 * c + 1, w + 4, &sc2, &m2);
            __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(w + 16 + 32 * c));
            __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)x[2 * c].q);
            __m256i x2 = _mm256_loadu_si256((const __m256i *)(const void *)x[2 * c + 1].q);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc1 * x[2 * c].d), mul_u8_i8(lo, x1), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc2 * x[2 * c + 1].d), mul_u8_i8(hi, x2), acc);
            mins += dmin * (m1 * x[2 * c].s + m2 * x[2 * c + 1].s);
        }
    }
    return hsum8(acc) - mins;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q6_k_avx2(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0xf), three = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < nb; b++, w += 210) {
        prefetch_ahead(w);
        float d = half_f16c(w + 208);
        const int8_t *sc = (const int8_t *)(w + 192);
        for (int half = 0; half < 2; half++, x += 4) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
            for (int g = 0; g < 4; g++) {
                __m256i lo = g & 1 ? l1 : l0;
                __m256i nib = g < 2 ? _mm256_and_si256(lo, low) : _mm256_and_si256(_mm256_srli_epi16(lo, 4), low);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(h, 2 * g), three);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(hb, 4)), off); /* -32..31 */
                __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)x[g].q);
                __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q)); /* 16 pair sums */
                /* lanes 0-7 hold elements 0-15 (first scale), lanes 8-15 elements 16-31 (second) */
                __m256i scales = _mm256_setr_m128i(_mm_set1_epi16(sc[8 * half + 2 * g]), _mm_set1_epi16(sc[8 * half + 2 * g + 1]));
                __m256i s32 = _mm256_madd_epi16(p, scales);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * x[g].d), _mm256_cvtepi32_ps(s32), acc);
            }
        }
    }
    return hsum8(acc);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q4_1_avx2(const uint8_t *w, const lli_q8 *x, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t b = 0; b < nb; b++, w += 20) {
        prefetch_ahead(w);
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)x[b].q);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(w) * x[b].d), mul_u8_i8(nibbles(w + 4), q), acc);
        mins += half_f16c(w + 2) * x[b].s;
    }
    return hsum8(acc) + mins;
}
#endif

/* ---- F16 rows ------------------------------------------------------------------------------- */

static float dot_f32_f16_ref(const float *a, const uint16_t *b, int n) {
    float acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] * lli_f16_to_f32(b[i]);
    return acc;
}

static void axpy_f16_ref(float *y, float w, const uint16_t *x, int n) {
    for (int i = 0; i < n; i++) y[i] += w * lli_f16_to_f32(x[i]);
}

static void to_f16_ref(const float *x, uint16_t *y, int n) {
    for (int i = 0; i < n; i++) y[i] = lli_f32_to_f16(x[i]);
}

#ifdef LLI_X86
__attribute__((target("avx2,fma,f16c"))) static float dot_f32_f16_avx2(const float *a, const uint16_t *b, int n) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + i))), acc);
    float r = hsum8(acc);
    for (; i < n; i++) r += a[i] * _cvtsh_ss(b[i]);
    return r;
}

__attribute__((target("avx2,fma,f16c"))) static void axpy_f16_avx2(float *y, float w, const uint16_t *x, int n) {
    __m256 vw = _mm256_set1_ps(w);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vw, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += w * _cvtsh_ss(x[i]);
}

__attribute__((target("avx2,fma,f16c"))) static void to_f16_avx2(const float *x, uint16_t *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = lli_f32_to_f16(x[i]);
}

__attribute__((target("avx2,fma,f16c"))) static void from_f16_avx2(const uint16_t *x, float *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i))));
    for (; i < n; i++) y[i] = lli_f16_to_f32(x[i]);
}
#endif

static void from_f16_ref(const uint16_t *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = lli_f16_to_f32(x[i]);
}

static float (*g_dot_f16)(const float *, const uint16_t *, int) = dot_f32_f16_ref;
static void (*g_axpy_f16)(float *, float, const uint16_t *, int) = axpy_f16_ref;
static void (*g_to_f16)(const float *, uint16_t *, int) = to_f16_ref;
static void (*g_from_f16)(const uint16_t *, float *, int) = from_f16_ref;

float lli_dot_f32_f16(const float *a, const uint16_t *b, int n) { return g_dot_f16(a, b, n); }
void lli_axpy_f16(float *y, float w, const uint16_t *x, int n) { g_axpy_f16(y, w, x, n); }
void lli_f32_to_f16_row(const float *x, uint16_t *y, int n) { g_to_f16(x, y, n); }
void lli_f16_to_f32_row(const uint16_t *x, float *y, int n) { g_from_f16(x, y, n); }

void lli_round_f16_row(const float *x, float *y, int n) {
    uint16_t tmp[64];
    for (int i = 0; i < n; i += 64) {
        int k = n - i < 64 ? n - i : 64;
        g_to_f16(x + i, tmp, k);
        for (int j = 0; j < k; j++) y[i + j] = lli_f16_to_f32(tmp[j]);
    }
}

#ifdef LLI_X86
/* The weight block's 32 quants as bytes, and its scale(s). */
#define DOT4_BODY(LOAD_W, SIGNED, MIN)                                                                        \
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};      \
    float mins[4] = {0, 0, 0, 0};                                                                              \
    for (int64_t b = 0; b < nb; b++, w += BLOCK) {                                                             \
        __m256i wq = LOAD_W;                                                                                   \
        float dw = half_f16c(w);                                                                               \
        for (int k = 0; k < 4; k++) {                                                                          \
            __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)xq[k][b].q);                         \
            __m256 prod = SIGNED ? mul_i8(wq, q) : mul_u8_i8(wq, q);                                           \
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xq[k][b].d), prod, acc[k]);                           \
            if (MIN) mins[k] += half_f16c(w + 2) * xq[k][b].s;                                                \
        }                                                                                                      \
    }                                                                                                          \
    for (int k = 0; k < 4; k++) out[k] = hsum8(acc[k]) + mins[k];

#define BLOCK 34
__attribute__((target("avx2,fma,f16c"))) static void dot4_q8_0_avx2(const uint8_t *w, const lli_q8 *const xq[4], int64_t nb,
                                                                  float out[4]) {
    DOT4_BODY(_mm256_loadu_si256((const __m256i *)(const void *)(w + 2)), 1, 0)
}
#undef BLOCK
#define BLOCK 18
__attribute__((target("avx2,fma,f16c"))) static void dot4_q4_0_avx2(const uint8_t *w, const lli_q8 *const xq[4], int64_t nb,
                                                                  float out[4]) {
    DOT4_BODY(_mm256_sub_epi8(nibbles(w + 2), _mm256_set1_epi8(8)), 1, 0)
}
#undef BLOCK
#define BLOCK 20
__attribute__((target("avx2,fma,f16c"))) static void dot4_q4_1_avx2(const uint8_t *w, const lli_q8 *const xq[4], int64_t nb,
                                                                  float out[4]) {
    DOT4_BODY(nibbles(w + 4), 0, 1)
}
#undef BLOCK

/* Two weight rows against the same four activation rows: each activation block is loaded once
 * for both rows, and a signed weight block's absolute value is taken once for all four products.
 * Per output, the sums are formed in the same order as in DOT4_BODY, so results are identical. */
#define DOT2X4_BODY(LOAD_W, SIGNED, MIN)                                                                      \
    __m256 acc0[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};     \
    __m256 acc1[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};     \
    float mins0[4] = {0, 0, 0, 0}, mins1[4] = {0, 0, 0, 0};                                                   \
    const __m256i ones = _mm256_set1_epi16(1);                                                                 \
    for (int64_t b = 0; b < nb; b++, w0 += BLOCK, w1 += BLOCK) {                                               \
        __m256i wq0 = LOAD_W(w0), wq1 = LOAD_W(w1);                                                            \
        __m256i u0 = SIGNED ? _mm256_sign_epi8(wq0, wq0) : wq0, u1 = SIGNED ? _mm256_sign_epi8(wq1, wq1) : wq1; \
        __m256 d0 = _mm256_set1_ps(half_f16c(w0)), d1 = _mm256_set1_ps(half_f16c(w1));                         \
        for (int k = 0; k < 4; k++) {                                                                          \
            __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)xq[k][b].q);                         \
            __m256 dx = _mm256_set1_ps(xq[k][b].d);                                                            \
            __m256i q0 = SIGNED ? _mm256_sign_epi8(q, wq0) : q, q1 = SIGNED ? _mm256_sign_epi8(q, wq1) : q;    \
            __m256 p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u0, q0), ones));            \
            __m256 p1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u1, q1), ones));            \
            acc0[k] = _mm256_fmadd_ps(_mm256_mul_ps(d0, dx), p0, acc0[k]);                                     \
            acc1[k] = _mm256_fmadd_ps(_mm256_mul_ps(d1, dx), p1, acc1[k]);                                     \
            if (MIN) mins0[k] += half_f16c(w0 + 2) * xq[k][b].s, mins1[k] += half_f16c(w1 + 2) * xq[k][b].s;  \
        }                                                                                                      \
    }                                                                                                          \
    for (int k = 0; k < 4; k++) out0[k] = hsum8(acc0[k]) + mins0[k], out1[k] = hsum8(acc1[k]) + mins1[k];

#define LOAD_Q8_0(p) _mm256_loadu_si256((const __m256i *)(const void *)((p) + 2))
#define LOAD_Q4_0(p) _mm256_sub_epi8(nibbles((p) + 2), _mm256_set1_epi8(8))
#define LOAD_Q4_1(p) nibbles((p) + 4)
#define BLOCK 34
__attribute__((target("avx2,fma,f16c"))) static void dot2x4_q8_0_avx2(const uint8_t *w0, const uint8_t *w1,
                                                                    const lli_q8 *const xq[4], int64_t nb,
                                                                    float out0[4], float out1[4]) {
    DOT2X4_BODY(LOAD_Q8_0, 1, 0)
}
#undef BLOCK
#define BLOCK 18
__attribute__((target("avx2,fma,f16c"))) static void dot2x4_q4_0_avx2(const uint8_t *w0, const uint8_t *w1,
                                                                    const lli_q8 *const xq[4], int64_t nb,
                                                                    float out0[4], float out1[4]) {
    DOT2X4_BODY(LOAD_Q4_0, 1, 0)
}
#undef BLOCK
#define BLOCK 20
__attribute__((target("avx2,fma,f16c"))) static void dot2x4_q4_1_avx2(const uint8_t *w0, const uint8_t *w1,
                                                                    const lli_q8 *const xq[4], int64_t nb,
                                                                    float out0[4], float out1[4]) {
    DOT2X4_BODY(LOAD_Q4_1, 0, 1)
}
#undef BLOCK
#endif

typedef void (*dot2x4_fn)(const uint8_t *, const uint8_t *, const lli_q8 *const[4], int64_t, float[4], float[4]);
static dot2x4_fn g24_q8_0, g24_q4_0, g24_q4_1; /* NULL: no two-row kernel for the type */

static dot2x4_fn dot2x4_for(int type) {
    return type == LLI_TT_Q8_0 ? g24_q8_0 : type == LLI_TT_Q4_0 ? g24_q4_0 : type == LLI_TT_Q4_1 ? g24_q4_1 : NULL;
}

int lli_vec_dot2x4_supported(int type) { return dot2x4_for(type) != NULL; }

void lli_vec_dot2x4(int type, const void *row0, const void *row1, const lli_q8 *const xq[4], int64_t n, float out0[4],
                    float out1[4]) {
    dot2x4_for(type)(row0, row1, xq, n / 32, out0, out1);
}

typedef void (*dot4_fn)(const uint8_t *, const lli_q8 *const[4], int64_t, float[4]);
static dot4_fn g4_q8_0, g4_q4_0, g4_q4_1; /* NULL: four single dots */

void lli_vec_dot4(int type, const void *row, const float *const x[4], const lli_q8 *const xq[4], int64_t n, float out[4]) {
    dot4_fn f = type == LLI_TT_Q8_0 ? g4_q8_0 : type == LLI_TT_Q4_0 ? g4_q4_0 : type == LLI_TT_Q4_1 ? g4_q4_1 : NULL;
    if (f && xq[0]) {
        f(row, xq, n / 32, out);
        return;
    }
    for (int k = 0; k < 4; k++) out[k] = lli_vec_dot(type, row, x[k], xq[k], n);
}

typedef float (*dot_q8_fn)(const uint8_t *, const lli_q8 *, int64_t);
static dot_q8_fn g_q8_0 = dot_q8_0_ref, g_q4_0 = dot_q4_0_ref, g_q4_1 = dot_q4_1_ref, g_q4_k = dot_q4_k_ref,
                 g_q6_k = dot_q6_k_ref;
static const char *g_simd = "portable";

void lli_quant_init(void) {
#ifdef LLI_X86
    if (lli_cpu_has_avx2_fma_f16c()) {
        g_q8_0 = dot_q8_0_avx2, g_q4_0 = dot_q4_0_avx2, g_q4_1 = dot_q4_1_avx2, g_q4_k = dot_q4_k_avx2;
        g_q6_k = dot_q6_k_avx2;
        g_dot_f16 = dot_f32_f16_avx2, g_axpy_f16 = axpy_f16_avx2, g_to_f16 = to_f16_avx2, g_from_f16 = from_f16_avx2;
        g4_q8_0 = dot4_q8_0_avx2, g4_q4_0 = dot4_q4_0_avx2, g4_q4_1 = dot4_q4_1_avx2;
        g24_q8_0 = dot2x4_q8_0_avx2, g24_q4_0 = dot2x4_q4_0_avx2, g24_q4_1 = dot2x4_q4_1_avx2;
        g_quantize = quantize_q8_avx2;
        g_simd = "avx2";
    }
#endif
}

const char *lli_quant_simd_name(void) { return g_simd; }

float lli_vec_dot(int type, const void *row, const float *x, const lli_q8 *xq, int64_t n) {
    switch (type) {
    case LLI_TT_Q8_0: return g_q8_0(row, xq, n / 32);
    case LLI_TT_Q4_0: return g_q4_0(row, xq, n / 32);
    case LLI_TT_Q4_1: return g_q4_1(row, xq, n / 32);
    case LLI_TT_Q4_K: return g_q4_k(row, xq, n / 256);
    case LLI_TT_Q6_K: return g_q6_k(row, xq, n / 256);
    default: return dot_generic(type, row, x, n);
    }
}
