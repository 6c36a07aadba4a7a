/* A model's weights bound once at load: each layer's tensors looked up by name and checked (shape
 * by the architecture, type by the backend), so that contexts only point at them and a model the
 * backend cannot run fails at load, naming the tensor. */
#ifndef LLI_WEIGHTS_H
#define LLI_WEIGHTS_H

#include "backend/tensor.h"
#include "llminfer.h"

typedef struct lli_layer_weights {
    const lli_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm; /* biases, q/k norms may be NULL */
    const lli_tensor *ffn_norm, *w_gate, *w_up, *w_down;
} lli_layer_weights;

typedef struct lli_weights {
    lli_layer_weights *layers;   /* loaded layers only: layers[i] is layer layer_first + i */
    const lli_tensor *embd;      /* when the model starts at layer 0, or ties its output to it */
    const lli_tensor *out_norm, *output; /* when the model ends at its last layer */
    const float *freq_factors;   /* llama3-style rope frequency factors, or NULL */
} lli_weights;

struct lli_model;

/* Fill m->weights from m's tensors; LLI_E_FORMAT for a missing or misshapen tensor,
 * LLI_E_UNSUPPORTED for a type the backend cannot multiply. */
lli_status lli_weights_bind(struct lli_model *m);
void lli_weights_free(lli_weights *w);

#endif
