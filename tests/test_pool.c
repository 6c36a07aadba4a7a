/* The CPU backend's thread pool: every item of a job is processed exactly once, whatever the
 * number of threads, items and chunk size, over many jobs in a row; no two chunks with the same
 * thread index run at once; an idle pool sleeps; a worker that holds a job up (as one the system
 * does not run would) sends the next jobs to the caller alone, and later the workers are tried
 * again. And the default thread count follows the CPU affinity. */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/pool.h"
#include "base/parallel.h"
#include "support/check.h"

#define MAX_ITEMS 5000
#define MAX_THREADS 16

typedef struct job {
    atomic_int hits[MAX_ITEMS];
    atomic_int busy[MAX_THREADS]; /* chunks running now per thread index */
    atomic_int overlap;           /* a thread index was in two chunks at once */
    atomic_int bad_range;         /* lo/hi/ith outside what was asked */
    int64_t n, grain;
    int size;
} job;

static void range_fn(int64_t lo, int64_t hi, int ith, void *arg) {
    job *j = arg;
    if (ith < 0 || ith >= j->size || lo < 0 || hi > j->n || lo >= hi ||
        (j->grain > 0 && (lo % j->grain != 0 || (hi - lo != j->grain && hi != j->n)))) {
        atomic_fetch_add(&j->bad_range, 1);
        return;
    }
    if (atomic_fetch_add(&j->busy[ith], 1) != 0) atomic_fetch_add(&j->overlap, 1);
    for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&j->hits[i], 1);
    atomic_fetch_sub(&j->busy[ith], 1);
}

static void reset(job *j, int64_t n, int64_t grain, int size) {
    for (int i = 0; i < MAX_ITEMS; i++) atomic_store(&j->hits[i], 0);
    for (int i = 0; i < MAX_THREADS; i++) atomic_store(&j->busy[i], 0);
    atomic_store(&j->overlap, 0);
    atomic_store(&j->bad_range, 0);
    j->n = n, j->grain = grain, j->size = size;
}

/* Items processed other than exactly once, counting those outside [0, n) that were touched. */
static int wrong_items(job *j) {
    int wrong = 0;
    for (int64_t i = 0; i < MAX_ITEMS; i++) wrong += atomic_load(&j->hits[i]) != (i < j->n);
    return wrong + atomic_load(&j->bad_range) + atomic_load(&j->overlap);
}

typedef struct parts {
    atomic_int hits[MAX_THREADS];
    atomic_int bad;
} parts;

static void part_fn(int i, int n, void *arg) {
    parts *p = arg;
    if (i < 0 || i >= n || n > MAX_THREADS) atomic_fetch_add(&p->bad, 1);
    else atomic_fetch_add(&p->hits[i], 1);
}

/* A job whose chunks on workers sleep: the first such chunk stalls the job as a descheduled
 * worker would. Counts the chunks run by workers. */
typedef struct stall_job {
    atomic_int on_workers;
    int sleep_us;
} stall_job;

static void stall_fn(int64_t lo, int64_t hi, int ith, void *arg) {
    (void)lo, (void)hi;
    stall_job *j = arg;
    if (ith != 0) {
        atomic_fetch_add(&j->on_workers, 1);
        if (j->sleep_us) usleep((useconds_t)j->sleep_us);
    } else {
        for (volatile int i = 0; i < 2000; i++) {
        }
    }
}

/* Runs jobs whose chunks on workers sleep sleep_us until the pool takes one for a stall and goes
 * alone; returns how long it will stay alone (0 if it never did). Retried: the caller may take
 * every chunk first, and on a busy machine the caller itself may lose its core during a job,
 * which the pool rightly does not count against the worker. */
static int64_t stall_until_alone(lli_pool *p, int sleep_us) {
    for (int tries = 0; tries < 50; tries++) {
        stall_job j = {0, sleep_us};
        for (int i = 0; i < 200 && !atomic_load(&j.on_workers); i++) lli_pool_for(p, 64, 1, stall_fn, &j);
        const int64_t left = lli_pool_solo_left_ns(p);
        if (left > 0) return left;
    }
    return 0;
}

