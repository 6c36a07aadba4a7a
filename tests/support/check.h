/* A minimal test harness: CHECK records a failure with its line and goes on; check_summary prints
 * "N passed, N failed" and gives the exit code. */
#ifndef LLI_TEST_CHECK_H
#define LLI_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (cond) check_passed++;                                                                          \
        else {                                                                                             \
            check_failed++;                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                                  \
            fputc('\n', stderr);                                                                           \
        }                                                                                                  \
    } while (0)

/* A call failed with the wanted status and its message mentions every given word. */
#define CHECK_FAILS(call, want, ...)                                                                       \
    do {                                                                                                   \
        lli_status got_ = (call);                                                                          \
        const char *words_[] = {__VA_ARGS__, NULL};                                                        \
        int ok_ = got_ == (want);                                                                          \
        for (int w_ = 0; ok_ && words_[w_]; w_++) ok_ = strstr(lli_last_error(), words_[w_]) != NULL;      \
        CHECK(ok_, "%s gave %d (%s), wanted %d; message: %s", #call, got_, lli_status_str(got_), (want),   \
              lli_last_error());                                                                           \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
