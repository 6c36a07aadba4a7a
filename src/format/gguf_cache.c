/* lli_gguf_cache_entry() and lli_model_load_gguf(): GGUF files given where a model directory is
 * expected are converted once into a cache and loaded from there afterwards.
 *
 * An entry is named after the file's identity as stat() sees it (device, inode, size, modification
 * time in nanoseconds) plus the conversion's compression, hashed with SHA-256. Why not a hash of the
 * contents: a model is gigabytes, and hashing it on every run would cost seconds, which is what the
 * cache is there to save; a hash of the header alone would not see tensor data rewritten in place.
 * Any rewrite of the file changes its size or modification time (a download or copy also gives it a
 * new inode), so a changed GGUF gets a new entry; a copy of an unchanged file elsewhere gets an entry
 * of its own, which costs disk space but is never wrong. Entries are not shared between users. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/sha256.h"
#include "format/gguf_cache.h"
#include "runtime/params.h"

int lli_is_gguf_file(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char magic[4];
    ssize_t n = read(fd, magic, 4);
    close(fd);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

/* mkdir -p with mode 0700 for the directories it creates (the XDG base directory rule). */
static lli_status make_dirs(const char *dir) {
    char path[4096];
    if (strlen(dir) >= sizeof path) return lli_fail(LLI_E_INVALID_ARG, "cache directory path is too long: %s", dir);
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return lli_fail(LLI_E_IO, "cannot create the cache directory %s: %s", path, strerror(errno));
        *p = c;
        if (c == '\0') break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return lli_fail(LLI_E_IO, "cache directory %s is not a directory", dir);
    return LLI_OK;
}

/* The cache's root: the caller's, $XDG_CACHE_HOME/llminfer or $HOME/.cache/llminfer. */
static lli_status cache_root(const char *cache_dir, char *out, size_t cap) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (cache_dir && *cache_dir) n = snprintf(out, cap, "%s", cache_dir);
    else if (xdg && *xdg == '/') n = snprintf(out, cap, "%s/llminfer", xdg); /* relative values are ignored, as XDG says */
    else if (home && *home) n = snprintf(out, cap, "%s/.cache/llminfer", home);
    else return lli_fail(LLI_E_INVALID_ARG, "no cache directory for GGUF files: neither XDG_CACHE_HOME nor HOME is set, "
                                            "and none was given");
    if (n < 0 || (size_t)n >= cap) return lli_fail(LLI_E_INVALID_ARG, "cache directory path is too long");
    return LLI_OK;
}

lli_status lli_gguf_cache_entry(const char *gguf_path, const char *cache_dir, const lli_convert_params *params, char *out,
                                size_t out_size, size_t *out_len) {
    if (!gguf_path || !*gguf_path) return lli_fail(LLI_E_INVALID_ARG, "lli_gguf_cache_entry: gguf_path is NULL or empty");
    if (!out && out_size) return lli_fail(LLI_E_INVALID_ARG, "lli_gguf_cache_entry: out is NULL but out_size is not 0");
    struct stat sb;
    if (stat(gguf_path, &sb) != 0) return lli_fail(LLI_E_IO, "cannot open %s: %s", gguf_path, strerror(errno));
    if (!lli_is_gguf_file(gguf_path)) return lli_fail(LLI_E_FORMAT, "%s is not a GGUF file", gguf_path);
    struct lli_convert_params defaults;
    if (!params) {
        lli_convert_params_defaults(&defaults);
        params = &defaults;
    }
    char root[4096];
    LLI_TRY(cache_root(cache_dir, root, sizeof root));

    char identity[256], digest[65];
    int n = snprintf(identity, sizeof identity, "gguf-cache-1 dev=%llu ino=%llu size=%lld mtime=%lld.%09ld compress=%d:%d",
                     (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino, (long long)sb.st_size,
                     (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec, params->compression,
                     params->compression == LLI_COMPRESS_NONE ? 0 : params->level);
    if (lli_sha256_buffer_hex(identity, (size_t)n, digest)) return lli_fail(LLI_E_NOMEM, "out of memory hashing");

    /* The file's name (without .gguf, letters, digits and ._- only, at most 64) keeps entries readable. */
    const char *base = strrchr(gguf_path, '/');
    base = base ? base + 1 : gguf_path;
    size_t blen = strlen(base);
    if (blen > 5 && !strcmp(base + blen - 5, ".gguf")) blen -= 5;
    char name[65];
    size_t k = 0;
    for (size_t i = 0; i < blen && k < 64; i++) {
        char c = base[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        name[k++] = ok ? c : '_';
    }
    name[k] = '\0';
    char path[4200];
    n = snprintf(path, sizeof path, "%s/%s%s%.16s", root, name, k ? "-" : "", digest);
    if (n < 0 || (size_t)n >= sizeof path) return lli_fail(LLI_E_INVALID_ARG, "cache directory path is too long");
    if (out_len) *out_len = (size_t)n;
    if ((size_t)n >= out_size)
        return lli_fail(LLI_E_BUFFER_TOO_SMALL, "lli_gguf_cache_entry: the path needs %d bytes and a terminator", n);
    memcpy(out, path, (size_t)n + 1);
    return LLI_OK;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Statuses of a load that say the entry itself is bad (rather than the request or the machine). */
static int entry_damaged(lli_status st) {
    return st == LLI_E_IO || st == LLI_E_FORMAT || st == LLI_E_CHECKSUM;
}

lli_status lli_model_load_gguf(const char *gguf_path, const char *cache_dir, const lli_convert_params *convert_params,
                               const lli_model_params *params, lli_model **out, int *how) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_model_load_gguf: out is NULL");
    *out = NULL;
    if (how) *how = LLI_GGUF_CACHE_HIT;
    char entry[4096], root[4096];
    size_t len;
    LLI_TRY(lli_gguf_cache_entry(gguf_path, cache_dir, convert_params, entry, sizeof entry, &len));
    LLI_TRY(cache_root(cache_dir, root, sizeof root));

    lli_status st;
    if (exists(entry)) {
        st = lli_model_load(entry, params, out);
        if (st == LLI_OK || !entry_damaged(st)) return st;
        /* A damaged entry (a fragment changed or cut on disk, a missing file): convert again. The
         * load's message is kept for the case where rebuilding fails too. */
        char why[512];
        lli_error_copy(why, sizeof why);
        lli_remove_flat_dir(entry);
        if (exists(entry))
            return lli_fail(st, "the cache entry %s for %s is damaged (%s) and cannot be removed; remove it by hand",
                            entry, gguf_path, why);
        if (how) *how = LLI_GGUF_CACHE_REBUILT;
    } else if (how) {
        *how = LLI_GGUF_CACHE_CONVERTED;
    }
    LLI_TRY(make_dirs(root));
    st = lli_convert_gguf(gguf_path, entry, convert_params);
    /* Another process converting the same file at the same time may have renamed its entry into
     * place first (conversion never replaces a directory): then that entry is the one to load. */
    if (st == LLI_E_IO && exists(entry)) st = LLI_OK;
    if (st) return lli_fail_prefix(st, "converting %s into the cache at %s: ", gguf_path, entry);
    /* The fresh entry is loaded with the caller's parameters: with verification on (the default)
     * every fragment needed is read back from disk and checked against its SHA-256. */
    st = lli_model_load(entry, params, out);
    if (st) lli_fail_prefix(st, "loading the cache entry %s made from %s: ", entry, gguf_path);
    return st;
}
