/* Saving a sequence's KV state and restoring it, in this process or another.
 *
 * A saved state is a 128-byte header and a zstd frame. The header names the model (its id and the
 * loaded layer range), the storage type and the shape; its SHA-256 covers the header's first 96
 * bytes and the uncompressed payload, so that nothing damaged or foreign reaches a cache. The
 * payload does not depend on the cache's block size: tokens, then keys and values as rows laid out
 * [layer][kv head][position], then for 8-bit storage their scales in the same order. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "backend/backend.h"
#include "base/error.h"
#include "base/file.h"
#include "base/le.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"
#include "base/sha256.h"

#define MAGIC "LLIKVSQ"
#define HEADER_BYTES 128
#define HASHED_BYTES 96
#define FORMAT_VERSION 1
#define FLAG_TOKENS 1u

typedef struct shape {
    uint32_t type, layer_first, n_layer, n_head_kv, head_dim, flags;
    char model_id[33];
    uint64_t n_tokens, raw_size, packed_size;
} shape;

struct lli_kv_state {
    shape sh;
    uint8_t *raw; /* the payload */
    lli_status status;
    char message[512];
    char *path;   /* for a background load */
    pthread_t thread;
    int joined;   /* 1 when there is no thread to wait for */
};

static size_t elem_bytes(uint32_t type) { return type == LLI_KV_TYPE_Q8 ? 1 : 2; }

/* Payload size of a shape: tokens, K and V rows, and scales for 8-bit storage. */
static uint64_t payload_bytes(const shape *sh) {
    uint64_t rows = (uint64_t)sh->n_layer * sh->n_head_kv * sh->n_tokens;
    uint64_t b = sh->n_tokens * 4 + 2 * rows * sh->head_dim * elem_bytes(sh->type);
    if (sh->type == LLI_KV_TYPE_Q8) b += 2 * rows * 4;
    return b;
}

static void write_header(const shape *sh, const uint8_t *raw, uint8_t h[HEADER_BYTES]) {
    memset(h, 0, HEADER_BYTES);
    memcpy(h, MAGIC, 8);
    lli_put_le32(h + 8, FORMAT_VERSION);
    lli_put_le32(h + 12, sh->type);
    memcpy(h + 16, sh->model_id, 32);
    lli_put_le32(h + 48, sh->layer_first);
    lli_put_le32(h + 52, sh->n_layer);
    lli_put_le32(h + 56, sh->n_head_kv);
    lli_put_le32(h + 60, sh->head_dim);
    lli_put_le32(h + 64, sh->flags);
    lli_put_le64(h + 72, sh->n_tokens);
    lli_put_le64(h + 80, sh->raw_size);
    lli_put_le64(h + 88, sh->packed_size);
    lli_sha256 *d = lli_sha256_new();
    if (!d) return; /* the zero digest that remains fails every later check */
    lli_sha256_update(d, h, HASHED_BYTES);
    lli_sha256_update(d, raw, (size_t)sh->raw_size);
    lli_sha256_final(d, h + HASHED_BYTES);
}

/* Where a (layer, head, position) row and its scale sit in the payload. */
typedef struct layout {
    uint64_t k, v, ks, vs, row;
} layout;

static layout layout_of(const shape *sh) {
    layout l;
    uint64_t rows = (uint64_t)sh->n_layer * sh->n_head_kv * sh->n_tokens;
    l.row = sh->head_dim * elem_bytes(sh->type);
    l.k = sh->n_tokens * 4;
    l.v = l.k + rows * l.row;
    l.ks = l.v + rows * l.row;
    l.vs = l.ks + rows * 4;
    return l;
}

static shape shape_of(const lli_kv_cache *kv, int64_t n_tokens, int has_tokens) {
    shape sh;
    memset(&sh, 0, sizeof sh);
    sh.type = (uint32_t)kv->type;
    memcpy(sh.model_id, kv->model->mf->model_id, 32);
    sh.layer_first = (uint32_t)kv->model->layer_first;
    sh.n_layer = (uint32_t)kv->n_layer;
    sh.n_head_kv = (uint32_t)kv->n_head_kv;
    sh.head_dim = (uint32_t)kv->head_dim;
    sh.flags = has_tokens ? FLAG_TOKENS : 0;
    sh.n_tokens = (uint64_t)n_tokens;
    sh.raw_size = payload_bytes(&sh);
    return sh;
}

