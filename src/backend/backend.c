/* Backend selection. The CUDA backend lives in its own module, loaded with dlopen only when asked
 * for, so that the library runs on machines with no GPU driver even when built with CUDA. The module
 * is opened by path only (see LLI_CUDA_MODULE_NAME), and its layout is checked before it is used. */
#include "backend/backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#ifndef LLI_CUDA_MODULE_DIR
#define LLI_CUDA_MODULE_DIR ""
#endif

static const lli_backend_abi k_abi = LLI_BACKEND_ABI_INIT;

/* dlopen by path; the tried paths are appended to `tried` for the message. */
static void *open_path(const char *path, char *tried, size_t cap) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        size_t used = strlen(tried);
        int w = snprintf(tried + used, cap - used, "%s%s (%s)", used ? "; " : "", path, dlerror());
        if (w < 0 || (size_t)w >= cap - used) tried[cap - 1] = 0; /* a long list is cut */
    }
    return h;
}

static void *open_cuda_module(char *tried, size_t cap) {
    const char *env = getenv("LLI_CUDA_MODULE");
    if (env && *env) {
        if (!strchr(env, '/')) {
            snprintf(tried, cap, "LLI_CUDA_MODULE=%s is not a path", env);
            return NULL;
        }
        return open_path(env, tried, cap);
    }
    char path[4096];
    Dl_info info;
    const char *self = dladdr((void *)lli_backend_open, &info) && info.dli_fname ? info.dli_fname : "";
    const char *slash = strrchr(self, '/');
    if (slash) {
        int dir = (int)(slash - self);
        static const char *const subdirs[] = {"llminfer", "cuda"};
        for (int i = 0; i < 2; i++) {
            int w = snprintf(path, sizeof path, "%.*s/%s/%s", dir, self, subdirs[i], LLI_CUDA_MODULE_NAME);
            if (w < 0 || (size_t)w >= sizeof path) continue;
            void *h = open_path(path, tried, cap);
            if (h) return h;
        }
    }
    if (*LLI_CUDA_MODULE_DIR) {
        int w = snprintf(path, sizeof path, "%s/llminfer/%s", LLI_CUDA_MODULE_DIR, LLI_CUDA_MODULE_NAME);
        if (w > 0 && (size_t)w < sizeof path) return open_path(path, tried, cap);
    }
    return NULL;
}

static lli_status open_cuda(lli_backend **out) {
    char tried[2048] = "";
    void *h = open_cuda_module(tried, sizeof tried);
    if (!h) return lli_fail(LLI_E_BACKEND, "CUDA backend unavailable: %s", *tried ? tried : "no module path");
    lli_backend_module_abi_fn abi = (lli_backend_module_abi_fn)dlsym(h, LLI_BACKEND_MODULE_ABI_SYMBOL);
    lli_backend_module_create_fn create = (lli_backend_module_create_fn)dlsym(h, LLI_BACKEND_MODULE_CREATE_SYMBOL);
    if (!abi || !create) {
        dlclose(h);
        return lli_fail(LLI_E_BACKEND, "CUDA backend module lacks %s or %s", LLI_BACKEND_MODULE_ABI_SYMBOL,
                        LLI_BACKEND_MODULE_CREATE_SYMBOL);
    }
    lli_backend_abi theirs;
    memset(&theirs, 0, sizeof theirs);
    abi(&theirs);
    if (memcmp(&theirs, &k_abi, sizeof k_abi)) {
        dlclose(h);
        return lli_fail(LLI_E_BACKEND,
                        "CUDA backend module was built for backend interface %u (struct sizes %u %u %u %u %u %u), "
                        "this library has %u (%u %u %u %u %u %u): rebuild the module with the library",
                        theirs.version, theirs.sizes[0], theirs.sizes[1], theirs.sizes[2], theirs.sizes[3], theirs.sizes[4],
                        theirs.sizes[5], k_abi.version, k_abi.sizes[0], k_abi.sizes[1], k_abi.sizes[2], k_abi.sizes[3],
                        k_abi.sizes[4], k_abi.sizes[5]);
    }
    const lli_backend_host host = {k_abi, lli_fail};
    lli_status st = create(&host, out);
    if (st != LLI_OK) {
        dlclose(h);
        return lli_fail_prefix(st, "CUDA backend: ");
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
    (void)be;
    return st;
}
