/* lli-logits: run a whole input teacher-forced in one batch and print, for every position, the
 * top-K next-token ids and their logits as one JSON object per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "llminfer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lli-logits -m DIR (-f IDS_FILE | -p TEXT) [--top K] [--threads T]\n"
               "IDS_FILE holds token ids separated by spaces; TEXT is tokenized with the model's BOS.\n"
               "Prints {\"pos\": P, \"top\": [id, ...], \"logit\": [x, ...]} per position.\n");
}

static lli_token *read_ids(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 256;
    lli_token *ids = malloc(cap * sizeof *ids);
    long v;
    *n = 0;
    while (ids && fscanf(f, "%ld", &v) == 1) {
        if (*n == cap) {
            lli_token *b = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!b) free(ids);
            ids = b;
            if (!ids) break;
        }
        ids[(*n)++] = (lli_token)v;
    }
    if (ids && !feof(f)) {
        fprintf(stderr, "lli-logits: %s: not a list of integers\n", path);
        free(ids);
        ids = NULL;
    }
    fclose(f);
    return ids;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *file = NULL, *text = NULL;
    int top = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v) dir = v, i++;
        else if (!strcmp(a, "-f") && v) file = v, i++;
        else if (!strcmp(a, "-p") && v) text = v, i++;
        else if (!strcmp(a, "--top") && v) top = atoi(v), i++;
        else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (!dir || !!file == !!text || top < 1) return usage(stderr), 2;
    lli_model *m = NULL;
    tool_engine e = {0};
    lli_token *ids = NULL;
    size_t n = 0;
    lli_status st = lli_model_load(dir, NULL, &m);
    if (!st && file && !(ids = read_ids(file, &n))) {
        fprintf(stderr, "lli-logits: cannot read ids from %s\n", file);
        st = LLI_E_IO;
    }
    if (!st && text) {
        st = lli_tokenize(m, text, strlen(text), 1, 0, NULL, 0, &n);
        if (st == LLI_E_BUFFER_TOO_SMALL || st == LLI_OK) st = (ids = malloc((n + 1) * sizeof *ids)) ? LLI_OK : LLI_E_NOMEM;
        if (!st) st = lli_tokenize(m, text, strlen(text), 1, 0, ids, n, &n);
    }
    if (!st && n == 0) st = LLI_E_INVALID_ARG;
    int64_t vocab = 0;
    if (m) lli_model_info_int(m, LLI_INFO_N_VOCAB, &vocab);
    if (top > vocab) top = (int)vocab;
    if (!st) st = tool_engine_open(m, (int64_t)n, (int)n, threads, &e);
    lli_context *ctx = e.ctx;
    lli_batch *b = e.batch;
    lli_seq_id seq = 0;
    if (!st) st = lli_kv_seq_create(e.kv, &seq);
    for (size_t i = 0; !st && i < n; i++) st = lli_batch_add(b, ids[i], seq, (int64_t)i, 1);
    if (!st) st = lli_decode(ctx, b);
    int *best = malloc((size_t)top * sizeof *best);
    for (size_t i = 0; !st && best && i < n; i++) {
        const float *l;
        st = lli_get_logits(ctx, (int32_t)i, &l);
        if (st) break;
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
    if (st) fprintf(stderr, "lli-logits: %s: %s\n", lli_status_str(st), lli_last_error());
    free(best);
    free(ids);
    tool_engine_close(&e);
    lli_model_free(m);
    return st ? 1 : 0;
}
