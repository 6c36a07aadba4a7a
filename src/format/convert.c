/* lli_convert_gguf(): GGUF file -> model directory of fragments.
 *
 * Tensor bytes are copied block for block; nothing is requantized. The model id depends on the
 * fragments' contents, so each fragment's payload is hashed first, then the manifest is built, then
 * the fragments are written (headers carry the id) into a temporary directory that is renamed into
 * place only once everything is on disk. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <zstd.h>

#include "base/bytebuf.h"
#include "base/error.h"
#include "format/fragment.h"
#include "format/gguf.h"
#include "format/gguf_cache.h"
#include "format/manifest.h"
#include "base/parallel.h"
#include "runtime/params.h"
#include "base/progress.h"
#include "base/sha256.h"

/* One tensor (or the tokenizer blob) placed in a fragment's payload. */
typedef struct piece {
    const uint8_t *data;
    uint64_t bytes;
    uint64_t offset;
    const gguf_tensor *tensor; /* NULL for the tokenizer blob */
} piece;

typedef struct out_fragment {
    char name[32];
    int kind, layer;
    piece *pieces;
    int n_pieces, cap_pieces;
    uint64_t raw_size;
    char content_sha256[65];
    /* filled in when written */
    uint64_t size;
    char sha256[65];
} out_fragment;

typedef struct conv {
    const struct lli_convert_params *p;
    gguf_file *g;
    char family[32];
    int vocab_only;
    lli_hparams hp;
    uint8_t *tok_blob;
    size_t tok_len;
    out_fragment *frags;
    int n_frags;
    char model_id[33];
    char arch_name[33];
    char tmp_dir[4200];
    lli_progress progress;
    lli_status *status;
    char (*message)[512];
} conv;

/* ---- reading the GGUF metadata ----------------------------------------------------------------- */

static int64_t kv_int(const gguf_file *g, const char *family, const char *key, int64_t def, int *found) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", family, key);
    int64_t v;
    if (gguf_get_i64(g, full, &v) == 0) {
        if (found) *found = 1;
        return v;
    }
    if (found) *found = 0;
    return def;
}

static double kv_real(const gguf_file *g, const char *family, const char *key, double def) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", family, key);
    double v;
    return gguf_get_f64(g, full, &v) == 0 ? v : def;
}

static lli_status require_int(const gguf_file *g, const char *family, const char *key, int64_t lo, int64_t hi,
                              int64_t *out) {
    int found;
    *out = kv_int(g, family, key, 0, &found);
    if (!found) {
        char full[128];
        snprintf(full, sizeof full, "%s.%s", family, key);
        if (gguf_find(g, full)) return lli_fail(LLI_E_UNSUPPORTED, "GGUF key %s is not a single integer", full);
        return lli_fail(LLI_E_FORMAT, "GGUF key %s.%s is missing", family, key);
    }
    if (*out < lo || *out > hi)
        return lli_fail(LLI_E_FORMAT, "GGUF key %s.%s = %lld is out of range [%lld, %lld]", family, key, (long long)*out,
                        (long long)lo, (long long)hi);
    return LLI_OK;
}

