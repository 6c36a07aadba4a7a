/* Every compute operation of the CUDA backend against the CPU backend's, on fresh random inputs of
 * every weight type, with outputs poisoned (NaN) before each run on both sides. Errors are
 * normwise relative, |got - ref| / |ref|, against the bounds below; a NaN or infinity where the CPU
 * gives a finite value fails whatever the bound. Without a CUDA device: skipped (exit code 77). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "check.h"
#include "format/gguf_write.h"
#include "gpu_skip.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"
#include "sample_ref.h"
#include "format/tensor_types.h"

/* Bounds, and why each is what it is:
 * - exact ops (embed, add, add_rows, gather): the same float operations on both sides;
 * - rms_norm: the CPU sums squares in double, the GPU in float trees;
 * - rope, swiglu: libm's and CUDA's cosf / sinf / expf differ by an ulp or two;
 * - matrix-vector: identical integer sums of 8-bit blocks (or the same float dequantization), only the
 *   order of float accumulation differs;
 * - cuBLAS path: activations and weights meet at F16 (the CPU rounds activations to 8 bits for the
 *   q8 types), so about the F16 and 8-bit roundings;
 * - attention: the GPU keeps probabilities in float where the CPU rounds them to F16 before V (and
 *   the 8-bit cache's rows meet the query at F16 in the prefill kernel). */
#define BOUND_EXACT 1e-6
#define BOUND_NORM 1e-5
#define BOUND_TRIG 2e-5
#define BOUND_MATVEC 1e-4
#define BOUND_GEMM_FLOAT 3e-3
#define BOUND_GEMM_Q8 1.5e-2
#define BOUND_ATTN_F16 3e-3
#define BOUND_ATTN_Q8 6e-3

static lli_backend *cpu, *gpu;
static void *ecpu, *egpu;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double urand(void) { /* [0, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = nrand() * scale;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* Backend memory holding a copy of host bytes (either backend). */
static void *put(lli_backend *be, const void *src, size_t bytes) {
    void *d = NULL;
    if (be->ops->alloc(be, bytes, &d) != LLI_OK || be->ops->upload(be, d, 0, src, bytes) != LLI_OK) {
        fprintf(stderr, "backend %s: alloc/upload of %zu bytes failed: %s\n", be->ops->name, bytes, lli_last_error());
        abort();
    }
    return d;
}
static void get(lli_backend *be, void *dst, const void *src, size_t bytes) {
    if (be->ops->download(be, dst, src, 0, bytes) != LLI_OK) {
        fprintf(stderr, "download failed: %s\n", lli_last_error());
        abort();
    }
}
/* A float buffer on a backend, full of NaN. */
static float *poisoned(lli_backend *be, int64_t n) {
    float *h = xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) h[i] = NAN;
    float *d = put(be, h, (size_t)n * 4);
    free(h);
    return d;
}
static void finish_both(const char *what) {
    lli_status a = cpu->ops->compute->finish(ecpu), b = gpu->ops->compute->finish(egpu);
    CHECK(a == LLI_OK && b == LLI_OK, "%s: finish gave cpu %d, cuda %d (%s)", what, a, b, lli_last_error());
}

/* Compare a CPU result with a CUDA result, both in backend memory. */
static void compare(const char *what, const float *ref_dev, const float *got_dev, int64_t n, double bound) {
    float *ref = xmalloc((size_t)n * 4), *got = xmalloc((size_t)n * 4);
    get(cpu, ref, ref_dev, (size_t)n * 4);
    get(gpu, got, got_dev, (size_t)n * 4);
    double num = 0, den = 0, worst = 0;
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && isfinite(ref[i])) {
            if (first_bad < 0) first_bad = i;
            bad++;
            continue;
        }
        double d = (double)got[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
        if (fabs(d) > worst) worst = fabs(d);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(bad == 0 && rel <= bound, "%s: %lld non-finite (first at %lld), relative error %.3g (bound %.1g), max abs %.3g", what,
          (long long)bad, (long long)first_bad, rel, bound, worst);
    printf("%-44s rel %.2e  (bound %.0e)%s\n", what, rel, bound, bad || rel > bound ? "  FAIL" : "");
    free(ref);
    free(got);
}

/* ---- weights ------------------------------------------------------------------------------- */

typedef struct pair_tensor {
    lli_tensor c, g;
} pair_tensor;

