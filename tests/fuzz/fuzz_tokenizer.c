/* The tokenizer on arbitrary bytes. Vocabularies (converted at start, tokenizer only): GPT-2's
 * byte-level BPE, LLaMA's SentencePiece (both from llama.cpp's vocab files in ../shared) and the
 * tiny random model's BPE (lli-mkgguf). The input:
 *   byte 0: bit 0 parse special tokens, bit 1 add BOS/EOS, bits 2-3 the vocabulary (modulo 3);
 *   the rest: the text.
 * Every token must be in the vocabulary, the count asked for first must be the count produced, and
 * every token must have a piece and the whole a detokenized text. */
#include <string.h>

#include "fuzz_util.h"

#if !defined(LLI_FUZZ_BPE_GGUF) || !defined(LLI_FUZZ_SPM_GGUF) || !defined(LLI_FUZZ_TINY_GGUF)
#error "LLI_FUZZ_BPE_GGUF, LLI_FUZZ_SPM_GGUF, LLI_FUZZ_TINY_GGUF: the vocabularies' paths"
#endif

static lli_model *g_model[3];
static int64_t g_n_vocab[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char *const src[3] = {LLI_FUZZ_BPE_GGUF, LLI_FUZZ_SPM_GGUF, LLI_FUZZ_TINY_GGUF};
    static const char *const name[3] = {"bpe", "spm", "tiny"};
    for (int i = 0; i < 3; i++) {
        g_model[i] = fz_model_from_gguf(src[i], name[i], 0, 1);
        FZ_CHECK(lli_model_info_int(g_model[i], LLI_INFO_N_VOCAB, &g_n_vocab[i]) == LLI_OK);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    const int parse_special = d[0] & 1, add_special = (d[0] >> 1) & 1, which = ((d[0] >> 2) & 3) % 3;
    const lli_model *m = g_model[which];
    /* A copy of exactly the text, so that any read past its end is caught. */
    const size_t len = n - 1;
    char *text = malloc(len ? len : 1);
    FZ_CHECK(text != NULL);
    memcpy(text, d + 1, len);

    size_t need = 0;
    lli_status st = lli_tokenize(m, text, len, add_special, parse_special, NULL, 0, &need);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st == LLI_OK || st == LLI_E_BUFFER_TOO_SMALL) {
        FZ_CHECK(st == LLI_OK ? need == 0 : need > 0);
        lli_token *toks = malloc((need + 1) * sizeof *toks);
        FZ_CHECK(toks != NULL);
        size_t got = 0;
        st = lli_tokenize(m, text, len, add_special, parse_special, toks, need, &got);
        FZ_CHECK(st == LLI_OK && got == need);
        for (size_t i = 0; i < got; i++) {
            FZ_CHECK(toks[i] >= 0 && toks[i] < g_n_vocab[which]);
            char piece[256];
            size_t plen;
            lli_status ps = lli_token_to_piece(m, toks[i], piece, sizeof piece, &plen);
            FZ_CHECK(ps == LLI_OK || ps == LLI_E_BUFFER_TOO_SMALL);
        }
        size_t out_len = 0;
        st = lli_detokenize(m, toks, got, 0, NULL, 0, &out_len);
        FZ_CHECK(st == LLI_OK || st == LLI_E_BUFFER_TOO_SMALL);
        char *out = malloc(out_len + 1);
        FZ_CHECK(out != NULL);
        size_t out_len2 = 0;
        FZ_CHECK(lli_detokenize(m, toks, got, 0, out, out_len, &out_len2) == LLI_OK && out_len2 == out_len);
        free(out);
        free(toks);
    }
    free(text);
    return 0;
}
