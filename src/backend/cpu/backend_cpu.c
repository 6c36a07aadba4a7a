/* The CPU backend. Tensors live in host memory: in buffers of the backend's own (decompressed or
 * copied fragments), or, where the application asks for it, in raw fragments mapped in place. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "base/error.h"

extern const lli_compute_ops lli_cpu_compute_ops;

/* Buffers of 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages (Linux
 * grants them with the "madvise" setting, the common default): decode streams every weight once
 * per token, and with 4 KiB pages each page of it costs a TLB miss, dear in a virtual machine
 * (two levels of page tables to walk). Smaller buffers keep 64-byte alignment (wide enough for
 * AVX-512 loads), not to waste most of a huge page. */
static lli_status cpu_alloc(lli_backend *be, uint64_t bytes, void **out) {
    (void)be;
    const size_t huge = (size_t)2 << 20;
    size_t n = (size_t)((bytes + 63) & ~(uint64_t)63);
    if (n >= huge) {
        /* not rounded up to whole huge pages: the tail past the last one takes small pages */
        if (posix_memalign(out, huge, n)) *out = NULL;
#ifdef MADV_HUGEPAGE
        if (*out) madvise(*out, n, MADV_HUGEPAGE); /* advice only: 4 KiB pages if refused */
#endif
    } else {
        *out = aligned_alloc(64, n ? n : 64);
    }
    if (!*out) return lli_fail(LLI_E_NOMEM, "cannot allocate %llu bytes of host memory", (unsigned long long)bytes);
    return LLI_OK;
}

static void cpu_free(lli_backend *be, void *buf) {
    (void)be;
    free(buf);
}

static lli_status cpu_upload(lli_backend *be, void *dst, uint64_t offset, const void *src, uint64_t bytes) {
    (void)be;
    memcpy((char *)dst + offset, src, (size_t)bytes);
    return LLI_OK;
}

static lli_status cpu_download(lli_backend *be, void *dst, const void *src, uint64_t offset, uint64_t bytes) {
    (void)be;
    memcpy(dst, (const char *)src + offset, (size_t)bytes);
    return LLI_OK;
}

static lli_status cpu_copy(lli_backend *be, void *dst, uint64_t dst_offset, const void *src, uint64_t src_offset,
                           uint64_t bytes) {
    (void)be;
    memmove((char *)dst + dst_offset, (const char *)src + src_offset, (size_t)bytes);
    return LLI_OK;
}

/* Weights of the types with an X8 layout (quant.h), where the kernels in use decode it: eight rows
 * per vector and one stream through memory, instead of one row's blocks at a time or eight rows'
 * streams. The kernel table never changes in a process, so weights arranged for it stay right. */
static lli_status cpu_prepare_weight(lli_backend *be, lli_tensor *t) {
    (void)be;
    const int type = t->type->id;
    const lli_kernels *k = lli_cpu_kernels();
    if (t->layout != LLI_LAYOUT_ROWS || t->n_dims != 2 || !lli_cpu_has_x8(type) || !k->mm_x8[type] || t->ne[1] < 8)
        return LLI_OK;
    /* without memory for eight rows of scratch, the rows stay as they are: slower, not wrong */
    if (lli_cpu_interleave_x8(type, t->data, t->bytes / (uint64_t)t->ne[1], t->ne[1]) == 0) t->layout = LLI_LAYOUT_X8;
    return LLI_OK;
}

static void cpu_destroy(lli_backend *be) { free(be); }

static void *cpu_exec_create(lli_backend *be, int n_threads) {
    (void)be;
    lli_pool *pool = lli_pool_create(n_threads);
    if (!pool) lli_fail(LLI_E_BACKEND, "cannot start a pool of %d threads", n_threads);
    return pool;
}

static void cpu_exec_free(lli_backend *be, void *exec) {
    (void)be;
    lli_pool_free(exec);
}

static const lli_backend_ops k_cpu_ops = {
    .name = "cpu",
    .supports_type = lli_cpu_type_supported,
    .kind = LLI_BACKEND_CPU,
    .uses_host_memory = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .destroy = cpu_destroy,
    .exec_create = cpu_exec_create,
    .exec_free = cpu_exec_free,
    .compute = &lli_cpu_compute_ops,
    .prepare_weight = cpu_prepare_weight,
};

lli_status lli_backend_cpu_create(lli_backend **out) {
    lli_backend *be = calloc(1, sizeof *be);
    if (!be) return lli_fail(LLI_E_NOMEM, "out of memory creating the CPU backend");
    /* The kernels are chosen once per process, here if no one has yet (later calls only read). */
    lli_cpu_kernels();
    be->ops = &k_cpu_ops;
    *out = be;
    return LLI_OK;
}
