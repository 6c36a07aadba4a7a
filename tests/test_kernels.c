/* The CPU kernels at every ISA level this CPU has, against float64 arithmetic on the scalar
 * reference's dequantization: activation quantization, every weight type's matrix product (odd
 * row and token counts, rows of any bit pattern, all-zero blocks and activations, extreme
 * scales), batch invariance (an output is the same whatever tile computes it), and the F16 rows
 * of attention. Levels the CPU lacks are skipped with a message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant.h"
#include "format/gguf_write.h"
#include "format/tensor_types.h"
#include "support/check.h"

static unsigned g_seed = 12345;
static unsigned next_rand(void) { return g_seed = g_seed * 1103515245u + 12345u; }
static float frand(void) { return (float)(next_rand() >> 8) / 16777216.0f - 0.5f; }

static const int k_types[] = {LLI_TT_F32, LLI_TT_F16, LLI_TT_BF16, LLI_TT_Q4_0, LLI_TT_Q4_1, LLI_TT_Q5_0, LLI_TT_Q5_1,
                              LLI_TT_Q8_0, LLI_TT_Q2_K, LLI_TT_Q3_K, LLI_TT_Q4_K, LLI_TT_Q5_K, LLI_TT_Q6_K};

static int is_float(int type) { return type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16; }

/* Offsets of a block's half-precision scale fields (to keep random blocks finite). */
static int scale_fields(int type, int off[2]) {
    switch (type) {
    case LLI_TT_Q8_0: case LLI_TT_Q4_0: case LLI_TT_Q5_0: off[0] = 0; return 1;
    case LLI_TT_Q4_1: case LLI_TT_Q5_1: case LLI_TT_Q4_K: case LLI_TT_Q5_K: off[0] = 0, off[1] = 2; return 2;
    case LLI_TT_Q6_K: off[0] = 208; return 1;
    case LLI_TT_Q3_K: off[0] = 108; return 1;
    case LLI_TT_Q2_K: off[0] = 80, off[1] = 82; return 2;
    default: return 0;
    }
}

/* nr rows of k elements: variant 0 the generator's values, 1 random bytes with finite scales of
 * magnitude `scale` (every bit pattern of the quants), with block 1 of row 2 all zero. */
static uint8_t *make_rows(int type, int64_t nr, int64_t k, int variant, float scale, uint64_t *row_bytes) {
    const lli_ttype_info *t = lli_ttype_by_id(type);
    uint64_t rb = lli_ttype_bytes(t, k, 1);
    uint8_t *w = malloc((size_t)(rb * (uint64_t)nr));
    if (variant == 0 || is_float(type)) {
        gguf_fill_random(w, rb * (uint64_t)nr, type, next_rand(), 0, variant ? scale : 0.05f);
    } else {
        for (uint64_t i = 0; i < rb * (uint64_t)nr; i++) w[i] = (uint8_t)(next_rand() >> 16);
        int off[2], nf = scale_fields(type, off);
        for (uint64_t b = 0; b < rb * (uint64_t)nr / t->block_bytes; b++)
            for (int f = 0; f < nf; f++) {
                uint16_t h = lli_f32_to_f16(scale * frand());
                memcpy(w + b * t->block_bytes + off[f], &h, 2);
            }
    }
    if (nr > 2) memset(w + 2 * rb + t->block_bytes, 0, t->block_bytes);
    *row_bytes = rb;
    return w;
}

static void check_quantize(const lli_kernels *kt, const lli_kernels *ref, const float *x, int64_t n, int group) {
    lli_q8 *q = malloc((size_t)(n / 32) * sizeof *q), *qr = malloc((size_t)(n / 32) * sizeof *qr);
    kt->quantize(x, q, n, group);
    ref->quantize(x, qr, n, group);
    for (int64_t g = 0; g < n / group; g++) {
        float amax = 0;
        for (int i = 0; i < group; i++) amax = fmaxf(amax, fabsf(x[g * group + i]));
        for (int64_t b = g * group / 32; b < (g + 1) * group / 32; b++) {
            int sum[2] = {0, 0};
            for (int i = 0; i < 32; i++) {
                sum[i / 16] += q[b].q[i];
                float back = q[b].d * q[b].q[i];
                CHECK(fabsf(back - x[b * 32 + i]) <= 0.51f * amax / 127.0f + 1e-3f * amax,
                      "%s group %d: block %lld value %d: %g vs %g", kt->name, group, (long long)b, i, (double)back,
                      (double)x[b * 32 + i]);
            }
            CHECK(fabsf(q[b].d - amax / 127.0f) <= 1e-3f * amax / 127.0f, "%s group %d: block %lld scale %g for amax %g",
                  kt->name, group, (long long)b, (double)q[b].d, (double)amax);
            CHECK(q[b].sum[0] == sum[0] && q[b].sum[1] == sum[1], "%s: block %lld half sums", kt->name, (long long)b);
            CHECK(!memcmp(q[b].q, qr[b].q, 32) && q[b].d == qr[b].d && !memcmp(q[b].sum, qr[b].sum, sizeof q[b].sum),
                  "%s group %d: block %lld differs from scalar", kt->name, group, (long long)b);
        }
    }
    free(q), free(qr);
}

