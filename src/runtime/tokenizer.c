#include "runtime/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/le.h"

/* GGUF token types. */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* A token or merge is the payload offset of its text; the text's length sits in the 4 bytes in
 * front of it, and a token's score and type in the 8 after it. Tables of 4-byte offsets rather than
 * copied fields keep the tokenizer's own memory small beside 100k-entry vocabularies. */

/* Open-addressing hash from byte strings to ids (tokens) or ranks (merges). */
typedef struct strmap {
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t mask;
} strmap;

struct lli_tokenizer {
    int spm;                  /* 1: SentencePiece-style, 0: byte-level BPE */
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    lli_token bos, eos, unk;
    const uint8_t *data;      /* the payload, owned by the model: token texts point into it */
    uint32_t *tokens;         /* payload offsets of the texts */
    uint32_t n_tokens;
    uint32_t *merges;         /* payload offsets of "left right" */
    uint32_t n_merges;
    strmap token_map, merge_map;
    pcre2_code *regex[2];     /* applied in turn; NULL when unused */
    int n_regex;
    lli_token *specials;      /* control and user-defined tokens, longest first */
    uint32_t n_specials;
    lli_token byte_token[256]; /* SPM: <0xXX>; BPE: the token of the byte's character */
    int byte_of_cp[324];      /* BPE: code point -> byte, -1 if none */
};

/* ---- hashing ---------------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int strmap_init(strmap *m, size_t n) {
    size_t cap = 16; /* load at most 3/4: linear probing stays short and the table small */
    while (cap * 3 < n * 4) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    return m->slots ? 0 : -1;
}

typedef const char *(*text_of_fn)(const lli_tokenizer *t, uint32_t i, uint32_t *len);

static const char *tok_text(const lli_tokenizer *t, lli_token id) { return (const char *)t->data + t->tokens[id]; }
static uint32_t tok_len(const lli_tokenizer *t, lli_token id) { return lli_get_le32(t->data + t->tokens[id] - 4); }
static int32_t tok_type(const lli_tokenizer *t, lli_token id) {
    return (int32_t)lli_get_le32(t->data + t->tokens[id] + tok_len(t, id) + 4);
}
static float tok_score(const lli_tokenizer *t, lli_token id) {
    float f;
    memcpy(&f, t->data + t->tokens[id] + tok_len(t, id), 4);
    return f;
}

static const char *token_text(const lli_tokenizer *t, uint32_t i, uint32_t *len) {
    *len = tok_len(t, (lli_token)i);
    return tok_text(t, (lli_token)i);
}

static const char *merge_text(const lli_tokenizer *t, uint32_t i, uint32_t *len) {
    *len = lli_get_le32(t->data + t->merges[i] - 4);
    return (const char *)t->data + t->merges[i];
}

/* Insert item i unless its text is already there (the first occurrence wins, as in the vocab). */
static void strmap_put(strmap *m, const lli_tokenizer *items, text_of_fn text_of, uint32_t i) {
    uint32_t len;
    const char *s = text_of(items, i, &len);
    for (size_t h = hash_bytes(s, len) & m->mask;; h = (h + 1) & m->mask) {
        if (!m->slots[h]) {
            m->slots[h] = i + 1;
            return;
        }
        uint32_t olen;
        const char *o = text_of(items, m->slots[h] - 1, &olen);
        if (olen == len && !memcmp(o, s, len)) return;
    }
}

static int64_t strmap_get(const strmap *m, const lli_tokenizer *items, text_of_fn text_of, const char *s, size_t len) {
    for (size_t h = hash_bytes(s, len) & m->mask;; h = (h + 1) & m->mask) {
        if (!m->slots[h]) return -1;
        uint32_t olen;
        const char *o = text_of(items, m->slots[h] - 1, &olen);
        if (olen == len && !memcmp(o, s, len)) return m->slots[h] - 1;
    }
}

