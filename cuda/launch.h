/* Host-side decisions of the CUDA backend: launch shapes, tile sizes, the cuBLAS threshold and the
 * flattening of KV block tables for one attention call. Plain C with no CUDA, so that it compiles and
 * is tested (tests/gpu/test_launch.c) on machines without a GPU or a CUDA toolkit. */
#ifndef LLI_CUDA_LAUNCH_H
#define LLI_CUDA_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "backend/kv_view.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lli_launch {
    uint32_t grid[3], block[3];
    uint32_t smem; /* dynamic shared memory bytes */
} lli_launch;

/* ---- matrix products ---------------------------------------------------------------------- */

/* Above this many activation rows, weights are dequantized to F16 tiles for cuBLAS: below it the
 * product is bound by reading the weights once, which our own kernels do at full bandwidth, while
 * cuBLAS would add a dequantization pass that writes twice the bytes it reads. */
#define LLI_CUDA_GEMM_MIN_N 9
/* Most activation rows one matrix-vector launch handles (the per-thread accumulators). */
#define LLI_CUDA_MV_MAX_N 8
/* Warps (one weight row each) per block of the matrix-vector kernels. */
#define LLI_CUDA_MV_WARPS 4

int lli_cuda_use_gemm(int64_t n);
/* 1 if the type's matrix-vector kernel quantizes the activations to 8 bits (as the CPU backend does
 * for the same types, so both round alike); 0 if it multiplies float activations. */
int lli_cuda_type_uses_q8(int type);
/* Bytes of one weight row of `in` elements; 0 for an unsupported type or a ragged row. */
uint64_t lli_cuda_row_bytes(int type, int64_t in);
lli_launch lli_cuda_launch_matvec(int64_t rows);
/* One warp per 32-element block of n rows of `in` activations. */
lli_launch lli_cuda_launch_quantize(int64_t n, int64_t in);
/* Weight rows per dequantized F16 tile: the whole matrix when it fits in budget_bytes, else a
 * multiple of 128 rows (cuBLAS's tile) that fits, never less than 128. */
int64_t lli_cuda_gemm_tile_rows(int64_t rows, int64_t in, uint64_t budget_bytes);

/* ---- elementwise and row kernels --------------------------------------------------------- */

lli_launch lli_cuda_launch_elementwise(int64_t count);
/* One block per row, a power of two of threads up to 1024, about four elements each. */
lli_launch lli_cuda_launch_rows(int64_t rows, int64_t dim);
/* Rotary embedding: one block per (entry, head), one thread per rotated pair. */
lli_launch lli_cuda_launch_rope(int64_t n, int heads, int rope_dim);

/* ---- attention ---------------------------------------------------------------------------- */

/* Per entry of the step, as the kernels read it. */
typedef struct lli_attn_entry {
    int32_t table; /* offset of its sequence's block table in the flattened tables */
    int32_t pos;   /* its position: it attends to keys [first, pos] */
    int32_t first;
    int32_t pad;
} lli_attn_entry;

/* A run of consecutive entries of one sequence, which the prefill kernel serves together: keys
 * [key_first, key_last] are loaded once for all of them. */
typedef struct lli_attn_tile {
    int32_t entry0, count, key_first, key_last;
} lli_attn_tile;

#define LLI_CUDA_ATTN_BQ 16   /* queries per prefill tile */
#define LLI_CUDA_ATTN_BK 32   /* keys per prefill step */
#define LLI_CUDA_ATTN_MIN_SPLIT 128 /* fewest keys a split of the decode kernel takes */
#define LLI_CUDA_ATTN_MAX_SPLITS 32

typedef struct lli_attn_plan {
    int64_t n;          /* entries */
    int32_t n_table;    /* int32 block ids in the flattened tables */
    int32_t n_tiles;
    int32_t max_span;   /* most keys one entry attends to */
    int prefill;        /* 1: the tiled flash kernel; 0: the decode kernel */
    int splits;         /* decode: key ranges per (entry, head), merged afterwards */
    /* Layout of the staging block that carries the plan to the device, in bytes from its start. */
    size_t off_entries, off_tiles, off_table, bytes;
} lli_attn_plan;

/* Per-call scratch of the planning, kept by the caller between calls (zero-initialized before the
 * first; lli_cuda_attn_work_free releases it). seq_first maps a sequence id to its first entry in
 * the call and is all -1 between calls, so that a call touches only its own entries' sequences:
 * planning is O(n) in the entries (plus, once, the cache's sequence slots). */
typedef struct lli_attn_work {
    int64_t *seq_first; /* per sequence id: its first entry in the call, -1 outside a call */
    int32_t seq_cap;
    int64_t *owner;     /* per entry: the first entry of its sequence, which owns the sequence's table */
    int64_t *last;      /* per owner: the furthest position of the sequence in the call */
    int32_t *table;     /* per owner: offset of the sequence's table in the flattened tables */
    int64_t entry_cap;
} lli_attn_work;

void lli_cuda_attn_work_free(lli_attn_work *w);

/* Size the plan of one attention call: entries (seq[i], pos[i]) over the block tables of kv, with
 * a sliding window (0: none), n_head query heads, on a device of n_sm multiprocessors. Returns 0;
 * -1 if an entry's sequence or position is outside the cache (nothing to run); -2 if the scratch
 * could not grow (out of memory). Leaves in work what lli_cuda_attn_fill needs. */
int lli_cuda_attn_plan(const lli_kv_view *kv, const int32_t *seq, const int64_t *pos, int64_t n, int64_t window,
                       int n_head, int n_sm, lli_attn_work *work, lli_attn_plan *plan);
/* Write the plan's arrays into buf (plan->bytes, 16-byte aligned), from the same arguments and the
 * work of the lli_cuda_attn_plan call that made the plan. */
void lli_cuda_attn_fill(const lli_kv_view *kv, const int32_t *seq, const int64_t *pos, int64_t window,
                        const lli_attn_work *work, const lli_attn_plan *plan, void *buf);
/* Key ranges per (entry, head) for the decode kernel: enough blocks to fill the device twice over,
 * each range at least LLI_CUDA_ATTN_MIN_SPLIT keys. */
int lli_cuda_attn_splits(int64_t items, int32_t max_span, int n_sm);
/* Dynamic shared memory of the prefill kernel for a head size: the query tile as floats, a chunk of
 * keys and values as halves (rows padded by one word against bank conflicts), the tile's scores. */
uint32_t lli_cuda_attn_prefill_smem(int head_dim);
/* Head-size class of the attention kernels: elements per lane (decode) rounded up to 2, 4, 8 or 16;
 * 0 when head_dim is over 512. */
int lli_cuda_attn_per_lane(int head_dim);

/* ---- sampling ----------------------------------------------------------------------------- */

#define LLI_CUDA_SAMPLE_THREADS 1024

#ifdef __cplusplus
}
#endif

#endif
