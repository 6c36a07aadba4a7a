/* lli_chat_format(): conversations in the chat formats of the supported families. The model's
 * template (Jinja text from the GGUF metadata) is not executed; its format is recognised by its
 * markers: ChatML (<|im_start|>: SmolLM2, Qwen; with the template's default system message when the
 * conversation has none), Llama 3 (<|start_header_id|>) and Mistral ([INST]). */
#include <string.h>

#include "base/bytebuf.h"
#include "base/error.h"

enum { FMT_CHATML, FMT_LLAMA3, FMT_MISTRAL };

static int put(lli_bytebuf *b, const char *s) { return lli_bytebuf_put(b, s, strlen(s)); }

static int put_n(lli_bytebuf *b, const char *s, size_t n) { return lli_bytebuf_put(b, s, n); }

static int format(int kind, const char *tmpl, const char *const *roles, const char *const *contents, size_t n, int gen,
                  lli_bytebuf *b) {
    int err = 0;
    if (kind == FMT_CHATML) {
        /* The template's own default system message, when the conversation does not start with one. */
        const char *sys = strstr(tmpl, "<|im_start|>system\n"), *sys_end = sys ? strstr(sys, "<|im_end|>") : NULL;
        if (strcmp(roles[0], "system") && sys && sys_end) err |= put_n(b, sys, (size_t)(sys_end - sys)) | put(b, "<|im_end|>\n");
        for (size_t i = 0; i < n; i++)
            err |= put(b, "<|im_start|>") | put(b, roles[i]) | put(b, "\n") | put(b, contents[i]) | put(b, "<|im_end|>\n");
        if (gen) err |= put(b, "<|im_start|>assistant\n");
    } else if (kind == FMT_LLAMA3) {
        for (size_t i = 0; i < n; i++)
            err |= put(b, "<|start_header_id|>") | put(b, roles[i]) | put(b, "<|end_header_id|>\n\n") | put(b, contents[i]) |
                   put(b, "<|eot_id|>");
        if (gen) err |= put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    } else {
        /* Mistral has no system turn: system messages go before the first user message. */
        const char *space = strstr(tmpl, "[INST] ") ? " " : "";
        int first_user = 1;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(roles[i], "user")) {
                err |= put(b, "[INST]") | put(b, space);
                if (first_user) {
                    int any = 0;
                    for (size_t j = 0; j < n; j++)
                        if (!strcmp(roles[j], "system")) err |= put(b, any++ ? "\n\n" : "") | put(b, contents[j]);
                    if (any) err |= put(b, "\n\n");
                }
                first_user = 0;
                err |= put(b, contents[i]) | put(b, "[/INST]");
            } else if (!strcmp(roles[i], "assistant")) {
                err |= put(b, space) | put(b, contents[i]) | put(b, "</s>");
            }
        }
    }
    return err;
}

lli_status lli_chat_format(const char *tmpl, const char *const *roles, const char *const *contents, size_t n_messages,
                           int add_generation_prompt, char *out, size_t out_size, size_t *out_len) {
    if (!tmpl || !roles || !contents) return lli_fail(LLI_E_INVALID_ARG, "lli_chat_format: template, roles or contents is NULL");
    if (!out && out_size) return lli_fail(LLI_E_INVALID_ARG, "lli_chat_format: out is NULL but out_size is not 0");
    if (n_messages == 0) return lli_fail(LLI_E_INVALID_ARG, "lli_chat_format: no messages");
    static const char *const known[] = {"system", "user", "assistant", "tool"};
    for (size_t i = 0; i < n_messages; i++) {
        if (!roles[i] || !contents[i]) return lli_fail(LLI_E_INVALID_ARG, "lli_chat_format: message %zu has a NULL role or content", i);
        int ok = 0;
        for (size_t k = 0; k < 4; k++) ok |= !strcmp(roles[i], known[k]);
        if (!ok)
            return lli_fail(LLI_E_INVALID_ARG, "lli_chat_format: message %zu has role \"%s\"; expected system, user, assistant or tool",
                            i, roles[i]);
    }
    int kind = strstr(tmpl, "<|im_start|>") ? FMT_CHATML : strstr(tmpl, "<|start_header_id|>") ? FMT_LLAMA3
             : strstr(tmpl, "[INST]") ? FMT_MISTRAL : -1;
    if (kind < 0)
        return lli_fail(LLI_E_UNSUPPORTED, "this model's chat template is not one of ChatML, Llama 3 or Mistral [INST]");
    lli_bytebuf b = {0};
    if (format(kind, tmpl, roles, contents, n_messages, add_generation_prompt, &b)) {
        lli_bytebuf_free(&b);
        return lli_fail(LLI_E_NOMEM, "out of memory formatting a chat");
    }
    if (out_len) *out_len = b.len;
    lli_status st = LLI_OK;
    if (b.len >= out_size) st = lli_fail(LLI_E_BUFFER_TOO_SMALL, "lli_chat_format: the text needs %zu bytes and a terminator", b.len);
    else {
        if (b.len) memcpy(out, b.p, b.len);
        out[b.len] = '\0';
    }
    lli_bytebuf_free(&b);
    return st;
}
