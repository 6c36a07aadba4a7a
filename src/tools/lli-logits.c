/* lli-logits: run a whole input teacher-forced in one batch and print, for every position, the
 * top-K next-token ids and their logits as one JSON object per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "args.h"
#include "common.h"
#include "llminfer.h"

#define TOOL "lli-logits"

/* Token ids separated by white space, from a file or (for "-") standard input. */
static lli_token *read_ids(const char *path, size_t *n) {
    size_t len = 0;
    char *text = tool_read_text(TOOL, path, &len);
    if (!text) return NULL;
    lli_token *ids = malloc((len / 2 + 1) * sizeof *ids); /* each id takes a digit and a separator */
    char *p = text, *end;
    *n = 0;
    while (ids) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, TOOL ": %s: not a list of token ids (at \"%.12s\")\n", path, p);
            free(ids);
            ids = NULL;
            break;
        }
        ids[(*n)++] = (lli_token)v;
        p = end;
    }
    free(text);
    return ids;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *file = NULL, *text = NULL, *cache_dir = NULL;
    int top = 5, threads = 0, parse_special = 1;
    const tool_option opts[] = {
        {"-m, --model", OPT_STRING, &dir, "MODEL", TOOL_MODEL_HELP},
        {"-f, --file", OPT_STRING, &file, "IDS_FILE", "token ids separated by white space; - reads them from standard input"},
        {"-p, --prompt", OPT_STRING, &text, "TEXT", "a text, tokenized with the model's BOS"},
        {"--top", OPT_INT, &top, "K", "ids and logits per position, 1 to 1000000 (default 5)", 1, 1e6},
        {"-t, --threads", OPT_INT, &threads, "N", "compute threads, 1 to 1024; 0 (the default): one per processor", 0, 1024},
        {"--no-parse-special", OPT_FLAG, &parse_special, NULL,
         "read special-token texts in TEXT as plain text; by default they are special tokens", .flag_value = 0},
        {"--cache-dir", OPT_STRING, &cache_dir, "DIR", TOOL_CACHE_HELP},
    };
    const tool_spec spec = {TOOL, "-m MODEL (-f IDS_FILE | -p TEXT) [OPTION]...",
                            "Run a whole input teacher-forced in one batch and print, for every position, the top-K "
                            "next-token ids and their logits as one JSON object per line: {\"pos\": P, \"top\": [id, "
                            "...], \"logit\": [x, ...]}. For comparing with other implementations.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 0, 0,
                            "Exit status:\n0 on success, 1 when loading or decoding fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, NULL, NULL);
    if (rc >= 0) return rc;
    if (!dir) return fprintf(stderr, TOOL ": -m MODEL is required (see " TOOL " --help)\n"), 2;
    if (!!file == !!text) return fprintf(stderr, TOOL ": give the input with one of -f or -p (see " TOOL " --help)\n"), 2;
    if (text && !*text) return fprintf(stderr, TOOL ": the text given with -p is empty\n"), 2;
    lli_model *m = NULL;
    tool_engine e = {0};
    lli_token *ids = NULL;
    size_t n = 0;
    lli_model_params *mp = NULL;
    lli_status st = lli_model_params_create(&mp);
    if (!st) st = lli_model_params_set_threads(mp, threads);
    if (st) tool_fail(TOOL, "model parameters", st);
    else st = tool_load_model(TOOL, dir, cache_dir, mp, 0, &m, NULL);
    lli_model_params_free(mp);
    if (!st && file && !(ids = read_ids(file, &n))) st = LLI_E_IO;
    if (!st && text) {
        st = lli_tokenize(m, text, strlen(text), 1, parse_special, NULL, 0, &n);
        if (st == LLI_E_BUFFER_TOO_SMALL || st == LLI_OK) st = (ids = malloc((n + 1) * sizeof *ids)) ? LLI_OK : LLI_E_NOMEM;
        if (!st) st = lli_tokenize(m, text, strlen(text), 1, parse_special, ids, n, &n);
        if (st) tool_fail(TOOL, "lli_tokenize", st);
    }
    if (!st && n == 0) {
        fprintf(stderr, TOOL ": the input has no tokens\n");
        st = LLI_E_INVALID_ARG;
    }
    int64_t vocab = 0;
    if (m) lli_model_info_int(m, LLI_INFO_N_VOCAB, &vocab);
    if (top > vocab) top = (int)vocab;
    if (!st && (st = tool_engine_open(m, (int64_t)n, (int)n, threads, &e))) tool_fail(TOOL, "making the context", st);
    lli_context *ctx = e.ctx;
    lli_batch *b = e.batch;
    lli_seq_id seq = 0;
    if (!st && (st = lli_kv_seq_create(e.kv, &seq))) tool_fail(TOOL, "lli_kv_seq_create", st);
    for (size_t i = 0; !st && i < n; i++)
        if ((st = lli_batch_add(b, ids[i], seq, (int64_t)i, 1))) tool_fail(TOOL, "lli_batch_add", st);
    if (!st && (st = lli_decode(ctx, b))) tool_fail(TOOL, "lli_decode", st);
    int *best = malloc((size_t)top * sizeof *best);
    for (size_t i = 0; !st && best && i < n; i++) {
        const float *l;
        st = lli_get_logits(ctx, (int32_t)i, &l);
        if (st) {
            tool_fail(TOOL, "lli_get_logits", st);
            break;
        }
        /* top-K by insertion: K is small */
        int k = 0;
        for (int64_t t = 0; t < vocab; t++) {
            if (k == top && l[t] <= l[best[k - 1]]) continue;
            int j = k < top ? k++ : k - 1;
            while (j > 0 && l[best[j - 1]] < l[t]) best[j] = best[j - 1], j--;
            best[j] = (int)t;
        }
        printf("{\"pos\": %zu, \"top\": [", i);
        for (int j = 0; j < k; j++) printf(j ? ", %d" : "%d", best[j]);
        printf("], \"logit\": [");
        for (int j = 0; j < k; j++) printf(j ? ", %.6g" : "%.6g", l[best[j]]);
        printf("]}\n");
    }
    free(best);
    free(ids);
    tool_engine_close(&e);
    lli_model_free(m);
    return st ? 1 : 0;
}
