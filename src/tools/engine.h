/* What every inference tool sets up: a KV cache, a context and a batch for one model. */
#ifndef LLI_TOOLS_ENGINE_H
#define LLI_TOOLS_ENGINE_H

#include "llminfer.h"

typedef struct tool_engine {
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_batch *batch;
} tool_engine;

/* A cache for `capacity` tokens, a context of `threads` threads (0: all) taking `max_batch` entries
 * per step, and a batch that large. On failure everything made so far is freed. */
static inline lli_status tool_engine_open(lli_model *m, int64_t capacity, int max_batch, int threads, tool_engine *e) {
    lli_kv_cache_params *kp = NULL;
    lli_context_params *cp = NULL;
    e->kv = NULL, e->ctx = NULL, e->batch = NULL;
    lli_status st = lli_kv_cache_params_create(&kp);
    if (!st) st = lli_kv_cache_params_set_capacity(kp, capacity);
    if (!st) st = lli_kv_cache_create(m, kp, &e->kv);
    if (!st) st = lli_context_params_create(&cp);
    if (!st) st = lli_context_params_set_threads(cp, threads);
    if (!st) st = lli_context_params_set_max_batch(cp, max_batch);
    if (!st) st = lli_context_create(m, e->kv, cp, &e->ctx);
    if (!st) st = lli_batch_create(max_batch, &e->batch);
    lli_kv_cache_params_free(kp);
    lli_context_params_free(cp);
    if (st) {
        lli_context_free(e->ctx);
        lli_kv_cache_free(e->kv);
        e->kv = NULL, e->ctx = NULL;
    }
    return st;
}

static inline void tool_engine_close(tool_engine *e) {
    lli_batch_free(e->batch);
    lli_context_free(e->ctx);
    lli_kv_cache_free(e->kv);
    e->kv = NULL, e->ctx = NULL, e->batch = NULL;
}

#endif