static lli_status read_hparams(conv *c) {
    const gguf_file *g = c->g;
    const char *f = c->family;
    lli_hparams *hp = &c->hp;
    LLI_TRY(require_int(g, f, "block_count", 1, 4096, &hp->n_layer));
    LLI_TRY(require_int(g, f, "context_length", 1, 1 << 24, &hp->n_ctx_train));
    LLI_TRY(require_int(g, f, "embedding_length", 1, 1 << 24, &hp->n_embd));
    LLI_TRY(require_int(g, f, "feed_forward_length", 1, 1 << 24, &hp->n_ff));
    LLI_TRY(require_int(g, f, "attention.head_count", 1, 4096, &hp->n_head));
    hp->n_head_kv = kv_int(g, f, "attention.head_count_kv", hp->n_head, NULL);
    if (hp->n_head_kv < 1 || hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv)
        return lli_fail(LLI_E_FORMAT, "GGUF: %s.attention.head_count_kv = %lld does not divide head_count %lld", f,
                        (long long)hp->n_head_kv, (long long)hp->n_head);
    hp->head_dim = kv_int(g, f, "attention.key_length", hp->n_embd / hp->n_head, NULL);
    if (hp->head_dim < 2 || hp->head_dim > 4096 || kv_int(g, f, "attention.value_length", hp->head_dim, NULL) != hp->head_dim)
        return lli_fail(LLI_E_UNSUPPORTED, "GGUF: head size %lld (key) / %lld (value) is not supported", (long long)hp->head_dim,
                        (long long)kv_int(g, f, "attention.value_length", hp->head_dim, NULL));
    hp->rope_dim = kv_int(g, f, "rope.dimension_count", hp->head_dim, NULL);
    if (hp->rope_dim < 0 || hp->rope_dim > hp->head_dim)
        return lli_fail(LLI_E_FORMAT, "GGUF: %s.rope.dimension_count = %lld exceeds the head size", f, (long long)hp->rope_dim);
    hp->rope_freq_base = kv_real(g, f, "rope.freq_base", 10000.0);
    hp->rope_neox = strcmp(f, "llama") != 0;
    snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "none");
    gguf_str s;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", f);
    if (gguf_get_str(g, key, &s) == 0 && s.len < sizeof hp->rope_scaling) {
        memcpy(hp->rope_scaling, s.ptr, s.len);
        hp->rope_scaling[s.len] = '\0';
    }
    hp->rope_scale_factor = kv_real(g, f, "rope.scaling.factor", 1.0);
    if (!(hp->rope_scale_factor > 0)) hp->rope_scale_factor = 1.0;
    hp->rope_orig_ctx = kv_int(g, f, "rope.scaling.original_context_length", 0, NULL);
    hp->rope_low_freq_factor = 1.0;
    hp->rope_high_freq_factor = 4.0;
    hp->rms_eps = kv_real(g, f, "attention.layer_norm_rms_epsilon", 1e-5);
    /* Refused here rather than written into a manifest that no load would take. */
    if (!(hp->rope_freq_base > 0) || !isfinite(hp->rope_freq_base))
        return lli_fail(LLI_E_FORMAT, "GGUF: %s.rope.freq_base = %g is not a positive number", f, hp->rope_freq_base);
    if (!isfinite(hp->rope_scale_factor))
        return lli_fail(LLI_E_FORMAT, "GGUF: %s.rope.scaling.factor = %g is not a number", f, hp->rope_scale_factor);
    if (!(hp->rms_eps > 0) || !isfinite(hp->rms_eps))
        return lli_fail(LLI_E_FORMAT, "GGUF: %s.attention.layer_norm_rms_epsilon = %g is not a positive number", f, hp->rms_eps);
    hp->sliding_window = kv_int(g, f, "attention.sliding_window", 0, NULL);
    hp->tied_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    hp->qkv_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    hp->qk_norm = gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL;
    return LLI_OK;
}

/* ---- the tokenizer blob (format in docs/fragment-format.md) ------------------------------------- */

