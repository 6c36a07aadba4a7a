#include "backend/cpu/quant.h"

#include <math.h>
#include <string.h>

#include "format/tensor_types.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
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
            lli_k_scale_min(2 * c, scales, &sc1, &m1);
            lli_k_scale_min(2 * c + 1, scales, &sc2, &m2);
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
        lli_q3_k_scales(s, scales);
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

/* ---- scalar kernels: the reference, and the path of CPUs without AVX2 ------------------------- */

static void quantize_q8_ref(const float *x, lli_q8 *out, int64_t n, int group) {
    for (int64_t g = 0; g < n; g += group) {
        float amax = 0;
        for (int i = 0; i < group; i++) amax = fmaxf(amax, fabsf(x[g + i]));
        /* Scales are kept at half precision, as GGUF's q8 activation blocks do, so that results
         * agree with other implementations to the last bit where possible. */
        float d = lli_f16_to_f32(lli_f32_to_f16(amax / 127.0f)), id = amax ? 127.0f / amax : 0;
        for (int64_t b = g / 32; b < (g + group) / 32; b++) {
            int sum[2] = {0, 0};
            for (int i = 0; i < 32; i++) {
                int q = (int)lrintf(x[32 * b + i] * id);
                out[b].q[i] = (int8_t)q;
                sum[i / 16] += q;
            }
            out[b].d = d;
            out[b].sum[0] = (int16_t)sum[0], out[b].sum[1] = (int16_t)sum[1];
        }
    }
}

int lli_cpu_act_group(int type) {
    return type == LLI_TT_Q2_K || type == LLI_TT_Q3_K || type == LLI_TT_Q4_K || type == LLI_TT_Q5_K || type == LLI_TT_Q6_K
               ? 256
               : 32;
}

int lli_cpu_product(const lli_kernels *kt, int type, int layout, const uint8_t *w, uint64_t row_bytes, int64_t nr,
                    const lli_q8 *xq, int64_t nt, int64_t k, float *out, int64_t out_stride) {
    const int x8 = layout == LLI_LAYOUT_X8;
    if (!lli_cpu_takes_tiles(kt, type, layout, nt)) {
        (x8 ? kt->mm_x8 : kt->mm)[type](w, row_bytes, nr, NULL, xq, nt, k, out, out_stride);
        return 0;
    }
    void *xt = aligned_alloc(64, (size_t)kt->xt_bytes(nt, k)), *un = aligned_alloc(64, (size_t)kt->unpacked_bytes(type, nr, k));
    int ok = xt && un;
    if (ok) {
        kt->tile_acts(xq, nt, k, xt);
        (x8 ? kt->mm_tiles_x8 : kt->mm_tiles)[type](w, row_bytes, nr, xt, nt, k, out, out_stride, un);
    }
    free(xt), free(un);
    return ok ? 0 : -1;
}

/* ---- the X8 layout (quant.h) -----------------------------------------------------------------
 * Group block of Q4_K (8 x 144 bytes):
 *   [0, 16)     d of rows 0-7 (half precision)          [16, 32)   dmin of rows 0-7
 *   [32, 64)    byte 8j + r (j 0-3): row r's sub-block j scale, low four bits, | its minimum's << 4
 *   [64, 96)    the same for sub-blocks 4-7
 *   [96, 128)   byte 8j + r (j 0-3): the high two bits of row r's scale j, minimum j << 2,
 *               scale j + 4 << 4, minimum j + 4 << 6
 *   [128, 1152) the 128 bytes of quants as 32 words, word i of rows 0-7 at 32 i
 * Group block of Q5_K (8 x 176 bytes): [0, 128) as Q4_K's, then
 *   [128, 384)  the 32 bytes of fifth bits (qh) as 8 words, word i of rows 0-7 at 128 + 32 i
 *   [384, 1408) the 128 bytes of quants as Q4_K's
 * Group block of Q4_0, Q4_1, Q5_0 and Q5_1 (8 x 18, 20, 22, 24 bytes): d of rows 0-7, then (Q4_1,
 * Q5_1) their m, then (Q5_0, Q5_1) the 32 fifth bits of each row as one word, word of rows 0-7
 * side by side, then the 16 bytes of quants as 4 words, word i of rows 0-7 at 32 i from there.
 * Group block of Q2_K (8 x 84 bytes):
 *   [0, 16)     d of rows 0-7                            [16, 32)   dmin of rows 0-7
 *   [32, 160)   byte 8j + r: row r's byte of scale j (low four bits) and minimum j (high four)
 *   [160, 672)  the 64 bytes of quants as 16 words, word i of rows 0-7 at 160 + 32 i
 * Group block of Q3_K (8 x 110 bytes):
 *   [0, 16)     d of rows 0-7
 *   [16, 112)   byte 8j + r: byte j of row r's 12 bytes of scales, as the block packs them: for
 *               j 0-7 the low four bits of six-bit scale (plus 32) j | of scale j + 8 << 4, for
 *               j 8-11 the high two bits of scales j - 8, j - 4, j, j + 4 at bits 0, 2, 4, 6
 *   [112, 368)  the 32 bytes of high bits (hmask) as 8 words, word i of rows 0-7 at 112 + 32 i
 *   [368, 880)  the 64 bytes of low two bits as 16 words, likewise
 * Group block of Q6_K (8 x 210 bytes):
 *   [0, 16)     d of rows 0-7                            [16, 144)  byte 8j + r: row r's scale j
 *   [144, 1680) 16 steps of 96 bytes, step 8h + i (h 0-1, i 0-7): words 16h + i and 16h + 8 + i of
 *               the low four bits (ql), then word 8h + i of the high two bits (qh), each of rows
 *               0-7 side by side: the three words whose bits make elements 128h + 4i.. of the
 *               four groups of 32, next to each other, so that the group block reads in order
 *               (three streams through it defeated the hardware prefetcher: a third the speed) */

