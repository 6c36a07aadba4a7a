/* Hardening of the library's edges on a tiny random-weight model: over-long sequences refused up
 * front with both lengths named, and nothing changed; models, caches, contexts and samplers freed
 * in every order (run under AddressSanitizer to catch a use after free); FIFOs and directories in
 * place of input files refused at once, by name (an alarm ends the test if anything blocks); a file
 * that cannot be mapped for lack of address space is LLI_E_NOMEM; two threads saving KV states to
 * one path both succeed and leave one whole state.
 * usage: test_harden TINY_CTX64.gguf SCRATCH_DIR */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static const char *g_gguf;
static char *g_tmp;
static char g_dir[4096]; /* the tiny model converted, raw fragments */

static lli_model *load(void) {
    lli_model *m = NULL;
    CHECK(lli_model_load(g_dir, NULL, &m) == LLI_OK, "load: %s", lli_last_error());
    return m;
}

static lli_kv_cache *cache(const lli_model *m, int64_t capacity) {
    lli_kv_cache_params *kp = NULL;
    lli_kv_cache *kv = NULL;
    lli_kv_cache_params_create(&kp);
    lli_kv_cache_params_set_capacity(kp, capacity);
    lli_kv_cache_params_set_block_size(kp, 16);
    CHECK(lli_kv_cache_create(m, kp, &kv) == LLI_OK, "kv: %s", lli_last_error());
    lli_kv_cache_params_free(kp);
    return kv;
}

static lli_context *context(const lli_model *m, lli_kv_cache *kv) {
    lli_context_params *cp = NULL;
    lli_context *ctx = NULL;
    lli_context_params_create(&cp);
    lli_context_params_set_max_batch(cp, 128);
    lli_context_params_set_threads(cp, 2);
    CHECK(lli_context_create(m, kv, cp, &ctx) == LLI_OK, "context: %s", lli_last_error());
    lli_context_params_free(cp);
    return ctx;
}

static lli_status feed(lli_context *ctx, lli_batch *b, lli_seq_id seq, int64_t from, int64_t to) {
    lli_batch_clear(b);
    for (int64_t p = from; p < to; p++) lli_batch_add(b, (lli_token)(p % 300), seq, p, p == to - 1);
    return lli_decode(ctx, b);
}

static int64_t seq_len(const lli_kv_cache *kv, lli_seq_id s) {
    int64_t n = -1;
    lli_kv_seq_length(kv, s, &n);
    return n;
}

/* The model's context is 64 tokens: a prompt of 65 is refused before any work, naming both. */
static void test_too_long(void) {
    lli_model *m = load();
    if (!m) return;
    lli_kv_cache *kv = cache(m, 256), *small = cache(m, 32);
    lli_context *ctx = context(m, kv), *sctx = context(m, small);
    lli_batch *b = NULL;
    lli_batch_create(128, &b);
    lli_seq_id s = -1, t = -1;
    lli_kv_seq_create(kv, &s);
    lli_kv_seq_create(small, &t);
    CHECK_FAILS(feed(ctx, b, s, 0, 65), LLI_E_INVALID_ARG, "65 tokens", "context length of 64");
    CHECK(seq_len(kv, s) == 0, "a refused prompt changed the sequence to %lld tokens", (long long)seq_len(kv, s));
    /* A prompt that fits, then one token past the end */
    CHECK(feed(ctx, b, s, 0, 64) == LLI_OK, "64 tokens: %s", lli_last_error());
    const float *before = NULL, *after = NULL;
    CHECK(lli_get_logits(ctx, 63, &before) == LLI_OK, "logits: %s", lli_last_error());
    float first = before ? before[0] : 0;
    CHECK_FAILS(feed(ctx, b, s, 64, 65), LLI_E_INVALID_ARG, "65 tokens", "context length of 64");
    CHECK(seq_len(kv, s) == 64, "a refused step changed the sequence to %lld tokens", (long long)seq_len(kv, s));
    CHECK(lli_get_logits(ctx, 63, &after) == LLI_OK && after[0] == first, "the last step's logits changed");
    /* The cache holds 32 tokens: 40 are refused up front as well, naming both. */
    CHECK_FAILS(feed(sctx, b, t, 0, 40), LLI_E_KV_FULL, "40 tokens", "capacity of 32 tokens");
    CHECK(seq_len(small, t) == 0, "a refused prompt changed the sequence to %lld tokens", (long long)seq_len(small, t));
    CHECK(feed(sctx, b, t, 0, 32) == LLI_OK, "32 tokens fit: %s", lli_last_error());
    lli_batch_free(b);
    lli_context_free(ctx);
    lli_context_free(sctx);
    lli_kv_cache_free(kv);
    lli_kv_cache_free(small);
    lli_model_free(m);
}

/* Every order of freeing a model, its cache, a context and a sampler (4! orders), after each has
 * been used; the cache and context keep working after the model's handle was freed. */
