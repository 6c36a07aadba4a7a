// Device-side reading of the GGUF block types, 32 elements (a "chunk") at a time: to floats for every
// type (src/backend/cpu/quant.c's dequant_block is the reference), and to packed int8 values with their
// scales for the types whose CPU kernels multiply 8-bit activations, so that both backends round
// the same way (integer sums of q8 blocks, scaled in the same order).
#ifndef LLI_CUDA_QUANT_CUH
#define LLI_CUDA_QUANT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

extern "C" {
#include "format/tensor_types.h"
}

namespace lli_cuda {

// 8-bit activations on the device, in blocks of 32: scale, scale times the sum of the quants, quants.
// (The GPU's own layout; the CPU's lli_q8 keeps integer half sums for its integer arithmetic.)
struct q8b {
    float d, s;
    int8_t q[32];
};
static_assert(sizeof(q8b) == 40, "q8b: 40 bytes per block of 32");

__device__ __forceinline__ float f16_at(const uint8_t *p) {
    return __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t *>(p)));
}
__device__ __forceinline__ float bf16_at(const uint8_t *p) {
    return __uint_as_float(static_cast<uint32_t>(*reinterpret_cast<const uint16_t *>(p)) << 16);
}
// Four bytes from a 2-byte aligned address (Q8_0, Q4_0 and Q6_K blocks are only that aligned).
__device__ __forceinline__ uint32_t ld32_a2(const uint8_t *p) {
    const uint16_t *h = reinterpret_cast<const uint16_t *>(p);
    return static_cast<uint32_t>(h[0]) | static_cast<uint32_t>(h[1]) << 16;
}
__device__ __forceinline__ uint32_t ld32_a4(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

__device__ __forceinline__ void k_scale_min(int j, const uint8_t *q, int &sc, int &m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

template <int T> struct type_traits;
#define LLI_TRAITS(T, BLK, BYTES)                                                                          \
    template <> struct type_traits<T> {                                                                    \
        static constexpr int block = BLK, bytes = BYTES;                                                   \
    };
LLI_TRAITS(LLI_TT_F32, 1, 4)
LLI_TRAITS(LLI_TT_F16, 1, 2)
LLI_TRAITS(LLI_TT_BF16, 1, 2)
LLI_TRAITS(LLI_TT_Q4_0, 32, 18)
LLI_TRAITS(LLI_TT_Q4_1, 32, 20)
LLI_TRAITS(LLI_TT_Q5_0, 32, 22)
LLI_TRAITS(LLI_TT_Q5_1, 32, 24)
LLI_TRAITS(LLI_TT_Q8_0, 32, 34)
LLI_TRAITS(LLI_TT_Q2_K, 256, 84)
LLI_TRAITS(LLI_TT_Q3_K, 256, 110)
LLI_TRAITS(LLI_TT_Q4_K, 256, 144)
LLI_TRAITS(LLI_TT_Q5_K, 256, 176)
LLI_TRAITS(LLI_TT_Q6_K, 256, 210)
#undef LLI_TRAITS

// Chunk c (elements [32c, 32c + 32)) of a row of `in` elements, as floats. Float types may end in a
// partial chunk: elements at or past `in` read as 0.
template <int T> __device__ __forceinline__ void dequant_chunk(const uint8_t *row, int64_t c, int64_t in, float *y) {
    constexpr int BLK = type_traits<T>::block, BYTES = type_traits<T>::bytes;
    if constexpr (T == LLI_TT_F32 || T == LLI_TT_F16 || T == LLI_TT_BF16) {
#pragma unroll
        for (int e = 0; e < 32; e++) {
            int64_t i = 32 * c + e;
            const uint8_t *p = row + i * BYTES;
            y[e] = i >= in ? 0.0f
                   : T == LLI_TT_F32 ? *reinterpret_cast<const float *>(p)
                   : T == LLI_TT_F16 ? f16_at(p)
                                     : bf16_at(p);
        }
    } else if constexpr (BLK == 32) {
        const uint8_t *b = row + c * BYTES;
        float d = f16_at(b);
        if constexpr (T == LLI_TT_Q8_0) {
#pragma unroll
            for (int e = 0; e < 32; e++) y[e] = d * static_cast<int8_t>(b[2 + e]);
        } else if constexpr (T == LLI_TT_Q4_0) {
#pragma unroll
            for (int i = 0; i < 16; i++) y[i] = d * ((b[2 + i] & 0xf) - 8), y[i + 16] = d * ((b[2 + i] >> 4) - 8);
        } else if constexpr (T == LLI_TT_Q4_1) {
            float m = f16_at(b + 2);
#pragma unroll
            for (int i = 0; i < 16; i++) y[i] = d * (b[4 + i] & 0xf) + m, y[i + 16] = d * (b[4 + i] >> 4) + m;
        } else {  // Q5_0, Q5_1
            constexpr int has_m = T == LLI_TT_Q5_1, off = has_m ? 0 : 16;
            float m = has_m ? f16_at(b + 2) : 0.0f;
            const uint8_t *h = b + 2 + 2 * has_m;
            uint32_t qh = h[0] | h[1] << 8 | h[2] << 16 | static_cast<uint32_t>(h[3]) << 24;
            const uint8_t *qs = b + 6 + 2 * has_m;
#pragma unroll
            for (int i = 0; i < 16; i++) {
                int lo = (qs[i] & 0xf) | static_cast<int>((qh >> i) & 1) << 4;
                int hi = (qs[i] >> 4) | static_cast<int>((qh >> (i + 16)) & 1) << 4;
                y[i] = d * (lo - off) + m;
                y[i + 16] = d * (hi - off) + m;
            }
        }
    } else {
        const uint8_t *b = row + (c / 8) * BYTES;
        const int j = static_cast<int>(c % 8);  // chunk within the 256-element block
        if constexpr (T == LLI_TT_Q4_K || T == LLI_TT_Q5_K) {
            constexpr bool five = T == LLI_TT_Q5_K;
            float d = f16_at(b), dmin = f16_at(b + 2);
            int sc, m;
            k_scale_min(j, b + 4, sc, m);
            const uint8_t *qh = b + 16, *qs = b + 16 + (five ? 32 : 0) + 32 * (j / 2);
            const float ds = d * sc, dm = dmin * m;
#pragma unroll
            for (int l = 0; l < 32; l++) {
                int q = j & 1 ? qs[l] >> 4 : qs[l] & 0xf;
                if (five) q += ((qh[l] >> j) & 1) << 4;
                y[l] = ds * q - dm;
            }
        } else if constexpr (T == LLI_TT_Q6_K) {
            const int half = j / 4, g = j % 4;
            const uint8_t *ql = b + 64 * half + (g & 1) * 32, *qh = b + 128 + 32 * half;
            const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192) + 8 * half + 2 * g;
            float d = f16_at(b + 208);
#pragma unroll
            for (int l = 0; l < 32; l++) {
                int nib = g < 2 ? ql[l] & 0xf : ql[l] >> 4;
                int q = (nib | ((qh[l] >> (2 * g)) & 3) << 4) - 32;
                y[l] = d * sc[l / 16] * q;
            }
        } else if constexpr (T == LLI_TT_Q2_K) {
            const uint8_t *sc = b, *q = b + 16 + 32 * (j / 4);
            const int shift = 2 * (j % 4);
            float d = f16_at(b + 80), dmin = f16_at(b + 82);
#pragma unroll
            for (int e = 0; e < 32; e++) {
                int s = sc[2 * j + e / 16];
                y[e] = d * (s & 0xf) * ((q[e] >> shift) & 3) - dmin * (s >> 4);
            }
        } else if constexpr (T == LLI_TT_Q3_K) {
            const uint8_t *hm = b, *q = b + 32 + 32 * (j / 4), *s = b + 96;
            const int shift = 2 * (j % 4);
            const uint8_t mask = static_cast<uint8_t>(1u << j);
            float d_all = f16_at(b + 108);
            float dl[2];
#pragma unroll
            for (int k = 0; k < 2; k++) {
                int idx = 2 * j + k;
                int lo = idx < 8 ? (s[idx] & 0xf) : (s[idx - 8] >> 4);
                int hi = (s[8 + (idx % 4)] >> (2 * (idx / 4))) & 3;
                dl[k] = d_all * ((lo | hi << 4) - 32);
            }
#pragma unroll
            for (int e = 0; e < 32; e++) y[e] = dl[e / 16] * (((q[e] >> shift) & 3) - ((hm[e] & mask) ? 0 : 4));
        }
    }
}

// A chunk of a type with 8-bit-activation kernels: 32 signed 8-bit values packed four to a word,
// and its scales.
struct wchunk {
    int q[8];
    float d, m;
    int sc0, sc1;
};

template <int T> __device__ __forceinline__ void load_q8_chunk(const uint8_t *row, int64_t c, wchunk &w) {
    constexpr int BYTES = type_traits<T>::bytes;
    if constexpr (T == LLI_TT_Q8_0) {
        const uint8_t *b = row + c * BYTES;
        w.d = f16_at(b);
#pragma unroll
        for (int k = 0; k < 8; k++) w.q[k] = static_cast<int>(ld32_a2(b + 2 + 4 * k));
    } else if constexpr (T == LLI_TT_Q4_0) {
        const uint8_t *b = row + c * BYTES;
        w.d = f16_at(b);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            uint32_t v = ld32_a2(b + 2 + 4 * k);
            w.q[k] = static_cast<int>(__vsub4(v & 0x0f0f0f0fu, 0x08080808u));
            w.q[k + 4] = static_cast<int>(__vsub4((v >> 4) & 0x0f0f0f0fu, 0x08080808u));
        }
    } else if constexpr (T == LLI_TT_Q4_1) {
        const uint8_t *b = row + c * BYTES;
        w.d = f16_at(b);
        w.m = f16_at(b + 2);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            uint32_t v = ld32_a4(b + 4 + 4 * k);
            w.q[k] = static_cast<int>(v & 0x0f0f0f0fu);
            w.q[k + 4] = static_cast<int>((v >> 4) & 0x0f0f0f0fu);
        }
    } else if constexpr (T == LLI_TT_Q4_K) {
        const uint8_t *b = row + (c / 8) * BYTES;
        const int j = static_cast<int>(c % 8);
        w.d = f16_at(b);
        w.m = f16_at(b + 2);
        k_scale_min(j, b + 4, w.sc0, w.sc1);
        const uint8_t *qs = b + 16 + 32 * (j / 2);
        const int shift = 4 * (j & 1);
#pragma unroll
        for (int k = 0; k < 8; k++) w.q[k] = static_cast<int>((ld32_a4(qs + 4 * k) >> shift) & 0x0f0f0f0fu);
    } else if constexpr (T == LLI_TT_Q6_K) {
        const uint8_t *b = row + (c / 8) * BYTES;
        const int j = static_cast<int>(c % 8), half = j / 4, g = j % 4;
        const uint8_t *ql = b + 64 * half + (g & 1) * 32, *qh = b + 128 + 32 * half;
        const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192) + 8 * half + 2 * g;
        w.d = f16_at(b + 208);
        w.sc0 = sc[0];
        w.sc1 = sc[1];
        const int nshift = g < 2 ? 0 : 4;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            uint32_t lo = (ld32_a2(ql + 4 * k) >> nshift) & 0x0f0f0f0fu;
            uint32_t hi = ((ld32_a2(qh + 4 * k) >> (2 * g)) & 0x03030303u) << 4;
            w.q[k] = static_cast<int>(__vsub4(lo | hi, 0x20202020u));
        }
    }
}

