// Attention over the paged KV cache. The step's keys and values are stored first (F16 rows, or
// int8 rows with a float scale each), then every query attends to its sequence's positions through
// the flattened block tables (launch.c). Two kernels: decode, for entries that are alone in their
// sequence (a warp per key, split-key ranges merged by a second kernel when there are too few
// queries to fill the device), and a flash-attention kernel for runs of entries of one sequence
// (prefill chunks), which loads each chunk of keys once for a tile of queries and keeps a running
// softmax, so that no score matrix is ever written.
#include <cuda_fp16.h>

#include "common.cuh"

namespace lli_cuda {
namespace {

struct kv_view {
    const void *k, *v;
    const float *ks, *vs;
    int n_layer, layer, hkv, bs, D;
};

__device__ __forceinline__ int64_t kv_row(const kv_view &c, const int32_t *table, int32_t p, int kh) {
    int64_t block = table[p / c.bs];
    return ((block * c.n_layer + c.layer) * c.hkv + kh) * c.bs + p % c.bs;
}

template <bool Q8> __device__ __forceinline__ float kv_at(const void *base, const float *scales, int64_t row, int D, int d) {
    if constexpr (Q8) return static_cast<float>(static_cast<const int8_t *>(base)[row * D + d]) * scales[row];
    else return __half2float(static_cast<const __half *>(base)[row * D + d]);
}

template <bool Q8> __device__ __forceinline__ __half kv_half(const void *base, const float *scales, int64_t row, int D, int d) {
    if constexpr (Q8) return __float2half_rn(kv_at<true>(base, scales, row, D, d));
    else return static_cast<const __half *>(base)[row * D + d];
}

// Queries meet the F16 cache at F16 precision, as on the CPU backend.
__device__ __forceinline__ float round_f16(float x) { return __half2float(__float2half_rn(x)); }

// One warp per stored row: keys are warps [0, rows), values [rows, 2 rows).
template <bool Q8>
__global__ void kv_store_kernel(const float *__restrict__ k, const float *__restrict__ v, const lli_attn_entry *__restrict__ ent,
                                const int32_t *__restrict__ tables, void *kc, void *vc, float *ksc, float *vsc, int64_t rows,
                                kv_view c) {
    const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (w >= 2 * rows) return;
    const bool is_k = w < rows;
    const int64_t r = is_k ? w : w - rows, t = r / c.hkv;
    const int kh = static_cast<int>(r % c.hkv);
    const float *src = (is_k ? k : v) + r * c.D;
    const int64_t row = kv_row(c, tables + ent[t].table, ent[t].pos, kh);
    if constexpr (Q8) {
        float amax = 0;
        for (int d = lane; d < c.D; d += 32) amax = fmaxf(amax, fabsf(src[d]));
#pragma unroll
        for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        // The CPU backend's rounding: the scale first, its inverse from it.
        const float dq = amax / 127.0f, id = dq > 0.0f ? 1.0f / dq : 0.0f;
        int8_t *dst = static_cast<int8_t *>(is_k ? kc : vc) + row * c.D;
        for (int d = lane; d < c.D; d += 32) dst[d] = static_cast<int8_t>(__float2int_rn(src[d] * id));
        if (lane == 0) (is_k ? ksc : vsc)[row] = dq;
    } else {
        __half *dst = static_cast<__half *>(is_k ? kc : vc) + row * c.D;
        for (int d = lane; d < c.D; d += 32) dst[d] = __float2half_rn(src[d]);
    }
}

constexpr int k_decode_warps = 4;

// Block (item = entry * n_head + head, split). Each warp takes every fourth key of the split's range
// with its own running maximum and sum; the warps are merged at the end.
template <int NPL, bool Q8>
__global__ void __launch_bounds__(32 * k_decode_warps) attn_decode_kernel(const float *__restrict__ q, float *__restrict__ out,
                                                                           float *__restrict__ partial,
                                                                           const lli_attn_entry *__restrict__ ent,
                                                                           const int32_t *__restrict__ tables, kv_view c,
                                                                           int n_head, float scale, int splits) {
    __shared__ float s_acc[k_decode_warps][NPL * 32];
    __shared__ float s_m[k_decode_warps], s_l[k_decode_warps];
    const int64_t item = blockIdx.x, t = item / n_head;
    const int h = static_cast<int>(item % n_head), kh = h / (n_head / c.hkv);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, D = c.D;
    const lli_attn_entry e = ent[t];
    const int32_t *table = tables + e.table;
    const int32_t span = e.pos - e.first + 1, per = (span + splits - 1) / splits;
    const int32_t k0 = e.first + static_cast<int32_t>(blockIdx.y) * per;
    const int32_t k1 = min(e.pos + 1, k0 + per);
    float qv[NPL], acc[NPL];
    const float *qr = q + item * D;
#pragma unroll
    for (int i = 0; i < NPL; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < D ? round_f16(qr[d]) : 0.0f;
        acc[i] = 0;
    }
    float m = -INFINITY, l = 0;
    for (int32_t p = k0 + warp; p < k1; p += k_decode_warps) {
        const int64_t row = kv_row(c, table, p, kh);
        float dot = 0;
#pragma unroll
        for (int i = 0; i < NPL; i++) {
            const int d = lane + 32 * i;
            if (d < D) dot += qv[i] * kv_at<Q8>(c.k, c.ks, row, D, d);
        }
#pragma unroll
        for (int o = 16; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        const float s = dot * scale, m_new = fmaxf(m, s), corr = expf(m - m_new), pw = expf(s - m_new);
        l = l * corr + pw;
        m = m_new;
#pragma unroll
        for (int i = 0; i < NPL; i++) {
            const int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < D ? pw * kv_at<Q8>(c.v, c.vs, row, D, d) : 0.0f);
        }
    }
#pragma unroll
    for (int i = 0; i < NPL; i++) s_acc[warp][lane + 32 * i] = acc[i];
    if (lane == 0) s_m[warp] = m, s_l[warp] = l;
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < k_decode_warps; w++) M = fmaxf(M, s_m[w]);
    float L = 0, f[k_decode_warps];
#pragma unroll
    for (int w = 0; w < k_decode_warps; w++) {
        f[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - M);
        L += s_l[w] * f[w];
    }
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0;
#pragma unroll
        for (int w = 0; w < k_decode_warps; w++) o += s_acc[w][d] * f[w];
        if (splits == 1) out[item * D + d] = L > 0 ? o / L : 0.0f;
        else partial[(item * splits + blockIdx.y) * (D + 2) + 2 + d] = o;
    }
    if (splits > 1 && threadIdx.x == 0) {
        float *pp = partial + (item * splits + blockIdx.y) * (D + 2);
        pp[0] = M;
        pp[1] = L;
    }
}

