/* The backend interface: a small table of function pointers that each backend (src/backend/cpu/, cuda/)
 * fills in. The loader only needs memory for tensors; the forward pass adds its operations here. */
#ifndef LLI_BACKEND_H
#define LLI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"

typedef struct lli_backend lli_backend;
#include "backend/tensor.h"
#include "backend/kv_view.h"

/* One layer's attention over the paged KV cache for every entry of a step: store the entries' keys
 * and values, then attend each query to its sequence's positions up to its own. */
typedef struct lli_attn_args {
    const float *q, *k, *v;      /* [n][n_head * head_dim], [n][n_head_kv * head_dim] x 2 */
    float *out;                  /* [n][n_head * head_dim] */
    int64_t n;
    const int32_t *seq;          /* per entry */
    const int64_t *pos;          /* per entry */
    const lli_kv_view *kv;       /* the cache as of this step */
    int layer;                   /* among the loaded layers */
    int n_head, n_head_kv, head_dim;
    int64_t window;              /* 0: none */
    float scale;
    void *scratch;               /* attention_scratch() bytes for this step, from the context; NULL if none */
} lli_attn_args;

/* The operations of the forward pass. `exec` is the backend's execution resource of the calling
 * context (the CPU thread pool, a CUDA stream). Float buffers, weights and the KV cache's storage
 * are backend memory (from alloc); index arrays (tokens, positions, sequence ids, the KV cache's
 * block tables) are host memory, which a device backend copies over itself; it may keep what it
 * made of them (positions, attention plans) until finish(), so index arrays and block tables must
 * not change between the operations of one step unless they are passed anew. Operations may run
 * asynchronously; finish() waits for them and reports the first failure. */
typedef struct lli_compute_ops {
    /* out[i] = rows tokens[i] of an embedding table, as floats */
    void (*embed)(void *exec, const struct lli_tensor *table, const int32_t *tokens, int64_t n, float *out);
    /* out = x / rms(x) * w per row of dim (w may be NULL) */
    void (*rms_norm)(void *exec, const float *x, const float *w, float *out, int64_t rows, int64_t dim, float eps);
    /* out[t][o] = w[o] . x[t] for n rows of x; scratch holds n * in / 32 quantized blocks */
    void (*matmul)(void *exec, const struct lli_tensor *w, const float *x, float *out, int64_t n, void *scratch);
    void (*add)(void *exec, float *x, const float *y, int64_t count);
    void (*add_rows)(void *exec, float *x, const float *bias, int64_t rows, int64_t dim);
    /* rotary embedding of rows [n][heads][head_dim] at the entries' positions: pair i turns by
     * freq_scale * pos * theta_scale^i / freq_factors[i] (freq_factors may be NULL) */
    void (*rope)(void *exec, float *x, const int64_t *pos, int64_t n, int heads, int head_dim, int rope_dim, int neox,
                 float theta_scale, float freq_scale, const float *freq_factors);
    /* gate = silu(gate) * up */
    void (*swiglu)(void *exec, float *gate, const float *up, int64_t count);
    void (*attention)(void *exec, const lli_attn_args *args);
    /* dst[i] = src row rows[i] (rows is host memory), rows of dim floats */
    void (*gather_rows)(void *exec, const float *src, const int32_t *rows, int64_t n, int64_t dim, float *dst);
    /* Wait for the operations issued so far; LLI_OK, or the first failure (with lli_fail's message). */
    lli_status (*finish)(void *exec);
    /* Bytes of backend memory attention() needs as scratch for a step of up to n entries at
     * positions below max_pos, or NULL when it needs none. The context allocates it before a step
     * starts, so that no step fails for memory halfway through its layers. */
    uint64_t (*attention_scratch)(void *exec, int64_t n, int64_t max_pos, int head_dim);
    /* Bytes of backend memory matmul() needs as scratch for n input rows of up to `in` floats (the
     * CPU quantizes the input there), or NULL when it needs none. The context allocates it once. */
    uint64_t (*matmul_scratch)(int64_t n, int64_t in);
    /* Sample one token per row of `rows` rows of `vocab` logits (backend memory) and wait for it; NULL
     * when the backend samples on the host (the CPU). The rules are cuda/sample_row.h's: greedy when
     * temperature <= 0 or top_k == 1; else softmax(logits / temperature) over the top_k largest (<= 0:
     * all), then down to the smallest threshold whose mass reaches top_p (>= 1: all; <= 0: only the
     * largest); NaN logits never chosen. The token is where uniform[r] (host, in [0, 1]) falls in the
     * kept mass in index order; tokens are host memory. LLI_E_INVALID_ARG for a NaN or infinite
     * temperature, a NaN top_p, a draw outside [0, 1] or a row with no number. */
    lli_status (*sample)(void *exec, const float *logits, int64_t rows, int64_t vocab, float temperature, int top_k,
                         float top_p, const float *uniform, int32_t *tokens);
} lli_compute_ops;

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
    /* Copy bytes from memory from alloc() to the host, and between two such buffers. Synchronous. */
    lli_status (*download)(lli_backend *be, void *dst, const void *src, uint64_t offset, uint64_t bytes);
    lli_status (*copy)(lli_backend *be, void *dst, uint64_t dst_offset, const void *src, uint64_t src_offset,
                       uint64_t bytes);
    void (*destroy)(lli_backend *be);
    /* Execution resources for one context (threads, streams), and the forward pass's operations. */
    /* NULL on failure, after recording why (lli_fail; a module through its host's fail). */
    void *(*exec_create)(lli_backend *be, int n_threads);
    void (*exec_free)(lli_backend *be, void *exec);
    const lli_compute_ops *compute;
    /* Non-zero if matmul() has kernels for weights of this tensor type (enum lli_ttype); NULL when
     * it has them for every type. Asked once per weight at load. */
    int (*supports_type)(int type);
    /* Rearrange, in place, a weight that only matmul() reads and that lies in memory from alloc(),
     * into what the backend's products read fastest, recording it in t->layout (a backend may
     * leave the tensor as it is). Called once per such weight at load, before any context exists,
     * from several loader threads at once (each on its own tensor). NULL: never rearranges. */
    lli_status (*prepare_weight)(lli_backend *be, struct lli_tensor *t);
} lli_backend_ops;

