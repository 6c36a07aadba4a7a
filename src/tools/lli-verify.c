/* lli-verify: check a fragment model directory, one line per check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "llminfer.h"

#define TOOL "lli-verify"

static void print_check(const char *check, int ok, const char *detail, void *user) {
    int *failures = user;
    if (!ok) ++*failures;
    printf("%s %-24s %s\n", ok ? "ok  " : "FAIL", check, detail);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *pos[1] = {NULL}, *cache_dir = NULL;
    int threads = 0;
    const tool_option opts[] = {
        {"-t, --threads", OPT_INT, &threads, "N", "threads checking fragments, 1 to 1024; 0 (the default): one per "
         "processor", 0, 1024},
        {"--cache-dir", OPT_STRING, &cache_dir, "DIR", TOOL_CACHE_HELP},
    };
    const tool_spec spec = {TOOL, "[OPTION]... MODEL",
                            "Check a model directory: the manifest, the fragment count, the architecture, the tensor "
                            "shapes and every fragment's SHA-256, one line per check. MODEL may be a GGUF file: its "
                            "entry in the cache (made first if missing) is checked.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 1, 1,
                            "Exit status:\n0 when every check passes, 1 when one fails (naming each bad fragment), 2 for "
                            "a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, pos, NULL);
    if (rc >= 0) return rc;
    const char *dir = pos[0];
    char entry[4096];
    if (lli_gguf_cache_entry(dir, cache_dir, NULL, entry, sizeof entry, NULL) == LLI_OK) {
        /* A GGUF file: make sure its cache entry exists (the tokenizer is all that is loaded), then check it. */
        lli_model_params *p = NULL;
        lli_model *m = NULL;
        lli_status st = lli_model_params_create(&p);
        if (!st) st = lli_model_params_set_vocab_only(p, 1);
        if (!st) st = tool_load_model(TOOL, dir, cache_dir, p, 1, &m, NULL);
        lli_model_params_free(p);
        lli_model_free(m);
        if (st) return 1;
        dir = entry;
    }
    int failures = 0;
    lli_status st = lli_model_verify(dir, threads, print_check, &failures);
    if (st != LLI_OK) {
        fprintf(stderr, TOOL ": %d check%s failed: %s\n", failures, failures == 1 ? "" : "s", lli_last_error());
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