static int64_t token_id(const lli_tokenizer *t, const char *s, size_t len) {
    return strmap_get(&t->token_map, t, token_text, s, len);
}

/* ---- pre-tokenizer regexes (from the models' published tokenizer configurations) ------------- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                          \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                           \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                          \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"                  \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|"            \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static lli_status compile(lli_tokenizer *t, const char *pattern) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lli_fail(LLI_E_INTERNAL, "pre-tokenizer regex does not compile at %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* an optimisation: the interpreter is the fallback */
    t->regex[t->n_regex++] = re;
    return LLI_OK;
}

static lli_status choose_regexes(lli_tokenizer *t, const char *pre) {
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-v3") || !strcmp(pre, "llama-bpe")) {
        t->ignore_merges = 1;
        return compile(t, RE_LLAMA3);
    }
    if (!strcmp(pre, "qwen2") || !strcmp(pre, "deepseek-r1-qwen")) return compile(t, RE_QWEN2);
    if (!strcmp(pre, "tekken")) {
        t->ignore_merges = 1;
        return compile(t, RE_TEKKEN);
    }
    if (!strcmp(pre, "smollm") || !strcmp(pre, "starcoder") || !strcmp(pre, "refact") || !strcmp(pre, "codeshell")) {
        /* Digits are split one by one before the GPT-2 pattern runs. */
        LLI_TRY(compile(t, "\\p{N}"));
        return compile(t, RE_GPT2);
    }
    return compile(t, RE_GPT2); /* "gpt-2", "default" and anything unknown */
}

/* ---- construction ----------------------------------------------------------------------------- */

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the others are moved to code
 * points from 256 up. */
static int byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256 + n;
}

static int put_utf8(char *out, int cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000)
        return out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[2] = (char)(0x80 | (cp & 0x3f)), 3;
    out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the UTF-8 sequence starting at s (1 for an invalid byte, so that nothing is lost). */
static size_t utf8_len(const char *s, size_t left) {
    uint8_t c = (uint8_t)s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return n <= left ? n : 1;
}

static int cmp_specials_len(const void *a, const void *b, void *arg);

