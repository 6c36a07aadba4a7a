/* Continuous batching with the library's reference scheduler (lli_sched_*, experimental API).
 *
 * Requests arrive over time (a seeded Poisson process) with prompts of mixed lengths. The host
 * loop below adds each request when it arrives, calls lli_sched_step() for every step and samples
 * the requests whose logits are ready; the scheduler decides what each step carries (at most
 * BUDGET tokens: decode tokens, prompt chunks, newly admitted requests), admits requests when the
 * KV cache has free blocks for them, and preempts the youngest by recompute or by swap when a
 * running request needs a block that is not there (src/runtime/scheduler.c has the policy).
 *
 * Before the batched run, every request is run alone (greedy); the batched run must reproduce
 * each request's tokens exactly, whatever the arrival order and preemptions. Exit status 1 if not.
 *
 *   ./continuous_batching -m models/smollm2-135m -n 12 --rate 20 --kv-tokens 256 --preempt swap */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LLI_EXPERIMENTAL /* the scheduler is in the header's experimental section */
#include <llminfer.h>

#define CHECK(call)                                                                                        \
    do {                                                                                                   \
        lli_status st_ = (call);                                                                           \
        if (st_ != LLI_OK) {                                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, lli_status_str(st_), lli_last_error()); \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

/* Prompts of very different lengths, so that short requests overtake long prefills. */
static const char *const TEXTS[] = {
    "The capital of France is",
    "def fibonacci(n):",
    "Water boils at 100 degrees Celsius at sea level. At higher altitudes the air pressure is lower, so",
    "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker "
    "who had never once left the valley. Every morning he opened his shop, wound the clocks on the wall, "
    "and waited for the children to pass by on their way to school. One winter morning, a stranger",
    "List three primary colors:",
    "Photosynthesis is the process by which green plants and some other organisms use sunlight to "
    "synthesize foods from carbon dioxide and water. In plants, photosynthesis generally involves the "
    "green pigment chlorophyll and generates oxygen as a byproduct. The most important consequence of "
    "this process for life on Earth is",
    "Q: What is 12 times 12?\nA:",
    "The quick brown fox",
    "In computer science, a linked list is a linear collection of data elements whose order is not "
    "given by their physical placement in memory. Instead, each element points to the next. The main "
    "advantage of a linked list over an array is",
    "Dear hiring manager, I am writing to apply for",
};
enum { N_TEXTS = sizeof TEXTS / sizeof TEXTS[0], MAX_PROMPT = 256 };

typedef struct {
    double arrival;     /* seconds after the start of the batched run */
    lli_token *tokens;  /* the prompt, then every token generated so far */
    int n_prompt, n_total, max_new;
    int64_t id;         /* the scheduler's id, once added */
    int added, done;
    double *token_time; /* when each generated token came out */
    lli_token *alone;   /* the tokens it generated when run alone */
    int n_alone;
} request;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* splitmix64: the arrival times and prompt choices depend on the seed and nothing else. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double percentile(const double *sorted, int n, double p) {
    if (n == 0) return 0;
    int i = (int)ceil(p / 100.0 * n) - 1;
    return sorted[i < 0 ? 0 : i];
}

/* Greedy generation of one request with nothing else in the cache: the reference. */
static int run_alone(lli_context *ctx, lli_kv_cache *kv, lli_batch *batch, lli_sampler *greedy, const request *r,
                     lli_token eos, lli_token *out) {
    lli_seq_id seq;
    CHECK(lli_kv_seq_create(kv, &seq));
    CHECK(lli_batch_clear(batch));
    for (int i = 0; i < r->n_prompt; i++) CHECK(lli_batch_add(batch, r->tokens[i], seq, i, i == r->n_prompt - 1));
    CHECK(lli_decode(ctx, batch));
    int32_t entry = r->n_prompt - 1;
    int n = 0;
    while (n < r->max_new) {
        CHECK(lli_sampler_sample(greedy, ctx, entry, &out[n]));
        if (out[n++] == eos) break;
        if (n == r->max_new) break;
        CHECK(lli_batch_clear(batch));
        CHECK(lli_batch_add(batch, out[n - 1], seq, r->n_prompt + n - 1, 1));
        CHECK(lli_decode(ctx, batch));
        entry = 0;
    }
    CHECK(lli_kv_seq_free(kv, seq));
    return n;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s -m MODEL_DIR [-n REQUESTS] [--rate PER_SECOND] [--seed S] [--kv-tokens N]\n"
            "          [--budget TOKENS] [--max-new N] [--preempt recompute|swap] [--min-preemptions K] [-t THREADS]\n",
            prog);
    exit(2);
}

