/* The tokenizer against llama.cpp: its published vectors (../shared/vectors/tokenizer) and the
 * goldens made with llama.cpp itself (tests/goldens/tokenizer, scripts/make-tokenizer-goldens.py),
 * every line exactly; decoding gives the text back; invalid UTF-8 is read as llama.cpp reads it.
 * usage: test_tokenizer SCRATCH_DIR SPEC...
 *   VOCAB.gguf             vectors from VOCAB.gguf.inp and VOCAB.gguf.out beside it
 *   VOCAB.gguf,INP,OUT     vectors from INP and OUT
 *   VOCAB.gguf,RANDOM.tsv  random strings and llama.cpp's ids, with special parsing off and on
 * Texts are copied to buffers of exactly their length, so that the sanitizer build catches any
 * read past them. */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/gguf_write.h"
#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Invalid UTF-8 and NUL bytes: tokenizing never fails or reads past the text (the sanitizer build
 * checks the reads), and the tokens decode to what llama.cpp makes of the bytes. SentencePiece
 * keeps every byte (byte fallback); byte-level BPE reads the text as llama.cpp does: a byte that
 * does not start a well-formed sequence is U+FFFD, overlong forms and surrogates are decoded as
 * they stand, and a sequence above U+10FFFF (on which llama.cpp throws) is U+FFFD. */
