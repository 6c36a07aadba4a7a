/* The chat formatter, lli_chat_format(). The input is a template, a NUL, then messages separated
 * by NULs, each a role byte (system, user, assistant, tool, or an unknown one) and its text. The
 * result, when there is one, must hold every message the format keeps and fit the size it reported;
 * a refusal must say why. */
#include <string.h>

#include "fuzz_util.h"

enum { MAX_MESSAGES = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    char *buf = malloc(n + 1);
    FZ_CHECK(buf != NULL);
    memcpy(buf, d, n);
    buf[n] = 0;
    static const char *const role_names[] = {"system", "user", "assistant", "tool", "narrator"};
    const char *roles[MAX_MESSAGES], *contents[MAX_MESSAGES];
    size_t n_msg = 0, at = strlen(buf) + 1; /* the template ends at the first NUL */
    while (at < n && n_msg < MAX_MESSAGES) {
        roles[n_msg] = role_names[(uint8_t)buf[at] % 5];
        contents[n_msg] = buf + at + (buf[at] != 0); /* a role byte of 0 is also the text's end */
        at += strlen(buf + at) + 1;
        n_msg++;
    }
    size_t len = 0;
    lli_status st = lli_chat_format(buf, roles, contents, n_msg, (int)(n & 1), NULL, 0, &len);
    if (st == LLI_E_BUFFER_TOO_SMALL) {
        char *out = malloc(len + 1);
        FZ_CHECK(out != NULL);
        size_t len2 = 0;
        st = lli_chat_format(buf, roles, contents, n_msg, (int)(n & 1), out, len + 1, &len2);
        FZ_CHECK(st == LLI_OK && len2 == len && strlen(out) == len);
        /* User messages are never dropped by any format. */
        for (size_t i = 0; i < n_msg; i++)
            if (!strcmp(roles[i], "user")) FZ_CHECK(strstr(out, contents[i]) != NULL);
        free(out);
    } else {
        FZ_STATUS_OK_OR_EXPLAINED(st);
        FZ_CHECK(st != LLI_OK || len == 0);
    }
    free(buf);
    return 0;
}
