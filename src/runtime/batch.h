/* A step's entries, as the host added them. */
#ifndef LLI_BATCH_H
#define LLI_BATCH_H

#include "llminfer.h"

struct lli_batch {
    int32_t capacity, n;
    lli_token *token;
    lli_seq_id *seq;
    int64_t *pos;
    int8_t *want_logits;
    float *hidden;        /* inputs for a later stage of a split model, or NULL */
    int64_t n_hidden;     /* floats in hidden */
};

#endif
