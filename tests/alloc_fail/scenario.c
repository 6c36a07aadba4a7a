/* The path the allocation-failure sweep runs with one allocation failing: load a model (verify on),
 * make a KV cache, a context and a sampler, decode a prompt in two steps (the second grows the
 * attention scratch), sample and decode a few tokens, save the sequence to a file and restore it
 * (directly, and through a background load), and decode on the restored copy.
 * Exit status: 0 when everything succeeded, 1 when a call failed cleanly (a status and a message,
 * and for a failed decode, the cache and the last outputs as they were), 2 when a failure was not
 * clean. Anything else (a signal, a sanitizer's report) is a crash.
 * usage: scenario MODEL_DIR SCRATCH_DIR
 *        scenario --convert TINY.gguf MODEL_DIR   (makes the model, with no allocation failing) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"

void lli_alloc_shim_start(void) __attribute__((weak));

static lli_model_params *mp;
static lli_model *model;
static lli_kv_cache_params *kp;
static lli_kv_cache *kv;
static lli_context_params *cp;
static lli_context *ctx;
static lli_sampler *smp;
static lli_batch *batch;
static lli_kv_state *state;

static int finish(int code) {
    lli_kv_state_free(state);
    lli_batch_free(batch);
    lli_sampler_free(smp);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_context_params_free(cp);
    lli_kv_cache_params_free(kp);
    lli_model_free(model);
    lli_model_params_free(mp);
    return code;
}

/* A failed call must say why. */
static int failed(const char *what, lli_status st) {
    const char *msg = lli_last_error();
    fprintf(stderr, "%s: %s: %s\n", what, lli_status_str(st), msg);
    return finish(msg[0] ? 1 : 2);
}

#define TRY(what, call)                                                                                    \
    do {                                                                                                   \
        lli_status st_ = (call);                                                                           \
        if (st_ != LLI_OK) return failed(what, st_);                                                       \
    } while (0)

/* Decode tokens [from, to) of seq; a failure must leave the sequence's length and the outputs of
 * the last step (entry `last_entry`, -1 if none) as they were. */
static int decode(lli_seq_id seq, int64_t from, int64_t to, int32_t last_entry) {
    const float *before = NULL;
    float first = 0;
    if (last_entry >= 0 && lli_get_logits(ctx, last_entry, &before) == LLI_OK) first = before[0];
    lli_batch_clear(batch);
    for (int64_t p = from; p < to; p++) lli_batch_add(batch, (lli_token)(7 + p * 13 % 250), seq, p, p == to - 1);
    lli_status st = lli_decode(ctx, batch);
    if (st == LLI_OK) return 0;
    int64_t len = -1;
    const float *after = NULL;
    int same = lli_kv_seq_length(kv, seq, &len) == LLI_OK && len == from;
    if (before) same = same && lli_get_logits(ctx, last_entry, &after) == LLI_OK && after[0] == first;
    if (!same) {
        fprintf(stderr, "a failed decode changed the state (length %lld, expected %lld)\n", (long long)len, (long long)from);
        finish(2);
        return -2;
    }
    return -failed("decode", st);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--convert")) {
        lli_status st = lli_convert_gguf(argv[2], argv[3], NULL);
        if (st != LLI_OK) fprintf(stderr, "convert %s: %s\n", argv[2], lli_last_error());
        return st == LLI_OK ? 0 : 3;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: scenario MODEL_DIR SCRATCH_DIR\n");
        return 3;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/state.kv", argv[2]);
    if (lli_alloc_shim_start) lli_alloc_shim_start();
    TRY("model params", lli_model_params_create(&mp));
    TRY("backend", lli_model_params_set_backend(mp, LLI_BACKEND_CPU));
    TRY("threads", lli_model_params_set_threads(mp, 2));
    TRY("verify", lli_model_params_set_verify(mp, 1));
    TRY("load", lli_model_load(argv[1], mp, &model));
    TRY("kv params", lli_kv_cache_params_create(&kp));
    TRY("capacity", lli_kv_cache_params_set_capacity(kp, 128));
    TRY("block size", lli_kv_cache_params_set_block_size(kp, 16));
    TRY("kv cache", lli_kv_cache_create(model, kp, &kv));
    TRY("context params", lli_context_params_create(&cp));
    TRY("context threads", lli_context_params_set_threads(cp, 2));
    TRY("max batch", lli_context_params_set_max_batch(cp, 16));
    TRY("context", lli_context_create(model, kv, cp, &ctx));
    TRY("sampler", lli_sampler_create(&smp));
    TRY("top-k", lli_sampler_add_top_k(smp, 40));
    TRY("penalties", lli_sampler_add_penalties(smp, 16, 1.1f, 0.0f, 0.0f));
    TRY("temperature", lli_sampler_add_temperature(smp, 0.8f));
    TRY("dist", lli_sampler_add_dist(smp, 42));
    TRY("batch", lli_batch_create(16, &batch));
    lli_seq_id seq = -1, copy = -1, copy2 = -1;
    TRY("sequence", lli_kv_seq_create(kv, &seq));
    int rc;
    /* a 20-token prompt in two steps: positions past the first step's 16 grow the scratch */
    if ((rc = decode(seq, 0, 16, -1)) || (rc = decode(seq, 16, 20, 15))) return -rc;
    int64_t pos = 20;
    int32_t last = 3;
    for (int i = 0; i < 3; i++, pos++) {
        lli_token tok;
        TRY("sample", lli_sampler_sample(smp, ctx, last, &tok));
        TRY("accept", lli_sampler_accept(smp, tok));
        if ((rc = decode(seq, pos, pos + 1, last))) return -rc;
        last = 0;
    }
    TRY("save", lli_kv_seq_save(kv, seq, path));
    TRY("restore", lli_kv_seq_restore(kv, path, &copy));
    TRY("background load", lli_kv_state_load(path, 1, &state));
    TRY("restore state", lli_kv_seq_restore_state(kv, state, &copy2));
    int64_t len = -1;
    TRY("length", lli_kv_seq_length(kv, copy2, &len));
    if (len != pos) {
        fprintf(stderr, "the restored copy holds %lld tokens, not %lld\n", (long long)len, (long long)pos);
        return finish(2);
    }
    if ((rc = decode(copy, pos, pos + 1, last))) return -rc;
    return finish(0);
}