struct lli_backend {
    const lli_backend_ops *ops;
    void *impl;
};

/* Open the backend a model asks for (LLI_BACKEND_AUTO tries CUDA, then the CPU). */
lli_status lli_backend_open(int kind, lli_backend **out);
void lli_backend_close(lli_backend *be);

/* A backend call's status, for the caller to pass on. Every backend records its failures' messages
 * through lli_fail (a module through the lli_backend_host.fail the core hands it). */
lli_status lli_backend_status(const lli_backend *be, lli_status st);

lli_status lli_backend_cpu_create(lli_backend **out);

/* ---- backend modules (the CUDA backend: cuda/) ------------------------------------------------
 * A module is built apart from the core and reads the core's structs, so both must agree on their
 * layout: the interface version below (raise it with any change to the structs that cross the
 * boundary: the ones in this file, lli_tensor, lli_kv_view) and the structs' sizes are
 * compared when the module is opened, by the core and by the module. The version is also in the
 * module's file name, so that a stale module is never even opened. */
#define LLI_BACKEND_ABI 3

typedef struct lli_backend_abi {
    uint32_t version; /* LLI_BACKEND_ABI */
    uint32_t sizes[6]; /* see LLI_BACKEND_ABI_INIT */
} lli_backend_abi;

/* This compilation's view of the structs' sizes. */
#define LLI_BACKEND_ABI_INIT                                                                               \
    {LLI_BACKEND_ABI,                                                                                       \
     {sizeof(lli_backend), sizeof(lli_backend_ops), sizeof(lli_compute_ops), sizeof(lli_attn_args),          \
      sizeof(struct lli_tensor), sizeof(lli_kv_view)}}

/* What the core hands a module when it creates the backend. */
typedef struct lli_backend_host {
    lli_backend_abi abi;
    /* The core's lli_fail: records the calling thread's last error; returns st. */
    lli_status (*fail)(lli_status st, const char *fmt, ...);
} lli_backend_host;

/* A module exports both: the first reports the layout it was built with; the second creates the
 * backend (it refuses a host whose layout differs, through host->fail). */
typedef void (*lli_backend_module_abi_fn)(lli_backend_abi *out);
typedef lli_status (*lli_backend_module_create_fn)(const lli_backend_host *host, lli_backend **out);
#define LLI_BACKEND_MODULE_ABI_SYMBOL "lli_backend_module_abi"
#define LLI_BACKEND_MODULE_CREATE_SYMBOL "lli_backend_module_create"

#define LLI_STR_(x) #x
#define LLI_STR(x) LLI_STR_(x)
/* Looked for, in order: the path in the environment variable LLI_CUDA_MODULE (a path, never a bare
 * name); beside the library that holds the core, in llminfer/ (the installed layout, libdir/llminfer/)
 * and cuda/ (a build tree); the install directory's llminfer/. Never through the loader's search
 * path (LD_LIBRARY_PATH). */
#define LLI_CUDA_MODULE_NAME "llminfer-cuda-" LLI_STR(LLI_BACKEND_ABI) ".so"

#endif