lli_status lli_tokenizer_create(const uint8_t *data, uint64_t len, const lli_mf_tokenizer *s, lli_tokenizer **out) {
    *out = NULL;
    if (!data || len < 16 || memcmp(data, "LLITOK1", 8))
        return lli_fail(LLI_E_FORMAT, "tokenizer fragment: bad magic or too short");
    if (len > UINT32_MAX) return lli_fail(LLI_E_FORMAT, "tokenizer fragment: %llu bytes, more than 4 GiB", (unsigned long long)len);
    lli_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_status st = LLI_OK;
    t->data = data;
    const uint8_t *p = t->data, *end = t->data + len;
    t->n_tokens = lli_get_le32(p + 8);
    t->n_merges = lli_get_le32(p + 12);
    p += 16;
    if (st == LLI_OK && (t->n_tokens != (uint64_t)s->n_tokens || t->n_merges != (uint64_t)s->n_merges))
        st = lli_fail(LLI_E_FORMAT, "tokenizer fragment holds %u tokens and %u merges, the manifest says %lld and %lld",
                      t->n_tokens, t->n_merges, (long long)s->n_tokens, (long long)s->n_merges);
    if (st == LLI_OK) {
        t->tokens = calloc(t->n_tokens ? t->n_tokens : 1, sizeof *t->tokens);
        t->merges = calloc(t->n_merges ? t->n_merges : 1, sizeof *t->merges);
        if (!t->tokens || !t->merges) st = lli_fail(LLI_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; st == LLI_OK && i < t->n_tokens; i++) {
        if (end - p < 4 || lli_get_le32(p) > (uint64_t)(end - p - 4) - 8 || end - p < 12) {
            st = lli_fail(LLI_E_FORMAT, "tokenizer fragment: token %u runs past the end", i);
            break;
        }
        t->tokens[i] = (uint32_t)(p + 4 - t->data);
        p += 4 + lli_get_le32(p) + 8;
    }
    for (uint32_t i = 0; st == LLI_OK && i < t->n_merges; i++) {
        if (end - p < 4 || lli_get_le32(p) > (uint64_t)(end - p - 4)) {
            st = lli_fail(LLI_E_FORMAT, "tokenizer fragment: merge %u runs past the end", i);
            break;
        }
        t->merges[i] = (uint32_t)(p + 4 - t->data);
        p += 4 + lli_get_le32(p);
    }
    if (st == LLI_OK && (strmap_init(&t->token_map, t->n_tokens) || strmap_init(&t->merge_map, t->n_merges)))
        st = lli_fail(LLI_E_NOMEM, "out of memory");
    if (st == LLI_OK) {
        for (uint32_t i = 0; i < t->n_tokens; i++) strmap_put(&t->token_map, t, token_text, i);
        for (uint32_t i = 0; i < t->n_merges; i++) strmap_put(&t->merge_map, t, merge_text, i);
        t->spm = !strcmp(s->model, "llama");
        if (!t->spm && strcmp(s->model, "gpt2"))
            st = lli_fail(LLI_E_UNSUPPORTED, "tokenizer model \"%s\" is not supported (llama, gpt2)", s->model);
    }
    if (st == LLI_OK) {
        t->add_bos = s->add_bos, t->add_eos = s->add_eos, t->add_space_prefix = s->add_space_prefix;
        t->bos = (lli_token)s->bos, t->eos = (lli_token)s->eos, t->unk = (lli_token)s->unk;
        char buf[8];
        for (int i = 0; i < 324; i++) t->byte_of_cp[i] = -1;
        for (int b = 0; b < 256; b++) {
            int n;
            if (t->spm) n = snprintf(buf, sizeof buf, "<0x%02X>", b);
            else {
                int cp = byte_to_cp(b);
                t->byte_of_cp[cp] = b;
                n = put_utf8(buf, cp);
            }
            int64_t id = token_id(t, buf, (size_t)n);
            t->byte_token[b] = id >= 0 ? (lli_token)id : t->unk;
        }
        if (!t->spm) st = choose_regexes(t, s->pre);
    }
    if (st == LLI_OK) {
        t->specials = malloc((t->n_tokens ? t->n_tokens : 1) * sizeof *t->specials);
        if (!t->specials) st = lli_fail(LLI_E_NOMEM, "out of memory");
        for (uint32_t i = 0; st == LLI_OK && i < t->n_tokens; i++)
            if ((tok_type(t, (lli_token)i) == TT_CONTROL || tok_type(t, (lli_token)i) == TT_USER) && tok_len(t, (lli_token)i))
                t->specials[t->n_specials++] = (lli_token)i;
        if (st == LLI_OK) {
            qsort_r(t->specials, t->n_specials, sizeof *t->specials, cmp_specials_len, t);
            lli_token *fit = realloc(t->specials, (t->n_specials ? t->n_specials : 1) * sizeof *fit);
            if (fit) t->specials = fit;
        }
    }
    if (st != LLI_OK) {
        lli_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LLI_OK;
}

static int cmp_specials_len(const void *a, const void *b, void *arg) {
    const lli_tokenizer *t = arg;
    uint32_t la = tok_len(t, *(const lli_token *)a), lb = tok_len(t, *(const lli_token *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

void lli_tokenizer_free(lli_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i]);
    free(t->token_map.slots);
    free(t->merge_map.slots);
    free(t->specials);
    free(t->tokens);
    free(t->merges);
    free(t);
}

/* ---- output ------------------------------------------------------------------------------------ */

typedef struct sink {
    lli_token *out;
    size_t cap, n;
} sink;

static void emit(sink *s, lli_token tok) {
    if (s->n < s->cap) s->out[s->n] = tok;
    s->n++;
}

/* ---- byte-level BPE ----------------------------------------------------------------------------- */

/* Symbols are byte ranges of the mapped piece; merging joins neighbours. */
typedef struct sym {
    uint32_t start, len;
} sym;

static int64_t merge_rank(const lli_tokenizer *t, const char *s, const sym *a, const sym *b, char *scratch) {
    memcpy(scratch, s + a->start, a->len);
    scratch[a->len] = ' ';
    memcpy(scratch + a->len + 1, s + b->start, b->len);
    return strmap_get(&t->merge_map, t, merge_text, scratch, a->len + 1 + b->len);
}

static lli_status bpe_piece(const lli_tokenizer *t, const char *piece, size_t len, sink *out) {
    /* Map every byte to its alphabet character. */
    char *mapped = malloc(len * 2 + 1), *scratch = malloc(len * 4 + 2);
    sym *syms = malloc((len ? len : 1) * sizeof *syms);
    if (!mapped || !scratch || !syms) {
        free(mapped), free(scratch), free(syms);
        return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    }
    mapped[0] = '\0'; /* an empty piece is looked up as "" */
    size_t m = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        int w = put_utf8(mapped + m, byte_to_cp((uint8_t)piece[i]));
        syms[n++] = (sym){(uint32_t)m, (uint32_t)w};
        m += (size_t)w;
    }
    int64_t whole = t->ignore_merges ? token_id(t, mapped, m) : -1;
    if (whole >= 0) {
        emit(out, (lli_token)whole);
        n = 0;
    }
    /* Merge the lowest-ranked adjacent pair (leftmost on ties) until none is in the merge list. */
    while (n > 1) {
        int64_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int64_t r = merge_rank(t, mapped, &syms[i], &syms[i + 1], scratch);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        syms[at].len += syms[at + 1].len;
        memmove(&syms[at + 1], &syms[at + 2], (n - at - 2) * sizeof *syms);
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t id = token_id(t, mapped + syms[i].start, syms[i].len);
        if (id >= 0) {
            emit(out, (lli_token)id);
            continue;
        }
        /* Not in the vocabulary: fall back to its bytes' characters. */
        for (uint32_t k = 0; k < syms[i].len;) {
            size_t cl = utf8_len(mapped + syms[i].start + k, syms[i].len - k);
            int64_t cid = token_id(t, mapped + syms[i].start + k, cl);
            emit(out, cid >= 0 ? (lli_token)cid : t->unk);
            k += (uint32_t)cl;
        }
    }
    free(mapped), free(scratch), free(syms);
    return LLI_OK;
}

/* Split text by regex r into matched and unmatched parts (both kept), passing each to next. */
static lli_status pretokenize(const lli_tokenizer *t, const char *s, size_t len, int level, sink *out) {
    if (level >= t->n_regex || level >= (int)(sizeof t->regex / sizeof t->regex[0])) return bpe_piece(t, s, len, out);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex[level], NULL);
    if (!md) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    size_t pos = 0;
    lli_status st = LLI_OK;
    while (st == LLI_OK && pos < len) {
        int rc = pcre2_match(t->regex[level], (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > pos) st = pretokenize(t, s + pos, ov[0] - pos, level + 1, out);
        if (st == LLI_OK && ov[1] > ov[0]) st = pretokenize(t, s + ov[0], ov[1] - ov[0], level + 1, out);
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + utf8_len(s + ov[0], len - ov[0]);
    }
    if (st == LLI_OK && pos < len) st = pretokenize(t, s + pos, len - pos, level + 1, out);
    pcre2_match_data_free(md);
    return st;
}

/* ---- SentencePiece-style ---------------------------------------------------------------------- */

typedef struct spm_sym {
    int prev, next;
    uint32_t start, len;
} spm_sym;

static lli_status spm_text(const lli_tokenizer *t, const char *text, size_t len, int prefix, sink *out) {
    /* Spaces become U+2581 ("▁"), with one in front when the model asks for it. */
    size_t cap = len * 3 + 4;
    char *s = malloc(cap);
    spm_sym *syms = malloc(cap * sizeof *syms);
    char *scratch = malloc(cap);
    if (!s || !syms || !scratch) {
        free(s), free(syms), free(scratch);
        return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    }
    size_t m = 0;
    if (prefix) memcpy(s, "\xe2\x96\x81", 3), m = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + m, "\xe2\x96\x81", 3), m += 3;
        else s[m++] = text[i];
    }
    int n = 0;
    for (size_t i = 0; i < m;) {
        size_t cl = utf8_len(s + i, m - i);
        syms[n] = (spm_sym){n - 1, n + 1, (uint32_t)i, (uint32_t)cl};
        n++;
        i += cl;
    }
    if (n) syms[n - 1].next = -1;
    /* Repeatedly merge the adjacent pair whose joined text is the best-scoring token (leftmost on
     * ties); a simple scan per step keeps this short, and texts are short. */
    for (;;) {
        int best = -1;
        float best_score = 0;
        for (int i = 0; i != -1 && n; i = syms[i].next) {
            int j = syms[i].next;
            if (j == -1) break;
            uint32_t l = syms[i].len + syms[j].len;
            int64_t id = token_id(t, s + syms[i].start, l);
            if (id >= 0 && (best < 0 || tok_score(t, (lli_token)id) > best_score))
                best = i, best_score = tok_score(t, (lli_token)id);
        }
        if (best < 0) break;
        int j = syms[best].next;
        syms[best].len += syms[j].len;
        syms[best].next = syms[j].next;
        if (syms[j].next != -1) syms[syms[j].next].prev = best;
    }
    for (int i = 0; n && i != -1; i = syms[i].next) {
        int64_t id = token_id(t, s + syms[i].start, syms[i].len);
        if (id >= 0) emit(out, (lli_token)id);
        else
            for (uint32_t k = 0; k < syms[i].len; k++) emit(out, t->byte_token[(uint8_t)s[syms[i].start + k]]);
    }
    free(s), free(syms), free(scratch);
    return LLI_OK;
}

