/* Speculative decoding: a small draft model guesses K tokens one at a time, and the target model
 * checks all of them in one step (K+1 entries, each wanting logits). The target keeps the longest
 * prefix of guesses that equal its own greedy choices, plus its own token where the first guess
 * went wrong (or one more after the last guess if all were right), and both caches drop the
 * rejected tokens with lli_kv_seq_truncate(). The output is therefore exactly the target's greedy
 * output, which the program checks against a plain greedy run; it exits with status 1 if they differ.
 *
 *   ./speculative -m models/smollm2-135m -d models/smollm2-135m-draft -p "The capital of France is" -n 64 -k 4 */
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

enum { MAX_TOKENS = 4096, MAX_K = 32 };

/* A model with its own cache, context and one sequence: the draft and the target are two of these. */
typedef struct {
    lli_model *model;
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_seq_id seq;
} engine;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void engine_open(engine *e, const char *dir, int threads) {
    lli_context_params *cp;
    CHECK(lli_model_load(dir, NULL, &e->model));
    CHECK(lli_kv_cache_create(e->model, NULL, &e->kv));
    CHECK(lli_context_params_create(&cp));
    CHECK(lli_context_params_set_threads(cp, threads));
    CHECK(lli_context_create(e->model, e->kv, cp, &e->ctx));
    lli_context_params_free(cp);
    CHECK(lli_kv_seq_create(e->kv, &e->seq));
}

static void engine_reset(engine *e) {
    CHECK(lli_kv_seq_free(e->kv, e->seq));
    CHECK(lli_kv_seq_create(e->kv, &e->seq));
}

static void engine_close(engine *e) {
    lli_context_free(e->ctx);
    lli_kv_cache_free(e->kv);
    lli_model_free(e->model);
}

/* Feed tokens[from .. to) at their positions in one step; logits for the last only. */
static void feed(engine *e, lli_batch *batch, const lli_token *tokens, int from, int to) {
    CHECK(lli_batch_clear(batch));
    for (int i = from; i < to; i++) CHECK(lli_batch_add(batch, tokens[i], e->seq, i, i == to - 1));
    CHECK(lli_decode(e->ctx, batch));
}

static lli_token greedy_pick(lli_sampler *greedy, const engine *e, int32_t entry) {
    lli_token t;
    CHECK(lli_sampler_sample(greedy, e->ctx, entry, &t));
    return t;
}

/* The yardstick: the target alone, one token per step. Returns the number of tokens generated. */
static int plain_greedy(engine *t, lli_batch *batch, lli_sampler *greedy, lli_token *tokens, int n_prompt, int n_gen,
                        lli_token eos) {
    feed(t, batch, tokens, 0, n_prompt);
    int n = n_prompt;
    while (n - n_prompt < n_gen) {
        lli_token tok = greedy_pick(greedy, t, (n == n_prompt ? n_prompt : 1) - 1);
        if (tok == eos) break;
        tokens[n++] = tok;
        if (n - n_prompt < n_gen) feed(t, batch, tokens, n - 1, n);
    }
    return n - n_prompt;
}