static lli_status build_tokenizer(conv *c) {
    const gguf_file *g = c->g;
    const gguf_kv *tokens = gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_ARRAY || tokens->elem_type != GGUF_STRING || tokens->n == 0)
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer.ggml.tokens is missing or not an array of strings");
    if (tokens->n > (1 << 24)) return lli_fail(LLI_E_FORMAT, "GGUF: %llu tokens is too many", (unsigned long long)tokens->n);
    gguf_str model;
    if (gguf_get_str(g, "tokenizer.ggml.model", &model) != 0)
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer.ggml.model is missing");
    if (!lli_tokenizer_model_known(model.ptr, (size_t)model.len))
        return lli_fail(LLI_E_UNSUPPORTED, "GGUF: tokenizer.ggml.model \"%.*s\" is not supported (%s)",
                        model.len < 64 ? (int)model.len : 64, model.ptr, LLI_TOKENIZER_MODELS);
    const gguf_kv *scores = gguf_find(g, "tokenizer.ggml.scores");
    const gguf_kv *types = gguf_find(g, "tokenizer.ggml.token_type");
    const gguf_kv *merges = gguf_find(g, "tokenizer.ggml.merges");
    if (scores && (scores->type != GGUF_ARRAY || scores->n != tokens->n))
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer.ggml.scores does not have one score per token");
    if (types && (types->type != GGUF_ARRAY || types->n != tokens->n))
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer.ggml.token_type does not have one type per token");
    if (merges && (merges->type != GGUF_ARRAY || merges->elem_type != GGUF_STRING || merges->n > (1 << 24)))
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer.ggml.merges is not an array of strings");
    lli_bytebuf b = {0};
    int bad = lli_bytebuf_put(&b, "LLITOK1", 8) | lli_bytebuf_u32(&b, (uint32_t)tokens->n) |
              lli_bytebuf_u32(&b, merges ? (uint32_t)merges->n : 0);
    for (uint64_t i = 0; !bad && i < tokens->n; i++) {
        double score = 0;
        int64_t type = 1;
        if (scores && gguf_arr_f64(scores, i, &score)) bad = 1;
        if (types && gguf_arr_i64(types, i, &type)) bad = 1;
        float fs = (float)score;
        int32_t ti = (int32_t)type;
        if (tokens->strs[i].len > UINT32_MAX) bad = 1;
        bad |= lli_bytebuf_u32(&b, (uint32_t)tokens->strs[i].len) | lli_bytebuf_put(&b, tokens->strs[i].ptr, tokens->strs[i].len) |
               lli_bytebuf_put(&b, &fs, 4) | lli_bytebuf_put(&b, &ti, 4);
    }
    for (uint64_t i = 0; merges && !bad && i < merges->n; i++)
        bad |= lli_bytebuf_u32(&b, (uint32_t)merges->strs[i].len) | lli_bytebuf_put(&b, merges->strs[i].ptr, merges->strs[i].len);
    if (bad) {
        lli_bytebuf_free(&b);
        return lli_fail(LLI_E_FORMAT, "GGUF: tokenizer arrays are malformed or memory ran out");
    }
    c->tok_blob = b.p;
    c->tok_len = b.len;
    if (c->vocab_only) c->hp.n_vocab = (int64_t)tokens->n;
    else {
        c->hp.n_vocab = kv_int(g, c->family, "vocab_size", (int64_t)tokens->n, NULL);
        if (c->hp.n_vocab != (int64_t)tokens->n)
            return lli_fail(LLI_E_FORMAT, "GGUF: %s.vocab_size is %lld but the tokenizer has %llu tokens", c->family,
                            (long long)c->hp.n_vocab, (unsigned long long)tokens->n);
    }
    return LLI_OK;
}

/* ---- fragment layout ---------------------------------------------------------------------------- */

