/* lli-mkgguf: write a GGUF model with random weights of a given shape, for tests and benchmarks.
 * The values mean nothing; the shapes, types, metadata and tokenizer layout are those of a real
 * model of the family, so the converter, loader and forward pass treat it as one. Tensor data is
 * generated while the file is written, so a 7B-shaped model needs little memory. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/arch.h"
#include "format/gguf_write.h"
#include "format/tensor_types.h"
#include "args.h"

/* Shape values: -1 until given. */
typedef struct spec {
    const char *family, *preset;
    int64_t n_embd, n_ff, n_head, n_head_kv, n_vocab, head_dim, n_layer, ctx, sliding_window;
    int tied, type, mix_q4_k_m;
    uint64_t seed;
    float std; /* of the weight matrices (0: the default) */
} spec;

static int die(const char *fmt, const char *arg) {
    fprintf(stderr, "lli-mkgguf: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fputc('\n', stderr);
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

enum { N_SPECIAL = 3, FIRST_MERGED = N_SPECIAL + 256, MAX_MERGES = 500 };

/* The vocabulary: SmolLM2's layout (specials at 0-2, bos 1 and eos 2), the 256 byte characters,
 * then tokens made by merges, then filler. Each merge joins two tokens already in the vocabulary
 * and its result is a token too, so byte-level BPE over it is valid: first space + letter ("Ġa"),
 * then letter pairs ("ab") alternating with space + letter pairs ("Ġab"), as far as the vocabulary
 * and MAX_MERGES allow. Returns the number of merges, or -1 when out of memory. */
static int64_t make_vocab(size_t n, char **tok, int32_t *type, char **merges) {
    static const char *special[N_SPECIAL] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const char *sp = "\xc4\xa0"; /* "Ġ": the byte character of the space */
    size_t n_merges = n - FIRST_MERGED < MAX_MERGES ? n - FIRST_MERGED : MAX_MERGES, m = 0;
    for (size_t i = 0; i < n; i++) {
        tok[i] = malloc(32);
        if (!tok[i]) return -1;
        type[i] = 1;
        if (i < N_SPECIAL) snprintf(tok[i], 32, "%s", special[i]), type[i] = 3;
        else if (i < FIRST_MERGED) byte_token((int)i - N_SPECIAL, tok[i]);
        else if (i >= FIRST_MERGED + n_merges) snprintf(tok[i], 32, "tok%zu", i);
    }
    for (int k = 0; m < n_merges; k++) {
        char a[8], b[8];
        if (k < 26) {
            snprintf(a, sizeof a, "%s", sp), snprintf(b, sizeof b, "%c", 'a' + k);
        } else {
            int pair = (k - 26) / 2, x = pair / 26 % 26, y = pair % 26;
            if ((k - 26) % 2 == 0) snprintf(a, sizeof a, "%c", 'a' + x);
            else snprintf(a, sizeof a, "%s%c", sp, 'a' + x);
            snprintf(b, sizeof b, "%c", 'a' + y);
        }
        if (!(merges[m] = malloc(24))) return -1;
        snprintf(merges[m], 24, "%s %s", a, b);
        snprintf(tok[FIRST_MERGED + m], 32, "%s%s", a, b);
        m++;
    }
    return (int64_t)m;
}

static int add_tokenizer(gguf_writer *w, const spec *s) {
    size_t n = (size_t)s->n_vocab;
    char **tok = calloc(n, sizeof *tok), **merges = calloc(MAX_MERGES, sizeof *merges);
    int32_t *type = calloc(n, sizeof *type);
    int64_t n_merges = tok && merges && type ? make_vocab(n, tok, type, merges) : -1;
    const char *pre = !strcmp(s->family, "llama") ? "default" : "qwen2";
    int rc = n_merges < 0 || gguf_writer_str(w, "tokenizer.ggml.model", "gpt2") ||
             gguf_writer_str(w, "tokenizer.ggml.pre", pre) ||
             gguf_writer_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, n) ||
             gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", type, n) ||
             gguf_writer_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (size_t)n_merges) ||
             gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1) || gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
             gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", 0);
    for (size_t i = 0; tok && i < n; i++) free(tok[i]);
    for (size_t i = 0; merges && i < MAX_MERGES; i++) free(merges[i]);
    free(tok), free(merges), free(type);
    if (rc) fprintf(stderr, "lli-mkgguf: out of memory for the tokenizer\n");
    return rc;
}

