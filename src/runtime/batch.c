#include "runtime/batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

lli_status lli_batch_create(int32_t capacity, lli_batch **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_batch_create: out is NULL");
    *out = NULL;
    if (capacity < 1 || capacity > (1 << 20))
        return lli_fail(LLI_E_INVALID_ARG, "lli_batch_create: capacity %d is outside 1..2^20", capacity);
    lli_batch *b = calloc(1, sizeof *b);
    if (!b) return lli_fail(LLI_E_NOMEM, "out of memory");
    b->capacity = capacity;
    b->token = malloc((size_t)capacity * sizeof *b->token);
    b->seq = malloc((size_t)capacity * sizeof *b->seq);
    b->pos = malloc((size_t)capacity * sizeof *b->pos);
    b->want_logits = malloc((size_t)capacity * sizeof *b->want_logits);
    if (!b->token || !b->seq || !b->pos || !b->want_logits) {
        lli_batch_free(b);
        return lli_fail(LLI_E_NOMEM, "out of memory for a batch of %d", capacity);
    }
    *out = b;
    return LLI_OK;
}

void lli_batch_free(lli_batch *b) {
    if (!b) return;
    free(b->token);
    free(b->seq);
    free(b->pos);
    free(b->want_logits);
    free(b->hidden);
    free(b);
}

lli_status lli_batch_clear(lli_batch *b) {
    if (!b) return lli_fail(LLI_E_INVALID_ARG, "lli_batch_clear: batch is NULL");
    b->n = 0;
    free(b->hidden);
    b->hidden = NULL;
    b->n_hidden = 0;
    return LLI_OK;
}

lli_status lli_batch_add(lli_batch *b, lli_token token, lli_seq_id seq, int64_t pos, int want_logits) {
    if (!b) return lli_fail(LLI_E_INVALID_ARG, "lli_batch_add: batch is NULL");
    if (b->n == b->capacity) return lli_fail(LLI_E_INVALID_ARG, "lli_batch_add: the batch is full (%d entries)", b->capacity);
    if (pos < 0 || token < 0 || seq < 0)
        return lli_fail(LLI_E_INVALID_ARG, "lli_batch_add: token %d, sequence %d, position %lld: none may be negative",
                        token, seq, (long long)pos);
    b->token[b->n] = token;
    b->seq[b->n] = seq;
    b->pos[b->n] = pos;
    b->want_logits[b->n] = want_logits != 0;
    b->n++;
    return LLI_OK;
}

lli_status lli_batch_size(const lli_batch *b, int32_t *out) {
    if (!b || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_batch_size: batch or out is NULL");
    *out = b->n;
    return LLI_OK;
}

lli_status lli_batch_set_hidden(lli_batch *b, const float *hidden, int64_t count) {
    if (!b || !hidden || count <= 0)
        return lli_fail(LLI_E_INVALID_ARG, "lli_batch_set_hidden: batch or hidden is NULL, or count is not positive");
    float *copy = malloc((size_t)count * sizeof *copy);
    if (!copy) return lli_fail(LLI_E_NOMEM, "out of memory for %lld hidden-state floats", (long long)count);
    memcpy(copy, hidden, (size_t)count * sizeof *copy);
    free(b->hidden);
    b->hidden = copy;
    b->n_hidden = count;
    return LLI_OK;
}
