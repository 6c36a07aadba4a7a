/* lli-mkgguf: write a GGUF model with random weights of a given shape, for tests and benchmarks.
 * The values mean nothing; the shapes, types, metadata and tokenizer layout are those of a real
 * model of the family, so the converter, loader and forward pass treat it as one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "gguf_write.h"
#include "tensor_types.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: lli-mkgguf OUT.gguf (--preset NAME | --arch FAMILY --n-embd N --n-ff N --n-head N --n-head-kv N\n"
            "                  --n-vocab N [--head-dim N]) [--layers N] [--type TYPE|q4_k_m] [--seed S] [--tied]\n"
            "                  [--ctx N] [--sliding-window N]\n"
            "Families: llama, qwen2, qwen3. Types: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k.\n"
            "Presets:");
    for (int i = 0; lli_preset_at(i); i++) fprintf(f, " %s", lli_preset_at(i)->name);
    fputc('\n', f);
}

typedef struct spec {
    const char *family;
    int64_t n_embd, n_ff, n_head, n_head_kv, n_vocab, head_dim, n_layer, ctx, sliding_window;
    int tied, type, mix_q4_k_m;
    uint64_t seed;
} spec;

static int die(const char *msg, const char *arg) {
    fprintf(stderr, "lli-mkgguf: %s%s\n", msg, arg ? arg : "");
    return 2;
}

/* GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are moved to
 * code points from 256 up, so that every byte has a visible one-character token. */
static void byte_token(int b, char out[8]) {
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
    else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
}

static int add_tokenizer(gguf_writer *w, const spec *s) {
    size_t n = (size_t)s->n_vocab;
    char **tok = calloc(n, sizeof *tok);
    int32_t *type = calloc(n, sizeof *type);
    if (!tok || !type) return -1;
    static const char *special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (size_t i = 0; i < n; i++) {
        tok[i] = malloc(24);
        if (!tok[i]) return -1;
        if (i < 3) snprintf(tok[i], 24, "%s", special[i]), type[i] = 3;
        else if (i < 3 + 256) byte_token((int)i - 3, tok[i]), type[i] = 1;
        else snprintf(tok[i], 24, "tok%zu", i), type[i] = 1;
    }
    /* Merges of pairs of single-character tokens into filler tokens would need the fillers to be
     * those pairs; a few merges of printable characters keep the list non-empty and valid. */
    const char *merges[] = {"a b", "c d", "e f"};
    int rc = gguf_writer_str(w, "tokenizer.ggml.model", "gpt2") ||
             gguf_writer_str(w, "tokenizer.ggml.pre", strcmp(s->family, "llama") ? "qwen2" : "default") ||
             gguf_writer_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, n) ||
             gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", type, n) ||
             gguf_writer_arr_str(w, "tokenizer.ggml.merges", merges, 3) ||
             gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1) || gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
             gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", 0);
    for (size_t i = 0; i < n; i++) free(tok[i]);
    free(tok);
    free(type);
    return rc;
}

static int weight_type(const spec *s, const char *name) {
    if (!s->mix_q4_k_m) return s->type;
    /* The usual Q4_K_M mix: the most sensitive matrices get 6 bits. */
    if (strstr(name, "attn_v.weight") || strstr(name, "ffn_down.weight") || !strcmp(name, "output.weight"))
        return LLI_TT_Q6_K;
    return LLI_TT_Q4_K;
}

static int add_tensor(gguf_writer *w, const spec *s, const char *name, int n_dims, int64_t a, int64_t b, uint64_t *seed) {
    int64_t ne[4] = {a, b, 1, 1};
    int is_norm = n_dims == 1;
    int type = is_norm ? LLI_TT_F32 : weight_type(s, name);
    if (gguf_writer_tensor(w, name, type, n_dims, ne, (*seed)++, is_norm && strstr(name, "norm") ? 1.0f : 0.0f,
                           is_norm ? (strstr(name, "norm") ? 0.1f : 0.02f) : 0.02f)) {
        fprintf(stderr, "lli-mkgguf: tensor %s [%" PRId64 ", %" PRId64 "] does not fit type %s\n", name, a, b,
                lli_ttype_by_id(type)->name);
        return -1;
    }
    return 0;
}

static void progress(uint64_t done, uint64_t total, void *arg) {
    (void)arg;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\rwriting %.1f / %.1f MiB", done / 1048576.0, total / 1048576.0);
}