int lli_cpu_has_x8(int type) {
    return type == LLI_TT_Q4_0 || type == LLI_TT_Q4_1 || type == LLI_TT_Q5_0 || type == LLI_TT_Q5_1 || type == LLI_TT_Q2_K ||
           type == LLI_TT_Q3_K || type == LLI_TT_Q4_K || type == LLI_TT_Q5_K || type == LLI_TT_Q6_K;
}

/* Words [0, n) of each row's bytes at off, as n groups of eight words, stride bytes apart from
 * g (to_x8), or back. */
static void words(uint8_t *g, int stride, uint8_t *const row[8], int off, int n, int to_x8) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < 8; r++) {
            if (to_x8) memcpy(g + i * stride + 4 * r, row[r] + off + 4 * i, 4);
            else memcpy(row[r] + off + 4 * i, g + i * stride + 4 * r, 4);
        }
}

/* The 12 bytes of a Q4_K super-block's scales and minimums packed from their values (the inverse
 * of lli_k_scale_min: every bit of the 12 holds one of them). */
static void pack_k_scales(const int sc[8], const int m[8], uint8_t q[12]) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* A scalar field of `bytes` bytes at off in each row, as eight side by side at g, or back. */
static void fields(uint8_t *g, uint8_t *const row[8], int off, int bytes, int to_x8) {
    for (int r = 0; r < 8; r++) {
        if (to_x8) memcpy(g + bytes * r, row[r] + off, (size_t)bytes);
        else memcpy(row[r] + off, g + bytes * r, (size_t)bytes);
    }
}

/* Bytes [0, n) of each row's bytes at off, byte j of rows 0-7 at g + 8j, or back. */
static void bytes_by_row(uint8_t *g, uint8_t *const row[8], int off, int n, int to_x8) {
    for (int j = 0; j < n; j++) fields(g + 8 * j, row, off + j, 1, to_x8);
}

