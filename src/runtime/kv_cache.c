#include "runtime/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/error.h"
#include "runtime/model.h"
#include "runtime/params.h"

#define NONE (-1)

static int64_t block_rows(const lli_kv_cache *kv) {
    return (int64_t)kv->n_layer * kv->n_head_kv * kv->block_size;
}

static size_t row_bytes(const lli_kv_cache *kv) {
    return (size_t)kv->head_dim * (kv->type == LLI_KV_TYPE_Q8 ? 1 : 2);
}

/* Bytes of one block's keys (values take as many, and Q8 scales a float per row each). */
static size_t block_bytes(const lli_kv_cache *kv) { return (size_t)block_rows(kv) * row_bytes(kv); }

static void free_storage(lli_kv_cache *kv) {
    const lli_backend *be = kv->backend;
    void *bufs[] = {kv->k, kv->v, kv->k_scale, kv->v_scale};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->ops->free((lli_backend *)be, bufs[i]);
}

lli_status lli_kv_cache_create(const lli_model *model, const lli_kv_cache_params *params, lli_kv_cache **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_cache_create: out is NULL");
    *out = NULL;
    if (!model) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_cache_create: model is NULL");
    if (model->vocab_only) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_cache_create: the model was loaded vocab-only");
    struct lli_kv_cache_params defaults;
    if (!params) {
        lli_kv_cache_params_defaults(&defaults);
        params = &defaults;
    }
    lli_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return lli_fail(LLI_E_NOMEM, "out of memory");
    const lli_hparams *hp = &model->mf->hp;
    lli_backend *be = model->backend;
    kv->model = model;
    lli_model_retain(model); /* dropped by lli_kv_cache_free, also on the failures below */
    kv->backend = be;
    kv->type = params->type;
    kv->prefix_cache = params->prefix_cache;
    kv->n_layer = model->layer_last - model->layer_first;
    kv->n_head_kv = (int)hp->n_head_kv;
    kv->head_dim = (int)hp->head_dim;
    kv->block_size = params->block_size;
    kv->n_blocks = (params->capacity + params->block_size - 1) / params->block_size;
    kv->lru_head = kv->lru_tail = NONE;
    size_t nb = (size_t)kv->n_blocks, bytes = block_bytes(kv) * nb;
    lli_status st = lli_backend_status(be, be->ops->alloc(be, bytes, &kv->k));
    if (st == LLI_OK) st = lli_backend_status(be, be->ops->alloc(be, bytes, &kv->v));
    if (st == LLI_OK && kv->type == LLI_KV_TYPE_Q8) {
        size_t scales = (size_t)block_rows(kv) * nb * sizeof(float);
        st = lli_backend_status(be, be->ops->alloc(be, scales, (void **)&kv->k_scale));
        if (st == LLI_OK) st = lli_backend_status(be, be->ops->alloc(be, scales, (void **)&kv->v_scale));
    }
    kv->refs = calloc(nb, sizeof *kv->refs);
    kv->free_list = malloc(nb * sizeof *kv->free_list);
    kv->hash = calloc(nb, sizeof *kv->hash);
    kv->hashed = calloc(nb, 1);
    kv->parent = calloc(nb, sizeof *kv->parent);
    kv->block_tokens = malloc(nb * (size_t)kv->block_size * sizeof *kv->block_tokens);
    kv->n_buckets = 1;
    while (kv->n_buckets < kv->n_blocks) kv->n_buckets *= 2;
    kv->bucket = malloc((size_t)kv->n_buckets * sizeof *kv->bucket);
    kv->bucket_next = malloc(nb * sizeof *kv->bucket_next);
    kv->lru_prev = malloc(nb * sizeof *kv->lru_prev);
    kv->lru_next = malloc(nb * sizeof *kv->lru_next);
    if (st == LLI_OK && (!kv->refs || !kv->free_list || !kv->hash || !kv->hashed || !kv->parent || !kv->block_tokens ||
                         !kv->bucket || !kv->bucket_next || !kv->lru_prev || !kv->lru_next))
        st = lli_fail(LLI_E_NOMEM, "out of memory");
    if (st != LLI_OK) {
        lli_kv_cache_free(kv);
        return lli_fail_prefix(st, "cannot allocate a KV cache of %lld tokens (%.1f MiB): ", (long long)params->capacity,
                               2.0 * (double)bytes / 1048576.0);
    }
    for (int64_t i = 0; i < kv->n_buckets; i++) kv->bucket[i] = NONE;
    /* Hand out low block numbers first: it keeps early sequences' memory together. */
    for (int64_t i = 0; i < kv->n_blocks; i++) kv->free_list[i] = (int32_t)(kv->n_blocks - 1 - i);
    kv->n_free = kv->n_blocks;
    *out = kv;
    return LLI_OK;
}