static out_fragment *fragment_named(conv *c, const char *name, int kind, int layer) {
    for (int i = 0; i < c->n_frags; i++)
        if (!strcmp(c->frags[i].name, name)) return &c->frags[i];
    out_fragment *f = &c->frags[c->n_frags++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->kind = kind;
    f->layer = layer;
    return f;
}

static lli_status add_piece(out_fragment *f, const uint8_t *data, uint64_t bytes, const gguf_tensor *t) {
    if (f->n_pieces == f->cap_pieces) {
        int cap = f->cap_pieces ? f->cap_pieces * 2 : 16;
        piece *p = realloc(f->pieces, (size_t)cap * sizeof *p);
        if (!p) return lli_fail(LLI_E_NOMEM, "out of memory");
        f->pieces = p;
        f->cap_pieces = cap;
    }
    uint64_t off = (f->raw_size + LLI_TENSOR_ALIGN - 1) / LLI_TENSOR_ALIGN * LLI_TENSOR_ALIGN;
    f->pieces[f->n_pieces++] = (piece){data, bytes, off, t};
    f->raw_size = off + bytes;
    return LLI_OK;
}

static lli_status plan_fragments(conv *c) {
    int64_t n_layer = c->vocab_only ? 0 : c->hp.n_layer;
    c->frags = calloc((size_t)n_layer + 3, sizeof *c->frags);
    if (!c->frags) return lli_fail(LLI_E_NOMEM, "out of memory");
    /* Fixed order: tokenizer, embed, layers, head, so fragment indices are predictable. */
    LLI_TRY(add_piece(fragment_named(c, "tokenizer", LLI_FRAG_TOKENIZER, -1), c->tok_blob, c->tok_len, NULL));
    if (c->vocab_only) return LLI_OK;
    if (!gguf_find_tensor(c->g, "token_embd.weight")) return lli_fail(LLI_E_FORMAT, "GGUF: tensor token_embd.weight is missing");
    fragment_named(c, "embed", LLI_FRAG_EMBED, -1);
    for (int64_t l = 0; l < n_layer; l++) {
        char name[32];
        snprintf(name, sizeof name, "layer-%03lld", (long long)l);
        fragment_named(c, name, LLI_FRAG_LAYER, (int)l);
    }
    for (uint64_t i = 0; i < c->g->n_tensors; i++) {
        const gguf_tensor *t = &c->g->tensors[i];
        char name[160];
        if (t->name.len >= sizeof name) return lli_fail(LLI_E_FORMAT, "GGUF: a tensor name is longer than 159 bytes");
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        LLI_TRY(lli_arch_check_tensor(&c->hp, name, (int)t->type, (int)t->n_dims, t->ne));
        out_fragment *f;
        if (!strcmp(name, "token_embd.weight")) f = fragment_named(c, "embed", LLI_FRAG_EMBED, -1);
        else if (!strncmp(name, "blk.", 4)) {
            char *end;
            long l = strtol(name + 4, &end, 10);
            if (end == name + 4 || *end != '.' || l < 0 || l >= n_layer)
                return lli_fail(LLI_E_FORMAT, "GGUF: tensor %s names a layer outside 0..%lld", name, (long long)n_layer - 1);
            char frag[32];
            snprintf(frag, sizeof frag, "layer-%03ld", l);
            f = fragment_named(c, frag, LLI_FRAG_LAYER, (int)l);
        } else
            f = fragment_named(c, "head", LLI_FRAG_HEAD, -1);
        LLI_TRY(add_piece(f, t->data, t->bytes, t));
    }
    /* A model that lacks a tensor the forward pass reads would convert into a directory that no
     * loader accepts: refuse it here, naming the tensor. */
    char need[LLI_TENSOR_NAME_MAX];
    for (int64_t k = 0; lli_arch_required_tensor(&c->hp, k, need); k++)
        if (!gguf_find_tensor(c->g, need)) return lli_fail(LLI_E_FORMAT, "GGUF: tensor %s is missing", need);
    return LLI_OK;
}

/* Feed a fragment's payload, padding included, to fn in order. */
static int stream_payload(const out_fragment *f, int (*fn)(const void *, size_t, void *), void *arg) {
    static const uint8_t zeros[LLI_TENSOR_ALIGN];
    uint64_t pos = 0;
    for (int i = 0; i < f->n_pieces; i++) {
        const piece *p = &f->pieces[i];
        if (p->offset > pos && fn(zeros, (size_t)(p->offset - pos), arg)) return -1;
        /* In chunks, so that progress moves and a cancel is seen inside big tensors. */
        for (uint64_t off = 0; off < p->bytes; off += (4u << 20)) {
            uint64_t n = p->bytes - off < (4u << 20) ? p->bytes - off : (4u << 20);
            if (fn(p->data + off, (size_t)n, arg)) return -1;
        }
        pos = p->offset + p->bytes;
    }
    return 0;
}

static int hash_piece(const void *data, size_t n, void *arg) {
    lli_sha256_update(arg, data, n);
    return 0;
}

static void content_hash_job(int64_t i, void *arg) {
    conv *c = arg;
    out_fragment *f = &c->frags[i];
    lli_sha256 *h = lli_sha256_new();
    if (!h) {
        c->status[i] = LLI_E_NOMEM;
        snprintf(c->message[i], sizeof c->message[i], "out of memory hashing fragment %s", f->name);
        return;
    }
    uint8_t d[32];
    stream_payload(f, hash_piece, h);
    lli_sha256_final(h, d);
    lli_sha256_hex(d, f->content_sha256);
}

/* ---- the manifest ------------------------------------------------------------------------------- */

static json_t *hparams_json(const lli_hparams *hp, int vocab_only) {
    if (vocab_only) return json_pack("{sI}", "n_vocab", (json_int_t)hp->n_vocab);
    json_t *o = json_pack("{sI sI sI sI sI sI sI sI sI sf sb ss sf sI sf sf sf sI sb sb sb}",
                          "n_vocab", (json_int_t)hp->n_vocab, "n_ctx_train", (json_int_t)hp->n_ctx_train,
                          "n_embd", (json_int_t)hp->n_embd, "n_ff", (json_int_t)hp->n_ff,
                          "n_layer", (json_int_t)hp->n_layer, "n_head", (json_int_t)hp->n_head,
                          "n_head_kv", (json_int_t)hp->n_head_kv, "head_dim", (json_int_t)hp->head_dim,
                          "rope_dim", (json_int_t)hp->rope_dim, "rope_freq_base", hp->rope_freq_base,
                          "rope_neox", hp->rope_neox, "rope_scaling", hp->rope_scaling,
                          "rope_scale_factor", hp->rope_scale_factor, "rope_orig_ctx", (json_int_t)hp->rope_orig_ctx,
                          "rope_low_freq_factor", hp->rope_low_freq_factor, "rope_high_freq_factor",
                          hp->rope_high_freq_factor, "rms_eps", hp->rms_eps,
                          "sliding_window", (json_int_t)hp->sliding_window, "tied_embeddings", hp->tied_embeddings,
                          "qkv_bias", hp->qkv_bias, "qk_norm", hp->qk_norm);
    return o;
}

static json_t *str_json(gguf_str s) { return json_stringn(s.ptr, (size_t)s.len); }

/* 1 if s is UTF-8 text as the manifest's JSON reader takes it back: well-formed (no overlong form,
 * surrogate or code point above U+10FFFF) and without NUL. */
static int is_text(gguf_str s) {
    const uint8_t *p = (const uint8_t *)s.ptr, *end = p + s.len;
    while (p < end) {
        uint32_t c = *p++;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (c == 0 || more < 0 || end - p < more) return 0;
        uint32_t cp = more == 0 ? c : more == 1 ? c & 0x1f : more == 2 ? c & 0x0f : c & 0x07;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (*p & 0x3f);
        }
        static const uint32_t least[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    }
    return 1;
}

/* Every GGUF string that goes into the manifest must come back out of it: refuse the file otherwise,
 * naming the key, rather than write a manifest that the loader cannot read. */
static lli_status check_texts(conv *c) {
    static const char *const keys[] = {"general.name", "tokenizer.ggml.model", "tokenizer.ggml.pre",
                                       "tokenizer.chat_template"};
    gguf_str s;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (gguf_get_str(c->g, keys[i], &s) == 0 && !is_text(s))
            return lli_fail(LLI_E_FORMAT, "GGUF: %s is not UTF-8 text without NUL bytes", keys[i]);
    if (!is_text((gguf_str){c->family, strlen(c->family)}))
        return lli_fail(LLI_E_FORMAT, "GGUF: general.architecture is not UTF-8 text");
    for (uint64_t i = 0; i < c->g->n_tensors; i++)
        if (!is_text(c->g->tensors[i].name))
            return lli_fail(LLI_E_FORMAT, "GGUF: the name of tensor %llu is not UTF-8 text without NUL bytes",
                            (unsigned long long)i);
    return LLI_OK;
}

static json_t *tokenizer_json(conv *c) {
    const gguf_file *g = c->g;
    gguf_str model = {"", 0}, pre = {"", 0}, tmpl = {"", 0};
    gguf_get_str(g, "tokenizer.ggml.model", &model);
    gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    gguf_get_str(g, "tokenizer.chat_template", &tmpl);
    const gguf_kv *merges = gguf_find(g, "tokenizer.ggml.merges");
    int spm = model.len == 5 && !memcmp(model.ptr, "llama", 5);
    int add_bos = spm, add_eos = 0, add_space = spm;
    gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos);
    gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &add_space);
    const char *ids[] = {"bos", "eos", "unk", "pad"};
    const char *keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                          "tokenizer.ggml.padding_token_id"};
    json_t *o = json_object();
    json_t *m = str_json(model), *p = str_json(pre), *t = str_json(tmpl);
    if (!o || !m || !p || !t) {
        json_decref(o), json_decref(m), json_decref(p), json_decref(t);
        return NULL;
    }
    json_object_set_new(o, "model", m);
    json_object_set_new(o, "pre", p);
    json_object_set_new(o, "chat_template", t);
    json_object_set_new(o, "fragment", json_string("tokenizer"));
    json_object_set_new(o, "n_tokens", json_integer(c->hp.n_vocab));
    json_object_set_new(o, "n_merges", json_integer(merges ? (json_int_t)merges->n : 0));
    for (int i = 0; i < 4; i++) {
        int64_t v = -1;
        if (gguf_get_i64(g, keys[i], &v) != 0 || v < 0 || v >= c->hp.n_vocab) v = -1;
        json_object_set_new(o, ids[i], json_integer(v));
    }
    json_object_set_new(o, "add_bos", json_boolean(add_bos));
    json_object_set_new(o, "add_eos", json_boolean(add_eos));
    json_object_set_new(o, "add_space_prefix", json_boolean(add_space));
    return o;
}