/* One group block g from the eight blocks row[r] (to X8), or back (to_x8 == 0). */
static void group_block(int type, uint8_t *g, uint8_t *const row[8], int to_x8) {
    if (lli_ttype_by_id(type)->block == 32) {
        const int mk = type == LLI_TT_Q4_1 || type == LLI_TT_Q5_1, five = type == LLI_TT_Q5_0 || type == LLI_TT_Q5_1;
        int at = 16, from = 2;
        fields(g, row, 0, 2, to_x8);
        if (mk) fields(g + 16, row, 2, 2, to_x8), at += 16, from += 2;
        if (five) words(g + at, 32, row, from, 1, to_x8), at += 32, from += 4;
        words(g + at, 32, row, from, 4, to_x8);
        return;
    }
    if (type == LLI_TT_Q2_K) {
        fields(g, row, 80, 2, to_x8), fields(g + 16, row, 82, 2, to_x8);
        bytes_by_row(g + 32, row, 0, 16, to_x8);
        words(g + 160, 32, row, 16, 16, to_x8);
        return;
    }
    if (type == LLI_TT_Q3_K) {
        fields(g, row, 108, 2, to_x8);
        bytes_by_row(g + 16, row, 96, 12, to_x8);
        words(g + 112, 32, row, 0, 8, to_x8);
        words(g + 368, 32, row, 32, 16, to_x8);
        return;
    }
    if (type == LLI_TT_Q4_K || type == LLI_TT_Q5_K) {
        const int five = type == LLI_TT_Q5_K;
        int sc[8][8], m[8][8];
        fields(g, row, 0, 2, to_x8), fields(g + 16, row, 2, 2, to_x8);
        for (int r = 0; r < 8; r++) {
            if (to_x8) {
                for (int j = 0; j < 8; j++) lli_k_scale_min(j, row[r] + 4, &sc[r][j], &m[r][j]);
            } else {
                for (int j = 0; j < 8; j++) {
                    const int lo = g[32 + 8 * j + r], hi = g[96 + 8 * (j % 4) + r] >> (4 * (j / 4));
                    sc[r][j] = (lo & 15) | (hi & 3) << 4, m[r][j] = (lo >> 4) | (hi >> 2 & 3) << 4;
                }
                pack_k_scales(sc[r], m[r], row[r] + 4);
            }
        }
        if (to_x8) {
            for (int j = 0; j < 8; j++)
                for (int r = 0; r < 8; r++) {
                    g[32 + 8 * j + r] = (uint8_t)((sc[r][j] & 15) | (m[r][j] & 15) << 4);
                    if (j < 4)
                        g[96 + 8 * j + r] = (uint8_t)(sc[r][j] >> 4 | (m[r][j] >> 4) << 2 | (sc[r][j + 4] >> 4) << 4 |
                                                      (m[r][j + 4] >> 4) << 6);
                }
        }
        if (five) words(g + 128, 32, row, 16, 8, to_x8);
        words(g + 128 + 256 * five, 32, row, 16 + 32 * five, 32, to_x8);
        return;
    }
    /* Q6_K: ql [0, 128), qh [128, 192), scales [192, 208), d [208, 210) */
    fields(g, row, 208, 2, to_x8);
    bytes_by_row(g + 16, row, 192, 16, to_x8);
    for (int h = 0; h < 2; h++) {
        uint8_t *steps = g + 144 + 96 * 8 * h;
        words(steps, 96, row, 64 * h, 8, to_x8);
        words(steps + 32, 96, row, 64 * h + 32, 8, to_x8);
        words(steps + 64, 96, row, 128 + 32 * h, 8, to_x8);
    }
}

/* Group by group: the group's raw rows (src, row_bytes apart) to or from X8 at dst. */
static void convert_groups(int type, const uint8_t *src, uint8_t *dst, uint64_t rb, int64_t nr, int to_x8) {
    const int bytes = (int)lli_ttype_by_id(type)->block_bytes;
    const int64_t nb = (int64_t)(rb / (uint64_t)bytes);
    for (int64_t g0 = 0; g0 + 8 <= nr; g0 += 8) {
        uint8_t *row[8];
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *gb = (uint8_t *)(to_x8 ? dst : src) + (uint64_t)g0 * rb + (uint64_t)(b * 8 * bytes);
            for (int r = 0; r < 8; r++) row[r] = (uint8_t *)(to_x8 ? src : dst) + (uint64_t)(g0 + r) * rb + (uint64_t)(b * bytes);
            group_block(type, gb, row, to_x8);
        }
    }
}

int lli_cpu_interleave_x8(int type, uint8_t *w, uint64_t rb, int64_t nr) {
    uint8_t *tmp = malloc((size_t)(8 * rb));
    if (!tmp) return -1;
    for (int64_t g0 = 0; g0 + 8 <= nr; g0 += 8) {
        memcpy(tmp, w + (uint64_t)g0 * rb, (size_t)(8 * rb));
        convert_groups(type, tmp, w + (uint64_t)g0 * rb, rb, 8, 1);
    }
    free(tmp);
    return 0;
}

void lli_cpu_deinterleave_x8(int type, const uint8_t *w, uint64_t rb, int64_t nr, uint8_t *out) {
    const int64_t whole = nr / 8 * 8;
    convert_groups(type, w, out, rb, whole, 0);
    memcpy(out + (uint64_t)whole * rb, w + (uint64_t)whole * rb, (size_t)((uint64_t)(nr - whole) * rb));
}

