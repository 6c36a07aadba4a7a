#include "base/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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

/* The CPU quota of the process's cgroup (v2 cpu.max: "QUOTA PERIOD" or "max PERIOD"), rounded up,
 * or 0 when there is none: a container limited by --cpus still sees every processor. */
static int cgroup_cpu_limit(void) {
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (!f) return 0;
    char quota[32] = "";
    long long period = 0;
    int n = fscanf(f, "%31s %lld", quota, &period);
    fclose(f);
    if (n != 2 || period <= 0 || !strcmp(quota, "max")) return 0;
    long long q = atoll(quota);
    return q > 0 ? (int)((q + period - 1) / period) : 0;
}

/* One integer from a sysfs file, or -1. */
static long read_sysfs_long(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

/* Processors this thread may run on (its affinity, which a container or taskset may restrict) and
 * the physical cores among them: SMT siblings share one core's execution units, so compute threads
 * beyond one per core only contend. */
static void count_cpus(int *logical, int *physical) {
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    *logical = *physical = online > 0 ? (int)online : 1;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    *logical = CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    /* Distinct (package, core) pairs; core ids are unique only within a package. */
    long seen[CPU_SETSIZE][2];
    int cores = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        long core = read_sysfs_long(path);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        long pkg = read_sysfs_long(path);
        if (core < 0) return; /* no topology (some containers): count every processor */
        int k = 0;
        while (k < cores && !(seen[k][0] == pkg && seen[k][1] == core)) k++;
        if (k == cores) seen[cores][0] = pkg, seen[cores++][1] = core;
    }
    *physical = cores > 0 ? cores : *logical;
}

static int limit(int n) {
    int quota = cgroup_cpu_limit();
    return quota > 0 && quota < n ? quota : n;
}

int lli_thread_count(int n) {
    if (n > 0) return n;
    int logical, physical;
    count_cpus(&logical, &physical);
    return limit(logical);
}

int lli_compute_thread_count(int n) {
    if (n > 0) return n;
    int logical, physical;
    count_cpus(&logical, &physical);
    return limit(physical);
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
