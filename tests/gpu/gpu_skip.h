/* How every GPU test ends when there is no GPU: a message, and meson's skip code 77. On a GPU
 * machine tests/gpu/run.sh sets LLI_GPU_REQUIRED=1, so that a missing device or module fails
 * instead of passing quietly. */
#ifndef LLI_TEST_GPU_SKIP_H
#define LLI_TEST_GPU_SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int gpu_skip(const char *prog, const char *why) {
    const char *req = getenv("LLI_GPU_REQUIRED");
    if (req && *req && strcmp(req, "0")) {
        fprintf(stderr, "%s: FAILED: no usable CUDA backend (%s), and LLI_GPU_REQUIRED is set\n", prog, why);
        return 1;
    }
    printf("%s: SKIPPED: no usable CUDA device or module here (%s)\n", prog, why);
    return 77;
}

#endif
