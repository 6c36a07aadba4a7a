// Matrix products and embedding lookups for every weight type. Up to LLI_CUDA_MV_MAX_N activation
// rows: one warp per weight row reads the row once and multiplies it with all of them (8-bit
// activations for the types whose CPU kernels use them, floats for the rest). More rows: weights
// dequantized to F16 tiles and multiplied by cuBLAS on the tensor cores, accumulating in F32.
#include "common.cuh"
#include "quant.cuh"

namespace lli_cuda {
namespace {

constexpr uint64_t k_tile_budget = 128ull << 20;

// One warp per 32-element block, the CPU's rounding: scale amax / 127 and the quants' scaled sum
// both kept at half precision, quants rounded to nearest even.
__global__ void quantize_q8_kernel(const float *__restrict__ x, q8b *__restrict__ out, int64_t blocks) {
    int64_t b = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (b >= blocks) return;
    float v = x[b * 32 + lane], amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int q = __float2int_rn(v * id), sum = q;
#pragma unroll
    for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    out[b].q[lane] = static_cast<int8_t>(q);
    if (lane == 0) {
        out[b].d = __half2float(__float2half_rn(d));
        out[b].s = __half2float(__float2half_rn(d * static_cast<float>(sum)));
    }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <int T>
__global__ void __launch_bounds__(32 * LLI_CUDA_MV_WARPS) matvec_q8_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes,
                                                                          int64_t rows, int64_t chunks,
                                                                          const q8b *__restrict__ xq, float *__restrict__ out,
                                                                          int n) {
    int64_t r = static_cast<int64_t>(blockIdx.x) * LLI_CUDA_MV_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const uint8_t *row = w + r * row_bytes;
    float acc[LLI_CUDA_MV_MAX_N] = {};
    for (int64_t c = lane; c < chunks; c += 32) {
        wchunk wc;
        load_q8_chunk<T>(row, c, wc);
#pragma unroll
        for (int t = 0; t < LLI_CUDA_MV_MAX_N; t++)
            if (t < n) acc[t] += dot_q8_chunk<T>(wc, xq + t * chunks + c);
    }
#pragma unroll
    for (int t = 0; t < LLI_CUDA_MV_MAX_N; t++) {
        if (t >= n) break;
        float s = warp_sum(acc[t]);
        if (lane == 0) out[t * rows + r] = s;
    }
}

template <int T>
__global__ void __launch_bounds__(32 * LLI_CUDA_MV_WARPS) matvec_f_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes,
                                                                         int64_t rows, int64_t in,
                                                                         const float *__restrict__ x, float *__restrict__ out,
                                                                         int n) {
    int64_t r = static_cast<int64_t>(blockIdx.x) * LLI_CUDA_MV_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const uint8_t *row = w + r * row_bytes;
    const int64_t chunks = (in + 31) / 32;
    float acc[LLI_CUDA_MV_MAX_N] = {};
    for (int64_t c = lane; c < chunks; c += 32) {
        float wv[32];
        dequant_chunk<T>(row, c, in, wv);
        const int valid = in - 32 * c < 32 ? static_cast<int>(in - 32 * c) : 32;
#pragma unroll
        for (int t = 0; t < LLI_CUDA_MV_MAX_N; t++) {
            if (t >= n) break;
            const float *xr = x + t * in + 32 * c;
            float s = 0;
#pragma unroll
            for (int e = 0; e < 32; e++) s += e < valid ? wv[e] * xr[e] : 0.0f;
            acc[t] += s;
        }
    }
#pragma unroll
    for (int t = 0; t < LLI_CUDA_MV_MAX_N; t++) {
        if (t >= n) break;
        float s = warp_sum(acc[t]);
        if (lane == 0) out[t * rows + r] = s;
    }
}

// Rows [r0, r0 + count) of a weight matrix to F16. Each warp takes 32 consecutive chunks of 32
// elements (one per lane: whole blocks' bytes are read by neighbouring lanes), turns them in shared
// memory, and writes them back as 64 consecutive half pairs per step: a lane's own chunk is 64
// contiguous bytes, which written directly would put 64 bytes between neighbouring lanes' stores.
// Rows of a whole number of chunks only (every quantized type; float types of such rows): the
// chunks of the tile are then consecutive in the output.
constexpr int k_dq_warps = 8;

template <int T>
__global__ void __launch_bounds__(32 * k_dq_warps) dequant_f16_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t r0,
                                                                     int64_t count, int64_t in, __half *__restrict__ out) {
    __shared__ float tile[k_dq_warps][32][33]; // padded: lane-major writes and row-major reads hit 32 banks
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t chunks = in / 32, total = count * chunks;
    float (*t)[33] = tile[warp];
    __half2 *out2 = reinterpret_cast<__half2 *>(out);
    for (int64_t c0 = (static_cast<int64_t>(blockIdx.x) * k_dq_warps + warp) * 32; c0 < total;
         c0 += static_cast<int64_t>(gridDim.x) * k_dq_warps * 32) {
        const int64_t i = c0 + lane;
        float y[32];
        if (i < total) dequant_chunk<T>(w + (r0 + i / chunks) * row_bytes, i % chunks, in, y);
#pragma unroll
        for (int e = 0; e < 32; e++) t[lane][e] = i < total ? y[e] : 0.0f;
        __syncwarp();
        const int64_t pairs = (total - c0 < 32 ? total - c0 : 32) * 16; // half pairs of this warp's chunks
#pragma unroll 4
        for (int k = lane; k < 32 * 16; k += 32) {
            if (k >= pairs) break;
            const int ch = k / 16, e = 2 * (k % 16);
            out2[c0 * 16 + k] = __floats2half2_rn(t[ch][e], t[ch][e + 1]);
        }
        __syncwarp();
    }
}