int main(int argc, char **argv) {
    spec s = {.family = NULL, .type = LLI_TT_Q4_K, .seed = 1, .ctx = 4096, .n_layer = -1};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NUM(flag, field)                                                                                   \
    if (!strcmp(a, flag)) {                                                                                \
        if (!v) return die("missing value for ", a);                                                       \
        s.field = strtoll(v, NULL, 10);                                                                    \
        i++;                                                                                               \
        continue;                                                                                          \
    }
        NUM("--n-embd", n_embd) NUM("--n-ff", n_ff) NUM("--n-head", n_head) NUM("--n-head-kv", n_head_kv)
        NUM("--n-vocab", n_vocab) NUM("--head-dim", head_dim) NUM("--layers", n_layer) NUM("--ctx", ctx)
        NUM("--sliding-window", sliding_window)
        if (!strcmp(a, "--seed") && v) { s.seed = strtoull(v, NULL, 10); i++; continue; }
        if (!strcmp(a, "--tied")) { s.tied = 1; continue; }
        if (!strcmp(a, "--arch") && v) { s.family = v; i++; continue; }
        if (!strcmp(a, "--preset") && v) {
            const lli_preset *p = lli_preset_by_name(v);
            if (!p) return die("unknown preset ", v);
            s.family = p->family, s.n_embd = p->n_embd, s.n_ff = p->n_ff, s.n_head = p->n_head;
            s.n_head_kv = p->n_head_kv, s.n_vocab = p->n_vocab, s.head_dim = p->head_dim;
            if (s.n_layer < 0) s.n_layer = p->n_layer;
            i++;
            continue;
        }
        if (!strcmp(a, "--type") && v) {
            if (!strcmp(v, "q4_k_m")) s.mix_q4_k_m = 1;
            else if (!lli_ttype_by_name(v)) return die("unknown type ", v);
            else s.type = lli_ttype_by_name(v)->id;
            i++;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (a[0] == '-' || out) { usage(stderr); return 2; }
        out = a;
    }
    if (!out || !s.family || !lli_family_known(s.family) || s.n_embd <= 0 || s.n_ff <= 0 || s.n_head <= 0 ||
        s.n_head_kv <= 0 || s.n_vocab < 259) {
        usage(stderr);
        return die("need an output file, a known family, positive sizes and at least 259 tokens", NULL);
    }
    if (s.n_layer < 0) s.n_layer = 2;
    if (!s.head_dim) s.head_dim = s.n_embd / s.n_head;
    const char *f = s.family;
    char key[128], name[128];
    gguf_writer *w = gguf_writer_new();
    int bad = !w;
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", f, suffix), key)
    bad = bad || gguf_writer_str(w, "general.architecture", f) || gguf_writer_str(w, "general.name", "random weights") ||
          gguf_writer_u32(w, KEY("block_count"), (uint32_t)s.n_layer) ||
          gguf_writer_u32(w, KEY("context_length"), (uint32_t)s.ctx) ||
          gguf_writer_u32(w, KEY("embedding_length"), (uint32_t)s.n_embd) ||
          gguf_writer_u32(w, KEY("feed_forward_length"), (uint32_t)s.n_ff) ||
          gguf_writer_u32(w, KEY("attention.head_count"), (uint32_t)s.n_head) ||
          gguf_writer_u32(w, KEY("attention.head_count_kv"), (uint32_t)s.n_head_kv) ||
          gguf_writer_f32(w, KEY("rope.freq_base"), strcmp(f, "llama") ? 1000000.0f : 10000.0f) ||
          gguf_writer_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f) ||
          gguf_writer_u32(w, KEY("vocab_size"), (uint32_t)s.n_vocab) ||
          gguf_writer_u32(w, KEY("rope.dimension_count"), (uint32_t)s.head_dim);
    if (!bad && s.head_dim != s.n_embd / s.n_head)
        bad = gguf_writer_u32(w, KEY("attention.key_length"), (uint32_t)s.head_dim) ||
              gguf_writer_u32(w, KEY("attention.value_length"), (uint32_t)s.head_dim);
    if (!bad && s.sliding_window) bad = gguf_writer_u32(w, KEY("attention.sliding_window"), (uint32_t)s.sliding_window);
    bad = bad || add_tokenizer(w, &s);
    uint64_t seed = s.seed * 1000003u;
    const int64_t q = s.n_head * s.head_dim, kv = s.n_head_kv * s.head_dim;
    bad = bad || add_tensor(w, &s, "token_embd.weight", 2, s.n_embd, s.n_vocab, &seed);
    for (int64_t l = 0; !bad && l < s.n_layer; l++) {
#define T(suffix, nd, a, b) (snprintf(name, sizeof name, "blk.%" PRId64 ".%s", l, suffix), add_tensor(w, &s, name, nd, a, b, &seed))
        bad = T("attn_norm.weight", 1, s.n_embd, 1) || T("attn_q.weight", 2, s.n_embd, q) ||
              T("attn_k.weight", 2, s.n_embd, kv) || T("attn_v.weight", 2, s.n_embd, kv) ||
              T("attn_output.weight", 2, q, s.n_embd) || T("ffn_norm.weight", 1, s.n_embd, 1) ||
              T("ffn_gate.weight", 2, s.n_embd, s.n_ff) || T("ffn_up.weight", 2, s.n_embd, s.n_ff) ||
              T("ffn_down.weight", 2, s.n_ff, s.n_embd);
        if (!bad && !strcmp(f, "qwen2"))
            bad = T("attn_q.bias", 1, q, 1) || T("attn_k.bias", 1, kv, 1) || T("attn_v.bias", 1, kv, 1);
        if (!bad && !strcmp(f, "qwen3"))
            bad = T("attn_q_norm.weight", 1, s.head_dim, 1) || T("attn_k_norm.weight", 1, s.head_dim, 1);
    }
    bad = bad || add_tensor(w, &s, "output_norm.weight", 1, s.n_embd, 1, &seed);
    if (!bad && !s.tied) bad = add_tensor(w, &s, "output.weight", 2, s.n_embd, s.n_vocab, &seed);
    if (!bad && gguf_writer_write(w, out, progress, NULL)) {
        perror(out);
        bad = 1;
    }
    if (isatty(STDERR_FILENO)) fputc('\n', stderr);
    gguf_writer_free(w);
    return bad ? 1 : 0;
}
