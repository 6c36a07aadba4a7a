/* The chat formatter. The library keeps a model's chat template as a string (from the GGUF, through
 * the manifest: fuzz_gguf and fuzz_model_dir reach it); the C code that formats a prompt with it is
 * lli-generate's apply_chat(), compiled here from the tool's own source. The input is the template,
 * a NUL, and the user's prompt. The result must hold the prompt and fit its buffer. */
#include <string.h>

#include "fuzz_util.h"

#define main lli_generate_main
#include "../../src/tools/lli-generate.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    char *tmpl = malloc(n + 1);
    FZ_CHECK(tmpl != NULL);
    memcpy(tmpl, d, n);
    tmpl[n] = 0;
    const char *prompt = tmpl + strlen(tmpl) + (strlen(tmpl) < n); /* after the first NUL, or "" */
    if (prompt > tmpl + n) prompt = tmpl + n;
    char *out = apply_chat(tmpl, prompt);
    if (out) {
        FZ_CHECK(strstr(out, prompt) != NULL);
        FZ_CHECK(strlen(out) < strlen(prompt) + strlen(tmpl) + 256);
    } else {
        FZ_CHECK(!strstr(tmpl, "<|im_start|>") && !strstr(tmpl, "<|start_header_id|>") && !strstr(tmpl, "[INST]"));
    }
    free(out);
    free(tmpl);
    return 0;
}
