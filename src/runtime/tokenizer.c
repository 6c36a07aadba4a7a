#include "runtime/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/le.h"
#include "runtime/unicode_classes.h"

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
    struct {
        pcre2_code *code;
        int collapsed;        /* runs on the collapsed text (see the pre-tokenizer section) */
    } regex[5];               /* applied in turn */
    int n_regex;
    lli_token *specials;      /* tokens llama.cpp treats as special (special_flags), longest first */
    uint8_t *flags;           /* per entry of specials: SP_* */
    uint32_t n_specials;
    lli_token byte_token[256]; /* SPM: <0xXX>; BPE: the token of the byte's character */
    int byte_of_cp[324];      /* BPE: code point -> byte, -1 if none */
    char byte_char[256][2];   /* BPE: the byte's character in UTF-8 */
    uint8_t byte_char_len[256];
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

/* ---- pre-tokenizer regexes ----------------------------------------------------------------------
 *
 * The pre-tokenizer splits text where llama.cpp splits it. llama.cpp decodes the text to code points
 * (a byte that does not start a well-formed sequence becomes U+FFFD), then applies each regex of the
 * model's list in turn to every piece the previous one left, keeping the unmatched stretches between
 * matches as pieces too. A regex that names Unicode categories (\p{L}, \p{N}, ...) runs on a
 * "collapsed" text where every code point above ASCII is replaced by one unit standing for its
 * class, and each \p{..} in the regex becomes that unit plus the ASCII characters of the class;
 * one that does not runs on the code points themselves, non-ASCII whitespace replaced by VT. Both
 * run here through PCRE2's 32-bit library in non-UTF mode, so any unit value is acceptable input
 * (nothing needs validating) and \s, \d and character ranges are ASCII/code-point based as in
 * llama.cpp's std::regex. The classes come from our generated Unicode 15.1 tables, the version
 * llama.cpp uses, not from PCRE2's. */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                          \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                           \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Tekken's upper/lower-case letter runs. llama.cpp writes "letter that is not a-z" as
 * ((?=[\p{L}])([^a-z])), which on the collapsed text is the class [\x{d2}A-Z] (any non-ASCII letter
 * or A-Z), and "letter that is not A-Z" as [\x{d2}a-z]; written as classes here, so that PCRE2 does
 * not need a backtracking frame per character of a long word. */
#define RE_TEKKEN                                                                                          \
    "[^\\r\\n\\p{L}\\p{N}]?[\\x{d2}A-Z]*[\\x{d2}a-z]+|[^\\r\\n\\p{L}\\p{N}]?[\\x{d2}A-Z]+[\\x{d2}a-z]*|\\p{N}|"      \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_type {
    const char *names; /* tokenizer.ggml.pre values, each followed by '|' */
    int ignore_merges;
    const char *regex[5];
} pre_type;

