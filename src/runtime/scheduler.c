/* The reference continuous-batching scheduler (experimental API, LLI_EXPERIMENTAL in the header).
 *
 * The host still drives: it adds requests when they arrive, calls lli_sched_step() for each step,
 * samples the requests whose logits are ready and hands each token back (or finishes the request).
 * What this file decides is the policy of one step:
 *
 * 1. Running requests, oldest first: their decode token, or the next chunk of their prompt. A
 *    prefill chunk leaves room in the token budget for the younger requests' decode tokens, so a
 *    long prompt does not stall everyone's generation. A request that needs a block the cache lacks
 *    takes it from the youngest running request (which may be itself): preemption by swap (its KV
 *    state saved to host memory and restored later) or by recompute (its sequence freed; its tokens
 *    are prefilled again, reusing whatever blocks of them the prefix cache still holds).
 * 2. Admission, first come first served, unless this step just had to preempt: a waiting or
 *    swapped request starts when the cache can hold all it knows so far plus one block of headroom,
 *    and fewer than max_running requests run.
 * 3. One lli_decode() of the whole step.
 *
 * It is written against the public API only, so that a host that wants another policy can start
 * from a copy of it. Every step's entries are computed independently of the others in the step, so
 * greedy outputs equal those of each request run alone, whatever the arrivals and preemptions. */
#include <stdlib.h>
#include <string.h>

#define LLI_EXPERIMENTAL
#include "llminfer.h"

#include "base/error.h"

typedef enum { REQ_WAITING = LLI_SCHED_WAITING, REQ_RUNNING = LLI_SCHED_RUNNING, REQ_SWAPPED = LLI_SCHED_SWAPPED } req_state;

typedef struct sched_req {
    int64_t id;
    lli_token *tokens;   /* the prompt, then every token the host appended */
    int64_t n_prompt, n_total, max_new;
    int64_t n_cached;    /* tokens[0 .. n_cached) are in the cache, or in the swap buffer */
    int64_t lost;        /* tokens it had in the cache when preempted by recompute */
    int64_t scheduled;   /* its tokens in the step being built */
    lli_seq_id seq;      /* -1 while it holds no sequence */
    req_state state;
    void *swap;          /* the saved KV state while swapped */
    size_t swap_size;
    int64_t preemptions, reused;
} sched_req;

struct lli_sched_params {
    int32_t budget, max_running;
    int preempt, prefix_cache;
};

struct lli_sched {
    lli_kv_cache *kv;
    lli_batch *batch;
    struct lli_sched_params p;
    int64_t block_size, total_blocks;
    sched_req **reqs;      /* live requests in the order they were added */
    int64_t n_reqs, cap_reqs;
    sched_req **running;   /* admission order: the last one is preempted first */
    int64_t n_running;
    sched_req **entry_req; /* per entry of the step: its request */
    int64_t *ready_id;     /* the step's requests whose last known token was in it, and that entry */
    int32_t *ready_entry, n_ready;
    int64_t planned_blocks; /* blocks the step being built will take */
    int64_t next_id;
    int64_t stat[LLI_SCHED_STAT_STEP_TOKENS + 1];
};

/* ---- parameters ---------------------------------------------------------------------------- */

lli_status lli_sched_params_create(lli_sched_params **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_params_create: out is NULL");
    *out = malloc(sizeof **out);
    if (!*out) return lli_fail(LLI_E_NOMEM, "out of memory");
    **out = (struct lli_sched_params){.budget = 64, .max_running = 256, .preempt = LLI_SCHED_PREEMPT_SWAP, .prefix_cache = 1};
    return LLI_OK;
}

void lli_sched_params_free(lli_sched_params *p) { free(p); }

lli_status lli_sched_params_set_budget(lli_sched_params *p, int32_t tokens) {
    if (!p || tokens < 1) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_params_set_budget: params NULL or budget %d < 1", tokens);
    p->budget = tokens;
    return LLI_OK;
}

lli_status lli_sched_params_set_max_running(lli_sched_params *p, int32_t n) {
    if (!p || n < 1) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_params_set_max_running: params NULL or %d < 1", n);
    p->max_running = n;
    return LLI_OK;
}

