/* SmolLM2 greedy generation through the public API on the CPU and the CUDA backend (model params
 * set_backend): the same tokens for every prompt, with prompts fed in one step (the cuBLAS and
 * tiled-attention path) and tokens one at a time (matrix-vector and decode kernels), on F16 and
 * 8-bit KV caches. On a mismatch, both sides' top-two logits at the first divergence are printed:
 * a near tie there tells rounding from a bug. Skipped (77) without a CUDA device or the model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "files.h"
#include "gpu_skip.h"
#include "llminfer.h"

#define N_GEN 48

static const char *k_prompts[] = {
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker who",
};

typedef struct run {
    lli_token out[N_GEN];
    float top[N_GEN][2];
    lli_token second[N_GEN];
    int n;
} run;

static void top2(const float *l, int64_t vocab, lli_token *best, float *b1, lli_token *second, float *b2) {
    *best = 0, *second = 1;
    if (l[1] > l[0]) *best = 1, *second = 0;
    for (int64_t i = 2; i < vocab; i++) {
        if (l[i] > l[*best]) *second = *best, *best = (lli_token)i;
        else if (l[i] > l[*second]) *second = (lli_token)i;
    }
    *b1 = l[*best], *b2 = l[*second];
}

static lli_status generate(lli_model *m, const char *prompt, int kv_type, run *r) {
    lli_kv_cache_params *kp = NULL;
    lli_context_params *cp = NULL;
    lli_kv_cache *kv = NULL;
    lli_context *ctx = NULL;
    lli_batch *b = NULL;
    lli_token toks[512];
    size_t n = 0;
    int64_t vocab = 0;
    lli_model_info_int(m, LLI_INFO_N_VOCAB, &vocab);
    lli_status st = lli_tokenize(m, prompt, strlen(prompt), 1, 1, toks, 512, &n);
    if (!st) st = lli_kv_cache_params_create(&kp);
    if (!st) st = lli_kv_cache_params_set_capacity(kp, 1024);
    if (!st) st = lli_kv_cache_params_set_type(kp, kv_type);
    if (!st) st = lli_kv_cache_create(m, kp, &kv);
    if (!st) st = lli_context_params_create(&cp);
    if (!st) st = lli_context_params_set_max_batch(cp, 256);
    if (!st) st = lli_context_create(m, kv, cp, &ctx);
    if (!st) st = lli_batch_create(256, &b);
    lli_seq_id s = 0;
    if (!st) st = lli_kv_seq_create(kv, &s);
    for (size_t i = 0; !st && i < n; i++) st = lli_batch_add(b, toks[i], s, (int64_t)i, i == n - 1);
    if (!st) st = lli_decode(ctx, b);
    int32_t entry = (int32_t)n - 1;
    r->n = 0;
    for (int g = 0; !st && g < N_GEN; g++) {
        const float *l;
        st = lli_get_logits(ctx, entry, &l);
        if (st) break;
        top2(l, vocab, &r->out[g], &r->top[g][0], &r->second[g], &r->top[g][1]);
        r->n++;
        lli_batch_clear(b);
        st = lli_batch_add(b, r->out[g], s, (int64_t)n + g, 1);
        if (!st) st = lli_decode(ctx, b);
        entry = 0;
    }
    lli_batch_free(b);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_context_params_free(cp);
    lli_kv_cache_params_free(kp);
    return st;
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
        fprintf(stderr, "usage: test_gpu_generate MODEL.gguf|MODEL_DIR\n");
        return 2;
    }
    const char *src = argv[1];
    char *tmp = NULL;
    char dir[4096];
    if (strstr(src, ".gguf")) {
        if (!test_exists(src)) {
            printf("test_gpu_generate: SKIPPED: %s is missing (scripts/fetch-model.sh)\n", src);
            return 77;
        }
        tmp = test_tmpdir("gpu-generate");
        snprintf(dir, sizeof dir, "%s/model", tmp);
        if (lli_convert_gguf(src, dir, NULL) != LLI_OK) {
            fprintf(stderr, "convert: %s\n", lli_last_error());
            return 1;
        }
    } else
        snprintf(dir, sizeof dir, "%s", src);
    lli_model *mc = NULL, *mg = NULL;
    if (load(dir, LLI_BACKEND_CUDA, &mg) != LLI_OK) {
        int rc = gpu_skip("test_gpu_generate", lli_last_error());
        if (tmp) test_rm_rf(tmp), free(tmp);
        return rc;
    }
    CHECK(load(dir, LLI_BACKEND_CPU, &mc) == LLI_OK, "load on the CPU: %s", lli_last_error());
    int64_t be = 0;
    lli_model_info_int(mg, LLI_INFO_BACKEND, &be);
    CHECK(be == LLI_BACKEND_CUDA, "the model reports the CUDA backend");
    for (int kvt = 0; mc && kvt < 2; kvt++) {
        int kv_type = kvt ? LLI_KV_TYPE_Q8 : LLI_KV_TYPE_F16;
        for (size_t p = 0; p < sizeof k_prompts / sizeof k_prompts[0]; p++) {
            run rc, rg;
            lli_status a = generate(mc, k_prompts[p], kv_type, &rc);
            CHECK(a == LLI_OK, "cpu generate: %s", lli_last_error());
            lli_status g = generate(mg, k_prompts[p], kv_type, &rg);
            CHECK(g == LLI_OK, "cuda generate: %s", lli_last_error());
            if (a || g) continue;
            int diverge = -1;
            for (int i = 0; i < N_GEN && diverge < 0; i++)
                if (rc.out[i] != rg.out[i]) diverge = i;
            CHECK(diverge < 0, "prompt %zu, %s cache: tokens differ from %d on: cpu %d (%.4f, next %d %.4f), cuda %d (%.4f, next %d %.4f)",
                  p, kvt ? "q8" : "f16", diverge, diverge < 0 ? 0 : rc.out[diverge], diverge < 0 ? 0 : rc.top[diverge][0],
                  diverge < 0 ? 0 : rc.second[diverge], diverge < 0 ? 0 : rc.top[diverge][1], diverge < 0 ? 0 : rg.out[diverge],
                  diverge < 0 ? 0 : rg.top[diverge][0], diverge < 0 ? 0 : rg.second[diverge], diverge < 0 ? 0 : rg.top[diverge][1]);
            double worst = 0;
            int upto = diverge < 0 ? N_GEN : diverge + 1;
            for (int i = 0; i < upto; i++) worst = fmax(worst, fabs((double)rc.top[i][0] - rg.top[i][0]));
            printf("prompt %zu %s cache: %s; largest difference of the winning logit %.4f\n", p, kvt ? "q8 " : "f16",
                   diverge < 0 ? "same tokens" : "DIVERGED", worst);
        }
    }
    lli_model_free(mc);
    lli_model_free(mg);
    if (tmp) test_rm_rf(tmp), free(tmp);
    return check_summary();
}