static json_t *tensors_json(conv *c) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < c->n_frags; i++)
        for (int k = 0; k < c->frags[i].n_pieces; k++) {
            const piece *p = &c->frags[i].pieces[k];
            if (!p->tensor) continue;
            const lli_ttype_info *tt = lli_ttype_by_id((int)p->tensor->type);
            json_t *shape = json_array();
            for (uint32_t d = 0; shape && d < p->tensor->n_dims; d++) json_array_append_new(shape, json_integer(p->tensor->ne[d]));
            json_t *o = json_object();
            json_t *name = str_json(p->tensor->name);
            if (!shape || !o || !name || !tt) {
                json_decref(shape), json_decref(o), json_decref(name), json_decref(arr);
                return NULL;
            }
            json_object_set_new(o, "name", name);
            json_object_set_new(o, "type", json_string(tt->name));
            json_object_set_new(o, "shape", shape);
            json_object_set_new(o, "fragment", json_string(c->frags[i].name));
            json_object_set_new(o, "offset", json_integer((json_int_t)p->offset));
            json_array_append_new(arr, o);
        }
    return arr;
}

static json_t *build_manifest(conv *c) {
    gguf_str name = {"", 0};
    gguf_get_str(c->g, "general.name", &name);
    const lli_preset *preset = c->vocab_only ? NULL : lli_preset_detect(c->family, &c->hp);
    json_t *frags = json_array();
    for (int i = 0; frags && i < c->n_frags; i++)
        json_array_append_new(frags, json_pack("{ss sI ss}", "name", c->frags[i].name, "raw_size",
                                               (json_int_t)c->frags[i].raw_size, "content_sha256",
                                               c->frags[i].content_sha256));
    json_t *root = json_pack("{ss si sb ss so* so* so* so* so* so*}", "format", LLI_FORMAT_NAME, "format_version",
                             LLI_FORMAT_VERSION, "vocab_only", c->vocab_only, "architecture", c->family, "preset",
                             preset ? json_string(preset->name) : json_null(), "name", str_json(name), "hparams",
                             hparams_json(&c->hp, c->vocab_only), "tokenizer", tokenizer_json(c), "tensors",
                             tensors_json(c), "fragments", frags);
    snprintf(c->arch_name, sizeof c->arch_name, "%s", preset ? preset->name : c->family);
    return root;
}

