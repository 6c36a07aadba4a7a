#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { LLI_ERROR_CAP = 1024 };
static _Thread_local char tls_message[LLI_ERROR_CAP];

lli_status lli_fail(lli_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_message, sizeof tls_message, fmt, ap);
    va_end(ap);
    return status;
}

lli_status lli_fail_prefix(lli_status status, const char *fmt, ...) {
    char prefix[LLI_ERROR_CAP], old[LLI_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_message, sizeof old);
    /* Concatenated by hand: the message is cut at the buffer's end, which is what we want. */
    size_t np = strlen(prefix), no = strnlen(old, sizeof old - 1);
    if (np > sizeof tls_message - 1) np = sizeof tls_message - 1;
    if (no > sizeof tls_message - 1 - np) no = sizeof tls_message - 1 - np;
    memcpy(tls_message, prefix, np);
    memcpy(tls_message + np, old, no);
    tls_message[np + no] = '\0';
    return status;
}

void lli_copy_str(char *dst, size_t cap, const char *src) {
    if (cap == 0) return;
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void lli_error_copy(char *dst, size_t cap) { lli_copy_str(dst, cap, tls_message); }

const char *lli_last_error(void) { return tls_message; }

const char *lli_status_str(lli_status status) {
    switch (status) {
    case LLI_OK: return "ok";
    case LLI_E_INVALID_ARG: return "invalid argument";
    case LLI_E_NOMEM: return "out of memory";
    case LLI_E_IO: return "input/output error";
    case LLI_E_FORMAT: return "malformed data";
    case LLI_E_CHECKSUM: return "checksum mismatch";
    case LLI_E_MISMATCH: return "model or architecture mismatch";
    case LLI_E_UNSUPPORTED: return "unsupported";
    case LLI_E_NOT_IMPLEMENTED: return "not implemented";
    case LLI_E_KV_FULL: return "KV cache full";
    case LLI_E_BACKEND: return "backend error";
    case LLI_E_CANCELLED: return "cancelled";
    case LLI_E_BUFFER_TOO_SMALL: return "buffer too small";
    case LLI_E_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}
