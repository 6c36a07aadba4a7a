/* GPU-side sampling, exported by the CUDA module beside its entry point (not yet part of the public
 * API): find it with dlsym(LLI_CUDA_SAMPLE_SYMBOL) in the module the backend came from. */
#ifndef LLI_CUDA_SAMPLE_H
#define LLI_CUDA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"

/* Sample one token per row of `rows` rows of `vocab` logits (device memory), on the stream of
 * `exec` (from the CUDA backend's exec_create), and wait for it. The rules are sample_row.h's:
 * greedy when temperature <= 0 or top_k == 1 (the lowest index among equal maxima); otherwise
 * softmax(logits / temperature) over the top_k largest logits (top_k <= 0: all; ties at the k-th
 * value kept), then the largest logits down to the smallest threshold whose mass reaches top_p of
 * the rest (top_p >= 1: all; top_p <= 0: only the largest); NaN logits are never chosen, a +inf
 * logit takes all the mass. The token is where uniform[r] (host, in [0, 1]) falls in the kept
 * tokens' cumulative mass, in index order. tokens: host memory. LLI_E_INVALID_ARG for a NaN or
 * infinite temperature, a NaN top_p, a draw outside [0, 1], or a row with no logit that is a
 * number; on failure err holds the message. */
typedef lli_status (*lli_cuda_sample_fn)(void *exec, const float *logits, int64_t rows, int64_t vocab, float temperature,
                                         int top_k, float top_p, const float *uniform, int32_t *tokens, char *err,
                                         size_t err_cap);
#define LLI_CUDA_SAMPLE_SYMBOL "lli_cuda_sample"

#endif
