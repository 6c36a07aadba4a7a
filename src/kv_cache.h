/* The paged KV cache: fixed-size blocks of F16 keys and values, a block table per sequence, and
 * reference counts so that forked sequences share blocks until one of them writes (copy on write). */
#ifndef LLI_KV_CACHE_H
#define LLI_KV_CACHE_H

#include <stdint.h>

#include "llminfer.h"

typedef struct lli_kv_seq {
    int active;
    int64_t len;        /* tokens held */
    int32_t *blocks;    /* block table */
    int64_t n_blocks, cap;
} lli_kv_seq;

struct lli_kv_cache {
    const lli_model *model;
    int n_layer;        /* layers of the model that are loaded */
    int n_head_kv, head_dim, block_size;
    int64_t n_blocks;
    uint16_t *k, *v;    /* [block][layer][head][slot][dim] */
    int32_t *refs;      /* per block */
    int32_t *free_list;
    int64_t n_free;
    lli_kv_seq *seqs;
    int32_t n_seqs;
};

/* Make room for `count[i]` more tokens of sequence `ids[i]` (i < n), copying shared last blocks.
 * All or nothing: LLI_E_KV_FULL changes nothing. */
lli_status lli_kv_reserve(lli_kv_cache *kv, const lli_seq_id *ids, const int64_t *count, int n);

/* Where the key / value of (sequence, position, layer index among the loaded ones, kv head) lives. */
static inline uint16_t *lli_kv_slot(const lli_kv_cache *kv, uint16_t *base, const lli_kv_seq *s, int64_t pos, int layer,
                                    int head) {
    int64_t block = s->blocks[pos / kv->block_size], slot = pos % kv->block_size;
    return base + ((((block * kv->n_layer + layer) * kv->n_head_kv + head) * kv->block_size + slot) * kv->head_dim);
}

const lli_kv_seq *lli_kv_get_seq(const lli_kv_cache *kv, lli_seq_id id);

#endif