/* ---- writing ------------------------------------------------------------------------------------ */

typedef struct file_sink {
    int fd;
    lli_sha256 *h;
    lli_progress *progress;
    int count_progress;
} file_sink;

static int write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sink_put(const void *data, size_t n, void *arg) {
    file_sink *s = arg;
    if (write_all(s->fd, data, n)) return -1;
    lli_sha256_update(s->h, data, n);
    if (s->count_progress && !lli_progress_add(s->progress, n)) return -1;
    return 0;
}

typedef struct buf_sink {
    uint8_t *p;
    size_t len;
    lli_progress *progress;
} buf_sink;

static int buf_put(const void *data, size_t n, void *arg) {
    buf_sink *b = arg;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return lli_progress_add(b->progress, n) ? 0 : -1;
}

static lli_status write_fragment(conv *c, int64_t index) {
    out_fragment *f = &c->frags[index];
    char path[4300];
    snprintf(path, sizeof path, "%s/%s.frag", c->tmp_dir, f->name);
    int zstd = c->p->compression == LLI_COMPRESS_ZSTD;
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    if (zstd) {
        /* Whole-payload compression: one frame with its size and checksum, readable by any zstd. */
        buf_sink b = {malloc(f->raw_size ? (size_t)f->raw_size : 1), 0, &c->progress};
        size_t bound = ZSTD_compressBound((size_t)f->raw_size);
        packed = malloc(bound);
        if (!b.p || !packed) {
            free(b.p), free(packed);
            return lli_fail(LLI_E_NOMEM, "out of memory compressing fragment %s", f->name);
        }
        if (stream_payload(f, buf_put, &b)) {
            free(b.p), free(packed);
            return lli_fail(LLI_E_CANCELLED, "conversion cancelled");
        }
        ZSTD_CCtx *z = ZSTD_createCCtx();
        size_t r = z ? ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, c->p->level) : 1;
        if (z && !ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
        if (z && !ZSTD_isError(r)) r = ZSTD_compress2(z, packed, bound, b.p, b.len);
        ZSTD_freeCCtx(z);
        free(b.p);
        if (!z || ZSTD_isError(r)) {
            free(packed);
            return lli_fail(LLI_E_INTERNAL, "zstd failed on fragment %s: %s", f->name, z ? ZSTD_getErrorName(r) : "no context");
        }
        packed_len = r;
    }
    lli_frag_header h = {.version = LLI_FRAG_VERSION, .compression = (uint32_t)c->p->compression,
                         .index = (uint32_t)index, .raw_bytes = f->raw_size,
                         .payload_bytes = zstd ? packed_len : f->raw_size};
    snprintf(h.model_id, sizeof h.model_id, "%s", c->model_id);
    snprintf(h.arch, sizeof h.arch, "%s", c->arch_name);
    snprintf(h.name, sizeof h.name, "%s", f->name);
    uint8_t hdr[LLI_FRAG_HEADER_BYTES];
    lli_frag_header_encode(&h, hdr);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(packed);
        return lli_fail(LLI_E_IO, "cannot create %s: %s", path, strerror(errno));
    }
    file_sink s = {fd, lli_sha256_new(), &c->progress, !zstd};
    int bad = !s.h || sink_put(hdr, sizeof hdr, &s);
    if (!bad) bad = zstd ? sink_put(packed, packed_len, &s) : stream_payload(f, sink_put, &s);
    free(packed);
    if (!bad && fsync(fd) != 0) bad = 1;
    int err = errno;
    if (close(fd) != 0) bad = 1;
    uint8_t d[32];
    if (s.h) lli_sha256_final(s.h, d);
    if (bad) {
        if (lli_progress_cancelled(&c->progress)) return lli_fail(LLI_E_CANCELLED, "conversion cancelled");
        return lli_fail(LLI_E_IO, "cannot write %s: %s", path, s.h ? strerror(err) : "out of memory");
    }
    lli_sha256_hex(d, f->sha256);
    f->size = LLI_FRAG_HEADER_BYTES + (zstd ? packed_len : f->raw_size);
    return LLI_OK;
}