// Float rows that end in a partial chunk: one thread per chunk.
template <int T>
__global__ void dequant_f16_ragged_kernel(const uint8_t *__restrict__ w, uint64_t row_bytes, int64_t r0, int64_t count, int64_t in,
                                          __half *__restrict__ out) {
    const int64_t chunks = (in + 31) / 32, total = count * chunks;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        int64_t r = i / chunks, c = i % chunks;
        float y[32];
        dequant_chunk<T>(w + (r0 + r) * row_bytes, c, in, y);
        __half *o = out + r * in + 32 * c;
#pragma unroll
        for (int e = 0; e < 32; e++)
            if (32 * c + e < in) o[e] = __float2half_rn(y[e]);
    }
}

template <int T>
__global__ void embed_kernel(const uint8_t *__restrict__ table, uint64_t row_bytes, int64_t dim, const int32_t *__restrict__ tokens,
                             float *__restrict__ out) {
    const int64_t i = blockIdx.x, chunks = (dim + 31) / 32;
    const uint8_t *row = table + static_cast<uint64_t>(tokens[i]) * row_bytes;
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
        float y[32];
        dequant_chunk<T>(row, c, dim, y);
        float *o = out + i * dim + 32 * c;
#pragma unroll
        for (int e = 0; e < 32; e++)
            if (32 * c + e < dim) o[e] = y[e];
    }
}

__global__ void to_f16_kernel(const float *__restrict__ x, __half *__restrict__ y, int64_t count) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        y[i] = __float2half_rn(x[i]);
}

bool check_tensor(exec *ex, const lli_cuda_tensor &w, uint64_t *row_bytes) {
    *row_bytes = lli_cuda_row_bytes(w.type, w.ne0);
    if (!*row_bytes || *row_bytes * static_cast<uint64_t>(w.ne1) > w.bytes)
        return !fail_msg(ex, LLI_E_UNSUPPORTED, "tensor %s: type %s with rows of %lld is not supported by the CUDA backend",
                         w.name, w.type_name, static_cast<long long>(w.ne0));
    return true;
}

void gemm(exec *ex, const lli_cuda_tensor &w, uint64_t row_bytes, const float *x, float *out, int64_t n) {
    const int64_t in = w.ne0, rows = w.ne1;
    if (!act_current(ex, ex->xh_of, x, n * in)) {
        ex->xh_of.src = nullptr;
        if (!ensure(ex, ex->xh, static_cast<size_t>(n * in) * sizeof(__half), "F16 activations")) return;
        lli_launch l = lli_cuda_launch_elementwise(n * in);
        to_f16_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(x, static_cast<__half *>(ex->xh.p), n * in);
        if (!check_launch(ex, "to_f16")) return;
        act_record(ex, ex->xh_of, x, n * in);
    }
    const __half *xh = static_cast<const __half *>(ex->xh.p);
    const bool direct = w.type == LLI_TT_F16;
    const int64_t tile = direct ? rows : lli_cuda_gemm_tile_rows(rows, in, k_tile_budget);
    if (!direct && !ensure(ex, ex->wtile, static_cast<size_t>(tile * in) * sizeof(__half), "F16 weight tile")) return;
    const float alpha = 1.0f, beta = 0.0f;
    for (int64_t r0 = 0; r0 < rows; r0 += tile) {
        const int64_t count = rows - r0 < tile ? rows - r0 : tile;
        const __half *a = static_cast<const __half *>(w.data) + r0 * in;
        if (!direct) {
            const uint8_t *wd = static_cast<const uint8_t *>(w.data);
            __half *t = static_cast<__half *>(ex->wtile.p);
            if (in % 32 == 0) {
                const int64_t groups = (count * (in / 32) + 31) / 32; // a warp's 32 chunks each
                const unsigned blocks = static_cast<unsigned>((groups + k_dq_warps - 1) / k_dq_warps < 65536
                                                                  ? (groups + k_dq_warps - 1) / k_dq_warps : 65536);
#define LLI_DQ(T) dequant_f16_kernel<T><<<blocks, 32 * k_dq_warps, 0, ex->stream>>>(wd, row_bytes, r0, count, in, t)
                LLI_CUDA_TYPE_SWITCH(w.type, LLI_DQ, return)
#undef LLI_DQ
            } else {
                lli_launch d = lli_cuda_launch_elementwise(count * ((in + 31) / 32));
#define LLI_DQ(T) dequant_f16_ragged_kernel<T><<<grid_of(d), block_of(d), 0, ex->stream>>>(wd, row_bytes, r0, count, in, t)
                LLI_CUDA_TYPE_SWITCH(w.type, LLI_DQ, return)
#undef LLI_DQ
            }
            if (!check_launch(ex, "dequant_f16")) return;
            a = t;
        }
        // Row-major out[n][rows] is column-major rows x n: C = W_tile (as A^T) * X^T.
        cublasStatus_t s = cublasGemmEx(ex->cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(count), static_cast<int>(n),
                                        static_cast<int>(in), &alpha, a, CUDA_R_16F, static_cast<int>(in), xh, CUDA_R_16F,
                                        static_cast<int>(in), &beta, out + r0, CUDA_R_32F, static_cast<int>(rows),
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (fail_cublas(ex, s, "cublasGemmEx")) return;
    }
}

}  // namespace

