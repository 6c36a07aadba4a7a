#include "base/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    atomic_int_fast64_t next;
    int64_t n_jobs;
    void (*fn)(int64_t, void *);
    void *arg;
} job_queue;

static void *worker(void *p) {
    job_queue *q = p;
    for (;;) {
        int64_t job = atomic_fetch_add(&q->next, 1);
        if (job >= q->n_jobs) break;
        q->fn(job, q->arg);
    }
    return NULL;
}

int lli_thread_count(int n) {
    if (n > 0) return n;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (int)cpus : 1;
}

int lli_parallel_for(int n_threads, int64_t n_jobs, void (*fn)(int64_t job, void *arg), void *arg) {
    job_queue q = {.n_jobs = n_jobs, .fn = fn, .arg = arg};
    atomic_init(&q.next, 0);
    int n = lli_thread_count(n_threads);
    if (n > n_jobs) n = (int)n_jobs;
    pthread_t *tids = n > 1 ? calloc((size_t)n - 1, sizeof *tids) : NULL;
    int started = 0, rc = 0;
    for (int i = 0; tids && i < n - 1; i++) {
        if (pthread_create(&tids[i], NULL, worker, &q) != 0) {
            rc = -1;
            break;
        }
        started++;
    }
    worker(&q);
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
    return rc;
}
