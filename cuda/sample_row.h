/* The sampler's selection logic for one row of logits, written once for both the CUDA kernel
 * (sample.cu: a block of threads per row, with block-wide reductions) and the host (one "thread",
 * identity reductions), so that tests/gpu/test_launch.c checks the same decisions on a machine
 * without a GPU. Plain C that nvcc also compiles as device code.
 *
 * Rules (lli_cuda_sample in sample.h states them for callers):
 * - greedy when temperature <= 0 or top_k == 1: the largest logit, the lowest index among equals;
 * - NaN logits are never chosen and weigh nothing (a row of NaN only gives -1);
 * - weights are exp((x - max) / temperature), and exactly 1 for logits equal to the maximum, so a
 *   +inf logit takes all the mass (ties among +inf share it) and a row of -inf is uniform;
 * - top_k keeps the logits at or above the k-th largest (ties kept); top_p then keeps the largest
 *   logits down to the smallest threshold whose mass reaches top_p of the rest, never less than the
 *   largest logit (top_p <= 0: only the largest; top_p >= 1: all);
 * - the token is where u * (kept mass) falls in the kept tokens' cumulative mass in index order; if
 *   rounding puts it past the end, the last kept token with weight. */
#ifndef LLI_CUDA_SAMPLE_ROW_H
#define LLI_CUDA_SAMPLE_ROW_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define LLI_SR static __device__ __forceinline__
#else
#define LLI_SR static inline
#endif

/* Order-preserving unsigned key of a logit: larger logits have larger keys; every number has a key
 * of at least 1 (-inf: 0x007fffff), NaN has 0. */
