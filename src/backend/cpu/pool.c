#include "backend/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long an idle worker polls for the next job before it sleeps. Operations of a step follow
 * each other within microseconds, so this covers a whole step; between steps (sampling, the
 * caller's own work) workers sleep and cost a wake-up of tens of microseconds at the next one. */
#define SPIN_NS 500000

/* A worker that finishes its chunk longer after the caller finished all the others than the whole
 * job took (and more than STALL_NS) was not running: the system gave its core to another process.
 * Waiting for such a worker costs the rest of its time slice, milliseconds, at every job it holds;
 * so the pool then runs its jobs on the caller alone for a while before it tries its workers
 * again. The while starts at SOLO_MIN_NS and doubles, up to SOLO_MAX_NS, at each stall that
 * follows the last within four of them: a core that another process keeps busy stalls the pool
 * again and again, and is best left alone for long; a core that was taken once (a shared machine's
 * other tenants) is back soon, and 50 ms without it cost a two-thread prefill a quarter of its
 * speed, at random. */
#define STALL_NS 200000
#define SOLO_MIN_NS 4000000
#define SOLO_MAX_NS 50000000

/* The job word: generation << 32 | CLOSED | workers inside the job. A worker joins by incrementing
 * the count with a compare-and-swap on the whole word, which fails once the job is closed or
 * replaced; so the caller, after closing, waits only for workers that actually joined. */
#define CLOSED (1ull << 31)
#define ACTIVE_MASK (CLOSED - 1)
#define GEN(s) ((uint32_t)((s) >> 32))

struct lli_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int sleeping; /* workers waiting on `wake` */
    atomic_int stop;
    _Alignas(64) _Atomic uint64_t state;
    uint32_t gen; /* the submitting thread's copy of the current generation */
    /* the current job, written only while no worker is inside one */
    lli_pool_range_fn fn;
    void *arg;
    int64_t n_items, grain, n_chunks;
    lli_pool_fn part_fn; /* lli_pool_run's function, called through run_part */
    void *part_arg;
    _Alignas(64) atomic_int_fast64_t next; /* the next chunk to take */
    struct scratch { void *buf; size_t cap; } *scratch; /* per thread, see lli_pool_scratch */
    int64_t solo_until; /* the submitter's: jobs run on it alone until then (STALL_NS) */
    int64_t solo_ns;    /* the length of the last such while */
};

static void run_chunks(lli_pool *p, int ith) {
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (c >= p->n_chunks) return;
        int64_t lo = c * p->grain, hi = lo + p->grain < p->n_items ? lo + p->grain : p->n_items;
        p->fn(lo, hi, ith, p->arg);
    }
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct worker_arg {
    lli_pool *p;
    int ith;
} worker_arg;

/* Returns when the job word's generation differs from `seen` or the pool stops. */
static void wait_for_job(lli_pool *p, uint32_t seen) {
    int64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        if (GEN(atomic_load_explicit(&p->state, memory_order_acquire)) != seen || atomic_load(&p->stop)) return;
        if ((spins & 63) == 0) {
            int64_t t = now_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) break;
        }
        cpu_relax();
    }
    pthread_mutex_lock(&p->lock);
    /* Registered as sleeping before the last look at the job word, which the submitter writes before
     * it reads `sleeping` (both sequentially consistent): either we see the new job here, or the
     * submitter sees us and broadcasts under the lock. */
    atomic_fetch_add(&p->sleeping, 1);
    while (GEN(atomic_load(&p->state)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleeping, 1);
    pthread_mutex_unlock(&p->lock);
}