lli_status lli_sched_params_set_preempt(lli_sched_params *p, int mode) {
    if (!p || (mode != LLI_SCHED_PREEMPT_SWAP && mode != LLI_SCHED_PREEMPT_RECOMPUTE))
        return lli_fail(LLI_E_INVALID_ARG, "lli_sched_params_set_preempt: params NULL or unknown mode %d", mode);
    p->preempt = mode;
    return LLI_OK;
}

lli_status lli_sched_params_set_prefix_cache(lli_sched_params *p, int on) {
    if (!p) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_params_set_prefix_cache: params is NULL");
    p->prefix_cache = on != 0;
    return LLI_OK;
}

/* ---- the scheduler ------------------------------------------------------------------------- */

lli_status lli_sched_create(lli_kv_cache *kv, const lli_sched_params *params, lli_sched **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_create: out is NULL");
    *out = NULL;
    if (!kv) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_create: KV cache is NULL");
    lli_sched_params *defaults = NULL;
    if (!params) {
        lli_status st = lli_sched_params_create(&defaults);
        if (st != LLI_OK) return st;
        params = defaults;
    }
    lli_sched *s = calloc(1, sizeof *s);
    if (!s) {
        lli_sched_params_free(defaults);
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    s->kv = kv;
    s->p = *params;
    lli_sched_params_free(defaults);
    lli_status st = lli_kv_stat(kv, LLI_KV_STAT_BLOCK_SIZE, &s->block_size);
    if (st == LLI_OK) st = lli_kv_stat(kv, LLI_KV_STAT_BLOCKS_TOTAL, &s->total_blocks);
    if (st == LLI_OK) st = lli_batch_create(s->p.budget, &s->batch);
    if (st == LLI_OK) {
        s->entry_req = calloc((size_t)s->p.budget, sizeof *s->entry_req);
        s->ready_id = calloc((size_t)s->p.budget, sizeof *s->ready_id);
        s->ready_entry = calloc((size_t)s->p.budget, sizeof *s->ready_entry);
        if (!s->entry_req || !s->ready_id || !s->ready_entry) st = lli_fail(LLI_E_NOMEM, "out of memory");
    }
    if (st != LLI_OK) {
        lli_sched_free(s);
        return st;
    }
    s->next_id = 1;
    *out = s;
    return LLI_OK;
}

static void req_free(lli_sched *s, sched_req *r) {
    if (r->seq >= 0) lli_kv_seq_free(s->kv, r->seq);
    free(r->swap);
    free(r->tokens);
    free(r);
}

void lli_sched_free(lli_sched *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_reqs; i++) req_free(s, s->reqs[i]);
    free(s->reqs), free(s->running), free(s->entry_req), free(s->ready_id), free(s->ready_entry);
    lli_batch_free(s->batch);
    free(s);
}

static int64_t blocks_for(const lli_sched *s, int64_t n_tokens) { return (n_tokens + s->block_size - 1) / s->block_size; }

static sched_req *find(const lli_sched *s, int64_t id, const char *fn) {
    for (int64_t i = 0; i < s->n_reqs; i++)
        if (s->reqs[i]->id == id) return s->reqs[i];
    lli_fail(LLI_E_INVALID_ARG, "%s: no request %lld", fn, (long long)id);
    return NULL;
}

