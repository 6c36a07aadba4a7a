/* The paged KV cache: fixed-size blocks of keys and values (F16, or 8-bit with a scale per row), a
 * block table per sequence, and reference counts so that forked sequences share blocks until one of
 * them writes (copy on write). Full blocks are indexed by a hash of their tokens and everything
 * before them, so that a new prompt can reuse them; blocks no sequence holds stay cached, least
 * recently used evicted first. Storage is backend memory; block tables and indexes are host memory. */
#ifndef LLI_KV_CACHE_H
#define LLI_KV_CACHE_H

#include <stdint.h>

#include "llminfer.h"
#include "backend/kv_view.h"

typedef struct lli_kv_seq {
    int active;
    int has_tokens;     /* 0 once fed hidden states: its blocks cannot be indexed */
    int64_t len;        /* tokens held */
    int32_t *blocks;    /* block table */
    int64_t n_blocks, cap;
    lli_token *tokens;  /* [len] */
    int64_t tok_cap;
    uint64_t *chain;    /* per full block: hash of the block's tokens and every token before */
    int64_t chain_cap;
} lli_kv_seq;

struct lli_kv_cache {
    const lli_model *model;
    const struct lli_backend *backend;
    int type;           /* LLI_KV_TYPE_F16 or LLI_KV_TYPE_Q8 */
    int n_layer;        /* layers of the model that are loaded */
    int n_head_kv, head_dim, block_size;
    int64_t n_blocks;
    /* Rows of head_dim elements, laid out [block][layer][kv head][slot][dim]: uint16_t (F16) or
     * int8_t (Q8). Q8 rows have a float scale each in k_scale / v_scale, laid out the same way
     * without the last dimension. */
    void *k, *v;
    float *k_scale, *v_scale;
    int32_t *refs;      /* per block */
    int32_t *free_list; /* empty blocks */
    int64_t n_free;
    /* prefix index */
    int prefix_cache;
    uint64_t *hash;     /* per block, valid when hashed[b] */
    uint8_t *hashed;
    lli_token *block_tokens; /* [block][block_size], for exact comparison on lookup */
    uint64_t *parent;   /* per block: the chain hash before it */
    int32_t *bucket, *bucket_next; /* hash table: heads per bucket, then a chain through blocks */
    int64_t n_buckets;
    int32_t *lru_prev, *lru_next;  /* cached (hashed, unreferenced) blocks, oldest at lru_head */
    int32_t lru_head, lru_tail;
    int64_t n_cached;
    int64_t hits, misses, evictions;
    lli_kv_seq *seqs;
    int32_t n_seqs;
};

/* Row index of the key / value of (sequence, position, layer among the loaded ones, kv head). */
static inline int64_t lli_kv_row(const lli_kv_cache *kv, const lli_kv_seq *s, int64_t pos, int layer, int head) {
    int64_t block = s->blocks[pos / kv->block_size], slot = pos % kv->block_size;
    return ((block * kv->n_layer + layer) * kv->n_head_kv + head) * kv->block_size + slot;
}

/* Make room for `count[i]` more tokens of sequence `ids[i]` (i < n), copying shared last blocks.
 * All or nothing: LLI_E_KV_FULL changes nothing. */
lli_status lli_kv_reserve(lli_kv_cache *kv, const lli_seq_id *ids, const int64_t *count, int n);

/* After a step stored count tokens of a sequence (tokens NULL: hidden states), extend its length and
 * index the blocks that became full. */
void lli_kv_commit(lli_kv_cache *kv, lli_seq_id id, const lli_token *tokens, int64_t count);

/* A new sequence holding blocks for n_tokens tokens and a length of 0, for a restore to fill and then
 * lli_kv_commit(). All or nothing: LLI_E_KV_FULL changes nothing. */
lli_status lli_kv_seq_adopt(lli_kv_cache *kv, int64_t n_tokens, lli_seq_id *out);

const lli_kv_seq *lli_kv_get_seq(const lli_kv_cache *kv, lli_seq_id id);

/* The backends' view of the cache for a step (backend/kv_view.h), after lli_kv_reserve(): blocks
 * and n_blocks are the caller's arrays of kv->n_seqs entries, which the view points into. */
void lli_kv_view_fill(const lli_kv_cache *kv, lli_kv_view *view, const int32_t **blocks, int64_t *n_blocks);

#endif