static pair_tensor make_tensor(int type, int64_t in, int64_t rows, uint64_t seed) {
    pair_tensor p;
    memset(&p, 0, sizeof p);
    const lli_ttype_info *ti = lli_ttype_by_id(type);
    uint64_t bytes = lli_ttype_bytes(ti, in, rows);
    void *host = xmalloc(bytes);
    /* magnitudes of trained weights (about 0.02), where every type's scales are sane */
    if (gguf_fill_random(host, bytes, type, seed, 0.0f, 0.02f)) abort();
    p.c.name = p.g.name = ti->name;
    p.c.type = p.g.type = ti;
    p.c.n_dims = p.g.n_dims = 2;
    p.c.ne[0] = p.g.ne[0] = in;
    p.c.ne[1] = p.g.ne[1] = rows;
    p.c.ne[2] = p.g.ne[2] = p.c.ne[3] = p.g.ne[3] = 1;
    p.c.bytes = p.g.bytes = bytes;
    p.c.data = put(cpu, host, bytes);
    p.g.data = put(gpu, host, bytes);
    free(host);
    return p;
}
static void free_tensor(pair_tensor *p) {
    cpu->ops->free(cpu, p->c.data);
    gpu->ops->free(gpu, p->g.data);
}

static const int k_types[] = {LLI_TT_F32,  LLI_TT_F16,  LLI_TT_BF16, LLI_TT_Q4_0, LLI_TT_Q4_1, LLI_TT_Q5_0, LLI_TT_Q5_1,
                              LLI_TT_Q8_0, LLI_TT_Q2_K, LLI_TT_Q3_K, LLI_TT_Q4_K, LLI_TT_Q5_K, LLI_TT_Q6_K};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])

static int uses_q8(int t) {
    return t == LLI_TT_Q8_0 || t == LLI_TT_Q4_0 || t == LLI_TT_Q4_1 || t == LLI_TT_Q4_K || t == LLI_TT_Q6_K;
}

static void test_matmul(void) {
    const int64_t ns[] = {1, 3, 8, 9, 37};
    for (int ti = 0; ti < N_TYPES; ti++) {
        int type = k_types[ti];
        int flt = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
        /* float types also with rows that end in a partial chunk of 32 */
        for (int shape = 0; shape < (flt ? 2 : 1); shape++) {
            int64_t in = shape ? 200 : 512, rows = 131;
            pair_tensor w = make_tensor(type, in, rows, 100 + (uint64_t)ti);
            for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
                int64_t n = ns[k];
                float *x = xmalloc((size_t)(n * in) * 4);
                fill(x, n * in, 1.0f);
                float *xc = put(cpu, x, (size_t)(n * in) * 4), *xg = put(gpu, x, (size_t)(n * in) * 4);
                float *oc = poisoned(cpu, n * rows), *og = poisoned(gpu, n * rows);
                void *scratch_c = NULL;
                cpu->ops->alloc(cpu, (uint64_t)(n * (in / 32 + 1)) * 40, &scratch_c);
                cpu->ops->compute->matmul(ecpu, &w.c, xc, oc, n, scratch_c);
                gpu->ops->compute->matmul(egpu, &w.g, xg, og, n, NULL);
                char what[96];
                snprintf(what, sizeof what, "matmul %s in=%lld n=%lld", w.c.type->name, (long long)in, (long long)n);
                finish_both(what);
                double bound = n < 9 ? BOUND_MATVEC : uses_q8(type) ? BOUND_GEMM_Q8 : BOUND_GEMM_FLOAT;
                compare(what, oc, og, n * rows, bound);
                cpu->ops->free(cpu, scratch_c);
                cpu->ops->free(cpu, xc), gpu->ops->free(gpu, xg), cpu->ops->free(cpu, oc), gpu->ops->free(gpu, og);
                free(x);
            }
            free_tensor(&w);
        }
    }
}

static void test_embed(void) {
    const int64_t dim = 512, vocab = 61, n = 7;
    int32_t tokens[7] = {0, 60, 5, 5, 17, 33, 2};
    for (int ti = 0; ti < N_TYPES; ti++) {
        pair_tensor t = make_tensor(k_types[ti], dim, vocab, 300 + (uint64_t)ti);
        float *oc = poisoned(cpu, n * dim), *og = poisoned(gpu, n * dim);
        cpu->ops->compute->embed(ecpu, &t.c, tokens, n, oc);
        gpu->ops->compute->embed(egpu, &t.g, tokens, n, og);
        char what[64];
        snprintf(what, sizeof what, "embed %s", t.c.type->name);
        finish_both(what);
        compare(what, oc, og, n * dim, BOUND_EXACT);
        cpu->ops->free(cpu, oc), gpu->ops->free(gpu, og);
        free_tensor(&t);
    }
}