/* llama.cpp's substitutes when a row is not a whole number of 256-element super-blocks. */
static int fallback(int type) {
    switch (type) {
    case LLI_TT_Q4_K: return LLI_TT_Q5_0;
    case LLI_TT_Q6_K: return LLI_TT_Q8_0;
    default: return LLI_TT_F16;
    }
}

static int weight_type(const spec *s, const char *name, int64_t ne0) {
    if (!s->mix_q4_k_m) return s->type;
    /* The usual Q4_K_M mix: the most sensitive matrices get 6 bits. */
    int t = strstr(name, "attn_v.weight") || strstr(name, "ffn_down.weight") || !strcmp(name, "output.weight") ? LLI_TT_Q6_K
                                                                                                                : LLI_TT_Q4_K;
    while (ne0 % lli_ttype_by_id(t)->block) t = fallback(t);
    return t;
}

static int add_tensor(gguf_writer *w, const spec *s, const char *name, int n_dims, int64_t a, int64_t b, uint64_t *seed) {
    int64_t ne[4] = {a, b, 1, 1};
    int is_norm = n_dims == 1 && strstr(name, "norm");
    int type = n_dims == 1 ? LLI_TT_F32 : weight_type(s, name, a);
    const lli_ttype_info *tt = lli_ttype_by_id(type);
    if (a % tt->block) {
        fprintf(stderr, "lli-mkgguf: tensor %s has rows of %" PRId64 " elements, not a multiple of %s's block of %u%s\n",
                name, a, tt->name, tt->block, tt->block == 256 ? " (try --type q4_k_m, which falls back as llama.cpp does)" : "");
        return -1;
    }
    /* Norm weights near 1 as in trained models; everything else small and centred. */
    float sd = s->std > 0 ? s->std : 0.02f;
    if (gguf_writer_tensor(w, name, type, n_dims, ne, (*seed)++, is_norm ? 1.0f : 0.0f, is_norm ? 0.1f : sd)) {
        fprintf(stderr, "lli-mkgguf: cannot add tensor %s: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t g_total;

static void progress(uint64_t done, uint64_t total, void *arg) {
    (void)arg;
    g_total = total;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\rwriting %.1f / %.1f MiB", done / 1048576.0, total / 1048576.0);
}

/* Fill the spec from arguments; a preset gives defaults that explicit options override. Returns
 * -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, spec *s, const char **out) {
    int given[9];
    for (int k = 0; k < 9; k++) given[k] = -1;
    const char *preset = NULL, *type = NULL;
    /* Shapes are stored as u32 in the metadata, and larger ones would be terabytes anyway. */
#define SHAPE(names, k, help) {names, OPT_INT, &given[k], "N", help, 0, INT32_MAX}
    const tool_option opts[] = {
        {"--preset", OPT_STRING, &preset, "NAME", "the shapes of a real model (listed below)"},
        {"--arch", OPT_STRING, &s->family, "FAMILY", "the architecture family, without --preset"},
        SHAPE("--n-embd", 0, "model dimension"),
        SHAPE("--n-ff", 1, "feed-forward dimension"),
        SHAPE("--n-head", 2, "attention heads"),
        SHAPE("--n-head-kv", 3, "key/value heads"),
        SHAPE("--n-vocab", 4, "vocabulary size, at least 259"),
        SHAPE("--head-dim", 5, "head size (default: n-embd / n-head)"),
        SHAPE("--layers", 6, "layers (default 2 without a preset)"),
        SHAPE("--ctx", 7, "training context length (default 4096)"),
        SHAPE("--sliding-window", 8, "attention window, 0 for none"),
        {"--type", OPT_STRING, &type, "TYPE", "tensor type of the matrices (default q4_k_m)"},
        {"--seed", OPT_U64, &s->seed, "S", "random seed (default 1)"},
        {"--tied", OPT_FLAG, &s->tied, NULL, "no output matrix: the embedding is used for it", .flag_value = 1},
        {"--std", OPT_FLOAT, &s->std, "S", "standard deviation of float weight matrices (f32, f16, bf16), above 0 and "
         "at most 1 (default 0.02); a larger S spreads the logits as trained models' are (0.08: a standard deviation "
         "near 2); quantized types get the magnitudes of trained weights whatever S", 0, 1, 1},
    };
#undef SHAPE
    char epilog[2048];
    int n = snprintf(epilog, sizeof epilog,
                     "Shape options given with --preset override the preset's values. The default type, q4_k_m, is q4_k "
                     "with attn_v, ffn_down and output in q6_k, and like llama.cpp q5_0/q8_0 where rows are not whole "
                     "256-element blocks. Norms and biases are always f32.\n\nFamilies: %s.\nTypes: f32 f16 bf16 q4_0 "
                     "q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k q4_k_m.\nPresets:",
                     lli_family_list());
    for (int i = 0; lli_preset_at(i) && n < (int)sizeof epilog - 64; i++) {
        /* A preset may be listed more than once (variants of one model); name it once. */
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= !strcmp(lli_preset_at(j)->name, lli_preset_at(i)->name);
        if (!seen) n += snprintf(epilog + n, sizeof epilog - (size_t)n, " %s", lli_preset_at(i)->name);
    }
    snprintf(epilog + n, sizeof epilog - (size_t)n, ".\n\nExit status:\n0 on success, 1 when writing fails, 2 for a "
                                                    "wrong command line.");
    const tool_spec ts = {"lli-mkgguf", "OUT.gguf (--preset NAME | --arch FAMILY --n-embd N --n-ff N --n-head N "
                                        "--n-head-kv N --n-vocab N) [OPTION]...",
                          "Write a GGUF model with random weights of a given shape, for tests and benchmarks. The values "
                          "mean nothing; the shapes, types, metadata and tokenizer layout are those of a real model of "
                          "the family.",
                          opts, (int)(sizeof opts / sizeof opts[0]), 1, 1, epilog};
    int rc = tool_parse(&ts, argc, argv, out, NULL);
    if (rc >= 0) return rc;
    if (preset) {
        const lli_preset *p = lli_preset_by_name(preset);
        if (!p) return die("unknown preset %s (see --help)", preset);
        if (s->family && strcmp(s->family, p->family)) return die("--arch conflicts with the preset's family %s", p->family);
        s->preset = p->name, s->family = p->family, s->n_embd = p->n_embd, s->n_ff = p->n_ff, s->n_head = p->n_head;
        s->n_head_kv = p->n_head_kv, s->n_vocab = p->n_vocab, s->head_dim = p->head_dim, s->n_layer = p->n_layer;
    }
    int64_t *fields[9] = {&s->n_embd, &s->n_ff, &s->n_head, &s->n_head_kv, &s->n_vocab,
                          &s->head_dim, &s->n_layer, &s->ctx, &s->sliding_window};
    for (int k = 0; k < 9; k++)
        if (given[k] >= 0) *fields[k] = given[k];
    if (type) {
        const lli_ttype_info *tt = lli_ttype_by_name(type);
        s->mix_q4_k_m = !strcmp(type, "q4_k_m");
        if (!s->mix_q4_k_m && !tt) return die("unknown type %s (see --help)", type);
        if (tt) s->type = tt->id;
    }
    if (!s->family) return die("give --preset or --arch%s", NULL);
    if (!lli_family_known(s->family)) {
        fprintf(stderr, "lli-mkgguf: unknown family %s (known: %s)\n", s->family, lli_family_list());
        return 2;
    }
    const char *missing[] = {"--n-embd", "--n-ff", "--n-head", "--n-head-kv", "--n-vocab"};
    for (int k = 0; k < 5; k++)
        if (*fields[k] <= 0) return die("%s must be given and positive", missing[k]);
    if (s->n_vocab < FIRST_MERGED) {
        fprintf(stderr, "lli-mkgguf: --n-vocab must be at least %d (3 special tokens and 256 byte tokens)\n", FIRST_MERGED);
        return 2;
    }
    if (s->n_head % s->n_head_kv) return die("--n-head must be a multiple of --n-head-kv%s", NULL);
    if (s->head_dim < 0) {
        if (s->n_embd % s->n_head) return die("--n-embd is not a multiple of --n-head: give --head-dim%s", NULL);
        s->head_dim = s->n_embd / s->n_head;
    }
    if (s->head_dim <= 0 || s->head_dim % 2) return die("the head size must be positive and even (rotary pairs)%s", NULL);
    if (s->n_head * s->head_dim > INT32_MAX) return die("n_head * head_dim is too large%s", NULL);
    if (s->n_layer < 0) s->n_layer = 2;
    if (s->n_layer == 0) return die("--layers must be at least 1%s", NULL);
    if (s->ctx <= 0) return die("--ctx must be positive%s", NULL);
    if (s->sliding_window < 0) s->sliding_window = 0;
    return -1;
}

int main(int argc, char **argv) {
    spec s = {.type = LLI_TT_Q4_K, .mix_q4_k_m = 1, .seed = 1, .ctx = 4096};
    s.n_embd = s.n_ff = s.n_head = s.n_head_kv = s.n_vocab = s.head_dim = s.n_layer = s.sliding_window = -1;
    const char *out = NULL;
    int rc = parse_args(argc, argv, &s, &out);
    if (rc >= 0) return rc;

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
    /* Readers derive the head size from n_embd / n_head unless these say otherwise. */
    if (!bad && s.head_dim * s.n_head != s.n_embd)
        bad = gguf_writer_u32(w, KEY("attention.key_length"), (uint32_t)s.head_dim) ||
              gguf_writer_u32(w, KEY("attention.value_length"), (uint32_t)s.head_dim);
    if (!bad && s.sliding_window) bad = gguf_writer_u32(w, KEY("attention.sliding_window"), (uint32_t)s.sliding_window);
    if (bad && w) fprintf(stderr, "lli-mkgguf: out of memory\n");
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
#undef T
    }
    bad = bad || add_tensor(w, &s, "output_norm.weight", 1, s.n_embd, 1, &seed);
    if (!bad && !s.tied) bad = add_tensor(w, &s, "output.weight", 2, s.n_embd, s.n_vocab, &seed);
    if (!bad) {
        fprintf(stderr, "lli-mkgguf: %s: %s%s%s, %" PRId64 " layer%s, random weights (seed %" PRIu64 ")\n", out, f,
                s.preset ? " " : "", s.preset ? s.preset : "", s.n_layer, s.n_layer == 1 ? "" : "s", s.seed);
        if (gguf_writer_write(w, out, progress, NULL)) {
            int e = errno; /* isatty() may set errno */
            if (isatty(STDERR_FILENO)) fputc('\n', stderr);
            fprintf(stderr, "lli-mkgguf: cannot write %s: %s\n", out, strerror(e));
            bad = 1;
        } else {
            if (isatty(STDERR_FILENO)) fputc('\n', stderr);
            fprintf(stderr, "lli-mkgguf: wrote %s (%.1f MiB of tensor data)\n", out, g_total / 1048576.0);
        }
    }
    gguf_writer_free(w);
    return bad ? 1 : 0;
}