static void check_stall_policy(void) {
    lli_pool *p = lli_pool_create(2);
    CHECK(p && lli_pool_size(p) == 2, "pool of 2");
    if (!p) return;
    /* A worker that stalls a job: the next jobs run on the caller alone, for the pool's first
     * while: 4 ms. */
    const int64_t first = stall_until_alone(p, 20000);
    CHECK(first > 0 && first <= 4000000, "alone for %lld ns after a first stall", (long long)first);
    stall_job k = {0, 0};
    lli_pool_for(p, 64, 1, stall_fn, &k);
    CHECK(atomic_load(&k.on_workers) == 0, "%d chunks ran on workers right after a stall", atomic_load(&k.on_workers));
    /* A stall soon after that while ended doubles the next one. */
    while (lli_pool_solo_left_ns(p) > 0) usleep(500);
    const int64_t second = stall_until_alone(p, 3000);
    CHECK(second > 4000000 && second <= 8000000, "alone for %lld ns after a second stall", (long long)second);
    /* After a while the workers take part again. */
    usleep(80000);
    for (int i = 0; i < 2000 && !atomic_load(&k.on_workers); i++) lli_pool_for(p, 64, 1, stall_fn, &k);
    CHECK(atomic_load(&k.on_workers) > 0, "the workers never took part again after the stall");
    /* A stall long after the last one starts again from the shortest while. */
    const int64_t third = stall_until_alone(p, 3000);
    CHECK(third > 0 && third <= 4000000, "alone for %lld ns after a stall long after", (long long)third);
    lli_pool_free(p);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
    static job j;
    const int threads[] = {1, 2, 3, 8, MAX_THREADS};
    const int64_t items[] = {0, 1, 2, 3, 7, 64, 1000, MAX_ITEMS};
    const int64_t grains[] = {0, 1, 3, 64, 100000};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        lli_pool *p = lli_pool_create(threads[t]);
        CHECK(p != NULL, "%d threads", threads[t]);
        if (!p) continue;
        CHECK(lli_pool_size(p) == threads[t], "size %d", lli_pool_size(p));
        /* Every combination, and many jobs in a row: a worker that saw one job must not run a part
         * of the next twice or miss it. */
        for (int round = 0; round < 20; round++)
            for (size_t i = 0; i < sizeof items / sizeof *items; i++)
                for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                    reset(&j, items[i], grains[g], threads[t]);
                    lli_pool_for(p, items[i], grains[g], range_fn, &j);
                    int wrong = wrong_items(&j);
                    CHECK(wrong == 0, "threads %d items %lld grain %lld round %d: %d wrong", threads[t],
                          (long long)items[i], (long long)grains[g], round, wrong);
                }
        for (int round = 0; round < 200; round++) {
            parts pr;
            memset(&pr, 0, sizeof pr);
            lli_pool_run(p, part_fn, &pr);
            int wrong = atomic_load(&pr.bad);
            for (int i = 0; i < MAX_THREADS; i++) wrong += atomic_load(&pr.hits[i]) != (i < threads[t]);
            CHECK(wrong == 0, "threads %d round %d: %d parts wrong", threads[t], round, wrong);
        }
        /* Idle, the workers must sleep rather than poll: over half a second, a polling pool of
         * several threads uses at least that much CPU time; a sleeping one a few milliseconds. */
        if (threads[t] > 1) {
            double c0 = cpu_seconds();
            usleep(500000);
            double used = cpu_seconds() - c0;
            CHECK(used < 0.1, "threads %d: %.3f s of CPU while idle", threads[t], used);
            /* and wake up for the next job */
            reset(&j, MAX_ITEMS, 0, threads[t]);
            lli_pool_for(p, MAX_ITEMS, 0, range_fn, &j);
            CHECK(wrong_items(&j) == 0, "threads %d: job after idle", threads[t]);
        }
        lli_pool_free(p);
    }

    check_stall_policy();

    /* Default thread counts: an explicit request is kept; the default is at least one and at most
     * the processors this thread may use, and drops to one when its affinity allows only one. */
    CHECK(lli_compute_thread_count(5) == 5, "%d", lli_compute_thread_count(5));
    CHECK(lli_thread_count(3) == 3, "%d", lli_thread_count(3));
    cpu_set_t all;
    CHECK(sched_getaffinity(0, sizeof all, &all) == 0, "sched_getaffinity");
    int allowed = CPU_COUNT(&all);
    int compute = lli_compute_thread_count(0), io = lli_thread_count(0);
    CHECK(compute >= 1 && compute <= io && io <= allowed, "compute %d, io %d, allowed %d", compute, io, allowed);
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &all)) first++;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity to cpu %d", first);
    CHECK(lli_compute_thread_count(0) == 1, "%d compute threads on one cpu", lli_compute_thread_count(0));
    CHECK(lli_thread_count(0) == 1, "%d threads on one cpu", lli_thread_count(0));
    CHECK(sched_setaffinity(0, sizeof all, &all) == 0, "restoring affinity");
    return check_summary();
}
