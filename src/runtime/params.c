/* Creation, defaults and setters of every parameter object. Setters validate at once, so that a bad
 * value is reported where it was given rather than at load time. */
#include "runtime/params.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define NEED(p, what)                                                                                      \
    do {                                                                                                   \
        if (!(p)) return lli_fail(LLI_E_INVALID_ARG, "%s: %s is NULL", __func__, what);                    \
    } while (0)

static lli_status check_threads(const char *fn, int n) {
    if (n < 0 || n > 1024) return lli_fail(LLI_E_INVALID_ARG, "%s: %d threads is outside 0..1024", fn, n);
    return LLI_OK;
}

void lli_model_params_defaults(struct lli_model_params *p) {
    memset(p, 0, sizeof *p);
    p->backend = LLI_BACKEND_AUTO;
    p->verify = 1;
    p->layer_last = -1;
}

lli_status lli_model_params_create(lli_model_params **out) {
    NEED(out, "out");
    *out = calloc(1, sizeof **out);
    if (!*out) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_model_params_defaults(*out);
    return LLI_OK;
}

void lli_model_params_free(lli_model_params *p) {
    if (!p) return;
    free(p->expected_arch);
    free(p);
}

lli_status lli_model_params_set_backend(lli_model_params *p, int backend) {
    NEED(p, "params");
    if (backend != LLI_BACKEND_AUTO && backend != LLI_BACKEND_CPU && backend != LLI_BACKEND_CUDA)
        return lli_fail(LLI_E_INVALID_ARG, "unknown backend %d (use LLI_BACKEND_AUTO, _CPU or _CUDA)", backend);
    p->backend = backend;
    return LLI_OK;
}

lli_status lli_model_params_set_threads(lli_model_params *p, int n) {
    NEED(p, "params");
    lli_status st = check_threads(__func__, n);
    if (!st) p->n_threads = n;
    return st;
}

lli_status lli_model_params_set_verify(lli_model_params *p, int verify) {
    NEED(p, "params");
    p->verify = verify != 0;
    return LLI_OK;
}

lli_status lli_model_params_set_expected_arch(lli_model_params *p, const char *arch) {
    NEED(p, "params");
    char *copy = NULL;
    if (arch && *arch) {
        size_t n = strlen(arch);
        if (n > 64) return lli_fail(LLI_E_INVALID_ARG, "expected architecture name is longer than 64 bytes");
        if (!(copy = malloc(n + 1))) return lli_fail(LLI_E_NOMEM, "out of memory");
        memcpy(copy, arch, n + 1);
    }
    free(p->expected_arch);
    p->expected_arch = copy;
    return LLI_OK;
}

lli_status lli_model_params_set_layer_range(lli_model_params *p, int first, int last) {
    NEED(p, "params");
    if (first < 0 || (last != -1 && last <= first))
        return lli_fail(LLI_E_INVALID_ARG, "layer range [%d, %d) is empty or negative", first, last);
    p->layer_first = first;
    p->layer_last = last;
    return LLI_OK;
}

lli_status lli_model_params_set_vocab_only(lli_model_params *p, int vocab_only) {
    NEED(p, "params");
    p->vocab_only = vocab_only != 0;
    return LLI_OK;
}

lli_status lli_model_params_set_in_place(lli_model_params *p, int in_place) {
    NEED(p, "params");
    p->in_place = in_place != 0;
    return LLI_OK;
}

lli_status lli_model_params_set_progress(lli_model_params *p, lli_progress_fn fn, void *user) {
    NEED(p, "params");
    p->progress = fn;
    p->progress_user = user;
    return LLI_OK;
}

void lli_convert_params_defaults(struct lli_convert_params *p) {
    memset(p, 0, sizeof *p);
    p->compression = LLI_COMPRESS_NONE;
    p->level = 3;
}

lli_status lli_convert_params_create(lli_convert_params **out) {
    NEED(out, "out");
    *out = calloc(1, sizeof **out);
    if (!*out) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_convert_params_defaults(*out);
    return LLI_OK;
}

void lli_convert_params_free(lli_convert_params *p) { free(p); }