LLI_SR uint32_t lli_sr_key(float f) {
    if (f != f) return 0;
#ifdef __CUDA_ARCH__
    uint32_t u = __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
#endif
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* A logit's unnormalized probability; 0 for NaN, 1 at the maximum. */
LLI_SR float lli_sr_weight(float x, float mx, float inv_t) {
    if (x != x) return 0.0f;
    return x == mx ? 1.0f : expf((x - mx) * inv_t);
}

LLI_SR int lli_sr_greedy(float temperature, int top_k) { return temperature <= 0.0f || top_k == 1; }

/* ---- reductions over the threads serving one row ------------------------------------------- */
#ifdef __CUDACC__
/* Shared memory of the block (sample.cu declares it), for blockDim.x threads, a multiple of 32. */
typedef struct lli_sr_ctx {
    float *redf;    /* [warps] */
    int64_t *redi;  /* [warps] */
    float *seg;     /* [threads]: each thread's kept mass of its segment */
    int64_t *pick;  /* [1] */
} lli_sr_ctx;

LLI_SR int lli_sr_tid(const lli_sr_ctx *r) { return (void)r, (int)threadIdx.x; }
LLI_SR int lli_sr_nt(const lli_sr_ctx *r) { return (void)r, (int)blockDim.x; }

LLI_SR float lli_sr_sum_f(const lli_sr_ctx *r, float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* the previous reduction's reads are done */
    if (threadIdx.x % 32 == 0) r->redf[threadIdx.x / 32] = v;
    __syncthreads();
    float s = 0;
    for (unsigned w = 0; w < blockDim.x / 32; w++) s += r->redf[w];
    return s;
}
LLI_SR int64_t lli_sr_sum_i(const lli_sr_ctx *r, int64_t v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (threadIdx.x % 32 == 0) r->redi[threadIdx.x / 32] = v;
    __syncthreads();
    int64_t s = 0;
    for (unsigned w = 0; w < blockDim.x / 32; w++) s += r->redi[w];
    return s;
}
LLI_SR float lli_sr_max_f(const lli_sr_ctx *r, float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (threadIdx.x % 32 == 0) r->redf[threadIdx.x / 32] = v;
    __syncthreads();
    float s = -INFINITY;
    for (unsigned w = 0; w < blockDim.x / 32; w++) s = fmaxf(s, r->redf[w]);
    return s;
}
/* (value, index) pairs: the larger value, the lower index among equals; index -1 is "none". */
LLI_SR int64_t lli_sr_argmax(const lli_sr_ctx *r, float best, int64_t idx) {
    for (int o = 16; o > 0; o /= 2) {
        const float b = __shfl_xor_sync(0xffffffffu, best, o);
        const int64_t j = __shfl_xor_sync(0xffffffffu, idx, o);
        if (j >= 0 && (idx < 0 || b > best || (b == best && j < idx))) best = b, idx = j;
    }
    __syncthreads();
    if (threadIdx.x % 32 == 0) r->redf[threadIdx.x / 32] = best, r->redi[threadIdx.x / 32] = idx;
    __syncthreads();
    for (unsigned w = 0; w < blockDim.x / 32; w++) {
        const float b = r->redf[w];
        const int64_t j = r->redi[w];
        if (j >= 0 && (idx < 0 || b > best || (b == best && j < idx))) best = b, idx = j;
    }
    return idx;
}
/* Publish each thread's segment mass; returns the per-thread masses for thread 0 to walk. */
LLI_SR const float *lli_sr_segments(const lli_sr_ctx *r, float mine) {
    r->seg[threadIdx.x] = mine;
    __syncthreads();
    return r->seg;
}
/* Thread 0's result to every thread. */
LLI_SR int64_t lli_sr_broadcast(const lli_sr_ctx *r, int64_t v) {
    if (threadIdx.x == 0) *r->pick = v;
    __syncthreads();
    return *r->pick;
}
#else
typedef struct lli_sr_ctx {
    float seg; /* the one "thread"'s segment mass */
} lli_sr_ctx;

LLI_SR int lli_sr_tid(const lli_sr_ctx *r) { return (void)r, 0; }
LLI_SR int lli_sr_nt(const lli_sr_ctx *r) { return (void)r, 1; }
LLI_SR float lli_sr_sum_f(const lli_sr_ctx *r, float v) { return (void)r, v; }
LLI_SR int64_t lli_sr_sum_i(const lli_sr_ctx *r, int64_t v) { return (void)r, v; }
LLI_SR float lli_sr_max_f(const lli_sr_ctx *r, float v) { return (void)r, v; }
LLI_SR int64_t lli_sr_argmax(const lli_sr_ctx *r, float best, int64_t idx) { return (void)r, (void)best, idx; }
LLI_SR const float *lli_sr_segments(lli_sr_ctx *r, float mine) {
    r->seg = mine;
    return &r->seg;
}
LLI_SR int64_t lli_sr_broadcast(const lli_sr_ctx *r, int64_t v) { return (void)r, v; }
#endif

/* Kept mass of the logits whose key is at or above `lo`. */
LLI_SR float lli_sr_mass(lli_sr_ctx *r, const float *x, int64_t vocab, uint32_t lo, float mx, float inv_t) {
    float m = 0;
    for (int64_t i = lli_sr_tid(r); i < vocab; i += lli_sr_nt(r))
        if (lli_sr_key(x[i]) >= lo) m += lli_sr_weight(x[i], mx, inv_t);
    return lli_sr_sum_f(r, m);
}

/* The token of one row (every thread of the row returns it), or -1 when no logit is a number. */
LLI_SR int64_t lli_sr_sample(lli_sr_ctx *r, const float *x, int64_t vocab, float temperature, int top_k, float top_p, float u) {
    const int tid = lli_sr_tid(r), nt = lli_sr_nt(r);
    if (lli_sr_greedy(temperature, top_k)) {
        float best = -INFINITY;
        int64_t idx = -1;
        for (int64_t i = tid; i < vocab; i += nt)
            if (x[i] == x[i] && (idx < 0 || x[i] > best)) best = x[i], idx = i;
        return lli_sr_broadcast(r, lli_sr_argmax(r, best, idx));
    }
    float mx = -INFINITY;
    int64_t numbers = 0;
    for (int64_t i = tid; i < vocab; i += nt)
        if (x[i] == x[i]) mx = fmaxf(mx, x[i]), numbers++;
    mx = lli_sr_max_f(r, mx);
    numbers = lli_sr_sum_i(r, numbers);
    if (numbers == 0) return -1;
    const float inv_t = 1.0f / temperature;
    uint32_t lo = 1; /* keys at or above lo are kept: every number */
    if (top_k > 0 && top_k < numbers) {
        /* the k-th largest key: the largest K with at least top_k keys >= K */
        uint32_t K = 0;
        for (int bit = 31; bit >= 0; bit--) {
            const uint32_t cand = K | (1u << bit);
            int64_t cnt = 0;
            for (int64_t i = tid; i < vocab; i += nt) cnt += lli_sr_key(x[i]) >= cand;
            if (lli_sr_sum_i(r, cnt) >= top_k) K = cand;
        }
        lo = K;
    }
    float total = lli_sr_mass(r, x, vocab, lo, mx, inv_t);
    if (top_p < 1.0f) {
        const float want = top_p * total;
        /* the largest threshold whose kept mass reaches want; bisection over max(cand, lo), whose mass
         * is monotone in cand at every bit */
        uint32_t K = 0;
        for (int bit = 31; bit >= 0; bit--) {
            const uint32_t cand = K | (1u << bit);
            if (lli_sr_mass(r, x, vocab, cand > lo ? cand : lo, mx, inv_t) >= want) K = cand;
        }
        /* never above the largest logit: with want <= 0 every threshold "reaches" it */
        const uint32_t top = lli_sr_key(mx);
        K = K < top ? K : top;
        lo = K > lo ? K : lo;
        total = lli_sr_mass(r, x, vocab, lo, mx, inv_t);
    }
    /* Inverse CDF in index order: each thread sums a contiguous segment; thread 0 finds the segment
     * the target falls in, then the token within it. */
    const int64_t seg = (vocab + nt - 1) / nt, b0 = tid * seg < vocab ? tid * seg : vocab,
                  b1 = b0 + seg < vocab ? b0 + seg : vocab;
    float mine = 0;
    for (int64_t i = b0; i < b1; i++)
        if (lli_sr_key(x[i]) >= lo) mine += lli_sr_weight(x[i], mx, inv_t);
    const float *segs = lli_sr_segments(r, mine);
    int64_t pick = -1;
    if (tid == 0) {
        const float target = u * total;
        float cum = 0;
        int owner = -1;
        for (int s = 0; s < nt && owner < 0; s++) {
            if (segs[s] > 0 && cum + segs[s] > target) owner = s;
            else cum += segs[s];
        }
        if (owner >= 0) {
            const int64_t o0 = (int64_t)owner * seg, o1 = o0 + seg < vocab ? o0 + seg : vocab;
            int64_t last = -1;
            for (int64_t i = o0; i < o1 && pick < 0; i++) {
                const float w = lli_sr_key(x[i]) >= lo ? lli_sr_weight(x[i], mx, inv_t) : 0.0f;
                if (w <= 0) continue;
                last = i;
                cum += w;
                if (cum > target) pick = i;
            }
            if (pick < 0) pick = last;
        }
        /* rounding put the target past the end: the last kept token with weight */
        for (int64_t i = vocab - 1; i >= 0 && pick < 0; i--)
            if (lli_sr_key(x[i]) >= lo && lli_sr_weight(x[i], mx, inv_t) > 0) pick = i;
    }
    return lli_sr_broadcast(r, pick);
}

#endif
