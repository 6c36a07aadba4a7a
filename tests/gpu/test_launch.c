/* The CUDA backend's host-side decisions (cuda/launch.c), on the CPU: launch shapes, the cuBLAS
 * threshold, tiles, and above all the flattened block tables, which must address exactly the rows
 * lli_kv_row() gives for every entry and key. Runs everywhere; needs no GPU and no CUDA. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "format/tensor_types.h"
#include "launch.h"
#include "sample_ref.h"
#include "sample_row.h"

static void test_shapes(void) {
    CHECK(!lli_cuda_use_gemm(1) && !lli_cuda_use_gemm(8) && lli_cuda_use_gemm(9) && lli_cuda_use_gemm(512), "gemm threshold");
    CHECK(LLI_CUDA_GEMM_MIN_N == LLI_CUDA_MV_MAX_N + 1, "every n below the threshold fits the matrix-vector kernel");
    CHECK(lli_cuda_row_bytes(LLI_TT_Q4_K, 4096) == 16 * 144, "q4_k row");
    CHECK(lli_cuda_row_bytes(LLI_TT_Q6_K, 14336) == 56 * 210, "q6_k row");
    CHECK(lli_cuda_row_bytes(LLI_TT_Q8_0, 576) == 18 * 34, "q8_0 row");
    CHECK(lli_cuda_row_bytes(LLI_TT_F32, 200) == 800 && lli_cuda_row_bytes(LLI_TT_BF16, 3) == 6, "float rows");
    CHECK(lli_cuda_row_bytes(LLI_TT_Q4_K, 576) == 0 && lli_cuda_row_bytes(LLI_TT_Q4_0, 33) == 0, "ragged rows refused");
    CHECK(lli_cuda_row_bytes(99, 4096) == 0, "unknown type refused");
    int q8 = 0;
    const int types[] = {LLI_TT_Q8_0, LLI_TT_Q4_0, LLI_TT_Q4_1, LLI_TT_Q4_K, LLI_TT_Q6_K, LLI_TT_Q5_K, LLI_TT_F16};
    for (int i = 0; i < 7; i++) q8 += lli_cuda_type_uses_q8(types[i]);
    CHECK(q8 == 5, "the CPU backend's 8-bit-activation types, and only those");

    lli_launch l = lli_cuda_launch_matvec(131);
    CHECK(l.grid[0] == 33 && l.block[0] == 32 * LLI_CUDA_MV_WARPS, "matvec: a warp per row (%u x %u)", l.grid[0], l.block[0]);
    l = lli_cuda_launch_quantize(3, 512);
    CHECK((uint64_t)l.grid[0] * l.block[0] / 32 >= 3 * 16 && (uint64_t)(l.grid[0] - 1) * l.block[0] / 32 < 3 * 16,
          "quantize: a warp per block, no idle block");
    l = lli_cuda_launch_elementwise(1000);
    CHECK(l.grid[0] == 4 && l.block[0] == 256, "elementwise");
    l = lli_cuda_launch_elementwise((int64_t)1 << 40);
    CHECK(l.grid[0] == 65536, "elementwise grids are capped (grid-stride loops)");
    l = lli_cuda_launch_elementwise(0);
    CHECK(l.grid[0] == 1, "an empty launch is still a valid launch");
    l = lli_cuda_launch_rows(7, 4096);
    CHECK(l.grid[0] == 7 && l.block[0] == 1024, "rows: wide rows get 1024 threads");
    l = lli_cuda_launch_rows(7, 64);
    CHECK(l.block[0] == 32, "rows: narrow rows one warp");
    l = lli_cuda_launch_rope(5, 32, 128);
    CHECK(l.grid[0] == 160 && l.block[0] == 64, "rope: a block per head, a thread per pair");
    l = lli_cuda_launch_rope(1, 1, 2);
    CHECK(l.block[0] == 32, "rope: whole warps");

    CHECK(lli_cuda_gemm_tile_rows(4096, 4096, 128ull << 20) == 4096, "tile: the whole matrix when it fits");
    int64_t t = lli_cuda_gemm_tile_rows(32000, 4096, 128ull << 20);
    CHECK(t % 128 == 0 && (uint64_t)t * 4096 * 2 <= 128ull << 20 && t >= 128, "tile: multiple of 128 within the budget (%lld)",
          (long long)t);
    CHECK(lli_cuda_gemm_tile_rows(1000, 1 << 20, 1 << 20) == 128, "tile: never less than 128 rows");
}

/* A cache's view with scattered block tables. */
static lli_kv_view *make_kv(int n_seqs, int64_t blocks_per_seq, int bs) {
    lli_kv_view *kv = calloc(1, sizeof *kv);
    kv->n_layer = 3, kv->n_head_kv = 2, kv->head_dim = 64, kv->block_size = bs;
    int64_t n_blocks = n_seqs * blocks_per_seq;
    kv->n_seqs = n_seqs;
    int32_t **tables = calloc((size_t)n_seqs, sizeof *tables);
    int64_t *counts = calloc((size_t)n_seqs, sizeof *counts);
    for (int s = 0; s < n_seqs; s++) {
        if (s == 3) continue; /* no sequence 3 */
        counts[s] = blocks_per_seq;
        tables[s] = malloc((size_t)blocks_per_seq * sizeof *tables[s]);
        for (int64_t b = 0; b < blocks_per_seq; b++) tables[s][b] = (int32_t)((b * n_seqs + s * 7 + 3) % n_blocks);
    }
    kv->seq_blocks = (const int32_t *const *)tables;
    kv->seq_n_blocks = counts;
    return kv;
}

