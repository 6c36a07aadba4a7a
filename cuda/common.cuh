// What the CUDA backend's files share: the per-context execution state, error recording, and the
// entry points of the kernel files (matmul.cu, attention.cu, elementwise.cu, sample.cu).
#ifndef LLI_CUDA_COMMON_CUH
#define LLI_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

extern "C" {
#include "backend/backend.h"
}
#include "launch.h"
#include "tensor_view.h"

namespace lli_cuda {

// Device scratch that grows on demand; growing waits for the stream, since queued kernels may still
// read the old buffer.
struct scratch {
    void *p = nullptr;
    size_t cap = 0;
};

// One context's execution resources. Ops record the first failure here and skip their work once
// one is recorded; finish() reports it.
struct exec {
    int device = 0;
    int n_sm = 1;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    // Host index arrays travel through pinned memory, copied asynchronously on the stream; the
    // host side is reused only after finish() (or a full synchronization) has drained the copies.
    char *stage_host = nullptr;
    char *stage_dev = nullptr;
    size_t stage_cap = 0, stage_used = 0;
    scratch xq;      // 8-bit activations
    scratch xh;      // F16 activations for cuBLAS
    scratch wtile;   // dequantized F16 weight tile
    scratch partial; // attention: per split maxima, sums and outputs
    lli_attn_work attn_work = {}; // attention planning's host scratch
    // Staged data stays valid until the staging area is reused: at finish() (the step's end) or when
    // it wraps around. stage_epoch counts those reuses, so that caches of staged data can tell.
    uint64_t stage_epoch = 1;
    // Per-step caches. The positions (rope) and the attention plan are the same for every layer of a
    // step: staged once, found again by comparing the host arrays with copies kept here. The KV
    // cache's block tables must not change between the operations of one step (backend.h).
    struct {
        uint64_t epoch = 0;
        int64_t n = 0, cap = 0;
        int64_t *host = nullptr; // copy of the positions
        const int64_t *dev = nullptr;
    } pos;
    struct {
        uint64_t epoch = 0;
        const lli_kv_view *kv = nullptr;
        int64_t n = 0, cap = 0, window = 0;
        int n_head = 0;
        int32_t *seq = nullptr; // copies of the entries
        int64_t *pos = nullptr;
        lli_attn_plan plan = {};
        const void *dev = nullptr;
    } attn;
    // The last matrix product's input in its converted forms (8-bit blocks in xq, F16 in xh), reused
    // by the next product of the same input (q, k and v; gate and up). Any other operation, any
    // upload or copy (mem_generation()) and finish() forget them.
    struct act {
        const float *src = nullptr;
        int64_t count = 0;
        uint64_t epoch = 0, gen = 0;
    } xq_of, xh_of;
    lli_status st = LLI_OK;
    char msg[512] = "";
};

// Record a CUDA / cuBLAS failure (the first one wins). Returns true if `e` is a failure.
bool fail_cuda(exec *ex, cudaError_t e, const char *what);
bool fail_cublas(exec *ex, cublasStatus_t s, const char *what);
bool fail_msg(exec *ex, lli_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// After a kernel launch: configuration and launch errors.
bool check_launch(exec *ex, const char *kernel);

bool ensure(exec *ex, scratch &s, size_t bytes, const char *what);
// Copy `bytes` of host memory to the device through the staging area; nullptr after a failure.
void *stage(exec *ex, const void *src, size_t bytes);
// Reserve staging space to be filled on the host (host pointer out), then sent by stage_send.
bool stage_reserve(exec *ex, size_t bytes, void **host, void **dev);
bool stage_send(exec *ex, void *host, size_t bytes);

// Changes whenever device memory is written or freed outside the ops (upload, copy, free): a
// converted activation buffer is then no longer known to match its source.
uint64_t mem_generation();
// Before every operation other than a matrix product: it may write a product's input.
inline void forget_activations(exec *ex) { ex->xq_of.src = ex->xh_of.src = nullptr; }
// Is x (count floats) the input whose conversion `a` describes, with nothing written since?
inline bool act_current(const exec *ex, const exec::act &a, const float *x, int64_t count) {
    return a.src == x && a.count == count && a.epoch == ex->stage_epoch && a.gen == mem_generation();
}
inline void act_record(const exec *ex, exec::act &a, const float *x, int64_t count) {
    a.src = x, a.count = count, a.epoch = ex->stage_epoch, a.gen = mem_generation();
}
// The positions on the device, staged once per step.
const int64_t *stage_positions(exec *ex, const int64_t *pos, int64_t n);
// The attention plan of a's entries, planned and staged once per step: its device copy, or nullptr
// after a failure (recorded).
const void *stage_attn_plan(exec *ex, const lli_attn_args *a, lli_attn_plan *plan);

inline dim3 grid_of(const lli_launch &l) { return dim3(l.grid[0], l.grid[1], l.grid[2]); }
inline dim3 block_of(const lli_launch &l) { return dim3(l.block[0], l.block[1], l.block[2]); }

// Kernel files' host entry points, called by the vtable in backend_cuda.cu.
void op_embed(exec *ex, const lli_cuda_tensor &table, const int32_t *tokens, int64_t n, float *out);
void op_matmul(exec *ex, const lli_cuda_tensor &w, const float *x, float *out, int64_t n);
void op_rms_norm(exec *ex, const float *x, const float *w, float *out, int64_t rows, int64_t dim, float eps);
void op_add(exec *ex, float *x, const float *y, int64_t count);
void op_add_rows(exec *ex, float *x, const float *bias, int64_t rows, int64_t dim);
void op_rope(exec *ex, float *x, const int64_t *pos, int64_t n, int heads, int head_dim, int rope_dim, int neox,
             float theta_scale, float freq_scale, const float *freq_factors);
void op_swiglu(exec *ex, float *gate, const float *up, int64_t count);
void op_attention(exec *ex, const lli_attn_args *a);
void op_gather_rows(exec *ex, const float *src, const int32_t *rows, int64_t n, int64_t dim, float *dst);
bool attention_init(exec *ex); // kernel attributes (shared memory opt-in), once per exec

// finish() of the vtable; a failure is recorded through the core's error function.
lli_status lli_cuda_exec_finish(exec *ex);
// Record a message through the core's error function; returns st.
lli_status report(lli_status st, const char *msg);
lli_status op_sample(exec *ex, const float *logits, int64_t rows, int64_t vocab, float temperature, int top_k, float top_p,
                     const float *uniform, int32_t *tokens);

}  // namespace lli_cuda

#endif
