/* lli-convert: GGUF file -> fragment model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "llminfer.h"
#include "progress_bar.h"

#define TOOL "lli-convert"

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *compress = "none";
    int compression = LLI_COMPRESS_NONE, level = 0, threads = 0;
    const tool_option opts[] = {
        {"--compress", OPT_STRING, &compress, "none|zstd[:LEVEL]",
         "compress each fragment with zstd (LEVEL 1 to 19, default 3); none (the default) lets fragments be used in "
         "place from the page cache"},
        {"-t, --threads", OPT_INT, &threads, "N", "threads, 1 to 1024; 0 (the default): one per processor", 0, 1024},
    };
    const tool_spec spec = {TOOL, "[OPTION]... IN.gguf OUT_DIR",
                            "Convert a GGUF model (or a vocabulary-only GGUF) into a directory of verified fragments. "
                            "OUT_DIR must not exist; it appears only when the conversion is complete. Tensor data is "
                            "copied as it is, never requantized.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 2, 2,
                            "The other tools also take a GGUF file directly and convert it once into a cache.\n\n"
                            "Exit status:\n0 on success, 1 when the conversion fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, pos, NULL);
    if (rc >= 0) return rc;
    const char *in = pos[0], *out = pos[1];
    char *end = NULL;
    long lv = 0;
    if (!strcmp(compress, "none")) compression = LLI_COMPRESS_NONE;
    else if (!strncmp(compress, "zstd", 4) && (compress[4] == '\0' ||
             (compress[4] == ':' && (lv = strtol(compress + 5, &end, 10)) >= 1 && lv <= 19 && end != compress + 5 && !*end)))
        compression = LLI_COMPRESS_ZSTD, level = (int)lv;
    else {
        fprintf(stderr, TOOL ": --compress takes none, zstd or zstd:LEVEL (1 to 19), not \"%s\" (see " TOOL " --help)\n",
                compress);
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
    if (st) return tool_fail(TOOL, in, st);
    printf("converted %s -> %s\n", in, out);
    return 0;
}