static void free_kv(lli_kv_view *kv) {
    for (int s = 0; s < kv->n_seqs; s++) free((void *)kv->seq_blocks[s]);
    free((void *)kv->seq_blocks);
    free((void *)kv->seq_n_blocks);
    free(kv);
}

/* Every (entry, key, layer, head) through the plan's tables equals lli_kv_view_row(). */
static int rows_agree(const lli_kv_view *kv, const int32_t *seq, const int64_t *pos, int64_t n, int64_t window,
                      const lli_attn_plan *p, const void *buf) {
    const lli_attn_entry *e = (const lli_attn_entry *)((const char *)buf + p->off_entries);
    const int32_t *tables = (const int32_t *)((const char *)buf + p->off_table);
    for (int64_t i = 0; i < n; i++) {
        int64_t first = window > 0 && pos[i] - window + 1 > 0 ? pos[i] - window + 1 : 0;
        if (e[i].pos != pos[i] || e[i].first != first) return 0;
        if (e[i].table < 0 || e[i].table >= p->n_table) return 0;
        for (int32_t k = e[i].first; k <= e[i].pos; k++)
            for (int layer = 0; layer < kv->n_layer; layer++)
                for (int h = 0; h < kv->n_head_kv; h++) {
                    int64_t block = tables[e[i].table + k / kv->block_size];
                    int64_t got = ((block * kv->n_layer + layer) * kv->n_head_kv + h) * kv->block_size + k % kv->block_size;
                    if (got != lli_kv_view_row(kv, kv->seq_blocks[seq[i]], k, layer, h)) return 0;
                }
    }
    return 1;
}

/* Between calls the work's sequence map holds no entry. */
static int map_clean(const lli_attn_work *w) {
    for (int32_t s = 0; s < w->seq_cap; s++)
        if (w->seq_first[s] != -1) return 0;
    return 1;
}

/* A long prefill chunk and a wide decode step: the same tables as entry-by-entry lli_kv_row(). The
 * planning is one pass over the entries (it was quadratic: 0.5 s on the host at 8192 entries). */
