/* A persistent pool of compute threads. A decode step runs a few hundred small operations; waking
 * parked threads for each (rather than creating them) keeps that overhead to microseconds.
 *
 * Work is never tied to a particular thread. The calling thread always takes part; a worker joins a
 * job only if it arrives while work is left, and the caller waits only for workers that joined. So
 * a worker the OS has descheduled (another process keeps its core busy) does not hold up the step:
 * the caller and the others take its share. Idle workers spin for a short while (the next
 * operation usually follows within microseconds) and then sleep on a condition variable, so an
 * idle pool uses no CPU. A worker that held up a job by more than the job itself took (the system
 * gave its core to another process) makes the pool run its next jobs on the caller alone for a
 * while (4 ms, doubling up to 50 ms while such stalls repeat), after which it tries its workers
 * again: on a busy machine a step then runs at one thread's speed instead of waiting out other
 * processes' time slices.
 *
 * Jobs are not reentrant: fn must not call back into the same pool. One thread at a time may
 * submit jobs to a pool. */
#ifndef LLI_CPU_POOL_H
#define LLI_CPU_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct lli_pool lli_pool;

lli_pool *lli_pool_create(int n_threads); /* NULL when out of memory or threads */
int lli_pool_size(const lli_pool *p);     /* threads, the caller's included */
/* How long jobs will still run on the submitting thread alone after a stalled worker, in ns (0:
 * they are shared); for tests. Call it from the submitting thread. */
int64_t lli_pool_solo_left_ns(const lli_pool *p);
void lli_pool_free(lli_pool *p);

/* A 64-byte-aligned buffer of at least `bytes` for thread ith (as given to a chunk by
 * lli_pool_for), kept and grown between calls, freed with the pool; NULL when it cannot grow
 * (the caller then does without). */
void *lli_pool_scratch(lli_pool *p, int ith, size_t bytes);

/* fn(lo, hi, ith, arg) over the ranges [lo, hi) that cover [0, n_items) in chunks of `grain` items
 * (the last one shorter), each chunk exactly once; the call returns when all have finished. Threads
 * take the next chunk from a shared counter, in increasing order, so put the most expensive items
 * first. ith identifies the thread running the chunk, 0 <= ith < lli_pool_size(p) (0 is the
 * caller): no two chunks with the same ith run at once, so it may index per-thread scratch.
 * grain 0 picks about eight chunks per thread: small enough that a late thread's last chunk is a
 * small part of the job, large enough that the shared counter is touched rarely. */
typedef void (*lli_pool_range_fn)(int64_t lo, int64_t hi, int ith, void *arg);
void lli_pool_for(lli_pool *p, int64_t n_items, int64_t grain, lli_pool_range_fn fn, void *arg);

/* fn(i, n, arg) exactly once for every part i in [0, n), n = lli_pool_size(p), for work already
 * divided into one part per thread. Parts are handed out like the chunks of lli_pool_for (a part
 * may run on any thread, and several parts on one), so i identifies the part, not the thread; no
 * two calls with the same i run at once. Prefer lli_pool_for: equal parts leave a descheduled
 * thread's whole part to run after the others. */
typedef void (*lli_pool_fn)(int i, int n, void *arg);
void lli_pool_run(lli_pool *p, lli_pool_fn fn, void *arg);

#endif
