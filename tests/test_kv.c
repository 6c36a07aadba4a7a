/* The KV cache's host-facing operations on the real default model: prefix reuse (hits, misses,
 * a rewritten block never reused), LRU eviction, the 8-bit storage type, save and restore (files,
 * buffers, background loads; damage, truncation, foreign models and a full cache refused with
 * nothing changed), and the context's counters.
 * usage: test_kv MODEL.gguf OTHER_MODEL.gguf SCRATCH_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static lli_model *g_model;
static int64_t g_vocab;
static const char *g_scratch;

typedef struct engine {
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_batch *batch;
    float *last; /* logits of the last entry that asked */
} engine;

static engine engine_new(const lli_model *m, int64_t capacity, int type, int prefix) {
    engine e = {0};
    lli_kv_cache_params *kp;
    lli_context_params *cp;
    lli_kv_cache_params_create(&kp);
    lli_kv_cache_params_set_capacity(kp, capacity);
    lli_kv_cache_params_set_block_size(kp, 16);
    CHECK(lli_kv_cache_params_set_type(kp, type) == LLI_OK, "type: %s", lli_last_error());
    CHECK(lli_kv_cache_params_set_prefix_cache(kp, prefix) == LLI_OK, "prefix: %s", lli_last_error());
    CHECK(lli_kv_cache_create(m, kp, &e.kv) == LLI_OK, "kv: %s", lli_last_error());
    lli_context_params_create(&cp);
    lli_context_params_set_max_batch(cp, 128);
    lli_context_params_set_threads(cp, 2);
    CHECK(lli_context_create(m, e.kv, cp, &e.ctx) == LLI_OK, "context: %s", lli_last_error());
    lli_batch_create(128, &e.batch);
    e.last = malloc((size_t)g_vocab * sizeof *e.last);
    lli_kv_cache_params_free(kp);
    lli_context_params_free(cp);
    return e;
}

static void engine_free(engine *e) {
    lli_batch_free(e->batch);
    lli_context_free(e->ctx);
    lli_kv_cache_free(e->kv);
    free(e->last);
}

/* Decode ids[from, n) into seq in one step; the last entry's logits go to e->last. */
static lli_status feed(engine *e, lli_seq_id seq, const lli_token *ids, int from, int n) {
    lli_batch_clear(e->batch);
    for (int j = from; j < n; j++) lli_batch_add(e->batch, ids[j], seq, j, j == n - 1);
    lli_status st = lli_decode(e->ctx, e->batch);
    const float *l;
    if (st == LLI_OK && (st = lli_get_logits(e->ctx, n - from - 1, &l)) == LLI_OK)
        memcpy(e->last, l, (size_t)g_vocab * sizeof *l);
    return st;
}

static int64_t kvstat(const engine *e, int key) {
    int64_t v = -1;
    CHECK(lli_kv_stat(e->kv, key, &v) == LLI_OK, "stat %d: %s", key, lli_last_error());
    return v;
}