namespace {

void matmul(exec *ex, const lli_cuda_tensor &w, uint64_t row_bytes, const float *x, float *out, int64_t n) {
    const int64_t in = w.ne0, rows = w.ne1;
    const int type = w.type;
    if (lli_cuda_use_gemm(n)) {
        gemm(ex, w, row_bytes, x, out, n);
        return;
    }
    const uint8_t *wd = static_cast<const uint8_t *>(w.data);
    lli_launch l = lli_cuda_launch_matvec(rows);
    if (lli_cuda_type_uses_q8(type)) {
        const int64_t chunks = in / 32;
        if (!act_current(ex, ex->xq_of, x, n * in)) {
            ex->xq_of.src = nullptr;
            if (!ensure(ex, ex->xq, static_cast<size_t>(n * chunks) * sizeof(q8b), "8-bit activations")) return;
            lli_launch ql = lli_cuda_launch_quantize(n, in);
            quantize_q8_kernel<<<grid_of(ql), block_of(ql), 0, ex->stream>>>(x, static_cast<q8b *>(ex->xq.p), n * chunks);
            if (!check_launch(ex, "quantize_q8")) return;
            act_record(ex, ex->xq_of, x, n * in);
        }
        const q8b *xq = static_cast<const q8b *>(ex->xq.p);
#define LLI_MVQ(T)                                                                                                  \
    matvec_q8_kernel<T><<<grid_of(l), block_of(l), 0, ex->stream>>>(wd, row_bytes, rows, chunks, xq, out, static_cast<int>(n))
        switch (type) {
        case LLI_TT_Q8_0: LLI_MVQ(LLI_TT_Q8_0); break;
        case LLI_TT_Q4_0: LLI_MVQ(LLI_TT_Q4_0); break;
        case LLI_TT_Q4_1: LLI_MVQ(LLI_TT_Q4_1); break;
        case LLI_TT_Q4_K: LLI_MVQ(LLI_TT_Q4_K); break;
        case LLI_TT_Q6_K: LLI_MVQ(LLI_TT_Q6_K); break;
        default: break;
        }
#undef LLI_MVQ
        check_launch(ex, "matvec_q8");
        return;
    }
#define LLI_MVF(T) matvec_f_kernel<T><<<grid_of(l), block_of(l), 0, ex->stream>>>(wd, row_bytes, rows, in, x, out, static_cast<int>(n))
    LLI_CUDA_TYPE_SWITCH(type, LLI_MVF, return)
#undef LLI_MVF
    check_launch(ex, "matvec_f");
}

}  // namespace

void op_matmul(exec *ex, const lli_cuda_tensor &w, const float *x, float *out, int64_t n) {
    uint64_t row_bytes;
    if (ex->st || n <= 0 || !check_tensor(ex, w, &row_bytes)) return;
    matmul(ex, w, row_bytes, x, out, n);
    // A product that wrote over its own input leaves no input to reuse.
    if (out < x + n * w.ne0 && x < out + n * w.ne1) forget_activations(ex);
}

void op_embed(exec *ex, const lli_cuda_tensor &table, const int32_t *tokens, int64_t n, float *out) {
    uint64_t row_bytes;
    if (ex->st || n <= 0 || !check_tensor(ex, table, &row_bytes)) return;
    const int32_t *dtok = static_cast<const int32_t *>(stage(ex, tokens, static_cast<size_t>(n) * sizeof *tokens));
    if (!dtok) return;
    const uint8_t *wd = static_cast<const uint8_t *>(table.data);
    const int64_t dim = table.ne0;
#define LLI_EMB(T) embed_kernel<T><<<static_cast<unsigned>(n), 128, 0, ex->stream>>>(wd, row_bytes, dim, dtok, out)
    LLI_CUDA_TYPE_SWITCH(table.type, LLI_EMB, return)
#undef LLI_EMB
    check_launch(ex, "embed");
}

}  // namespace lli_cuda
