/* The logits of the CPU and the CUDA backend, compared at every position: a prompt of 64 tokens in
 * one step (the cuBLAS and tiled-attention paths), then 24 steps that each decode one token of that
 * sequence and one of a second (the matrix-vector and decode kernels, two sequences per step), on
 * F16 and 8-bit KV caches. Tokens are drawn at random (seeded), not generated, so that a model with
 * random weights is compared at many different states instead of one token repeated.
 *
 * At each position, with s the standard deviation of the CPU's logits there:
 * - value bound b: every one of the CPU's top 5 tokens has a CUDA logit within b of the CPU's.
 *   Prompt positions (the cuBLAS path, which meets activations and weights at F16 where the CPU
 *   rounds activations to 8 bits; test_gpu_ops bounds one product by 1.5e-2 relative, and errors
 *   compound over the layers): b = 0.1 s. Decode steps (the same integer sums of 8-bit blocks as the
 *   CPU's, on top of a KV cache filled by the prompt): b = 0.05 s. A wrong kernel is off by about s;
 * - id bound: the CUDA top 5 holds each of the CPU's top 5 unless that token's CPU logit is within
 *   2 b of the CPU's 6th (a near tie at the edge), and the top token is the same unless the CPU's
 *   first two are within 2 b.
 * The model wants spread logits, as a trained model's (s of a few units): the real SmolLM2, or
 * random weights made by lli-mkgguf --std 0.08 (tests/gpu/run.sh). Skipped (77) without a CUDA
 * device or the model. Usage: test_gpu_logits MODEL.gguf|MODEL_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "files.h"
#include "gpu_skip.h"
#include "llminfer.h"

#define PROMPT 64
#define PROMPT_B 20
#define STEPS 24
#define TOP 5
#define BOUND_PROMPT 0.1
#define BOUND_DECODE 0.05

typedef struct side {
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_batch *b;
    lli_seq_id a, bseq;
} side;

static lli_status side_open(lli_model *m, int kv_type, side *s) {
    lli_kv_cache_params *kp = NULL;
    lli_context_params *cp = NULL;
    memset(s, 0, sizeof *s);
    lli_status st = lli_kv_cache_params_create(&kp);
    if (!st) st = lli_kv_cache_params_set_capacity(kp, 512);
    if (!st) st = lli_kv_cache_params_set_type(kp, kv_type);
    if (!st) st = lli_kv_cache_create(m, kp, &s->kv);
    if (!st) st = lli_context_params_create(&cp);
    if (!st) st = lli_context_params_set_max_batch(cp, PROMPT);
    if (!st) st = lli_context_create(m, s->kv, cp, &s->ctx);
    if (!st) st = lli_batch_create(PROMPT, &s->b);
    if (!st) st = lli_kv_seq_create(s->kv, &s->a);
    if (!st) st = lli_kv_seq_create(s->kv, &s->bseq);
    lli_context_params_free(cp);
    lli_kv_cache_params_free(kp);
    return st;
}

static void side_close(side *s) {
    lli_batch_free(s->b);
    lli_context_free(s->ctx);
    lli_kv_cache_free(s->kv);
}

/* Indices of the n largest values, largest first. */
static void top_n(const float *l, int64_t vocab, int n, int64_t *idx) {
    for (int k = 0; k < n; k++) idx[k] = -1;
    for (int64_t i = 0; i < vocab; i++) {
        int k = n;
        while (k > 0 && (idx[k - 1] < 0 || l[i] > l[idx[k - 1]])) k--;
        if (k == n) continue;
        for (int j = n - 1; j > k; j--) idx[j] = idx[j - 1];
        idx[k] = i;
    }
}

typedef struct stats {
    int positions, top1_same;
    double worst_value; /* in units of s */
} stats;

/* Compare one position's logits; what names it in messages. */
static void compare(const float *c, const float *g, int64_t vocab, double bound, const char *what, stats *st) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < vocab; i++) mean += c[i];
    mean /= (double)vocab;
    for (int64_t i = 0; i < vocab; i++) var += ((double)c[i] - mean) * ((double)c[i] - mean);
    double s = sqrt(var / (double)vocab);
    int64_t ct[TOP + 1], gt[TOP];
    top_n(c, vocab, TOP + 1, ct);
    top_n(g, vocab, TOP, gt);
    int finite = 1;
    for (int k = 0; k < TOP; k++) finite &= isfinite(g[ct[k]]);
    CHECK(finite && s > 0, "%s: CUDA logits not finite or CPU logits flat (s %g)", what, s);
    if (!finite || s <= 0) return;
    for (int k = 0; k < TOP; k++) {
        double d = fabs((double)g[ct[k]] - c[ct[k]]) / s;
        if (d > st->worst_value) st->worst_value = d;
        CHECK(d <= bound, "%s: token %lld (CPU rank %d): cpu %.4f cuda %.4f, %.3f s apart (bound %.2f s, s = %.3f)", what,
              (long long)ct[k], k + 1, c[ct[k]], g[ct[k]], d, bound, s);
        int in = 0;
        for (int j = 0; j < TOP; j++) in |= gt[j] == ct[k];
        int near_tie = (c[ct[k]] - c[ct[TOP]]) / s <= 2 * bound;
        CHECK(in || near_tie, "%s: CPU's rank-%d token %lld is not in CUDA's top %d (and %.3f s above the 6th)", what, k + 1,
              (long long)ct[k], TOP, (c[ct[k]] - c[ct[TOP]]) / s);
    }
    int tie1 = (c[ct[0]] - c[ct[1]]) / s <= 2 * bound;
    CHECK(gt[0] == ct[0] || tie1, "%s: top token cpu %lld, cuda %lld (gap %.3f s)", what, (long long)ct[0], (long long)gt[0],
          (c[ct[0]] - c[ct[1]]) / s);
    st->positions++;
    st->top1_same += gt[0] == ct[0];
}

