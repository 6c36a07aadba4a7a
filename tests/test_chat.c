/* lli_chat_format(): the three recognised formats, whole conversations, and bad input. */
#include <stdio.h>
#include <string.h>

#include "llminfer.h"
#include "support/check.h"

static const char *fmt(const char *tmpl, const char *const *roles, const char *const *contents, size_t n, int gen) {
    static char out[1024];
    size_t len = 0;
    lli_status st = lli_chat_format(tmpl, roles, contents, n, gen, out, sizeof out, &len);
    CHECK(st == LLI_OK && len == strlen(out), "format: %s", lli_last_error());
    return st == LLI_OK ? out : "";
}

int main(void) {
    const char *chatml = "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
                         "<|im_start|>system\nYou are Smol.<|im_end|>\n{% endif %}<|im_start|>...";
    const char *roles[] = {"user", "assistant", "user"}, *texts[] = {"Hi", "Hello!", "Bye"};
    CHECK(!strcmp(fmt(chatml, roles, texts, 3, 1),
                  "<|im_start|>system\nYou are Smol.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                  "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"),
          "chatml with the default system message");
    const char *sroles[] = {"system", "user"}, *stexts[] = {"Be brief.", "Hi"};
    CHECK(!strcmp(fmt(chatml, sroles, stexts, 2, 0), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"),
          "chatml with the caller's system message, no generation prompt");
    CHECK(!strcmp(fmt("<|start_header_id|>", roles, texts, 1, 1),
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
          "llama 3");
    const char *mroles[] = {"system", "user", "assistant", "user"}, *mtexts[] = {"S", "A", "B", "C"};
    CHECK(!strcmp(fmt("[INST] x", mroles, mtexts, 4, 1), "[INST] S\n\nA[/INST] B</s>[INST] C[/INST]"), "mistral");
    CHECK(!strcmp(fmt("[INST]x", mroles + 1, mtexts + 1, 1, 1), "[INST]A[/INST]"), "mistral without the space");

    char small[4];
    size_t len = 0;
    CHECK_FAILS(lli_chat_format(chatml, roles, texts, 1, 1, small, sizeof small, &len), LLI_E_BUFFER_TOO_SMALL, "bytes");
    CHECK(len == strlen(fmt(chatml, roles, texts, 1, 1)), "length reported for a small buffer: %zu", len);
    CHECK_FAILS(lli_chat_format("{{ messages }}", roles, texts, 1, 1, NULL, 0, NULL), LLI_E_UNSUPPORTED, "ChatML");
    const char *bad[] = {"wizard"};
    CHECK_FAILS(lli_chat_format(chatml, bad, texts, 1, 1, NULL, 0, NULL), LLI_E_INVALID_ARG, "wizard");
    CHECK_FAILS(lli_chat_format(chatml, roles, texts, 0, 1, NULL, 0, NULL), LLI_E_INVALID_ARG, "no messages");
    CHECK_FAILS(lli_chat_format(NULL, roles, texts, 1, 1, NULL, 0, NULL), LLI_E_INVALID_ARG, "NULL");
    return check_summary();
}
