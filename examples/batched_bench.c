/* Aggregate generation speed with many sequences at once, the measurement behind
 * scripts/bench-batched.py. For each width N: N sequences each get their own prompt of P tokens
 * (prefilled several sequences per step), then G steps each add one token to every sequence, with
 * logits for all of them. Generation speed is N * G tokens over the time of those G steps.
 * Tokens are pseudo-random ids, the same for every run, so that nothing but the engine is timed.
 *   ./batched_bench -m models/smollm2-135m [-p 64] [-n 32] [-s 1,4,16,64] [-t 2] [-r 3]
 * One line per width: N, prompt tokens/s, generation tokens/s (median of the repetitions, after
 * one that is not counted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llminfer.h>

#define CHECK(call)                                                                                        \
    do {                                                                                                   \
        lli_status st_ = (call);                                                                           \
        if (st_ != LLI_OK) {                                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, lli_status_str(st_), lli_last_error()); \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

enum { MAX_STEP = 512, MAX_WIDTHS = 16, MAX_REPS = 32 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *dir = NULL, *widths_arg = "1,4,16,64";
    int n_prompt = 64, n_gen = 32, threads = 2, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "-p")) n_prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) widths_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) reps = atoi(argv[i + 1]);
        else dir = NULL, i = argc;
    }
    int widths[MAX_WIDTHS], n_widths = 0;
    for (const char *p = widths_arg; *p && n_widths < MAX_WIDTHS; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        widths[n_widths++] = atoi(p);
    if (!dir || argc % 2 == 0 || n_prompt < 1 || n_gen < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: %s -m MODEL_DIR [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-s WIDTHS] [-t THREADS] [-r REPS]\n",
                argv[0]);
        return 2;
    }
    lli_model *model;
    CHECK(lli_model_load(dir, NULL, &model));
    int64_t vocab;
    CHECK(lli_model_info_int(model, LLI_INFO_N_VOCAB, &vocab));
    uint32_t rng = 1;
    printf("width pp_tokens_per_s tg_tokens_per_s\n");
    for (int w = 0; w < n_widths; w++) {
        int n = widths[w];
        if (n < 1) continue;
        lli_kv_cache_params *kp;
        lli_context_params *cp;
        lli_kv_cache *kv;
        lli_context *ctx;
        lli_batch *batch;
        CHECK(lli_kv_cache_params_create(&kp));
        CHECK(lli_kv_cache_params_set_capacity(kp, (int64_t)n * (n_prompt + n_gen + 16)));
        CHECK(lli_kv_cache_create(model, kp, &kv));
        CHECK(lli_context_params_create(&cp));
        CHECK(lli_context_params_set_threads(cp, threads));
        CHECK(lli_context_params_set_max_batch(cp, MAX_STEP > n ? MAX_STEP : n));
        CHECK(lli_context_create(model, kv, cp, &ctx));
        CHECK(lli_batch_create(MAX_STEP > n ? MAX_STEP : n, &batch));
        lli_seq_id *seq = malloc((size_t)n * sizeof *seq);
        double pp[MAX_REPS], tg[MAX_REPS];
        for (int r = -1; r < reps; r++) { /* rep -1 warms caches and page tables, and is not counted */
            for (int s = 0; s < n; s++) CHECK(lli_kv_seq_create(kv, &seq[s]));
            /* Prefill: the prompts back to back, cut into steps of at most MAX_STEP entries. */
            double t0 = now_s();
            int32_t size = 0;
            CHECK(lli_batch_clear(batch));
            for (int s = 0; s < n; s++) {
                for (int i = 0; i < n_prompt; i++) {
                    rng = rng * 1664525u + 1013904223u;
                    CHECK(lli_batch_add(batch, (lli_token)(rng % (uint32_t)vocab), seq[s], i, i == n_prompt - 1));
                    if (++size == MAX_STEP) {
                        CHECK(lli_decode(ctx, batch));
                        CHECK(lli_batch_clear(batch));
                        size = 0;
                    }
                }
            }
            if (size) CHECK(lli_decode(ctx, batch));
            if (r >= 0) pp[r] = (double)n * n_prompt / (now_s() - t0);
            /* Generation: one token for every sequence per step, all wanting logits. */
            t0 = now_s();
            for (int g = 0; g < n_gen; g++) {
                CHECK(lli_batch_clear(batch));
                for (int s = 0; s < n; s++) {
                    rng = rng * 1664525u + 1013904223u;
                    CHECK(lli_batch_add(batch, (lli_token)(rng % (uint32_t)vocab), seq[s], n_prompt + g, 1));
                }
                CHECK(lli_decode(ctx, batch));
            }
            if (r >= 0) tg[r] = (double)n * n_gen / (now_s() - t0);
            for (int s = 0; s < n; s++) CHECK(lli_kv_seq_free(kv, seq[s]));
        }
        qsort(pp, (size_t)reps, sizeof *pp, cmp_double);
        qsort(tg, (size_t)reps, sizeof *tg, cmp_double);
        printf("%d %.2f %.2f\n", n, pp[reps / 2], tg[reps / 2]);
        fflush(stdout);
        free(seq);
        lli_batch_free(batch);
        lli_context_free(ctx);
        lli_context_params_free(cp);
        lli_kv_cache_free(kv);
        lli_kv_cache_params_free(kp);
    }
    lli_model_free(model);
    return 0;
}