/* Move rows between one cache block (host copy, [layer][head][slot]) and the payload. */
static void block_rows(const lli_kv_cache *kv, const shape *sh, const layout *l, uint8_t *raw, uint8_t *bk, uint8_t *bv,
                       float *bks, float *bvs, int64_t first, int64_t count, int to_payload) {
    for (uint32_t layer = 0; layer < sh->n_layer; layer++)
        for (uint32_t h = 0; h < sh->n_head_kv; h++)
            for (int64_t slot = 0; slot < count; slot++) {
                uint64_t prow = ((uint64_t)layer * sh->n_head_kv + h) * sh->n_tokens + (uint64_t)(first + slot);
                uint64_t brow = ((uint64_t)layer * sh->n_head_kv + h) * (uint64_t)kv->block_size + (uint64_t)slot;
                uint8_t *pk = raw + l->k + prow * l->row, *pv = raw + l->v + prow * l->row;
                uint8_t *ck = bk + brow * l->row, *cv = bv + brow * l->row;
                memcpy(to_payload ? pk : ck, to_payload ? ck : pk, l->row);
                memcpy(to_payload ? pv : cv, to_payload ? cv : pv, l->row);
                if (sh->type != LLI_KV_TYPE_Q8) continue;
                float *sk = (float *)(void *)(raw + l->ks) + prow, *sv = (float *)(void *)(raw + l->vs) + prow;
                if (to_payload) *sk = bks[brow], *sv = bvs[brow];
                else bks[brow] = *sk, bvs[brow] = *sv;
            }
}

/* Scratch for one block of keys, values and scales on the host. */
typedef struct block_buf {
    uint8_t *k, *v;
    float *ks, *vs;
    uint64_t bytes, scale_bytes;
} block_buf;

static lli_status block_buf_init(const lli_kv_cache *kv, block_buf *b) {
    uint64_t rows = (uint64_t)kv->n_layer * (uint64_t)kv->n_head_kv * (uint64_t)kv->block_size;
    b->bytes = rows * (uint64_t)kv->head_dim * elem_bytes((uint32_t)kv->type);
    b->scale_bytes = rows * sizeof(float);
    b->k = calloc(1, (size_t)b->bytes);
    b->v = calloc(1, (size_t)b->bytes);
    b->ks = calloc(1, (size_t)b->scale_bytes);
    b->vs = calloc(1, (size_t)b->scale_bytes);
    if (!b->k || !b->v || !b->ks || !b->vs) return lli_fail(LLI_E_NOMEM, "out of memory for a KV block");
    return LLI_OK;
}

static void block_buf_free(block_buf *b) { free(b->k), free(b->v), free(b->ks), free(b->vs); }

/* Moves one cache block between backend memory and host scratch. */
static lli_status block_io(const lli_kv_cache *kv, int32_t block, block_buf *b, int download) {
    lli_backend *be = (lli_backend *)kv->backend;
    void *dev[] = {kv->k, kv->v, kv->k_scale, kv->v_scale};
    void *host[] = {b->k, b->v, b->ks, b->vs};
    uint64_t size[] = {b->bytes, b->bytes, b->scale_bytes, b->scale_bytes};
    int parts = kv->type == LLI_KV_TYPE_Q8 ? 4 : 2;
    for (int i = 0; i < parts; i++) {
        uint64_t off = (uint64_t)block * size[i];
        lli_status st = download ? be->ops->download(be, host[i], dev[i], off, size[i])
                                 : be->ops->upload(be, dev[i], off, host[i], size[i]);
        if (st != LLI_OK) return lli_backend_status(be, st);
    }
    return LLI_OK;
}