static void *worker(void *a) {
    worker_arg wa = *(worker_arg *)a;
    free(a);
    lli_pool *p = wa.p;
    uint32_t seen = 0;
    for (;;) {
        wait_for_job(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        seen = GEN(s);
        /* A job already closed is finished without us; else join it unless it changes under us. */
        if (s & CLOSED || !atomic_compare_exchange_strong_explicit(&p->state, &s, s + 1, memory_order_acq_rel,
                                                                   memory_order_acquire))
            continue;
        run_chunks(p, wa.ith);
        atomic_fetch_sub_explicit(&p->state, 1, memory_order_release);
    }
}

lli_pool *lli_pool_create(int n_threads) {
    lli_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads < 1 ? 1 : n_threads;
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    p->scratch = calloc((size_t)p->n, sizeof *p->scratch);
    if (!p->threads || !p->scratch) {
        free(p->threads);
        free(p->scratch);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->state, CLOSED);
    atomic_init(&p->next, 0);
    for (int i = 1; i < p->n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->threads[i], NULL, worker, (*wa = (worker_arg){p, i}, wa)) != 0) {
            free(wa);
            p->n = i; /* run with the threads we have */
            break;
        }
    }
    return p;
}

int lli_pool_size(const lli_pool *p) { return p->n; }

int64_t lli_pool_solo_left_ns(const lli_pool *p) {
    const int64_t left = p->solo_until - now_ns();
    return left > 0 ? left : 0;
}

void *lli_pool_scratch(lli_pool *p, int ith, size_t bytes) {
    struct scratch *s = &p->scratch[ith];
    if (bytes <= s->cap) return s->buf;
    size_t cap = (bytes + (bytes >> 2) + 63) & ~(size_t)63; /* room to grow a little */
    void *buf = aligned_alloc(64, cap);
    if (!buf) return NULL;
    free(s->buf);
    s->buf = buf, s->cap = cap;
    return buf;
}

void lli_pool_for(lli_pool *p, int64_t n_items, int64_t grain, lli_pool_range_fn fn, void *arg) {
    if (n_items <= 0) return;
    if (grain <= 0) {
        int64_t chunks = (int64_t)p->n * 8;
        grain = (n_items + chunks - 1) / chunks;
    }
    int64_t n_chunks = (n_items + grain - 1) / grain;
    if (p->n == 1 || n_chunks == 1) {
        fn(0, n_items, 0, arg);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_items = n_items;
    p->grain = grain;
    p->n_chunks = n_chunks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    const int64_t start = now_ns();
    if (start < p->solo_until) { /* the job is not published: the workers sleep on */
        run_chunks(p, 0);
        return;
    }
    atomic_store(&p->state, (uint64_t)++p->gen << 32); /* open, nobody inside; publishes the fields */
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_chunks(p, 0);
    /* Every chunk is taken. Close the job and wait for the workers inside it, whose chunks may still
     * be running; those that did not get here in time never join. */
    uint64_t s = atomic_fetch_or_explicit(&p->state, CLOSED, memory_order_acq_rel) | CLOSED;
    if (!(s & ACTIVE_MASK)) return;
    const int64_t done = now_ns();
    for (int spins = 0; s & ACTIVE_MASK; spins++, s = atomic_load_explicit(&p->state, memory_order_acquire)) {
        if (spins < 20000) cpu_relax();
        else sched_yield(); /* a joined worker lost its core: let it have ours */
    }
    const int64_t end = now_ns(), waited = end - done;
    if (waited > STALL_NS && waited > done - start) {
        const int again = end - p->solo_until < 4 * p->solo_ns; /* solo_until: the last while's end */
        p->solo_ns = !again ? SOLO_MIN_NS : 2 * p->solo_ns < SOLO_MAX_NS ? 2 * p->solo_ns : SOLO_MAX_NS;
        p->solo_until = end + p->solo_ns;
    }
}

static void run_part(int64_t lo, int64_t hi, int ith, void *arg) {
    (void)ith;
    lli_pool *p = arg;
    for (int64_t i = lo; i < hi; i++) p->part_fn((int)i, p->n, p->part_arg);
}

void lli_pool_run(lli_pool *p, lli_pool_fn fn, void *arg) {
    p->part_fn = fn;
    p->part_arg = arg;
    lli_pool_for(p, p->n, 1, run_part, p);
}

void lli_pool_free(lli_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    for (int i = 0; i < p->n; i++) free(p->scratch[i].buf);
    free(p->scratch);
    free(p->threads);
    free(p);
}