static void free_seq(lli_kv_seq *s) {
    free(s->blocks);
    free(s->tokens);
    free(s->chain);
}

void lli_kv_cache_free(lli_kv_cache *kv) {
    if (!kv) return;
    for (int32_t i = 0; i < kv->n_seqs; i++) free_seq(&kv->seqs[i]);
    free(kv->seqs);
    free_storage(kv);
    free(kv->refs), free(kv->free_list), free(kv->hash), free(kv->hashed), free(kv->parent), free(kv->block_tokens);
    free(kv->bucket), free(kv->bucket_next), free(kv->lru_prev), free(kv->lru_next);
    lli_model_release(kv->model);
    free(kv);
}

static lli_kv_seq *seq_of(const lli_kv_cache *kv, lli_seq_id id, const char *fn) {
    if (!kv) {
        lli_fail(LLI_E_INVALID_ARG, "%s: cache is NULL", fn);
        return NULL;
    }
    if (id < 0 || id >= kv->n_seqs || !kv->seqs[id].active) {
        lli_fail(LLI_E_INVALID_ARG, "%s: sequence %d does not exist", fn, id);
        return NULL;
    }
    return &kv->seqs[id];
}

const lli_kv_seq *lli_kv_get_seq(const lli_kv_cache *kv, lli_seq_id id) { return seq_of(kv, id, "decode"); }

/* ---- prefix index and LRU list of cached blocks ------------------------------------------ */