/* ---- encode / decode ----------------------------------------------------------------------------- */

/* Tokenize plain text (no special tokens in it). first: at the start of the input. */
static lli_status encode_plain(const lli_tokenizer *t, const char *s, size_t len, int first, sink *out) {
    if (t->spm) return spm_text(t, s, len, t->add_space_prefix && first, out);
    return len ? pretokenize(t, s, len, 0, out) : LLI_OK;
}

lli_status lli_tokenizer_encode(const lli_tokenizer *t, const char *text, size_t len, int add_special,
                                int parse_special, lli_token *out, size_t cap, size_t *n_out) {
    sink s = {out, cap, 0};
    if (add_special && t->add_bos && t->bos >= 0) emit(&s, t->bos);
    lli_status st = LLI_OK;
    size_t pos = 0, plain = 0;
    int first = 1;
    while (parse_special && pos < len && st == LLI_OK) {
        lli_token hit = -1;
        for (uint32_t k = 0; k < t->n_specials; k++) {
            lli_token sp = t->specials[k];
            if (tok_len(t, sp) <= len - pos && !memcmp(text + pos, tok_text(t, sp), tok_len(t, sp))) {
                hit = t->specials[k];
                break;
            }
        }
        if (hit < 0) {
            pos++;
            continue;
        }
        if (pos > plain) st = encode_plain(t, text + plain, pos - plain, first, &s);
        first = 0;
        emit(&s, hit);
        pos += tok_len(t, hit);
        plain = pos;
    }
    if (st == LLI_OK && plain < len) st = encode_plain(t, text + plain, len - plain, first, &s);
    if (st == LLI_OK && add_special && t->add_eos && t->eos >= 0) emit(&s, t->eos);
    *n_out = s.n;
    if (st == LLI_OK && s.n > cap)
        return lli_fail(LLI_E_BUFFER_TOO_SMALL, "the text needs %zu tokens, the buffer holds %zu", s.n, cap);
    return st;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

/* The bytes of one token into buf (always fits: at most the token's text length). */
static size_t piece_bytes(const lli_tokenizer *t, lli_token tok, char *buf) {
    const char *text = tok_text(t, tok);
    uint32_t len = tok_len(t, tok);
    int32_t type = tok_type(t, tok);
    size_t n = 0;
    if (t->spm) {
        if (type == TT_BYTE && len == 6 && !memcmp(text, "<0x", 3) && is_hex(text[3]) && is_hex(text[4])) {
            buf[0] = (char)strtol((char[]){text[3], text[4], 0}, NULL, 16);
            return 1;
        }
        for (uint32_t i = 0; i < len;) {
            if (i + 3 <= len && !memcmp(text + i, "\xe2\x96\x81", 3)) buf[n++] = ' ', i += 3;
            else buf[n++] = text[i++];
        }
        return n;
    }
    if (type == TT_CONTROL || type == TT_USER) {
        memcpy(buf, text, len);
        return len;
    }
    /* Byte-level: each character of the alphabet stands for one byte. */
    for (uint32_t i = 0; i < len;) {
        size_t cl = utf8_len(text + i, len - i);
        const uint8_t *c = (const uint8_t *)text + i;
        int cp = cl == 1 ? c[0] : cl == 2 ? ((c[0] & 0x1f) << 6 | (c[1] & 0x3f)) : -1;
        if (cp >= 0 && cp < 324 && t->byte_of_cp[cp] >= 0) buf[n++] = (char)t->byte_of_cp[cp];
        else memcpy(buf + n, c, cl), n += cl;
        i += (uint32_t)cl;
    }
    return n;
}

lli_status lli_tokenizer_piece(const lli_tokenizer *t, lli_token tok, char *buf, size_t cap, size_t *n_out) {
    if (tok < 0 || (uint32_t)tok >= t->n_tokens)
        return lli_fail(LLI_E_INVALID_ARG, "token %d is outside the vocabulary of %u", tok, t->n_tokens);
    char tmp[1024];
    size_t n = tok_len(t, tok) <= sizeof tmp ? piece_bytes(t, tok, tmp) : 0;
    *n_out = n;
    if (n > cap) return lli_fail(LLI_E_BUFFER_TOO_SMALL, "token %d needs %zu bytes, the buffer holds %zu", tok, n, cap);
    if (n) memcpy(buf, tmp, n);
    return LLI_OK;
}

lli_status lli_tokenizer_decode(const lli_tokenizer *t, const lli_token *toks, size_t count, int remove_special,
                                char *buf, size_t cap, size_t *n_out) {
    size_t n = 0;
    char tmp[1024];
    for (size_t i = 0; i < count; i++) {
        lli_token tok = toks[i];
        if (tok < 0 || (uint32_t)tok >= t->n_tokens)
            return lli_fail(LLI_E_INVALID_ARG, "token %d (at %zu) is outside the vocabulary of %u", tok, i, t->n_tokens);
        if (remove_special && tok_type(t, tok) == TT_CONTROL) continue;
        size_t k = tok_len(t, tok) <= sizeof tmp ? piece_bytes(t, tok, tmp) : 0;
        size_t skip = 0;
        /* The space the SentencePiece encoder put in front of the text is not part of it. */
        if (t->spm && t->add_space_prefix && remove_special && n == 0 && k && tmp[0] == ' ') skip = 1;
        if (n + k - skip <= cap) memcpy(buf + n, tmp + skip, k - skip);
        n += k - skip;
    }
    *n_out = n;
    if (n > cap) return lli_fail(LLI_E_BUFFER_TOO_SMALL, "the text needs %zu bytes, the buffer holds %zu", n, cap);
    return LLI_OK;
}
