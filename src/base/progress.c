#include "base/progress.h"

void lli_progress_init(lli_progress *p, uint64_t total, lli_progress_fn fn, void *user) {
    pthread_mutex_init(&p->lock, NULL);
    p->done = 0;
    p->total = total;
    p->fn = fn;
    p->user = user;
    atomic_init(&p->cancelled, 0);
}

void lli_progress_destroy(lli_progress *p) { pthread_mutex_destroy(&p->lock); }

int lli_progress_add(lli_progress *p, uint64_t bytes) {
    if (!p) return 1;
    if (atomic_load(&p->cancelled)) return 0;
    pthread_mutex_lock(&p->lock);
    p->done += bytes;
    if (p->fn && !p->fn(p->done, p->total, p->user)) atomic_store(&p->cancelled, 1);
    pthread_mutex_unlock(&p->lock);
    return !atomic_load(&p->cancelled);
}

int lli_progress_cancelled(lli_progress *p) { return p && atomic_load(&p->cancelled); }
