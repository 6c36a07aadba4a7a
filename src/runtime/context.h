/* The context: what lli_context_create() makes (context.c) and lli_decode() runs (forward.c). */
#ifndef LLI_CONTEXT_H
#define LLI_CONTEXT_H

#include <stdint.h>

#include "llminfer.h"
#include "backend/backend.h"
#include "runtime/weights.h"

struct lli_kv_cache;

struct lli_context {
    const lli_model *model;
    struct lli_kv_cache *kv;
    lli_kv_view kv_view;        /* the backends' view of kv, rebuilt every step */
    const int32_t **view_blocks; /* its per-sequence arrays, for view_cap sequence ids */
    int64_t *view_n_blocks;
    int32_t view_cap;
    const lli_compute_ops *ops;
    void *exec;
    int max_batch;
    const lli_weights *w;  /* the model's, bound at load */
    int first_layer, n_layers, has_head;
    float theta_scale, freq_scale;
    /* scratch in backend memory, sized for max_batch entries */
    float *x, *xb, *q, *k, *v, *att, *gate, *up, *xg, *xo;
    void *matmul_scratch;  /* the backend's, for one matmul's input (matmul_scratch()) */
    float *logits_dev;       /* [entries that asked][n_vocab] */
    int32_t out_rows;        /* rows logits_dev, logits and hidden have room for; they only grow */
    /* The attention's scratch (attention_scratch()), for max_batch entries at positions below
     * att_positions; grown before a step that reaches further, so that no step fails halfway. */
    void *att_scratch;
    int64_t att_positions;
    /* host memory */
    int64_t *pos;
    int32_t *tokens, *seqs;
    lli_seq_id *step_seqs; /* the distinct sequences of a step, their new tokens, and those tokens */
    int64_t *step_counts;
    lli_token *step_tokens;
    int32_t *out_entries;  /* entries that asked for output, in order */
    /* outputs of the last step, on the host */
    float *logits;     /* [entries that asked][n_vocab], when the model ends at its last layer */
    float *hidden;     /* [entries that asked][n_embd] */
    int32_t *logit_row; /* per entry: row in logits, -1 if none */
    int32_t n_entries;
    /* counters (lli_context_stat) */
    int64_t steps, prefill_tokens, decode_tokens, time_ns, prefill_ns, decode_ns, matmul_ns, attention_ns;
};


/* Size of the logits rows lli_get_logits() returns. */
int64_t lli_context_n_vocab(const lli_context *c);

/* Attention scratch for steps at positions below `positions`, grown before the step (forward.c);
 * on failure nothing changes. */
lli_status lli_context_attention_room(lli_context *c, int64_t positions);

#endif
