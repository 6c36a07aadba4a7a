/* A reference scheduler for continuous batching, written against the public API only.
 *
 * Requests arrive over time (a seeded Poisson process) with prompts of mixed lengths. Every step
 * carries at most BUDGET tokens: one token for each running request that is decoding, chunks of
 * prompts still being prefilled, and the first chunks of newly admitted requests, all in one
 * lli_decode().
 * A request is admitted only when the KV cache has free blocks for it; when a running request
 * needs a block and none is left, the most recently admitted request is preempted, either by
 * recompute (its sequence is freed and its prompt and tokens so far are prefilled again later) or
 * by swap (its KV state is saved to host memory and restored later).
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

typedef enum { WAITING, RUNNING, SWAPPED, DONE } req_state;

typedef struct {
    double arrival;     /* seconds after the start of the batched run */
    lli_token *tokens;  /* the prompt, then every token generated so far */
    int n_prompt, n_total, max_new;
    int n_cached;       /* tokens[0 .. n_cached) are in the cache, or in the swap buffer */
    int lost;           /* tokens it had in the cache when preempted by recompute */
    int scheduled;      /* tokens of this request in the current step */
    lli_seq_id seq;     /* -1 while it holds no sequence */
    req_state state;
    void *swap;         /* the saved KV state while SWAPPED */
    size_t swap_size;
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

/* The scheduler's state, kept together so the helpers below read like the policy they implement. */
typedef struct {
    lli_kv_cache *kv;
    int block_size;
    int swap; /* preemption by swap (1) or recompute (0) */
    request **running; /* admission order: the last one is preempted first */
    int n_running;
    int64_t planned_blocks; /* blocks the step being built will take */
    int preemptions, swap_outs, recomputed_tokens, reused_tokens;
} scheduler;

static int64_t blocks_for(const scheduler *s, int64_t n_tokens) {
    return (n_tokens + s->block_size - 1) / s->block_size;
}

static int64_t free_blocks(const scheduler *s) {
    int64_t n;
    CHECK(lli_kv_free_blocks(s->kv, &n));
    return n - s->planned_blocks;
}

static void preempt(scheduler *s, request *r) {
    if (s->swap) {
        /* The first call only measures; the second writes. */
        lli_status st = lli_kv_seq_save_buffer(s->kv, r->seq, NULL, 0, &r->swap_size);
        if (st != LLI_E_BUFFER_TOO_SMALL) CHECK(st);
        r->swap = malloc(r->swap_size);
        if (!r->swap) {
            fprintf(stderr, "out of memory for a swapped sequence\n");
            exit(1);
        }
        CHECK(lli_kv_seq_save_buffer(s->kv, r->seq, r->swap, r->swap_size, &r->swap_size));
        r->state = SWAPPED;
        s->swap_outs++;
    } else {
        r->lost = r->n_cached;
        r->n_cached = 0;
        r->state = WAITING;
    }
    CHECK(lli_kv_seq_free(s->kv, r->seq));
    r->seq = -1;
    s->n_running--; /* it is always the youngest: the last one in the list */
    s->preemptions++;
}

/* Put tokens[n_cached ..] of a running request into the step, as many as the budget and the cache
 * allow. Logits are wanted only for the last known token: its successor is the next one generated. */