/* ---- row and elementwise ops ------------------------------------------------------------- */

typedef struct pair_buf {
    float *h, *c, *g;
    int64_t n;
} pair_buf;

static pair_buf buf_random(int64_t n, float scale) {
    pair_buf b = {xmalloc((size_t)n * 4), NULL, NULL, n};
    fill(b.h, n, scale);
    b.c = put(cpu, b.h, (size_t)n * 4);
    b.g = put(gpu, b.h, (size_t)n * 4);
    return b;
}
static pair_buf buf_poison(int64_t n) {
    pair_buf b = {NULL, poisoned(cpu, n), poisoned(gpu, n), n};
    return b;
}
static void buf_free(pair_buf *b) {
    free(b->h);
    cpu->ops->free(cpu, b->c);
    gpu->ops->free(gpu, b->g);
}

static void test_elementwise(void) {
    const lli_compute_ops *C = cpu->ops->compute, *G = gpu->ops->compute;
    /* rms_norm, with and without weights, and in place (the per-head norms) */
    for (int variant = 0; variant < 3; variant++) {
        int64_t rows = 13, dim = variant == 2 ? 64 : 576;
        pair_buf x = buf_random(rows * dim, 3.0f), w = buf_random(dim, 1.0f), o = buf_poison(rows * dim);
        float *oc = variant == 2 ? x.c : o.c, *og = variant == 2 ? x.g : o.g;
        C->rms_norm(ecpu, x.c, variant == 1 ? NULL : w.c, oc, rows, dim, 1e-5f);
        G->rms_norm(egpu, x.g, variant == 1 ? NULL : w.g, og, rows, dim, 1e-5f);
        const char *names[] = {"rms_norm", "rms_norm (no weights)", "rms_norm (in place)"};
        finish_both(names[variant]);
        compare(names[variant], oc, og, rows * dim, BOUND_NORM);
        buf_free(&x), buf_free(&w), buf_free(&o);
    }
    {
        int64_t n = 100003;
        pair_buf x = buf_random(n, 1.0f), y = buf_random(n, 1.0f);
        C->add(ecpu, x.c, y.c, n);
        G->add(egpu, x.g, y.g, n);
        finish_both("add");
        compare("add", x.c, x.g, n, BOUND_EXACT);
        C->swiglu(ecpu, x.c, y.c, n);
        G->swiglu(egpu, x.g, y.g, n);
        finish_both("swiglu");
        compare("swiglu", x.c, x.g, n, BOUND_TRIG);
        buf_free(&x), buf_free(&y);
    }
    {
        int64_t rows = 9, dim = 320;
        pair_buf x = buf_random(rows * dim, 1.0f), b = buf_random(dim, 1.0f);
        C->add_rows(ecpu, x.c, b.c, rows, dim);
        G->add_rows(egpu, x.g, b.g, rows, dim);
        finish_both("add_rows");
        compare("add_rows", x.c, x.g, rows * dim, BOUND_EXACT);
        buf_free(&x), buf_free(&b);
    }
    {
        int64_t n = 11, dim = 96;
        int32_t rows[11] = {3, 0, 7, 7, 2, 1, 9, 4, 4, 0, 10};
        pair_buf x = buf_random(n * dim, 1.0f), o = buf_poison(n * dim);
        C->gather_rows(ecpu, x.c, rows, n, dim, o.c);
        G->gather_rows(egpu, x.g, rows, n, dim, o.g);
        finish_both("gather_rows");
        compare("gather_rows", o.c, o.g, n * dim, BOUND_EXACT);
        buf_free(&x), buf_free(&o);
    }
    /* rope: llama and NeoX pairs, partial rotation, linear scaling and frequency factors, large positions */
    for (int variant = 0; variant < 4; variant++) {
        int64_t n = 6;
        int heads = 5, head_dim = 64, rope_dim = variant == 2 ? 32 : 64;
        int64_t pos[6] = {0, 1, 17, 255, 4095, variant == 3 ? 131071 : 30000};
        pair_buf x = buf_random(n * heads * head_dim, 1.0f), ff = buf_random(rope_dim / 2, 0.5f);
        for (int i = 0; i < rope_dim / 2; i++) ff.h[i] = 1.0f + fabsf(ff.h[i]);
        cpu->ops->upload(cpu, ff.c, 0, ff.h, (size_t)rope_dim / 2 * 4);
        gpu->ops->upload(gpu, ff.g, 0, ff.h, (size_t)rope_dim / 2 * 4);
        float theta_scale = powf(10000.0f, -2.0f / (float)rope_dim), freq_scale = variant == 1 ? 0.25f : 1.0f;
        int neox = variant & 1;
        C->rope(ecpu, x.c, pos, n, heads, head_dim, rope_dim, neox, theta_scale, freq_scale, variant == 3 ? ff.c : NULL);
        G->rope(egpu, x.g, pos, n, heads, head_dim, rope_dim, neox, theta_scale, freq_scale, variant == 3 ? ff.g : NULL);
        char what[64];
        snprintf(what, sizeof what, "rope (variant %d)", variant);
        finish_both(what);
        compare(what, x.c, x.g, x.n, BOUND_TRIG);
        buf_free(&x), buf_free(&ff);
    }
}