static float max_diff(const float *a, const float *b) {
    float d = 0;
    for (int64_t i = 0; i < g_vocab; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static lli_token argmax(const float *l) {
    lli_token best = 0;
    for (int64_t i = 1; i < g_vocab; i++)
        if (l[i] > l[best]) best = (lli_token)i;
    return best;
}

static lli_token g_prompt[256];
static int g_np;

static void make_prompt(void) {
    const char *text = "The library keeps a cache of keys and values for every sequence it serves. Blocks of "
                       "sixteen tokens are shared between sequences that start alike, and a block that nobody "
                       "holds stays in memory until the space is needed again. When a new request arrives, the host asks "
                       "which of its blocks are already there, and computes only the rest of its prompt.";
    size_t n = 0;
    CHECK(lli_tokenize(g_model, text, strlen(text), 0, 0, g_prompt, 256, &n) == LLI_OK, "tokenize: %s", lli_last_error());
    g_np = (int)n;
    CHECK(g_np >= 50, "prompt of %d tokens is too short for these tests", g_np);
}

static void test_prefix(void) {
    engine e = engine_new(g_model, 512, LLI_KV_TYPE_F16, 1);
    int n = 50; /* three full blocks and two tokens */
    float *ref = malloc((size_t)g_vocab * sizeof *ref);
    lli_seq_id a, b, c;
    lli_kv_seq_create(e.kv, &a);
    CHECK(feed(&e, a, g_prompt, 0, n) == LLI_OK, "prefill: %s", lli_last_error());
    memcpy(ref, e.last, (size_t)g_vocab * sizeof *ref);
    int64_t total = kvstat(&e, LLI_KV_STAT_BLOCKS_TOTAL);
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_USED) == 4, "used %lld", (long long)kvstat(&e, LLI_KV_STAT_BLOCKS_USED));
    lli_kv_seq_free(e.kv, a);
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_CACHED) == 3, "a freed prompt keeps its 3 full blocks cached, not %lld",
          (long long)kvstat(&e, LLI_KV_STAT_BLOCKS_CACHED));
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_EMPTY) == total - 3, "empty %lld", (long long)kvstat(&e, LLI_KV_STAT_BLOCKS_EMPTY));
    int64_t fb = -1;
    lli_kv_free_blocks(e.kv, &fb);
    CHECK(fb == total, "free blocks count cached ones as available: %lld of %lld", (long long)fb, (long long)total);

    /* The same prompt again: 48 tokens come from the cache and the logits are the same. */
    int64_t reused = -1;
    CHECK(lli_kv_seq_create_with_prefix(e.kv, g_prompt, n, &b, &reused) == LLI_OK, "prefix: %s", lli_last_error());
    CHECK(reused == 48, "reused %lld tokens, wanted 48", (long long)reused);
    CHECK(kvstat(&e, LLI_KV_STAT_PREFIX_HITS) == 3 && kvstat(&e, LLI_KV_STAT_PREFIX_MISSES) == 0, "hits %lld misses %lld",
          (long long)kvstat(&e, LLI_KV_STAT_PREFIX_HITS), (long long)kvstat(&e, LLI_KV_STAT_PREFIX_MISSES));
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_CACHED) == 0, "reused blocks leave the cached list");
    CHECK(feed(&e, b, g_prompt, (int)reused, n) == LLI_OK, "rest of prompt: %s", lli_last_error());
    CHECK(max_diff(ref, e.last) < 1e-3f, "logits after a prefix hit differ by %g", (double)max_diff(ref, e.last));

    /* A prompt that shares only its first block, while b still holds all three. */
    lli_token other[64];
    memcpy(other, g_prompt, sizeof other);
    other[20] = other[20] == 1 ? 2 : 1;
    CHECK(lli_kv_seq_create_with_prefix(e.kv, other, 40, &c, &reused) == LLI_OK && reused == 16,
          "a prompt differing at token 20 reuses 16 tokens, not %lld", (long long)reused);
    CHECK(kvstat(&e, LLI_KV_STAT_PREFIX_HITS) == 4 && kvstat(&e, LLI_KV_STAT_PREFIX_MISSES) == 1, "hits %lld misses %lld",
          (long long)kvstat(&e, LLI_KV_STAT_PREFIX_HITS), (long long)kvstat(&e, LLI_KV_STAT_PREFIX_MISSES));
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_SHARED) == 1, "one block shared by b and c, not %lld",
          (long long)kvstat(&e, LLI_KV_STAT_BLOCKS_SHARED));
    /* Its logits equal a computation from scratch. */
    CHECK(feed(&e, c, other, (int)reused, 40) == LLI_OK, "other prompt: %s", lli_last_error());
    memcpy(ref, e.last, (size_t)g_vocab * sizeof *ref);
    engine fresh = engine_new(g_model, 512, LLI_KV_TYPE_F16, 0);
    lli_seq_id f;
    lli_kv_seq_create(fresh.kv, &f);
    feed(&fresh, f, other, 0, 40);
    CHECK(max_diff(ref, fresh.last) < 1e-3f, "shared-prefix logits differ from scratch by %g",
          (double)max_diff(ref, fresh.last));
    /* Without the prefix cache nothing is kept or found. */
    lli_kv_seq_free(fresh.kv, f);
    CHECK(kvstat(&fresh, LLI_KV_STAT_BLOCKS_CACHED) == 0, "prefix cache off keeps no blocks");
    CHECK(lli_kv_seq_create_with_prefix(fresh.kv, other, 40, &f, &reused) == LLI_OK && reused == 0, "reused %lld",
          (long long)reused);
    engine_free(&fresh);

    CHECK_FAILS(lli_kv_seq_create_with_prefix(e.kv, NULL, 5, &c, &reused), LLI_E_INVALID_ARG, "NULL");
    CHECK(lli_kv_seq_create_with_prefix(e.kv, g_prompt, 0, &c, &reused) == LLI_OK && reused == 0, "empty prompt");
    CHECK(lli_kv_seq_create_with_prefix(e.kv, g_prompt, 16, &c, &reused) == LLI_OK && reused == 0,
          "a one-block prompt leaves its last token to compute: reused %lld", (long long)reused);
    CHECK_FAILS(lli_kv_stat(e.kv, 999, &fb), LLI_E_INVALID_ARG, "999");
    free(ref);
    engine_free(&e);
}