static void test_free_orders(void) {
    int perm[4] = {0, 1, 2, 3}, orders = 0;
    for (;;) {
        lli_model *m = load();
        if (!m) return;
        lli_kv_cache *kv = cache(m, 64);
        lli_context *ctx = context(m, kv);
        lli_sampler *smp = NULL;
        lli_batch *b = NULL;
        lli_sampler_create(&smp);
        lli_sampler_add_greedy(smp);
        lli_batch_create(128, &b);
        lli_seq_id s = -1;
        lli_kv_seq_create(kv, &s);
        lli_token tok = -1;
        CHECK(feed(ctx, b, s, 0, 3) == LLI_OK && lli_sampler_sample(smp, ctx, 2, &tok) == LLI_OK, "decode: %s",
              lli_last_error());
        int model_gone = 0, ctx_gone = 0, kv_gone = 0;
        for (int i = 0; i < 4; i++) {
            switch (perm[i]) {
            case 0: lli_model_free(m), model_gone = 1; break;
            case 1: lli_kv_cache_free(kv), kv_gone = 1; break;
            case 2: lli_context_free(ctx), ctx_gone = 1; break;
            case 3: lli_sampler_free(smp), smp = NULL; break;
            }
            if (model_gone && !kv_gone && !ctx_gone) {
                int64_t len = seq_len(kv, s);
                CHECK(feed(ctx, b, s, len, len + 1) == LLI_OK, "decoding after lli_model_free: %s", lli_last_error());
                CHECK(seq_len(kv, s) == len + 1, "the sequence did not grow");
            }
        }
        lli_batch_free(b);
        orders++;
        /* next permutation in lexicographic order */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1]) i--;
        if (i < 0) break;
        int j = 3;
        while (perm[j] < perm[i]) j--;
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
        for (int lo = i + 1, hi = 3; lo < hi; lo++, hi--) t = perm[lo], perm[lo] = perm[hi], perm[hi] = t;
    }
    CHECK(orders == 24, "%d free orders tried", orders);
}

/* A copy of the model with `name` (a file name, or the first fragment for NULL) replaced by a FIFO,
 * or by a directory; the file's path goes to path. */
static void special_copy(const char *tag, const char *name, int fifo, char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, tag);
    CHECK(test_copy_dir(g_dir, dir) == 0, "copy to %s", dir);
    char first[256] = "";
    DIR *d = opendir(dir);
    struct dirent *e;
    while (!name && d && (e = readdir(d)))
        if (strstr(e->d_name, ".frag") && !first[0]) snprintf(first, sizeof first, "%s", e->d_name);
    if (d) closedir(d);
    snprintf(path, 4096, "%s/%s", dir, name ? name : first);
    unlink(path);
    CHECK((fifo ? mkfifo(path, 0644) : mkdir(path, 0755)) == 0, "cannot make %s", path);
    *strrchr(path, '/') = 0; /* the directory */
    snprintf(path + strlen(path), 64, "/%s", name ? name : first);
}

static void test_special_files(void) {
    char path[4096], dir[4096];
    lli_model *m = NULL;
    /* Loading (and verifying) used to open the FIFO and wait for a writer forever. */
    for (int fifo = 0; fifo <= 1; fifo++) {
        const char *kind = fifo ? "FIFO" : "directory";
        snprintf(dir, sizeof dir, "manifest-%d", fifo);
        special_copy(dir, "manifest.json", fifo, path);
        *strrchr(path, '/') = 0;
        CHECK_FAILS(lli_model_load(path, NULL, &m), LLI_E_IO, "manifest.json", kind);
        CHECK(m == NULL, "a model came back");
        snprintf(dir, sizeof dir, "fragment-%d", fifo);
        special_copy(dir, NULL, fifo, path);
        char *slash = strrchr(path, '/');
        *slash = 0;
        CHECK_FAILS(lli_model_load(path, NULL, &m), LLI_E_IO, slash + 1, kind);
        CHECK_FAILS(lli_model_verify(path, 2, NULL, NULL), LLI_E_IO, slash + 1, kind);
    }
    /* A GGUF to convert, and a saved KV state to restore */
    snprintf(path, sizeof path, "%s/fifo.gguf", g_tmp);
    CHECK(mkfifo(path, 0644) == 0, "mkfifo %s", path);
    snprintf(dir, sizeof dir, "%s/converted", g_tmp);
    CHECK_FAILS(lli_convert_gguf(path, dir, NULL), LLI_E_IO, "fifo.gguf", "FIFO");
    lli_model *good = load();
    if (!good) return;
    lli_kv_cache *kv = cache(good, 64);
    lli_seq_id s = -1;
    CHECK_FAILS(lli_kv_seq_restore(kv, path, &s), LLI_E_IO, "fifo.gguf", "FIFO");
    lli_kv_state *state = NULL;
    CHECK(lli_kv_state_load(path, 1, &state) == LLI_OK, "a background load starts: %s", lli_last_error());
    CHECK_FAILS(lli_kv_state_wait(state), LLI_E_IO, "fifo.gguf", "FIFO");
    lli_kv_state_free(state);
    CHECK_FAILS(lli_kv_seq_restore(kv, g_tmp, &s), LLI_E_IO, "directory");
    lli_kv_cache_free(kv);
    lli_model_free(good);
}