/* ---- attention ----------------------------------------------------------------------------- */

typedef struct attn_case {
    int kv_type, n_head, n_head_kv, head_dim;
    int64_t window;
} attn_case;

typedef struct pair_kv {
    lli_kv_cache c, g;
    lli_kv_view vc, vg; /* what the backends see of c and g, as lli_decode builds it */
    const int32_t **blocks_c, **blocks_g;
    int64_t *n_blocks_c, *n_blocks_g;
} pair_kv;

static void kv_make(pair_kv *p, const attn_case *ac, int n_seqs, int64_t blocks_per_seq) {
    const int bs = 16, n_layer = 2;
    int64_t nb = n_seqs * blocks_per_seq + 3;
    lli_kv_cache *kvs[2] = {&p->c, &p->g};
    lli_backend *bes[2] = {cpu, gpu};
    int32_t *perm = xmalloc((size_t)nb * sizeof *perm);
    for (int64_t i = 0; i < nb; i++) perm[i] = (int32_t)i;
    for (int64_t i = nb - 1; i > 0; i--) { /* blocks scattered over the cache, as after churn */
        int64_t j = (int64_t)(urand() * (double)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int s = 0; s < 2; s++) {
        lli_kv_cache *kv = kvs[s];
        memset(kv, 0, sizeof *kv);
        kv->backend = bes[s];
        kv->type = ac->kv_type;
        kv->n_layer = n_layer;
        kv->n_head_kv = ac->n_head_kv;
        kv->head_dim = ac->head_dim;
        kv->block_size = bs;
        kv->n_blocks = nb;
        uint64_t rows = (uint64_t)nb * n_layer * ac->n_head_kv * bs;
        uint64_t bytes = rows * (uint64_t)ac->head_dim * (ac->kv_type == LLI_KV_TYPE_Q8 ? 1 : 2);
        /* zeroed storage: untouched rows read the same on both sides */
        void *zero = calloc(1, (size_t)bytes);
        kv->k = put(bes[s], zero, bytes);
        kv->v = put(bes[s], zero, bytes);
        if (ac->kv_type == LLI_KV_TYPE_Q8) {
            kv->k_scale = put(bes[s], zero, rows * 4);
            kv->v_scale = put(bes[s], zero, rows * 4);
        }
        free(zero);
        kv->n_seqs = n_seqs;
        kv->seqs = calloc((size_t)n_seqs, sizeof *kv->seqs);
        for (int q = 0; q < n_seqs; q++) {
            lli_kv_seq *sq = &kv->seqs[q];
            sq->active = 1;
            sq->n_blocks = sq->cap = blocks_per_seq;
            sq->blocks = xmalloc((size_t)blocks_per_seq * sizeof *sq->blocks);
            for (int64_t b = 0; b < blocks_per_seq; b++) sq->blocks[b] = perm[q * blocks_per_seq + b];
        }
    }
    free(perm);
    p->blocks_c = xmalloc((size_t)n_seqs * sizeof *p->blocks_c), p->blocks_g = xmalloc((size_t)n_seqs * sizeof *p->blocks_g);
    p->n_blocks_c = xmalloc((size_t)n_seqs * sizeof *p->n_blocks_c), p->n_blocks_g = xmalloc((size_t)n_seqs * sizeof *p->n_blocks_g);
    lli_kv_view_fill(&p->c, &p->vc, p->blocks_c, p->n_blocks_c);
    lli_kv_view_fill(&p->g, &p->vg, p->blocks_g, p->n_blocks_g);
}

static void kv_free(pair_kv *p) {
    free(p->blocks_c), free(p->blocks_g), free(p->n_blocks_c), free(p->n_blocks_g);
    lli_kv_cache *kvs[2] = {&p->c, &p->g};
    lli_backend *bes[2] = {cpu, gpu};
    for (int s = 0; s < 2; s++) {
        lli_kv_cache *kv = kvs[s];
        bes[s]->ops->free(bes[s], kv->k);
        bes[s]->ops->free(bes[s], kv->v);
        if (kv->k_scale) bes[s]->ops->free(bes[s], kv->k_scale), bes[s]->ops->free(bes[s], kv->v_scale);
        for (int q = 0; q < kv->n_seqs; q++) free(kv->seqs[q].blocks);
        free(kv->seqs);
    }
}

/* One attention call with the same entries on both backends. */
static void attn_step(pair_kv *kv, const attn_case *ac, int layer, const int32_t *seq, const int64_t *pos, int64_t n,
                      const char *what) {
    int64_t qd = (int64_t)ac->n_head * ac->head_dim, kd = (int64_t)ac->n_head_kv * ac->head_dim;
    pair_buf q = buf_random(n * qd, 1.0f), k = buf_random(n * kd, 1.0f), v = buf_random(n * kd, 1.0f), o = buf_poison(n * qd);
    float scale = 1.0f / sqrtf((float)ac->head_dim);
    int64_t max_pos = 1;
    for (int64_t t = 0; t < n; t++) max_pos = pos[t] + 1 > max_pos ? pos[t] + 1 : max_pos;
    void *scratch = malloc((size_t)cpu->ops->compute->attention_scratch(ecpu, n, max_pos, ac->head_dim));
    lli_attn_args ca = {q.c, k.c, v.c, o.c, n, seq, pos, &kv->vc, layer, ac->n_head, ac->n_head_kv, ac->head_dim, ac->window,
                        scale, scratch};
    lli_attn_args ga = {q.g, k.g, v.g, o.g, n, seq, pos, &kv->vg, layer, ac->n_head, ac->n_head_kv, ac->head_dim, ac->window,
                        scale, NULL};
    cpu->ops->compute->attention(ecpu, &ca);
    free(scratch);
    gpu->ops->compute->attention(egpu, &ga);
    finish_both(what);
    compare(what, o.c, o.g, n * qd, ac->kv_type == LLI_KV_TYPE_Q8 ? BOUND_ATTN_Q8 : BOUND_ATTN_F16);
    buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&o);
}

