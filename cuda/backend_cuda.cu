// The CUDA backend: device memory for tensors and the KV cache, one stream and cuBLAS handle per
// context, and the forward pass's operations (kernels in matmul.cu, elementwise.cu, attention.cu;
// sampling in sample.cu). Built as its own module (llminfer-cuda-N.so, N the backend interface
// version) so that libllminfer.so never needs the CUDA runtime to load; the core library dlopens
// this module only when CUDA is asked for, and checks its layout first (backend.h).
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common.cuh"

namespace lli_cuda {

namespace {

struct cuda_impl {
    int device;
    int n_sm;
};

// The core's error function (lli_fail), handed over at creation: failures are recorded as the
// calling thread's last error of the library, as the core's own are.
lli_backend_host g_host;

lli_status status_of(cudaError_t e) { return e == cudaErrorMemoryAllocation ? LLI_E_NOMEM : LLI_E_BACKEND; }

lli_status set_err(cudaError_t e, const char *what) {
    return g_host.fail(status_of(e), "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

size_t align16(size_t x) { return (x + 15) & ~static_cast<size_t>(15); }

std::atomic<uint64_t> g_mem_gen{1};
void mem_written() { g_mem_gen.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

uint64_t mem_generation() { return g_mem_gen.load(std::memory_order_relaxed); }

bool fail_msg(exec *ex, lli_status st, const char *fmt, ...) {
    if (ex->st == LLI_OK) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(ex->msg, sizeof ex->msg, fmt, ap);
        va_end(ap);
        ex->st = st;
    }
    return true;
}

bool fail_cuda(exec *ex, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return false;
    return fail_msg(ex, status_of(e), "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

bool fail_cublas(exec *ex, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return false;
    return fail_msg(ex, s == CUBLAS_STATUS_ALLOC_FAILED ? LLI_E_NOMEM : LLI_E_BACKEND, "%s: %s (%s)", what,
                    cublasGetStatusString(s), cublasGetStatusName(s));
}

bool check_launch(exec *ex, const char *kernel) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return true;
    char what[96];
    std::snprintf(what, sizeof what, "kernel %s", kernel);
    fail_cuda(ex, e, what);
    return false;
}

bool ensure(exec *ex, scratch &s, size_t bytes, const char *what) {
    if (s.cap >= bytes) return true;
    // Queued kernels may still use the old buffer.
    if (fail_cuda(ex, cudaStreamSynchronize(ex->stream), "cudaStreamSynchronize")) return false;
    if (s.p && fail_cuda(ex, cudaFree(s.p), "cudaFree")) return false;
    s.p = nullptr;
    s.cap = 0;
    size_t want = bytes + bytes / 2;
    if (fail_cuda(ex, cudaMalloc(&s.p, want), what)) return false;
    s.cap = want;
    return true;
}

bool stage_reserve(exec *ex, size_t bytes, void **host, void **dev) {
    bytes = align16(bytes ? bytes : 1);
    if (ex->stage_used + bytes > ex->stage_cap) {
        // Everything copied so far must have left the host buffer before it is reused.
        if (fail_cuda(ex, cudaStreamSynchronize(ex->stream), "cudaStreamSynchronize")) return false;
        ex->stage_used = 0;
        ex->stage_epoch++;
        if (bytes > ex->stage_cap) {
            if (ex->stage_host && fail_cuda(ex, cudaFreeHost(ex->stage_host), "cudaFreeHost")) return false;
            if (ex->stage_dev && fail_cuda(ex, cudaFree(ex->stage_dev), "cudaFree")) return false;
            ex->stage_host = ex->stage_dev = nullptr;
            ex->stage_cap = 0;
            size_t cap = bytes * 2;
            if (fail_cuda(ex, cudaHostAlloc(reinterpret_cast<void **>(&ex->stage_host), cap, cudaHostAllocDefault),
                          "cudaHostAlloc (staging)") ||
                fail_cuda(ex, cudaMalloc(reinterpret_cast<void **>(&ex->stage_dev), cap), "cudaMalloc (staging)"))
                return false;
            ex->stage_cap = cap;
        }
    }
    *host = ex->stage_host + ex->stage_used;
    *dev = ex->stage_dev + ex->stage_used;
    ex->stage_used += bytes;
    return true;
}

bool stage_send(exec *ex, void *host, size_t bytes) {
    char *h = static_cast<char *>(host);
    return !fail_cuda(ex, cudaMemcpyAsync(ex->stage_dev + (h - ex->stage_host), h, bytes, cudaMemcpyHostToDevice, ex->stream),
                      "cudaMemcpyAsync (indices)");
}

void *stage(exec *ex, const void *src, size_t bytes) {
    void *h, *d;
    if (ex->st || !stage_reserve(ex, bytes, &h, &d)) return nullptr;
    std::memcpy(h, src, bytes);
    return stage_send(ex, h, bytes) ? d : nullptr;
}

// Grow a host array of T to n elements (contents not kept).
template <typename T> bool grow(exec *ex, T *&p, int64_t &cap, int64_t n) {
    if (n <= cap) return true;
    T *q = static_cast<T *>(std::realloc(p, static_cast<size_t>(n) * sizeof(T)));
    if (!q) return !fail_msg(ex, LLI_E_NOMEM, "out of host memory for %lld indices", static_cast<long long>(n));
    p = q;
    cap = n;
    return true;
}

const int64_t *stage_positions(exec *ex, const int64_t *pos, int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof *pos;
    if (ex->pos.epoch == ex->stage_epoch && ex->pos.n == n && !std::memcmp(ex->pos.host, pos, bytes)) return ex->pos.dev;
    ex->pos.epoch = 0;
    int64_t cap = ex->pos.cap;
    if (!grow(ex, ex->pos.host, cap, n)) return nullptr;
    ex->pos.cap = cap;
    const int64_t *d = static_cast<const int64_t *>(stage(ex, pos, bytes));
    if (!d) return nullptr;
    std::memcpy(ex->pos.host, pos, bytes);
    ex->pos.n = n;
    ex->pos.dev = d;
    ex->pos.epoch = ex->stage_epoch; // after stage(): a wrap-around there starts a new epoch
    return d;
}

const void *stage_attn_plan(exec *ex, const lli_attn_args *a, lli_attn_plan *plan) {
    auto &c = ex->attn;
    const size_t sb = static_cast<size_t>(a->n) * sizeof *a->seq, pb = static_cast<size_t>(a->n) * sizeof *a->pos;
    if (c.epoch == ex->stage_epoch && c.kv == a->kv && c.n == a->n && c.window == a->window && c.n_head == a->n_head &&
        !std::memcmp(c.seq, a->seq, sb) && !std::memcmp(c.pos, a->pos, pb)) {
        *plan = c.plan;
        return c.dev;
    }
    c.epoch = 0;
    const int planned = lli_cuda_attn_plan(a->kv, a->seq, a->pos, a->n, a->window, a->n_head, ex->n_sm, &ex->attn_work, plan);
    if (planned == -2) {
        fail_msg(ex, LLI_E_NOMEM, "attention: out of memory for the plan of %lld entries", static_cast<long long>(a->n));
        return nullptr;
    }
    if (planned) {
        fail_msg(ex, LLI_E_INVALID_ARG, "attention: an entry's sequence or position is outside the KV cache");
        return nullptr;
    }
    void *host, *dev;
    if (!stage_reserve(ex, plan->bytes, &host, &dev)) return nullptr;
    lli_cuda_attn_fill(a->kv, a->seq, a->pos, a->window, &ex->attn_work, plan, host);
    if (!stage_send(ex, host, plan->bytes)) return nullptr;
    int64_t cap = c.cap;
    if (!grow(ex, c.seq, cap, a->n)) return nullptr;
    cap = c.cap;
    if (!grow(ex, c.pos, cap, a->n)) return nullptr;
    c.cap = cap;
    std::memcpy(c.seq, a->seq, sb);
    std::memcpy(c.pos, a->pos, pb);
    c.kv = a->kv, c.n = a->n, c.window = a->window, c.n_head = a->n_head, c.plan = *plan, c.dev = dev;
    c.epoch = ex->stage_epoch;
    return dev;
}

lli_status lli_cuda_exec_finish(exec *ex) {
    cudaError_t e = cudaStreamSynchronize(ex->stream);
    fail_cuda(ex, e, "cudaStreamSynchronize");
    ex->stage_used = 0;
    ex->stage_epoch++; // the step's staged data and caches end here
    lli_status st = ex->st;
    if (st != LLI_OK) {
        g_host.fail(st, "%s", ex->msg);
        // Reported once; a sticky device error fails the next step again by itself.
        ex->st = LLI_OK;
        ex->msg[0] = 0;
        cudaGetLastError();
    }
    return st;
}

lli_status report(lli_status st, const char *msg) { return g_host.fail(st, "%s", msg); }

namespace {

// ---- memory ---------------------------------------------------------------------------------

lli_status cuda_alloc(lli_backend *be, uint64_t bytes, void **out) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    *out = nullptr;
    cudaError_t e = cudaSetDevice(impl->device);
    if (e == cudaSuccess) e = cudaMalloc(out, bytes ? bytes : 1);
    if (e == cudaSuccess) return LLI_OK;
    char what[96];
    std::snprintf(what, sizeof what, "cudaMalloc of %llu bytes", static_cast<unsigned long long>(bytes));
    cudaGetLastError();
    return set_err(e, what);
}

void cuda_free(lli_backend *, void *buf) {
    mem_written();
    if (buf) cudaFree(buf);
}

lli_status cuda_upload(lli_backend *be, void *dst, uint64_t offset, const void *src, uint64_t bytes) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    mem_written();
    cudaError_t e = cudaSetDevice(impl->device);
    // Loader threads upload concurrently; a synchronous copy per call keeps each one simple and
    // lets the source buffer be freed as soon as the call returns.
    if (e == cudaSuccess) e = cudaMemcpy(static_cast<char *>(dst) + offset, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? LLI_OK : set_err(e, "cudaMemcpy (upload)");
}

// Contexts' streams are blocking streams, so these copies on the legacy default stream are
// ordered after every operation already queued on them.
lli_status cuda_download(lli_backend *be, void *dst, const void *src, uint64_t offset, uint64_t bytes) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    cudaError_t e = cudaSetDevice(impl->device);
    if (e == cudaSuccess) e = cudaMemcpy(dst, static_cast<const char *>(src) + offset, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? LLI_OK : set_err(e, "cudaMemcpy (download)");
}

lli_status cuda_copy(lli_backend *be, void *dst, uint64_t dst_offset, const void *src, uint64_t src_offset, uint64_t bytes) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    mem_written();
    cudaError_t e = cudaSetDevice(impl->device);
    if (e == cudaSuccess)
        e = cudaMemcpy(static_cast<char *>(dst) + dst_offset, static_cast<const char *>(src) + src_offset, bytes,
                       cudaMemcpyDeviceToDevice);
    // A device-to-device cudaMemcpy may return before it is done; the caller was promised a copy.
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    return e == cudaSuccess ? LLI_OK : set_err(e, "cudaMemcpy (device to device)");
}

void cuda_destroy(lli_backend *be) {
    delete static_cast<cuda_impl *>(be->impl);
    std::free(be);
}

// ---- execution resources --------------------------------------------------------------------

void cuda_exec_free(lli_backend *, void *p) {
    exec *ex = static_cast<exec *>(p);
    if (!ex) return;
    cudaSetDevice(ex->device);
    if (ex->stream) cudaStreamSynchronize(ex->stream);
    if (ex->cublas) cublasDestroy(ex->cublas);
    for (scratch *s : {&ex->xq, &ex->xh, &ex->wtile, &ex->partial})
        if (s->p) cudaFree(s->p);
    if (ex->stage_host) cudaFreeHost(ex->stage_host);
    if (ex->stage_dev) cudaFree(ex->stage_dev);
    if (ex->stream) cudaStreamDestroy(ex->stream);
    lli_cuda_attn_work_free(&ex->attn_work);
    std::free(ex->pos.host);
    std::free(ex->attn.seq);
    std::free(ex->attn.pos);
    delete ex;
}

void *cuda_exec_create(lli_backend *be, int) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    exec *ex = new (std::nothrow) exec;
    if (!ex) {
        g_host.fail(LLI_E_NOMEM, "out of memory");
        return nullptr;
    }
    ex->device = impl->device;
    ex->n_sm = impl->n_sm;
    bool bad = fail_cuda(ex, cudaSetDevice(ex->device), "cudaSetDevice") ||
               // Blocking (not cudaStreamNonBlocking): download() and copy() on the legacy stream
               // then wait for this stream's work, whatever order the caller uses.
               fail_cuda(ex, cudaStreamCreateWithFlags(&ex->stream, cudaStreamDefault), "cudaStreamCreate") ||
               fail_cublas(ex, cublasCreate(&ex->cublas), "cublasCreate") ||
               fail_cublas(ex, cublasSetStream(ex->cublas, ex->stream), "cublasSetStream") || !attention_init(ex);
    void *h, *d;
    if (!bad) bad = !stage_reserve(ex, 1 << 20, &h, &d);
    ex->stage_used = 0;
    if (bad) {
        g_host.fail(ex->st != LLI_OK ? ex->st : LLI_E_BACKEND, "%s", ex->msg);
        cuda_exec_free(be, ex);
        return nullptr;
    }
    return ex;
}

// ---- operations -----------------------------------------------------------------------------

exec *X(void *p) { return static_cast<exec *>(p); }

// Every op but a matrix product may write a product's input: the converted one is forgotten.

void cu_embed(void *e, const lli_tensor *t, const int32_t *tokens, int64_t n, float *out) {
    forget_activations(X(e));
    lli_cuda_tensor v;
    lli_cuda_tensor_of(t, &v);
    op_embed(X(e), v, tokens, n, out);
}
void cu_rms_norm(void *e, const float *x, const float *w, float *out, int64_t rows, int64_t dim, float eps) {
    forget_activations(X(e));
    op_rms_norm(X(e), x, w, out, rows, dim, eps);
}
void cu_matmul(void *e, const lli_tensor *w, const float *x, float *out, int64_t n, void *) {
    lli_cuda_tensor v;
    lli_cuda_tensor_of(w, &v);
    op_matmul(X(e), v, x, out, n);
}
void cu_add(void *e, float *x, const float *y, int64_t count) {
    forget_activations(X(e));
    op_add(X(e), x, y, count);
}
void cu_add_rows(void *e, float *x, const float *bias, int64_t rows, int64_t dim) {
    forget_activations(X(e));
    op_add_rows(X(e), x, bias, rows, dim);
}
void cu_rope(void *e, float *x, const int64_t *pos, int64_t n, int heads, int head_dim, int rope_dim, int neox, float theta_scale,
             float freq_scale, const float *freq_factors) {
    forget_activations(X(e));
    op_rope(X(e), x, pos, n, heads, head_dim, rope_dim, neox, theta_scale, freq_scale, freq_factors);
}
void cu_swiglu(void *e, float *gate, const float *up, int64_t count) {
    forget_activations(X(e));
    op_swiglu(X(e), gate, up, count);
}
void cu_attention(void *e, const lli_attn_args *a) {
    forget_activations(X(e));
    op_attention(X(e), a);
}
void cu_gather_rows(void *e, const float *src, const int32_t *rows, int64_t n, int64_t dim, float *dst) {
    forget_activations(X(e));
    op_gather_rows(X(e), src, rows, n, dim, dst);
}
lli_status cu_finish(void *e) { return lli_cuda_exec_finish(X(e)); }
lli_status cu_sample(void *e, const float *logits, int64_t rows, int64_t vocab, float temperature, int top_k, float top_p,
                     const float *uniform, int32_t *tokens) {
    forget_activations(X(e));
    return op_sample(X(e), logits, rows, vocab, temperature, top_k, top_p, uniform, tokens);
}

/* No attention_scratch or matmul_scratch: the module keeps its own scratch per exec. */
const lli_compute_ops k_compute = {
    .embed = cu_embed,
    .rms_norm = cu_rms_norm,
    .matmul = cu_matmul,
    .add = cu_add,
    .add_rows = cu_add_rows,
    .rope = cu_rope,
    .swiglu = cu_swiglu,
    .attention = cu_attention,
    .gather_rows = cu_gather_rows,
    .finish = cu_finish,
    .attention_scratch = nullptr,
    .matmul_scratch = nullptr,
    .sample = cu_sample,
};

const lli_backend_ops k_cuda_ops = {
    .name = "cuda",
    .kind = LLI_BACKEND_CUDA,
    .uses_host_memory = 0,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .destroy = cuda_destroy,
    .exec_create = cuda_exec_create,
    .exec_free = cuda_exec_free,
    .compute = &k_compute,
    .supports_type = nullptr, /* every type the format has: quant.cuh dequantizes all of them */
    .prepare_weight = nullptr, /* weights stay as the file has them: the kernels read GGUF blocks */
};

}  // namespace
}  // namespace lli_cuda

extern "C" __attribute__((visibility("default"))) void lli_backend_module_abi(lli_backend_abi *out) { lli_cuda_abi(out); }

extern "C" __attribute__((visibility("default"))) lli_status lli_backend_module_create(const lli_backend_host *host,
                                                                                       lli_backend **out) {
    using namespace lli_cuda;
    lli_backend_abi mine;
    lli_cuda_abi(&mine);
    if (std::memcmp(&mine, &host->abi, sizeof mine))
        return host->fail(LLI_E_BACKEND, "the CUDA module was built for backend interface %u, the library has %u (or their "
                                         "structs differ): rebuild the module with the library",
                          mine.version, host->abi.version);
    g_host = *host;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return g_host.fail(LLI_E_BACKEND, "no GPU: %s", e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
    }
    int n_sm = 0;
    e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0);
    if (e != cudaSuccess) return g_host.fail(LLI_E_BACKEND, "cannot start device 0: %s", cudaGetErrorString(e));
    cuda_impl *impl = new (std::nothrow) cuda_impl{0, n_sm};
    lli_backend *be = static_cast<lli_backend *>(std::calloc(1, sizeof *be));
    if (!impl || !be) {
        delete impl;
        std::free(be);
        return g_host.fail(LLI_E_NOMEM, "out of memory");
    }
    be->ops = &k_cuda_ops;
    be->impl = impl;
    *out = be;
    return LLI_OK;
}