__global__ void attn_combine_kernel(const float *__restrict__ partial, float *__restrict__ out, int D, int splits) {
    const int64_t item = blockIdx.x;
    const float *pp = partial + item * splits * (D + 2);
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, pp[s * (D + 2)]);
    float L = 0;
    for (int s = 0; s < splits; s++) {
        const float ms = pp[s * (D + 2)];
        if (ms != -INFINITY) L += pp[s * (D + 2) + 1] * expf(ms - M);
    }
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0;
        for (int s = 0; s < splits; s++) {
            const float ms = pp[s * (D + 2)];
            if (ms != -INFINITY) o += pp[s * (D + 2) + 2 + d] * expf(ms - M);
        }
        out[item * D + d] = L > 0 ? o / L : 0.0f;
    }
}

constexpr int BQ = LLI_CUDA_ATTN_BQ, BK = LLI_CUDA_ATTN_BK, k_prefill_threads = 128, k_subs = k_prefill_threads / BQ;
static_assert(BK % k_subs == 0, "each thread scores BK / k_subs keys");

// Block (tile, head): BQ queries of one sequence, k_subs threads per query. Per chunk of BK keys:
// scores from shared memory, the running maximum and sum updated within the query's thread group
// (lanes of one warp), probabilities times values accumulated in registers (DPT dimensions each).
template <int DPT, bool Q8>
__global__ void __launch_bounds__(k_prefill_threads) attn_prefill_kernel(const float *__restrict__ q, float *__restrict__ out,
                                                                          const lli_attn_entry *__restrict__ ent,
                                                                          const lli_attn_tile *__restrict__ tiles,
                                                                          const int32_t *__restrict__ tables, kv_view c,
                                                                          int n_head, float scale) {
    extern __shared__ float smem[];
    const int D = c.D, QS = D + 1, KS = D + 2;
    float *qs = smem;
    __half *ks = reinterpret_cast<__half *>(qs + BQ * QS), *vs = ks + BK * KS;
    float *ss = reinterpret_cast<float *>(vs + BK * KS);
    const lli_attn_tile tile = tiles[blockIdx.x];
    const int h = blockIdx.y, kh = h / (n_head / c.hkv);
    const int tid = threadIdx.x, qi = tid / k_subs, sub = tid % k_subs;
    const int32_t *table = tables + ent[tile.entry0].table;
    for (int idx = tid; idx < BQ * D; idx += k_prefill_threads) {
        const int i = idx / D, d = idx % D;
        qs[i * QS + d] = i < tile.count ? round_f16(q[(static_cast<int64_t>(tile.entry0 + i) * n_head + h) * D + d]) : 0.0f;
    }
    const bool valid = qi < tile.count;
    const lli_attn_entry e = ent[tile.entry0 + (valid ? qi : 0)];
    float m = -INFINITY, l = 0, acc[DPT];
#pragma unroll
    for (int k = 0; k < DPT; k++) acc[k] = 0;
    constexpr int KPT = BK / k_subs;  // keys scored per thread
    for (int32_t kb = tile.key_first; kb <= tile.key_last; kb += BK) {
        __syncthreads();  // the previous chunk is no longer read
        for (int idx = tid; idx < BK * D; idx += k_prefill_threads) {
            const int j = idx / D, d = idx % D;
            const int32_t p = kb + j;
            __half kvk = __float2half_rn(0.0f), kvv = kvk;
            if (p <= tile.key_last) {
                const int64_t row = kv_row(c, table, p, kh);
                kvk = kv_half<Q8>(c.k, c.ks, row, D, d);
                kvv = kv_half<Q8>(c.v, c.vs, row, D, d);
            }
            ks[j * KS + d] = kvk;
            vs[j * KS + d] = kvv;
        }
        __syncthreads();
        float s[KPT], cmax = -INFINITY;
#pragma unroll
        for (int jj = 0; jj < KPT; jj++) {
            const int j = sub * KPT + jj;
            const int32_t p = kb + j;
            float dot = 0;
            for (int d = 0; d < D; d++) dot += qs[qi * QS + d] * __half2float(ks[j * KS + d]);
            s[jj] = valid && p >= e.first && p <= e.pos ? dot * scale : -INFINITY;
            cmax = fmaxf(cmax, s[jj]);
        }
#pragma unroll
        for (int o = 1; o < k_subs; o *= 2) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, o));
        const float m_new = fmaxf(m, cmax);
        const float corr = m_new == -INFINITY ? 1.0f : expf(m - m_new);
        float psum = 0;
