/* KV state restore from a buffer (lli_kv_seq_restore_buffer) into caches of a tiny random model
 * (F16 and 8-bit storage). The input:
 *   byte 0: bit 0 picks the 8-bit cache; bit 1 the structured mode;
 *   raw mode: the rest is the saved state as it is (a header, then a zstd frame);
 *   structured mode: the rest is 96 bytes of header fields and a payload; this harness compresses
 *   the payload and writes the sizes and the SHA-256 so that the state passes the checksum, which
 *   lets the fuzzer reach the checks and copies behind it (shapes, token counts, storage type).
 * A restored sequence must have the saved length, decode one more token, and save again into a
 * buffer that restores. LLI_FUZZ_MAKE_SEEDS=DIR writes seed inputs made from real saved states. */
#include <string.h>
#include <zstd.h>

#include "base/le.h"
#include "base/sha256.h"
#include "fuzz_util.h"

#ifndef LLI_FUZZ_TINY_GGUF
#error "LLI_FUZZ_TINY_GGUF: the tiny model's path"
#endif

#define HEADER 128
#define HASHED 96
#define CAPACITY 256
#define MAX_RAW (1u << 20)

static lli_model *g_model;
static lli_kv_cache *g_kv[2];
static lli_context *g_ctx[2];
static lli_batch *g_batch;
static int64_t g_n_vocab;

static void make_cache(int type, lli_kv_cache **kv, lli_context **ctx) {
    lli_kv_cache_params *kp;
    FZ_CHECK(lli_kv_cache_params_create(&kp) == LLI_OK);
    FZ_CHECK(lli_kv_cache_params_set_capacity(kp, CAPACITY) == LLI_OK);
    FZ_CHECK(lli_kv_cache_params_set_block_size(kp, 16) == LLI_OK);
    FZ_CHECK(lli_kv_cache_params_set_type(kp, type) == LLI_OK);
    FZ_CHECK(lli_kv_cache_create(g_model, kp, kv) == LLI_OK);
    lli_kv_cache_params_free(kp);
    lli_context_params *cp;
    FZ_CHECK(lli_context_params_create(&cp) == LLI_OK);
    FZ_CHECK(lli_context_params_set_threads(cp, 1) == LLI_OK);
    FZ_CHECK(lli_context_create(g_model, *kv, cp, ctx) == LLI_OK);
    lli_context_params_free(cp);
}

/* Decode tokens [from, to) of a fixed sequence of ids into seq. */
static lli_status decode(int c, lli_seq_id seq, int64_t from, int64_t to) {
    FZ_CHECK(lli_batch_clear(g_batch) == LLI_OK);
    for (int64_t p = from; p < to; p++)
        FZ_CHECK(lli_batch_add(g_batch, (lli_token)((p * 7 + 3) % g_n_vocab), seq, p, p == to - 1) == LLI_OK);
    return lli_decode(g_ctx[c], g_batch);
}

static uint8_t *save(int c, lli_seq_id seq, size_t *size) {
    size_t need = 0;
    FZ_CHECK(lli_kv_seq_save_buffer(g_kv[c], seq, NULL, 0, &need) == LLI_E_BUFFER_TOO_SMALL);
    uint8_t *buf = malloc(need);
    FZ_CHECK(buf != NULL);
    FZ_CHECK(lli_kv_seq_save_buffer(g_kv[c], seq, buf, need, size) == LLI_OK && *size == need);
    return buf;
}