/* A block rewritten after a truncation must not be found under its old tokens. */
static void test_rewrite(void) {
    engine e = engine_new(g_model, 512, LLI_KV_TYPE_F16, 1);
    lli_seq_id s, t;
    lli_kv_seq_create(e.kv, &s);
    feed(&e, s, g_prompt, 0, 48);
    CHECK(lli_kv_seq_truncate(e.kv, s, 40) == LLI_OK, "truncate: %s", lli_last_error());
    lli_token changed[48];
    memcpy(changed, g_prompt, sizeof changed);
    for (int i = 40; i < 48; i++) changed[i] = g_prompt[i] + 1;
    CHECK(feed(&e, s, changed, 40, 48) == LLI_OK, "rewrite: %s", lli_last_error());
    lli_kv_seq_free(e.kv, s);
    int64_t reused = -1;
    lli_kv_seq_create_with_prefix(e.kv, g_prompt, 49, &t, &reused);
    CHECK(reused == 32, "after a rewrite of block 3, the old prompt reuses 32 tokens, not %lld", (long long)reused);
    lli_kv_seq_free(e.kv, t);
    lli_kv_seq_create_with_prefix(e.kv, changed, 48, &t, &reused);
    CHECK(reused == 32, "the rewritten prompt (48 tokens) reuses 32, not %lld", (long long)reused);
    engine_free(&e);
}

/* Least recently freed blocks go first. */
static void test_eviction(void) {
    engine e = engine_new(g_model, 5 * 16, LLI_KV_TYPE_F16, 1);
    lli_token p2[64];
    for (int i = 0; i < 64; i++) p2[i] = g_prompt[(i * 7) % g_np] + 3;
    lli_seq_id a, b, c;
    lli_kv_seq_create(e.kv, &a);
    feed(&e, a, g_prompt, 0, 17); /* one full block */
    lli_kv_seq_free(e.kv, a);
    lli_kv_seq_create(e.kv, &b);
    feed(&e, b, p2, 0, 17);
    lli_kv_seq_free(e.kv, b);
    CHECK(kvstat(&e, LLI_KV_STAT_BLOCKS_CACHED) == 2, "two cached blocks, not %lld", (long long)kvstat(&e, LLI_KV_STAT_BLOCKS_CACHED));
    /* Four blocks: three empty ones and the oldest cached. */
    lli_kv_seq_create(e.kv, &c);
    lli_token p3[64];
    for (int i = 0; i < 64; i++) p3[i] = g_prompt[(i * 5) % g_np] + 11;
    CHECK(feed(&e, c, p3, 0, 64) == LLI_OK, "fill: %s", lli_last_error());
    CHECK(kvstat(&e, LLI_KV_STAT_EVICTIONS) == 1, "one eviction, not %lld", (long long)kvstat(&e, LLI_KV_STAT_EVICTIONS));
    lli_kv_seq_free(e.kv, c);
    int64_t reused;
    lli_kv_seq_create_with_prefix(e.kv, p2, 17, &b, &reused);
    CHECK(reused == 16, "the most recently freed block survives: reused %lld", (long long)reused);
    lli_kv_seq_create_with_prefix(e.kv, g_prompt, 17, &a, &reused);
    CHECK(reused == 0, "the least recently freed block was evicted: reused %lld", (long long)reused);
    engine_free(&e);
}

