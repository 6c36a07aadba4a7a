#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress_bar.h"

int tool_fail(const char *tool, const char *what, lli_status st) {
    fprintf(stderr, "%s: %s: %s: %s\n", tool, what, lli_status_str(st), lli_last_error());
    return 1;
}

int tool_backend(int choice) {
    static const int backends[] = {LLI_BACKEND_CPU, LLI_BACKEND_CUDA, LLI_BACKEND_AUTO};
    return backends[choice];
}

double tool_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

const char *tool_backend_name(const lli_model *m) {
    int64_t b = LLI_BACKEND_CPU;
    lli_model_info_int(m, LLI_INFO_BACKEND, &b);
    return b == LLI_BACKEND_CUDA ? "cuda" : "cpu";
}

lli_status tool_load_model(const char *tool, const char *path, const char *cache_dir, lli_model_params *params,
                           int progress, lli_model **out, double *ms) {
    progress_bar load_bar, conv_bar;
    progress_bar_init(&load_bar, "loading");
    progress_bar_init(&conv_bar, "converting");
    lli_status st = LLI_OK;
    if (progress && params) st = lli_model_params_set_progress(params, progress_bar_update, &load_bar);
    if (st) return tool_fail(tool, "lli_model_params_set_progress", st), st;
    double t0 = tool_now_ms();
    /* The library tells a GGUF file from a directory: naming its cache entry fails with
     * LLI_E_FORMAT (not GGUF) or LLI_E_IO (no such file) for anything else. */
    char entry[4096] = "";
    lli_status kind = lli_gguf_cache_entry(path, cache_dir, NULL, entry, sizeof entry, NULL);
    if (kind == LLI_E_FORMAT || kind == LLI_E_IO) {
        st = lli_model_load(path, params, out);
        if (st) tool_fail(tool, path, st);
    } else {
        lli_convert_params *cp = NULL;
        int how = LLI_GGUF_CACHE_HIT;
        st = lli_convert_params_create(&cp);
        if (!st && progress) st = lli_convert_params_set_progress(cp, progress_bar_update, &conv_bar);
        if (!st) st = lli_model_load_gguf(path, cache_dir, cp, params, out, &how);
        if (st) tool_fail(tool, path, st);
        else if (how != LLI_GGUF_CACHE_HIT) {
            fprintf(stderr, "%s: %s %s into %s (later runs load it from there)\n", tool,
                    how == LLI_GGUF_CACHE_REBUILT ? "found a damaged cache entry and converted" : "converted", path, entry);
        }
        lli_convert_params_free(cp);
    }
    if (ms) *ms = tool_now_ms() - t0;
    return st;
}

char *tool_read_text(const char *tool, const char *path, size_t *len) {
    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", tool, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, (cap *= 2) + 1);
            if (!b) free(buf);
            buf = b;
        }
    }
    int err = ferror(f);
    if (!is_stdin) fclose(f);
    if (!buf || err) {
        fprintf(stderr, "%s: cannot read %s: %s\n", tool, is_stdin ? "stdin" : path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