static lli_status step_both(side *sd, const lli_token *tok, const lli_seq_id *which, const int64_t *pos, int n) {
    for (int k = 0; k < 2; k++) {
        lli_batch_clear(sd[k].b);
        for (int i = 0; i < n; i++) {
            lli_seq_id id = which[i] ? sd[k].bseq : sd[k].a;
            lli_status st = lli_batch_add(sd[k].b, tok[i], id, pos[i], 1);
            if (st) return st;
        }
        lli_status st = lli_decode(sd[k].ctx, sd[k].b);
        if (st) return st;
    }
    return LLI_OK;
}

static lli_status run(lli_model *mc, lli_model *mg, int kv_type, stats *st) {
    side sd[2];
    int64_t vocab = 0;
    lli_model_info_int(mc, LLI_INFO_N_VOCAB, &vocab);
    lli_status s = side_open(mc, kv_type, &sd[0]);
    if (!s) s = side_open(mg, kv_type, &sd[1]);
    uint64_t g = 0x2545f4914f6cdd1dull + (uint64_t)kv_type;
    lli_token tok[PROMPT];
    lli_seq_id which[PROMPT];
    int64_t pos[PROMPT];
    char what[96];
    const char *kvn = kv_type == LLI_KV_TYPE_Q8 ? "q8" : "f16";
    /* the prompt of sequence a, logits at every position; then b's shorter prompt */
    for (int p = 0; p < 2 && !s; p++) {
        int n = p ? PROMPT_B : PROMPT;
        for (int i = 0; i < n; i++) {
            g ^= g << 13, g ^= g >> 7, g ^= g << 17;
            tok[i] = (lli_token)(g % (uint64_t)vocab), which[i] = p, pos[i] = i;
        }
        s = step_both(sd, tok, which, pos, n);
        for (int i = 0; !s && i < n; i++) {
            const float *lc, *lg;
            s = lli_get_logits(sd[0].ctx, i, &lc);
            if (!s) s = lli_get_logits(sd[1].ctx, i, &lg);
            snprintf(what, sizeof what, "%s cache, prompt %c, position %d", kvn, p ? 'b' : 'a', i);
            if (!s) compare(lc, lg, vocab, BOUND_PROMPT, what, st);
        }
    }
    /* decode steps: one token of each sequence */
    for (int t = 0; t < STEPS && !s; t++) {
        for (int i = 0; i < 2; i++) {
            g ^= g << 13, g ^= g >> 7, g ^= g << 17;
            tok[i] = (lli_token)(g % (uint64_t)vocab), which[i] = i, pos[i] = (i ? PROMPT_B : PROMPT) + t;
        }
        s = step_both(sd, tok, which, pos, 2);
        for (int i = 0; !s && i < 2; i++) {
            const float *lc, *lg;
            s = lli_get_logits(sd[0].ctx, i, &lc);
            if (!s) s = lli_get_logits(sd[1].ctx, i, &lg);
            snprintf(what, sizeof what, "%s cache, decode step %d, sequence %c", kvn, t, i ? 'b' : 'a');
            if (!s) compare(lc, lg, vocab, BOUND_DECODE, what, st);
        }
    }
    side_close(&sd[0]);
    side_close(&sd[1]);
    return s;
}

static lli_status load(const char *dir, int backend, lli_model **m) {
    lli_model_params *p = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_backend(p, backend);
    if (!st) st = lli_model_load(dir, p, m);
    lli_model_params_free(p);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_logits MODEL.gguf|MODEL_DIR\n");
        return 2;
    }
    const char *src = argv[1];
    char *tmp = NULL;
    char dir[4096];
    if (!test_exists(src)) {
        printf("test_gpu_logits: SKIPPED: %s is missing\n", src);
        return 77;
    }
    if (strstr(src, ".gguf")) {
        tmp = test_tmpdir("gpu-logits");
        snprintf(dir, sizeof dir, "%s/model", tmp);
        if (lli_convert_gguf(src, dir, NULL) != LLI_OK) {
            fprintf(stderr, "convert: %s\n", lli_last_error());
            return 1;
        }
    } else
        snprintf(dir, sizeof dir, "%s", src);
    lli_model *mc = NULL, *mg = NULL;
    if (load(dir, LLI_BACKEND_CUDA, &mg) != LLI_OK) {
        int rc = gpu_skip("test_gpu_logits", lli_last_error());
        if (tmp) test_rm_rf(tmp), free(tmp);
        return rc;
    }
    CHECK(load(dir, LLI_BACKEND_CPU, &mc) == LLI_OK, "load on the CPU: %s", lli_last_error());
    for (int kvt = 0; mc && kvt < 2; kvt++) {
        stats st = {0, 0, 0};
        int kv_type = kvt ? LLI_KV_TYPE_Q8 : LLI_KV_TYPE_F16;
        lli_status s = run(mc, mg, kv_type, &st);
        CHECK(s == LLI_OK, "%s cache: %s", kvt ? "q8" : "f16", lli_last_error());
        CHECK(st.positions == PROMPT + PROMPT_B + 2 * STEPS, "every position compared (%d)", st.positions);
        printf("%s cache: %d positions, same top token at %d, largest top-5 logit difference %.4f s (bounds %.2f s prompt, "
               "%.2f s decode)\n",
               kvt ? "q8 " : "f16", st.positions, st.top1_same, st.worst_value, BOUND_PROMPT, BOUND_DECODE);
    }
    lli_model_free(mc);
    lli_model_free(mg);
    if (tmp) test_rm_rf(tmp), free(tmp);
    return check_summary();
}