static void test_q8(void) {
    engine f = engine_new(g_model, 256, LLI_KV_TYPE_F16, 1), q = engine_new(g_model, 256, LLI_KV_TYPE_Q8, 1);
    lli_seq_id a, b;
    lli_kv_seq_create(f.kv, &a);
    lli_kv_seq_create(q.kv, &b);
    feed(&f, a, g_prompt, 0, g_np);
    CHECK(feed(&q, b, g_prompt, 0, g_np) == LLI_OK, "q8 prefill: %s", lli_last_error());
    float d = max_diff(f.last, q.last);
    CHECK(d > 0 && d < 2.0f, "8-bit KV logits differ from F16 by %g (expected small but not zero)", (double)d);
    CHECK(argmax(f.last) == argmax(q.last), "8-bit KV changes the top token");
    CHECK(kvstat(&q, LLI_KV_STAT_TYPE) == LLI_KV_TYPE_Q8, "type stat");
    double ratio = (double)kvstat(&q, LLI_KV_STAT_BYTES) / (double)kvstat(&f, LLI_KV_STAT_BYTES);
    CHECK(ratio < 0.6, "8-bit storage takes %.2f of F16's bytes", ratio);
    lli_kv_cache_params *kp;
    lli_kv_cache_params_create(&kp);
    CHECK_FAILS(lli_kv_cache_params_set_type(kp, 7), LLI_E_INVALID_ARG, "7");
    CHECK_FAILS(lli_kv_cache_params_set_prefix_cache(kp, 2), LLI_E_INVALID_ARG, "2");
    lli_kv_cache_params_free(kp);
    engine_free(&f);
    engine_free(&q);
}

static int64_t n_seqs(const engine *e) { return kvstat(e, LLI_KV_STAT_SEQUENCES); }

/* A restore that must fail leaves the cache as it was. */
#define CHECK_RESTORE_REFUSED(e, call, want, word)                                                         \
    do {                                                                                                   \
        int64_t seqs_ = n_seqs(e), free_;                                                                  \
        lli_kv_free_blocks((e)->kv, &free_);                                                               \
        lli_seq_id r_;                                                                                     \
        (void)r_;                                                                                          \
        CHECK_FAILS(call, want, word);                                                                     \
        int64_t free2_;                                                                                    \
        lli_kv_free_blocks((e)->kv, &free2_);                                                              \
        CHECK(n_seqs(e) == seqs_ && free2_ == free_, "a refused restore changed the cache");               \
    } while (0)