lli_status lli_sched_add(lli_sched *s, const lli_token *prompt, int64_t n_prompt, int64_t max_new, int64_t *out) {
    if (!s || !prompt || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_add: scheduler, prompt or out is NULL");
    if (n_prompt < 1 || max_new < 1)
        return lli_fail(LLI_E_INVALID_ARG, "lli_sched_add: prompt of %lld tokens, max_new %lld: both must be at least 1",
                        (long long)n_prompt, (long long)max_new);
    /* Admission keeps one block of headroom; with that, every request fits once it runs alone. */
    if (blocks_for(s, n_prompt + max_new) + 1 > s->total_blocks)
        return lli_fail(LLI_E_KV_FULL,
                        "lli_sched_add: %lld prompt tokens + %lld new need %lld blocks and a spare; the cache holds %lld blocks of %lld",
                        (long long)n_prompt, (long long)max_new, (long long)blocks_for(s, n_prompt + max_new),
                        (long long)s->total_blocks, (long long)s->block_size);
    if (s->n_reqs == s->cap_reqs) {
        int64_t cap = s->cap_reqs ? 2 * s->cap_reqs : 16;
        sched_req **reqs = realloc(s->reqs, (size_t)cap * sizeof *reqs);
        if (!reqs) return lli_fail(LLI_E_NOMEM, "out of memory");
        s->reqs = reqs;
        sched_req **running = realloc(s->running, (size_t)cap * sizeof *running);
        if (!running) return lli_fail(LLI_E_NOMEM, "out of memory");
        s->running = running;
        s->cap_reqs = cap;
    }
    sched_req *r = calloc(1, sizeof *r);
    if (r) r->tokens = malloc((size_t)(n_prompt + max_new) * sizeof *r->tokens);
    if (!r || !r->tokens) {
        free(r);
        return lli_fail(LLI_E_NOMEM, "out of memory for a request of %lld tokens", (long long)(n_prompt + max_new));
    }
    memcpy(r->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    r->n_prompt = r->n_total = n_prompt;
    r->max_new = max_new;
    r->seq = -1;
    r->state = REQ_WAITING;
    r->id = s->next_id++;
    s->reqs[s->n_reqs++] = r;
    *out = r->id;
    return LLI_OK;
}

static void drop_running(lli_sched *s, const sched_req *r) {
    int64_t j = 0;
    while (j < s->n_running && s->running[j] != r) j++;
    if (j == s->n_running) return;
    memmove(&s->running[j], &s->running[j + 1], (size_t)(s->n_running - j - 1) * sizeof *s->running);
    s->n_running--;
}

lli_status lli_sched_finish(lli_sched *s, int64_t id) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_finish: scheduler is NULL");
    sched_req *r = find(s, id, "lli_sched_finish");
    if (!r) return LLI_E_INVALID_ARG;
    drop_running(s, r);
    int64_t i = 0;
    while (s->reqs[i] != r) i++;
    memmove(&s->reqs[i], &s->reqs[i + 1], (size_t)(s->n_reqs - i - 1) * sizeof *s->reqs);
    s->n_reqs--;
    req_free(s, r);
    return LLI_OK;
}

/* Take the request's sequence away: by swap, its state kept in host memory (by recompute when that
 * memory cannot be had); by recompute, only the count of tokens to prefill again. */
static lli_status preempt(lli_sched *s, sched_req *r) {
    int swapped = 0;
    if (s->p.preempt == LLI_SCHED_PREEMPT_SWAP) {
        size_t size = 0;
        lli_status st = lli_kv_seq_save_buffer(s->kv, r->seq, NULL, 0, &size);
        if (st != LLI_E_BUFFER_TOO_SMALL && st != LLI_OK) return st;
        r->swap = malloc(size);
        if (r->swap && lli_kv_seq_save_buffer(s->kv, r->seq, r->swap, size, &r->swap_size) == LLI_OK) {
            swapped = 1;
        } else {
            free(r->swap);
            r->swap = NULL;
        }
    }
    if (swapped) {
        r->state = REQ_SWAPPED;
        s->stat[LLI_SCHED_STAT_SWAP_OUTS]++;
    } else {
        r->lost = r->n_cached;
        r->n_cached = 0;
        r->state = REQ_WAITING;
    }
    lli_kv_seq_free(s->kv, r->seq);
    r->seq = -1;
    drop_running(s, r);
    r->preemptions++;
    s->stat[LLI_SCHED_STAT_PREEMPTIONS]++;
    return LLI_OK;
}

static lli_status free_blocks(const lli_sched *s, int64_t *out) {
    lli_status st = lli_kv_free_blocks(s->kv, out);
    *out -= s->planned_blocks;
    return st;
}

/* Put up to `take` of the request's tokens not yet cached into the step. Logits are wanted only for
 * the last known token: its successor is the next one generated. */
static lli_status schedule_tokens(lli_sched *s, sched_req *r, int64_t take) {
    if (take > r->n_total - r->n_cached) take = r->n_total - r->n_cached;
    if (take <= 0) return LLI_OK;
    s->planned_blocks += blocks_for(s, r->n_cached + take) - blocks_for(s, r->n_cached);
    for (int64_t i = 0; i < take; i++) {
        int64_t pos = r->n_cached + i;
        int32_t entry;
        lli_status st = lli_batch_size(s->batch, &entry);
        if (st == LLI_OK) st = lli_batch_add(s->batch, r->tokens[pos], r->seq, pos, pos == r->n_total - 1);
        if (st != LLI_OK) return st;
        s->entry_req[entry] = r;
    }
    r->scheduled = take;
    return LLI_OK;
}

/* A waiting or swapped request gets a sequence: its swapped state back, or a new sequence that
 * starts with whatever blocks of its tokens the prefix cache holds. */
static lli_status start(lli_sched *s, sched_req *r) {
    lli_status st;
    if (r->state == REQ_SWAPPED) {
        st = lli_kv_seq_restore_buffer(s->kv, r->swap, r->swap_size, &r->seq);
        if (st != LLI_OK) return st;
        free(r->swap);
        r->swap = NULL;
    } else {
        int64_t reused = 0;
        st = s->p.prefix_cache ? lli_kv_seq_create_with_prefix(s->kv, r->tokens, r->n_total, &r->seq, &reused)
                               : lli_kv_seq_create(s->kv, &r->seq);
        if (st != LLI_OK) return st;
        /* The last known token is computed again, whatever the cache held: its logits are wanted. */
        if (reused == r->n_total && (st = lli_kv_seq_truncate(s->kv, r->seq, --reused)) != LLI_OK) {
            lli_kv_seq_free(s->kv, r->seq);
            r->seq = -1;
            return st;
        }
        r->n_cached = reused;
        r->reused += reused;
        s->stat[LLI_SCHED_STAT_REUSED_TOKENS] += reused;
        if (r->lost > reused) s->stat[LLI_SCHED_STAT_RECOMPUTED_TOKENS] += r->lost - reused;
        r->lost = 0;
    }
    r->state = REQ_RUNNING;
    s->running[s->n_running++] = r;
    return LLI_OK;
}

/* Steps 1 and 2 of the policy (see the top of the file): fill the batch. */
static lli_status plan(lli_sched *s) {
    lli_status st = lli_batch_clear(s->batch);
    s->planned_blocks = 0;
    int64_t left = s->p.budget, avail;
    int preempted_now = 0;
    for (int64_t i = 0; st == LLI_OK && i < s->n_running && left > 0; i++) {
        sched_req *r = s->running[i];
        int64_t decoding_after = 0;
        for (int64_t j = i + 1; j < s->n_running; j++) decoding_after += s->running[j]->n_total - s->running[j]->n_cached == 1;
        int64_t take = r->n_total - r->n_cached, cap = left - decoding_after > 1 ? left - decoding_after : 1;
        if (take > cap) take = cap;
        int64_t need = blocks_for(s, r->n_cached + take) - blocks_for(s, r->n_cached);
        while (st == LLI_OK && (st = free_blocks(s, &avail)) == LLI_OK && need > avail && s->n_running - 1 > i) {
            st = preempt(s, s->running[s->n_running - 1]);
            preempted_now = 1;
        }
        if (st != LLI_OK) break;
        if (need > avail) {
            st = preempt(s, r);
            preempted_now = 1;
            break;
        }
        st = schedule_tokens(s, r, take);
        left -= r->scheduled;
    }
    for (int64_t i = 0; st == LLI_OK && i < s->n_reqs && left > 0 && !preempted_now && s->n_running < s->p.max_running; i++) {
        sched_req *r = s->reqs[i];
        if (r->state == REQ_RUNNING) continue;
        if ((st = free_blocks(s, &avail)) != LLI_OK) break;
        if (blocks_for(s, r->n_total + 1) + 1 > avail) break;
        if ((st = start(s, r)) == LLI_OK) st = schedule_tokens(s, r, left);
        left -= r->scheduled;
    }
    return st;
}

lli_status lli_sched_step(lli_sched *s, lli_context *ctx, int32_t *n_ready) {
    if (!s || !ctx || !n_ready) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_step: scheduler, context or n_ready is NULL");
    *n_ready = 0;
    s->n_ready = 0;
    for (int64_t i = 0; i < s->n_reqs; i++)
        if (s->reqs[i]->state == REQ_RUNNING && s->reqs[i]->n_cached == s->reqs[i]->n_total)
            return lli_fail(LLI_E_INVALID_ARG, "lli_sched_step: request %lld has logits waiting for a token: "
                            "lli_sched_append() or lli_sched_finish() it first", (long long)s->reqs[i]->id);
    lli_status st = plan(s);
    int32_t n_entries = 0;
    if (st == LLI_OK) st = lli_batch_size(s->batch, &n_entries);
    if (st == LLI_OK && n_entries > 0) st = lli_decode(ctx, s->batch);
    if (st != LLI_OK) {
        /* Nothing of the step counts: its tokens are scheduled again next time. */
        for (int64_t i = 0; i < s->n_running; i++) s->running[i]->scheduled = 0;
        return st;
    }
    for (int32_t e = 0; e < n_entries; e++) {
        sched_req *r = s->entry_req[e]; /* a request's entries are contiguous: skip to its last */
        r->n_cached += r->scheduled;
        e += (int32_t)r->scheduled - 1;
        r->scheduled = 0;
        if (r->n_cached < r->n_total) continue; /* prefill not finished */
        s->ready_id[s->n_ready] = r->id;
        s->ready_entry[s->n_ready++] = e;
    }
    if (n_entries > 0) {
        s->stat[LLI_SCHED_STAT_STEPS]++;
        s->stat[LLI_SCHED_STAT_STEP_TOKENS] += n_entries;
    }
    *n_ready = s->n_ready;
    return LLI_OK;
}

lli_status lli_sched_ready(const lli_sched *s, int32_t index, int64_t *id, int32_t *entry) {
    if (!s || !id || !entry) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_ready: scheduler, id or entry is NULL");
    if (index < 0 || index >= s->n_ready)
        return lli_fail(LLI_E_INVALID_ARG, "lli_sched_ready: index %d is outside the step's %d ready requests", index, s->n_ready);
    *id = s->ready_id[index];
    *entry = s->ready_entry[index];
    return LLI_OK;
}

lli_status lli_sched_append(lli_sched *s, int64_t id, lli_token token) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_append: scheduler is NULL");
    sched_req *r = find(s, id, "lli_sched_append");
    if (!r) return LLI_E_INVALID_ARG;
    if (r->state != REQ_RUNNING || r->n_cached != r->n_total)
        return lli_fail(LLI_E_INVALID_ARG, "lli_sched_append: request %lld has no logits ready for a token", (long long)id);
    if (r->n_total - r->n_prompt >= r->max_new)
        return lli_fail(LLI_E_INVALID_ARG, "lli_sched_append: request %lld already has its %lld new tokens", (long long)id,
                        (long long)r->max_new);
    r->tokens[r->n_total++] = token;
    return LLI_OK;
}