#pragma unroll
        for (int jj = 0; jj < KPT; jj++) {
            const float pw = s[jj] == -INFINITY ? 0.0f : expf(s[jj] - m_new);
            ss[qi * BK + sub * KPT + jj] = pw;
            psum += pw;
        }
#pragma unroll
        for (int o = 1; o < k_subs; o *= 2) psum += __shfl_xor_sync(0xffffffffu, psum, o);
        l = l * corr + psum;
        m = m_new;
        __syncwarp();  // a query's thread group is within one warp
#pragma unroll
        for (int k = 0; k < DPT; k++) acc[k] *= corr;
        for (int j = 0; j < BK; j++) {
            const float pw = ss[qi * BK + j];
#pragma unroll
            for (int k = 0; k < DPT; k++) {
                const int d = sub + k_subs * k;
                if (d < D) acc[k] += pw * __half2float(vs[j * KS + d]);
            }
        }
    }
    if (!valid) return;
    float *o = out + (static_cast<int64_t>(tile.entry0 + qi) * n_head + h) * D;
#pragma unroll
    for (int k = 0; k < DPT; k++) {
        const int d = sub + k_subs * k;
        if (d < D) o[d] = l > 0 ? acc[k] / l : 0.0f;
    }
}

template <bool Q8> void launch_prefill(exec *ex, int dpt, dim3 grid, uint32_t smem, const float *q, float *out,
                                       const lli_attn_entry *ent, const lli_attn_tile *tiles, const int32_t *tables,
                                       const kv_view &c, int n_head, float scale) {
    switch (dpt) {
    case 8: attn_prefill_kernel<8, Q8><<<grid, k_prefill_threads, smem, ex->stream>>>(q, out, ent, tiles, tables, c, n_head, scale); break;
    case 16: attn_prefill_kernel<16, Q8><<<grid, k_prefill_threads, smem, ex->stream>>>(q, out, ent, tiles, tables, c, n_head, scale); break;
    case 32: attn_prefill_kernel<32, Q8><<<grid, k_prefill_threads, smem, ex->stream>>>(q, out, ent, tiles, tables, c, n_head, scale); break;
    default: attn_prefill_kernel<64, Q8><<<grid, k_prefill_threads, smem, ex->stream>>>(q, out, ent, tiles, tables, c, n_head, scale); break;
    }
}

