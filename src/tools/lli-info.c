/* lli-info: load a fragment model directory and print what was loaded. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "llminfer.h"

#define TOOL "lli-info"

int main(int argc, char **argv) {
    const char *pos[1] = {NULL}, *arch = NULL, *layers = NULL, *cache_dir = NULL;
    int tensors = 0, verify = 1, threads = 0, first = 0, last = -1, vocab_only = 0, backend = 2;
    const tool_option opts[] = {
        {"--tensors", OPT_FLAG, &tensors, NULL, "also list every tensor loaded: name, type, shape, bytes", .flag_value = 1},
        {"--no-verify", OPT_FLAG, &verify, NULL, "skip the SHA-256 check of the fragments", .flag_value = 0},
        {"-t, --threads", OPT_INT, &threads, "N", "loader threads, 1 to 1024; 0 (the default): one per processor", 0, 1024},
        {"--layers", OPT_STRING, &layers, "FIRST:LAST", "load only layers FIRST to LAST-1 (for pipeline stages)"},
        {"--vocab-only", OPT_FLAG, &vocab_only, NULL, "load only the tokenizer", .flag_value = 1},
        {"--arch", OPT_STRING, &arch, "NAME", "fail unless the model is of this architecture or family"},
        {"--backend", OPT_CHOICE, &backend, "cpu|cuda|auto", TOOL_BACKEND_HELP, .choices = TOOL_BACKEND_CHOICES},
        {"--cache-dir", OPT_STRING, &cache_dir, "DIR", TOOL_CACHE_HELP},
    };
    const tool_spec spec = {TOOL, "[OPTION]... MODEL",
                            "Load a model (a directory of fragments, or a GGUF file through the cache), verifying every "
                            "fragment, and print its facts: architecture, shapes, vocabulary, fragments, memory, backend "
                            "and load time.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 1, 1,
                            "Exit status:\n0 on success, 1 when loading fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, pos, NULL);
    if (rc >= 0) return rc;
    const char *dir = pos[0];
    char extra;
    if (layers && (sscanf(layers, "%d:%d%c", &first, &last, &extra) != 2 || first < 0 || last <= first)) {
        fprintf(stderr, TOOL ": --layers takes FIRST:LAST with 0 <= FIRST < LAST, not \"%s\" (see " TOOL " --help)\n", layers);
        return 2;
    }
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    double ms = 0;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_verify(p, verify);
    if (!st) st = lli_model_params_set_threads(p, threads);
    if (!st) st = lli_model_params_set_expected_arch(p, arch);
    if (!st) st = lli_model_params_set_vocab_only(p, vocab_only);
    if (!st) st = lli_model_params_set_backend(p, tool_backend(backend));
    if (!st && layers) st = lli_model_params_set_layer_range(p, first, last);
    if (st) tool_fail(TOOL, "model parameters", st);
    else st = tool_load_model(TOOL, dir, cache_dir, p, 1, &m, &ms);
    lli_model_params_free(p);
    if (st) return 1;
    double secs = ms / 1e3;
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
    int64_t n = 0;
    printf("%-28s %s\n", "backend", tool_backend_name(m));
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
