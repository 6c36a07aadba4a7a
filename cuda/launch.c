#include "launch.h"

#include <stdlib.h>
#include <string.h>

#include "format/tensor_types.h"

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static lli_launch shape(int64_t gx, int64_t gy, uint32_t bx) {
    lli_launch l = {{(uint32_t)gx, (uint32_t)gy, 1}, {bx, 1, 1}, 0};
    return l;
}

int lli_cuda_use_gemm(int64_t n) { return n >= LLI_CUDA_GEMM_MIN_N; }

int lli_cuda_type_uses_q8(int type) {
    return type == LLI_TT_Q8_0 || type == LLI_TT_Q4_0 || type == LLI_TT_Q4_1 || type == LLI_TT_Q4_K ||
           type == LLI_TT_Q6_K;
}

uint64_t lli_cuda_row_bytes(int type, int64_t in) {
    /* Block sizes repeated from tensor_types.c: this file stands alone so that its test needs no core. */
    int64_t block, bytes;
    switch (type) {
    case LLI_TT_F32: block = 1, bytes = 4; break;
    case LLI_TT_F16: case LLI_TT_BF16: block = 1, bytes = 2; break;
    case LLI_TT_Q4_0: block = 32, bytes = 18; break;
    case LLI_TT_Q4_1: block = 32, bytes = 20; break;
    case LLI_TT_Q5_0: block = 32, bytes = 22; break;
    case LLI_TT_Q5_1: block = 32, bytes = 24; break;
    case LLI_TT_Q8_0: block = 32, bytes = 34; break;
    case LLI_TT_Q2_K: block = 256, bytes = 84; break;
    case LLI_TT_Q3_K: block = 256, bytes = 110; break;
    case LLI_TT_Q4_K: block = 256, bytes = 144; break;
    case LLI_TT_Q5_K: block = 256, bytes = 176; break;
    case LLI_TT_Q6_K: block = 256, bytes = 210; break;
    default: return 0;
    }
    if (in <= 0 || in % block) return 0;
    return (uint64_t)(in / block * bytes);
}

lli_launch lli_cuda_launch_matvec(int64_t rows) {
    return shape(cdiv(rows, LLI_CUDA_MV_WARPS), 1, 32 * LLI_CUDA_MV_WARPS);
}

lli_launch lli_cuda_launch_quantize(int64_t n, int64_t in) {
    int64_t blocks = n * (in / 32), warps = 8;
    return shape(cdiv(blocks, warps), 1, (uint32_t)(32 * warps));
}

int64_t lli_cuda_gemm_tile_rows(int64_t rows, int64_t in, uint64_t budget_bytes) {
    uint64_t row = (uint64_t)in * 2;
    if (rows <= 0 || in <= 0) return 0;
    if ((uint64_t)rows * row <= budget_bytes) return rows;
    int64_t fit = (int64_t)(budget_bytes / row) / 128 * 128;
    return fit < 128 ? 128 : fit;
}

lli_launch lli_cuda_launch_elementwise(int64_t count) {
    /* Grid-stride loops beyond this: enough blocks to fill any current device. */
    int64_t blocks = cdiv(count, 256);
    if (blocks > 65536) blocks = 65536;
    if (blocks < 1) blocks = 1;
    return shape(blocks, 1, 256);
}

lli_launch lli_cuda_launch_rows(int64_t rows, int64_t dim) {
    uint32_t t = 32;
    while (t < 1024 && (int64_t)t * 4 < dim) t *= 2;
    return shape(rows, 1, t);
}

lli_launch lli_cuda_launch_rope(int64_t n, int heads, int rope_dim) {
    int half = rope_dim / 2;
    uint32_t t = (uint32_t)cdiv(half > 0 ? half : 1, 32) * 32;
    return shape(n * heads, 1, t);
}

/* ---- attention ---------------------------------------------------------------------------- */

static size_t align16(size_t x) { return (x + 15) & ~(size_t)15; }

static int64_t first_key(int64_t pos, int64_t window) { return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0; }

int lli_cuda_attn_splits(int64_t items, int32_t max_span, int n_sm) {
    if (items <= 0 || max_span <= 0) return 1;
    int64_t want = cdiv(2 * (int64_t)(n_sm > 0 ? n_sm : 1), items);
    int64_t most = max_span / LLI_CUDA_ATTN_MIN_SPLIT;
    if (want > most) want = most;
    if (want > LLI_CUDA_ATTN_MAX_SPLITS) want = LLI_CUDA_ATTN_MAX_SPLITS;
    return want < 1 ? 1 : (int)want;
}

void lli_cuda_attn_work_free(lli_attn_work *w) {
    free(w->seq_first);
    free(w->owner);
    free(w->last);
    free(w->table);
    memset(w, 0, sizeof *w);
}

/* Room for n entries and every sequence slot of the cache; 0 or -1 (out of memory). */
static int work_grow(lli_attn_work *w, int32_t n_seqs, int64_t n) {
    if (n_seqs > w->seq_cap) {
        int64_t *p = realloc(w->seq_first, (size_t)n_seqs * sizeof *p);
        if (!p) return -1;
        for (int32_t s = w->seq_cap; s < n_seqs; s++) p[s] = -1;
        w->seq_first = p;
        w->seq_cap = n_seqs;
    }
    if (n > w->entry_cap) {
        int64_t *o = realloc(w->owner, (size_t)n * sizeof *o);
        if (o) w->owner = o;
        int64_t *l = o ? realloc(w->last, (size_t)n * sizeof *l) : NULL;
        if (l) w->last = l;
        int32_t *t = l ? realloc(w->table, (size_t)n * sizeof *t) : NULL;
        if (!t) return -1;
        w->table = t;
        w->entry_cap = n;
    }
    return 0;
}

