/* What a backend sees of the paged KV cache in a step: the storage, its layout, and each live
 * sequence's block table. The core builds it before every step (runtime/kv_cache.c), so that the
 * cache's bookkeeping (reference counts, prefix index, free lists) is no part of a backend's
 * contract. Plain C, for every backend (the CUDA module's C++ included). */
#ifndef LLI_KV_VIEW_H
#define LLI_KV_VIEW_H

#include <stdint.h>

typedef struct lli_kv_view {
    /* Backend memory: rows of head_dim elements laid out [block][layer][kv head][slot][dim], F16
     * (uint16_t) or 8-bit (int8_t, then a float scale per row in k_scale / v_scale, laid out the
     * same without the last dimension). */
    void *k, *v;
    float *k_scale, *v_scale;
    int type; /* LLI_KV_TYPE_F16 or LLI_KV_TYPE_Q8 */
    int n_layer, n_head_kv, head_dim, block_size;
    /* Host memory, valid for the step: per sequence id (0 .. n_seqs - 1) its block table, NULL
     * when no sequence has that id, and the blocks in it (room for every position of the step). */
    int32_t n_seqs;
    const int32_t *const *seq_blocks;
    const int64_t *seq_n_blocks;
} lli_kv_view;

/* Row of the key / value of (a sequence's block table, position, layer among the loaded ones, kv head). */
static inline int64_t lli_kv_view_row(const lli_kv_view *kv, const int32_t *blocks, int64_t pos, int layer, int head) {
    int64_t block = blocks[pos / kv->block_size], slot = pos % kv->block_size;
    return ((block * kv->n_layer + layer) * kv->n_head_kv + head) * kv->block_size + slot;
}

#endif