static int schedule_tokens(scheduler *s, request *r, lli_batch *batch, int budget, request **entry_req) {
    int take = r->n_total - r->n_cached;
    if (take > budget) take = budget;
    if (take <= 0) return 0;
    s->planned_blocks += blocks_for(s, r->n_cached + take) - blocks_for(s, r->n_cached);
    for (int i = 0; i < take; i++) {
        int pos = r->n_cached + i;
        int32_t entry;
        CHECK(lli_batch_size(batch, &entry));
        CHECK(lli_batch_add(batch, r->tokens[pos], r->seq, pos, pos == r->n_total - 1));
        entry_req[entry] = r;
    }
    r->scheduled = take;
    return take;
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
    for (int i = 1; i < argc; i += 2) {
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
        r->seq = -1;
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
    scheduler s = {.kv = kv, .block_size = 16, .swap = swap};
    s.running = calloc((size_t)n_req, sizeof *s.running);
    int64_t total_blocks;
    CHECK(lli_kv_free_blocks(kv, &total_blocks));
    for (int i = 0; i < n_req; i++) {
        /* Admission keeps one block of headroom; with that, every request fits once it is alone. */
        if (blocks_for(&s, reqs[i].n_prompt + reqs[i].max_new) + 1 > total_blocks) {
            fprintf(stderr, "request %d needs %d tokens and a spare block; the cache holds %lld blocks of %d: raise --kv-tokens\n", i,
                    reqs[i].n_prompt + reqs[i].max_new, (long long)total_blocks, s.block_size);
            return 2;
        }
    }
    request **entry_req = calloc((size_t)budget, sizeof *entry_req);
    int n_done = 0, steps = 0, generated = 0;
    int64_t step_tokens = 0;
    t0 = now_s();
    while (n_done < n_req) {
        double now = now_s() - t0;
        int arrived_waiting = 0;
        double next_arrival = -1;
        for (int i = 0; i < n_req; i++) {
            if (reqs[i].state == RUNNING || reqs[i].state == DONE) continue;
            if (reqs[i].arrival <= now) arrived_waiting = 1;
            else if (next_arrival < 0 || reqs[i].arrival < next_arrival) next_arrival = reqs[i].arrival;
        }
        if (!s.n_running && !arrived_waiting) { /* idle until the next request arrives */
            sleep_s(next_arrival - now);
            continue;
        }
        CHECK(lli_batch_clear(batch));
        s.planned_blocks = 0;
        int left = budget, preempted_now = 0;

        /* 1. Running requests, oldest first: decode tokens and the rest of their prefill. A prefill
         * chunk leaves room in the budget for the younger requests' decode tokens, so that a long
         * prompt does not stall everyone's generation. A request that needs a block the cache lacks
         * takes it from the youngest, which may be itself. */
        for (int i = 0; i < s.n_running && left > 0; i++) {
            request *r = s.running[i];
            int decoding_after = 0;
            for (int j = i + 1; j < s.n_running; j++) decoding_after += s.running[j]->n_total - s.running[j]->n_cached == 1;
            int take = r->n_total - r->n_cached, cap = left - decoding_after > 1 ? left - decoding_after : 1;
            if (take > cap) take = cap;
            int64_t need = blocks_for(&s, r->n_cached + take) - blocks_for(&s, r->n_cached);
            while (need > free_blocks(&s) && s.n_running - 1 > i) {
                preempt(&s, s.running[s.n_running - 1]);
                preempted_now = 1;
            }
            if (need > free_blocks(&s)) {
                preempt(&s, r);
                preempted_now = 1;
                break;
            }
            left -= schedule_tokens(&s, r, batch, take, entry_req);
        }

        /* 2. Admission, first come first served, unless this step just had to preempt: a request is
         * admitted when the cache can hold all it knows so far plus one block of headroom. */
        for (int i = 0; i < n_req && left > 0 && !preempted_now; i++) {
            request *r = &reqs[i];
            if ((r->state != WAITING && r->state != SWAPPED) || r->arrival > now) continue;
            if (blocks_for(&s, r->n_total + 1) + 1 > free_blocks(&s)) break;
            if (r->state == SWAPPED) {
                CHECK(lli_kv_seq_restore_buffer(kv, r->swap, r->swap_size, &r->seq));
                free(r->swap);
                r->swap = NULL;
            } else {
                /* Blocks of this prompt still cached (after a recompute preemption, or a shared
                 * prompt) are attached instead of computed. */
                int64_t reused = 0;
                lli_status st = lli_kv_seq_create_with_prefix(kv, r->tokens, r->n_total, &r->seq, &reused);
                if (st == LLI_E_NOT_IMPLEMENTED) st = lli_kv_seq_create(kv, &r->seq);
                CHECK(st);
                r->n_cached = (int)reused;
                s.reused_tokens += r->n_cached;
                if (r->lost > r->n_cached) s.recomputed_tokens += r->lost - r->n_cached;
                r->lost = 0;
            }
            r->state = RUNNING;
            s.running[s.n_running++] = r;
            left -= schedule_tokens(&s, r, batch, left, entry_req);
        }

        /* 3. One step for all of them, then one greedy token for each request whose last known
         * token was in it. */
        int32_t n_entries;
        CHECK(lli_batch_size(batch, &n_entries));
        if (n_entries == 0) continue;
        CHECK(lli_decode(ctx, batch));
        steps++;
        step_tokens += n_entries;
        double t_out = now_s() - t0;
        for (int32_t e = 0; e < n_entries; e++) {
            request *r = entry_req[e]; /* a request's entries are contiguous: skip to its last */
            r->n_cached += r->scheduled;
            e += r->scheduled - 1;
            r->scheduled = 0;
            if (r->n_cached < r->n_total) continue; /* prefill not finished */
            lli_token tok;
            CHECK(lli_sampler_sample(greedy, ctx, e, &tok));
            int k = r->n_total - r->n_prompt;
            r->tokens[r->n_total++] = tok;
            r->token_time[k] = t_out;
            generated++;
            if (tok == eos || k + 1 == r->max_new) {
                CHECK(lli_kv_seq_free(kv, r->seq));
                r->seq = -1;
                r->state = DONE;
                n_done++;
                int j = 0;
                while (s.running[j] != r) j++;
                memmove(&s.running[j], &s.running[j + 1], (size_t)(s.n_running - j - 1) * sizeof *s.running);
                s.n_running--;
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

    printf("%d requests at %.1f/s (seed %llu), prompts %d..%d tokens, KV cache %lld blocks of %d, budget %d, "
           "preemption by %s\n",
           n_req, rate, (unsigned long long)seed, shortest, longest, (long long)total_blocks, s.block_size,
           budget, swap ? "swap" : "recompute");
    printf("alone:   %d tokens in %.2f s, %.1f tokens/s\n", alone_tokens, alone_s, alone_tokens / alone_s);
    printf("batched: %d tokens in %.2f s, %.1f tokens/s; %d steps of %.1f tokens on average\n", generated, batched_s,
           generated / batched_s, steps, steps ? (double)step_tokens / steps : 0.0);
    printf("preemptions: %d (%d swapped out, %d tokens computed again); %d prompt tokens found in the prefix cache\n",
           s.preemptions, s.swap_outs, s.recomputed_tokens, s.reused_tokens);
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
    if (s.preemptions < min_preempt) {
        printf("FAILED: %d preemptions, at least %d expected\n", s.preemptions, min_preempt);
        status = 1;
    }

    for (int i = 0; i < n_req; i++) free(reqs[i].tokens), free(reqs[i].token_time), free(reqs[i].alone), free(reqs[i].swap);
    free(reqs), free(s.running), free(entry_req), free(ttft), free(itl);
    lli_batch_free(batch);
    lli_sampler_free(greedy);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_model_free(model);
    return status;
}
