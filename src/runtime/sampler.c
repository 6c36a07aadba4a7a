/* Sampler chains: stages that reshape or filter the candidates, applied in order; greedy and dist
 * pick. A chain that ends without a picker takes the most likely remaining candidate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/context.h"
#include "base/error.h"
#include "llminfer.h"

enum stage_kind { ST_GREEDY, ST_TEMP, ST_TOP_K, ST_TOP_P, ST_MIN_P, ST_PENALTIES, ST_DIST };

typedef struct stage {
    int kind;
    float f, f2, f3;
    int32_t n;
    uint64_t rng;
} stage;

typedef struct cand {
    lli_token id;
    float logit, p;
} cand;

struct lli_sampler {
    stage *stages;
    int n_stages;
    lli_token *history; /* ring of accepted tokens for penalties */
    int32_t hist_cap, hist_len, hist_pos;
    cand *cands;
    int64_t n_cands_cap;
};

lli_status lli_sampler_create(lli_sampler **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_sampler_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? LLI_OK : lli_fail(LLI_E_NOMEM, "out of memory");
}

void lli_sampler_free(lli_sampler *s) {
    if (!s) return;
    free(s->stages);
    free(s->history);
    free(s->cands);
    free(s);
}

static lli_status add(lli_sampler *s, stage st) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "sampler is NULL");
    stage *n = realloc(s->stages, (size_t)(s->n_stages + 1) * sizeof *n);
    if (!n) return lli_fail(LLI_E_NOMEM, "out of memory");
    s->stages = n;
    s->stages[s->n_stages++] = st;
    return LLI_OK;
}

lli_status lli_sampler_add_greedy(lli_sampler *s) { return add(s, (stage){.kind = ST_GREEDY}); }

lli_status lli_sampler_add_temperature(lli_sampler *s, float t) {
    if (!(t >= 0) || isinf(t)) return lli_fail(LLI_E_INVALID_ARG, "temperature %g must be finite and >= 0", (double)t);
    return add(s, (stage){.kind = ST_TEMP, .f = t});
}

lli_status lli_sampler_add_top_k(lli_sampler *s, int32_t k) {
    if (k < 1) return lli_fail(LLI_E_INVALID_ARG, "top-k %d must be >= 1", k);
    return add(s, (stage){.kind = ST_TOP_K, .n = k});
}

lli_status lli_sampler_add_top_p(lli_sampler *s, float p) {
    if (!(p > 0 && p <= 1)) return lli_fail(LLI_E_INVALID_ARG, "top-p %g must be in (0, 1]", (double)p);
    return add(s, (stage){.kind = ST_TOP_P, .f = p});
}

lli_status lli_sampler_add_min_p(lli_sampler *s, float p) {
    if (!(p >= 0 && p <= 1)) return lli_fail(LLI_E_INVALID_ARG, "min-p %g must be in [0, 1]", (double)p);
    return add(s, (stage){.kind = ST_MIN_P, .f = p});
}

lli_status lli_sampler_add_penalties(lli_sampler *s, int32_t last_n, float repeat, float frequency, float presence) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "sampler is NULL");
    if (last_n < 0 || last_n > (1 << 20) || !(repeat > 0) || !isfinite(repeat) || !isfinite(frequency) || !isfinite(presence))
        return lli_fail(LLI_E_INVALID_ARG, "penalties: last_n %d must be in 0..2^20, repeat > 0, all finite", last_n);
    if (last_n > s->hist_cap) {
        lli_token *h = calloc((size_t)last_n, sizeof *h);
        if (!h) return lli_fail(LLI_E_NOMEM, "out of memory");
        /* keep what was accepted so far, oldest first */
        for (int32_t i = 0; i < s->hist_len; i++) h[i] = s->history[(s->hist_pos - s->hist_len + i + s->hist_cap) % s->hist_cap];
        free(s->history);
        s->history = h;
        s->hist_pos = s->hist_len % last_n;
        s->hist_cap = last_n;
    }
    return add(s, (stage){.kind = ST_PENALTIES, .n = last_n, .f = repeat, .f2 = frequency, .f3 = presence});
}