/* The whole saved form of a sequence, in a new buffer. */
static lli_status save_to_memory(const lli_kv_cache *kv, lli_seq_id id, uint8_t **out, size_t *out_size) {
    const lli_kv_seq *s = lli_kv_get_seq(kv, id);
    if (!s) return lli_fail_prefix(LLI_E_INVALID_ARG, "saving a sequence: ");
    shape sh = shape_of(kv, s->len, s->has_tokens);
    layout l = layout_of(&sh);
    uint8_t *raw = calloc(1, (size_t)sh.raw_size + 1);
    block_buf b = {0};
    lli_status st = raw ? block_buf_init(kv, &b) : lli_fail(LLI_E_NOMEM, "out of memory for %llu bytes of KV state",
                                                                 (unsigned long long)sh.raw_size);
    if (st == LLI_OK && s->has_tokens && s->len) memcpy(raw, s->tokens, (size_t)s->len * sizeof(lli_token));
    for (int64_t i = 0; st == LLI_OK && i < s->n_blocks && i * kv->block_size < s->len; i++) {
        int64_t first = i * kv->block_size, count = s->len - first < kv->block_size ? s->len - first : kv->block_size;
        st = block_io(kv, s->blocks[i], &b, 1);
        if (st == LLI_OK) block_rows(kv, &sh, &l, raw, b.k, b.v, b.ks, b.vs, first, count, 1);
    }
    block_buf_free(&b);
    uint8_t *file = NULL;
    if (st == LLI_OK) {
        size_t bound = ZSTD_compressBound((size_t)sh.raw_size);
        file = malloc(HEADER_BYTES + bound);
        if (!file) st = lli_fail(LLI_E_NOMEM, "out of memory compressing KV state");
    }
    if (st == LLI_OK) {
        size_t n = ZSTD_compress(file + HEADER_BYTES, ZSTD_compressBound((size_t)sh.raw_size), raw, (size_t)sh.raw_size, 3);
        if (ZSTD_isError(n)) st = lli_fail(LLI_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(n));
        sh.packed_size = n;
    }
    if (st == LLI_OK) {
        write_header(&sh, raw, file);
        *out = file;
        *out_size = HEADER_BYTES + (size_t)sh.packed_size;
    } else {
        free(file);
    }
    free(raw);
    return st;
}

lli_status lli_kv_seq_save_buffer(const lli_kv_cache *kv, lli_seq_id seq, void *buf, size_t capacity, size_t *size) {
    if (!kv || !size) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_save_buffer: cache or size is NULL");
    uint8_t *data;
    size_t n;
    LLI_TRY(save_to_memory(kv, seq, &data, &n));
    *size = n;
    lli_status st = LLI_OK;
    if (!buf || capacity < n)
        st = lli_fail(LLI_E_BUFFER_TOO_SMALL, "lli_kv_seq_save_buffer: the state takes %zu bytes, the buffer has %zu", n,
                      buf ? capacity : (size_t)0);
    else memcpy(buf, data, n);
    free(data);
    return st;
}

lli_status lli_kv_seq_save(const lli_kv_cache *kv, lli_seq_id seq, const char *path) {
    if (!kv || !path) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_save: cache or path is NULL");
    uint8_t *data;
    size_t n;
    LLI_TRY(save_to_memory(kv, seq, &data, &n));
    /* A reader never sees half a file, a crash leaves the old state or the new one, and two saves
     * to one path each write a temporary file of their own. */
    lli_status st = lli_write_replace(path, data, n);
    free(data);
    return st;
}

/* ---- loading: parse, decompress, verify; no cache involved ---------------------------------- */

