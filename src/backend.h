/* The backend interface: a small table of function pointers that each backend (src/cpu/, cuda/)
 * fills in. The loader only needs memory for tensors; the forward pass adds its operations here. */
#ifndef LLI_BACKEND_H
#define LLI_BACKEND_H

#include <stdint.h>

#include "llminfer.h"

typedef struct lli_backend lli_backend;

typedef struct lli_backend_ops {
    const char *name;
    int kind; /* LLI_BACKEND_CPU or LLI_BACKEND_CUDA */
    /* Non-zero if tensors may live in host memory the loader already has (a memory-mapped raw
     * fragment), so that nothing is copied. */
    int uses_host_memory;
    lli_status (*alloc)(lli_backend *be, uint64_t bytes, void **out);
    void (*free)(lli_backend *be, void *buf);
    /* Copy host bytes into memory from alloc(). Safe to call from several loader threads at once. */
    lli_status (*upload)(lli_backend *be, void *dst, uint64_t offset, const void *src, uint64_t bytes);
    void (*destroy)(lli_backend *be);
} lli_backend_ops;

struct lli_backend {
    const lli_backend_ops *ops;
    void *impl;
};

/* Open the backend a model asks for (LLI_BACKEND_AUTO tries CUDA, then the CPU). */
lli_status lli_backend_open(int kind, lli_backend **out);
void lli_backend_close(lli_backend *be);

lli_status lli_backend_cpu_create(lli_backend **out);

/* The entry point a CUDA backend module exports (see cuda/). */
typedef lli_status (*lli_cuda_entry_fn)(lli_backend **out, char *err, size_t err_cap);
#define LLI_CUDA_ENTRY_SYMBOL "lli_cuda_backend_create"
#define LLI_CUDA_MODULE_NAME "libllminfer-cuda.so"

#endif