static void write_seeds(const char *dir) {
    static const int lengths[3] = {1, 5, 17};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++) {
            lli_seq_id seq;
            FZ_CHECK(lli_kv_seq_create(g_kv[c], &seq) == LLI_OK);
            FZ_CHECK(decode(c, seq, 0, lengths[k]) == LLI_OK);
            size_t size;
            uint8_t *state = save(c, seq, &size);
            FZ_CHECK(lli_kv_seq_free(g_kv[c], seq) == LLI_OK);
            char path[600];
            uint8_t *seed = malloc(size + 1);
            FZ_CHECK(seed != NULL);
            /* raw: the state as saved */
            seed[0] = (uint8_t)c;
            memcpy(seed + 1, state, size);
            snprintf(path, sizeof path, "%s/raw-%s-%d", dir, c ? "q8" : "f16", lengths[k]);
            fz_write_file(path, seed, size + 1);
            /* structured: header fields and the uncompressed payload */
            size_t raw = lli_get_le64(state + 80);
            uint8_t *payload = malloc(raw + 1);
            FZ_CHECK(payload && ZSTD_decompress(payload, raw + 1, state + HEADER, size - HEADER) == raw);
            uint8_t *s2 = malloc(1 + HASHED + raw);
            FZ_CHECK(s2 != NULL);
            s2[0] = (uint8_t)(c | 2);
            memcpy(s2 + 1, state, HASHED);
            memcpy(s2 + 1 + HASHED, payload, raw);
            snprintf(path, sizeof path, "%s/struct-%s-%d", dir, c ? "q8" : "f16", lengths[k]);
            fz_write_file(path, s2, 1 + HASHED + raw);
            free(s2), free(payload), free(seed), free(state);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    g_model = fz_model_from_gguf(LLI_FUZZ_TINY_GGUF, "tiny", 0, 0);
    FZ_CHECK(lli_model_info_int(g_model, LLI_INFO_N_VOCAB, &g_n_vocab) == LLI_OK);
    make_cache(LLI_KV_TYPE_F16, &g_kv[0], &g_ctx[0]);
    make_cache(LLI_KV_TYPE_Q8, &g_kv[1], &g_ctx[1]);
    FZ_CHECK(lli_batch_create(CAPACITY, &g_batch) == LLI_OK);
    const char *seeds = getenv("LLI_FUZZ_MAKE_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

/* The saved-state layout's payload size (kv_persist.c): tokens, K and V rows, 8-bit scales. */
static uint64_t payload_bytes(uint32_t type, uint64_t n_layer, uint64_t n_head_kv, uint64_t head_dim, uint64_t n_tokens) {
    uint64_t rows = n_layer * n_head_kv * n_tokens;
    uint64_t b = n_tokens * 4 + 2 * rows * head_dim * (type == LLI_KV_TYPE_Q8 ? 1 : 2);
    if (type == LLI_KV_TYPE_Q8) b += 2 * rows * 4;
    return b;
}

/* A state that passes the checksum from fuzzed header fields and payload; NULL if too large. */
static uint8_t *structured(const uint8_t *d, size_t n, size_t *size) {
    uint8_t h[HEADER] = {0};
    memcpy(h, d, n < HASHED ? n : HASHED);
    const uint8_t *payload = n > HASHED ? d + HASHED : NULL;
    size_t have = n > HASHED ? n - HASHED : 0;
    uint32_t type = lli_get_le32(h + 12);
    uint64_t want = payload_bytes(type, lli_get_le32(h + 52), lli_get_le32(h + 56), lli_get_le32(h + 60),
                                  lli_get_le64(h + 72));
    /* Mostly the size the shape needs (else the first check refuses it); sometimes what was given. */
    uint64_t raw = (h[64] & 0x80) ? have : want;
    if (raw > MAX_RAW || lli_get_le32(h + 52) > 4096 || lli_get_le32(h + 56) > 4096 || lli_get_le32(h + 60) > 4096)
        return NULL;
    uint8_t *p = calloc(raw + 1, 1);
    FZ_CHECK(p != NULL);
    if (payload) memcpy(p, payload, have < raw ? have : raw);
    size_t bound = ZSTD_compressBound(raw);
    uint8_t *out = malloc(HEADER + bound);
    FZ_CHECK(out != NULL);
    size_t packed = ZSTD_compress(out + HEADER, bound, p, raw, 1);
    FZ_CHECK(!ZSTD_isError(packed));
    h[64] &= 0x7f;
    memcpy(h, "LLIKVSQ", 8);
    lli_put_le64(h + 80, raw);
    lli_put_le64(h + 88, packed);
    lli_sha256 *sh = lli_sha256_new();
    FZ_CHECK(sh != NULL);
    lli_sha256_update(sh, h, HASHED);
    lli_sha256_update(sh, p, raw);
    lli_sha256_final(sh, h + HASHED);
    memcpy(out, h, HEADER);
    free(p);
    *size = HEADER + packed;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    const int c = d[0] & 1;
    size_t size = n - 1;
    uint8_t *state;
    if (d[0] & 2) {
        state = structured(d + 1, n - 1, &size);
        if (!state) return 0;
    } else {
        /* A copy of exactly the input, so that any read past its end is caught. */
        state = malloc(size ? size : 1);
        FZ_CHECK(state != NULL);
        memcpy(state, d + 1, size);
    }
    int64_t free_before, free_after;
    FZ_CHECK(lli_kv_free_blocks(g_kv[c], &free_before) == LLI_OK);
    lli_seq_id seq;
    lli_status st = lli_kv_seq_restore_buffer(g_kv[c], state, size, &seq);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st == LLI_OK) {
        int64_t len;
        FZ_CHECK(lli_kv_seq_length(g_kv[c], seq, &len) == LLI_OK);
        FZ_CHECK((uint64_t)len == lli_get_le64(state + 72));
        if (len < CAPACITY) FZ_STATUS_OK_OR_EXPLAINED(decode(c, seq, len, len + 1));
        /* What was restored saves again into a state that restores. */
        size_t size2;
        uint8_t *again = save(c, seq, &size2);
        lli_seq_id seq2;
        st = lli_kv_seq_restore_buffer(g_kv[c], again, size2, &seq2);
        FZ_CHECK(st == LLI_OK || st == LLI_E_KV_FULL);
        if (st == LLI_OK) FZ_CHECK(lli_kv_seq_free(g_kv[c], seq2) == LLI_OK);
        free(again);
        FZ_CHECK(lli_kv_seq_free(g_kv[c], seq) == LLI_OK);
    }
    /* Nothing is left behind in the cache, restored or refused. */
    FZ_CHECK(lli_kv_free_blocks(g_kv[c], &free_after) == LLI_OK);
    FZ_CHECK(free_after == free_before);
    free(state);
    return 0;
}
