/* The CPU kernels against independent float64 arithmetic on fresh random data: activation
 * quantization, every weight type's dot product (single and four-row), and the F16 attention rows.
 * Whatever SIMD path this machine selects is the one under test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant.h"
#include "format/gguf_write.h"
#include "support/check.h"
#include "format/tensor_types.h"

static double ref_dot(int type, const void *row, const lli_q8 *xq, const float *x, int64_t n, int use_q8) {
    float *w = malloc((size_t)n * sizeof *w);
    lli_dequant_row(type, row, w, n);
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)w[i] * (use_q8 ? (double)xq[i / 32].d * xq[i / 32].q[i % 32] : x[i]);
    free(w);
    return acc;
}

int main(void) {
    lli_quant_init();
    printf("SIMD path: %s\n", lli_quant_simd_name());
    const int64_t n = 1024;
    float *x = malloc(4 * n * sizeof *x);
    lli_q8 *xq = malloc(4 * (n / 32) * sizeof *xq);
    unsigned seed = 12345;
    for (int64_t i = 0; i < 4 * n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (i % 97 == 0 ? 40.0f : 2.0f); /* a few outliers */
    }
    lli_quantize_q8(x, xq, 4 * n);
    /* Quantization: |q| <= 127, the scale is amax/127 at half precision, each value within half a step. */
    for (int64_t b = 0; b < 4 * n / 32; b++) {
        float amax = 0;
        int sum = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        for (int i = 0; i < 32; i++) {
            sum += xq[b].q[i];
            float back = xq[b].d * xq[b].q[i];
            CHECK(fabsf(back - x[b * 32 + i]) <= 0.51f * amax / 127.0f + 1e-3f * amax, "block %lld value %d: %g vs %g",
                  (long long)b, i, (double)back, (double)x[b * 32 + i]);
        }
        CHECK(fabsf(xq[b].d - amax / 127.0f) <= 1e-3f * amax / 127.0f, "block %lld scale %g for amax %g", (long long)b,
              (double)xq[b].d, (double)amax);
        CHECK(fabsf(xq[b].s - xq[b].d * (float)sum) <= 1e-3f * fabsf(xq[b].d * (float)sum) + 1e-6f, "block %lld sum", (long long)b);
    }
    static const int types[] = {LLI_TT_F32, LLI_TT_F16, LLI_TT_BF16, LLI_TT_Q4_0, LLI_TT_Q4_1, LLI_TT_Q5_0, LLI_TT_Q5_1,
                                LLI_TT_Q8_0, LLI_TT_Q2_K, LLI_TT_Q3_K, LLI_TT_Q4_K, LLI_TT_Q5_K, LLI_TT_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const lli_ttype_info *t = lli_ttype_by_id(types[k]);
        uint64_t bytes = lli_ttype_bytes(t, n, 1);
        uint8_t *row = malloc((size_t)bytes);
        gguf_fill_random(row, bytes, types[k], 7 + k, 0, 0.05f);
        float *deq = malloc((size_t)n * sizeof *deq);
        lli_dequant_row(types[k], row, deq, n);
        int finite = 1;
        for (int64_t i = 0; i < n; i++) finite &= isfinite(deq[i]);
        CHECK(finite, "%s dequantizes to a non-finite value", t->name);
        /* The fast paths use the q8 activations; the others the floats. */
        int q8 = types[k] == LLI_TT_Q8_0 || types[k] == LLI_TT_Q4_0 || types[k] == LLI_TT_Q4_1 || types[k] == LLI_TT_Q4_K ||
                 types[k] == LLI_TT_Q6_K;
        double want = ref_dot(types[k], row, xq, x, n, q8), scale = 0;
        for (int64_t i = 0; i < n; i++) scale += fabs((double)deq[i] * x[i]);
        float got = lli_vec_dot(types[k], row, x, xq, n);
        CHECK(isfinite(got) && fabs(got - want) <= 1e-4 * scale + 1e-6, "%s dot: %g, float64 %g (scale %g)", t->name,
              (double)got, want, scale);
        const float *x4[4] = {x, x + n, x + 2 * n, x + 3 * n};
        const lli_q8 *q4[4] = {xq, xq + n / 32, xq + 2 * n / 32, xq + 3 * n / 32};
        float out[4] = {NAN, NAN, NAN, NAN};
        lli_vec_dot4(types[k], row, x4, q4, n, out);
        for (int r = 0; r < 4; r++) {
            double w4 = ref_dot(types[k], row, q4[r], x4[r], n, q8);
            CHECK(isfinite(out[r]) && fabs(out[r] - w4) <= 1e-4 * scale * 3 + 1e-6, "%s dot4 row %d: %g vs %g", t->name, r,
                  (double)out[r], w4);
        }
        /* Two rows at once: where the kernel exists, exactly the one-row kernel's numbers. */
        uint8_t *rows2 = malloc((size_t)bytes * 2);
        memcpy(rows2, row, (size_t)bytes);
        gguf_fill_random(rows2 + bytes, bytes, types[k], 70 + k, 0, 0.05f);
        float o0[4] = {NAN, NAN, NAN, NAN}, o1[4] = {NAN, NAN, NAN, NAN}, w1[4];
        if (lli_vec_dot2x4_supported(types[k])) {
            lli_vec_dot2x4(types[k], rows2, rows2 + bytes, q4, n, o0, o1);
            lli_vec_dot4(types[k], rows2 + bytes, x4, q4, n, w1);
            for (int r = 0; r < 4; r++)
                CHECK(o0[r] == out[r] && o1[r] == w1[r], "%s dot2x4 row %d: %g %g vs dot4 %g %g", t->name, r,
                      (double)o0[r], (double)o1[r], (double)out[r], (double)w1[r]);
        } else {
            CHECK(!(q8 && types[k] != LLI_TT_Q4_K && types[k] != LLI_TT_Q6_K && strcmp(lli_quant_simd_name(), "avx2") == 0),
                  "%s has no two-row kernel on AVX2", t->name);
        }
        free(rows2);
        free(row);
        free(deq);
    }
    /* F16 rows: conversion round-trips, and dot / axpy agree with float64. */
    uint16_t h[100];
    float back[100], y[100], y_ref[100];
    lli_f32_to_f16_row(x, h, 100);
    for (int i = 0; i < 100; i++) {
        CHECK(h[i] == lli_f32_to_f16(x[i]), "f16 conversion of %g differs between paths", (double)x[i]);
        back[i] = lli_f16_to_f32(h[i]);
        y[i] = y_ref[i] = x[200 + i];
    }
    double d = 0;
    for (int i = 0; i < 100; i++) d += (double)x[100 + i] * back[i];
    CHECK(fabs(lli_dot_f32_f16(x + 100, h, 100) - d) <= 1e-4 * fabs(d) + 1e-4, "f16 dot");
    lli_axpy_f16(y, 0.5f, h, 100);
    for (int i = 0; i < 100; i++) CHECK(fabsf(y[i] - (y_ref[i] + 0.5f * back[i])) <= 1e-5f, "axpy element %d", i);
    free(x);
    free(xq);
    return check_summary();
}
