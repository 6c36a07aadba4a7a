// The CUDA backend: device memory for tensors, one stream for uploads. Built as its own module
// (libllminfer-cuda.so) so that libllminfer.so never needs the CUDA runtime to load; the core
// library dlopens this module only when the CUDA backend is asked for.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <new>

extern "C" {
#include "backend.h"
}

namespace {

struct cuda_impl {
    int device;
    cudaStream_t stream;
};

// Every CUDA status becomes an lli_status with the CUDA error text; the core library has no
// access to our thread-local error, so the text goes back through the entry point's buffer or,
// later, stderr-free per-call messages from the vtable.
thread_local char g_err[512];

lli_status cuda_fail(cudaError_t e, const char *what) {
    std::snprintf(g_err, sizeof g_err, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return e == cudaErrorMemoryAllocation ? LLI_E_NOMEM : LLI_E_BACKEND;
}

lli_status cuda_alloc(lli_backend *be, uint64_t bytes, void **out) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    cudaError_t e = cudaSetDevice(impl->device);
    if (e == cudaSuccess) e = cudaMalloc(out, bytes ? bytes : 1);
    return e == cudaSuccess ? LLI_OK : cuda_fail(e, "cudaMalloc");
}

void cuda_free(lli_backend *, void *buf) { cudaFree(buf); }

lli_status cuda_upload(lli_backend *be, void *dst, uint64_t offset, const void *src, uint64_t bytes) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    cudaError_t e = cudaSetDevice(impl->device);
    // Loader threads upload concurrently; a synchronous copy per call keeps each one simple and
    // lets the source buffer be freed as soon as the call returns.
    if (e == cudaSuccess) e = cudaMemcpy(static_cast<char *>(dst) + offset, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? LLI_OK : cuda_fail(e, "cudaMemcpy (upload)");
}

void cuda_destroy(lli_backend *be) {
    cuda_impl *impl = static_cast<cuda_impl *>(be->impl);
    if (impl) {
        cudaStreamDestroy(impl->stream);
        delete impl;
    }
    std::free(be);
}

const lli_backend_ops k_cuda_ops = {
    "cuda", LLI_BACKEND_CUDA, 0, cuda_alloc, cuda_free, cuda_upload, nullptr, nullptr, cuda_destroy,
    nullptr, nullptr, nullptr,  // compute: the kernels come with the CUDA issue
    nullptr,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) lli_status lli_cuda_backend_create(lli_backend **out, char *err,
                                                                                     size_t err_cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        std::snprintf(err, err_cap, "no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return LLI_E_BACKEND;
    }
    cuda_impl *impl = new (std::nothrow) cuda_impl{0, nullptr};
    lli_backend *be = static_cast<lli_backend *>(std::calloc(1, sizeof *be));
    if (!impl || !be) {
        delete impl;
        std::free(be);
        std::snprintf(err, err_cap, "out of memory");
        return LLI_E_NOMEM;
    }
    e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        std::snprintf(err, err_cap, "cannot start device 0: %s", cudaGetErrorString(e));
        delete impl;
        std::free(be);
        return LLI_E_BACKEND;
    }
    be->ops = &k_cuda_ops;
    be->impl = impl;
    *out = be;
    return LLI_OK;
}