static void test_attention_plan_large(void) {
    lli_kv_view *kv = make_kv(300, 600, 16);
    int64_t n = 8192;
    int32_t *seq = malloc((size_t)n * sizeof *seq);
    int64_t *pos = malloc((size_t)n * sizeof *pos);
    lli_attn_work work = {0};
    lli_attn_plan p;
    for (int64_t i = 0; i < n; i++) seq[i] = 7, pos[i] = 1000 + i;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 4096, 32, 132, &work, &p) == 0 && p.prefill && p.n_table == (1000 + 8191) / 16 + 1,
          "8192-entry chunk (%d table entries)", p.n_table);
    void *buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 4096, &work, &p, buf);
    CHECK(rows_agree(kv, seq, pos, 64, 4096, &p, buf), "8192-entry chunk rows (first entries)");
    free(buf);
    /* 290 sequences (3 is free) one entry each */
    n = 0;
    for (int s = 0; s < 300; s++)
        if (s != 3) seq[n] = s, pos[n++] = (s * 37) % 9000;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 0, 32, 132, &work, &p) == 0 && !p.prefill, "wide decode plan");
    buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 0, &work, &p, buf);
    CHECK(rows_agree(kv, seq, pos, n, 0, &p, buf), "wide decode rows");
    CHECK(map_clean(&work), "map clean");
    free(buf);
    lli_cuda_attn_work_free(&work);
    free(seq);
    free(pos);
    free_kv(kv);
}

