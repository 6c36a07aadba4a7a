/* Shared by the libFuzzer harnesses (see docs/fuzzing.md): a scratch directory on tmpfs, file
 * helpers, and one routine that drives a loaded model through everything a caller would do with
 * it, so that whatever a fuzzed input gets past the loader is also decoded. */
#ifndef LLI_FUZZ_UTIL_H
#define LLI_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "llminfer.h"

/* A broken invariant is a finding: report it and abort, which libFuzzer records as a crash. */
#define FZ_CHECK(cond)                                                                          \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: invariant broken: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, lli_last_error());                                                   \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* A failing call must say why: a known status and a message. */
#define FZ_STATUS_OK_OR_EXPLAINED(st) FZ_CHECK((st) == LLI_OK || (lli_status_str(st) && lli_last_error()[0]))

/* This process's scratch directory (on /dev/shm when there is one, so that fsync costs nothing),
 * removed at exit; path of NAME inside it. */
const char *fz_scratch(void);
void fz_path(char *buf, size_t cap, const char *name);

void fz_write_file(const char *path, const void *data, size_t n);
/* Whole file into a malloc'd buffer; aborts when it cannot. */
uint8_t *fz_read_file(const char *path, size_t *n);
void fz_rmtree(const char *path);

/* Convert a GGUF file into scratch/NAME (replacing it) and load it; aborts on failure. */
lli_model *fz_model_from_gguf(const char *gguf, const char *name, int compress, int vocab_only);

/* Info, tensors, tokenizer, and when there are weights a KV cache, a context, one batch of a few
 * tokens decoded and sampled. Every failure must come with a message. */
void fz_exercise_model(lli_model *m);

#endif