lli_status lli_sampler_add_dist(lli_sampler *s, uint64_t seed) {
    return add(s, (stage){.kind = ST_DIST, .rng = seed ^ 0x9e3779b97f4a7c15ull});
}

lli_status lli_sampler_accept(lli_sampler *s, lli_token t) {
    if (!s) return lli_fail(LLI_E_INVALID_ARG, "sampler is NULL");
    if (s->hist_cap) {
        s->history[s->hist_pos] = t;
        s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
        if (s->hist_len < s->hist_cap) s->hist_len++;
    }
    return LLI_OK;
}

static int by_logit_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id; /* ties: lower id first, deterministic */
}

static void softmax(cand *c, int64_t n) {
    float max = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) max = fmaxf(max, c[i].logit);
    for (int64_t i = 0; i < n; i++) sum += c[i].p = expf(c[i].logit - max);
    for (int64_t i = 0; i < n; i++) c[i].p /= sum;
}

static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t argmax(const cand *c, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (c[i].logit > c[best].logit || (c[i].logit == c[best].logit && c[i].id < c[best].id)) best = i;
    return best;
}

lli_status lli_sampler_sample(lli_sampler *s, const lli_context *ctx, int32_t entry, lli_token *out) {
    if (!s || !ctx || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_sampler_sample: sampler, context or out is NULL");
    const float *logits;
    LLI_TRY(lli_get_logits(ctx, entry, &logits));
    int64_t n = lli_context_n_vocab(ctx);
    if (n > s->n_cands_cap) {
        cand *c = realloc(s->cands, (size_t)n * sizeof *c);
        if (!c) return lli_fail(LLI_E_NOMEM, "out of memory");
        s->cands = c;
        s->n_cands_cap = n;
    }
    cand *c = s->cands;
    for (int64_t i = 0; i < n; i++) c[i] = (cand){(lli_token)i, logits[i], 0};
    int sorted = 0;
    for (int k = 0; k < s->n_stages; k++) {
        stage *st = &s->stages[k];
        switch (st->kind) {
        case ST_GREEDY: *out = c[sorted ? 0 : argmax(c, n)].id; return LLI_OK;
        case ST_DIST: {
            softmax(c, n);
            double r = (double)(next_rand(&st->rng) >> 11) * (1.0 / 9007199254740992.0), acc = 0;
            for (int64_t i = 0; i < n; i++)
                if ((acc += c[i].p) > r) {
                    *out = c[i].id;
                    return LLI_OK;
                }
            *out = c[n - 1].id;
            return LLI_OK;
        }
        case ST_TEMP:
            if (st->f == 0) { /* temperature 0: only the most likely token remains */
                c[0] = c[sorted ? 0 : argmax(c, n)];
                n = 1;
            } else
                for (int64_t i = 0; i < n; i++) c[i].logit /= st->f;
            break;
        case ST_PENALTIES:
            for (int64_t i = 0; i < n; i++) {
                int count = 0;
                for (int32_t h = 0; h < s->hist_len && h < st->n; h++)
                    count += s->history[(s->hist_pos - 1 - h + s->hist_cap) % s->hist_cap] == c[i].id;
                if (!count) continue;
                c[i].logit = c[i].logit > 0 ? c[i].logit / st->f : c[i].logit * st->f;
                c[i].logit -= (float)count * st->f2 + st->f3;
            }
            sorted = 0;
            break;
        case ST_TOP_K:
        case ST_TOP_P:
        case ST_MIN_P:
            if (!sorted) qsort(c, (size_t)n, sizeof *c, by_logit_desc), sorted = 1;
            if (st->kind == ST_TOP_K) {
                if (n > st->n) n = st->n;
                break;
            }
            softmax(c, n);
            if (st->kind == ST_TOP_P) {
                double acc = 0;
                int64_t keep = 0;
                while (keep < n && acc < st->f) acc += c[keep++].p;
                n = keep ? keep : 1;
            } else {
                int64_t keep = 1;
                while (keep < n && c[keep].p >= st->f * c[0].p) keep++;
                n = keep;
            }
            break;
        }
    }
    *out = c[sorted ? 0 : argmax(c, n)].id;
    return LLI_OK;
}