lli_status lli_convert_params_set_compression(lli_convert_params *p, int compression, int level) {
    NEED(p, "params");
    if (compression != LLI_COMPRESS_NONE && compression != LLI_COMPRESS_ZSTD)
        return lli_fail(LLI_E_INVALID_ARG, "unknown compression %d (use LLI_COMPRESS_NONE or LLI_COMPRESS_ZSTD)", compression);
    if (level < 0 || level > 19) return lli_fail(LLI_E_INVALID_ARG, "zstd level %d is outside 1..19", level);
    p->compression = compression;
    p->level = level ? level : 3;
    return LLI_OK;
}

lli_status lli_convert_params_set_threads(lli_convert_params *p, int n) {
    NEED(p, "params");
    lli_status st = check_threads(__func__, n);
    if (!st) p->n_threads = n;
    return st;
}

lli_status lli_convert_params_set_progress(lli_convert_params *p, lli_progress_fn fn, void *user) {
    NEED(p, "params");
    p->progress = fn;
    p->progress_user = user;
    return LLI_OK;
}

void lli_kv_cache_params_defaults(struct lli_kv_cache_params *p) {
    p->capacity = 4096;
    p->block_size = 16;
    p->type = LLI_KV_TYPE_F16;
    p->prefix_cache = 1;
}

lli_status lli_kv_cache_params_create(lli_kv_cache_params **out) {
    NEED(out, "out");
    *out = calloc(1, sizeof **out);
    if (!*out) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_kv_cache_params_defaults(*out);
    return LLI_OK;
}

void lli_kv_cache_params_free(lli_kv_cache_params *p) { free(p); }

lli_status lli_kv_cache_params_set_capacity(lli_kv_cache_params *p, int64_t n_tokens) {
    NEED(p, "params");
    if (n_tokens < 1 || n_tokens > ((int64_t)1 << 32))
        return lli_fail(LLI_E_INVALID_ARG, "KV capacity %lld is outside 1..2^32 tokens", (long long)n_tokens);
    p->capacity = n_tokens;
    return LLI_OK;
}

lli_status lli_kv_cache_params_set_type(lli_kv_cache_params *p, int type) {
    NEED(p, "params");
    if (type != LLI_KV_TYPE_F16 && type != LLI_KV_TYPE_Q8)
        return lli_fail(LLI_E_INVALID_ARG, "unknown KV storage type %d (use LLI_KV_TYPE_F16 or LLI_KV_TYPE_Q8)", type);
    p->type = type;
    return LLI_OK;
}

lli_status lli_kv_cache_params_set_prefix_cache(lli_kv_cache_params *p, int enable) {
    NEED(p, "params");
    if (enable != 0 && enable != 1) return lli_fail(LLI_E_INVALID_ARG, "prefix cache switch %d is not 0 or 1", enable);
    p->prefix_cache = enable;
    return LLI_OK;
}

lli_status lli_kv_cache_params_set_block_size(lli_kv_cache_params *p, int block_size) {
    NEED(p, "params");
    if (block_size < 1 || block_size > 1024)
        return lli_fail(LLI_E_INVALID_ARG, "KV block size %d is outside 1..1024", block_size);
    p->block_size = block_size;
    return LLI_OK;
}

void lli_context_params_defaults(struct lli_context_params *p) {
    p->n_threads = 0;
    p->max_batch = 512;
}

lli_status lli_context_params_create(lli_context_params **out) {
    NEED(out, "out");
    *out = calloc(1, sizeof **out);
    if (!*out) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_context_params_defaults(*out);
    return LLI_OK;
}

void lli_context_params_free(lli_context_params *p) { free(p); }

lli_status lli_context_params_set_threads(lli_context_params *p, int n) {
    NEED(p, "params");
    lli_status st = check_threads(__func__, n);
    if (!st) p->n_threads = n;
    return st;
}

lli_status lli_context_params_set_max_batch(lli_context_params *p, int n_batch) {
    NEED(p, "params");
    if (n_batch < 1 || n_batch > 65536)
        return lli_fail(LLI_E_INVALID_ARG, "max batch %d is outside 1..65536", n_batch);
    p->max_batch = n_batch;
    return LLI_OK;
}
