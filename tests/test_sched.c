/* The reference scheduler's contract on the tiny model: what it refuses, and that the requests it
 * runs together get exactly the greedy tokens each gets alone, with preemptions of both kinds.
 * (examples/continuous_batching runs the same check on the real model with timed arrivals.) */
#include <stdlib.h>

#define LLI_EXPERIMENTAL
#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

enum { N_REQ = 5, MAX_NEW = 12 };

static lli_model *g_model;

/* Greedy tokens of one prompt alone, in a cache of its own. */
static void run_alone(const lli_token *prompt, int n, lli_token *out) {
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_batch *b;
    lli_sampler *greedy;
    lli_seq_id seq;
    lli_kv_cache_create(g_model, NULL, &kv);
    lli_context_create(g_model, kv, NULL, &ctx);
    lli_batch_create(64, &b);
    lli_sampler_create(&greedy);
    lli_sampler_add_greedy(greedy);
    lli_kv_seq_create(kv, &seq);
    for (int i = 0; i < n; i++) lli_batch_add(b, prompt[i], seq, i, i == n - 1);
    int32_t entry = n - 1;
    for (int k = 0; k < MAX_NEW; k++) {
        CHECK(lli_decode(ctx, b) == LLI_OK, "alone decode: %s", lli_last_error());
        lli_sampler_sample(greedy, ctx, entry, &out[k]);
        lli_batch_clear(b);
        lli_batch_add(b, out[k], seq, n + k, 1);
        entry = 0;
    }
    lli_sampler_free(greedy), lli_batch_free(b), lli_context_free(ctx), lli_kv_cache_free(kv);
}

static void run_together(int preempt) {
    lli_token prompts[N_REQ][40], alone[N_REQ][MAX_NEW], got[N_REQ][MAX_NEW];
    int n_prompt[N_REQ], n_got[N_REQ] = {0};
    for (int r = 0; r < N_REQ; r++) {
        n_prompt[r] = 6 + 7 * r;
        for (int i = 0; i < n_prompt[r]; i++) prompts[r][i] = (lli_token)(1 + (r * 37 + i * 11) % 300);
        run_alone(prompts[r], n_prompt[r], alone[r]);
    }
    /* A cache of 8 blocks of 16: too small for all five at once, so requests get preempted. */
    lli_kv_cache_params *kp;
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_kv_cache_params_create(&kp);
    lli_kv_cache_params_set_capacity(kp, 128);
    CHECK(lli_kv_cache_create(g_model, kp, &kv) == LLI_OK, "cache: %s", lli_last_error());
    lli_kv_cache_params_free(kp);
    lli_context_create(g_model, kv, NULL, &ctx);
    lli_sched_params *sp;
    lli_sched *s;
    lli_sched_params_create(&sp);
    lli_sched_params_set_budget(sp, 16);
    lli_sched_params_set_preempt(sp, preempt);
    CHECK(lli_sched_create(kv, sp, &s) == LLI_OK, "create: %s", lli_last_error());
    lli_sched_params_free(sp);
    lli_sampler *greedy;
    lli_sampler_create(&greedy);
    lli_sampler_add_greedy(greedy);

    int64_t ids[N_REQ];
    for (int r = 0; r < N_REQ; r++)
        CHECK(lli_sched_add(s, prompts[r], n_prompt[r], MAX_NEW, &ids[r]) == LLI_OK, "add: %s", lli_last_error());
    int done = 0, steps = 0, appended_first = 0;
    while (done < N_REQ && steps++ < 1000) {
        int32_t n_ready;
        CHECK(lli_sched_step(s, ctx, &n_ready) == LLI_OK, "step: %s", lli_last_error());
        for (int32_t i = 0; i < n_ready; i++) {
            int64_t id;
            int32_t entry;
            lli_sched_ready(s, i, &id, &entry);
            int r = 0;
            while (ids[r] != id) r++;
            if (!appended_first && n_ready > 0) {
                /* A ready request must get its token before the next step plans. */
                CHECK_FAILS(lli_sched_step(s, ctx, &(int32_t){0}), LLI_E_INVALID_ARG, "lli_sched_append");
                appended_first = 1;
            }
            lli_token tok;
            lli_sampler_sample(greedy, ctx, entry, &tok);
            got[r][n_got[r]++] = tok;
            if (n_got[r] == MAX_NEW) {
                CHECK(lli_sched_finish(s, id) == LLI_OK, "finish: %s", lli_last_error());
                done++;
            } else {
                CHECK(lli_sched_append(s, id, tok) == LLI_OK, "append: %s", lli_last_error());
                CHECK_FAILS(lli_sched_append(s, id, tok), LLI_E_INVALID_ARG, "no logits ready");
            }
        }
    }
    CHECK(done == N_REQ, "%d of %d requests finished in %d steps", done, N_REQ, steps);
    for (int r = 0; r < N_REQ; r++)
        CHECK(n_got[r] == MAX_NEW && !memcmp(got[r], alone[r], sizeof alone[r]),
              "request %d: batched tokens differ from its run alone (preempt mode %d)", r, preempt);
    int64_t preemptions, swap_outs, left;
    lli_sched_stat(s, LLI_SCHED_STAT_PREEMPTIONS, &preemptions);
    lli_sched_stat(s, LLI_SCHED_STAT_SWAP_OUTS, &swap_outs);
    lli_sched_stat(s, LLI_SCHED_STAT_REQUESTS, &left);
    CHECK(preemptions > 0, "no preemption happened in a cache too small for all requests");
    CHECK(preempt == LLI_SCHED_PREEMPT_SWAP ? swap_outs == preemptions : swap_outs == 0, "swap outs %lld of %lld",
          (long long)swap_outs, (long long)preemptions);
    CHECK(left == 0, "%lld requests left", (long long)left);
    int64_t free_blocks, total;
    lli_kv_free_blocks(kv, &free_blocks);
    lli_kv_stat(kv, LLI_KV_STAT_BLOCKS_TOTAL, &total);
    CHECK(free_blocks == total, "finished requests left %lld blocks held", (long long)(total - free_blocks));
    lli_sampler_free(greedy), lli_sched_free(s), lli_context_free(ctx), lli_kv_cache_free(kv);
}

