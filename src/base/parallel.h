/* Run independent jobs on a few threads: each thread takes the next job index until none is left. */
#ifndef LLI_PARALLEL_H
#define LLI_PARALLEL_H

#include <stdint.h>

/* Runs fn(job, arg) for job in [0, n_jobs) on min(n_threads, n_jobs) threads (the caller's among
 * them). Jobs should be ordered largest first for balance. Returns 0, or -1 if threads could not be
 * started (the jobs then still all run, on the calling thread). */
int lli_parallel_for(int n_threads, int64_t n_jobs, void (*fn)(int64_t job, void *arg), void *arg);

/* Threads to use for a request of n: n itself when positive, else one per processor this process
 * may run on (its CPU affinity), at most its cgroup's CPU quota. For reading, hashing, compressing. */
int lli_thread_count(int n);

/* The same for compute threads, whose default is one per physical core among those processors:
 * a second thread on an SMT sibling only contends for the same core's units. */
int lli_compute_thread_count(int n);

#endif