static void test_attention_plan(void) {
    lli_kv_view *kv = make_kv(6, 40, 16);
    int32_t seq[600];
    int64_t pos[600];
    lli_attn_plan p;
    lli_attn_work work = {0};

    /* prefill: 40 of sequence 0, 21 of sequence 2 */
    int64_t n = 0;
    for (int i = 0; i < 40; i++) seq[n] = 0, pos[n++] = 100 + i;
    for (int i = 0; i < 21; i++) seq[n] = 2, pos[n++] = i;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 0, 8, 132, &work, &p) == 0, "prefill plan");
    CHECK(p.prefill == 1 && p.splits == 1, "prefill takes the tiled kernel");
    CHECK(p.n_tiles == 3 + 2, "tiles of at most %d entries, never across sequences (%d)", LLI_CUDA_ATTN_BQ, p.n_tiles);
    CHECK(p.n_table == (139 / 16 + 1) + (20 / 16 + 1), "one table per sequence, as long as its furthest entry (%d)", p.n_table);
    CHECK(p.max_span == 140, "longest span");
    CHECK(p.off_tiles % 16 == 0 && p.off_table % 16 == 0 && p.bytes % 16 == 0, "aligned layout");
    void *buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 0, &work, &p, buf);
    CHECK(rows_agree(kv, seq, pos, n, 0, &p, buf), "prefill rows through the flattened tables");
    const lli_attn_tile *tl = (const lli_attn_tile *)((char *)buf + p.off_tiles);
    CHECK(tl[0].entry0 == 0 && tl[0].count == 16 && tl[2].count == 8 && tl[3].entry0 == 40 && tl[4].count == 5,
          "tile boundaries");
    CHECK(tl[1].key_first == 0 && tl[1].key_last == 131 && tl[3].key_first == 0 && tl[3].key_last == 15, "tile key ranges");
    free(buf);

    /* with a window: first keys move up, tiles' ranges start at their earliest query's first key */
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 50, 8, 132, &work, &p) == 0 && p.max_span == 50, "window plan");
    buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 50, &work, &p, buf);
    CHECK(rows_agree(kv, seq, pos, n, 50, &p, buf), "windowed rows");
    tl = (const lli_attn_tile *)((char *)buf + p.off_tiles);
    CHECK(tl[0].key_first == 51 && tl[0].key_last == 115, "windowed tile range (%d..%d)", tl[0].key_first, tl[0].key_last);
    free(buf);

    /* decode: one entry per sequence, different lengths */
    n = 0;
    const int64_t lens[6] = {639, 3, 0, 0, 200, 17};
    for (int s = 0; s < 6; s++)
        if (s != 3) seq[n] = s, pos[n++] = lens[s];
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 0, 32, 132, &work, &p) == 0, "decode plan");
    CHECK(p.prefill == 0, "decode takes the decode kernel");
    CHECK(p.splits == lli_cuda_attn_splits(n * 32, 640, 132) && p.splits >= 1, "decode splits");
    buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 0, &work, &p, buf);
    CHECK(rows_agree(kv, seq, pos, n, 0, &p, buf), "decode rows");
    free(buf);

    /* the same sequence several times in a small step shares one table */
    n = 0;
    for (int i = 0; i < 3; i++) seq[n] = 1, pos[n++] = 30 + i;
    seq[n] = 4, pos[n++] = 5;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 0, 4, 132, &work, &p) == 0 && p.prefill == 0 && p.n_table == 3 + 1, "shared table");
    buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 0, &work, &p, buf);
    const lli_attn_entry *e = (const lli_attn_entry *)((char *)buf + p.off_entries);
    CHECK(e[0].table == e[1].table && e[1].table == e[2].table && e[3].table != e[0].table, "entries of a sequence share it");
    CHECK(rows_agree(kv, seq, pos, n, 0, &p, buf), "shared-table rows");
    free(buf);

    /* a sequence's entries need not be adjacent: 1, 4, 1, 5, 1 */
    n = 0;
    seq[n] = 1, pos[n++] = 40;
    seq[n] = 4, pos[n++] = 7;
    seq[n] = 1, pos[n++] = 41;
    seq[n] = 5, pos[n++] = 100;
    seq[n] = 1, pos[n++] = 42;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, n, 0, 4, 132, &work, &p) == 0 && p.n_table == 3 + 1 + 7 && p.n_tiles == 5,
          "interleaved sequences (%d table entries, %d tiles)", p.n_table, p.n_tiles);
    buf = calloc(1, p.bytes);
    lli_cuda_attn_fill(kv, seq, pos, 0, &work, &p, buf);
    e = (const lli_attn_entry *)((char *)buf + p.off_entries);
    CHECK(e[0].table == e[2].table && e[2].table == e[4].table && e[1].table != e[0].table && e[3].table != e[1].table,
          "interleaved entries of a sequence share its table");
    CHECK(rows_agree(kv, seq, pos, n, 0, &p, buf), "interleaved rows");
    free(buf);
    CHECK(map_clean(&work), "the sequence map is clean after planning");

    /* refused: a free sequence, an id out of range, a position past the blocks, a negative one */
    seq[0] = 3, pos[0] = 0;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 1, 0, 4, 132, &work, &p) == -1, "free sequence refused");
    seq[0] = 6;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 1, 0, 4, 132, &work, &p) == -1, "unknown sequence refused");
    seq[0] = 0, pos[0] = 40 * 16;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 1, 0, 4, 132, &work, &p) == -1, "position past the blocks refused");
    pos[0] = -1;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 1, 0, 4, 132, &work, &p) == -1, "negative position refused");
    /* a bad entry after good ones: refused, and the map is clean for the next call */
    seq[0] = 0, pos[0] = 5, seq[1] = 2, pos[1] = 9, seq[2] = 3, pos[2] = 0;
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 3, 0, 4, 132, &work, &p) == -1 && map_clean(&work), "late bad entry refused cleanly");
    CHECK(lli_cuda_attn_plan(kv, seq, pos, 2, 0, 4, 132, &work, &p) == 0 && p.n_table == 1 + 1, "the next plan is right");
    lli_cuda_attn_work_free(&work);
    free_kv(kv);
}

