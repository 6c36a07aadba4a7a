/* GPU-side sampling, exported by the CUDA module beside its entry point (not yet part of the public
 * API): find it with dlsym(LLI_CUDA_SAMPLE_SYMBOL) in the module the backend came from. */
#ifndef LLI_CUDA_SAMPLE_H
#define LLI_CUDA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"

/* Sample one token per row of `rows` rows of `vocab` logits (device memory), on the stream of
 * `exec` (from the CUDA backend's exec_create), and wait for it. temperature <= 0 or top_k == 1:
 * greedy (the lowest index among equal maxima). Otherwise softmax(logits / temperature) restricted
 * to the top_k largest logits (top_k <= 0: all; ties at the k-th value are kept) and then to the
 * smallest set of largest logits whose mass reaches top_p of the rest (top_p >= 1: all); the token
 * is where uniform[r] (host, in [0, 1)) falls in the kept tokens' cumulative mass, in index order.
 * tokens: host memory. On failure err holds the message. */
typedef lli_status (*lli_cuda_sample_fn)(void *exec, const float *logits, int64_t rows, int64_t vocab, float temperature,
                                         int top_k, float top_p, const float *uniform, int32_t *tokens, char *err,
                                         size_t err_cap);
#define LLI_CUDA_SAMPLE_SYMBOL "lli_cuda_sample"

#endif
