/* A persistent pool of compute threads. A decode step runs a few hundred small operations; waking
 * parked threads for each (rather than creating them) keeps that overhead to microseconds. */
#ifndef LLI_CPU_POOL_H
#define LLI_CPU_POOL_H

typedef struct lli_pool lli_pool;

/* Every thread i in [0, n) runs fn(i, n, arg); the call returns when all have finished. */
typedef void (*lli_pool_fn)(int ith, int nth, void *arg);

lli_pool *lli_pool_create(int n_threads); /* NULL when out of memory or threads */
void lli_pool_run(lli_pool *p, lli_pool_fn fn, void *arg);
int lli_pool_size(const lli_pool *p);
void lli_pool_free(lli_pool *p);

#endif
