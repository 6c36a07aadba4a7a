#include "format/manifest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "base/sha256.h"

/* Limits that no real model reaches; they keep every later multiplication far from overflow. */
#define MAX_DIM ((int64_t)1 << 40)
#define MAX_HPARAM ((int64_t)1 << 24)
#define MAX_BYTES ((uint64_t)1 << 50)
#define MAX_MANIFEST_BYTES ((long)256 << 20)

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- typed field access, each failure naming the field's path --------------------------------- */

static const json_t *field(const json_t *obj, const char *key, const char *path, lli_status *st) {
    const json_t *v = json_object_get(obj, key);
    if (!v) *st = lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s is missing", path, *path ? "." : "", key);
    return v;
}

static lli_status get_int(const json_t *obj, const char *key, const char *path, int64_t lo, int64_t hi,
                          int64_t *out) {
    lli_status st = LLI_OK;
    const json_t *v = field(obj, key, path, &st);
    if (!v) return st;
    if (!json_is_integer(v))
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s must be an integer", path, *path ? "." : "", key);
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s = %lld is out of range [%lld, %lld]", path,
                        *path ? "." : "", key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return LLI_OK;
}

static lli_status get_real(const json_t *obj, const char *key, const char *path, double *out) {
    lli_status st = LLI_OK;
    const json_t *v = field(obj, key, path, &st);
    if (!v) return st;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s must be a finite number", path, *path ? "." : "", key);
    *out = json_number_value(v);
    return LLI_OK;
}

static lli_status get_bool(const json_t *obj, const char *key, const char *path, int *out) {
    lli_status st = LLI_OK;
    const json_t *v = field(obj, key, path, &st);
    if (!v) return st;
    if (!json_is_boolean(v))
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s must be true or false", path, *path ? "." : "", key);
    *out = json_is_true(v);
    return LLI_OK;
}

static lli_status get_str(const json_t *obj, const char *key, const char *path, const char **out) {
    lli_status st = LLI_OK;
    const json_t *v = field(obj, key, path, &st);
    if (!v) return st;
    if (!json_is_string(v))
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s%s%s must be a string", path, *path ? "." : "", key);
    *out = json_string_value(v);
    return LLI_OK;
}

static lli_status get_hex(const json_t *obj, const char *key, const char *path, size_t n, char *out) {
    const char *s = NULL;
    lli_status st = get_str(obj, key, path, &s);
    if (st) return st;
    if (strlen(s) != n || strspn(s, "0123456789abcdef") != n)
        return lli_fail(LLI_E_FORMAT, "manifest.json: %s.%s must be %zu lower-case hex digits", path, key, n);
    memcpy(out, s, n + 1);
    return LLI_OK;
}

/* ---- sections ---------------------------------------------------------------------------------- */