/* The stored rows: F16 bit for bit; 8-bit rows within one step of their scale. */
static void compare_cache(pair_kv *kv, const attn_case *ac, const char *what) {
    uint64_t rows = (uint64_t)kv->c.n_blocks * kv->c.n_layer * ac->n_head_kv * kv->c.block_size;
    int q8 = ac->kv_type == LLI_KV_TYPE_Q8;
    uint64_t bytes = rows * (uint64_t)ac->head_dim * (q8 ? 1 : 2);
    uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes);
    int64_t diff = 0;
    for (int part = 0; part < 2; part++) {
        get(cpu, a, part ? kv->c.v : kv->c.k, bytes);
        get(gpu, b, part ? kv->g.v : kv->g.k, bytes);
        if (!q8) diff += memcmp(a, b, bytes) != 0;
        else
            for (uint64_t i = 0; i < bytes; i++) diff += abs((int8_t)a[i] - (int8_t)b[i]) > 1;
    }
    CHECK(diff == 0, "%s: stored KV rows differ (%lld)", what, (long long)diff);
    free(a), free(b);
}

static void test_attention(void) {
    const attn_case cases[] = {
        {LLI_KV_TYPE_F16, 8, 2, 64, 0},   {LLI_KV_TYPE_F16, 4, 4, 128, 0}, {LLI_KV_TYPE_F16, 6, 3, 80, 0},
        {LLI_KV_TYPE_F16, 8, 2, 64, 50},  {LLI_KV_TYPE_Q8, 8, 2, 64, 0},   {LLI_KV_TYPE_Q8, 4, 1, 128, 37},
        {LLI_KV_TYPE_F16, 2, 1, 256, 0},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const attn_case *ac = &cases[ci];
        const int n_seqs = 5;
        pair_kv kv;
        kv_make(&kv, ac, n_seqs, 48); /* 768 positions per sequence */
        char what[128], tag[64];
        snprintf(tag, sizeof tag, "%s h%d/%d d%d w%lld", ac->kv_type == LLI_KV_TYPE_Q8 ? "q8" : "f16", ac->n_head,
                 ac->n_head_kv, ac->head_dim, (long long)ac->window);
        int64_t len[5] = {0};
        int32_t seq[700];
        int64_t pos[700];
        for (int layer = 0; layer < 2; layer++) {
            int64_t saved[5];
            memcpy(saved, len, sizeof len);
            /* prefill: 40 tokens of sequence 0 and 21 of sequence 1 in one step (tiled kernel) */
            int64_t n = 0;
            for (int i = 0; i < 40; i++) seq[n] = 0, pos[n++] = len[0]++;
            for (int i = 0; i < 21; i++) seq[n] = 1, pos[n++] = len[1]++;
            snprintf(what, sizeof what, "attention %s prefill L%d", tag, layer);
            attn_step(&kv, ac, layer, seq, pos, n, what);
            /* a long prompt in chunks of 350, then decode with split key ranges */
            for (int c = 0; c < 2; c++) {
                n = 0;
                for (int i = 0; i < 350; i++) seq[n] = 2, pos[n++] = len[2]++;
                snprintf(what, sizeof what, "attention %s chunk %d L%d", tag, c, layer);
                attn_step(&kv, ac, layer, seq, pos, n, what);
            }
            /* decode: every sequence one token (different lengths, sequence 3 and 4 new) */
            for (int step = 0; step < 3; step++) {
                n = 0;
                for (int s = 0; s < n_seqs; s++) seq[n] = s, pos[n++] = len[s]++;
                snprintf(what, sizeof what, "attention %s decode %d L%d", tag, step, layer);
                attn_step(&kv, ac, layer, seq, pos, n, what);
            }
            n = 0;
            seq[n] = 2, pos[n++] = len[2]++;
            snprintf(what, sizeof what, "attention %s long decode L%d", tag, layer);
            attn_step(&kv, ac, layer, seq, pos, n, what);
            /* a mixed step: a few tokens of one sequence beside single tokens of others */
            n = 0;
            for (int i = 0; i < 5; i++) seq[n] = 3, pos[n++] = len[3]++;
            seq[n] = 0, pos[n++] = len[0]++;
            seq[n] = 4, pos[n++] = len[4]++;
            snprintf(what, sizeof what, "attention %s mixed L%d", tag, layer);
            attn_step(&kv, ac, layer, seq, pos, n, what);
            if (layer == 0) memcpy(len, saved, sizeof len); /* layer 1 sees the same positions */
        }
        compare_cache(&kv, ac, tag);
        kv_free(&kv);
    }
}

