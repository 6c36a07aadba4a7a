/* LD_PRELOAD allocator that fails one chosen allocation: the Nth call (counted from 1 over malloc,
 * calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc and pvalloc, on every thread) with
 * N from LLI_ALLOC_FAIL_AT; 0 or unset fails none. The calls pass on to the next allocator (glibc's,
 * or AddressSanitizer's in a sanitized build, whose leak checker then still sees every block).
 * At exit, LLI_ALLOC_REPORT (a file) receives "CALLS HIT": the calls counted and 1 if the Nth
 * was reached. The counting starts at main: what the loader and the C runtime allocate before
 * the program runs is not the library's to handle. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The project compiles with hidden visibility; these must interpose the C library's. */
#define EXPORT __attribute__((visibility("default")))

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static void *(*next_valloc)(size_t);
static void *(*next_pvalloc)(size_t);
static void (*next_free)(void *);

static atomic_long calls;
static atomic_int hit;
static long fail_at;
static int counting;

/* dlsym may itself ask for memory (calloc) before the real functions are known: a little static
 * space serves it; such blocks are never freed (free() of them is ignored below). */
static char boot[4096];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot) return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static int in_boot(const void *p) { return (const char *)p >= boot && (const char *)p < boot + sizeof boot; }

static void resolve(void) {
    if (next_malloc || resolving) return;
    resolving = 1;
    next_calloc = dlsym(RTLD_NEXT, "calloc");
    next_realloc = dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    next_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    next_memalign = dlsym(RTLD_NEXT, "memalign");
    next_valloc = dlsym(RTLD_NEXT, "valloc");
    next_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    next_free = dlsym(RTLD_NEXT, "free");
    next_malloc = dlsym(RTLD_NEXT, "malloc");
    resolving = 0;
}

/* Non-zero when this call is the one to fail. */
static int should_fail(void) {
    if (!counting) return 0;
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (n != fail_at) return 0;
    atomic_store(&hit, 1);
    errno = ENOMEM;
    return 1;
}

__attribute__((constructor)) static void shim_init(void) {
    resolve();
    const char *at = getenv("LLI_ALLOC_FAIL_AT");
    fail_at = at ? atol(at) : 0;
}

/* Called from the program's main (through a weak reference) when it wants counting to start. */
EXPORT void lli_alloc_shim_start(void) { counting = 1; }

__attribute__((destructor)) static void shim_report(void) {
    const char *path = getenv("LLI_ALLOC_REPORT");
    if (!path) return;
    counting = 0;
    char line[64];
    int len = snprintf(line, sizeof line, "%ld %d\n", atomic_load(&calls), atomic_load(&hit));
    FILE *f = fopen(path, "w");
    if (f) fwrite(line, 1, (size_t)len, f), fclose(f);
}

EXPORT void *malloc(size_t n) {
    if (!next_malloc) {
        if (resolving) return boot_alloc(n);
        resolve();
    }
    return should_fail() ? NULL : next_malloc(n);
}

EXPORT void *calloc(size_t a, size_t b) {
    if (!next_calloc) {
        if (resolving) return boot_alloc(a * b); /* boot is zero: static storage */
        resolve();
    }
    return should_fail() ? NULL : next_calloc(a, b);
}

EXPORT void *realloc(void *p, size_t n) {
    if (!next_realloc) resolve();
    if (in_boot(p)) {
        void *q = should_fail() ? NULL : next_malloc(n);
        if (q) memcpy(q, p, n);
        return q;
    }
    return should_fail() ? NULL : next_realloc(p, n);
}

EXPORT void free(void *p) {
    if (!p || in_boot(p)) return;
    if (!next_free) resolve();
    if (next_free) next_free(p);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    resolve();
    return should_fail() ? ENOMEM : next_posix_memalign(out, align, n);
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
    resolve();
    return should_fail() ? NULL : next_aligned_alloc(align, n);
}

EXPORT void *memalign(size_t align, size_t n) {
    resolve();
    return should_fail() ? NULL : next_memalign(align, n);
}

EXPORT void *valloc(size_t n) {
    resolve();
    return should_fail() ? NULL : next_valloc(n);
}

EXPORT void *pvalloc(size_t n) {
    resolve();
    return should_fail() ? NULL : next_pvalloc(n);
}
