// Row and elementwise kernels: RMSNorm, rotary embedding, SwiGLU, residual adds.
#include "common.cuh"

namespace lli_cuda {
namespace {

// One block per row. x and out may be the same buffer (the per-head Q/K norms run in place): each
// thread reads its elements before writing them, and the sum is complete before any write.
__global__ void rms_norm_kernel(const float *x, const float *__restrict__ w, float *out, int64_t dim, float eps) {
    __shared__ float part[32];
    const float *xr = x + static_cast<int64_t>(blockIdx.x) * dim;
    float *o = out + static_cast<int64_t>(blockIdx.x) * dim;
    float ss = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
#pragma unroll
    for (int k = 16; k > 0; k /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, k);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
#pragma unroll
        for (int k = 16; k > 0; k /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, k);
        if (threadIdx.x == 0) part[0] = ss;
    }
    __syncthreads();
    const float scale = 1.0f / sqrtf(part[0] / static_cast<float>(dim) + eps);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * scale * (w ? w[i] : 1.0f);
}

__global__ void add_kernel(float *__restrict__ x, const float *__restrict__ y, int64_t count) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        x[i] += y[i];
}

__global__ void add_rows_kernel(float *__restrict__ x, const float *__restrict__ bias, int64_t count, int64_t dim) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        x[i] += bias[i % dim];
}

__global__ void swiglu_kernel(float *__restrict__ gate, const float *__restrict__ up, int64_t count) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// One block per (entry, head), a thread per pair. The angle is built by repeated multiplication in
// float, as cpu_rope does, so that both backends turn by the same angles.
__global__ void rope_kernel(float *__restrict__ x, const int64_t *__restrict__ pos, int heads, int head_dim, int rope_dim,
                            int neox, float theta_scale, float freq_scale, const float *__restrict__ freq_factors) {
    const int half = rope_dim / 2, i = threadIdx.x;
    if (i >= half) return;
    const int64_t t = blockIdx.x / heads;
    const int h = blockIdx.x % heads;
    float theta = static_cast<float>(pos[t]);
    for (int k = 0; k < i; k++) theta *= theta_scale;
    const float angle = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
    const float c = cosf(angle), s = sinf(angle);
    float *v = x + (t * heads + h) * head_dim;
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

__global__ void gather_rows_kernel(const float *__restrict__ src, const int32_t *__restrict__ rows, int64_t dim,
                                   float *__restrict__ dst) {
    const float *s = src + static_cast<int64_t>(rows[blockIdx.x]) * dim;
    float *d = dst + static_cast<int64_t>(blockIdx.x) * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) d[i] = s[i];
}

}  // namespace

void op_gather_rows(exec *ex, const float *src, const int32_t *rows, int64_t n, int64_t dim, float *dst) {
    if (ex->st || n <= 0) return;
    const int32_t *drows = static_cast<const int32_t *>(stage(ex, rows, static_cast<size_t>(n) * sizeof *rows));
    if (!drows) return;
    lli_launch l = lli_cuda_launch_rows(n, dim);
    gather_rows_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(src, drows, dim, dst);
    check_launch(ex, "gather_rows");
}

void op_rms_norm(exec *ex, const float *x, const float *w, float *out, int64_t rows, int64_t dim, float eps) {
    if (ex->st || rows <= 0) return;
    lli_launch l = lli_cuda_launch_rows(rows, dim);
    rms_norm_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(x, w, out, dim, eps);
    check_launch(ex, "rms_norm");
}

void op_add(exec *ex, float *x, const float *y, int64_t count) {
    if (ex->st || count <= 0) return;
    lli_launch l = lli_cuda_launch_elementwise(count);
    add_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(x, y, count);
    check_launch(ex, "add");
}

void op_add_rows(exec *ex, float *x, const float *bias, int64_t rows, int64_t dim) {
    if (ex->st || rows <= 0) return;
    lli_launch l = lli_cuda_launch_elementwise(rows * dim);
    add_rows_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(x, bias, rows * dim, dim);
    check_launch(ex, "add_rows");
}

void op_swiglu(exec *ex, float *gate, const float *up, int64_t count) {
    if (ex->st || count <= 0) return;
    lli_launch l = lli_cuda_launch_elementwise(count);
    swiglu_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(gate, up, count);
    check_launch(ex, "swiglu");
}

void op_rope(exec *ex, float *x, const int64_t *pos, int64_t n, int heads, int head_dim, int rope_dim, int neox,
             float theta_scale, float freq_scale, const float *freq_factors) {
    if (ex->st || n <= 0 || rope_dim < 2) return;
    if (rope_dim > head_dim || rope_dim > 2048) {
        fail_msg(ex, LLI_E_UNSUPPORTED, "rope over %d of %d dimensions is not supported", rope_dim, head_dim);
        return;
    }
    const int64_t *dpos = stage_positions(ex, pos, n);
    if (!dpos) return;
    lli_launch l = lli_cuda_launch_rope(n, heads, rope_dim);
    rope_kernel<<<grid_of(l), block_of(l), 0, ex->stream>>>(x, dpos, heads, head_dim, rope_dim, neox, theta_scale, freq_scale,
                                                           freq_factors);
    check_launch(ex, "rope");
}

}  // namespace lli_cuda
