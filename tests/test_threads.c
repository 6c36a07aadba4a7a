/* Thread safety as the header documents it: one model shared by several contexts on several
 * threads gives each the same tokens it gets alone, and lli_last_error() is per thread.
 * usage: test_threads MODEL.gguf SCRATCH_DIR */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

#define N_THREADS 4
#define N_GEN 12

static lli_model *g_model;
static int64_t g_vocab;
static const char *g_prompts[N_THREADS] = {"The capital of France is", "Water boils at a temperature of",
                                           "Once upon a time, in a small village,", "def fibonacci(n):"};

typedef struct job {
    int index;
    lli_token out[N_GEN];
    int failed;           /* a library call failed */
    int own_error_kept;   /* this thread's message survived the others' failures */
} job;

static lli_token argmax(const float *l) {
    lli_token best = 0;
    for (int64_t i = 1; i < g_vocab; i++)
        if (l[i] > l[best]) best = (lli_token)i;
    return best;
}

static void *generate(void *arg) {
    job *j = arg;
    lli_kv_cache *kv = NULL;
    lli_context *ctx = NULL;
    lli_context_params *cp = NULL;
    lli_batch *batch = NULL;
    lli_token ids[64];
    size_t n = 0;
    lli_seq_id seq;
    j->failed = lli_tokenize(g_model, g_prompts[j->index], strlen(g_prompts[j->index]), 0, 0, ids, 64, &n) ||
                lli_kv_cache_create(g_model, NULL, &kv) || lli_context_params_create(&cp) ||
                lli_context_params_set_threads(cp, 1) || lli_context_create(g_model, kv, cp, &ctx) ||
                lli_batch_create(64, &batch) || lli_kv_seq_create(kv, &seq);
    /* A failure on this thread, whose message must still be ours after the others fail too. */
    char mine[64];
    snprintf(mine, sizeof mine, "sequence %d does not exist", 1000 + j->index);
    lli_kv_seq_free(kv, 1000 + j->index);
    for (int i = 0; !j->failed && i < N_GEN; i++) {
        lli_batch_clear(batch);
        int64_t len;
        lli_kv_seq_length(kv, seq, &len);
        if (i == 0)
            for (size_t k = 0; k < n; k++) lli_batch_add(batch, ids[k], seq, (int64_t)k, k + 1 == n);
        else lli_batch_add(batch, j->out[i - 1], seq, len, 1);
        const float *l;
        int32_t last;
        j->failed = lli_decode(ctx, batch) || lli_batch_size(batch, &last) || lli_get_logits(ctx, last - 1, &l);
        if (!j->failed) j->out[i] = argmax(l);
    }
    j->own_error_kept = strstr(lli_last_error(), mine) != NULL;
    lli_batch_free(batch);
    lli_context_free(ctx);
    lli_context_params_free(cp);
    lli_kv_cache_free(kv);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) test_require_file(argv[1], "bash scripts/fetch-model.sh downloads it");
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/threads-model", argv[2]);
    test_rm_rf(dir);
    CHECK(lli_convert_gguf(argv[1], dir, NULL) == LLI_OK, "convert: %s", lli_last_error());
    CHECK(lli_model_load(dir, NULL, &g_model) == LLI_OK, "load: %s", lli_last_error());
    if (!g_model) return check_summary();
    lli_model_info_int(g_model, LLI_INFO_N_VOCAB, &g_vocab);
    job alone[N_THREADS], together[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        alone[i] = (job){.index = i};
        together[i] = (job){.index = i};
        generate(&alone[i]);
    }
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) CHECK(pthread_create(&th[i], NULL, generate, &together[i]) == 0, "thread %d", i);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK(!alone[i].failed && !together[i].failed, "prompt %d: a call failed", i);
        CHECK(!memcmp(alone[i].out, together[i].out, sizeof alone[i].out),
              "prompt %d: tokens on 4 concurrent threads differ from the same prompt alone", i);
        CHECK(together[i].own_error_kept, "thread %d: lli_last_error() lost its own message", i);
    }
    lli_model_free(g_model);
    test_rm_rf(dir);
    return check_summary();
}