static lli_status parse(lli_kv_state *s, const uint8_t *data, size_t size, const char *what) {
    if (size < HEADER_BYTES || memcmp(data, MAGIC, 8))
        return lli_fail(LLI_E_FORMAT, "%s is not a saved KV sequence (%s)", what,
                        size < HEADER_BYTES ? "shorter than its header" : "bad magic");
    if (lli_get_le32(data + 8) != FORMAT_VERSION)
        return lli_fail(LLI_E_FORMAT, "%s: saved-state format version %u, this library reads %d", what, lli_get_le32(data + 8),
                        FORMAT_VERSION);
    shape *sh = &s->sh;
    sh->type = lli_get_le32(data + 12);
    memcpy(sh->model_id, data + 16, 32);
    sh->model_id[32] = 0;
    sh->layer_first = lli_get_le32(data + 48);
    sh->n_layer = lli_get_le32(data + 52);
    sh->n_head_kv = lli_get_le32(data + 56);
    sh->head_dim = lli_get_le32(data + 60);
    sh->flags = lli_get_le32(data + 64);
    sh->n_tokens = lli_get_le64(data + 72);
    sh->raw_size = lli_get_le64(data + 80);
    sh->packed_size = lli_get_le64(data + 88);
    if (sh->type > LLI_KV_TYPE_Q8 || sh->n_layer > 4096 || sh->n_head_kv > 4096 || sh->head_dim > 4096 ||
        sh->n_tokens > ((uint64_t)1 << 32) || sh->raw_size != payload_bytes(sh))
        return lli_fail(LLI_E_FORMAT, "%s: the header's shape is inconsistent", what);
    if (sh->packed_size != size - HEADER_BYTES)
        return lli_fail(LLI_E_FORMAT, "%s: %zu bytes of compressed data, the header says %llu (truncated or extended)", what,
                        size - HEADER_BYTES, (unsigned long long)sh->packed_size);
    s->raw = malloc((size_t)sh->raw_size + 1);
    if (!s->raw) return lli_fail(LLI_E_NOMEM, "out of memory for %llu bytes of KV state", (unsigned long long)sh->raw_size);
    size_t n = ZSTD_decompress(s->raw, (size_t)sh->raw_size + 1, data + HEADER_BYTES, (size_t)sh->packed_size);
    if (ZSTD_isError(n) || n != sh->raw_size)
        return lli_fail(LLI_E_CHECKSUM, "%s: the compressed data is damaged (%s)", what,
                        ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
    uint8_t check[HEADER_BYTES];
    write_header(sh, s->raw, check);
    if (memcmp(check, data, HEADER_BYTES))
        return lli_fail(LLI_E_CHECKSUM, "%s: SHA-256 mismatch: the saved state is damaged", what);
    return LLI_OK;
}

static void load_file_into(lli_kv_state *s) {
    uint8_t *data = NULL;
    size_t size = 0;
    s->status = lli_read_regular(s->path, UINT64_MAX, &data, &size);
    if (s->status == LLI_OK) s->status = parse(s, data, size, s->path);
    if (s->status != LLI_OK) snprintf(s->message, sizeof s->message, "%s", lli_last_error());
    free(data);
}

static void *load_thread(void *arg) {
    load_file_into(arg);
    return NULL;
}

static lli_kv_state *state_new(void) {
    lli_kv_state *s = calloc(1, sizeof *s);
    if (s) s->joined = 1;
    return s;
}

lli_status lli_kv_state_load(const char *path, int background, lli_kv_state **out) {
    if (!path || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_state_load: path or out is NULL");
    *out = NULL;
    lli_kv_state *s = state_new();
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    if (background) {
        if (pthread_create(&s->thread, NULL, load_thread, s) == 0) {
            s->joined = 0;
            *out = s;
            return LLI_OK;
        }
        /* no thread to be had: load now instead */
    }
    load_file_into(s);
    if (s->status != LLI_OK) {
        lli_status st = lli_fail(s->status, "%s", s->message);
        lli_kv_state_free(s);
        return st;
    }
    *out = s;
    return LLI_OK;
}

lli_status lli_kv_state_wait(lli_kv_state *s) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_state_wait: state is NULL");
    if (!s->joined) {
        pthread_join(s->thread, NULL);
        s->joined = 1;
    }
    if (s->status != LLI_OK) return lli_fail(s->status, "%s", s->message);
    return LLI_OK;
}

lli_status lli_kv_state_length(lli_kv_state *s, int64_t *out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_state_length: out is NULL");
    LLI_TRY(lli_kv_state_wait(s));
    *out = (int64_t)s->sh.n_tokens;
    return LLI_OK;
}

void lli_kv_state_free(lli_kv_state *s) {
    if (!s) return;
    if (!s->joined) pthread_join(s->thread, NULL);
    free(s->raw);
    free(s->path);
    free(s);
}

/* ---- restoring: all checks first, then blocks, then contents --------------------------------- */

static lli_status restore(lli_kv_cache *kv, const lli_kv_state *s, lli_seq_id *out) {
    const shape *sh = &s->sh;
    const lli_model *m = kv->model;
    if (memcmp(sh->model_id, m->mf->model_id, 32))
        return lli_fail(LLI_E_MISMATCH, "the saved KV state belongs to model %.32s, the cache to model %.32s", sh->model_id,
                        m->mf->model_id);
    if (sh->layer_first != (uint32_t)m->layer_first || sh->n_layer != (uint32_t)kv->n_layer)
        return lli_fail(LLI_E_MISMATCH, "the saved KV state holds layers [%u, %u), the cache [%d, %d)", sh->layer_first,
                        sh->layer_first + sh->n_layer, m->layer_first, m->layer_last);
    if (sh->n_head_kv != (uint32_t)kv->n_head_kv || sh->head_dim != (uint32_t)kv->head_dim)
        return lli_fail(LLI_E_MISMATCH, "the saved KV state has %u heads of %u, the cache %d of %d", sh->n_head_kv,
                        sh->head_dim, kv->n_head_kv, kv->head_dim);
    if (sh->type != (uint32_t)kv->type)
        return lli_fail(LLI_E_MISMATCH, "the saved KV state is stored as %s, the cache as %s",
                        sh->type == LLI_KV_TYPE_Q8 ? "Q8" : "F16", kv->type == LLI_KV_TYPE_Q8 ? "Q8" : "F16");
    lli_seq_id id;
    LLI_TRY(lli_kv_seq_adopt(kv, (int64_t)sh->n_tokens, &id));
    layout l = layout_of(sh);
    block_buf b = {0};
    lli_status st = block_buf_init(kv, &b);
    const lli_kv_seq *q = &kv->seqs[id];
    for (int64_t i = 0; st == LLI_OK && i < q->n_blocks; i++) {
        int64_t first = i * kv->block_size, left = (int64_t)sh->n_tokens - first;
        block_rows(kv, sh, &l, s->raw, b.k, b.v, b.ks, b.vs, first, left < kv->block_size ? left : kv->block_size, 0);
        st = block_io(kv, q->blocks[i], &b, 0);
    }
    block_buf_free(&b);
    if (st != LLI_OK) {
        lli_kv_seq_free(kv, id);
        return st;
    }
    lli_kv_commit(kv, id, sh->flags & FLAG_TOKENS ? (const lli_token *)(const void *)s->raw : NULL, (int64_t)sh->n_tokens);
    *out = id;
    return LLI_OK;
}

lli_status lli_kv_seq_restore_state(lli_kv_cache *kv, lli_kv_state *state, lli_seq_id *out) {
    if (!kv || !state || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_restore_state: NULL argument");
    LLI_TRY(lli_kv_state_wait(state));
    return restore(kv, state, out);
}

lli_status lli_kv_seq_restore_buffer(lli_kv_cache *kv, const void *buf, size_t size, lli_seq_id *out) {
    if (!kv || !buf || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_restore_buffer: NULL argument");
    lli_kv_state *s = state_new();
    if (!s) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_status st = parse(s, buf, size, "the buffer");
    if (st == LLI_OK) st = restore(kv, s, out);
    lli_kv_state_free(s);
    return st;
}

lli_status lli_kv_seq_restore(lli_kv_cache *kv, const char *path, lli_seq_id *out) {
    if (!kv || !path || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_kv_seq_restore: NULL argument");
    lli_kv_state *s;
    LLI_TRY(lli_kv_state_load(path, 0, &s));
    lli_status st = restore(kv, s, out);
    lli_kv_state_free(s);
    return st;
}