static lli_status parse_hparams(const json_t *root, lli_manifest *m) {
    lli_status st = LLI_OK;
    const json_t *h = field(root, "hparams", "", &st);
    if (!h) return st;
    if (!json_is_object(h)) return lli_fail(LLI_E_FORMAT, "manifest.json: hparams must be an object");
    lli_hparams *hp = &m->hp;
    const char *p = "hparams";
    LLI_TRY(get_int(h, "n_vocab", p, 1, MAX_HPARAM, &hp->n_vocab));
    if (m->vocab_only) return LLI_OK; /* a tokenizer needs nothing else */
    LLI_TRY(get_int(h, "n_ctx_train", p, 1, MAX_HPARAM, &hp->n_ctx_train));
    LLI_TRY(get_int(h, "n_embd", p, 1, MAX_HPARAM, &hp->n_embd));
    LLI_TRY(get_int(h, "n_ff", p, 1, MAX_HPARAM, &hp->n_ff));
    LLI_TRY(get_int(h, "n_layer", p, 1, 4096, &hp->n_layer));
    LLI_TRY(get_int(h, "n_head", p, 1, 4096, &hp->n_head));
    LLI_TRY(get_int(h, "n_head_kv", p, 1, hp->n_head, &hp->n_head_kv));
    if (hp->n_head % hp->n_head_kv != 0)
        return lli_fail(LLI_E_FORMAT, "manifest.json: hparams.n_head (%lld) is not a multiple of n_head_kv (%lld)",
                        (long long)hp->n_head, (long long)hp->n_head_kv);
    LLI_TRY(get_int(h, "head_dim", p, 2, 4096, &hp->head_dim));
    LLI_TRY(get_int(h, "rope_dim", p, 0, hp->head_dim, &hp->rope_dim));
    LLI_TRY(get_real(h, "rope_freq_base", p, &hp->rope_freq_base));
    LLI_TRY(get_bool(h, "rope_neox", p, &hp->rope_neox));
    const char *scaling = NULL;
    LLI_TRY(get_str(h, "rope_scaling", p, &scaling));
    if (strcmp(scaling, "none") && strcmp(scaling, "linear") && strcmp(scaling, "yarn") && strcmp(scaling, "llama3"))
        return lli_fail(LLI_E_UNSUPPORTED, "manifest.json: hparams.rope_scaling \"%s\" is not one of none, linear, yarn, llama3",
                        scaling);
    snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "%s", scaling);
    LLI_TRY(get_real(h, "rope_scale_factor", p, &hp->rope_scale_factor));
    LLI_TRY(get_int(h, "rope_orig_ctx", p, 0, MAX_HPARAM, &hp->rope_orig_ctx));
    LLI_TRY(get_real(h, "rope_low_freq_factor", p, &hp->rope_low_freq_factor));
    LLI_TRY(get_real(h, "rope_high_freq_factor", p, &hp->rope_high_freq_factor));
    LLI_TRY(get_real(h, "rms_eps", p, &hp->rms_eps));
    if (!(hp->rms_eps > 0) || !(hp->rope_freq_base > 0) || !(hp->rope_scale_factor > 0))
        return lli_fail(LLI_E_FORMAT, "manifest.json: hparams.rms_eps, rope_freq_base and rope_scale_factor must be positive");
    LLI_TRY(get_int(h, "sliding_window", p, 0, MAX_HPARAM, &hp->sliding_window));
    LLI_TRY(get_bool(h, "tied_embeddings", p, &hp->tied_embeddings));
    LLI_TRY(get_bool(h, "qkv_bias", p, &hp->qkv_bias));
    LLI_TRY(get_bool(h, "qk_norm", p, &hp->qk_norm));
    return LLI_OK;
}

static lli_status parse_fragment_name(lli_mf_fragment *f, int64_t n_layer, int vocab_only) {
    int layer = -1, used = 0;
    if (!strcmp(f->name, "tokenizer")) f->kind = LLI_FRAG_TOKENIZER;
    else if (!strcmp(f->name, "embed")) f->kind = LLI_FRAG_EMBED;
    else if (!strcmp(f->name, "head")) f->kind = LLI_FRAG_HEAD;
    else if (sscanf(f->name, "layer-%d%n", &layer, &used) == 1 && f->name[used] == '\0' && layer >= 0) {
        f->kind = LLI_FRAG_LAYER;
        f->layer = layer;
        if (vocab_only || layer >= n_layer)
            return lli_fail(LLI_E_FORMAT, "manifest.json: fragment %s is beyond the model's %lld layers", f->name,
                            (long long)(vocab_only ? 0 : n_layer));
    } else
        return lli_fail(LLI_E_FORMAT, "manifest.json: fragment name \"%s\" is not tokenizer, embed, head or layer-NNN",
                        f->name);
    return LLI_OK;
}