/* An activation as the BF16 products see it where the kernels round activations to BF16
 * (AVX512_BF16): to nearest, ties to even, denormals to zero (as vcvtne2ps2bf16 does). */
static float round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!(u & 0x7f800000u)) u &= 0x80000000u;
    u = (u + 0x7fff + (u >> 16 & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* The X8 layout of the rows (quant.h): rearranged and put back they are the same bytes, and both
 * of its products (decode by mm_x8, the tiles by mm_tiles_x8) give out's bits. */
static void check_x8(const lli_kernels *kt, int type, const uint8_t *w, uint64_t rb, int64_t nr, int64_t nt, int64_t k,
                     const lli_q8 *xq, const float *out) {
    const char *tn = lli_ttype_by_id(type)->name;
    uint8_t *wx = malloc((size_t)(rb * (uint64_t)nr)), *back = malloc((size_t)(rb * (uint64_t)nr));
    float *o = malloc((size_t)(nr * nt) * sizeof *o);
    memcpy(wx, w, (size_t)(rb * (uint64_t)nr));
    CHECK(lli_cpu_interleave_x8(type, wx, rb, nr) == 0, "out of memory");
    CHECK(nr < 8 || memcmp(wx, w, (size_t)(8 * rb)), "%s x8: %lld rows unchanged", tn, (long long)nr);
    lli_cpu_deinterleave_x8(type, wx, rb, nr, back);
    CHECK(!memcmp(back, w, (size_t)(rb * (uint64_t)nr)), "%s x8: %lld rows of k %lld not restored", tn, (long long)nr,
          (long long)k);
    /* decode token by token, decode of all tokens at once (several tokens per pass), then the
     * product matmul runs (the tiles from kt->tile_min_x8[type] tokens) */
    static const char *const paths[] = {"by token", "decode", "product"};
    for (int path = 0; path < 3; path++) {
        for (int64_t i = 0; i < nr * nt; i++) o[i] = NAN;
        if (path == 0)
            for (int64_t t = 0; t < nt; t++) kt->mm_x8[type](wx, rb, nr, NULL, xq + t * (k / 32), 1, k, o + t * nr, nr);
        else if (path == 1) kt->mm_x8[type](wx, rb, nr, NULL, xq, nt, k, o, nr);
        else CHECK(lli_cpu_product(kt, type, LLI_LAYOUT_X8, wx, rb, nr, xq, nt, k, o, nr) == 0, "out of memory");
        int unequal = 0;
        for (int64_t i = 0; i < nr * nt; i++)
            if (memcmp(&o[i], &out[i], sizeof *o) && unequal++ < 3)
                fprintf(stderr, "  %s %s x8 (%s) row %lld token %lld: %.9g, rows %.9g\n", kt->name, tn, paths[path],
                        (long long)(i % nr), (long long)(i / nr), (double)o[i], (double)out[i]);
        CHECK(!unequal, "%s %s x8 (%lld x %lld, k %lld, %s): %d outputs differ from the rows'", kt->name, tn, (long long)nr,
              (long long)nt, (long long)k, paths[path], unequal);
    }
    free(wx), free(back), free(o);
}

/* Every output of one product against float64, and each equal to the same output computed alone;
 * the product of all tokens at once (the tiled path where the level has one, for four tokens or
 * more) equal to the decode path's, token by token. The float64 reference takes the activations the kernel multiplies: q8 blocks for block types,
 * BF16-rounded values for BF16 where the table rounds them (kt->to_bf16): that rounding changes an
 * output by far more than the tolerance, and is the kernel's documented input, not its error. */
static void check_product(const lli_kernels *kt, int type, int64_t nr, int64_t nt, int64_t k, int variant, float wscale,
                          const float *x, const lli_q8 *xq) {
    const lli_ttype_info *ti = lli_ttype_by_id(type);
    uint64_t rb;
    uint8_t *w = make_rows(type, nr, k, variant, wscale, &rb);
    float *out = malloc((size_t)(nr * nt) * sizeof *out), *deq = malloc((size_t)k * sizeof *deq);
    for (int64_t i = 0; i < nr * nt; i++) out[i] = NAN;
    if (is_float(type)) kt->mm[type](w, rb, nr, x, xq, nt, k, out, nr);
    else CHECK(lli_cpu_product(kt, type, LLI_LAYOUT_ROWS, w, rb, nr, xq, nt, k, out, nr) == 0, "out of memory");
    if (!is_float(type) && kt->mm_x8[type]) check_x8(kt, type, w, rb, nr, nt, k, xq, out);
    int bad = 0, unequal = 0;
    for (int64_t r = 0; r < nr; r++) {
        lli_dequant_row(type, w + (uint64_t)r * rb, deq, k);
        for (int64_t t = 0; t < nt; t++) {
            double want = 0, scale = 0;
            for (int64_t i = 0; i < k; i++) {
                double a = !is_float(type) ? (double)xq[t * (k / 32) + i / 32].d * xq[t * (k / 32) + i / 32].q[i % 32]
                           : type == LLI_TT_BF16 && kt->to_bf16 ? round_bf16(x[t * k + i])
                                                                : x[t * k + i];
                want += (double)deq[i] * a;
                scale += fabs((double)deq[i] * a);
            }
            float got = out[t * nr + r], alone = NAN;
            kt->mm[type](w + (uint64_t)r * rb, rb, 1, x + t * k, xq + t * (k / 32), 1, k, &alone, 1);
            if (!(isfinite(got) && fabs(got - want) <= 2e-5 * scale + 1e-30) && bad++ < 3)
                fprintf(stderr, "  %s %s k=%lld variant %d row %lld token %lld: %.9g, float64 %.9g (scale %g)\n", kt->name,
                        ti->name, (long long)k, variant, (long long)r, (long long)t, (double)got, want, scale);
            if (memcmp(&got, &alone, sizeof got) && unequal++ < 3)
                fprintf(stderr, "  %s %s row %lld token %lld: %.9g in a tile, %.9g alone\n", kt->name, ti->name, (long long)r,
                        (long long)t, (double)got, (double)alone);
        }
    }
    if (type == LLI_TT_BF16 && kt->mm_bf16_bf16) { /* the BF16-activation product: the same bits */
        uint16_t *xb = malloc((size_t)(nt * k) * sizeof *xb);
        float *out2 = malloc((size_t)(nr * nt) * sizeof *out2);
        kt->to_bf16(x, xb, nt * k);
        for (int64_t i = 0; i < nt * k; i++) {
            float f = round_bf16(x[i]);
            uint32_t u;
            memcpy(&u, &f, 4);
            uint16_t want = (uint16_t)(u >> 16);
            if (xb[i] != want && bad++ < 3) fprintf(stderr, "  %s to_bf16 of %.9g: %04x, want %04x\n", kt->name, (double)x[i], xb[i], want);
        }
        kt->mm_bf16_bf16(w, rb, nr, xb, nt, k, out2, nr);
        if (memcmp(out, out2, (size_t)(nr * nt) * sizeof *out) && unequal++ < 3)
            fprintf(stderr, "  %s %s: products from BF16 activations differ\n", kt->name, ti->name);
        free(xb), free(out2);
    }
    CHECK(!bad, "%s %s (%lld x %lld, k %lld, variant %d): %d outputs off float64", kt->name, ti->name, (long long)nr,
          (long long)nt, (long long)k, variant, bad);
    CHECK(!unequal, "%s %s: %d outputs differ between a tile and alone", kt->name, ti->name, unequal);
    free(w), free(out), free(deq);
}

int main(void) {
    const int64_t k = 768, nt = 21, kmax = 1024;
    float *x = malloc((size_t)(nt * kmax) * sizeof *x);
    lli_q8 *xq = malloc((size_t)(nt * kmax / 32) * sizeof *xq);
    const lli_kernels *ref = lli_cpu_kernels_at(LLI_CPU_SCALAR);
    CHECK(ref && lli_cpu_kernels() && lli_cpu_kernels()->level <= lli_cpu_best_level(), "no scalar table");
    printf("CPU level: %s (in use: %s)\n", lli_cpu_level_name(lli_cpu_best_level()), lli_cpu_kernels()->name);
    for (int level = 0; level < LLI_CPU_LEVELS; level++) {
        const lli_kernels *kt = lli_cpu_kernels_at(level);
        if (!kt) {
            printf("level %s: skipped, this CPU lacks it\n", lli_cpu_level_name(level));
            continue;
        }
        printf("level %s\n", kt->name);
        CHECK(kt->level == level && !strcmp(kt->name, lli_cpu_level_name(level)), "table of level %d", level);
        for (int64_t i = 0; i < nt * kmax; i++) x[i] = frand() * (i % 97 == 0 ? 40.0f : 2.0f); /* a few outliers */
        for (int64_t i = 0; i < kmax; i++) x[3 * kmax + i] *= 30.0f, x[4 * kmax + i] *= 1e-2f; /* extremes that q8 blocks' half-precision scales hold */
        check_quantize(kt, ref, x, nt * kmax, 32);
        check_quantize(kt, ref, x, nt * kmax / 256 * 256, 256);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            int type = k_types[ti];
            CHECK(kt->mm[type] != NULL, "%s has no product for type %d", kt->name, type);
            if (!kt->mm[type]) continue;
            /* an all-zero activation row, then the q8 blocks of this k */
            memset(x + 5 * k, 0, (size_t)k * sizeof *x);
            kt->quantize(x, xq, nt * k, lli_cpu_act_group(type));
            check_product(kt, type, 7, 7, k, 0, 0.05f, x, xq);
            check_product(kt, type, 19, nt, k, 0, 0.05f, x, xq);
            check_product(kt, type, 9, 5, k, 1, 1e3f, x, xq);
            check_product(kt, type, 3, 6, k, 1, 1e-3f, x, xq);
            check_product(kt, type, 1, 1, k, 1, 1.0f, x, xq);
            /* the decode path over several rows (fewer than four tokens), against one row alone */
            check_product(kt, type, 9, 2, k, 0, 0.05f, x, xq);
            /* float types: a length that is not a multiple of any vector width */
            if (is_float(type)) check_product(kt, type, 5, nt, 776, 1, 1.0f, x, xq);
        }
        /* K-quant rows of one, two and four super-blocks, which decode several rows to a vector */
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            const int type = k_types[ti];
            if (lli_ttype_by_id(type)->block != 256) continue;
            for (int64_t ks = 256; ks <= 1024; ks *= 2) {
                kt->quantize(x, xq, nt * ks, 256);
                check_product(kt, type, 11, 3, ks, 0, 0.05f, x, xq);
                check_product(kt, type, 5, nt, ks, 1, 1.0f, x, xq);
            }
        }
        /* K-quant and Q8_0 rows longer than the decode products' buffers of activation sums
         * (2048 blocks of 32), which they then take in pieces. */
        {
            const int64_t kl = 8192 * 32 + 256;
            float *xl = malloc((size_t)kl * sizeof *xl);
            lli_q8 *ql = malloc((size_t)(kl / 32) * sizeof *ql);
            for (int64_t i = 0; i < kl; i++) xl[i] = frand();
            kt->quantize(xl, ql, kl, 256);
            check_product(kt, LLI_TT_Q4_K, 2, 1, kl, 0, 0.05f, xl, ql);
            kt->quantize(xl, ql, kl, 32);
            check_product(kt, LLI_TT_Q8_0, 2, 1, kl, 0, 0.05f, xl, ql);
            free(xl), free(ql);
        }
        /* F16 rows: conversion matches the reference bit for bit, dot / axpy agree with float64. */
        uint16_t h[100], hr[100];
        float back[100], y[100], y_ref[100], f[100];
        kt->to_f16(x, h, 100);
        ref->to_f16(x, hr, 100);
        kt->from_f16(h, f, 100);
        for (int i = 0; i < 100; i++) {
            CHECK(h[i] == hr[i] && h[i] == lli_f32_to_f16(x[i]), "%s: f16 conversion of %g", kt->name, (double)x[i]);
            back[i] = lli_f16_to_f32(h[i]);
            CHECK(f[i] == back[i], "%s: f16 to f32 of %04x", kt->name, h[i]);
            y[i] = y_ref[i] = x[200 + i];
        }
        if (kt->to_bf16) { /* BF16 rounding: ties both ways, denormals, the largest finite, a partial vector */
            const float v[] = {1.00390625f, 1.01171875f, -1.00390625f, 1e-39f, -3e-40f, 1.17549435e-38f, 3.4028235e38f,
                               0.0f, -0.0f, 1.0f / 3.0f, 65504.0f, -7.5e-20f};
            const int nv = (int)(sizeof v / sizeof v[0]);
            uint16_t b[sizeof v / sizeof v[0]];
            kt->to_bf16(v, b, nv);
            for (int i = 0; i < nv; i++) {
                float f = round_bf16(v[i]);
                uint32_t u;
                memcpy(&u, &f, 4);
                CHECK(b[i] == (uint16_t)(u >> 16), "%s: to_bf16 of %g: %04x, want %04x", kt->name, (double)v[i], b[i],
                      (unsigned)(u >> 16));
            }
        }
        double d = 0;
        for (int i = 0; i < 100; i++) d += (double)x[100 + i] * back[i];
        CHECK(fabs(kt->dot_f16(x + 100, h, 100) - d) <= 1e-4 * fabs(d) + 1e-4, "%s: f16 dot", kt->name);
        kt->axpy_f16(y, 0.5f, h, 100);
        for (int i = 0; i < 100; i++) CHECK(fabsf(y[i] - (y_ref[i] + 0.5f * back[i])) <= 1e-5f, "%s: axpy element %d", kt->name, i);
    }
    free(x);
    free(xq);
    return check_summary();
}
