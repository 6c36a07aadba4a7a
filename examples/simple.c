/* Greedy generation in about sixty lines: load, tokenize, prefill, then one token per step.
 *   cc simple.c $(pkg-config --cflags --libs llminfer) -o simple
 *   ./simple models/smollm2-135m "The capital of France is" */
#include <stdio.h>
#include <string.h>

#include <llminfer.h>

#define CHECK(call)                                                                                        \
    do {                                                                                                   \
        lli_status st_ = (call);                                                                           \
        if (st_ != LLI_OK) {                                                                               \
            fprintf(stderr, "%s: %s\n", lli_status_str(st_), lli_last_error());                           \
            return 1;                                                                                      \
        }                                                                                                  \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT\n", argv[0]);
        return 2;
    }
    lli_model *model;
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_sampler *sampler;
    lli_batch *batch;
    lli_seq_id seq;
    lli_token prompt[256], tok;
    size_t n_prompt;
    CHECK(lli_model_load(argv[1], NULL, &model));
    CHECK(lli_kv_cache_create(model, NULL, &kv)); /* defaults: room for 4096 tokens */
    CHECK(lli_context_create(model, kv, NULL, &ctx));
    CHECK(lli_sampler_create(&sampler));
    CHECK(lli_sampler_add_greedy(sampler));
    CHECK(lli_tokenize(model, argv[2], strlen(argv[2]), 1, 0, prompt, 256, &n_prompt));
    CHECK(lli_batch_create(256, &batch));
    CHECK(lli_kv_seq_create(kv, &seq));

    /* The whole prompt in one step; only its last token's logits are needed. */
    for (size_t i = 0; i < n_prompt; i++) CHECK(lli_batch_add(batch, prompt[i], seq, (int64_t)i, i == n_prompt - 1));
    CHECK(lli_decode(ctx, batch));
    int32_t entry = (int32_t)n_prompt - 1;
    int64_t eos;
    lli_model_info_int(model, LLI_INFO_TOKEN_EOS, &eos);
    printf("%s", argv[2]);
    for (int64_t pos = (int64_t)n_prompt; pos < (int64_t)n_prompt + 32; pos++) {
        CHECK(lli_sampler_sample(sampler, ctx, entry, &tok));
        if (tok == eos) break;
        char piece[64];
        size_t len;
        CHECK(lli_token_to_piece(model, tok, piece, sizeof piece, &len));
        printf("%.*s", (int)len, piece);
        fflush(stdout);
        lli_batch_clear(batch);
        CHECK(lli_batch_add(batch, tok, seq, pos, 1));
        CHECK(lli_decode(ctx, batch));
        entry = 0;
    }
    printf("\n");
    lli_batch_free(batch);
    lli_sampler_free(sampler);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_model_free(model);
    return 0;
}