/* ---- per-step caches ------------------------------------------------------------------------- */

/* The CUDA backend keeps, until finish(), the last product's converted input (q, k and v share one
 * quantization), the staged positions and the attention plan. Within one step: three products of
 * one input; an op that writes the input, and an upload over it, before the next product; positions
 * changed in place between two ropes. Every result must match the CPU's, compared after one finish. */
static void test_caches(void) {
    const lli_compute_ops *C = cpu->ops->compute, *G = gpu->ops->compute;
    const int64_t in = 512, rows = 131, ns[2] = {1, 16};
    for (int k = 0; k < 2; k++) {
        const int64_t n = ns[k];
        pair_tensor w[3];
        for (int i = 0; i < 3; i++) w[i] = make_tensor(i == 2 ? LLI_TT_Q6_K : LLI_TT_Q4_K, in, rows, 500 + (uint64_t)i);
        pair_buf x = buf_random(n * in, 1.0f), y = buf_random(n * in, 1.0f), z = buf_random(n * in, 1.0f);
        pair_buf o[6];
        for (int i = 0; i < 6; i++) o[i] = buf_poison(n * rows);
        void *scratch = NULL;
        cpu->ops->alloc(cpu, (uint64_t)(n * (in / 32 + 1)) * 40, &scratch);
        for (int side = 0; side < 2; side++) {
            const lli_compute_ops *O = side ? G : C;
            void *e = side ? egpu : ecpu;
            lli_backend *be = side ? gpu : cpu;
            float *xs = side ? x.g : x.c;
            for (int i = 0; i < 3; i++) O->matmul(e, side ? &w[i].g : &w[i].c, xs, side ? o[i].g : o[i].c, n, scratch);
            O->add(e, xs, side ? y.g : y.c, n * in); /* an op writes the input */
            O->matmul(e, side ? &w[0].g : &w[0].c, xs, side ? o[3].g : o[3].c, n, scratch);
            /* an upload over the input: the CPU side finishes first (its ops may still read x); the
             * CUDA side must not (finish() would drop the caches under test): its upload is a
             * synchronous copy on the legacy stream, ordered after the context's blocking stream */
            if (!side) CHECK(C->finish(ecpu) == LLI_OK, "cpu finish: %s", lli_last_error());
            be->ops->upload(be, xs, 0, z.h, (size_t)(n * in) * 4);
            O->matmul(e, side ? &w[1].g : &w[1].c, xs, side ? o[4].g : o[4].c, n, scratch);
            O->matmul(e, side ? &w[2].g : &w[2].c, xs, side ? o[5].g : o[5].c, n, scratch);
        }
        char what[96];
        snprintf(what, sizeof what, "cached activations n=%lld", (long long)n);
        finish_both(what);
        const char *names[6] = {"q", "k", "v", "after an op wrote the input", "after an upload", "again after the upload"};
        for (int i = 0; i < 6; i++) {
            snprintf(what, sizeof what, "cached activations n=%lld: %s", (long long)n, names[i]);
            compare(what, o[i].c, o[i].g, n * rows, n < 9 ? BOUND_MATVEC : BOUND_GEMM_Q8);
        }
        cpu->ops->free(cpu, scratch);
        for (int i = 0; i < 6; i++) buf_free(&o[i]);
        buf_free(&x), buf_free(&y), buf_free(&z);
        for (int i = 0; i < 3; i++) free_tensor(&w[i]);
    }
    /* positions changed in place between two ropes of one step */
    {
        int64_t n = 5;
        int heads = 4, head_dim = 64;
        int64_t pos[5] = {0, 3, 9, 100, 2000};
        pair_buf a = buf_random(n * heads * head_dim, 1.0f), b = buf_random(n * heads * head_dim, 1.0f);
        float theta = powf(10000.0f, -2.0f / 64.0f);
        C->rope(ecpu, a.c, pos, n, heads, head_dim, 64, 0, theta, 1.0f, NULL);
        G->rope(egpu, a.g, pos, n, heads, head_dim, 64, 0, theta, 1.0f, NULL);
        for (int i = 0; i < n; i++) pos[i] += 7;
        C->rope(ecpu, b.c, pos, n, heads, head_dim, 64, 0, theta, 1.0f, NULL);
        G->rope(egpu, b.g, pos, n, heads, head_dim, 64, 0, theta, 1.0f, NULL);
        finish_both("rope with positions changed in place");
        compare("rope, first positions", a.c, a.g, a.n, BOUND_TRIG);
        compare("rope, positions changed in place", b.c, b.g, b.n, BOUND_TRIG);
        buf_free(&a), buf_free(&b);
    }
}

