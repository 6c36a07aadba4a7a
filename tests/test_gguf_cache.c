/* GGUF files through the cache: converted once, loaded from the cache afterwards, a new entry for a
 * changed file, a damaged entry rebuilt, and lli_model_load refusing a GGUF path by naming
 * lli_convert_gguf(). usage: test_gguf_cache TINY.gguf */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static int g_progress_calls;

static int count_progress(uint64_t done, uint64_t total, void *user) {
    (void)done, (void)total, (void)user;
    g_progress_calls++;
    return 1;
}

/* Load through the cache in dir; returns the status, how it went in *how, the layer count in *layers. */
static lli_status load_gguf(const char *gguf, const char *dir, int *how, int64_t *layers) {
    lli_convert_params *cp = NULL;
    lli_model *m = NULL;
    *how = -1, *layers = -1;
    g_progress_calls = 0;
    lli_status st = lli_convert_params_create(&cp);
    if (!st) st = lli_convert_params_set_progress(cp, count_progress, NULL);
    if (!st) st = lli_model_load_gguf(gguf, dir, cp, NULL, &m, how);
    if (!st) lli_model_info_int(m, LLI_INFO_N_LAYER, layers);
    lli_model_free(m);
    lli_convert_params_free(cp);
    return st;
}

static void entry_of(const char *gguf, const char *dir, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    lli_status st = lli_gguf_cache_entry(gguf, dir, NULL, out, cap, &len);
    CHECK(st == LLI_OK && strlen(out) == len, "entry of %s: %s", gguf, lli_last_error());
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s TINY.gguf\n", argv[0]);
        return 2;
    }
    char *tmp = test_tmpdir("gguf-cache");
    char gguf[4096], cache[4096], entry[4096], entry2[4096], path[4200];
    snprintf(gguf, sizeof gguf, "%s/tiny model.gguf", tmp);
    snprintf(cache, sizeof cache, "%s/cache/nested", tmp);
    CHECK(test_copy_file(argv[1], gguf) == 0, "copy %s", argv[1]);

    /* lli_model_load on a GGUF path says what to do instead. */
    lli_model *m = NULL;
    CHECK_FAILS(lli_model_load(gguf, NULL, &m), LLI_E_INVALID_ARG, "lli_convert_gguf()", "GGUF");
    CHECK(m == NULL, "no model on failure");

    /* The entry's name: under the cache, readable, stable; a too-small buffer reports the length. */
    entry_of(gguf, cache, entry, sizeof entry);
    CHECK(!strncmp(entry, cache, strlen(cache)) && strstr(entry, "/tiny_model-"), "entry %s", entry);
    entry_of(gguf, cache, entry2, sizeof entry2);
    CHECK(!strcmp(entry, entry2), "same file, same entry: %s vs %s", entry, entry2);
    size_t len = 0;
    char small[8];
    CHECK_FAILS(lli_gguf_cache_entry(gguf, cache, NULL, small, sizeof small, &len), LLI_E_BUFFER_TOO_SMALL, "bytes");
    CHECK(len == strlen(entry), "length %zu reported for a small buffer (want %zu)", len, strlen(entry));
    lli_convert_params *zp = NULL;
    lli_convert_params_create(&zp);
    lli_convert_params_set_compression(zp, LLI_COMPRESS_ZSTD, 3);
    CHECK(lli_gguf_cache_entry(gguf, cache, zp, entry2, sizeof entry2, NULL) == LLI_OK && strcmp(entry, entry2),
          "compression is part of the key: %s", entry2);
    lli_convert_params_free(zp);
    CHECK(!test_exists(cache), "naming an entry creates nothing");

    /* Bad input: a missing file, a file that is not GGUF, NULL. */
    snprintf(path, sizeof path, "%s/missing.gguf", tmp);
    CHECK_FAILS(lli_gguf_cache_entry(path, cache, NULL, entry2, sizeof entry2, NULL), LLI_E_IO, "missing.gguf");
    snprintf(path, sizeof path, "%s/text.gguf", tmp);
    test_write_file(path, "not a model", 11);
    CHECK_FAILS(lli_model_load_gguf(path, cache, NULL, NULL, &m, NULL), LLI_E_FORMAT, "text.gguf", "not a GGUF");
    CHECK_FAILS(lli_model_load_gguf(NULL, cache, NULL, NULL, &m, NULL), LLI_E_INVALID_ARG, "gguf_path");
    CHECK_FAILS(lli_model_load_gguf(gguf, cache, NULL, NULL, NULL, NULL), LLI_E_INVALID_ARG, "out");

    /* First use converts (with progress), later uses load the entry without converting. */
    int how;
    int64_t layers;
    CHECK(load_gguf(gguf, cache, &how, &layers) == LLI_OK, "first load: %s", lli_last_error());
    CHECK(how == LLI_GGUF_CACHE_CONVERTED && layers == 3 && g_progress_calls > 0, "first: how %d, %lld layers, %d calls",
          how, (long long)layers, g_progress_calls);
    snprintf(path, sizeof path, "%s/manifest.json", entry);
    CHECK(test_exists(path), "%s exists", path);
    CHECK(load_gguf(gguf, cache, &how, &layers) == LLI_OK, "second load: %s", lli_last_error());
    CHECK(how == LLI_GGUF_CACHE_HIT && layers == 3 && g_progress_calls == 0, "second: how %d, %d calls", how,
          g_progress_calls);
    CHECK(lli_model_load(entry, NULL, &m) == LLI_OK, "the entry is an ordinary model directory: %s", lli_last_error());
    lli_model_free(m);

    /* A damaged entry (one fragment's byte flipped) is converted again, then loads. */
    snprintf(path, sizeof path, "%s/layer-001.frag", entry);
    CHECK(test_flip_byte(path, test_file_size(path) - 1) == 0, "flip a byte of %s", path);
    CHECK(load_gguf(gguf, cache, &how, &layers) == LLI_OK, "load of a damaged entry: %s", lli_last_error());
    CHECK(how == LLI_GGUF_CACHE_REBUILT && layers == 3, "damaged: how %d", how);
    CHECK(lli_model_load(entry, NULL, &m) == LLI_OK, "the rebuilt entry verifies: %s", lli_last_error());
    lli_model_free(m);
    /* A missing fragment too. */
    CHECK(unlink(path) == 0, "remove %s", path);
    CHECK(load_gguf(gguf, cache, &how, &layers) == LLI_OK && how == LLI_GGUF_CACHE_REBUILT, "missing fragment: how %d: %s",
          how, lli_last_error());

    /* A changed file (new modification time) gets a new entry; the old one stays valid. */
    struct timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 5}};
    CHECK(utimensat(AT_FDCWD, gguf, times, 0) == 0, "set mtime");
    entry_of(gguf, cache, entry2, sizeof entry2);
    CHECK(strcmp(entry, entry2) != 0, "a changed file gets a new entry: %s", entry2);
    CHECK(load_gguf(gguf, cache, &how, &layers) == LLI_OK && how == LLI_GGUF_CACHE_CONVERTED, "changed file: how %d", how);

    /* The default cache is $XDG_CACHE_HOME/llminfer, else ~/.cache/llminfer. */
    snprintf(path, sizeof path, "%s/xdg", tmp);
    setenv("XDG_CACHE_HOME", path, 1);
    entry_of(gguf, NULL, entry2, sizeof entry2);
    snprintf(path, sizeof path, "%s/xdg/llminfer/tiny_model-", tmp);
    CHECK(!strncmp(entry2, path, strlen(path)), "XDG entry %s", entry2);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", tmp, 1);
    entry_of(gguf, NULL, entry2, sizeof entry2);
    snprintf(path, sizeof path, "%s/.cache/llminfer/tiny_model-", tmp);
    CHECK(!strncmp(entry2, path, strlen(path)), "HOME entry %s", entry2);
    CHECK(load_gguf(gguf, NULL, &how, &layers) == LLI_OK && how == LLI_GGUF_CACHE_CONVERTED, "default cache: %s",
          lli_last_error());
    unsetenv("HOME");
    CHECK_FAILS(lli_gguf_cache_entry(gguf, NULL, NULL, entry2, sizeof entry2, NULL), LLI_E_INVALID_ARG, "HOME");

    test_rm_rf(tmp);
    free(tmp);
    return check_summary();
}
