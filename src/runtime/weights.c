/* Binding a model's weights at load (see weights.h). */
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "runtime/model.h"
#include "runtime/weights.h"

/* A tensor the forward pass multiplies with, in a type the backend has kernels for. */
static const lli_tensor *need(const lli_model *m, const char *name, lli_status *st) {
    const lli_tensor *t = lli_model_tensor(m, name);
    if (!t && *st == LLI_OK) *st = lli_fail(LLI_E_FORMAT, "tensor %s is missing from the model", name);
    const lli_backend_ops *be = m->backend->ops;
    if (t && *st == LLI_OK && be->supports_type && !be->supports_type(t->type->id))
        *st = lli_fail(LLI_E_UNSUPPORTED, "tensor %s has type %s, which the %s backend cannot multiply", name,
                       t->type->name, be->name);
    return t;
}

static const lli_tensor *layer_tensor(const lli_model *m, int l, const char *suffix, int required, lli_status *st) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return required ? need(m, name, st) : lli_model_tensor(m, name);
}

lli_status lli_weights_bind(lli_model *m) {
    const lli_hparams *hp = &m->mf->hp;
    lli_weights *w = &m->weights;
    int n_layers = m->layer_last - m->layer_first;
    int has_head = m->layer_last == hp->n_layer;
    w->layers = calloc((size_t)(n_layers ? n_layers : 1), sizeof *w->layers);
    if (!w->layers) return lli_fail(LLI_E_NOMEM, "out of memory");
    lli_status st = LLI_OK;
    for (int i = 0; st == LLI_OK && i < n_layers; i++) {
        lli_layer_weights *lw = &w->layers[i];
        int l = m->layer_first + i;
        lw->attn_norm = layer_tensor(m, l, "attn_norm.weight", 1, &st);
        lw->wq = layer_tensor(m, l, "attn_q.weight", 1, &st);
        lw->wk = layer_tensor(m, l, "attn_k.weight", 1, &st);
        lw->wv = layer_tensor(m, l, "attn_v.weight", 1, &st);
        lw->wo = layer_tensor(m, l, "attn_output.weight", 1, &st);
        lw->ffn_norm = layer_tensor(m, l, "ffn_norm.weight", 1, &st);
        lw->w_gate = layer_tensor(m, l, "ffn_gate.weight", 1, &st);
        lw->w_up = layer_tensor(m, l, "ffn_up.weight", 1, &st);
        lw->w_down = layer_tensor(m, l, "ffn_down.weight", 1, &st);
        lw->bq = layer_tensor(m, l, "attn_q.bias", hp->qkv_bias, &st);
        lw->bk = layer_tensor(m, l, "attn_k.bias", hp->qkv_bias, &st);
        lw->bv = layer_tensor(m, l, "attn_v.bias", hp->qkv_bias, &st);
        lw->q_norm = layer_tensor(m, l, "attn_q_norm.weight", hp->qk_norm, &st);
        lw->k_norm = layer_tensor(m, l, "attn_k_norm.weight", hp->qk_norm, &st);
    }
    /* A later stage of a split model takes hidden states; only the last one has the output head. */
    if (m->layer_first == 0 || (has_head && hp->tied_embeddings)) w->embd = need(m, "token_embd.weight", &st);
    if (has_head) {
        w->out_norm = need(m, "output_norm.weight", &st);
        w->output = hp->tied_embeddings ? w->embd : need(m, "output.weight", &st);
    }
    /* Rotation: llama3-style models ship per-frequency factors as a tensor. */
    const lli_tensor *rope_freqs = lli_model_tensor(m, "rope_freqs.weight");
    if (st == LLI_OK && rope_freqs && (rope_freqs->type->id != LLI_TT_F32 || rope_freqs->ne[0] < hp->rope_dim / 2))
        st = lli_fail(LLI_E_FORMAT, "tensor rope_freqs.weight must be f32 with %lld entries", (long long)hp->rope_dim / 2);
    w->freq_factors = rope_freqs ? rope_freqs->data : NULL;
    return st;
}

void lli_weights_free(lli_weights *w) {
    free(w->layers);
    w->layers = NULL;
}
