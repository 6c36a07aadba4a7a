/* lli-convert: GGUF file -> fragment model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"
#include "progress_bar.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: lli-convert IN.gguf OUT_DIR [--compress none|zstd[:LEVEL]] [--threads N]\n"
            "Convert a GGUF model (or a vocab-only GGUF) into a directory of verified fragments.\n"
            "OUT_DIR must not exist; it appears only when the conversion is complete.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int compression = LLI_COMPRESS_NONE, level = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--compress") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "none")) compression = LLI_COMPRESS_NONE;
            else if (!strncmp(v, "zstd", 4) && (v[4] == '\0' || (v[4] == ':' && parse_int(v + 5, 1, 19, &level) == 0)))
                compression = LLI_COMPRESS_ZSTD;
            else {
                fprintf(stderr, "lli-convert: --compress takes none, zstd or zstd:LEVEL (1-19), not \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1024, &threads)) {
                fprintf(stderr, "lli-convert: --threads takes 1 to 1024, not \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "lli-convert: unknown or incomplete option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!in) in = a;
        else if (!out) out = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    lli_convert_params *p = NULL;
    progress_bar bar;
    progress_bar_init(&bar, "converting");
    lli_status st = lli_convert_params_create(&p);
    if (!st) st = lli_convert_params_set_compression(p, compression, level);
    if (!st) st = lli_convert_params_set_threads(p, threads);
    if (!st) st = lli_convert_params_set_progress(p, progress_bar_update, &bar);
    if (!st) st = lli_convert_gguf(in, out, p);
    lli_convert_params_free(p);
    if (st) {
        fprintf(stderr, "lli-convert: %s: %s\n", lli_status_str(st), lli_last_error());
        return 1;
    }
    printf("converted %s -> %s\n", in, out);
    return 0;
}