/* ---- sampling ------------------------------------------------------------------------------ */

/* The backend's sample op, its message (if any) copied into err. */
static lli_status sample_gpu(const float *d, int64_t rows, int64_t vocab, float temp, int top_k, float top_p, const float *u,
                             int32_t *tok, char *err, size_t cap) {
    lli_status st = gpu->ops->compute->sample(egpu, d, rows, vocab, temp, top_k, top_p, u, tok);
    snprintf(err, cap, "%s", st == LLI_OK ? "" : lli_last_error());
    return st;
}

static void test_sampling(void) {
    CHECK(gpu->ops->compute->sample != NULL && cpu->ops->compute->sample == NULL,
          "sampling on the device through the CUDA backend's table (the CPU samples on the host)");
    if (!gpu->ops->compute->sample) return;
    const int64_t rows = 6, vocab = 49152;
    float *h = xmalloc((size_t)(rows * vocab) * 4);
    fill(h, rows * vocab, 3.0f);
    h[1 * vocab + 777] = 40.0f; /* a clear maximum, and a tie that the lower index wins */
    h[2 * vocab + 10] = h[2 * vocab + 20] = 50.0f;
    float *d = put(gpu, h, (size_t)(rows * vocab) * 4);
    float u[6];
    int32_t tok[6];
    char err[256];
    for (int r = 0; r < rows; r++) u[r] = (float)urand();
    lli_status st = sample_gpu(d, rows, vocab, 0.0f, 0, 1.0f, u, tok, err, sizeof err);
    CHECK(st == LLI_OK, "greedy sampling: %s", err);
    for (int r = 0; st == LLI_OK && r < rows; r++) {
        int64_t best = 0;
        for (int64_t i = 1; i < vocab; i++)
            if (h[r * vocab + i] > h[r * vocab + best]) best = i;
        CHECK(tok[r] == best, "greedy row %d: %d, want %lld", r, tok[r], (long long)best);
    }
    /* temperature, top-k and top-p (top_p 0 too), on rows with NaN and infinities sprinkled in: the
     * token must be one the double-precision reference accepts for the draw (sample_ref.h) */
    h[3 * vocab + 5] = NAN, h[3 * vocab + 900] = -INFINITY, h[4 * vocab + 44] = NAN, h[5 * vocab + 30000] = INFINITY;
    gpu->ops->upload(gpu, d, 0, h, (size_t)(rows * vocab) * 4);
    const struct { float temp; int k; float p; } cfg[] = {{0.8f, 40, 1.0f}, {1.0f, 0, 0.9f}, {0.7f, 50, 0.8f},
                                                          {1.5f, 0, 1.0f}, {1.0f, 0, 0.0f}, {0.0f, 0, 1.0f}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        for (int r = 0; r < rows; r++) u[r] = (float)urand();
        st = sample_gpu(d, rows, vocab, cfg[c].temp, cfg[c].k, cfg[c].p, u, tok, err, sizeof err);
        CHECK(st == LLI_OK, "sampling config %zu: %s", c, err);
        for (int r = 0; st == LLI_OK && r < rows; r++) {
            char why[256];
            CHECK(sample_ref_check(h + r * vocab, vocab, cfg[c].temp, cfg[c].k, cfg[c].p, u[r], tok[r], why, sizeof why),
                  "sampling config %zu row %d: %s", c, r, why);
        }
    }
    /* refused: a NaN temperature, a draw outside [0, 1], a row with no number */
    u[0] = 0.5f;
    CHECK(sample_gpu(d, 1, vocab, NAN, 0, 1.0f, u, tok, err, sizeof err) == LLI_E_INVALID_ARG, "NaN temperature refused");
    u[0] = 1.5f;
    CHECK(sample_gpu(d, 1, vocab, 1.0f, 0, 1.0f, u, tok, err, sizeof err) == LLI_E_INVALID_ARG, "draw 1.5 refused");
    for (int64_t i = 0; i < vocab; i++) h[i] = NAN;
    gpu->ops->upload(gpu, d, 0, h, (size_t)vocab * 4);
    u[0] = 0.5f;
    CHECK(sample_gpu(d, 1, vocab, 1.0f, 0, 1.0f, u, tok, err, sizeof err) == LLI_E_INVALID_ARG && strstr(err, "number"),
          "a row of NaN refused: %s", err);
    printf("%-44s done\n", "sampling (greedy, top-k, top-p)");
    gpu->ops->free(gpu, d);
    free(h);
}

