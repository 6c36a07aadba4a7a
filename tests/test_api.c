/* The interface's contract, without a model: status strings, thread-local errors, versions,
 * parameter validation, batches, and the declared-but-empty functions. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"
#include "support/check.h"

static void *other_thread(void *arg) {
    /* A fresh thread has no message, whatever another thread's last failure was. */
    int *empty = arg;
    *empty = lli_last_error()[0] == '\0';
    lli_model_params_set_threads(NULL, 1); /* fails here, must not leak into the main thread */
    return NULL;
}

int main(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", LLI_VERSION_MAJOR, LLI_VERSION_MINOR, LLI_VERSION_PATCH);
    CHECK(!strcmp(lli_version(), want), "version %s, header says %s", lli_version(), want);
    CHECK(lli_abi_version() == LLI_ABI_VERSION, "ABI %d", lli_abi_version());

    /* Every status has its own description. */
    for (int a = LLI_OK; a <= LLI_E_INTERNAL; a++) {
        CHECK(strcmp(lli_status_str(a), "unknown status") != 0, "status %d has no description", a);
        for (int b = a + 1; b <= LLI_E_INTERNAL; b++)
            CHECK(strcmp(lli_status_str(a), lli_status_str(b)) != 0, "statuses %d and %d share a description", a, b);
    }
    CHECK(!strcmp(lli_status_str(999), "unknown status"), "%s", lli_status_str(999));
    CHECK(!strcmp(lli_status_str(-1), "unknown status"), "%s", lli_status_str(-1));

    /* Parameter objects validate at the setter. */
    lli_model_params *mp = NULL;
    CHECK(lli_model_params_create(&mp) == LLI_OK && mp, "create");
    CHECK_FAILS(lli_model_params_set_threads(mp, -1), LLI_E_INVALID_ARG, "-1");
    CHECK_FAILS(lli_model_params_set_threads(mp, 5000), LLI_E_INVALID_ARG, "5000");
    CHECK_FAILS(lli_model_params_set_backend(mp, 7), LLI_E_INVALID_ARG, "backend 7");
    CHECK_FAILS(lli_model_params_set_layer_range(mp, 5, 3), LLI_E_INVALID_ARG, "[5, 3)");
    CHECK_FAILS(lli_model_params_set_layer_range(mp, -2, 3), LLI_E_INVALID_ARG, "[-2, 3)");
    CHECK(lli_model_params_set_layer_range(mp, 2, -1) == LLI_OK, "open-ended range");
    CHECK(lli_model_params_set_expected_arch(mp, "qwen3") == LLI_OK, "arch");
    CHECK(lli_model_params_set_expected_arch(mp, NULL) == LLI_OK, "clear arch");
    char long_name[100];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_FAILS(lli_model_params_set_expected_arch(mp, long_name), LLI_E_INVALID_ARG, "64");
    CHECK_FAILS(lli_model_params_set_verify(NULL, 1), LLI_E_INVALID_ARG, "NULL");
    lli_model_params_free(mp);
    lli_model_params_free(NULL);

    lli_convert_params *cp = NULL;
    CHECK(lli_convert_params_create(&cp) == LLI_OK, "convert params");
    CHECK_FAILS(lli_convert_params_set_compression(cp, 3, 0), LLI_E_INVALID_ARG, "compression 3");
    CHECK_FAILS(lli_convert_params_set_compression(cp, LLI_COMPRESS_ZSTD, 25), LLI_E_INVALID_ARG, "25");
    CHECK(lli_convert_params_set_compression(cp, LLI_COMPRESS_ZSTD, 19) == LLI_OK, "zstd 19");
    lli_convert_params_free(cp);

    lli_kv_cache_params *kp = NULL;
    CHECK(lli_kv_cache_params_create(&kp) == LLI_OK, "kv params");
    CHECK_FAILS(lli_kv_cache_params_set_block_size(kp, 0), LLI_E_INVALID_ARG, "block size 0");
    CHECK_FAILS(lli_kv_cache_params_set_capacity(kp, 0), LLI_E_INVALID_ARG, "capacity 0");
    lli_kv_cache_params_free(kp);
    lli_context_params *xp = NULL;
    CHECK(lli_context_params_create(&xp) == LLI_OK, "context params");
    CHECK_FAILS(lli_context_params_set_max_batch(xp, 0), LLI_E_INVALID_ARG, "max batch 0");
    lli_context_params_free(xp);

    /* Errors are per thread. */
    CHECK_FAILS(lli_model_load(NULL, NULL, NULL), LLI_E_INVALID_ARG, "out is NULL");
    char before[256];
    snprintf(before, sizeof before, "%s", lli_last_error());
    int empty = 0;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &empty);
    pthread_join(t, NULL);
    CHECK(empty, "a new thread saw another thread's message");
    CHECK(!strcmp(before, lli_last_error()), "message changed by another thread: %s", lli_last_error());

    lli_model *m = (lli_model *)1;
    CHECK_FAILS(lli_model_load("", NULL, &m), LLI_E_INVALID_ARG, "empty");
    CHECK(m == NULL, "out not cleared on failure");
    CHECK_FAILS(lli_model_load("/nonexistent/model-dir", NULL, &m), LLI_E_IO, "/nonexistent/model-dir/manifest.json");
    CHECK_FAILS(lli_model_verify("/nonexistent/model-dir", 0, NULL, NULL), LLI_E_IO, "/nonexistent/model-dir");
    CHECK_FAILS(lli_convert_gguf("/nonexistent/in.gguf", "/tmp/lli-never-created", NULL), LLI_E_IO, "/nonexistent/in.gguf");
    int64_t v;
    CHECK_FAILS(lli_model_info_int(NULL, LLI_INFO_N_LAYER, &v), LLI_E_INVALID_ARG, "NULL");

    /* Batches. */
    lli_batch *b = NULL;
    CHECK_FAILS(lli_batch_create(0, &b), LLI_E_INVALID_ARG, "capacity 0");
    CHECK(lli_batch_create(2, &b) == LLI_OK, "batch");
    CHECK(lli_batch_add(b, 1, 0, 0, 0) == LLI_OK && lli_batch_add(b, 2, 0, 1, 1) == LLI_OK, "add");
    CHECK_FAILS(lli_batch_add(b, 3, 0, 2, 1), LLI_E_INVALID_ARG, "full");
    int32_t n = -1;
    CHECK(lli_batch_size(b, &n) == LLI_OK && n == 2, "size %d", n);
    CHECK(lli_batch_clear(b) == LLI_OK && lli_batch_size(b, &n) == LLI_OK && n == 0, "clear");
    CHECK_FAILS(lli_batch_add(b, 1, 0, -1, 0), LLI_E_INVALID_ARG, "negative");
    lli_batch_free(b);

    CHECK_FAILS(lli_kv_seq_save(NULL, 0, "/tmp/x"), LLI_E_INVALID_ARG, "lli_kv_seq_save");
    CHECK_FAILS(lli_kv_state_load(NULL, 0, NULL), LLI_E_INVALID_ARG, "lli_kv_state_load");
    CHECK_FAILS(lli_kv_state_wait(NULL), LLI_E_INVALID_ARG, "lli_kv_state_wait");
    lli_kv_state_free(NULL);

    /* NULL handles are refused by name, never dereferenced. */
    lli_sampler *s = (lli_sampler *)1;
    CHECK_FAILS(lli_sampler_create(NULL), LLI_E_INVALID_ARG, "NULL");
    CHECK_FAILS(lli_decode(NULL, NULL), LLI_E_INVALID_ARG, "NULL");
    lli_kv_cache *kv = (lli_kv_cache *)1;
    CHECK_FAILS(lli_kv_cache_create(NULL, NULL, &kv), LLI_E_INVALID_ARG, "model is NULL");
    CHECK(kv == NULL, "kv out not cleared");
    CHECK_FAILS(lli_context_create(NULL, NULL, NULL, NULL), LLI_E_INVALID_ARG, "out is NULL");
    CHECK_FAILS(lli_get_logits(NULL, 0, NULL), LLI_E_INVALID_ARG, "NULL");
    CHECK_FAILS(lli_tokenize(NULL, "x", 1, 0, 0, NULL, 0, NULL), LLI_E_INVALID_ARG, "NULL");

    /* Samplers validate their settings. */
    CHECK(lli_sampler_create(&s) == LLI_OK, "sampler");
    CHECK_FAILS(lli_sampler_add_top_k(s, 0), LLI_E_INVALID_ARG, "top-k 0");
    CHECK_FAILS(lli_sampler_add_top_p(s, 1.5f), LLI_E_INVALID_ARG, "top-p");
    CHECK_FAILS(lli_sampler_add_min_p(s, -0.1f), LLI_E_INVALID_ARG, "min-p");
    CHECK_FAILS(lli_sampler_add_temperature(s, -1), LLI_E_INVALID_ARG, "temperature");
    CHECK_FAILS(lli_sampler_add_penalties(s, -1, 1, 0, 0), LLI_E_INVALID_ARG, "last_n");
    CHECK_FAILS(lli_sampler_sample(s, NULL, 0, NULL), LLI_E_INVALID_ARG, "NULL");
    lli_sampler_free(s);
    return check_summary();
}