/* Every weight type the same way: the row dequantized a piece at a time (256 elements: every
 * type's block divides it, and no allocation can fail), then per output a dot product with the
 * activations, the q8 blocks' values (d * q) for block types, the floats for F32/F16/BF16. The
 * sums run in element order, as if the whole row had been dequantized first. */
static void mm_ref(int type, const uint8_t *w, uint64_t rb, int64_t nr, const float *x, const lli_q8 *xq, int64_t nt,
                   int64_t k, float *out, int64_t os) {
    enum { PIECE = 256, TILE = 16 };
    const int fl = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
    const lli_ttype_info *ti = lli_ttype_by_id(type);
    float piece[PIECE];
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = w + (uint64_t)r * rb;
        for (int64_t t0 = 0; t0 < nt; t0 += TILE) {
            int64_t tn = nt - t0 < TILE ? nt - t0 : TILE;
            float acc[TILE] = {0};
            for (int64_t p0 = 0; p0 < k; p0 += PIECE) {
                int64_t pn = k - p0 < PIECE ? k - p0 : PIECE;
                lli_dequant_row(type, row + (uint64_t)(p0 / ti->block) * ti->block_bytes, piece, pn);
                for (int64_t t = 0; t < tn; t++) {
                    if (fl) {
                        const float *xt = x + (t0 + t) * k + p0;
                        for (int64_t i = 0; i < pn; i++) acc[t] += piece[i] * xt[i];
                    } else {
                        const lli_q8 *xb = xq + (t0 + t) * (k / 32) + p0 / 32;
                        for (int64_t b = 0; b < pn / 32; b++) {
                            float s = 0;
                            for (int i = 0; i < 32; i++) s += piece[32 * b + i] * (float)xb[b].q[i];
                            acc[t] += s * xb[b].d;
                        }
                    }
                }
            }
            for (int64_t t = 0; t < tn; t++) out[(t0 + t) * os + r] = acc[t];
        }
    }
}

#define MM_REF(name, type)                                                                                        \
    static void name(const uint8_t *w, uint64_t rb, int64_t nr, const float *x, const lli_q8 *xq, int64_t nt, int64_t k, \
                     float *out, int64_t os) {                                                                    \
        mm_ref(type, w, rb, nr, x, xq, nt, k, out, os);                                                           \
    }
MM_REF(mm_ref_f32, LLI_TT_F32)
MM_REF(mm_ref_f16, LLI_TT_F16)
MM_REF(mm_ref_bf16, LLI_TT_BF16)
MM_REF(mm_ref_q4_0, LLI_TT_Q4_0)
MM_REF(mm_ref_q4_1, LLI_TT_Q4_1)
MM_REF(mm_ref_q5_0, LLI_TT_Q5_0)
MM_REF(mm_ref_q5_1, LLI_TT_Q5_1)
MM_REF(mm_ref_q8_0, LLI_TT_Q8_0)
MM_REF(mm_ref_q2_k, LLI_TT_Q2_K)
MM_REF(mm_ref_q3_k, LLI_TT_Q3_K)
MM_REF(mm_ref_q4_k, LLI_TT_Q4_K)
MM_REF(mm_ref_q5_k, LLI_TT_Q5_K)
MM_REF(mm_ref_q6_k, LLI_TT_Q6_K)

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

static void from_f16_ref(const uint16_t *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = lli_f16_to_f32(x[i]);
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static const char *const k_level_names[LLI_CPU_LEVELS] = {"scalar", "avx2", "avx512"};

const char *lli_cpu_level_name(int level) {
    return level >= 0 && level < LLI_CPU_LEVELS ? k_level_names[level] : "unknown";
}

#ifdef LLI_X86
/* The CPU's features from cpuid, and the operating system's saving of the wide registers from
 * xgetbv: an instruction set is usable only with both. (Read directly: clang 14's
 * __builtin_cpu_supports does not know every name GCC's does.) */
static int detect_level(int *bf16) {
    unsigned a, b, c, d;
    *bf16 = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return LLI_CPU_SCALAR;
    int fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx) return LLI_CPU_SCALAR;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6) return LLI_CPU_SCALAR; /* SSE and AVX state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return LLI_CPU_SCALAR;
    int avx2 = b >> 5 & 1, f = b >> 16 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1, vnni = c >> 11 & 1;
    if (!avx2 || !fma || !f16c) return LLI_CPU_SCALAR;
    if (!(f && bw && vl && vnni && (xlo & 0xe0) == 0xe0)) return LLI_CPU_AVX2; /* opmask and ZMM state */