static uint64_t mix(uint64_t h) {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* The hash of a block: its tokens, chained to the hash of everything before it. */
static uint64_t chain_hash(uint64_t parent, const lli_token *tokens, int n) {
    uint64_t h = mix(parent ^ 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < n; i++) h = mix(h ^ ((uint64_t)(uint32_t)tokens[i] + 0x632be59bd9b4e019ULL * (uint64_t)(i + 1)));
    return h;
}

static int64_t bucket_of(const lli_kv_cache *kv, uint64_t h) { return (int64_t)(h & (uint64_t)(kv->n_buckets - 1)); }

static void unhash(lli_kv_cache *kv, int32_t b) {
    if (!kv->hashed[b]) return;
    int32_t *link = &kv->bucket[bucket_of(kv, kv->hash[b])];
    while (*link != b) link = &kv->bucket_next[*link];
    *link = kv->bucket_next[b];
    kv->hashed[b] = 0;
}

static int32_t lookup(const lli_kv_cache *kv, uint64_t h, uint64_t parent, const lli_token *tokens) {
    for (int32_t b = kv->bucket[bucket_of(kv, h)]; b != NONE; b = kv->bucket_next[b])
        if (kv->hash[b] == h && kv->parent[b] == parent &&
            !memcmp(kv->block_tokens + (int64_t)b * kv->block_size, tokens, (size_t)kv->block_size * sizeof *tokens))
            return b;
    return NONE;
}

static void lru_unlink(lli_kv_cache *kv, int32_t b) {
    int32_t p = kv->lru_prev[b], n = kv->lru_next[b];
    if (p != NONE) kv->lru_next[p] = n;
    else kv->lru_head = n;
    if (n != NONE) kv->lru_prev[n] = p;
    else kv->lru_tail = p;
    kv->n_cached--;
}

static void lru_push(lli_kv_cache *kv, int32_t b) {
    kv->lru_prev[b] = kv->lru_tail;
    kv->lru_next[b] = NONE;
    if (kv->lru_tail != NONE) kv->lru_next[kv->lru_tail] = b;
    else kv->lru_head = b;
    kv->lru_tail = b;
    kv->n_cached++;
}

/* A block no sequence holds: kept for reuse if it is indexed, else emptied. */
static void release_block(lli_kv_cache *kv, int32_t b) {
    if (--kv->refs[b] > 0) return;
    if (kv->hashed[b]) lru_push(kv, b);
    else kv->free_list[kv->n_free++] = b;
}

/* An empty block, or else the least recently used cached one. The caller has checked that one exists. */
static int32_t take_block(lli_kv_cache *kv) {
    int32_t b;
    if (kv->n_free) {
        b = kv->free_list[--kv->n_free];
    } else {
        b = kv->lru_head;
        lru_unlink(kv, b);
        unhash(kv, b);
        kv->evictions++;
    }
    kv->refs[b] = 1;
    return b;
}

static int64_t available(const lli_kv_cache *kv) { return kv->n_free + kv->n_cached; }

/* ---- sequences ---------------------------------------------------------------------------- */

static int grow(void **p, int64_t *cap, int64_t n, size_t elem) {
    if (n <= *cap) return 0;
    int64_t c = *cap ? *cap : 16;
    while (c < n) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int grow_seq(lli_kv_cache *kv, lli_kv_seq *s, int64_t len) {
    int64_t blocks = (len + kv->block_size - 1) / kv->block_size;
    return grow((void **)&s->blocks, &s->cap, blocks, sizeof *s->blocks) ||
           grow((void **)&s->chain, &s->chain_cap, blocks, sizeof *s->chain) ||
           grow((void **)&s->tokens, &s->tok_cap, len, sizeof *s->tokens);
}

static lli_status new_seq(lli_kv_cache *kv, lli_seq_id *out) {
    int32_t id = 0;
    while (id < kv->n_seqs && kv->seqs[id].active) id++;
    if (id == kv->n_seqs) {
        lli_kv_seq *s = realloc(kv->seqs, (size_t)(kv->n_seqs + 1) * sizeof *s);
        if (!s) return lli_fail(LLI_E_NOMEM, "out of memory");
        kv->seqs = s;
        memset(&s[kv->n_seqs++], 0, sizeof *s);
    }
    lli_kv_seq *s = &kv->seqs[id];
    s->active = 1;
    s->has_tokens = 1;
    s->len = 0;
    s->n_blocks = 0;
    *out = id;
    return LLI_OK;
}

lli_status lli_kv_seq_create(lli_kv_cache *kv, lli_seq_id *out) {
    if (!kv || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_create: cache or out is NULL");
    return new_seq(kv, out);
}

lli_status lli_kv_seq_create_with_prefix(lli_kv_cache *kv, const lli_token *tokens, int64_t n, lli_seq_id *out,
                                         int64_t *n_reused) {
    if (!kv || !out || !n_reused || (n > 0 && !tokens) || n < 0)
        return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_create_with_prefix: NULL argument or negative length");
    lli_seq_id id;
    LLI_TRY(new_seq(kv, &id));
    lli_kv_seq *s = &kv->seqs[id];
    /* The last prompt token is always left to compute: the host needs its logits. */
    int64_t want = n > 0 ? (n - 1) / kv->block_size : 0, got = 0;
    if (grow_seq(kv, s, want * kv->block_size)) {
        s->active = 0;
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    uint64_t h = 0;
    while (kv->prefix_cache && got < want) {
        const lli_token *bt = tokens + got * kv->block_size;
        uint64_t next = chain_hash(h, bt, kv->block_size);
        int32_t b = lookup(kv, next, h, bt);
        if (b == NONE) break;
        if (kv->refs[b]++ == 0) lru_unlink(kv, b);
        s->blocks[got] = b;
        s->chain[got] = next;
        h = next;
        got++;
    }
    s->n_blocks = got;
    s->len = got * kv->block_size;
    if (s->len) memcpy(s->tokens, tokens, (size_t)s->len * sizeof *tokens);
    kv->hits += got;
    if (kv->prefix_cache) kv->misses += want - got;
    *out = id;
    *n_reused = s->len;
    return LLI_OK;
}

lli_status lli_kv_seq_free(lli_kv_cache *kv, lli_seq_id id) {
    lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    /* Last block first, so that a prompt's tail is evicted before its head. */
    for (int64_t i = s->n_blocks - 1; i >= 0; i--) release_block(kv, s->blocks[i]);
    s->n_blocks = 0;
    s->len = 0;
    s->active = 0;
    return LLI_OK;
}

lli_status lli_kv_seq_fork(lli_kv_cache *kv, lli_seq_id src, lli_seq_id *out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_fork: out is NULL");
    if (!seq_of(kv, src, __func__)) return LLI_E_INVALID_ARG;
    lli_seq_id id;
    LLI_TRY(new_seq(kv, &id));
    lli_kv_seq *s = &kv->seqs[src], *d = &kv->seqs[id]; /* after new_seq: seqs may have moved */
    if (grow_seq(kv, d, s->len)) {
        d->active = 0;
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < s->n_blocks; i++) {
        d->blocks[i] = s->blocks[i];
        kv->refs[s->blocks[i]]++;
    }
    if (s->len >= kv->block_size) memcpy(d->chain, s->chain, (size_t)(s->len / kv->block_size) * sizeof *d->chain);
    if (s->len && s->has_tokens) memcpy(d->tokens, s->tokens, (size_t)s->len * sizeof *d->tokens);
    d->has_tokens = s->has_tokens;
    d->n_blocks = s->n_blocks;
    d->len = s->len;
    *out = id;
    return LLI_OK;
}

lli_status lli_kv_seq_truncate(lli_kv_cache *kv, lli_seq_id id, int64_t n) {
    lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    if (n < 0 || n > s->len)
        return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_truncate: %lld tokens is outside 0..%lld of sequence %d",
                        (long long)n, (long long)s->len, id);
    int64_t keep = (n + kv->block_size - 1) / kv->block_size;
    for (int64_t i = s->n_blocks - 1; i >= keep; i--) release_block(kv, s->blocks[i]);
    s->n_blocks = keep;
    /* A partly kept block will be written again; if this sequence alone holds it, its index entry
     * would describe tokens it no longer has. (A shared one is copied before the write.) */
    if (n % kv->block_size && kv->refs[s->blocks[keep - 1]] == 1) unhash(kv, s->blocks[keep - 1]);
    s->len = n;
    return LLI_OK;
}

lli_status lli_kv_seq_length(const lli_kv_cache *kv, lli_seq_id id, int64_t *out) {
    const lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_length: out is NULL");
    *out = s->len;
    return LLI_OK;
}

lli_status lli_kv_seq_blocks(const lli_kv_cache *kv, lli_seq_id id, int64_t *out) {
    const lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_blocks: out is NULL");
    *out = s->n_blocks;
    return LLI_OK;
}

lli_status lli_kv_free_blocks(const lli_kv_cache *kv, int64_t *out) {
    if (!kv || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_free_blocks: cache or out is NULL");
    *out = available(kv);
    return LLI_OK;
}

lli_status lli_kv_stat(const lli_kv_cache *kv, int key, int64_t *out) {
    if (!kv || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_stat: cache or out is NULL");
    int64_t used = 0, shared = 0, seqs = 0;
    for (int64_t b = 0; b < kv->n_blocks; b++) used += kv->refs[b] > 0, shared += kv->refs[b] > 1;
    for (int32_t i = 0; i < kv->n_seqs; i++) seqs += kv->seqs[i].active;
    int64_t block = (int64_t)block_bytes(kv) * 2 + (kv->type == LLI_KV_TYPE_Q8 ? block_rows(kv) * 2 * 4 : 0);
    switch (key) {
    case LLI_KV_STAT_BLOCKS_TOTAL: *out = kv->n_blocks; break;
    case LLI_KV_STAT_BLOCKS_USED: *out = used; break;
    case LLI_KV_STAT_BLOCKS_SHARED: *out = shared; break;
    case LLI_KV_STAT_BLOCKS_CACHED: *out = kv->n_cached; break;
    case LLI_KV_STAT_BLOCKS_EMPTY: *out = kv->n_free; break;
    case LLI_KV_STAT_PREFIX_HITS: *out = kv->hits; break;
    case LLI_KV_STAT_PREFIX_MISSES: *out = kv->misses; break;
    case LLI_KV_STAT_EVICTIONS: *out = kv->evictions; break;
    case LLI_KV_STAT_BYTES: *out = block * kv->n_blocks; break;
    case LLI_KV_STAT_BLOCK_BYTES: *out = block; break;
    case LLI_KV_STAT_BLOCK_SIZE: *out = kv->block_size; break;
    case LLI_KV_STAT_SEQUENCES: *out = seqs; break;
    case LLI_KV_STAT_TYPE: *out = kv->type; break;
    default: return lli_fail(LLI_E_INVALID_ARG, "lli_kv_stat: unknown key %d", key);
    }
    return LLI_OK;
}

/* Blocks a sequence needs for n more tokens: new ones, plus a copy of a shared, partly filled last
 * block that the first new token would write into. */
static int64_t blocks_needed(const lli_kv_cache *kv, const lli_kv_seq *s, int64_t n) {
    if (n <= 0) return 0;
    int64_t need = (s->len + n + kv->block_size - 1) / kv->block_size - s->n_blocks;
    if (s->len % kv->block_size && kv->refs[s->blocks[s->n_blocks - 1]] > 1) need++;
    return need;
}

lli_status lli_kv_seq_fits(const lli_kv_cache *kv, lli_seq_id id, int64_t n, int *out) {
    const lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    if (!out || n < 0) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_fits: out is NULL or n is negative");
    *out = blocks_needed(kv, s, n) <= available(kv);
    return LLI_OK;
}

/* Copy one block's keys, values and scales to another (backend memory). */
static lli_status copy_block(lli_kv_cache *kv, int32_t dst, int32_t src) {
    lli_backend *be = (lli_backend *)kv->backend;
    uint64_t bb = block_bytes(kv), sb = (uint64_t)block_rows(kv) * sizeof(float);
    lli_status st = be->ops->copy(be, kv->k, (uint64_t)dst * bb, kv->k, (uint64_t)src * bb, bb);
    if (st == LLI_OK) st = be->ops->copy(be, kv->v, (uint64_t)dst * bb, kv->v, (uint64_t)src * bb, bb);
    if (st == LLI_OK && kv->type == LLI_KV_TYPE_Q8) {
        st = be->ops->copy(be, kv->k_scale, (uint64_t)dst * sb, kv->k_scale, (uint64_t)src * sb, sb);
        if (st == LLI_OK) st = be->ops->copy(be, kv->v_scale, (uint64_t)dst * sb, kv->v_scale, (uint64_t)src * sb, sb);
    }
    return lli_backend_status(be, st);
}

lli_status lli_kv_reserve(lli_kv_cache *kv, const lli_seq_id *ids, const int64_t *count, int n) {
    int64_t need = 0;
    for (int i = 0; i < n; i++) {
        lli_kv_seq *s = seq_of(kv, ids[i], "lli_decode");
        if (!s) return LLI_E_INVALID_ARG;
        need += blocks_needed(kv, s, count[i]);
        if (grow_seq(kv, s, s->len + count[i])) return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    if (need > available(kv))
        return lli_fail(LLI_E_KV_FULL, "the step needs %lld more KV blocks, %lld are free", (long long)need,
                        (long long)available(kv));
    for (int i = 0; i < n; i++) {
        lli_kv_seq *s = &kv->seqs[ids[i]];
        if (count[i] <= 0) continue;
        if (s->len % kv->block_size && kv->refs[s->blocks[s->n_blocks - 1]] > 1) {
            int32_t old = s->blocks[s->n_blocks - 1], fresh = take_block(kv);
            LLI_TRY(copy_block(kv, fresh, old));
            kv->refs[old]--;
            s->blocks[s->n_blocks - 1] = fresh;
        }
        int64_t want = (s->len + count[i] + kv->block_size - 1) / kv->block_size;
        while (s->n_blocks < want) s->blocks[s->n_blocks++] = take_block(kv);
    }
    return LLI_OK;
}

void lli_kv_commit(lli_kv_cache *kv, lli_seq_id id, const lli_token *tokens, int64_t count) {
    lli_kv_seq *s = &kv->seqs[id];
    int64_t bs = kv->block_size, first_full = s->len / bs;
    if (!tokens) s->has_tokens = 0;
    else if (s->has_tokens && count) memcpy(s->tokens + s->len, tokens, (size_t)count * sizeof *tokens);
    s->len += count;
    if (!s->has_tokens || !kv->prefix_cache) return;
    for (int64_t i = first_full; i < s->len / bs; i++) {
        uint64_t parent = i ? s->chain[i - 1] : 0;
        const lli_token *bt = s->tokens + i * bs;
        s->chain[i] = chain_hash(parent, bt, (int)bs);
        int32_t b = s->blocks[i];
        /* A block another sequence already indexed under the same tokens stays the one found. */
        if (kv->hashed[b] || lookup(kv, s->chain[i], parent, bt) != NONE) continue;
        kv->hash[b] = s->chain[i];
        kv->parent[b] = parent;
        memcpy(kv->block_tokens + (int64_t)b * bs, bt, (size_t)bs * sizeof *bt);
        int64_t k = bucket_of(kv, s->chain[i]);
        kv->bucket_next[b] = kv->bucket[k];
        kv->bucket[k] = b;
        kv->hashed[b] = 1;
    }
}

lli_status lli_kv_seq_adopt(lli_kv_cache *kv, int64_t n_tokens, lli_seq_id *out) {
    int64_t need = (n_tokens + kv->block_size - 1) / kv->block_size;
    if (need > available(kv))
        return lli_fail(LLI_E_KV_FULL, "the saved sequence needs %lld KV blocks, %lld are free", (long long)need,
                        (long long)available(kv));
    lli_seq_id id;
    LLI_TRY(new_seq(kv, &id));
    lli_kv_seq *s = &kv->seqs[id];
    if (grow_seq(kv, s, n_tokens)) {
        s->active = 0;
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    while (s->n_blocks < need) s->blocks[s->n_blocks++] = take_block(kv);
    *out = id;
    return LLI_OK;
}

void lli_kv_view_fill(const lli_kv_cache *kv, lli_kv_view *view, const int32_t **blocks, int64_t *n_blocks) {
    for (int32_t i = 0; i < kv->n_seqs; i++) {
        const lli_kv_seq *s = &kv->seqs[i];
        blocks[i] = s->active ? s->blocks : NULL;
        n_blocks[i] = s->active ? s->n_blocks : 0;
    }
    *view = (lli_kv_view){.k = kv->k, .v = kv->v, .k_scale = kv->k_scale, .v_scale = kv->v_scale, .type = kv->type,
                          .n_layer = kv->n_layer, .n_head_kv = kv->n_head_kv, .head_dim = kv->head_dim,
                          .block_size = kv->block_size, .n_seqs = kv->n_seqs, .seq_blocks = blocks, .seq_n_blocks = n_blocks};
}
