/* Weight-type kernels of the CPU backend: dequantization of every supported block type (the
 * reference), activations quantized to 8 bits, and matrix products of weight rows with them, in
 * one table of kernels per ISA level, chosen once per process. */
#ifndef LLI_CPU_QUANT_H
#define LLI_CPU_QUANT_H

#include <stdint.h>

/* Activations in blocks of 32: scale d (at half precision, as GGUF's q8 blocks keep it), the sum
 * of the quants of each half (they meet the weight types' minimums and offsets, which some change
 * every 16 elements), and the quants. The blocks of a group (32 or 256 elements, see
 * lli_cpu_act_group) share one scale: a K-quant super-block's products then add up as integers. */
typedef struct lli_q8 {
    float d;
    int16_t sum[2];
    int8_t q[32];
} lli_q8;

float lli_f16_to_f32(uint16_t h);
uint16_t lli_f32_to_f16(float f);

/* 1 if the type has a kernel here. */
int lli_cpu_type_supported(int type);

/* Row of n elements (n a multiple of the block) to floats. */
void lli_dequant_row(int type, const void *row, float *out, int64_t n);

/* ISA levels, each including the ones before: scalar (portable C), avx2 (AVX2, FMA, F16C) and
 * avx512 (AVX-512 F, BW, VL with VNNI; and where the CPU has AVX512_BF16, BF16 products with it,
 * see to_bf16 below). */
enum { LLI_CPU_SCALAR, LLI_CPU_AVX2, LLI_CPU_AVX512, LLI_CPU_LEVELS };

/* out[t * out_stride + r] = row r . activation t for nr weight rows (row_bytes apart, starting at
 * w) and nt activation rows of k elements, given as floats (x, k apart) and, for block types, as
 * q8 blocks (xq, k / 32 apart). Each output is computed by the same arithmetic whatever nr, nt and
 * the output's place in them, so a token's result does not depend on the batch around it. */
typedef void (*lli_mm_fn)(const uint8_t *w, uint64_t row_bytes, int64_t nr, const float *x, const lli_q8 *xq, int64_t nt,
                          int64_t k, float *out, int64_t out_stride);

#define LLI_MM_TYPES 31 /* type ids (GGML's) below this index the kernel table */

/* Elements per scale of the activations a block type's products take: 256 for the K-quants, 32
 * for the others. */
int lli_cpu_act_group(int type);

/* The prefill path of the block types (levels that have one): the activations of nt tokens are
 * rearranged once per product into tiles of a few tokens (tile_acts, into xt_bytes), and
 * each chunk of weight rows is unpacked to bytes and integer scales (into unpacked_bytes) and
 * multiplied by every tile (mm_tiles). Each output is the same, bit for bit, as mm's. */
#define LLI_TILE_MIN_TOKENS 4 /* fewer tokens take mm, which streams the weights once per token */
typedef void (*lli_mm_tiles_fn)(const uint8_t *w, uint64_t row_bytes, int64_t nr, const void *xt, int64_t nt, int64_t k,
                                float *out, int64_t out_stride, void *unpacked);

typedef struct lli_kernels {
    int level;
    const char *name;
    void (*quantize)(const float *x, lli_q8 *out, int64_t n, int group); /* n, group multiples of 32 */
    lli_mm_fn mm[LLI_MM_TYPES];                                          /* NULL: type not supported */
    lli_mm_tiles_fn mm_tiles[LLI_MM_TYPES];                              /* NULL: mm does all */
    /* mm for weights in groups of eight interleaved rows (LLI_LAYOUT_X8); NULL: the level keeps
     * the type's rows as they are. The same outputs, bit for bit, as mm's on the rows. */
    lli_mm_fn mm_x8[LLI_MM_TYPES];
    lli_mm_tiles_fn mm_tiles_x8[LLI_MM_TYPES]; /* mm_tiles for them, where mm_x8 is not NULL */
    /* X8 weights keep to mm_x8 below this many tokens, per type: it multiplies each group by
     * every token while the group is in L1, and a tile of 16 tokens holding 4 runs at a quarter of
     * its rate (Q4_K at 4 tokens, avx512: 70 GMAC/s against 31). Where mm_x8 takes apart each
     * group's codes once for several tokens (Q4_K, Q5_K at avx512), or runs fast enough (Q4_0,
     * Q4_1), up to a whole tile's worth: Q4_K at 8 tokens 96 GMAC/s against 61. */
    int tile_min_x8[LLI_MM_TYPES];
    uint64_t (*xt_bytes)(int64_t nt, int64_t k);
    void (*tile_acts)(const lli_q8 *xq, int64_t nt, int64_t k, void *xt);
    uint64_t (*unpacked_bytes)(int type, int64_t nr, int64_t k);
    /* F16 rows for attention over the KV cache. */
    float (*dot_f16)(const float *a, const uint16_t *b, int n);
    void (*axpy_f16)(float *y, float w, const uint16_t *x, int n); /* y += w * x */
    void (*to_f16)(const float *x, uint16_t *y, int n);
    void (*from_f16)(const uint16_t *x, float *y, int n);
    /* BF16 weights, where the CPU has AVX512_BF16 (avx512 level; NULL elsewhere): activations
     * rounded to BF16 once per product by to_bf16 (to nearest, ties to even), then multiplied as
     * pairs of BF16 (mm_bf16_bf16: x holds nt rows of k BF16 values, k apart); denormals, of
     * activations and weights alike, count as zero, as the instructions take them. mm[LLI_TT_BF16]
     * at that level gives the same outputs bit for bit from float activations, rounding them itself. */
    void (*to_bf16)(const float *x, uint16_t *y, int64_t n);
    void (*mm_bf16_bf16)(const uint8_t *w, uint64_t row_bytes, int64_t nr, const uint16_t *x, int64_t nt, int64_t k,
                         float *out, int64_t out_stride);
} lli_kernels;