template <bool Q8> void launch_decode(exec *ex, int npl, dim3 grid, const float *q, float *out, float *partial,
                                      const lli_attn_entry *ent, const int32_t *tables, const kv_view &c, int n_head, float scale,
                                      int splits) {
    const int threads = 32 * k_decode_warps;
    switch (npl) {
    case 2: attn_decode_kernel<2, Q8><<<grid, threads, 0, ex->stream>>>(q, out, partial, ent, tables, c, n_head, scale, splits); break;
    case 4: attn_decode_kernel<4, Q8><<<grid, threads, 0, ex->stream>>>(q, out, partial, ent, tables, c, n_head, scale, splits); break;
    case 8: attn_decode_kernel<8, Q8><<<grid, threads, 0, ex->stream>>>(q, out, partial, ent, tables, c, n_head, scale, splits); break;
    default: attn_decode_kernel<16, Q8><<<grid, threads, 0, ex->stream>>>(q, out, partial, ent, tables, c, n_head, scale, splits); break;
    }
}

int prefill_dpt(int head_dim) {
    const int per = (head_dim + k_subs - 1) / k_subs;
    return per <= 8 ? 8 : per <= 16 ? 16 : per <= 32 ? 32 : 64;
}

}  // namespace

bool attention_init(exec *ex) {
    // Head sizes up to 512 need more than the default 48 KiB of shared memory per block.
    const int smem = static_cast<int>(lli_cuda_attn_prefill_smem(512));
    const void *fns[] = {
        reinterpret_cast<const void *>(attn_prefill_kernel<8, false>), reinterpret_cast<const void *>(attn_prefill_kernel<16, false>),
        reinterpret_cast<const void *>(attn_prefill_kernel<32, false>), reinterpret_cast<const void *>(attn_prefill_kernel<64, false>),
        reinterpret_cast<const void *>(attn_prefill_kernel<8, true>), reinterpret_cast<const void *>(attn_prefill_kernel<16, true>),
        reinterpret_cast<const void *>(attn_prefill_kernel<32, true>), reinterpret_cast<const void *>(attn_prefill_kernel<64, true>),
    };
    for (const void *f : fns)
        if (fail_cuda(ex, cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
                      "cudaFuncSetAttribute (attention shared memory)"))
            return false;
    return true;
}

