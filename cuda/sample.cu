// Sampling on the device, so that whole rows of logits need not cross to the host: greedy, or
// temperature with top-k and top-p. One block per row. The k-th largest logit and the top-p
// threshold are found by bisection over the logits' order-preserving integer keys (32 counting
// passes each), which needs neither sorting nor memory beyond the block.
#include <cstdio>
#include <cstring>

#include "common.cuh"
#include "sample.h"

namespace lli_cuda {
namespace {

constexpr int T = LLI_CUDA_SAMPLE_THREADS;

__device__ __forceinline__ uint32_t order_key(float f) {
    uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <typename V> __device__ V block_sum(V v, V *red) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();  // red may still be read from the previous call
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    V s = 0;
    for (int w = 0; w < T / 32; w++) s += red[w];
    return s;
}

__device__ float block_max(float v, float *red) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    float s = -INFINITY;
    for (int w = 0; w < T / 32; w++) s = fmaxf(s, red[w]);
    return s;
}

__global__ void __launch_bounds__(T) sample_kernel(const float *__restrict__ logits, int64_t vocab, float temperature, int top_k,
                                                   float top_p, const float *__restrict__ uniform, int32_t *__restrict__ tokens) {
    __shared__ float redf[T / 32];
    __shared__ int64_t redi[T / 32];
    __shared__ float s_seg[T];
    const float *x = logits + static_cast<int64_t>(blockIdx.x) * vocab;
    const int tid = threadIdx.x;
    // Greedy: the largest logit, the lowest index among equals (NaN never wins).
    if (temperature <= 0.0f || top_k == 1) {
        float best = -INFINITY;
        int64_t idx = -1;
        for (int64_t i = tid; i < vocab; i += T)
            if (x[i] == x[i] && (idx < 0 || x[i] > best)) best = x[i], idx = i;
        __shared__ float sb[T];
        __shared__ int64_t si[T];
        sb[tid] = best;
        si[tid] = idx;
        __syncthreads();
        for (int s = T / 2; s > 0; s /= 2) {
            if (tid < s) {
                const float b = sb[tid + s];
                const int64_t j = si[tid + s];
                if (j >= 0 && (si[tid] < 0 || b > sb[tid] || (b == sb[tid] && j < si[tid]))) sb[tid] = b, si[tid] = j;
            }
            __syncthreads();
        }
        if (tid == 0) tokens[blockIdx.x] = static_cast<int32_t>(si[0] < 0 ? 0 : si[0]);
        return;
    }
    float mx = -INFINITY;
    for (int64_t i = tid; i < vocab; i += T) mx = fmaxf(mx, x[i]);
    mx = block_max(mx, redf);
    const float inv_t = 1.0f / temperature;
    // Keys at or above `lo` are kept.
    uint32_t lo = 0;
    if (top_k > 0 && top_k < vocab) {
        uint32_t K = 0;
        for (int bit = 31; bit >= 0; bit--) {
            const uint32_t cand = K | (1u << bit);
            int64_t cnt = 0;
            for (int64_t i = tid; i < vocab; i += T) cnt += order_key(x[i]) >= cand;
            if (block_sum<int64_t>(cnt, redi) >= top_k) K = cand;
        }
        lo = K;
    }
    float total = 0;
    for (int64_t i = tid; i < vocab; i += T)
        if (order_key(x[i]) >= lo) total += expf((x[i] - mx) * inv_t);
    total = block_sum<float>(total, redf);
    if (top_p < 1.0f) {
        const float want = top_p * total;
        // Bisection from 0 over max(cand, lo): the mass is then monotone in cand at every bit.
        uint32_t K = 0;
        for (int bit = 31; bit >= 0; bit--) {
            const uint32_t cand = K | (1u << bit), cut = cand > lo ? cand : lo;
            float mass = 0;
            for (int64_t i = tid; i < vocab; i += T)
                if (order_key(x[i]) >= cut) mass += expf((x[i] - mx) * inv_t);
            if (block_sum<float>(mass, redf) >= want) K = cand;
        }
        K = K > lo ? K : lo;
        lo = K;
        total = 0;
        for (int64_t i = tid; i < vocab; i += T)
            if (order_key(x[i]) >= lo) total += expf((x[i] - mx) * inv_t);
        total = block_sum<float>(total, redf);
    }
    // Inverse CDF in index order: each thread owns a contiguous segment.
    const int64_t seg = (vocab + T - 1) / T, b0 = tid * seg, b1 = b0 + seg < vocab ? b0 + seg : vocab;
    float mine = 0;
    for (int64_t i = b0; i < b1; i++)
        if (order_key(x[i]) >= lo) mine += expf((x[i] - mx) * inv_t);
    s_seg[tid] = mine;
    __syncthreads();
    if (tid == 0) {
        const float target = uniform[blockIdx.x] * total;
        float cum = 0;
        int owner = -1;
        int64_t last = -1;
        for (int s = 0; s < T && owner < 0; s++) {
            if (s_seg[s] > 0 && cum + s_seg[s] > target) owner = s;
            else cum += s_seg[s];
        }
        int64_t pick = -1;
        if (owner >= 0) {
            const int64_t o0 = owner * seg, o1 = o0 + seg < vocab ? o0 + seg : vocab;
            for (int64_t i = o0; i < o1 && pick < 0; i++) {
                if (order_key(x[i]) < lo) continue;
                last = i;
                cum += expf((x[i] - mx) * inv_t);
                if (cum > target) pick = i;
            }
            if (pick < 0) pick = last;
        }
        if (pick < 0)  // rounding put the target past the end: the last kept token
            for (int64_t i = vocab - 1; i >= 0 && pick < 0; i--)
                if (order_key(x[i]) >= lo) pick = i;
        tokens[blockIdx.x] = static_cast<int32_t>(pick < 0 ? 0 : pick);
    }
}

}  // namespace
}  // namespace lli_cuda

extern "C" __attribute__((visibility("default"))) lli_status lli_cuda_sample(void *exec_ptr, const float *logits, int64_t rows,
                                                                            int64_t vocab, float temperature, int top_k,
                                                                            float top_p, const float *uniform,
                                                                            int32_t *tokens, char *err, size_t err_cap) {
    using namespace lli_cuda;
    exec *ex = static_cast<exec *>(exec_ptr);
    if (!ex || rows <= 0 || vocab <= 0 || rows > 65535 || vocab > INT32_MAX) {
        std::snprintf(err, err_cap, "lli_cuda_sample: invalid arguments");
        return LLI_E_INVALID_ARG;
    }
    if (ex->st == LLI_OK) {
        const float *du = static_cast<const float *>(stage(ex, uniform, static_cast<size_t>(rows) * sizeof(float)));
        void *hbuf = nullptr, *dbuf = nullptr;
        if (du && stage_reserve(ex, static_cast<size_t>(rows) * sizeof(int32_t), &hbuf, &dbuf)) {
            sample_kernel<<<static_cast<unsigned>(rows), T, 0, ex->stream>>>(logits, vocab, temperature, top_k, top_p, du,
                                                                              static_cast<int32_t *>(dbuf));
            if (check_launch(ex, "sample"))
                fail_cuda(ex, cudaMemcpyAsync(tokens, dbuf, static_cast<size_t>(rows) * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                              ex->stream),
                          "cudaMemcpyAsync (sampled tokens)");
        }
    }
    lli_status st = lli_cuda_exec_finish(ex);
    if (st != LLI_OK) std::snprintf(err, err_cap, "%s", lli_cuda_error_text());
    return st;
}