/* ---- failures are reported, not lost ------------------------------------------------------- */

static void test_errors(void) {
    /* a position beyond the sequence's blocks: the op records it, finish() returns it */
    attn_case ac = {LLI_KV_TYPE_F16, 2, 1, 64, 0};
    pair_kv kv;
    kv_make(&kv, &ac, 1, 1);
    int32_t seq[1] = {0};
    int64_t pos[1] = {16};
    float *q = poisoned(gpu, 128), *k = poisoned(gpu, 64), *v = poisoned(gpu, 64), *o = poisoned(gpu, 128);
    lli_attn_args a = {q, k, v, o, 1, seq, pos, &kv.vg, 0, 2, 1, 64, 0, 0.125f, NULL};
    gpu->ops->compute->attention(egpu, &a);
    lli_status st = gpu->ops->compute->finish(egpu);
    CHECK(st != LLI_OK && strstr(lli_last_error(), "outside"), "bad position: %d (%s)", st, lli_last_error());
    CHECK(gpu->ops->compute->finish(egpu) == LLI_OK, "a reported failure is not reported twice");
    void *big = NULL;
    st = gpu->ops->alloc(gpu, 1ull << 50, &big);
    CHECK(st == LLI_E_NOMEM && strstr(lli_last_error(), "cudaMalloc"), "huge alloc: %d (%s)", st, lli_last_error());
    gpu->ops->free(gpu, q), gpu->ops->free(gpu, k), gpu->ops->free(gpu, v), gpu->ops->free(gpu, o);
    kv_free(&kv);
}

int main(void) {
    if (lli_backend_open(LLI_BACKEND_CUDA, &gpu) != LLI_OK) return gpu_skip("test_gpu_ops", lli_last_error());
    if (lli_backend_open(LLI_BACKEND_CPU, &cpu) != LLI_OK) {
        fprintf(stderr, "CPU backend: %s\n", lli_last_error());
        return 1;
    }
    ecpu = cpu->ops->exec_create(cpu, 2);
    egpu = gpu->ops->exec_create(gpu, 1);
    if (!ecpu || !egpu) {
        fprintf(stderr, "exec_create failed: %s\n", lli_last_error());
        return 1;
    }
    test_embed();
    test_matmul();
    test_elementwise();
    test_attention();
    test_caches();
    test_sampling();
    test_errors();
    cpu->ops->exec_free(cpu, ecpu);
    gpu->ops->exec_free(gpu, egpu);
    lli_backend_close(cpu);
    lli_backend_close(gpu);
    return check_summary();
}