static const pre_type PRE_TYPES[] = {
    {"|default|", 0, {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3|llama-v3|llama-bpe|falcon3|pixtral|", 1, {RE_LLAMA3}},
    {"dbrx|smaug-bpe|chatglm-bpe|", 0, {RE_LLAMA3}},
    {"glm4|", 1, {RE_LLAMA3}},
    {"qwen2|deepseek-r1-qwen|megrez|stablelm2|hunyuan|", 0, {RE_QWEN2}},
    {"tekken|", 1, {RE_TEKKEN}},
    {"deepseek-coder|", 0, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
    {"falcon|", 0, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"smollm|starcoder|refact|command-r|codeshell|exaone|minerva-7b|", 0, {"\\p{N}", RE_GPT2}},
    {"poro-chat|bloom|gpt3-finnish|", 0, {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
    {"viking|", 0, {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}},
    /* "gpt-2", mpt, olmo, jais, ... and, as before, any name not listed here. */
    {"gpt-2|", 0, {RE_GPT2}},
};

/* The collapsed text's unit for each class (ASCII code points stand for themselves). */
static const uint32_t CLASS_UNIT[] = {
    [LLI_UCLS_OTHER] = 0xd0, [LLI_UCLS_WHITESPACE] = 0x0b, [LLI_UCLS_NUMBER] = 0xd1, [LLI_UCLS_LETTER] = 0xd2,
    [LLI_UCLS_PUNCT] = 0xd3, [LLI_UCLS_MARK] = 0xd4,       [LLI_UCLS_SYMBOL] = 0xd5,
};

/* The category names llama.cpp collapses, and what each becomes inside a character class: the
 * class's unit and the ASCII characters llama.cpp counts in it ('~' is not among its symbols). */
static const struct {
    const char *name, *set;
} CATEGORIES[] = {
    {"\\p{N}", "\\x{d1}0-9"},      {"\\p{L}", "\\x{d2}A-Za-z"},  {"\\p{Lu}", "\\x{d2}A-Za-z"},
    {"\\p{Ll}", "\\x{d2}A-Za-z"},  {"\\p{Lt}", "\\x{d2}A-Za-z"}, {"\\p{Lm}", "\\x{d2}A-Za-z"},
    {"\\p{Lo}", "\\x{d2}A-Za-z"},  {"\\p{M}", "\\x{d4}"},        {"\\p{S}", "\\x{d5}$+<=>^`|"},
    {"\\p{P}", "\\x{d3}!-#%-*,-/:;?@\\[-\\]_{}"},
};
#define N_CATEGORIES (sizeof CATEGORIES / sizeof CATEGORIES[0])

static int uses_categories(const char *re) {
    for (size_t k = 0; k < N_CATEGORIES; k++)
        if (strstr(re, CATEGORIES[k].name)) return 1;
    return 0;
}

/* A code point of s (left > 0 bytes) as llama.cpp reads it: the lead byte says the length, the
 * continuation bytes must be 10xxxxxx and present; the value is not checked further (overlong
 * forms, surrogates and values above U+10FFFF come through). Anything else is U+FFFD for one byte. */
static uint32_t decode_cp(const uint8_t *s, size_t left, size_t *used) {
    uint8_t c = s[0];
    *used = 1;
    if (c < 0x80) return c;
    size_t n = !(c & 0x40) ? 0 : !(c & 0x20) ? 2 : !(c & 0x10) ? 3 : !(c & 0x08) ? 4 : 0;
    if (!n || n > left) return 0xfffd;
    uint32_t cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0xfffd;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    *used = n;
    return cp;
}

/* Pattern text for PCRE2: \p{..} categories collapsed (tracking [..] as llama.cpp does, which
 * wraps a category found outside a class in one), every character widened to a 32-bit unit. */
static uint32_t *pattern_units(const char *re, int collapsed, size_t *n_out) {
    size_t cap = strlen(re) * 16 + 1, n = 0;
    uint32_t *u = malloc(cap * sizeof *u);
    if (!u) return NULL;
    int inside = 0;
    for (size_t i = 0; re[i];) {
        if (collapsed) {
            if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) inside = 1;
            else if (inside && re[i] == ']' && re[i - 1] != '\\') inside = 0;
            size_t k = 0;
            while (k < N_CATEGORIES && strncmp(re + i, CATEGORIES[k].name, strlen(CATEGORIES[k].name))) k++;
            if (k < N_CATEGORIES) {
                if (!inside) u[n++] = '[';
                for (const char *p = CATEGORIES[k].set; *p; p++) u[n++] = (uint8_t)*p;
                if (!inside) u[n++] = ']';
                i += strlen(CATEGORIES[k].name);
                continue;
            }
        }
        size_t used;
        u[n++] = decode_cp((const uint8_t *)re + i, strlen(re + i), &used);
        i += used;
    }
    *n_out = n;
    return u;
}

static lli_status compile(lli_tokenizer *t, const char *re) {
    int collapsed = uses_categories(re), err;
    size_t n;
    uint32_t *units = pattern_units(re, collapsed, &n);
    if (!units) return lli_fail(LLI_E_NOMEM, "out of memory compiling the pre-tokenizer");
    PCRE2_SIZE off;
    /* DOLLAR_ENDONLY: $ is the end of the piece only, as in ECMAScript. */
    pcre2_code *code = pcre2_compile(units, n, PCRE2_DOLLAR_ENDONLY, &err, &off, NULL);
    free(units);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg / sizeof msg[0]);
        char text[256];
        size_t k = 0;
        for (; msg[k] && k + 1 < sizeof text; k++) text[k] = msg[k] < 128 ? (char)msg[k] : '?';
        text[k] = '\0';
        return lli_fail(LLI_E_INTERNAL, "pre-tokenizer regex /%s/ does not compile at %zu: %s", re, (size_t)off, text);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* an optimisation: the interpreter is the fallback */
    t->regex[t->n_regex].code = code;
    t->regex[t->n_regex].collapsed = collapsed;
    t->n_regex++;
    return LLI_OK;
}

static lli_status choose_regexes(lli_tokenizer *t, const char *pre) {
    const pre_type *chosen = &PRE_TYPES[sizeof PRE_TYPES / sizeof PRE_TYPES[0] - 1];
    size_t len = strlen(pre);
    for (size_t i = 0; i < sizeof PRE_TYPES / sizeof PRE_TYPES[0]; i++)
        for (const char *p = PRE_TYPES[i].names; *p; p = strchr(p, '|') + 1)
            if ((size_t)(strchr(p, '|') - p) == len && !strncmp(p, pre, len)) {
                chosen = &PRE_TYPES[i];
                goto found;
            }
found:
    t->ignore_merges = chosen->ignore_merges;
    for (int i = 0; i < 5 && chosen->regex[i]; i++) LLI_TRY(compile(t, chosen->regex[i]));
    return LLI_OK;
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

/* What llama.cpp makes of a token in its special-token pass (its token attributes). */
enum { SP_CONTROL = 1, SP_USER = 2, SP_UNKNOWN = 4, STRIP_LEFT = 8, STRIP_RIGHT = 16 };

/* llama.cpp recognizes fill-in-the-middle and end-of-generation tokens by their text and makes
 * them control tokens whatever type the GGUF gives them (DeepSeek Coder's <｜fim▁hole｜> is
 * user-defined there, so it is matched only when special tokens are parsed). */
static const char *const CONTROL_TEXTS[] = {
    /* fill-in-the-middle: prefix, suffix, middle, pad, repository, file separator */
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
    "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
    "▁<MID>", "<|code_middle|>", "<|middle|>", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
    /* end of turn / message / generation */
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
};
/* ... and these user-defined (gpt-oss's, always shown). */
static const char *const USER_TEXTS[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

static int64_t token_of(const lli_tokenizer *t, const char *text) { return token_id(t, text, strlen(text)); }

/* SP_* for every token (flags has n_tokens entries): from its GGUF type, then llama.cpp's
 * corrections by text. */
static void special_flags(const lli_tokenizer *t, uint8_t *flags) {
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        int32_t type = tok_type(t, (lli_token)i);
        flags[i] = type == TT_CONTROL ? SP_CONTROL : type == TT_USER ? SP_USER : type == TT_UNKNOWN ? SP_UNKNOWN : 0;
    }
    int64_t id;
    for (size_t k = 0; k < sizeof CONTROL_TEXTS / sizeof CONTROL_TEXTS[0]; k++)
        if ((id = token_of(t, CONTROL_TEXTS[k])) >= 0) flags[id] |= SP_CONTROL;
    for (size_t k = 0; k < sizeof USER_TEXTS / sizeof USER_TEXTS[0]; k++)
        if ((id = token_of(t, USER_TEXTS[k])) >= 0) flags[id] = SP_USER;
    /* gpt-oss and Solar Open end a message with <|end|> but do not stop there: a user token. */
    int64_t end = token_of(t, "<|end|>");
    if (end >= 0 && ((token_of(t, "<|return|>") >= 0 && token_of(t, "<|call|>") >= 0) ||
                     (token_of(t, "<|calls|>") >= 0 && token_of(t, "<|flush|>") >= 0)))
        flags[end] = SP_USER;
    /* Gemma 4 and PLaMo have an ordinary </s>. */
    int64_t s_end = token_of(t, "</s>");
    if (s_end >= 0 && (token_of(t, "<|tool_response>") >= 0 ||
                       (t->eos >= 0 && (uint32_t)t->eos < t->n_tokens && tok_len(t, t->eos) == 13 &&
                        !memcmp(tok_text(t, t->eos), "<|plamo:eos|>", 13))))
        flags[s_end] = 0;
}

/* Whitespace next to a special token that the token swallows. llama.cpp decides this by the
 * model's name and pre-tokenizer, not from the GGUF: Phi-3's special tokens (except <unk>, <s>
 * and <|endoftext|>, and with </s>) swallow the whitespace after them; the mask token of Jina v2
 * and ModernBERT the whitespace before it. */
static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

static void set_strip(lli_tokenizer *t, const char *text, int flag, int on) {
    for (uint32_t k = 0; k < t->n_specials; k++)
        if (tok_len(t, t->specials[k]) == strlen(text) && !memcmp(tok_text(t, t->specials[k]), text, strlen(text)))
            t->flags[k] = (uint8_t)(on ? t->flags[k] | flag : t->flags[k] & ~flag);
}

static void choose_strips(lli_tokenizer *t, const char *name, const char *pre) {
    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code")) {
        set_strip(t, "<mask>", STRIP_LEFT, 1);
    } else if (contains_ci(name, "phi-3") || contains_ci(name, "phi3")) {
        for (uint32_t k = 0; k < t->n_specials; k++) t->flags[k] |= STRIP_RIGHT;
        set_strip(t, "</s>", STRIP_RIGHT, 1); /* (a no-op where </s> is already special) */
        set_strip(t, "<unk>", STRIP_RIGHT, 0);
        set_strip(t, "<s>", STRIP_RIGHT, 0);
        set_strip(t, "<|endoftext|>", STRIP_RIGHT, 0);
    } else if (contains_ci(name, "modern-bert")) {
        set_strip(t, "[MASK]", STRIP_LEFT, 1);
    }
}

lli_status lli_tokenizer_create(const uint8_t *data, uint64_t len, const lli_mf_tokenizer *s, const char *model_name,
                                lli_tokenizer **out) {
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
                memcpy(t->byte_char[b], buf, (size_t)n);
                t->byte_char_len[b] = (uint8_t)n;
            }
            int64_t id = token_id(t, buf, (size_t)n);
            t->byte_token[b] = id >= 0 ? (lli_token)id : t->unk;
        }
        if (!t->spm) st = choose_regexes(t, s->pre);
    }
    if (st == LLI_OK) {
        t->specials = malloc((t->n_tokens ? t->n_tokens : 1) * sizeof *t->specials);
        t->flags = calloc(t->n_tokens ? t->n_tokens : 1, 1);
        if (!t->specials || !t->flags) st = lli_fail(LLI_E_NOMEM, "out of memory");
        if (st == LLI_OK) {
            special_flags(t, t->flags); /* per token for now */
            for (uint32_t i = 0; i < t->n_tokens; i++)
                if (t->flags[i] && tok_len(t, (lli_token)i)) t->specials[t->n_specials++] = (lli_token)i;
            qsort_r(t->specials, t->n_specials, sizeof *t->specials, cmp_specials_len, t);
            lli_token *fit = realloc(t->specials, (t->n_specials ? t->n_specials : 1) * sizeof *fit);
            if (fit) t->specials = fit;
            uint8_t *per_token = t->flags;
            t->flags = malloc(t->n_specials ? t->n_specials : 1);
            if (t->flags) {
                for (uint32_t k = 0; k < t->n_specials; k++) t->flags[k] = per_token[t->specials[k]];
                choose_strips(t, model_name ? model_name : "", s->pre);
            } else st = lli_fail(LLI_E_NOMEM, "out of memory");
            free(per_token);
        }
    }
    if (st != LLI_OK) {
        lli_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LLI_OK;
}

/* Longest first (llama.cpp's order), then by id so that the order does not depend on qsort. */
static int cmp_specials_len(const void *a, const void *b, void *arg) {
    const lli_tokenizer *t = arg;
    lli_token ia = *(const lli_token *)a, ib = *(const lli_token *)b;
    uint32_t la = tok_len(t, ia), lb = tok_len(t, ib);
    return la < lb ? 1 : la > lb ? -1 : ia < ib ? -1 : ia > ib;
}

void lli_tokenizer_free(lli_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i].code);
    free(t->token_map.slots);
    free(t->merge_map.slots);
    free(t->specials);
    free(t->flags);
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