static void write_job(int64_t i, void *arg) {
    conv *c = arg;
    if (lli_progress_cancelled(&c->progress)) {
        c->status[i] = LLI_E_CANCELLED;
        snprintf(c->message[i], sizeof c->message[i], "conversion cancelled");
        return;
    }
    c->status[i] = write_fragment(c, i);
    if (c->status[i] != LLI_OK) lli_error_copy(c->message[i], sizeof c->message[i]);
}

static lli_status first_failure(conv *c) {
    for (int i = 0; i < c->n_frags; i++)
        if (c->status[i] != LLI_OK) return lli_fail(c->status[i], "%s", c->message[i]);
    return LLI_OK;
}

/* Also used by the GGUF cache to drop a damaged entry. */
void lli_remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

static lli_status write_manifest(conv *c, json_t *root) {
    json_t *frags = json_object_get(root, "fragments");
    for (int i = 0; i < c->n_frags; i++) {
        json_t *o = json_array_get(frags, (size_t)i);
        char file[48];
        snprintf(file, sizeof file, "%s.frag", c->frags[i].name);
        json_object_set_new(o, "file", json_string(file));
        json_object_set_new(o, "compression", json_string(c->p->compression == LLI_COMPRESS_ZSTD ? "zstd" : "none"));
        json_object_set_new(o, "size", json_integer((json_int_t)c->frags[i].size));
        json_object_set_new(o, "sha256", json_string(c->frags[i].sha256));
    }
    json_object_set_new(root, "model_id", json_string(c->model_id));
    char path[4300];
    snprintf(path, sizeof path, "%s/manifest.json", c->tmp_dir);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17));
    if (!text) return lli_fail(LLI_E_NOMEM, "out of memory writing the manifest");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int bad = fd < 0 || write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1) || fsync(fd) != 0;
    if (fd >= 0 && close(fd) != 0) bad = 1;
    free(text);
    if (bad) return lli_fail(LLI_E_IO, "cannot write %s: %s", path, strerror(errno));
    return LLI_OK;
}

