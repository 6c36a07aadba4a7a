/* Thread-local error messages behind lli_last_error(). */
#ifndef LLI_ERROR_H
#define LLI_ERROR_H

#include "llminfer.h"

/* Record a formatted message for the calling thread and return status, so that a failure can be
 * reported in one line: `return lli_fail(LLI_E_FORMAT, "fragment %s: truncated", name);` */
lli_status lli_fail(lli_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the calling thread's current message with more context ("loading X: " + message). */
lli_status lli_fail_prefix(lli_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Return the status of expr from the calling function if it is not LLI_OK. */
#define LLI_TRY(expr)                                                                                      \
    do {                                                                                                   \
        lli_status lli_try_status_ = (expr);                                                               \
        if (lli_try_status_ != LLI_OK) return lli_try_status_;                                             \
    } while (0)

/* Copy src into dst (cap bytes), cut if needed, always terminated. */
void lli_copy_str(char *dst, size_t cap, const char *src);

/* Copy of the calling thread's message, for moving an error from a worker thread to the caller. */
void lli_error_copy(char *dst, size_t cap);

#endif
