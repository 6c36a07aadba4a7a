/* The tokenizer against llama.cpp's published vectors (../shared/vectors/tokenizer): every line,
 * exactly, with no special tokens added and special parsing off; and decoding gives the text back.
 * usage: test_tokenizer SCRATCH_DIR VOCAB.gguf [VOCAB.gguf ...] (each with VOCAB.gguf.inp/.out) */
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

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
