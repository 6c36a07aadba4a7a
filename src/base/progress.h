/* Progress shared by the loader's or converter's threads: one counter, one serialized callback,
 * and a cancel flag that every thread checks between chunks. */
#ifndef LLI_PROGRESS_H
#define LLI_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "llminfer.h"

typedef struct lli_progress {
    pthread_mutex_t lock;
    uint64_t done, total;
    lli_progress_fn fn;
    void *user;
    atomic_int cancelled;
} lli_progress;

void lli_progress_init(lli_progress *p, uint64_t total, lli_progress_fn fn, void *user);
void lli_progress_destroy(lli_progress *p);
/* Count bytes done; returns 0 once the callback has asked to cancel. p may be NULL. */
int lli_progress_add(lli_progress *p, uint64_t bytes);
int lli_progress_cancelled(lli_progress *p);

#endif