static void run_invalid_utf8(const lli_model *m, const char *gguf, int spm) {
    static const struct {
        const char *in, *bpe;
        size_t in_len, bpe_len;
    } cases[] = {
#define C(a, b) {a, b, sizeof a - 1, sizeof b - 1}
        C("A\xff", "A\xef\xbf\xbd"),
        C("\xff", "\xef\xbf\xbd"),
        C("\xf4\x9b\xbc\x98", "\xef\xbf\xbd"),
        C("x\xf7\xbf\xbf\xbf!", "x\xef\xbf\xbd!"),
        C("\xc0\x80", "\0"),
        C("a\xe0\x80\xaf b", "a/ b"),
        C("\xf0\x80\x80\xaf", "/"),
        C("\x80", "\xef\xbf\xbd"),
        C("a\x80\xbf" "b", "a\xef\xbf\xbd\xef\xbf\xbd" "b"),
        C("ab\xe2\x82", "ab\xef\xbf\xbd\xef\xbf\xbd"),
        C("end \xf0\x9f\x98", "end \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
        C("\xed\xa0\x80", "\xed\xa0\x80"),
        C("lo\xed\xbf\xbfw", "lo\xed\xbf\xbfw"),
        C("a\0b", "a\0b"),
        C("\0\0 \0", "\0\0 \0"),
        C("<s>\xff</s>\xc3", "<s>\xef\xbf\xbd</s>\xef\xbf\xbd"),
        C("\xfe\xfe\xfe\xfe\xfe", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
#undef C
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int special = 0; special < 2; special++) {
            /* A copy of exactly the input's length, so that ASan sees any read past it. */
            char *in = malloc(cases[c].in_len ? cases[c].in_len : 1);
            memcpy(in, cases[c].in, cases[c].in_len);
            lli_token toks[64];
            size_t n = 0, nb = 0;
            lli_status st = lli_tokenize(m, in, cases[c].in_len, 0, special, toks, 64, &n);
            CHECK(st == LLI_OK && n > 0, "%s: invalid UTF-8 case %zu (special %d): %d %s", gguf, c, special, st,
                  lli_last_error());
            char back[256];
            st = lli_detokenize(m, toks, st == LLI_OK ? n : 0, 0, back, sizeof back, &nb);
            const char *want = spm ? cases[c].in : cases[c].bpe;
            size_t want_len = spm ? cases[c].in_len : cases[c].bpe_len;
            /* SentencePiece puts a space in front of the text (and after each special token). */
            int same = st == LLI_OK && nb == want_len + (size_t)spm && !memcmp(back + spm, want, want_len);
            if (spm && special && c == 15) same = st == LLI_OK && nb == 11 && !memcmp(back, "<s> \xff</s> \xc3", 11);
            CHECK(same, "%s: invalid UTF-8 case %zu (special %d) decodes to %zu bytes", gguf, c, special, nb);
            free(in);
        }
}

static lli_model *load_vocab(const char *scratch, const char *gguf) {
    /* The downloaded default model may be absent (the vocabularies of ../shared never are): its
     * goldens are skipped, said so, and the other vocabularies still checked. */
    if (strstr(gguf, "/models/") && !test_exists(gguf)) {
        printf("SKIP: %s is absent (bash scripts/fetch-model.sh downloads it)\n", gguf);
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s.dir", scratch, strrchr(gguf, '/') ? strrchr(gguf, '/') + 1 : gguf);
    test_rm_rf(dir);
    lli_status st = lli_convert_gguf(gguf, dir, NULL);
    CHECK(st == LLI_OK, "convert %s: %s", gguf, lli_last_error());
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    lli_model_params_create(&p);
    lli_model_params_set_vocab_only(p, 1);
    st = lli_model_load(dir, p, &m);
    lli_model_params_free(p);
    CHECK(st == LLI_OK, "load %s: %s", dir, lli_last_error());
    return st == LLI_OK ? m : NULL;
}

static int is_spm(const lli_model *m) {
    const char *tool = NULL;
    lli_model_info_str(m, LLI_INFO_TOKENIZER, &tool);
    return tool && !strcmp(tool, "llama");
}

/* " id id id" as in llama.cpp's .out files. */
static void format_ids(const lli_token *toks, size_t n, char *got, size_t cap) {
    size_t used = 0;
    got[0] = '\0';
    for (size_t i = 0; i < n && used + 16 < cap; i++) used += (size_t)snprintf(got + used, cap - used, " %d", toks[i]);
}

static void run_vectors(const lli_model *m, const char *gguf, const char *inp_path, const char *out_path) {
    size_t inp_len, out_len;
    char *inp = test_read_file(inp_path, &inp_len);
    char *expect = test_read_file(out_path, &out_len);
    CHECK(inp && expect, "vectors for %s: %s, %s", gguf, inp_path, out_path);
    if (!inp || !expect) {
        free(inp), free(expect);
        return;
    }
    int spm = is_spm(m), cases = 0;
    char *text = inp, *line = expect;
    lli_status st;
    for (;;) {
        char *sep = strstr(text, SEP);
        if (!sep) break; /* the file ends with a separator */
        *sep = '\0';
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        size_t len = (size_t)(sep - text), n = 0;
        lli_token toks[4096];
        st = lli_tokenize(m, text, len, 0, 0, toks, 4096, &n);
        char got[65536];
        format_ids(toks, st == LLI_OK ? n : 0, got, sizeof got);
        CHECK(st == LLI_OK && !strcmp(got, line), "%s case %d %.40s\n  want:%s\n  got: %s", gguf, cases, text, line, got);
        /* Decoding gives the text back (SentencePiece: without the space it put in front). */
        char back[65536];
        size_t nb = 0;
        st = lli_detokenize(m, toks, n, 1, back, sizeof back, &nb);
        int same = st == LLI_OK && nb == len && !memcmp(back, text, len);
        if (spm && !same && len && text[0] == ' ') same = nb + 1 == len && !memcmp(back, text + 1, nb); /* prefix merged */
        CHECK(same, "%s case %d does not decode back: %.*s", gguf, cases, (int)nb, back);
        cases++;
        text = sep + strlen(SEP);
        if (!eol) break;
        line = eol + 1;
    }
    CHECK(cases >= 40, "%s: only %d cases", gguf, cases);
    printf("%s: %d cases\n", gguf, cases);
    free(inp);
    free(expect);
}

static int hex_val(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* Lines "HEX<TAB>IDS<TAB>IDS" made by scripts/make-tokenizer-goldens.py: a text and llama.cpp's
 * ids for it with special parsing off, then on. */
static void run_random(const lli_model *m, const char *gguf, const char *tsv) {
    size_t len;
    char *data = test_read_file(tsv, &len);
    CHECK(data != NULL, "cannot read %s", tsv);
    if (!data) return;
    int lines = 0, bad = 0;
    static lli_token toks[1 << 16];
    static char got[1 << 20];
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == '#') continue;
        char *want[2];
        want[0] = strchr(line, '\t');
        want[1] = want[0] ? strchr(want[0] + 1, '\t') : NULL;
        CHECK(want[0] && want[1], "%s: malformed line %d", tsv, lines);
        if (!want[0] || !want[1]) break;
        *want[0]++ = '\0', *want[1]++ = '\0';
        size_t hl = strlen(line);
        char *text = malloc(hl / 2 + 1); /* exactly the text's length for ASan */
        int ok = hl % 2 == 0 && text;
        for (size_t i = 0; ok && i < hl / 2; i++) {
            int hi = hex_val(line[2 * i]), lo = hex_val(line[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok) text[i] = (char)(hi << 4 | lo);
        }
        CHECK(ok, "%s: bad hex on line %d", tsv, lines);
        for (int special = 0; ok && special < 2; special++) {
            size_t n = 0;
            lli_status st = lli_tokenize(m, text, hl / 2, 0, special, toks, sizeof toks / sizeof toks[0], &n);
            format_ids(toks, st == LLI_OK ? n : 0, got, sizeof got);
            const char *ids = got[0] ? got + 1 : got; /* the golden has no leading space */
            if ((st != LLI_OK || strcmp(ids, want[special])) && ++bad <= 10)
                CHECK(0, "%s line %d (special %d) text %s\n  want: %s\n  got:  %s", tsv, lines, special, line,
                      want[special], ids);
        }
        lines++;
        free(text);
    }
    CHECK(bad == 0, "%s: %d of %d tokenizations differ from llama.cpp", tsv, bad, 2 * lines);
    CHECK(lines >= 1000, "%s: only %d strings", tsv, lines);
    printf("%s: %d random strings, special parsing off and on, %d differ\n", gguf, lines, bad);
    free(data);
}

static void run_api_edges(const lli_model *m, const char *gguf) {
    int spm = is_spm(m);
    /* Buffers that are too small say how much is needed and write nothing past the end. */
    size_t need = 0;
    lli_token two[2] = {-7, -7};
    lli_status st = lli_tokenize(m, "Hello world, again and again", 28, 0, 0, two, 1, &need);
    CHECK(st == LLI_E_BUFFER_TOO_SMALL && need > 1 && two[1] == -7, "small buffer: %d %zu", st, need);
    CHECK_FAILS(lli_token_to_piece(m, 1 << 30, NULL, 0, &need), LLI_E_INVALID_ARG, "outside the vocabulary");
    CHECK_FAILS(lli_tokenize(m, NULL, 3, 0, 0, NULL, 0, &need), LLI_E_INVALID_ARG, "NULL");
    /* Longer than one call takes: refused before any byte is read. */
    CHECK_FAILS(lli_tokenize(m, "x", ((size_t)256 << 20) + 1, 0, 0, NULL, 0, &need), LLI_E_INVALID_ARG, "256 MiB");
    /* One long piece of one character (the merge queue's worst case) comes back whole. */
    size_t big = 300000;
    char *text = malloc(big), *back = malloc(big + 1);
    lli_token *toks = malloc(big * sizeof *toks);
    if (text && back && toks) {
        for (int c = 0; c < 2; c++) {
            memset(text, c ? ' ' : '!', big);
            size_t n = 0, nb = 0;
            st = lli_tokenize(m, text, big, 0, 0, toks, big, &n);
            CHECK(st == LLI_OK && n > 0 && n <= big, "%s: %zu '%c': %d, %zu tokens", gguf, big, text[0], st, n);
            st = lli_detokenize(m, toks, st == LLI_OK ? n : 0, 1, back, big + 1, &nb);
            int same = st == LLI_OK && nb == big && !memcmp(back, text, big);
            if (spm && !same) same = st == LLI_OK && nb + 1 == big && !memcmp(back, text + 1, nb); /* prefix merged */
            CHECK(same, "%s: %zu '%c' does not decode back (%zu bytes)", gguf, big, text[0], nb);
        }
    }
    free(text), free(back), free(toks);
    int64_t bos = -1;
    lli_model_info_int(m, LLI_INFO_TOKEN_BOS, &bos);
    st = lli_tokenize(m, "Hi", 2, 1, 0, two, 2, &need);
    CHECK(st == LLI_OK && (!spm || (need == 2 && two[0] == bos)), "add_special on %s: %zu tokens, first %d", gguf, need, two[0]);
}

/* A small SentencePiece vocabulary named `name`, converted and loaded. */
static lli_model *tiny_vocab(const char *scratch, const char *name) {
    static const char *tokens[] = {"<unk>", "<s>", "</s>", "<|end|>", "<|user|>", "<mask>", "\xe2\x96\x81", "a", "b",
                                   "\xe2\x96\x81" "a", "\xe2\x96\x81" "b", "\n"};
    enum { N = sizeof tokens / sizeof tokens[0] };
    static const int32_t types[N] = {2, 3, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1};
    float scores[N] = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", scratch, name);
    gguf_writer *w = gguf_writer_new();
    int bad = !w || gguf_writer_str(w, "general.architecture", "llama") || gguf_writer_str(w, "general.name", name) ||
              gguf_writer_str(w, "tokenizer.ggml.model", "llama") || gguf_writer_arr_str(w, "tokenizer.ggml.tokens", tokens, N) ||
              gguf_writer_arr_f32(w, "tokenizer.ggml.scores", scores, N) ||
              gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", types, N) ||
              gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1) || gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
              gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0) || gguf_writer_write(w, path, NULL, NULL);
    gguf_writer_free(w);
    CHECK(!bad, "writing %s", path);
    return bad ? NULL : load_vocab(scratch, path);
}

static void ids_of(const lli_model *m, const char *text, int special, char *got, size_t cap) {
    lli_token toks[64];
    size_t n = 0;
    lli_status st = lli_tokenize(m, text, strlen(text), 0, special, toks, 64, &n);
    format_ids(toks, st == LLI_OK ? n : 0, got, cap);
}

/* Whitespace that special tokens swallow, decided by the model's name as llama.cpp decides it:
 * Phi-3's specials (not <s>) take the whitespace after them; others take none. */
static void run_strip(const char *scratch) {
    lli_model *phi = tiny_vocab(scratch, "Phi-3-mini-test"), *plain = tiny_vocab(scratch, "plain-test");
    if (!phi || !plain) {
        lli_model_free(phi), lli_model_free(plain);
        return;
    }
    char a[512], b[512];
    ids_of(phi, "a<|end|> \n b<|user|>  a", 1, a, sizeof a);
    ids_of(phi, "a<|end|>b<|user|>a", 1, b, sizeof b);
    CHECK(!strcmp(a, b) && strstr(a, " 3 "), "Phi-3: whitespace after <|end|>/<|user|> kept: %s vs %s", a, b);
    ids_of(phi, "a<|user|> b", 0, a, sizeof a); /* user-defined: matched and stripped without parse_special */
    ids_of(phi, "a<|user|>b", 0, b, sizeof b);
    CHECK(!strcmp(a, b) && strstr(a, " 4 "), "Phi-3 user token: %s vs %s", a, b);
    ids_of(phi, "<s> a", 1, a, sizeof a);
    ids_of(phi, "<s>a", 1, b, sizeof b);
    CHECK(strcmp(a, b), "Phi-3's <s> must keep the space after it: %s", a);
    ids_of(plain, "a<|end|> b", 1, a, sizeof a);
    ids_of(plain, "a<|end|>b", 1, b, sizeof b);
    CHECK(strcmp(a, b), "without the Phi-3 name the space stays: %s", a);
    /* SentencePiece puts its space prefix after every special token, as llama.cpp does. */
    ids_of(plain, "<|end|>a", 1, a, sizeof a);
    CHECK(!strcmp(a, " 3 9"), "space prefix after a special token: %s", a);
    lli_model_free(phi);
    lli_model_free(plain);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR VOCAB.gguf[,INP,OUT | ,RANDOM.tsv]...\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        char spec[3][4096] = {{0}};
        int n = 0;
        for (const char *p = argv[i]; n < 3 && p; n++) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            snprintf(spec[n], sizeof spec[n], "%.*s", (int)l, p);
            p = comma ? comma + 1 : NULL;
        }
        lli_model *m = load_vocab(argv[1], spec[0]);
        if (!m) continue;
        if (n == 2) run_random(m, spec[0], spec[1]);
        else {
            char inp[4200], out[4200];
            snprintf(inp, sizeof inp, "%s", n == 3 ? spec[1] : spec[0]);
            snprintf(out, sizeof out, "%s", n == 3 ? spec[2] : spec[0]);
            if (n == 1) strcat(inp, ".inp"), strcat(out, ".out");
            run_vectors(m, spec[0], inp, out);
            run_invalid_utf8(m, spec[0], is_spm(m));
            run_api_edges(m, spec[0]);
        }
        lli_model_free(m);
    }
    run_strip(argv[1]);
    return check_summary();
}