static void test_attention_shapes(void) {
    CHECK(lli_cuda_attn_splits(1, 100, 132) == 1, "short spans are not split");
    CHECK(lli_cuda_attn_splits(32, 4096, 132) == 9, "batch-1 decode over 4096 keys: %d splits", lli_cuda_attn_splits(32, 4096, 132));
    CHECK(lli_cuda_attn_splits(32, 100000, 132) == 9 && lli_cuda_attn_splits(1, 100000, 132) == LLI_CUDA_ATTN_MAX_SPLITS,
          "splits capped");
    CHECK(lli_cuda_attn_splits(128 * 32, 4096, 132) == 1, "many sequences fill the device without splits");
    CHECK(lli_cuda_attn_splits(8, 4096, 132) * LLI_CUDA_ATTN_MIN_SPLIT <= 4096, "each split has its minimum of keys");
    CHECK(lli_cuda_attn_per_lane(64) == 2 && lli_cuda_attn_per_lane(80) == 4 && lli_cuda_attn_per_lane(128) == 4 &&
              lli_cuda_attn_per_lane(256) == 8 && lli_cuda_attn_per_lane(512) == 16 && lli_cuda_attn_per_lane(513) == 0,
          "head-size classes");
    CHECK(lli_cuda_attn_prefill_smem(128) <= 48 * 1024, "head size 128 within the default shared memory");
    CHECK(lli_cuda_attn_prefill_smem(512) <= 160 * 1024, "head size 512 within an A100's opt-in shared memory (%u)",
          lli_cuda_attn_prefill_smem(512));
}

/* ---- the sampler's selection logic (sample_row.h), run on the host ---------------------------- */

static int64_t sample_host(const float *x, int64_t vocab, float temp, int top_k, float top_p, float u) {
    lli_sr_ctx r;
    return lli_sr_sample(&r, x, vocab, temp, top_k, top_p, u);
}

/* Every draw of a fine grid gives a token the double-precision reference accepts. */
static void sample_sweep(const char *what, const float *x, int64_t vocab, float temp, int top_k, float top_p) {
    int bad = 0;
    char why[256] = "";
    for (int k = 0; k <= 50 && !bad; k++) {
        float u = k == 50 ? 0.999999f : (float)k / 50.0f;
        int64_t tok = sample_host(x, vocab, temp, top_k, top_p, u);
        bad = !sample_ref_check(x, vocab, temp, top_k, top_p, u, tok, why, sizeof why);
    }
    CHECK(!bad, "%s: %s", what, why);
}

