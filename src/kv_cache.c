#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "params.h"

static size_t block_elems(const lli_kv_cache *kv) {
    return (size_t)kv->n_layer * (size_t)kv->n_head_kv * (size_t)kv->block_size * (size_t)kv->head_dim;
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
    kv->model = model;
    kv->n_layer = model->layer_last - model->layer_first;
    kv->n_head_kv = (int)hp->n_head_kv;
    kv->head_dim = (int)hp->head_dim;
    kv->block_size = params->block_size;
    kv->n_blocks = (params->capacity + params->block_size - 1) / params->block_size;
    size_t elems = block_elems(kv) * (size_t)kv->n_blocks;
    kv->k = malloc(elems * sizeof *kv->k);
    kv->v = malloc(elems * sizeof *kv->v);
    kv->refs = calloc((size_t)kv->n_blocks, sizeof *kv->refs);
    kv->free_list = malloc((size_t)kv->n_blocks * sizeof *kv->free_list);
    if (!kv->k || !kv->v || !kv->refs || !kv->free_list) {
        lli_kv_cache_free(kv);
        return lli_fail(LLI_E_NOMEM, "cannot allocate a KV cache of %lld blocks (%.1f MiB)", (long long)params->capacity,
                        2.0 * (double)elems * 2 / 1048576.0);
    }
    /* Hand out low block numbers first: it keeps early sequences' memory together. */
    for (int64_t i = 0; i < kv->n_blocks; i++) kv->free_list[i] = (int32_t)(kv->n_blocks - 1 - i);
    kv->n_free = kv->n_blocks;
    *out = kv;
    return LLI_OK;
}

void lli_kv_cache_free(lli_kv_cache *kv) {
    if (!kv) return;
    for (int32_t i = 0; i < kv->n_seqs; i++) free(kv->seqs[i].blocks);
    free(kv->seqs);
    free(kv->k);
    free(kv->v);
    free(kv->refs);
    free(kv->free_list);
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

static void release_block(lli_kv_cache *kv, int32_t b) {
    if (--kv->refs[b] == 0) kv->free_list[kv->n_free++] = b;
}

lli_status lli_kv_seq_create(lli_kv_cache *kv, lli_seq_id *out) {
    if (!kv || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_create: cache or out is NULL");
    int32_t id = 0;
    while (id < kv->n_seqs && kv->seqs[id].active) id++;
    if (id == kv->n_seqs) {
        lli_kv_seq *s = realloc(kv->seqs, (size_t)(kv->n_seqs + 1) * sizeof *s);
        if (!s) return lli_fail(LLI_E_NOMEM, "out of memory");
        kv->seqs = s;
        memset(&s[kv->n_seqs++], 0, sizeof *s);
    }
    kv->seqs[id].active = 1;
    kv->seqs[id].len = 0;
    kv->seqs[id].n_blocks = 0;
    *out = id;
    return LLI_OK;
}

lli_status lli_kv_seq_free(lli_kv_cache *kv, lli_seq_id id) {
    lli_kv_seq *s = seq_of(kv, id, __func__);
    if (!s) return LLI_E_INVALID_ARG;
    for (int64_t i = 0; i < s->n_blocks; i++) release_block(kv, s->blocks[i]);
    s->n_blocks = 0;
    s->len = 0;
    s->active = 0;
    return LLI_OK;
}

static int grow_table(lli_kv_seq *s, int64_t n) {
    if (n <= s->cap) return 0;
    int64_t cap = s->cap ? s->cap : 8;
    while (cap < n) cap *= 2;
    int32_t *b = realloc(s->blocks, (size_t)cap * sizeof *b);
    if (!b) return -1;
    s->blocks = b;
    s->cap = cap;
    return 0;
}

lli_status lli_kv_seq_fork(lli_kv_cache *kv, lli_seq_id src, lli_seq_id *out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_fork: out is NULL");
    if (!seq_of(kv, src, __func__)) return LLI_E_INVALID_ARG;
    lli_seq_id id;
    LLI_TRY(lli_kv_seq_create(kv, &id));
    lli_kv_seq *s = &kv->seqs[src], *d = &kv->seqs[id]; /* after create: seqs may have moved */
    if (grow_table(d, s->n_blocks)) {
        d->active = 0;
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < s->n_blocks; i++) {
        d->blocks[i] = s->blocks[i];
        kv->refs[s->blocks[i]]++;
    }
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
    for (int64_t i = keep; i < s->n_blocks; i++) release_block(kv, s->blocks[i]);
    s->n_blocks = keep;
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

lli_status lli_kv_free_blocks(const lli_kv_cache *kv, int64_t *out) {
    if (!kv || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_free_blocks: cache or out is NULL");
    *out = kv->n_free;
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
    *out = blocks_needed(kv, s, n) <= kv->n_free;
    return LLI_OK;
}

lli_status lli_kv_reserve(lli_kv_cache *kv, const lli_seq_id *ids, const int64_t *count, int n) {
    int64_t need = 0;
    for (int i = 0; i < n; i++) {
        lli_kv_seq *s = seq_of(kv, ids[i], "lli_decode");
        if (!s) return LLI_E_INVALID_ARG;
        need += blocks_needed(kv, s, count[i]);
        if (grow_table(s, (s->len + count[i] + kv->block_size - 1) / kv->block_size))
            return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    if (need > kv->n_free)
        return lli_fail(LLI_E_KV_FULL, "the step needs %lld more KV blocks, %lld are free", (long long)need,
                        (long long)kv->n_free);
    size_t be = block_elems(kv);
    for (int i = 0; i < n; i++) {
        lli_kv_seq *s = &kv->seqs[ids[i]];
        if (count[i] <= 0) continue;
        if (s->len % kv->block_size && kv->refs[s->blocks[s->n_blocks - 1]] > 1) {
            int32_t old = s->blocks[s->n_blocks - 1], fresh = kv->free_list[--kv->n_free];
            memcpy(kv->k + (size_t)fresh * be, kv->k + (size_t)old * be, be * sizeof *kv->k);
            memcpy(kv->v + (size_t)fresh * be, kv->v + (size_t)old * be, be * sizeof *kv->v);
            kv->refs[fresh] = 1;
            kv->refs[old]--;
            s->blocks[s->n_blocks - 1] = fresh;
        }
        int64_t want = (s->len + count[i] + kv->block_size - 1) / kv->block_size;
        while (s->n_blocks < want) {
            int32_t b = kv->free_list[--kv->n_free];
            kv->refs[b] = 1;
            s->blocks[s->n_blocks++] = b;
        }
    }
    return LLI_OK;
}