// The chunk's share of a dot product with one 8-bit activation block, in the CPU kernels' order of
// scaling (src/backend/cpu/quant.c, dot_*_ref).
template <int T> __device__ __forceinline__ float dot_q8_chunk(const wchunk &w, const q8b *x) {
    const int *xq = reinterpret_cast<const int *>(x->q);
    int s0 = 0, s1 = 0;
#pragma unroll
    for (int k = 0; k < 4; k++) s0 = __dp4a(w.q[k], xq[k], s0);
#pragma unroll
    for (int k = 4; k < 8; k++) s1 = __dp4a(w.q[k], xq[k], s1);
    if constexpr (T == LLI_TT_Q8_0 || T == LLI_TT_Q4_0) return w.d * x->d * static_cast<float>(s0 + s1);
    else if constexpr (T == LLI_TT_Q4_1) return w.d * x->d * static_cast<float>(s0 + s1) + w.m * x->s;
    else if constexpr (T == LLI_TT_Q4_K) return w.d * (w.sc0 * x->d * static_cast<float>(s0 + s1)) - w.m * (w.sc1 * x->s);
    else return w.d * x->d * static_cast<float>(w.sc0 * s0 + w.sc1 * s1);  // Q6_K
}

}  // namespace lli_cuda

// Calls MACRO(type) for the type id `t` in a switch; `fallback` for unknown types.
#define LLI_CUDA_TYPE_SWITCH(t, MACRO, fallback)                                                            \
    switch (t) {                                                                                            \
    case LLI_TT_F32: MACRO(LLI_TT_F32); break;                                                              \
    case LLI_TT_F16: MACRO(LLI_TT_F16); break;                                                              \
    case LLI_TT_BF16: MACRO(LLI_TT_BF16); break;                                                            \
    case LLI_TT_Q4_0: MACRO(LLI_TT_Q4_0); break;                                                            \
    case LLI_TT_Q4_1: MACRO(LLI_TT_Q4_1); break;                                                            \
    case LLI_TT_Q5_0: MACRO(LLI_TT_Q5_0); break;                                                            \
    case LLI_TT_Q5_1: MACRO(LLI_TT_Q5_1); break;                                                            \
    case LLI_TT_Q8_0: MACRO(LLI_TT_Q8_0); break;                                                            \
    case LLI_TT_Q2_K: MACRO(LLI_TT_Q2_K); break;                                                            \
    case LLI_TT_Q3_K: MACRO(LLI_TT_Q3_K); break;                                                            \
    case LLI_TT_Q4_K: MACRO(LLI_TT_Q4_K); break;                                                            \
    case LLI_TT_Q5_K: MACRO(LLI_TT_Q5_K); break;                                                            \
    case LLI_TT_Q6_K: MACRO(LLI_TT_Q6_K); break;                                                            \
    default: fallback;                                                                                      \
    }

#endif