static void test_sampling_logic(void) {
    const float inf = INFINITY, nan = NAN;
    /* top_p <= 0 keeps only the largest logit (it returned token 0 whatever the logits) */
    float a[6] = {0.5f, 2.0f, 1.0f, 3.0f, -1.0f, 2.5f};
    for (int k = 0; k < 10; k++) {
        float u = (float)k / 10.0f;
        CHECK(sample_host(a, 6, 1.0f, 0, 0.0f, u) == 3, "top_p 0, u %.1f: the largest logit", u);
        CHECK(sample_host(a, 6, 0.7f, 0, -0.5f, u) == 3, "top_p < 0: the largest logit");
        CHECK(sample_host(a, 6, 1.0f, 4, 0.0f, u) == 3, "top_k 4 and top_p 0: the largest logit");
    }
    float tie[4] = {1.0f, 4.0f, 0.0f, 4.0f};
    CHECK(sample_host(tie, 4, 1.0f, 0, 0.0f, 0.2f) == 1 && sample_host(tie, 4, 1.0f, 0, 0.0f, 0.7f) == 3,
          "top_p 0 with two equal maxima: the draw picks between them");
    sample_sweep("top_p 0", a, 6, 1.0f, 0, 0.0f);
    /* a NaN logit: never chosen, weighs nothing, and the draw still decides (it picked the last
     * kept token whatever the draw) */
    float n1[5] = {nan, 0.0f, 0.0f, nan, 0.0f};
    CHECK(sample_host(n1, 5, 1.0f, 0, 1.0f, 0.1f) == 1 && sample_host(n1, 5, 1.0f, 0, 1.0f, 0.5f) == 2 &&
              sample_host(n1, 5, 1.0f, 0, 1.0f, 0.9f) == 4,
          "NaN logits skipped, the draw decides among the rest");
    CHECK(sample_host(n1, 5, 0.0f, 0, 1.0f, 0.5f) == 1, "greedy skips NaN (lowest index among equal maxima)");
    float n3[5] = {nan, 3.0f, 1.0f, nan, 2.0f};
    int in_top2 = 1;
    for (int k = 0; k < 20; k++) {
        int64_t t = sample_host(n3, 5, 1.0f, 2, 1.0f, (float)k / 20.0f);
        in_top2 &= t == 1 || t == 4;
    }
    CHECK(in_top2, "top_k 2 beside NaN: the two largest numbers only");
    float n2[3] = {nan, nan, nan};
    CHECK(sample_host(n2, 3, 1.0f, 0, 0.9f, 0.5f) == -1 && sample_host(n2, 3, 0.0f, 0, 1.0f, 0.5f) == -1,
          "a row of NaN gives -1 (the caller's error), not a token");
    /* infinities: +inf takes all the mass (ties share it); -inf weighs nothing; a row of -inf is uniform */
    float p1[5] = {1.0f, inf, 3.0f, inf, 2.0f};
    CHECK(sample_host(p1, 5, 1.0f, 0, 1.0f, 0.2f) == 1 && sample_host(p1, 5, 1.0f, 0, 1.0f, 0.8f) == 3,
          "+inf logits share all the mass");
    CHECK(sample_host(p1, 5, 0.0f, 0, 1.0f, 0.8f) == 1, "greedy with +inf");
    float m1[4] = {-inf, 1.0f, -inf, 1.0f};
    int only_finite = 1;
    for (int k = 0; k < 20; k++) {
        int64_t t = sample_host(m1, 4, 1.0f, 0, 0.9f, (float)k / 20.0f);
        only_finite &= t == 1 || t == 3;
    }
    CHECK(only_finite, "-inf logits are never drawn");
    float m2[4] = {-inf, -inf, -inf, -inf};
    CHECK(sample_host(m2, 4, 1.0f, 0, 1.0f, 0.1f) == 0 && sample_host(m2, 4, 1.0f, 0, 1.0f, 0.6f) == 2 &&
              sample_host(m2, 4, 0.0f, 0, 1.0f, 0.6f) == 0,
          "a row of -inf: uniform when sampling, the first when greedy");
    /* a draw of 1 (rounding past the end) gives the last kept token with weight */
    CHECK(sample_host(m1, 4, 1.0f, 0, 1.0f, 1.0f) == 3, "u = 1: the last kept token");
    /* random rows: greedy, temperature, top-k, top-p, with NaN and infinities sprinkled in */
    static float x[1024];
    uint64_t g = 12345;
    for (int row = 0; row < 6; row++) {
        for (int i = 0; i < 1024; i++) {
            g ^= g << 13, g ^= g >> 7, g ^= g << 17;
            x[i] = (float)((double)(g >> 11) / 9007199254740992.0 * 12.0 - 6.0);
        }
        if (row >= 3) x[17] = nan, x[1000] = -inf, x[100] = nan;
        if (row == 5) x[222] = inf;
        const struct { float temp; int k; float p; } cfg[] = {{0.0f, 0, 1.0f}, {0.8f, 40, 1.0f}, {1.0f, 0, 0.9f},
                                                              {0.7f, 50, 0.8f}, {1.5f, 0, 1.0f}, {1.0f, 2000, 0.5f}};
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            char what[96];
            snprintf(what, sizeof what, "row %d, temperature %.1f, top_k %d, top_p %.1f", row, cfg[c].temp, cfg[c].k, cfg[c].p);
            sample_sweep(what, x, 1024, cfg[c].temp, cfg[c].k, cfg[c].p);
        }
    }
}

int main(void) {
    test_shapes();
    test_attention_plan();
    test_attention_plan_large();
    test_attention_shapes();
    test_sampling_logic();
    return check_summary();
}