/* Grow *p to hold n elements of size sz (kept between words so that long texts do not allocate
 * per piece). */
static int reserve(void *p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    void *q = realloc(*(void **)p, c * sz);
    if (!q) return -1;
    *(void **)p = q;
    *cap = c;
    return 0;
}

/* ---- merging ----------------------------------------------------------------------------------
 *
 * Both models merge adjacent symbols greedily, best pair first and leftmost among equals. The
 * candidate pairs sit in a binary heap (as in SentencePiece and llama.cpp) and the symbols in a
 * linked list, so a piece of n symbols costs O(n log n): a pair taken from the heap is still
 * current when both of its symbols have the lengths they had when it was pushed, as symbols only
 * ever grow (by absorbing their right neighbour) or disappear (length 0). */

typedef struct sym {
    int32_t prev, next;
    uint32_t start, len;
} sym;

typedef struct pair {
    float key;            /* lower first: the merge rank, or minus the SentencePiece score */
    uint32_t left, right; /* symbol indices */
    uint32_t llen, rlen;  /* their lengths when the pair was pushed */
} pair;

typedef struct work {
    sym *syms;
    size_t syms_cap;
    pair *heap;
    size_t heap_n, heap_cap;
    char *text, *scratch;
    size_t text_cap, scratch_cap;
    uint32_t *cps, *units;
    size_t cps_cap, units_cap;
    uint32_t *chunks[2];
    size_t chunks_cap[2];
} work;

