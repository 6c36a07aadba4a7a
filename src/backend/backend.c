/* Backend selection. The CUDA backend lives in its own module, loaded with dlopen only when asked
 * for, so that the library runs on machines with no GPU driver even when built with CUDA. */
#include "backend/backend.h"

#include <dlfcn.h>
#include <stdio.h>

#include "base/error.h"

#ifndef LLI_CUDA_MODULE_DIR
#define LLI_CUDA_MODULE_DIR ""
#endif

static lli_status open_cuda(lli_backend **out) {
    /* The loader's search path first (LD_LIBRARY_PATH, build trees), then the install directory. */
    void *h = dlopen(LLI_CUDA_MODULE_NAME, RTLD_NOW | RTLD_LOCAL);
    static const char install_dir[] = LLI_CUDA_MODULE_DIR;
    if (!h && install_dir[0]) h = dlopen(LLI_CUDA_MODULE_DIR "/" LLI_CUDA_MODULE_NAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) return lli_fail(LLI_E_BACKEND, "CUDA backend unavailable: %s", dlerror());
    lli_cuda_entry_fn entry = (lli_cuda_entry_fn)dlsym(h, LLI_CUDA_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(h);
        return lli_fail(LLI_E_BACKEND, "CUDA backend module lacks %s", LLI_CUDA_ENTRY_SYMBOL);
    }
    char err[512] = "";
    lli_status st = entry(out, err, sizeof err);
    if (st != LLI_OK) {
        dlclose(h);
        return lli_fail(LLI_E_BACKEND, "CUDA backend: %s", err);
    }
    /* The module stays loaded for the life of the process: its kernels may still be referenced. */
    return LLI_OK;
}

lli_status lli_backend_open(int kind, lli_backend **out) {
    *out = NULL;
    switch (kind) {
    case LLI_BACKEND_CPU: return lli_backend_cpu_create(out);
    case LLI_BACKEND_CUDA: return open_cuda(out);
    case LLI_BACKEND_AUTO:
        if (open_cuda(out) == LLI_OK) return LLI_OK;
        return lli_backend_cpu_create(out);
    default: return lli_fail(LLI_E_INVALID_ARG, "unknown backend %d", kind);
    }
}

void lli_backend_close(lli_backend *be) {
    if (be) be->ops->destroy(be);
}

lli_status lli_backend_status(const lli_backend *be, lli_status st) {
    if (st != LLI_OK && be->ops->error_text) {
        const char *text = be->ops->error_text();
        lli_fail(st, "%s backend: %s", be->ops->name, text && *text ? text : "unknown failure");
    }
    return st;
}