/* A 64 GiB sparse file to convert, in a child process whose address space is limited to what it
 * uses plus 512 MiB: mapping the file fails with ENOMEM, which is LLI_E_NOMEM, not LLI_E_IO. */
static void test_map_nomem(void) {
    char path[4096], out[4096];
    snprintf(path, sizeof path, "%s/sparse.gguf", g_tmp);
    snprintf(out, sizeof out, "%s/sparse-out", g_tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite("GGUF", 1, 4, f) == 4 && fclose(f) == 0, "cannot write %s", path);
    CHECK(truncate(path, (off_t)64 << 30) == 0, "cannot extend %s", path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        long pages = 0;
        FILE *statm = fopen("/proc/self/statm", "r");
        if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(3);
        fclose(statm);
        struct rlimit rl = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20), RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
        lli_status st = lli_convert_gguf(path, out, NULL);
        int ok = st == LLI_E_NOMEM && strstr(lli_last_error(), "sparse.gguf") != NULL;
        if (!ok) fprintf(stderr, "converting a 64 GiB file in 512 MiB gave %d: %s\n", st, lli_last_error());
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an unmappable file was not LLI_E_NOMEM (child status %d)", status);
    unlink(path);
}

typedef struct saver {
    lli_kv_cache *kv;
    lli_seq_id seq;
    const char *path;
    int failures;
    char message[1024];
} saver;

static void *save_loop(void *arg) {
    saver *sv = arg;
    for (int i = 0; i < 100; i++)
        if (lli_kv_seq_save(sv->kv, sv->seq, sv->path) != LLI_OK) {
            sv->failures++;
            snprintf(sv->message, sizeof sv->message, "%s", lli_last_error());
        }
    return NULL;
}

/* Two saves to one path used to share one temporary file ("PATH.partial"): one rename found it
 * gone, or one state was written into the other's file. */
static void test_concurrent_saves(void) {
    lli_model *m = load();
    if (!m) return;
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/saves", g_tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/state.kv", dir);
    saver sv[2];
    lli_context *ctx[2];
    lli_batch *b = NULL;
    lli_batch_create(128, &b);
    for (int i = 0; i < 2; i++) {
        sv[i] = (saver){cache(m, 160), -1, path, 0, ""};
        ctx[i] = context(m, sv[i].kv);
        lli_kv_seq_create(sv[i].kv, &sv[i].seq);
        CHECK(feed(ctx[i], b, sv[i].seq, 0, 40 + 9 * i) == LLI_OK, "decode: %s", lli_last_error());
    }
    /* The old fixed temporary name, taken: a save must not depend on any fixed name being free. */
    char squat[4200];
    snprintf(squat, sizeof squat, "%s.partial", path);
    mkdir(squat, 0755);
    CHECK(lli_kv_seq_save(sv[0].kv, sv[0].seq, path) == LLI_OK, "save beside %s: %s", squat, lli_last_error());
    rmdir(squat);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, save_loop, &sv[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) CHECK(sv[i].failures == 0, "saver %d failed %d times: %s", i, sv[i].failures, sv[i].message);
    /* What is left is one whole state of either sequence, and no temporary file. */
    lli_seq_id r = -1;
    CHECK(lli_kv_seq_restore(sv[0].kv, path, &r) == LLI_OK, "restore: %s", lli_last_error());
    int64_t len = seq_len(sv[0].kv, r);
    CHECK(len == 40 || len == 49, "the saved state holds %lld tokens", (long long)len);
    int files = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            CHECK(!strcmp(e->d_name, "state.kv"), "left behind: %s", e->d_name);
        }
    if (d) closedir(d);
    CHECK(files == 1, "%d files in %s", files, dir);
    for (int i = 0; i < 2; i++) lli_context_free(ctx[i]), lli_kv_cache_free(sv[i].kv);
    lli_batch_free(b);
    lli_model_free(m);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_harden TINY_CTX64.gguf SCRATCH_DIR\n");
        return 2;
    }
    g_gguf = argv[1];
    char *tmp = g_tmp = test_tmpdir("harden");
    if (!tmp) return 2;
    snprintf(g_dir, sizeof g_dir, "%s/tiny", tmp);
    alarm(120); /* a call that blocks on a special file fails the test instead of hanging it */
    lli_convert_params *cp = NULL;
    lli_convert_params_create(&cp);
    lli_convert_params_set_compression(cp, 0, 0);
    if (lli_convert_gguf(g_gguf, g_dir, cp) != LLI_OK) {
        fprintf(stderr, "convert %s: %s\n", g_gguf, lli_last_error());
        return 2;
    }
    lli_convert_params_free(cp);
    test_too_long();
    test_free_orders();
    test_special_files();
    test_map_nomem();
    test_concurrent_saves();
    test_rm_rf(tmp);
    free(tmp);
    return check_summary();
}
