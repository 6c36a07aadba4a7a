/* Weight-type kernels of the CPU backend: dequantization of every supported block type (the
 * reference), activations quantized to 8 bits, and dot products of a weight row with them. */
#ifndef LLI_CPU_QUANT_H
#define LLI_CPU_QUANT_H

#include <stdint.h>

/* Activations in blocks of 32: scale, scale times the sum of the quants, and the quants. */
typedef struct lli_q8 {
    float d, s;
    int8_t q[32];
} lli_q8;

float lli_f16_to_f32(uint16_t h);
uint16_t lli_f32_to_f16(float f);

/* 1 if the type has a kernel here. */
int lli_cpu_type_supported(int type);

/* Row of n elements (n a multiple of the block) to floats. */
void lli_dequant_row(int type, const void *row, float *out, int64_t n);
/* n a multiple of 32. */
void lli_quantize_q8(const float *x, lli_q8 *out, int64_t n);
/* Dot product of a weight row with activations given both as floats and as q8 blocks; the fast
 * paths use q8, the others the floats. */
float lli_vec_dot(int type, const void *row, const float *x, const lli_q8 *xq, int64_t n);

/* F16 rows for attention over the KV cache. */
float lli_dot_f32_f16(const float *a, const uint16_t *b, int n);
void lli_axpy_f16(float *y, float w, const uint16_t *x, int n); /* y += w * x */
void lli_f32_to_f16_row(const float *x, uint16_t *y, int n);
void lli_f16_to_f32_row(const uint16_t *x, float *y, int n);
void lli_round_f16_row(const float *x, float *y, int n);         /* y = float(half(x)) */

/* Four dot products of one weight row with four activation rows (xq[0..3], x[0..3]) at once, so
 * that each weight block is loaded and unpacked once for all four. */
void lli_vec_dot4(int type, const void *row, const float *const x[4], const lli_q8 *const xq[4], int64_t n, float out[4]);

/* Eight dot products: two weight rows with the same four q8 activation rows, each exactly
 * lli_vec_dot4's result. Only for types where lli_vec_dot2x4_supported() (this CPU has the kernel). */
int lli_vec_dot2x4_supported(int type);
void lli_vec_dot2x4(int type, const void *row0, const void *row1, const lli_q8 *const xq[4], int64_t n, float out0[4],
                    float out1[4]);

/* Pick the SIMD paths for this CPU; called once by the backend. */
void lli_quant_init(void);
const char *lli_quant_simd_name(void);

#endif