/* The table in use: the highest level this CPU has, capped by the environment variable
 * LLI_CPU=scalar|avx2|avx512 (another value is ignored). Chosen once, on first use, by whichever
 * thread comes first (pthread_once); never changes afterwards. */
const lli_kernels *lli_cpu_kernels(void);
/* The table of a given level, or NULL when this CPU lacks it (tests and benchmarks compare levels). */
const lli_kernels *lli_cpu_kernels_at(int level);
/* The highest level this CPU has, ignoring LLI_CPU. */
int lli_cpu_best_level(void);
const char *lli_cpu_level_name(int level);

/* Shorthands through lli_cpu_kernels(). */
float lli_dot_f32_f16(const float *a, const uint16_t *b, int n);
void lli_axpy_f16(float *y, float w, const uint16_t *x, int n);
void lli_f32_to_f16_row(const float *x, uint16_t *y, int n);
void lli_f16_to_f32_row(const uint16_t *x, float *y, int n);
void lli_round_f16_row(const float *x, float *y, int n); /* y = float(half(x)) */

/* Scale and minimum of sub-block j (0..7) of a Q4_K / Q5_K super-block's 12 packed bytes. */
static inline void lli_k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* The 16 signed six-bit scales of a Q3_K super-block, packed in 12 bytes. */
static inline void lli_q3_k_scales(const uint8_t *s, int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
        int hi = (s[8 + (j % 4)] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | hi << 4) - 32);
    }
}

/* Weight layouts of the CPU backend (lli_tensor.layout).
 * LLI_LAYOUT_X8: each whole group of eight rows (rows 8g..8g+7; rows past the last whole group stay
 * as they are) holds its eight rows' blocks b side by side in one "group block" of eight blocks'
 * bytes, in block order; so the tensor keeps its size and a group's bytes their place. In a group
 * block, each row's scalar fields come first, element by element (eight half-precision d, ...;
 * the sub-block scales one sub-block at a time, eight rows to eight bytes), then the quants as
 * 32-bit words, word i of the eight rows side by side: a vector holds four consecutive bytes of
 * each row, one row per lane, and a product reads the group as one stream. Q4_0, Q4_1, Q5_0,
 * Q5_1 and Q2_K to Q6_K (quant.c has the exact places). */
enum { LLI_LAYOUT_ROWS = 0, LLI_LAYOUT_X8 = 1 };

/* 1 if the type has an X8 layout. */
int lli_cpu_has_x8(int type);
/* nr rows (row_bytes apart) of such a type rearranged in place to X8; 0, or -1 when the eight
 * rows' worth of scratch cannot be allocated (the rows are then unchanged). */
int lli_cpu_interleave_x8(int type, uint8_t *w, uint64_t row_bytes, int64_t nr);
/* The rows of X8 weights (nr rows from a group boundary) as they were, into out. */
void lli_cpu_deinterleave_x8(int type, const uint8_t *w, uint64_t row_bytes, int64_t nr, uint8_t *out);

/* out[t * out_stride + r] for nr rows of a block type in a layout and nt tokens of quantized
 * activations (group lli_cpu_act_group(type)) with table kt, by the tiled path where it has one:
 * what matmul.c does for one chunk, with its own scratch (tests). 0, or -1 when memory runs out. */
int lli_cpu_product(const lli_kernels *kt, int type, int layout, const uint8_t *w, uint64_t row_bytes, int64_t nr,
                    const lli_q8 *xq, int64_t nt, int64_t k, float *out, int64_t out_stride);

/* 1 if a product of nt tokens with type's weights in a layout takes kt's tiled path (mm_tiles or
 * mm_tiles_x8), 0 if mm or mm_x8 (X8 weights: below kt->tile_min_x8[type] tokens). */
static inline int lli_cpu_takes_tiles(const lli_kernels *kt, int type, int layout, int64_t nt) {
    return kt->mm_tiles[type] && nt >= (layout == LLI_LAYOUT_X8 ? kt->tile_min_x8[type] : LLI_TILE_MIN_TOKENS);
}

/* Filled by kernels/x86_*.c for their level. */
void lli_kernels_fill_avx2(lli_kernels *k);
void lli_kernels_fill_avx512(lli_kernels *k);
void lli_kernels_fill_avx512bf16(lli_kernels *k);

#endif