static lli_status convert(conv *c, const char *gguf_path, const char *out_dir) {
    LLI_TRY(gguf_open(gguf_path, &c->g));
    gguf_str arch;
    if (gguf_get_str(c->g, "general.architecture", &arch) != 0 || arch.len == 0 || arch.len >= sizeof c->family)
        return lli_fail(LLI_E_FORMAT, "%s: general.architecture is missing or not a short string", gguf_path);
    memcpy(c->family, arch.ptr, arch.len);
    c->family[arch.len] = '\0';
    c->vocab_only = c->g->n_tensors == 0;
    if (!c->vocab_only && !lli_family_known(c->family))
        return lli_fail(LLI_E_UNSUPPORTED, "%s: architecture \"%s\" is not supported (supported: %s)", gguf_path, c->family,
                        lli_family_list());
    lli_status st = c->vocab_only ? LLI_OK : read_hparams(c);
    if (st == LLI_OK) st = check_texts(c);
    if (st == LLI_OK) st = build_tokenizer(c);
    if (st == LLI_OK) st = plan_fragments(c);
    if (st) return lli_fail_prefix(st, "%s: ", gguf_path);

    c->status = calloc((size_t)c->n_frags, sizeof *c->status);
    c->message = calloc((size_t)c->n_frags, sizeof *c->message);
    if (!c->status || !c->message) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_parallel_for(c->p->n_threads, c->n_frags, content_hash_job, c);
    LLI_TRY(first_failure(c));

    json_t *root = build_manifest(c);
    if (!root) return lli_fail(LLI_E_NOMEM, "out of memory building the manifest");
    st = lli_manifest_model_id(root, c->model_id);
    if (st == LLI_OK) {
        snprintf(c->tmp_dir, sizeof c->tmp_dir, "%s.partial-XXXXXX", out_dir);
        if (!mkdtemp(c->tmp_dir)) {
            st = lli_fail(LLI_E_IO, "cannot create a directory beside %s: %s", out_dir, strerror(errno));
            c->tmp_dir[0] = '\0';
        }
    }
    if (st == LLI_OK) {
        uint64_t total = 0;
        for (int i = 0; i < c->n_frags; i++) total += c->frags[i].raw_size;
        lli_progress_init(&c->progress, total, c->p->progress, c->p->progress_user);
        lli_parallel_for(c->p->n_threads, c->n_frags, write_job, c);
        lli_progress_destroy(&c->progress);
        st = first_failure(c);
    }
    if (st == LLI_OK) st = write_manifest(c, root);
    json_decref(root);
    if (st == LLI_OK && renameat2(AT_FDCWD, c->tmp_dir, AT_FDCWD, out_dir, RENAME_NOREPLACE) != 0)
        st = lli_fail(LLI_E_IO, "cannot rename %s to %s: %s", c->tmp_dir, out_dir, strerror(errno));
    if (st == LLI_OK) c->tmp_dir[0] = '\0';
    return st;
}

lli_status lli_convert_gguf(const char *gguf_path, const char *out_dir, const lli_convert_params *params) {
    if (!gguf_path || !out_dir || !*out_dir)
        return lli_fail(LLI_E_INVALID_ARG, "lli_convert_gguf: input path or output directory is NULL or empty");
    if (strlen(out_dir) > 4000) return lli_fail(LLI_E_INVALID_ARG, "lli_convert_gguf: output path is too long");
    struct lli_convert_params defaults;
    if (!params) {
        lli_convert_params_defaults(&defaults);
        params = &defaults;
    }
    struct stat sb;
    if (stat(out_dir, &sb) == 0) return lli_fail(LLI_E_IO, "output %s already exists; remove it or choose another", out_dir);
    conv c = {.p = params};
    lli_status st = convert(&c, gguf_path, out_dir);
    if (c.tmp_dir[0]) lli_remove_flat_dir(c.tmp_dir);
    for (int i = 0; c.frags && i < c.n_frags; i++) free(c.frags[i].pieces);
    free(c.frags);
    free(c.tok_blob);
    free(c.status);
    free(c.message);
    gguf_close(c.g);
    return st;
}