int main(int argc, char **argv) {
    const char *model_dir = NULL;
    int n_req = 8, kv_tokens = 4096, budget = 64, max_new = 24, min_preempt = 0, threads = 0, swap = 0;
    double rate = 10.0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage(argv[0]);
        if (!strcmp(a, "-m")) model_dir = v;
        else if (!strcmp(a, "-n")) n_req = atoi(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--kv-tokens")) kv_tokens = atoi(v);
        else if (!strcmp(a, "--budget")) budget = atoi(v);
        else if (!strcmp(a, "--max-new")) max_new = atoi(v);
        else if (!strcmp(a, "--min-preemptions")) min_preempt = atoi(v);
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--preempt") && (!strcmp(v, "swap") || !strcmp(v, "recompute"))) swap = !strcmp(v, "swap");
        else usage(argv[0]);
        i++;
    }
    if (!model_dir || n_req < 1 || rate <= 0 || budget < 1 || max_new < 1 || kv_tokens < 1) usage(argv[0]);

    lli_model *model;
    CHECK(lli_model_load(model_dir, NULL, &model));
    int64_t eos64;
    CHECK(lli_model_info_int(model, LLI_INFO_TOKEN_EOS, &eos64));
    lli_token eos = (lli_token)eos64;
    lli_sampler *greedy;
    CHECK(lli_sampler_create(&greedy));
    CHECK(lli_sampler_add_greedy(greedy));

    /* The workload: Poisson arrivals (exponential gaps), a random text and output length each. */
    uint64_t rng = seed;
    request *reqs = calloc((size_t)n_req, sizeof *reqs);
    double t = 0;
    int longest = 0, shortest = MAX_PROMPT;
    for (int i = 0; i < n_req; i++) {
        request *r = &reqs[i];
        t += -log(1.0 - rng_uniform(&rng)) / rate;
        r->arrival = t;
        const char *text = TEXTS[rng_next(&rng) % N_TEXTS];
        r->max_new = max_new / 2 + (int)(rng_next(&rng) % (uint64_t)(max_new - max_new / 2 + 1));
        r->tokens = malloc((size_t)(MAX_PROMPT + r->max_new) * sizeof *r->tokens);
        r->token_time = malloc((size_t)r->max_new * sizeof *r->token_time);
        r->alone = malloc((size_t)r->max_new * sizeof *r->alone);
        size_t np;
        CHECK(lli_tokenize(model, text, strlen(text), 1, 0, r->tokens, MAX_PROMPT, &np));
        r->n_prompt = r->n_total = (int)np;
        if (r->n_prompt > longest) longest = r->n_prompt;
        if (r->n_prompt < shortest) shortest = r->n_prompt;
    }

    /* Every request alone, one after another, in a cache of its own. */
    lli_kv_cache *ref_kv;
    lli_context *ref_ctx;
    lli_context_params *cp;
    lli_batch *batch;
    CHECK(lli_kv_cache_create(model, NULL, &ref_kv));
    CHECK(lli_context_params_create(&cp));
    CHECK(lli_context_params_set_threads(cp, threads));
    CHECK(lli_context_params_set_max_batch(cp, longest > budget ? longest : budget));
    CHECK(lli_context_create(model, ref_kv, cp, &ref_ctx));
    CHECK(lli_batch_create(longest > budget ? longest : budget, &batch));
    double t0 = now_s();
    int alone_tokens = 0;
    for (int i = 0; i < n_req; i++) {
        reqs[i].n_alone = run_alone(ref_ctx, ref_kv, batch, greedy, &reqs[i], eos, reqs[i].alone);
        alone_tokens += reqs[i].n_alone;
    }
    double alone_s = now_s() - t0;
    lli_context_free(ref_ctx);
    lli_kv_cache_free(ref_kv);

    /* The batched run, in a cache that may be far too small for all requests at once. */
    lli_kv_cache_params *kp;
    lli_kv_cache *kv;
    lli_context *ctx;
    CHECK(lli_kv_cache_params_create(&kp));
    CHECK(lli_kv_cache_params_set_capacity(kp, kv_tokens));
    CHECK(lli_kv_cache_create(model, kp, &kv));
    CHECK(lli_context_create(model, kv, cp, &ctx));
    lli_kv_cache_params_free(kp);
    lli_context_params_free(cp);
    lli_sched_params *sp;
    lli_sched *sched;
    CHECK(lli_sched_params_create(&sp));
    CHECK(lli_sched_params_set_budget(sp, budget));
    CHECK(lli_sched_params_set_preempt(sp, swap ? LLI_SCHED_PREEMPT_SWAP : LLI_SCHED_PREEMPT_RECOMPUTE));
    CHECK(lli_sched_create(kv, sp, &sched));
    lli_sched_params_free(sp);
    int64_t total_blocks, block_size;
    CHECK(lli_kv_stat(kv, LLI_KV_STAT_BLOCKS_TOTAL, &total_blocks));
    CHECK(lli_kv_stat(kv, LLI_KV_STAT_BLOCK_SIZE, &block_size));
    int n_done = 0, generated = 0;
    t0 = now_s();
    while (n_done < n_req) {
        double now = now_s() - t0, next_arrival = -1;
        for (int i = 0; i < n_req; i++) {
            request *r = &reqs[i];
            if (r->added) continue;
            if (r->arrival > now) {
                if (next_arrival < 0 || r->arrival < next_arrival) next_arrival = r->arrival;
                continue;
            }
            /* Refused (LLI_E_KV_FULL) only if it could not fit even alone: the message says by how much. */
            CHECK(lli_sched_add(sched, r->tokens, r->n_prompt, r->max_new, &r->id));
            r->added = 1;
        }
        int64_t pending;
        CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_REQUESTS, &pending));
        if (!pending) { /* idle until the next request arrives */
            sleep_s(next_arrival - now);
            continue;
        }
        int32_t n_ready;
        CHECK(lli_sched_step(sched, ctx, &n_ready));
        double t_out = now_s() - t0;
        /* One greedy token for each request whose last known token was in the step. */
        for (int32_t i = 0; i < n_ready; i++) {
            int64_t id;
            int32_t entry;
            CHECK(lli_sched_ready(sched, i, &id, &entry));
            request *r = reqs;
            while (r->id != id || !r->added || r->done) r++;
            lli_token tok;
            CHECK(lli_sampler_sample(greedy, ctx, entry, &tok));
            int k = r->n_total - r->n_prompt;
            r->tokens[r->n_total++] = tok;
            r->token_time[k] = t_out;
            generated++;
            if (tok == eos || k + 1 == r->max_new) {
                CHECK(lli_sched_finish(sched, id));
                r->done = 1;
                n_done++;
            } else {
                CHECK(lli_sched_append(sched, id, tok));
            }
        }
    }
    double batched_s = now_s() - t0;

    /* Latencies: time to first token from arrival, and the gaps between a request's tokens. */
    double *ttft = malloc((size_t)n_req * sizeof *ttft), *itl = malloc((size_t)generated * sizeof *itl);
    int n_itl = 0, mismatches = 0;
    for (int i = 0; i < n_req; i++) {
        request *r = &reqs[i];
        int n_gen = r->n_total - r->n_prompt;
        ttft[i] = r->token_time[0] - r->arrival;
        for (int k = 1; k < n_gen; k++) itl[n_itl++] = r->token_time[k] - r->token_time[k - 1];
        if (n_gen != r->n_alone || memcmp(r->tokens + r->n_prompt, r->alone, (size_t)n_gen * sizeof(lli_token))) {
            int k = 0;
            while (k < n_gen && k < r->n_alone && r->tokens[r->n_prompt + k] == r->alone[k]) k++;
            fprintf(stderr, "request %d: MISMATCH at generated token %d (%d tokens batched, %d alone)\n", i, k, n_gen,
                    r->n_alone);
            mismatches++;
        }
    }
    qsort(ttft, (size_t)n_req, sizeof *ttft, cmp_double);
    qsort(itl, (size_t)n_itl, sizeof *itl, cmp_double);

    int64_t steps, step_tokens, preemptions, swap_outs, recomputed, reused;
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_STEPS, &steps));
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_STEP_TOKENS, &step_tokens));
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_PREEMPTIONS, &preemptions));
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_SWAP_OUTS, &swap_outs));
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_RECOMPUTED_TOKENS, &recomputed));
    CHECK(lli_sched_stat(sched, LLI_SCHED_STAT_REUSED_TOKENS, &reused));
    printf("%d requests at %.1f/s (seed %llu), prompts %d..%d tokens, KV cache %lld blocks of %lld, budget %d, "
           "preemption by %s\n",
           n_req, rate, (unsigned long long)seed, shortest, longest, (long long)total_blocks, (long long)block_size,
           budget, swap ? "swap" : "recompute");
    printf("alone:   %d tokens in %.2f s, %.1f tokens/s\n", alone_tokens, alone_s, alone_tokens / alone_s);
    printf("batched: %d tokens in %.2f s, %.1f tokens/s; %lld steps of %.1f tokens on average\n", generated, batched_s,
           generated / batched_s, (long long)steps, steps ? (double)step_tokens / (double)steps : 0.0);
    printf("preemptions: %lld (%lld swapped out, %lld tokens computed again); %lld prompt tokens found in the prefix cache\n",
           (long long)preemptions, (long long)swap_outs, (long long)recomputed, (long long)reused);
    printf("time to first token  ms: p50 %.1f  p90 %.1f  p99 %.1f\n", 1e3 * percentile(ttft, n_req, 50),
           1e3 * percentile(ttft, n_req, 90), 1e3 * percentile(ttft, n_req, 99));
    printf("inter-token latency  ms: p50 %.1f  p90 %.1f  p99 %.1f\n", 1e3 * percentile(itl, n_itl, 50),
           1e3 * percentile(itl, n_itl, 90), 1e3 * percentile(itl, n_itl, 99));
    int status = 0;
    if (mismatches) {
        printf("FAILED: %d of %d requests differ from their run alone\n", mismatches, n_req);
        status = 1;
    } else {
        printf("all %d requests match their run alone token for token\n", n_req);
    }
    if (preemptions < min_preempt) {
        printf("FAILED: %lld preemptions, at least %d expected\n", (long long)preemptions, min_preempt);
        status = 1;
    }

    for (int i = 0; i < n_req; i++) free(reqs[i].tokens), free(reqs[i].token_time), free(reqs[i].alone);
    free(reqs), free(ttft), free(itl);
    lli_sched_free(sched);
    lli_batch_free(batch);
    lli_sampler_free(greedy);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_model_free(model);
    return status;
}
