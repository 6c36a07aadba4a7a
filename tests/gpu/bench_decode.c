/* Aggregate decode throughput with many sequences at once: S sequences each get a prompt, then
 * every step decodes one token of each (S entries per step). Prints one key=value line per S.
 * Usage: bench_decode MODEL_DIR [cuda|cpu] [S...] (default S: 1 8 32 64 128). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_skip.h"
#include "llminfer.h"

#define PROMPT 128
#define GEN 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static lli_status run(lli_model *m, int S, double *tps) {
    lli_kv_cache_params *kp = NULL;
    lli_context_params *cp = NULL;
    lli_kv_cache *kv = NULL;
    lli_context *ctx = NULL;
    lli_batch *b = NULL;
    int64_t vocab = 0;
    lli_model_info_int(m, LLI_INFO_N_VOCAB, &vocab);
    int width = S > PROMPT ? S : PROMPT;
    lli_status st = lli_kv_cache_params_create(&kp);
    if (!st) st = lli_kv_cache_params_set_capacity(kp, (int64_t)S * (PROMPT + GEN + 32));
    if (!st) st = lli_kv_cache_create(m, kp, &kv);
    if (!st) st = lli_context_params_create(&cp);
    if (!st) st = lli_context_params_set_max_batch(cp, width);
    if (!st) st = lli_context_create(m, kv, cp, &ctx);
    if (!st) st = lli_batch_create(width, &b);
    lli_seq_id *ids = calloc((size_t)S, sizeof *ids);
    srand(7);
    for (int s = 0; !st && s < S; s++) {
        st = lli_kv_seq_create(kv, &ids[s]);
        lli_batch_clear(b);
        for (int i = 0; !st && i < PROMPT; i++) st = lli_batch_add(b, rand() % (int)vocab, ids[s], i, i == PROMPT - 1);
        if (!st) st = lli_decode(ctx, b);
    }
    double t0 = now();
    for (int g = 0; !st && g < GEN; g++) {
        lli_batch_clear(b);
        for (int s = 0; !st && s < S; s++) st = lli_batch_add(b, rand() % (int)vocab, ids[s], PROMPT + g, 1);
        if (!st) st = lli_decode(ctx, b);
    }
    double secs = now() - t0;
    *tps = (double)S * GEN / secs;
    free(ids);
    lli_batch_free(b);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_context_params_free(cp);
    lli_kv_cache_params_free(kp);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_decode MODEL_DIR [cuda|cpu] [S...]\n");
        return 2;
    }
    int backend = argc > 2 && !strcmp(argv[2], "cpu") ? LLI_BACKEND_CPU : LLI_BACKEND_CUDA;
    int sizes[16] = {1, 8, 32, 64, 128}, n_sizes = 5;
    if (argc > 3) {
        n_sizes = 0;
        for (int i = 3; i < argc && n_sizes < 16; i++) sizes[n_sizes++] = atoi(argv[i]);
    }
    lli_model_params *mp = NULL;
    lli_model *m = NULL;
    lli_model_params_create(&mp);
    lli_model_params_set_backend(mp, backend);
    lli_status st = lli_model_load(argv[1], mp, &m);
    lli_model_params_free(mp);
    if (st) {
        if (backend == LLI_BACKEND_CUDA && st == LLI_E_BACKEND) return gpu_skip("bench_decode", lli_last_error());
        fprintf(stderr, "load: %s\n", lli_last_error());
        return 1;
    }
    double warm;
    run(m, 1, &warm);
    for (int i = 0; i < n_sizes; i++) {
        double tps = 0;
        st = run(m, sizes[i], &tps);
        if (st) {
            fprintf(stderr, "S=%d: %s: %s\n", sizes[i], lli_status_str(st), lli_last_error());
            lli_model_free(m);
            return 1;
        }
        printf("decode_seqs_%d_tps=%.1f\n", sizes[i], tps);
        fflush(stdout);
    }
    lli_model_free(m);
    return 0;
}
