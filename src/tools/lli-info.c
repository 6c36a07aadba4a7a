/* lli-info: load a fragment model directory and print what was loaded. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llminfer.h"
#include "progress_bar.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lli-info DIR [--tensors] [--no-verify] [--threads N] [--layers FIRST:LAST] [--vocab-only]\n"
               "          [--arch NAME]\nLoad a model (verifying every fragment) and print its facts.\n");
}

int main(int argc, char **argv) {
    const char *dir = NULL, *arch = NULL;
    int tensors = 0, verify = 1, threads = 0, first = 0, last = -1, vocab_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tensors")) tensors = 1;
        else if (!strcmp(a, "--no-verify")) verify = 0;
        else if (!strcmp(a, "--vocab-only")) vocab_only = 1;
        else if (!strcmp(a, "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(a, "--layers") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d:%d", &first, &last) != 2) {
                fprintf(stderr, "lli-info: --layers takes FIRST:LAST\n");
                return 2;
            }
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else if (!dir) dir = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    progress_bar bar;
    progress_bar_init(&bar, "loading");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_verify(p, verify);
    if (!st) st = lli_model_params_set_threads(p, threads);
    if (!st) st = lli_model_params_set_expected_arch(p, arch);
    if (!st) st = lli_model_params_set_vocab_only(p, vocab_only);
    if (!st && (first || last != -1)) st = lli_model_params_set_layer_range(p, first, last);
    if (!st) st = lli_model_params_set_progress(p, progress_bar_update, &bar);
    if (!st) st = lli_model_load(dir, p, &m);
    lli_model_params_free(p);
    if (st) {
        fprintf(stderr, "lli-info: %s: %s\n", lli_status_str(st), lli_last_error());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    static const struct { int key; const char *label; } strs[] = {
        {LLI_INFO_ARCH, "architecture"}, {LLI_INFO_FAMILY, "family"}, {LLI_INFO_NAME, "name"},
        {LLI_INFO_MODEL_ID, "model id"}, {LLI_INFO_TOKENIZER, "tokenizer"}};
    static const struct { int key; const char *label; } ints[] = {
        {LLI_INFO_N_LAYER, "layers"}, {LLI_INFO_N_EMBD, "embedding size"}, {LLI_INFO_N_FF, "feed-forward size"},
        {LLI_INFO_N_HEAD, "heads"}, {LLI_INFO_N_HEAD_KV, "KV heads"}, {LLI_INFO_HEAD_DIM, "head size"},
        {LLI_INFO_N_VOCAB, "vocabulary"}, {LLI_INFO_N_CTX_TRAIN, "context length"},
        {LLI_INFO_SLIDING_WINDOW, "sliding window"}, {LLI_INFO_N_FRAGMENTS, "fragments"},
        {LLI_INFO_LAYER_FIRST, "first layer loaded"}, {LLI_INFO_LAYER_LAST, "last layer loaded (excl.)"},
        {LLI_INFO_N_TENSORS, "tensors loaded"}, {LLI_INFO_BYTES, "bytes in memory"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *v = "";
        lli_model_info_str(m, strs[i].key, &v);
        printf("%-28s %s\n", strs[i].label, v);
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v = 0;
        lli_model_info_int(m, ints[i].key, &v);
        printf("%-28s %" PRId64 "\n", ints[i].label, v);
    }
    int64_t backend = 0, n = 0;
    lli_model_info_int(m, LLI_INFO_BACKEND, &backend);
    printf("%-28s %s\n", "backend", backend == LLI_BACKEND_CUDA ? "cuda" : "cpu");
    const char *isa = "";
    lli_model_info_str(m, LLI_INFO_CPU_ISA, &isa);
    printf("%-28s %s\n", "cpu kernels", isa);
    printf("%-28s %s\n", "verified", verify ? "yes (SHA-256 of every fragment)" : "no");
    printf("%-28s %.3f s\n", "load time", secs);
    lli_model_info_int(m, LLI_INFO_N_TENSORS, &n);
    if (tensors) {
        for (int64_t i = 0; i < n; i++) {
            const char *name, *type;
            int nd;
            int64_t d[4];
            uint64_t bytes;
            lli_model_tensor_info(m, i, &name, &type, &nd, d, &bytes);
            printf("  %-32s %-5s [", name, type);
            for (int k = 0; k < nd; k++) printf(k ? ", %" PRId64 : "%" PRId64, d[k]);
            printf("] %" PRIu64 " bytes\n", bytes);
        }
    }
    lli_model_free(m);
    return 0;
}