static void work_free(work *w) {
    free(w->syms), free(w->heap), free(w->text), free(w->scratch), free(w->cps), free(w->units);
    free(w->chunks[0]), free(w->chunks[1]);
}

static int pair_before(const pair *a, const pair *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(work *w, pair p) {
    if (reserve(&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap)) return -1;
    size_t i = w->heap_n++;
    while (i && pair_before(&p, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = p;
    return 0;
}

static pair heap_pop(work *w) {
    pair top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Split the symbols at w->text (n of them, linked in order) into symbols by merging the best pairs;
 * key_of gives a pair's key, or returns 0 when the pair does not merge. */
typedef int (*pair_key_fn)(const lli_tokenizer *t, work *w, const sym *l, const sym *r, float *key);

static int try_pair(const lli_tokenizer *t, work *w, int32_t l, int32_t r, pair_key_fn key_of) {
    if (l < 0 || r < 0) return 0;
    float key;
    if (!key_of(t, w, &w->syms[l], &w->syms[r], &key)) return 0;
    return heap_push(w, (pair){key, (uint32_t)l, (uint32_t)r, w->syms[l].len, w->syms[r].len});
}

static int merge_all(const lli_tokenizer *t, work *w, size_t n, pair_key_fn key_of) {
    w->heap_n = 0;
    for (size_t i = 1; i < n; i++)
        if (try_pair(t, w, (int32_t)i - 1, (int32_t)i, key_of)) return -1;
    while (w->heap_n) {
        pair p = heap_pop(w);
        sym *l = &w->syms[p.left], *r = &w->syms[p.right];
        if (!l->len || !r->len || l->len != p.llen || r->len != p.rlen) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = (int32_t)p.left;
        if (try_pair(t, w, l->prev, (int32_t)p.left, key_of) || try_pair(t, w, (int32_t)p.left, l->next, key_of)) return -1;
    }
    return 0;
}

/* ---- byte-level BPE ----------------------------------------------------------------------------- */

static int bpe_key(const lli_tokenizer *t, work *w, const sym *l, const sym *r, float *key) {
    memcpy(w->scratch, w->text + l->start, l->len);
    w->scratch[l->len] = ' ';
    memcpy(w->scratch + l->len + 1, w->text + r->start, r->len);
    int64_t rank = strmap_get(&t->merge_map, t, merge_text, w->scratch, l->len + 1 + r->len);
    *key = (float)rank;
    return rank >= 0;
}

/* One pre-tokenized piece (code points) to tokens: its UTF-8 bytes, each as its byte-level
 * character, merged by rank. A code point above U+10FFFF, which has no UTF-8 form (llama.cpp
 * throws on it), is taken as U+FFFD like the other bytes that do not make a character. */
static lli_status bpe_piece(const lli_tokenizer *t, work *w, const uint32_t *cps, size_t n, sink *out) {
    if (reserve(&w->text, &w->text_cap, n * 8 + 1, 1) || reserve(&w->syms, &w->syms_cap, n * 4 + 1, sizeof *w->syms) ||
        reserve(&w->scratch, &w->scratch_cap, n * 8 + 2, 1))
        return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    size_t m = 0, ns = 0;
    for (size_t i = 0; i < n; i++) {
        char utf8[4];
        int k = put_utf8(utf8, cps[i] > 0x10ffff ? 0xfffd : (int)cps[i]);
        for (int j = 0; j < k; j++) {
            uint8_t b = (uint8_t)utf8[j];
            w->syms[ns] = (sym){(int32_t)ns - 1, (int32_t)ns + 1, (uint32_t)m, t->byte_char_len[b]};
            memcpy(w->text + m, t->byte_char[b], t->byte_char_len[b]);
            m += t->byte_char_len[b];
            ns++;
        }
    }
    if (!ns) return LLI_OK;
    w->syms[ns - 1].next = -1;
    if (t->ignore_merges && token_id(t, w->text, m) >= 0) {
        w->syms[0] = (sym){-1, -1, 0, (uint32_t)m};
        ns = 1;
    }
    if (merge_all(t, w, ns, bpe_key)) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    for (int32_t i = 0; i != -1; i = w->syms[i].next) {
        const sym *s = &w->syms[i];
        int64_t id = token_id(t, w->text + s->start, s->len);
        if (id >= 0) {
            emit(out, (lli_token)id);
            continue;
        }
        /* Not in the vocabulary: each byte of its text that is a token by itself (llama.cpp). */
        for (uint32_t k = 0; k < s->len; k++) {
            int64_t bid = token_id(t, w->text + s->start + k, 1);
            if (bid >= 0) emit(out, (lli_token)bid);
        }
    }
    return LLI_OK;
}

/* Apply regex r to each chunk of `in` (lengths in units of subj), writing the new chunks to *out:
 * matches and the stretches between them. After an empty match the next try must be non-empty at
 * the same place, else the search moves on by one (std::regex_iterator's rule). */
static lli_status split_chunks(const lli_tokenizer *t, int r, const uint32_t *subj, const uint32_t *in, size_t n_in,
                               uint32_t **out, size_t *out_cap, size_t *n_out, pcre2_match_data *md) {
    size_t n = 0, base = 0;
    for (size_t c = 0; c < n_in; base += in[c], c++) {
        size_t len = in[c], pos = 0, prev = 0;
        uint32_t opts = 0;
        for (;;) {
            int rc = pcre2_match(t->regex[r].code, subj + base, len, pos, opts, md, NULL);
            /* The JIT's stack is small; the interpreter keeps its backtracking on the heap. */
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                rc = pcre2_match(t->regex[r].code, subj + base, len, pos, opts | PCRE2_NO_JIT, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) {
                if (!opts || pos >= len) break;
                opts = 0, pos++;
                continue;
            }
            if (rc < 0)
                return lli_fail(rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT ? LLI_E_NOMEM : LLI_E_INTERNAL,
                                "pre-tokenizer regex %d failed on a piece of %zu characters (PCRE2 error %d)", r, len, rc);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (reserve(out, out_cap, n + 2, sizeof **out)) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
            if (ov[0] > prev) (*out)[n++] = (uint32_t)(ov[0] - prev);
            if (ov[1] > ov[0]) (*out)[n++] = (uint32_t)(ov[1] - ov[0]);
            prev = ov[1];
            pos = ov[1];
            opts = ov[1] == ov[0] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
            if (pos >= len && !opts) break;
        }
        if (prev < len) {
            if (reserve(out, out_cap, n + 1, sizeof **out)) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
            (*out)[n++] = (uint32_t)(len - prev);
        }
    }
    *n_out = n;
    return LLI_OK;
}

/* Byte-level BPE on raw text: code points, pre-tokenizer pieces, then each piece merged. */
static lli_status bpe_text(const lli_tokenizer *t, work *w, const char *text, size_t len, sink *out) {
    if (reserve(&w->cps, &w->cps_cap, len, sizeof *w->cps) || reserve(&w->units, &w->units_cap, len, sizeof *w->units) ||
        reserve(&w->chunks[0], &w->chunks_cap[0], 1, sizeof(uint32_t)))
        return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    size_t n = 0;
    for (size_t i = 0, used; i < len; i += used) w->cps[n++] = decode_cp((const uint8_t *)text + i, len - i, &used);
    size_t n_chunks = 1;
    w->chunks[0][0] = (uint32_t)n;
    int cur = 0, units_kind = -1;
    lli_status st = LLI_OK;
    for (int r = 0; r < t->n_regex && st == LLI_OK; r++) {
        if (units_kind != t->regex[r].collapsed) { /* the text as this regex sees it */
            units_kind = t->regex[r].collapsed;
            for (size_t i = 0; i < n; i++) {
                uint32_t cp = w->cps[i];
                int cls = cp < 0x80 ? -1 : lli_ucls_of(cp);
                w->units[i] = cls < 0 ? cp : cls == LLI_UCLS_WHITESPACE ? 0x0b : units_kind ? CLASS_UNIT[cls] : cp;
            }
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex[r].code, NULL);
        if (!md) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
        size_t n_next = 0;
        st = split_chunks(t, r, w->units, w->chunks[cur], n_chunks, &w->chunks[!cur], &w->chunks_cap[!cur], &n_next, md);
        pcre2_match_data_free(md);
        cur = !cur;
        n_chunks = n_next;
    }
    const uint32_t *cps = w->cps;
    for (size_t c = 0; c < n_chunks && st == LLI_OK; c++) {
        st = bpe_piece(t, w, cps, w->chunks[cur][c], out);
        cps += w->chunks[cur][c];
    }
    return st;
}

/* ---- SentencePiece-style ---------------------------------------------------------------------- */

static int spm_key(const lli_tokenizer *t, work *w, const sym *l, const sym *r, float *key) {
    int64_t id = token_id(t, w->text + l->start, l->len + r->len);
    if (id < 0) return 0;
    *key = -tok_score(t, (lli_token)id);
    return 1;
}

/* Characters as llama.cpp cuts SentencePiece input: the lead byte's high bits give the length,
 * whatever follows, cut short at the end of the text. Invalid sequences become symbols no token
 * matches and so reach the byte fallback. */
static size_t spm_char_len(uint8_t c, size_t left) {
    size_t n = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    return n < left ? n : left;
}

static lli_status spm_text(const lli_tokenizer *t, work *w, const char *text, size_t len, int prefix, sink *out) {
    /* Spaces become U+2581 ("▁"), with one in front when the model asks for it. */
    size_t cap = len * 3 + 4;
    if (reserve(&w->text, &w->text_cap, cap, 1) || reserve(&w->syms, &w->syms_cap, cap, sizeof *w->syms))
        return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    char *s = w->text;
    size_t m = 0;
    if (prefix) memcpy(s, "\xe2\x96\x81", 3), m = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + m, "\xe2\x96\x81", 3), m += 3;
        else s[m++] = text[i];
    }
    size_t n = 0;
    for (size_t i = 0; i < m; n++) {
        size_t cl = spm_char_len((uint8_t)s[i], m - i);
        w->syms[n] = (sym){(int32_t)n - 1, (int32_t)n + 1, (uint32_t)i, (uint32_t)cl};
        i += cl;
    }
    if (!n) return LLI_OK;
    w->syms[n - 1].next = -1;
    if (merge_all(t, w, n, spm_key)) return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
    for (int32_t i = 0; i != -1; i = w->syms[i].next) {
        int64_t id = token_id(t, s + w->syms[i].start, w->syms[i].len);
        if (id >= 0) emit(out, (lli_token)id);
        else
            for (uint32_t k = 0; k < w->syms[i].len; k++) emit(out, t->byte_token[(uint8_t)s[w->syms[i].start + k]]);
    }
    return LLI_OK;
}

/* ---- encode ------------------------------------------------------------------------------------- */

/* A stretch of the input: raw text, or a special token matched whole. */
typedef struct frag {
    lli_token tok; /* -1: raw text */
    size_t off, len;
} frag;

static int frag_push(frag **v, size_t *cap, size_t *n, frag f) {
    if (reserve(v, cap, *n + 1, sizeof **v)) return -1;
    (*v)[(*n)++] = f;
    return 0;
}

/* isspace() in the C locale, as llama.cpp tests it. */
static int is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Special tokens are taken out of the raw text before anything else, as llama.cpp does: each in
 * turn, longest first, at every place it occurs in what is still raw text. User-defined tokens
 * are always matched (Hugging Face's added tokens, such as GPT-NeoX's runs of spaces); control and
 * unknown tokens only when the caller parses special tokens. Some swallow the whitespace next to
 * them (choose_strips). */
static lli_status partition(const lli_tokenizer *t, const char *text, size_t len, int parse_special, frag **out,
                            size_t *n_out) {
    frag *cur = NULL, *next = NULL;
    size_t n = 0, cap = 0, n_next = 0, cap_next = 0;
    if (len && frag_push(&cur, &cap, &n, (frag){-1, 0, len})) goto nomem;
    for (uint32_t k = 0; k < t->n_specials && n; k++) {
        lli_token sp = t->specials[k];
        if (!parse_special && (t->flags[k] & (SP_CONTROL | SP_UNKNOWN))) continue;
        const char *needle = tok_text(t, sp);
        size_t nl = tok_len(t, sp);
        n_next = 0;
        for (size_t f = 0; f < n; f++) {
            if (cur[f].tok >= 0) {
                if (frag_push(&next, &cap_next, &n_next, cur[f])) goto nomem;
                continue;
            }
            size_t pos = cur[f].off, end = cur[f].off + cur[f].len;
            const char *hit;
            while (pos < end && (hit = memmem(text + pos, end - pos, needle, nl))) {
                size_t at = (size_t)(hit - text), left = at;
                if (t->flags[k] & STRIP_LEFT)
                    while (left > pos && is_ascii_space(text[left - 1])) left--;
                if (left > pos && frag_push(&next, &cap_next, &n_next, (frag){-1, pos, left - pos})) goto nomem;
                if (frag_push(&next, &cap_next, &n_next, (frag){sp, at, nl})) goto nomem;
                pos = at + nl;
                if (t->flags[k] & STRIP_RIGHT)
                    while (pos < end && is_ascii_space(text[pos])) pos++;
            }
            if (pos < end && frag_push(&next, &cap_next, &n_next, (frag){-1, pos, end - pos})) goto nomem;
        }
        frag *tmp = cur;
        cur = next, next = tmp;
        size_t tc = cap;
        cap = cap_next, cap_next = tc;
        n = n_next;
    }
    free(next);
    *out = cur;
    *n_out = n;
    return LLI_OK;
nomem:
    free(cur), free(next);
    return lli_fail(LLI_E_NOMEM, "out of memory tokenizing");
}

/* Symbols are indexed and placed with 32-bit numbers; a byte can grow to 6 bytes of byte-level
 * characters (3 of U+FFFD, each 2), so this bounds what one call takes. */
#define MAX_TEXT ((size_t)256 << 20)

lli_status lli_tokenizer_encode(const lli_tokenizer *t, const char *text, size_t len, int add_special,
                                int parse_special, lli_token *out, size_t cap, size_t *n_out) {
    sink s = {out, cap, 0};
    frag *frags = NULL;
    size_t n_frags = 0;
    *n_out = 0;
    if (len > MAX_TEXT)
        return lli_fail(LLI_E_INVALID_ARG, "text of %zu bytes is longer than the %zu MiB one call can tokenize", len,
                        MAX_TEXT >> 20);
    LLI_TRY(partition(t, text, len, parse_special, &frags, &n_frags));
    work w = {0};
    lli_status st = LLI_OK;
    if (add_special && t->add_bos && t->bos >= 0) emit(&s, t->bos);
    /* SentencePiece: the space prefix goes in front of the text and of every stretch that follows
     * a special token. */
    int after_special = 1;
    for (size_t f = 0; f < n_frags && st == LLI_OK; f++) {
        if (frags[f].tok >= 0) {
            emit(&s, frags[f].tok);
            after_special = 1;
            continue;
        }
        if (t->spm) st = spm_text(t, &w, text + frags[f].off, frags[f].len, t->add_space_prefix && after_special, &s);
        else st = bpe_text(t, &w, text + frags[f].off, frags[f].len, &s);
        after_special = 0;
    }
    if (st == LLI_OK && add_special && t->add_eos && t->eos >= 0) emit(&s, t->eos);
    work_free(&w);
    free(frags);
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