int main(int argc, char **argv) {
    const char *target_dir = NULL, *draft_dir = NULL, *prompt = "The capital of France is";
    int n_gen = 64, k = 4, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) target_dir = argv[i + 1];
        else if (!strcmp(argv[i], "-d")) draft_dir = argv[i + 1];
        else if (!strcmp(argv[i], "-p")) prompt = argv[i + 1];
        else if (!strcmp(argv[i], "-n")) n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-k")) k = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else target_dir = NULL, i = argc;
    }
    if (!target_dir || !draft_dir || argc % 2 == 0 || n_gen < 1 || k < 1 || k > MAX_K) {
        fprintf(stderr, "usage: %s -m TARGET_DIR -d DRAFT_DIR [-p PROMPT] [-n TOKENS] [-k DRAFT_TOKENS (1..%d)] [-t THREADS]\n",
                argv[0], MAX_K);
        return 2;
    }
    engine target, draft;
    engine_open(&target, target_dir, threads);
    engine_open(&draft, draft_dir, threads);
    int64_t vt, vd, eos64;
    CHECK(lli_model_info_int(target.model, LLI_INFO_N_VOCAB, &vt));
    CHECK(lli_model_info_int(draft.model, LLI_INFO_N_VOCAB, &vd));
    CHECK(lli_model_info_int(target.model, LLI_INFO_TOKEN_EOS, &eos64));
    if (vt != vd) {
        fprintf(stderr, "the draft's vocabulary (%lld) is not the target's (%lld)\n", (long long)vd, (long long)vt);
        return 1;
    }
    lli_token eos = (lli_token)eos64;
    lli_sampler *greedy;
    CHECK(lli_sampler_create(&greedy));
    CHECK(lli_sampler_add_greedy(greedy));
    lli_batch *batch;
    CHECK(lli_batch_create(512, &batch));
    static lli_token plain[MAX_TOKENS], tokens[MAX_TOKENS];
    size_t np;
    CHECK(lli_tokenize(target.model, prompt, strlen(prompt), 1, 0, tokens, 512 - MAX_K - 1, &np));
    int n_prompt = (int)np;
    if (n_prompt + n_gen + MAX_K + 1 > MAX_TOKENS) n_gen = MAX_TOKENS - n_prompt - MAX_K - 1;
    memcpy(plain, tokens, (size_t)n_prompt * sizeof *tokens);

    double t0 = now_s();
    int n_plain = plain_greedy(&target, batch, greedy, plain, n_prompt, n_gen, eos);
    double plain_s = now_s() - t0;
    engine_reset(&target);

    /* tokens[0 .. n) is the output so far. The target's cache holds all of it but the last token,
     * which goes into the next verification step; the draft's cache holds tokens[0 .. d_len). */
    t0 = now_s();
    feed(&target, batch, tokens, 0, n_prompt);
    int n = n_prompt, d_len = 0, done = 0, drafted = 0, accepted = 0, target_steps = 1;
    tokens[n] = greedy_pick(greedy, &target, n_prompt - 1);
    if (tokens[n] == eos) done = 1;
    else n++;
    while (!done && n - n_prompt < n_gen) {
        /* Drafting more than the tokens still wanted would only be thrown away. */
        int kk = n_gen - (n - n_prompt) - 1 < k ? n_gen - (n - n_prompt) - 1 : k;
        lli_token guess[MAX_K];
        for (int j = 0; j < kk; j++) {
            if (j == 0) feed(&draft, batch, tokens, d_len, n); /* whatever it has not seen, at once */
            else {
                CHECK(lli_batch_clear(batch));
                CHECK(lli_batch_add(batch, guess[j - 1], draft.seq, n + j - 1, 1));
                CHECK(lli_decode(draft.ctx, batch));
            }
            int32_t last;
            CHECK(lli_batch_size(batch, &last));
            guess[j] = greedy_pick(greedy, &draft, last - 1);
        }
        if (kk > 0) d_len = n + kk - 1; /* the last guess was never fed */

        /* One target step checks every guess: entry j predicts the token after guess j-1. */
        CHECK(lli_batch_clear(batch));
        CHECK(lli_batch_add(batch, tokens[n - 1], target.seq, n - 1, 1));
        for (int j = 0; j < kk; j++) CHECK(lli_batch_add(batch, guess[j], target.seq, n + j, 1));
        CHECK(lli_decode(target.ctx, batch));
        target_steps++;
        int m = 0;
        lli_token next = greedy_pick(greedy, &target, 0);
        while (m < kk && next == guess[m]) next = greedy_pick(greedy, &target, ++m);
        drafted += kk;
        accepted += m;

        /* Keep the accepted guesses, then the target's own token; drop the rest from both caches. */
        int base = n;
        for (int j = 0; j <= m && !done && n - n_prompt < n_gen; j++) {
            lli_token tok = j < m ? guess[j] : next;
            if (tok == eos) done = 1;
            else tokens[n++] = tok;
        }
        CHECK(lli_kv_seq_truncate(target.kv, target.seq, base + m));
        if (d_len > base + m) {
            CHECK(lli_kv_seq_truncate(draft.kv, draft.seq, base + m));
            d_len = base + m;
        }
    }
    double spec_s = now_s() - t0;
    int n_spec = n - n_prompt;

    char text[8192];
    size_t nb;
    CHECK(lli_detokenize(target.model, tokens, (size_t)n, 1, text, sizeof text - 1, &nb));
    text[nb < sizeof text - 1 ? nb : sizeof text - 1] = 0;
    printf("%s\n", text);
    printf("draft %d tokens at a time: %d of %d guesses accepted (%.1f%%), %.2f tokens per target step\n", k, accepted,
           drafted, drafted ? 100.0 * accepted / drafted : 100.0, (double)n_spec / target_steps);
    printf("plain target: %d tokens in %.3f s (%.1f tokens/s); speculative: %d tokens in %.3f s (%.1f tokens/s); "
           "speed-up %.2fx\n",
           n_plain, plain_s, n_plain / plain_s, n_spec, spec_s, n_spec / spec_s, plain_s / spec_s);
    int same = n_spec == n_plain && !memcmp(tokens + n_prompt, plain + n_prompt, (size_t)n_plain * sizeof *tokens);
    if (same) printf("output identical to the target's greedy output\n");
    else printf("FAILED: the output differs from the target's greedy output\n");

    lli_batch_free(batch);
    lli_sampler_free(greedy);
    engine_close(&draft);
    engine_close(&target);
    return same ? 0 : 1;
}
