/* lli-tokenize: print the token ids of a text, separated by single spaces, on one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "llminfer.h"

#define TOOL "lli-tokenize"

int main(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL, *cache_dir = NULL;
    int add_special = 0, parse_special = 1, ignored = 0;
    const tool_option opts[] = {
        {"-m, --model", OPT_STRING, &model, "MODEL", TOOL_MODEL_HELP " (a vocabulary-only model is enough)"},
        {"-p, --prompt", OPT_STRING, &text, "TEXT", "the text to tokenize"},
        {"-f, --file", OPT_STRING, &file, "FILE", "read the text from FILE; - reads it from standard input"},
        {"--add-special", OPT_FLAG, &add_special, NULL, "add the model's BOS (and EOS where it adds one)", .flag_value = 1},
        {"--no-parse-special", OPT_FLAG, &parse_special, NULL,
         "read special-token texts (like <|im_start|>) as plain text; by default they are special tokens", .flag_value = 0},
        {"--parse-special", OPT_FLAG, &ignored, NULL, "accepted for older scripts: special tokens are parsed by default",
         .flag_value = 1},
        {"--cache-dir", OPT_STRING, &cache_dir, "DIR", TOOL_CACHE_HELP},
    };
    const tool_spec spec = {TOOL, "-m MODEL (-p TEXT | -f FILE) [OPTION]...",
                            "Print the token ids of a text with a model's tokenizer, separated by spaces, on one line.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 0, 0,
                            "Exit status:\n0 on success, 1 when loading or tokenizing fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, NULL, NULL);
    if (rc >= 0) return rc;
    if (!model) return fprintf(stderr, TOOL ": -m MODEL is required (see " TOOL " --help)\n"), 2;
    if (!!text == !!file) return fprintf(stderr, TOOL ": give the text with one of -p or -f (see " TOOL " --help)\n"), 2;
    size_t len = text ? strlen(text) : 0;
    char *owned = NULL;
    if (file && !(owned = tool_read_text(TOOL, file, &len))) return 1;
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_vocab_only(p, 1);
    if (st) tool_fail(TOOL, "model parameters", st);
    else st = tool_load_model(TOOL, model, cache_dir, p, 0, &m, NULL);
    lli_model_params_free(p);
    size_t n = 0;
    lli_token *toks = NULL;
    const char *t = file ? owned : text;
    if (!st) {
        st = lli_tokenize(m, t, len, add_special, parse_special, NULL, 0, &n);
        if (st == LLI_E_BUFFER_TOO_SMALL || st == LLI_OK) {
            toks = malloc((n ? n : 1) * sizeof *toks);
            st = toks ? lli_tokenize(m, t, len, add_special, parse_special, toks, n, &n) : LLI_E_NOMEM;
        }
        if (st) tool_fail(TOOL, "lli_tokenize", st);
    }
    if (!st) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", toks[i]);
        putchar('\n');
    }
    free(toks);
    free(owned);
    lli_model_free(m);
    return st ? 1 : 0;
}