#ifdef LLI_KERNELS_AVX512BF16
    /* AVX512_BF16: leaf 7, subleaf 1 (present where subleaf 0 says so in EAX), EAX bit 5 */
    unsigned max_sub = a;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) *bf16 = a >> 5 & 1;
#endif
    return LLI_CPU_AVX512;
}
#else
static int detect_level(int *bf16) {
    *bf16 = 0;
    return LLI_CPU_SCALAR;
}
#endif

static lli_kernels g_tables[LLI_CPU_LEVELS];
static int g_best, g_level;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    lli_kernels *s = &g_tables[LLI_CPU_SCALAR];
    s->level = LLI_CPU_SCALAR;
    s->quantize = quantize_q8_ref;
    s->mm[LLI_TT_F32] = mm_ref_f32, s->mm[LLI_TT_F16] = mm_ref_f16, s->mm[LLI_TT_BF16] = mm_ref_bf16;
    s->mm[LLI_TT_Q4_0] = mm_ref_q4_0, s->mm[LLI_TT_Q4_1] = mm_ref_q4_1, s->mm[LLI_TT_Q5_0] = mm_ref_q5_0;
    s->mm[LLI_TT_Q5_1] = mm_ref_q5_1, s->mm[LLI_TT_Q8_0] = mm_ref_q8_0, s->mm[LLI_TT_Q2_K] = mm_ref_q2_k;
    s->mm[LLI_TT_Q3_K] = mm_ref_q3_k, s->mm[LLI_TT_Q4_K] = mm_ref_q4_k, s->mm[LLI_TT_Q5_K] = mm_ref_q5_k;
    s->mm[LLI_TT_Q6_K] = mm_ref_q6_k;
    s->dot_f16 = dot_f32_f16_ref, s->axpy_f16 = axpy_f16_ref, s->to_f16 = to_f16_ref, s->from_f16 = from_f16_ref;
    int bf16;
    g_best = detect_level(&bf16);
    /* Each level starts from the one below, so that a type without a kernel of its own there
     * keeps the lower level's. */
    for (int l = LLI_CPU_SCALAR + 1; l <= g_best; l++) {
        g_tables[l] = g_tables[l - 1];
        g_tables[l].level = l;
#ifdef LLI_X86
        if (l == LLI_CPU_AVX2) lli_kernels_fill_avx2(&g_tables[l]);
        if (l == LLI_CPU_AVX512) lli_kernels_fill_avx512(&g_tables[l]);
#ifdef LLI_KERNELS_AVX512BF16
        if (l == LLI_CPU_AVX512 && bf16) lli_kernels_fill_avx512bf16(&g_tables[l]);
#endif
#endif
    }
    for (int l = 0; l < LLI_CPU_LEVELS; l++) g_tables[l].name = k_level_names[l];
    g_level = g_best;
    const char *cap = getenv("LLI_CPU");
    for (int l = 0; cap && l < LLI_CPU_LEVELS; l++)
        if (!strcmp(cap, k_level_names[l]) && l < g_level) g_level = l;
}

const lli_kernels *lli_cpu_kernels(void) {
    pthread_once(&g_once, choose);
    return &g_tables[g_level];
}

const lli_kernels *lli_cpu_kernels_at(int level) {
    pthread_once(&g_once, choose);
    return level >= 0 && level <= g_best ? &g_tables[level] : NULL;
}

int lli_cpu_best_level(void) {
    pthread_once(&g_once, choose);
    return g_best;
}

float lli_dot_f32_f16(const float *a, const uint16_t *b, int n) { return lli_cpu_kernels()->dot_f16(a, b, n); }
void lli_axpy_f16(float *y, float w, const uint16_t *x, int n) { lli_cpu_kernels()->axpy_f16(y, w, x, n); }
void lli_f32_to_f16_row(const float *x, uint16_t *y, int n) { lli_cpu_kernels()->to_f16(x, y, n); }
void lli_f16_to_f32_row(const uint16_t *x, float *y, int n) { lli_cpu_kernels()->from_f16(x, y, n); }

void lli_round_f16_row(const float *x, float *y, int n) {
    const lli_kernels *kt = lli_cpu_kernels();
    uint16_t tmp[64];
    for (int i = 0; i < n; i += 64) {
        int k = n - i < 64 ? n - i : 64;
        kt->to_f16(x + i, tmp, k);
        kt->from_f16(tmp, y + i, k);
    }
}
