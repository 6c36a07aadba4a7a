/* The tokenizer against llama.cpp's published vectors (../shared/vectors/tokenizer): every line,
 * exactly, with no special tokens added and special parsing off; and decoding gives the text back.
 * usage: test_tokenizer SCRATCH_DIR VOCAB.gguf [VOCAB.gguf ...] (each with VOCAB.gguf.inp/.out) */
#include <stdlib.h>
#include <string.h>

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

static void run_vectors(const char *scratch, const char *gguf) {
    char dir[4096], path[4096];
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
    snprintf(path, sizeof path, "%s.inp", gguf);
    size_t inp_len, out_len;
    char *inp = test_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s.out", gguf);
    char *expect = test_read_file(path, &out_len);
    CHECK(inp && expect && m, "vectors for %s", gguf);
    if (!inp || !expect || !m) return;
    const char *tool = NULL;
    lli_model_info_str(m, LLI_INFO_TOKENIZER, &tool);
    int spm = !strcmp(tool, "llama"), cases = 0;
    char *text = inp, *line = expect;
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
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof got - 16; i++) used += (size_t)snprintf(got + used, sizeof got - used, " %d", toks[i]);
        got[used] = '\0';
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
    run_invalid_utf8(m, gguf, spm);
    printf("%s: %d cases\n", gguf, cases);

    /* Buffers that are too small say how much is needed and write nothing past the end. */
    size_t need = 0;
    lli_token two[2] = {-7, -7};
    st = lli_tokenize(m, "Hello world, again and again", 28, 0, 0, two, 1, &need);
    CHECK(st == LLI_E_BUFFER_TOO_SMALL && need > 1 && two[1] == -7, "small buffer: %d %zu", st, need);
    CHECK_FAILS(lli_token_to_piece(m, 1 << 30, NULL, 0, &need), LLI_E_INVALID_ARG, "outside the vocabulary");
    CHECK_FAILS(lli_tokenize(m, NULL, 3, 0, 0, NULL, 0, &need), LLI_E_INVALID_ARG, "NULL");
    int64_t bos = -1;
    lli_model_info_int(m, LLI_INFO_TOKEN_BOS, &bos);
    st = lli_tokenize(m, "Hi", 2, 1, 0, two, 2, &need);
    CHECK(st == LLI_OK && (!spm || (need == 2 && two[0] == bos)), "add_special on %s: %zu tokens, first %d", gguf, need, two[0]);
    free(inp);
    free(expect);
    lli_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR VOCAB.gguf...\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) run_vectors(argv[1], argv[i]);
    return check_summary();
}