static void test_refusals(void) {
    lli_kv_cache_params *kp;
    lli_kv_cache *kv;
    lli_kv_cache_params_create(&kp);
    lli_kv_cache_params_set_capacity(kp, 64);
    lli_kv_cache_create(g_model, kp, &kv);
    lli_kv_cache_params_free(kp);
    lli_sched *s;
    lli_sched_params *sp;
    CHECK_FAILS(lli_sched_create(NULL, NULL, &s), LLI_E_INVALID_ARG, "NULL");
    lli_sched_params_create(&sp);
    CHECK_FAILS(lli_sched_params_set_budget(sp, 0), LLI_E_INVALID_ARG, "budget");
    CHECK_FAILS(lli_sched_params_set_preempt(sp, 7), LLI_E_INVALID_ARG, "mode 7");
    CHECK_FAILS(lli_sched_params_set_max_running(sp, 0), LLI_E_INVALID_ARG, "0");
    lli_sched_params_free(sp);
    CHECK(lli_sched_create(kv, NULL, &s) == LLI_OK, "create with defaults: %s", lli_last_error());
    lli_token prompt[100] = {1};
    int64_t id;
    CHECK_FAILS(lli_sched_add(s, prompt, 0, 4, &id), LLI_E_INVALID_ARG, "at least 1");
    CHECK_FAILS(lli_sched_add(s, prompt, 60, 30, &id), LLI_E_KV_FULL, "60 prompt tokens", "cache holds 4 blocks");
    CHECK(lli_sched_add(s, prompt, 10, 1, &id) == LLI_OK, "add: %s", lli_last_error());
    CHECK_FAILS(lli_sched_append(s, id, 5), LLI_E_INVALID_ARG, "no logits ready");
    /* max_new is what admission reserved room for: one more token is refused. */
    lli_context *ctx;
    int32_t n_ready, entry;
    int64_t got;
    lli_context_create(g_model, kv, NULL, &ctx);
    CHECK(lli_sched_step(s, ctx, &n_ready) == LLI_OK && n_ready == 1, "step: %s", lli_last_error());
    CHECK(lli_sched_ready(s, 0, &got, &entry) == LLI_OK && got == id && entry == 9, "ready %lld entry %d", (long long)got, entry);
    CHECK(lli_sched_append(s, id, 5) == LLI_OK, "append: %s", lli_last_error());
    CHECK(lli_sched_step(s, ctx, &n_ready) == LLI_OK && n_ready == 1, "step: %s", lli_last_error());
    CHECK_FAILS(lli_sched_append(s, id, 6), LLI_E_INVALID_ARG, "already has its 1 new tokens");
    lli_context_free(ctx);
    CHECK_FAILS(lli_sched_finish(s, id + 1000), LLI_E_INVALID_ARG, "no request");
    CHECK_FAILS(lli_sched_ready(s, 5, &id, &(int32_t){0}), LLI_E_INVALID_ARG, "index 5");
    CHECK_FAILS(lli_sched_stat(s, 99, &id), LLI_E_INVALID_ARG, "unknown key 99");
    /* Freed with a request still running: nothing leaks (the sanitizer build checks). */
    lli_sched_free(s);
    lli_kv_cache_free(kv);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TINY.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sched-model", argv[2]);
    test_rm_rf(dir);
    CHECK(lli_convert_gguf(argv[1], dir, NULL) == LLI_OK, "convert: %s", lli_last_error());
    CHECK(lli_model_load(dir, NULL, &g_model) == LLI_OK, "load: %s", lli_last_error());
    if (!g_model) return check_summary();
    test_refusals();
    run_together(LLI_SCHED_PREEMPT_RECOMPUTE);
    run_together(LLI_SCHED_PREEMPT_SWAP);
    lli_model_free(g_model);
    test_rm_rf(dir);
    return check_summary();
}
