/* lli-tokenize: print the token ids of a text, separated by single spaces, on one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lli-tokenize -m DIR [--add-special] [--parse-special] (-p TEXT | -f FILE)\n"
               "Works on a vocab-only model directory too.\n");
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *text = NULL, *file = NULL;
    int add_special = 0, parse_special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--add-special")) add_special = 1;
        else if (!strcmp(argv[i], "--parse-special")) parse_special = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (!dir || !!text == !!file) return usage(stderr), 2;
    size_t len = text ? strlen(text) : 0;
    char *owned = NULL;
    if (file && !(owned = read_file(file, &len))) {
        perror(file);
        return 1;
    }
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_vocab_only(p, 1);
    if (!st) st = lli_model_load(dir, p, &m);
    lli_model_params_free(p);
    size_t n = 0;
    lli_token *toks = NULL;
    if (!st) {
        st = lli_tokenize(m, file ? owned : text, len, add_special, parse_special, NULL, 0, &n);
        if (st == LLI_E_BUFFER_TOO_SMALL || st == LLI_OK) {
            toks = malloc((n ? n : 1) * sizeof *toks);
            st = toks ? lli_tokenize(m, file ? owned : text, len, add_special, parse_special, toks, n, &n) : LLI_E_NOMEM;
        }
    }
    if (st) fprintf(stderr, "lli-tokenize: %s: %s\n", lli_status_str(st), lli_last_error());
    else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", toks[i]);
        putchar('\n');
    }
    free(toks);
    free(owned);
    lli_model_free(m);
    return st ? 1 : 0;
}
