/* Several prompts at once through the batch API: every step carries one entry per live sequence,
 * and the host (this program) decides what goes in it. The first step mixes all prompts' prefill.
 *   ./batched models/smollm2-135m "The sky is" "Water is" "Cats are" */
#include <stdio.h>
#include <stdlib.h>
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

enum { MAX_SEQ = 16, MAX_PROMPT = 128, N_GEN = 24 };

int main(int argc, char **argv) {
    int n = argc - 2;
    if (n < 1 || n > MAX_SEQ) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT [PROMPT ...] (at most %d prompts)\n", argv[0], MAX_SEQ);
        return 2;
    }
    lli_model *model;
    lli_kv_cache *kv;
    lli_context *ctx;
    lli_sampler *sampler;
    lli_batch *batch;
    CHECK(lli_model_load(argv[1], NULL, &model));
    CHECK(lli_kv_cache_create(model, NULL, &kv));
    CHECK(lli_context_create(model, kv, NULL, &ctx));
    CHECK(lli_sampler_create(&sampler));
    CHECK(lli_sampler_add_greedy(sampler));
    CHECK(lli_batch_create(MAX_SEQ * MAX_PROMPT, &batch));

    lli_seq_id seq[MAX_SEQ];
    int64_t len[MAX_SEQ];
    int32_t entry[MAX_SEQ];
    char *text[MAX_SEQ];
    int64_t eos;
    lli_model_info_int(model, LLI_INFO_TOKEN_EOS, &eos);
    for (int i = 0; i < n; i++) {
        lli_token prompt[MAX_PROMPT];
        size_t np;
        CHECK(lli_tokenize(model, argv[2 + i], strlen(argv[2 + i]), 1, 0, prompt, MAX_PROMPT, &np));
        CHECK(lli_kv_seq_create(kv, &seq[i]));
        int32_t size;
        for (size_t j = 0; j < np; j++) CHECK(lli_batch_add(batch, prompt[j], seq[i], (int64_t)j, j == np - 1));
        lli_batch_size(batch, &size);
        entry[i] = size - 1;
        len[i] = (int64_t)np;
        text[i] = calloc(4096, 1);
        strcpy(text[i], argv[2 + i]);
    }
    int64_t free_blocks;
    lli_kv_free_blocks(kv, &free_blocks);
    printf("%d sequences; %lld KV blocks free before the first step\n", n, (long long)free_blocks);
    CHECK(lli_decode(ctx, batch));
    int live = n;
    for (int step = 0; step < N_GEN && live; step++) {
        lli_batch_clear(batch);
        for (int i = 0; i < n; i++) {
            if (entry[i] < 0) continue; /* finished */
            lli_token tok;
            CHECK(lli_sampler_sample(sampler, ctx, entry[i], &tok));
            if (tok == eos) {
                entry[i] = -1;
                live--;
                continue;
            }
            char piece[64];
            size_t nb;
            CHECK(lli_token_to_piece(model, tok, piece, sizeof piece, &nb));
            strncat(text[i], piece, nb < 4000 - strlen(text[i]) ? nb : 0);
            int32_t size;
            CHECK(lli_batch_add(batch, tok, seq[i], len[i]++, 1));
            lli_batch_size(batch, &size);
            entry[i] = size - 1;
        }
        if (live) CHECK(lli_decode(ctx, batch));
    }
    for (int i = 0; i < n; i++) {
        printf("[%d] %s\n", i, text[i]);
        free(text[i]);
    }
    lli_batch_free(batch);
    lli_sampler_free(sampler);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_model_free(model);
    return 0;
}