static lli_status parse_fragments(const json_t *root, lli_manifest *m) {
    lli_status st = LLI_OK;
    const json_t *arr = field(root, "fragments", "", &st);
    if (!arr) return st;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return lli_fail(LLI_E_FORMAT, "manifest.json: fragments must be a non-empty array");
    size_t n = json_array_size(arr);
    if (n > 8192) return lli_fail(LLI_E_FORMAT, "manifest.json: %zu fragments is more than the 8192 allowed", n);
    m->fragments = calloc(n, sizeof *m->fragments);
    if (!m->fragments) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    m->n_fragments = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "fragments[%zu]", i);
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) return lli_fail(LLI_E_FORMAT, "manifest.json: %s must be an object", path);
        lli_mf_fragment *f = &m->fragments[i];
        const char *s = NULL;
        LLI_TRY(get_str(o, "name", path, &s));
        if (!(f->name = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
        LLI_TRY(get_str(o, "file", path, &s));
        /* The file must stay inside the model directory. */
        if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 200)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s.file \"%s\" is not a plain file name", path, s);
        if (!(f->file = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
        LLI_TRY(get_str(o, "compression", path, &s));
        if (!strcmp(s, "none")) f->compression = LLI_COMPRESS_NONE;
        else if (!strcmp(s, "zstd")) f->compression = LLI_COMPRESS_ZSTD;
        else return lli_fail(LLI_E_UNSUPPORTED, "manifest.json: %s.compression \"%s\" is not none or zstd", path, s);
        int64_t size, raw;
        LLI_TRY(get_int(o, "size", path, 256, (int64_t)MAX_BYTES, &size));
        LLI_TRY(get_int(o, "raw_size", path, 0, (int64_t)MAX_BYTES, &raw));
        f->size = (uint64_t)size;
        f->raw_size = (uint64_t)raw;
        if (f->compression == LLI_COMPRESS_NONE && f->size != 256 + f->raw_size)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s (%s) is uncompressed, so size must be raw_size + 256", path,
                            f->name);
        LLI_TRY(get_hex(o, "sha256", path, 64, f->sha256));
        LLI_TRY(get_hex(o, "content_sha256", path, 64, f->content_sha256));
        LLI_TRY(parse_fragment_name(f, m->hp.n_layer, m->vocab_only));
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->fragments[j].name, f->name) || !strcmp(m->fragments[j].file, f->file))
                return lli_fail(LLI_E_FORMAT, "manifest.json: fragment %s appears twice", f->name);
    }
    /* Every layer must have its fragment, or a loader could not tell a lost one from a missing one. */
    for (int64_t l = 0; !m->vocab_only && l < m->hp.n_layer; l++) {
        int found = 0;
        for (int64_t i = 0; i < m->n_fragments; i++)
            found |= m->fragments[i].kind == LLI_FRAG_LAYER && m->fragments[i].layer == l;
        if (!found) return lli_fail(LLI_E_FORMAT, "manifest.json: no fragment holds layer %lld", (long long)l);
    }
    return LLI_OK;
}

int lli_mf_find_fragment(const lli_manifest *m, const char *name) {
    for (int64_t i = 0; i < m->n_fragments; i++)
        if (!strcmp(m->fragments[i].name, name)) return (int)i;
    return -1;
}

static lli_status parse_tensors(const json_t *root, lli_manifest *m) {
    lli_status st = LLI_OK;
    const json_t *arr = field(root, "tensors", "", &st);
    if (!arr) return st;
    if (!json_is_array(arr)) return lli_fail(LLI_E_FORMAT, "manifest.json: tensors must be an array");
    size_t n = json_array_size(arr);
    if (n > 1000000) return lli_fail(LLI_E_FORMAT, "manifest.json: %zu tensors is too many", n);
    if (m->vocab_only && n) return lli_fail(LLI_E_FORMAT, "manifest.json: a vocab-only model has tensors");
    m->tensors = calloc(n ? n : 1, sizeof *m->tensors);
    if (!m->tensors) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    m->n_tensors = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "tensors[%zu]", i);
        const json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) return lli_fail(LLI_E_FORMAT, "manifest.json: %s must be an object", path);
        lli_mf_tensor *t = &m->tensors[i];
        const char *s = NULL;
        LLI_TRY(get_str(o, "name", path, &s));
        if (!(t->name = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
        snprintf(path, sizeof path, "tensors[%zu] (%.24s)", i, t->name);
        LLI_TRY(get_str(o, "type", path, &s));
        if (!(t->type = lli_ttype_by_name(s)))
            return lli_fail(LLI_E_UNSUPPORTED, "manifest.json: %s has unsupported type \"%s\"", path, s);
        const json_t *shape = field(o, "shape", path, &st);
        if (!shape) return st;
        if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 4)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s.shape must be an array of 1 to 4 integers", path);
        t->n_dims = (int)json_array_size(shape);
        int64_t rows = 1;
        for (int d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            const json_t *x = json_array_get(shape, (size_t)d);
            if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > MAX_DIM)
                return lli_fail(LLI_E_FORMAT, "manifest.json: %s.shape[%d] must be a positive integer below 2^40", path, d);
            t->ne[d] = json_integer_value(x);
            if (d > 0) {
                if (rows > (int64_t)(MAX_BYTES / (uint64_t)t->ne[d]))
                    return lli_fail(LLI_E_FORMAT, "manifest.json: %s.shape is too large", path);
                rows *= t->ne[d];
            }
        }
        t->bytes = lli_ttype_bytes(t->type, t->ne[0], rows);
        if (t->bytes == 0 || t->bytes > MAX_BYTES)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s.shape does not fit type %s (rows of %lld elements)", path,
                            t->type->name, (long long)t->ne[0]);
        LLI_TRY(get_str(o, "fragment", path, &s));
        t->fragment = lli_mf_find_fragment(m, s);
        if (t->fragment < 0) return lli_fail(LLI_E_FORMAT, "manifest.json: %s names fragment \"%s\", which is not listed", path, s);
        int64_t off;
        LLI_TRY(get_int(o, "offset", path, 0, (int64_t)MAX_BYTES, &off));
        t->offset = (uint64_t)off;
        const lli_mf_fragment *f = &m->fragments[t->fragment];
        if (t->offset % LLI_TENSOR_ALIGN != 0)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s.offset %llu is not a multiple of %d", path,
                            (unsigned long long)t->offset, LLI_TENSOR_ALIGN);
        if (t->offset + t->bytes > f->raw_size)
            return lli_fail(LLI_E_FORMAT, "manifest.json: %s (bytes %llu..%llu) lies past the end of fragment %s (%llu bytes)",
                            path, (unsigned long long)t->offset, (unsigned long long)(t->offset + t->bytes), f->name,
                            (unsigned long long)f->raw_size);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->tensors[j].name, t->name))
                return lli_fail(LLI_E_FORMAT, "manifest.json: tensor %s appears twice", t->name);
    }
    return LLI_OK;
}