lli_status lli_sched_stat(const lli_sched *s, int key, int64_t *out) {
    if (!s || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_stat: scheduler or out is NULL");
    if (key < 0 || key > LLI_SCHED_STAT_STEP_TOKENS) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_stat: unknown key %d", key);
    if (key == LLI_SCHED_STAT_REQUESTS) {
        *out = s->n_reqs;
    } else if (key == LLI_SCHED_STAT_RUNNING) {
        *out = s->n_running;
    } else if (key == LLI_SCHED_STAT_SWAPPED) {
        *out = 0;
        for (int64_t i = 0; i < s->n_reqs; i++) *out += s->reqs[i]->state == REQ_SWAPPED;
    } else {
        *out = s->stat[key];
    }
    return LLI_OK;
}

lli_status lli_sched_request_stat(const lli_sched *s, int64_t id, int key, int64_t *out) {
    if (!s || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_sched_request_stat: scheduler or out is NULL");
    const sched_req *r = find(s, id, "lli_sched_request_stat");
    if (!r) return LLI_E_INVALID_ARG;
    switch (key) {
    case LLI_SCHED_REQ_STATE: *out = r->state; break;
    case LLI_SCHED_REQ_TOKENS: *out = r->n_total; break;
    case LLI_SCHED_REQ_CACHED: *out = r->n_cached; break;
    case LLI_SCHED_REQ_PREEMPTIONS: *out = r->preemptions; break;
    case LLI_SCHED_REQ_REUSED: *out = r->reused; break;
    case LLI_SCHED_REQ_SEQ: *out = r->seq; break;
    default: return lli_fail(LLI_E_INVALID_ARG, "lli_sched_request_stat: unknown key %d", key);
    }
    return LLI_OK;
}