void op_attention(exec *ex, const lli_attn_args *a) {
    if (ex->st || a->n <= 0) return;
    const lli_kv_view *kv = a->kv;
    const int npl = lli_cuda_attn_per_lane(a->head_dim);
    if (kv->head_dim != a->head_dim || kv->n_head_kv != a->n_head_kv || a->n_head_kv <= 0 || a->n_head % a->n_head_kv ||
        a->layer < 0 || a->layer >= kv->n_layer || !npl) {
        fail_msg(ex, LLI_E_INVALID_ARG, "attention: %d heads of %d over %d KV heads of %d (layer %d of %d) is not supported",
                 a->n_head, a->head_dim, kv->n_head_kv, kv->head_dim, a->layer, kv->n_layer);
        return;
    }
    lli_attn_plan plan;
    const void *dev = stage_attn_plan(ex, a, &plan);
    if (!dev) return;
    const lli_attn_entry *ent = reinterpret_cast<const lli_attn_entry *>(static_cast<const char *>(dev) + plan.off_entries);
    const lli_attn_tile *tiles = reinterpret_cast<const lli_attn_tile *>(static_cast<const char *>(dev) + plan.off_tiles);
    const int32_t *tables = reinterpret_cast<const int32_t *>(static_cast<const char *>(dev) + plan.off_table);
    const bool q8 = kv->type == LLI_KV_TYPE_Q8;
    kv_view c = {kv->k, kv->v, kv->k_scale, kv->v_scale, kv->n_layer, a->layer, kv->n_head_kv, kv->block_size, a->head_dim};

    const int64_t rows = a->n * a->n_head_kv;
    const unsigned store_blocks = static_cast<unsigned>((2 * rows * 32 + 127) / 128);
    if (q8) kv_store_kernel<true><<<store_blocks, 128, 0, ex->stream>>>(a->k, a->v, ent, tables, kv->k, kv->v, kv->k_scale, kv->v_scale, rows, c);
    else kv_store_kernel<false><<<store_blocks, 128, 0, ex->stream>>>(a->k, a->v, ent, tables, kv->k, kv->v, nullptr, nullptr, rows, c);
    if (!check_launch(ex, "kv_store")) return;

    if (plan.prefill) {
        const dim3 grid(static_cast<unsigned>(plan.n_tiles), static_cast<unsigned>(a->n_head));
        const uint32_t smem = lli_cuda_attn_prefill_smem(a->head_dim);
        const int dpt = prefill_dpt(a->head_dim);
        if (q8) launch_prefill<true>(ex, dpt, grid, smem, a->q, a->out, ent, tiles, tables, c, a->n_head, a->scale);
        else launch_prefill<false>(ex, dpt, grid, smem, a->q, a->out, ent, tiles, tables, c, a->n_head, a->scale);
        check_launch(ex, "attention_prefill");
        return;
    }
    const int64_t items = a->n * a->n_head;
    float *partial = nullptr;
    if (plan.splits > 1) {
        if (!ensure(ex, ex->partial, static_cast<size_t>(items * plan.splits * (a->head_dim + 2)) * sizeof(float), "attention partials"))
            return;
        partial = static_cast<float *>(ex->partial.p);
    }
    const dim3 grid(static_cast<unsigned>(items), static_cast<unsigned>(plan.splits));
    if (q8) launch_decode<true>(ex, npl, grid, a->q, a->out, partial, ent, tables, c, a->n_head, a->scale, plan.splits);
    else launch_decode<false>(ex, npl, grid, a->q, a->out, partial, ent, tables, c, a->n_head, a->scale, plan.splits);
    if (!check_launch(ex, "attention_decode") || plan.splits == 1) return;
    attn_combine_kernel<<<static_cast<unsigned>(items), 128, 0, ex->stream>>>(partial, a->out, a->head_dim, plan.splits);
    check_launch(ex, "attention_combine");
}

}  // namespace lli_cuda