int lli_cuda_attn_plan(const lli_kv_view *kv, const int32_t *seq, const int64_t *pos, int64_t n, int64_t window,
                       int n_head, int n_sm, lli_attn_work *w, lli_attn_plan *plan) {
    lli_attn_plan p = {0};
    p.n = n;
    if (work_grow(w, kv->n_seqs, n)) return -2;
    int64_t table = 0, tiles = 0, max_span = 0, i;
    int bad = 0;
    /* One pass: each entry finds its sequence's first entry (the owner) through seq_first; the
     * owner's `last` collects the sequence's furthest position. */
    for (i = 0; i < n; i++) {
        bad = seq[i] < 0 || seq[i] >= kv->n_seqs || pos[i] < 0 || pos[i] > INT32_MAX;
        if (bad) break;
        if ((bad = !kv->seq_blocks[seq[i]] || pos[i] >= kv->seq_n_blocks[seq[i]] * kv->block_size)) break;
        int64_t *first = &w->seq_first[seq[i]];
        if (*first < 0) *first = i, w->last[i] = pos[i];
        else if (pos[i] > w->last[*first]) w->last[*first] = pos[i];
        w->owner[i] = *first;
        int64_t span = pos[i] - first_key(pos[i], window) + 1;
        if (span > max_span) max_span = span;
    }
    /* seq_first is all -1 again outside a call, whatever happened; the owners keep the tables. */
    for (int64_t j = 0; j < i; j++) w->seq_first[seq[j]] = -1;
    if (bad) return -1;
    for (i = 0; i < n; i++)
        if (w->owner[i] == i) {
            w->table[i] = (int32_t)(table < INT32_MAX ? table : INT32_MAX);
            table += w->last[i] / kv->block_size + 1;
        }
    /* Tiles: runs of up to BQ consecutive entries of one sequence. */
    for (i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && j - i < LLI_CUDA_ATTN_BQ && seq[j] == seq[i]) j++;
        tiles++;
        i = j;
    }
    if (table > INT32_MAX) return -1;
    p.n_table = (int32_t)table;
    p.n_tiles = (int32_t)tiles;
    p.max_span = (int32_t)max_span;
    /* The tiled kernel pays off when tiles are well filled: K/V chunks are then loaded once for many
     * queries. Decode steps (one entry per sequence) take the split-key kernel. */
    p.prefill = n > 8 && n >= 4 * tiles;
    p.splits = p.prefill ? 1 : lli_cuda_attn_splits(n * n_head, p.max_span, n_sm);
    p.off_entries = 0;
    p.off_tiles = align16((size_t)n * sizeof(lli_attn_entry));
    p.off_table = p.off_tiles + align16((size_t)tiles * sizeof(lli_attn_tile));
    p.bytes = p.off_table + align16((size_t)table * sizeof(int32_t));
    if (p.bytes == 0) p.bytes = 16;
    *plan = p;
    return 0;
}

void lli_cuda_attn_fill(const lli_kv_view *kv, const int32_t *seq, const int64_t *pos, int64_t window,
                        const lli_attn_work *w, const lli_attn_plan *plan, void *buf) {
    lli_attn_entry *e = (lli_attn_entry *)((char *)buf + plan->off_entries);
    lli_attn_tile *tl = (lli_attn_tile *)((char *)buf + plan->off_tiles);
    int32_t *table = (int32_t *)((char *)buf + plan->off_table);
    for (int64_t i = 0; i < plan->n; i++) {
        int64_t owner = w->owner[i];
        e[i].table = w->table[owner];
        if (owner == i) { /* the sequence's table up to the block of its furthest position in the call */
            const int32_t *blocks = kv->seq_blocks[seq[i]];
            int64_t count = w->last[i] / kv->block_size + 1;
            memcpy(table + w->table[i], blocks, (size_t)count * sizeof *blocks);
        }
        e[i].pos = (int32_t)pos[i];
        e[i].first = (int32_t)first_key(pos[i], window);
        e[i].pad = 0;
    }
    int32_t t = 0;
    for (int64_t i = 0; i < plan->n;) {
        int64_t j = i + 1;
        while (j < plan->n && j - i < LLI_CUDA_ATTN_BQ && seq[j] == seq[i]) j++;
        int32_t lo = e[i].first, hi = e[i].pos;
        for (int64_t k = i; k < j; k++) {
            if (e[k].first < lo) lo = e[k].first;
            if (e[k].pos > hi) hi = e[k].pos;
        }
        tl[t].entry0 = (int32_t)i;
        tl[t].count = (int32_t)(j - i);
        tl[t].key_first = lo;
        tl[t].key_last = hi;
        t++;
        i = j;
    }
}

uint32_t lli_cuda_attn_prefill_smem(int head_dim) {
    uint32_t q = LLI_CUDA_ATTN_BQ * (uint32_t)(head_dim + 1) * 4;
    uint32_t kv = 2 * LLI_CUDA_ATTN_BK * (uint32_t)(head_dim + 2) * 2;
    uint32_t s = LLI_CUDA_ATTN_BQ * LLI_CUDA_ATTN_BK * 4;
    return q + kv + s;
}

int lli_cuda_attn_per_lane(int head_dim) {
    int per = (head_dim + 31) / 32;
    if (head_dim <= 0 || per > 16) return 0;
    return per <= 2 ? 2 : per <= 4 ? 4 : per <= 8 ? 8 : 16;
}
