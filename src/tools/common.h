/* What the tools share beyond the argument parser: loading a model from a directory or a GGUF file
 * (through the library's cache), reporting a failed call, reading a text from a file or stdin. */
#ifndef LLI_TOOLS_COMMON_H
#define LLI_TOOLS_COMMON_H

#include <stddef.h>

#include "llminfer.h"

/* The option texts shared by the tools that take a model. */
#define TOOL_MODEL_HELP                                                                                    \
    "the model: a directory of fragments, or a GGUF file, which is converted once into "                 \
    "$XDG_CACHE_HOME/llminfer (else ~/.cache/llminfer) and loaded from there on later runs"
#define TOOL_BACKEND_CHOICES "cpu|cuda|auto"
#define TOOL_BACKEND_HELP "where the model runs; auto (the default) takes CUDA when its module and a GPU are there"
#define TOOL_CACHE_HELP "the cache directory for converted GGUF files, instead of the default"

/* Print "TOOL: WHAT: STATUS: MESSAGE" for a call that just failed, and return 1 (the exit status). */
int tool_fail(const char *tool, const char *what, lli_status st);

/* The backend constant for an OPT_CHOICE index into TOOL_BACKEND_CHOICES. */
int tool_backend(int choice);

/* Load a model from a directory or a GGUF file. params may be NULL. With progress, bars are drawn
 * on stderr when it is a terminal. A conversion ends with one line on stderr saying where the
 * fragments went. Failures are reported (tool_fail) here. *ms receives the load time if not NULL. */
lli_status tool_load_model(const char *tool, const char *path, const char *cache_dir, lli_model_params *params,
                           int progress, lli_model **out, double *ms);

/* The whole of a file, or of stdin for "-", NUL-terminated; NULL (reported) on failure. */
char *tool_read_text(const char *tool, const char *path, size_t *len);

/* Monotonic milliseconds. */
double tool_now_ms(void);

/* The backend name for stderr: "cpu" or "cuda". */
const char *tool_backend_name(const lli_model *m);

#endif