static lli_status parse_tokenizer(const json_t *root, lli_manifest *m) {
    lli_status st = LLI_OK;
    const json_t *o = field(root, "tokenizer", "", &st);
    if (!o) return st;
    if (!json_is_object(o)) return lli_fail(LLI_E_FORMAT, "manifest.json: tokenizer must be an object");
    lli_mf_tokenizer *t = &m->tok;
    const char *p = "tokenizer", *s = NULL;
    LLI_TRY(get_str(o, "model", p, &s));
    if (!(t->model = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    LLI_TRY(get_str(o, "pre", p, &s));
    if (!(t->pre = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    LLI_TRY(get_str(o, "chat_template", p, &s));
    if (!(t->chat_template = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    LLI_TRY(get_str(o, "fragment", p, &s));
    t->fragment = lli_mf_find_fragment(m, s);
    if (t->fragment < 0 || m->fragments[t->fragment].kind != LLI_FRAG_TOKENIZER)
        return lli_fail(LLI_E_FORMAT, "manifest.json: tokenizer.fragment \"%s\" is not a listed tokenizer fragment", s);
    LLI_TRY(get_int(o, "n_tokens", p, 1, MAX_HPARAM, &t->n_tokens));
    LLI_TRY(get_int(o, "n_merges", p, 0, MAX_HPARAM, &t->n_merges));
    LLI_TRY(get_int(o, "bos", p, -1, t->n_tokens - 1, &t->bos));
    LLI_TRY(get_int(o, "eos", p, -1, t->n_tokens - 1, &t->eos));
    LLI_TRY(get_int(o, "unk", p, -1, t->n_tokens - 1, &t->unk));
    LLI_TRY(get_int(o, "pad", p, -1, t->n_tokens - 1, &t->pad));
    LLI_TRY(get_bool(o, "add_bos", p, &t->add_bos));
    LLI_TRY(get_bool(o, "add_eos", p, &t->add_eos));
    LLI_TRY(get_bool(o, "add_space_prefix", p, &t->add_space_prefix));
    return LLI_OK;
}

static lli_status parse_root(const json_t *root, lli_manifest *m) {
    if (!json_is_object(root)) return lli_fail(LLI_E_FORMAT, "manifest.json: the top level must be an object");
    const char *s = NULL;
    LLI_TRY(get_str(root, "format", "", &s));
    if (strcmp(s, LLI_FORMAT_NAME))
        return lli_fail(LLI_E_FORMAT, "manifest.json: format is \"%s\", not \"%s\"", s, LLI_FORMAT_NAME);
    int64_t version;
    LLI_TRY(get_int(root, "format_version", "", 1, INT32_MAX, &version));
    if (version != LLI_FORMAT_VERSION)
        return lli_fail(LLI_E_UNSUPPORTED, "manifest.json: format_version %lld is newer than this library reads (%d)",
                        (long long)version, LLI_FORMAT_VERSION);
    LLI_TRY(get_hex(root, "model_id", "", 32, m->model_id));
    LLI_TRY(get_bool(root, "vocab_only", "", &m->vocab_only));
    LLI_TRY(get_str(root, "architecture", "", &s));
    if (!(m->family = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    if (!m->vocab_only && !lli_family_known(s))
        return lli_fail(LLI_E_UNSUPPORTED, "manifest.json: architecture \"%s\" is not supported (supported: %s)", s,
                        lli_family_list());
    const json_t *preset = json_object_get(root, "preset");
    if (preset && !json_is_null(preset)) {
        if (!json_is_string(preset)) return lli_fail(LLI_E_FORMAT, "manifest.json: preset must be a string or null");
        if (!(m->preset = dup_str(json_string_value(preset))))
            return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    }
    LLI_TRY(get_str(root, "name", "", &s));
    if (!(m->name = dup_str(s))) return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    LLI_TRY(parse_hparams(root, m));
    LLI_TRY(parse_fragments(root, m));
    LLI_TRY(parse_tokenizer(root, m));
    if (m->tok.n_tokens != m->hp.n_vocab)
        return lli_fail(LLI_E_FORMAT, "manifest.json: tokenizer.n_tokens (%lld) differs from hparams.n_vocab (%lld)",
                        (long long)m->tok.n_tokens, (long long)m->hp.n_vocab);
    LLI_TRY(parse_tensors(root, m));

    if (!m->vocab_only) {
        m->detected = lli_preset_detect(m->family, &m->hp);
        if (m->preset && (!m->detected || strcmp(m->preset, m->detected->name)))
            return lli_fail(LLI_E_MISMATCH, "architecture mismatch: the manifest names %s, but its hyperparameters are %s",
                            m->preset, m->detected ? m->detected->name : "no known preset's");
    }
    char id[33];
    LLI_TRY(lli_manifest_model_id(root, id));
    if (strcmp(id, m->model_id))
        return lli_fail(LLI_E_FORMAT, "manifest.json: model_id %s does not match its contents (%s): the manifest was edited",
                        m->model_id, id);
    return LLI_OK;
}

lli_status lli_manifest_model_id(const json_t *root, char out[33]) {
    json_t *copy = json_deep_copy(root);
    if (!copy) return lli_fail(LLI_E_NOMEM, "out of memory computing the model id");
    json_object_del(copy, "model_id");
    json_t *frags = json_object_get(copy, "fragments");
    for (size_t i = 0; json_is_array(frags) && i < json_array_size(frags); i++) {
        json_t *f = json_array_get(frags, i);
        json_object_del(f, "file");
        json_object_del(f, "compression");
        json_object_del(f, "size");
        json_object_del(f, "sha256");
    }
    char *text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17));
    json_decref(copy);
    if (!text) return lli_fail(LLI_E_NOMEM, "out of memory computing the model id");
    char hex[65];
    int rc = lli_sha256_buffer_hex(text, strlen(text), hex);
    free(text);
    if (rc) return lli_fail(LLI_E_NOMEM, "out of memory computing the model id");
    memcpy(out, hex, 32);
    out[32] = '\0';
    return LLI_OK;
}

lli_status lli_manifest_parse(const char *text, size_t len, lli_manifest **out) {
    *out = NULL;
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    /* Jansson reports a failed allocation with its own code, or (when a value's allocation
     * fails) with no message at all; every syntax error has a message. */
    if (!root && (json_error_code(&err) == json_error_out_of_memory || !err.text[0]))
        return lli_fail(LLI_E_NOMEM, "out of memory parsing manifest.json");
    if (!root)
        return lli_fail(LLI_E_FORMAT, "manifest.json: not valid JSON: %s (line %d, column %d)", err.text, err.line,
                        err.column);
    lli_manifest *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(root);
        return lli_fail(LLI_E_NOMEM, "out of memory reading the manifest");
    }
    lli_status st = parse_root(root, m);
    json_decref(root);
    if (st) {
        lli_manifest_free(m);
        return st;
    }
    *out = m;
    return LLI_OK;
}

lli_status lli_manifest_read(const char *dir, lli_manifest **out) {
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/manifest.json", dir) >= sizeof path)
        return lli_fail(LLI_E_INVALID_ARG, "model path is too long");
    uint8_t *text;
    size_t len;
    LLI_TRY(lli_read_regular(path, MAX_MANIFEST_BYTES, &text, &len));
    lli_status st = lli_manifest_parse((const char *)text, len, out);
    free(text);
    if (st) lli_fail_prefix(st, "%s: ", dir);
    return st;
}

const char *lli_manifest_arch_name(const lli_manifest *m) { return m->detected ? m->detected->name : m->family; }

void lli_manifest_free(lli_manifest *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n_tensors; i++) free(m->tensors[i].name);
    for (int64_t i = 0; m->fragments && i < m->n_fragments; i++) {
        free(m->fragments[i].name);
        free(m->fragments[i].file);
    }
    free(m->tensors);
    free(m->fragments);
    free(m->family);
    free(m->preset);
    free(m->name);
    free(m->tok.model);
    free(m->tok.pre);
    free(m->tok.chat_template);
    free(m);
}