static void test_persist(const char *other_gguf) {
    int n = 60;
    engine e1 = engine_new(g_model, 256, LLI_KV_TYPE_F16, 1), e2 = engine_new(g_model, 256, LLI_KV_TYPE_F16, 1);
    lli_seq_id a, r;
    lli_kv_seq_create(e1.kv, &a);
    feed(&e1, a, g_prompt, 0, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/seq.kv", g_scratch);
    CHECK(lli_kv_seq_save(e1.kv, a, path) == LLI_OK, "save: %s", lli_last_error());
    lli_token next[1] = {argmax(e1.last)};
    lli_token seq_next[61];
    memcpy(seq_next, g_prompt, (size_t)n * sizeof *seq_next);
    seq_next[n] = next[0];
    feed(&e1, a, seq_next, n, n + 1);
    float *ref = malloc((size_t)g_vocab * sizeof *ref);
    memcpy(ref, e1.last, (size_t)g_vocab * sizeof *ref);

    /* From the file, in another cache: the next step gives the same logits. */
    CHECK(lli_kv_seq_restore(e2.kv, path, &r) == LLI_OK, "restore: %s", lli_last_error());
    int64_t len = -1;
    lli_kv_seq_length(e2.kv, r, &len);
    CHECK(len == n, "restored length %lld", (long long)len);
    CHECK(feed(&e2, r, seq_next, n, n + 1) == LLI_OK, "decode after restore: %s", lli_last_error());
    CHECK(max_diff(ref, e2.last) == 0, "logits after a restore differ by %g", (double)max_diff(ref, e2.last));
    /* The restored tokens are indexed for prefix reuse. */
    int64_t reused;
    lli_seq_id p;
    lli_kv_seq_create_with_prefix(e2.kv, g_prompt, n, &p, &reused);
    CHECK(reused == 48, "a restored sequence's blocks serve prefixes: reused %lld", (long long)reused);
    lli_kv_seq_free(e2.kv, p);

    /* Through memory. */
    size_t size = 0;
    CHECK_FAILS(lli_kv_seq_save_buffer(e1.kv, a, NULL, 0, &size), LLI_E_BUFFER_TOO_SMALL, "bytes");
    CHECK(size > 128, "size %zu", size);
    unsigned char *buf = malloc(size), *bad = malloc(size);
    CHECK(lli_kv_seq_save_buffer(e1.kv, a, buf, size, &size) == LLI_OK, "save buffer: %s", lli_last_error());
    CHECK(lli_kv_seq_restore_buffer(e2.kv, buf, size, &r) == LLI_OK, "restore buffer: %s", lli_last_error());
    lli_kv_seq_length(e2.kv, r, &len);
    CHECK(len == n + 1, "restored buffer length %lld", (long long)len);

    /* Background load. */
    lli_kv_state *st = NULL;
    CHECK(lli_kv_state_load(path, 1, &st) == LLI_OK, "background load: %s", lli_last_error());
    CHECK(lli_kv_state_length(st, &len) == LLI_OK && len == n, "state length %lld", (long long)len);
    CHECK(lli_kv_seq_restore_state(e2.kv, st, &r) == LLI_OK, "restore state: %s", lli_last_error());
    CHECK(lli_kv_seq_restore_state(e2.kv, st, &r) == LLI_OK, "a state restores twice: %s", lli_last_error());
    lli_kv_state_free(st);

    /* Damage anywhere is refused and nothing is restored. */
    long long offsets[] = {0, 9, 13, 20, 50, 60, 66, 75, 85, 95, 100, 127, 128, 140, (long long)size / 2, (long long)size - 1};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        memcpy(bad, buf, size);
        bad[offsets[i]] ^= 0x20;
        int64_t seqs = n_seqs(&e2), fb, fb2;
        lli_kv_free_blocks(e2.kv, &fb);
        lli_status s2 = lli_kv_seq_restore_buffer(e2.kv, bad, size, &r);
        lli_kv_free_blocks(e2.kv, &fb2);
        CHECK(s2 == LLI_E_FORMAT || s2 == LLI_E_CHECKSUM, "byte %lld flipped: status %d (%s)", offsets[i], s2,
              lli_last_error());
        CHECK(n_seqs(&e2) == seqs && fb == fb2, "byte %lld flipped: the cache changed", offsets[i]);
    }
    CHECK_RESTORE_REFUSED(&e2, lli_kv_seq_restore_buffer(e2.kv, buf, size - 1, &r_), LLI_E_FORMAT, "truncated");
    CHECK_RESTORE_REFUSED(&e2, lli_kv_seq_restore_buffer(e2.kv, buf, 100, &r_), LLI_E_FORMAT, "header");
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s/damaged.kv", g_scratch);
    test_copy_file(path, dpath);
    test_flip_byte(dpath, test_file_size(dpath) - 3);
    CHECK_RESTORE_REFUSED(&e2, lli_kv_seq_restore(e2.kv, dpath, &r_), LLI_E_CHECKSUM, "damaged.kv");
    CHECK(lli_kv_state_load(dpath, 1, &st) == LLI_OK, "a background load starts: %s", lli_last_error());
    CHECK_FAILS(lli_kv_state_wait(st), LLI_E_CHECKSUM, "damaged.kv");
    CHECK_RESTORE_REFUSED(&e2, lli_kv_seq_restore_state(e2.kv, st, &r_), LLI_E_CHECKSUM, "damaged");
    lli_kv_state_free(st);
    snprintf(dpath, sizeof dpath, "%s/missing.kv", g_scratch);
    CHECK_RESTORE_REFUSED(&e2, lli_kv_seq_restore(e2.kv, dpath, &r_), LLI_E_IO, "missing.kv");

    /* Another storage type, another model, no room. */
    engine q = engine_new(g_model, 256, LLI_KV_TYPE_Q8, 1);
    CHECK_RESTORE_REFUSED(&q, lli_kv_seq_restore(q.kv, path, &r_), LLI_E_MISMATCH, "F16");
    engine_free(&q);
    engine small = engine_new(g_model, 32, LLI_KV_TYPE_F16, 1);
    CHECK_RESTORE_REFUSED(&small, lli_kv_seq_restore(small.kv, path, &r_), LLI_E_KV_FULL, "blocks");
    engine_free(&small);
    char other_dir[4096];
    snprintf(other_dir, sizeof other_dir, "%s/other-model", g_scratch);
    lli_model *om = NULL;
    CHECK(lli_convert_gguf(other_gguf, other_dir, NULL) == LLI_OK && lli_model_load(other_dir, NULL, &om) == LLI_OK,
          "other model: %s", lli_last_error());
    if (om) {
        lli_kv_cache *okv;
        lli_kv_cache_create(om, NULL, &okv);
        lli_seq_id x;
        int64_t before;
        lli_kv_stat(okv, LLI_KV_STAT_SEQUENCES, &before);
        CHECK_FAILS(lli_kv_seq_restore(okv, path, &x), LLI_E_MISMATCH, "model");
        int64_t after;
        lli_kv_stat(okv, LLI_KV_STAT_SEQUENCES, &after);
        CHECK(after == before, "a foreign state added a sequence");
        lli_kv_cache_free(okv);
        lli_model_free(om);
    }
    free(buf), free(bad), free(ref);
    engine_free(&e1);
    engine_free(&e2);
}

static void test_context_stats(void) {
    engine e = engine_new(g_model, 256, LLI_KV_TYPE_F16, 1);
    lli_seq_id a, b;
    lli_kv_seq_create(e.kv, &a);
    lli_kv_seq_create(e.kv, &b);
    feed(&e, a, g_prompt, 0, 30);
    /* one step: a decodes one token while b prefills ten */
    lli_batch_clear(e.batch);
    lli_batch_add(e.batch, g_prompt[30], a, 30, 1);
    for (int i = 0; i < 10; i++) lli_batch_add(e.batch, g_prompt[i], b, i, i == 9);
    CHECK(lli_decode(e.ctx, e.batch) == LLI_OK, "mixed step: %s", lli_last_error());
    int64_t v[8];
    for (int k = 0; k < 8; k++) CHECK(lli_context_stat(e.ctx, k, &v[k]) == LLI_OK, "stat %d", k);
    CHECK(v[LLI_CTX_STAT_STEPS] == 2, "steps %lld", (long long)v[0]);
    CHECK(v[LLI_CTX_STAT_PREFILL_TOKENS] == 40 && v[LLI_CTX_STAT_DECODE_TOKENS] == 1, "prefill %lld decode %lld",
          (long long)v[1], (long long)v[2]);
    CHECK(v[LLI_CTX_STAT_TIME_NS] > 0 && v[LLI_CTX_STAT_PREFILL_NS] + v[LLI_CTX_STAT_DECODE_NS] == v[LLI_CTX_STAT_TIME_NS],
          "phase times %lld + %lld != %lld", (long long)v[4], (long long)v[5], (long long)v[3]);
    CHECK(v[LLI_CTX_STAT_MATMUL_NS] > 0 && v[LLI_CTX_STAT_ATTENTION_NS] > 0 &&
              v[LLI_CTX_STAT_MATMUL_NS] + v[LLI_CTX_STAT_ATTENTION_NS] <= v[LLI_CTX_STAT_TIME_NS],
          "matmul %lld attention %lld total %lld", (long long)v[6], (long long)v[7], (long long)v[3]);
    CHECK(lli_context_stats_reset(e.ctx) == LLI_OK, "reset");
    lli_context_stat(e.ctx, LLI_CTX_STAT_STEPS, &v[0]);
    CHECK(v[0] == 0, "steps after reset %lld", (long long)v[0]);
    CHECK_FAILS(lli_context_stat(e.ctx, 99, &v[0]), LLI_E_INVALID_ARG, "99");
    CHECK_FAILS(lli_context_stat(NULL, 0, &v[0]), LLI_E_INVALID_ARG, "NULL");
    int64_t blocks = -1;
    CHECK(lli_kv_seq_blocks(e.kv, a, &blocks) == LLI_OK && blocks == 2, "sequence a holds %lld blocks", (long long)blocks);
    CHECK_FAILS(lli_kv_seq_blocks(e.kv, 77, &blocks), LLI_E_INVALID_ARG, "77");
    lli_seq_id z, z2;
    lli_kv_seq_create(e.kv, &z);
    CHECK(lli_kv_seq_fork(e.kv, z, &z2) == LLI_OK, "fork of an empty sequence: %s", lli_last_error());
    size_t size;
    CHECK_FAILS(lli_kv_seq_save_buffer(e.kv, z, NULL, 0, &size), LLI_E_BUFFER_TOO_SMALL, "bytes");
    unsigned char empty[256];
    CHECK(lli_kv_seq_save_buffer(e.kv, z, empty, sizeof empty, &size) == LLI_OK &&
              lli_kv_seq_restore_buffer(e.kv, empty, size, &z2) == LLI_OK,
          "an empty sequence saves and restores: %s", lli_last_error());
    engine_free(&e);
}

int main(int argc, char **argv) {
    if (argc > 1) test_require_file(argv[1], "bash scripts/fetch-model.sh downloads it");
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf OTHER_MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char dir[4096], scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/kv-scratch", argv[3]);
    test_rm_rf(scratch);
    CHECK(mkdir(scratch, 0755) == 0, "mkdir %s", scratch);
    g_scratch = scratch;
    snprintf(dir, sizeof dir, "%s/model", scratch);
    CHECK(lli_convert_gguf(argv[1], dir, NULL) == LLI_OK, "convert: %s", lli_last_error());
    CHECK(lli_model_load(dir, NULL, &g_model) == LLI_OK, "load: %s", lli_last_error());
    if (!g_model) return check_summary();
    lli_model_info_int(g_model, LLI_INFO_N_VOCAB, &g_vocab);
    make_prompt();
    test_prefix();
    test_rewrite();
    test_eviction();
    test_q8();
    test_persist(argv[2]);
    test_context_stats();
    lli_model_free(g_model);
    test_rm_rf(scratch);
    return check_summary();
}
