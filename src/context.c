/* Contexts and lli_decode(): one step of a batch through the transformer. The forward pass below
 * reads top to bottom; the arithmetic lives in the backend's operations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "context.h"
#include "cpu/quant.h"
#include "error.h"
#include "kv_cache.h"
#include "model.h"
#include "params.h"
#include "parallel.h"

typedef struct layer_weights {
    const lli_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const lli_tensor *ffn_norm, *w_gate, *w_up, *w_down;
} layer_weights;

struct lli_context {
    const lli_model *model;
    lli_kv_cache *kv;
    const lli_compute_ops *ops;
    void *exec;
    int max_batch;
    layer_weights *layers; /* loaded layers only: layers[i] is layer first_layer + i */
    int first_layer, n_layers, has_head;
    const lli_tensor *embd, *out_norm, *output;
    const float *freq_factors;
    float theta_scale, freq_scale;
    /* scratch, sized for max_batch entries */
    float *x, *xb, *q, *k, *v, *att, *gate, *up;
    void *q8;
    int64_t *pos;
    int32_t *tokens, *seqs;
    lli_seq_id *step_seqs; /* the distinct sequences of a step, and their new tokens */
    int64_t *step_counts;
    /* outputs of the last step */
    float *logits;     /* [entries that asked][n_vocab], when the model ends at its last layer */
    float *hidden;     /* [entries that asked][n_embd] */
    int32_t *logit_row; /* per entry: row in logits, -1 if none */
    int32_t n_entries;
    float *xo;
};

static const lli_tensor *need(const lli_model *m, const char *name, lli_status *st) {
    const lli_tensor *t = lli_model_tensor(m, name);
    if (!t && *st == LLI_OK) *st = lli_fail(LLI_E_FORMAT, "tensor %s is missing from the model", name);
    if (t && *st == LLI_OK && !lli_cpu_type_supported(t->type->id))
        *st = lli_fail(LLI_E_UNSUPPORTED, "tensor %s has type %s, which the CPU backend cannot multiply yet", name,
                       t->type->name);
    return t;
}

static const lli_tensor *layer_tensor(const lli_model *m, int l, const char *suffix, int required, lli_status *st) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return required ? need(m, name, st) : lli_model_tensor(m, name);
}

void lli_context_free(lli_context *c) {
    if (!c) return;
    if (c->exec) c->model->backend->ops->exec_free(c->model->backend, c->exec);
    free(c->layers);
    free(c->x), free(c->xb), free(c->q), free(c->k), free(c->v), free(c->att), free(c->gate), free(c->up);
    free(c->q8), free(c->pos), free(c->tokens), free(c->seqs), free(c->logits), free(c->hidden), free(c->logit_row), free(c->xo);
    free(c->step_seqs), free(c->step_counts);
    free(c);
}

lli_status lli_context_create(const lli_model *m, lli_kv_cache *kv, const lli_context_params *params, lli_context **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_context_create: out is NULL");
    *out = NULL;
    if (!m || !kv) return lli_fail(LLI_E_INVALID_ARG, "lli_context_create: model or KV cache is NULL");
    if (kv->model != m) return lli_fail(LLI_E_INVALID_ARG, "lli_context_create: the KV cache belongs to another model");
    if (m->vocab_only) return lli_fail(LLI_E_INVALID_ARG, "lli_context_create: the model was loaded vocab-only");
    const lli_hparams *hp = &m->mf->hp;
    if (!m->backend->ops->compute)
        return lli_fail(LLI_E_NOT_IMPLEMENTED, "the %s backend has no forward pass yet", m->backend->ops->name);
    if (!strcmp(hp->rope_scaling, "yarn"))
        return lli_fail(LLI_E_UNSUPPORTED, "YaRN rope scaling is not supported yet");
    if (hp->head_dim > 512 || hp->rope_dim % 2)
        return lli_fail(LLI_E_UNSUPPORTED, "head size %lld / rope dimensions %lld are not supported", (long long)hp->head_dim,
                        (long long)hp->rope_dim);
    struct lli_context_params defaults;
    if (!params) {
        lli_context_params_defaults(&defaults);
        params = &defaults;
    }
    lli_context *c = calloc(1, sizeof *c);
    if (!c) return lli_fail(LLI_E_NOMEM, "out of memory");
    c->model = m;
    c->kv = kv;
    c->ops = m->backend->ops->compute;
    c->max_batch = params->max_batch;
    lli_status st = LLI_OK;
    c->first_layer = m->layer_first;
    c->n_layers = m->layer_last - m->layer_first;
    c->has_head = m->layer_last == hp->n_layer;
    c->layers = calloc((size_t)c->n_layers, sizeof *c->layers);
    if (!c->layers) st = lli_fail(LLI_E_NOMEM, "out of memory");
    for (int i = 0; st == LLI_OK && i < c->n_layers; i++) {
        layer_weights *w = &c->layers[i];
        int l = c->first_layer + i;
        w->attn_norm = layer_tensor(m, l, "attn_norm.weight", 1, &st);
        w->wq = layer_tensor(m, l, "attn_q.weight", 1, &st);
        w->wk = layer_tensor(m, l, "attn_k.weight", 1, &st);
        w->wv = layer_tensor(m, l, "attn_v.weight", 1, &st);
        w->wo = layer_tensor(m, l, "attn_output.weight", 1, &st);
        w->ffn_norm = layer_tensor(m, l, "ffn_norm.weight", 1, &st);
        w->w_gate = layer_tensor(m, l, "ffn_gate.weight", 1, &st);
        w->w_up = layer_tensor(m, l, "ffn_up.weight", 1, &st);
        w->w_down = layer_tensor(m, l, "ffn_down.weight", 1, &st);
        w->bq = layer_tensor(m, l, "attn_q.bias", hp->qkv_bias, &st);
        w->bk = layer_tensor(m, l, "attn_k.bias", hp->qkv_bias, &st);
        w->bv = layer_tensor(m, l, "attn_v.bias", hp->qkv_bias, &st);
        w->q_norm = layer_tensor(m, l, "attn_q_norm.weight", hp->qk_norm, &st);
        w->k_norm = layer_tensor(m, l, "attn_k_norm.weight", hp->qk_norm, &st);
    }
    /* A later stage of a split model takes hidden states; only the last one has the output head. */
    if (c->first_layer == 0 || (c->has_head && hp->tied_embeddings)) c->embd = need(m, "token_embd.weight", &st);
    if (c->has_head) {
        c->out_norm = need(m, "output_norm.weight", &st);
        c->output = hp->tied_embeddings ? c->embd : need(m, "output.weight", &st);
    }
    /* Norms and biases are read as plain floats by every backend. */
    for (int l = 0; st == LLI_OK && l < c->n_layers; l++) {
        const lli_tensor *vecs[] = {c->layers[l].attn_norm, c->layers[l].ffn_norm, c->layers[l].bq, c->layers[l].bk,
                                    c->layers[l].bv, c->layers[l].q_norm, c->layers[l].k_norm, c->out_norm};
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
            if (vecs[i] && vecs[i]->type->id != LLI_TT_F32)
                st = lli_fail(LLI_E_UNSUPPORTED, "tensor %s is %s; norms and biases must be f32", vecs[i]->name,
                              vecs[i]->type->name);
    }
    /* Rotation: llama3-style models ship per-frequency factors as a tensor. */
    const lli_tensor *rope_freqs = lli_model_tensor(m, "rope_freqs.weight");
    if (rope_freqs && (rope_freqs->type->id != LLI_TT_F32 || rope_freqs->ne[0] < hp->rope_dim / 2))
        st = lli_fail(LLI_E_FORMAT, "tensor rope_freqs.weight must be f32 with %lld entries", (long long)hp->rope_dim / 2);
    c->freq_factors = rope_freqs ? rope_freqs->data : NULL;
    c->theta_scale = powf((float)hp->rope_freq_base, -2.0f / (float)hp->rope_dim);
    c->freq_scale = !strcmp(hp->rope_scaling, "linear") ? 1.0f / (float)hp->rope_scale_factor : 1.0f;
    int64_t B = c->max_batch, E = hp->n_embd, QD = hp->n_head * hp->head_dim, KD = hp->n_head_kv * hp->head_dim;
    int64_t widest = E > hp->n_ff ? E : hp->n_ff;
    if (QD > widest) widest = QD;
    if (st == LLI_OK) {
        c->x = malloc((size_t)(B * E) * sizeof(float));
        c->xb = malloc((size_t)(B * E) * sizeof(float));
        c->q = malloc((size_t)(B * QD) * sizeof(float));
        c->k = malloc((size_t)(B * KD) * sizeof(float));
        c->v = malloc((size_t)(B * KD) * sizeof(float));
        c->att = malloc((size_t)(B * QD) * sizeof(float));
        c->gate = malloc((size_t)(B * hp->n_ff) * sizeof(float));
        c->up = malloc((size_t)(B * hp->n_ff) * sizeof(float));
        c->q8 = malloc((size_t)(B * (widest / 32 + 1)) * sizeof(lli_q8));
        c->pos = malloc((size_t)B * sizeof *c->pos);
        c->tokens = malloc((size_t)B * sizeof *c->tokens);
        c->seqs = malloc((size_t)B * sizeof *c->seqs);
        c->logit_row = malloc((size_t)B * sizeof *c->logit_row);
        c->xo = malloc((size_t)E * sizeof(float));
        c->step_seqs = malloc((size_t)B * sizeof *c->step_seqs);
        c->step_counts = malloc((size_t)B * sizeof *c->step_counts);
        if (!c->step_seqs || !c->step_counts ||!c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->gate || !c->up || !c->q8 || !c->pos ||
            !c->tokens || !c->seqs || !c->logit_row || !c->xo)
            st = lli_fail(LLI_E_NOMEM, "out of memory for a context of %d entries per step", c->max_batch);
    }
    if (st == LLI_OK && !(c->exec = m->backend->ops->exec_create(m->backend, lli_thread_count(params->n_threads))))
        st = lli_fail(LLI_E_BACKEND, "cannot start the %s backend's threads", m->backend->ops->name);
    if (st != LLI_OK) {
        lli_context_free(c);
        return st;
    }
    *out = c;
    return LLI_OK;
}

/* Every entry's position must continue its sequence: the host appends, the cache never has gaps. */
static lli_status check_batch(lli_context *c, const lli_batch *b) {
    if (b->n == 0) return lli_fail(LLI_E_INVALID_ARG, "lli_decode: the batch is empty");
    if (b->n > c->max_batch)
        return lli_fail(LLI_E_INVALID_ARG, "lli_decode: %d entries is more than the context's %d per step", b->n, c->max_batch);
    int64_t vocab = c->model->mf->hp.n_vocab, E = c->model->mf->hp.n_embd;
    if (c->first_layer > 0 && b->n_hidden != (int64_t)b->n * E)
        return lli_fail(LLI_E_INVALID_ARG,
                        "lli_decode: the model starts at layer %d, so the batch needs %lld hidden-state floats "
                        "(lli_batch_set_hidden), not %lld", c->first_layer, (long long)b->n * E, (long long)b->n_hidden);
    if (c->first_layer == 0 && b->hidden)
        return lli_fail(LLI_E_INVALID_ARG, "lli_decode: the model starts at layer 0 and takes tokens, not hidden states");
    for (int32_t i = 0; i < b->n; i++) {
        if (c->first_layer == 0 && b->token[i] >= vocab)
            return lli_fail(LLI_E_INVALID_ARG, "lli_decode: entry %d: token %d is outside the vocabulary of %lld", i,
                            b->token[i], (long long)vocab);
        const lli_kv_seq *s = lli_kv_get_seq(c->kv, b->seq[i]);
        if (!s) return lli_fail_prefix(LLI_E_INVALID_ARG, "entry %d: ", i);
        int64_t expect = s->len;
        for (int32_t j = 0; j < i; j++) expect += b->seq[j] == b->seq[i];
        if (b->pos[i] != expect)
            return lli_fail(LLI_E_INVALID_ARG, "lli_decode: entry %d: sequence %d continues at position %lld, not %lld", i,
                            b->seq[i], (long long)expect, (long long)b->pos[i]);
    }
    return LLI_OK;
}

static void forward(lli_context *c, const float *hidden_in, int64_t n) {
    const lli_model *m = c->model;
    const lli_hparams *hp = &m->mf->hp;
    const lli_compute_ops *op = c->ops;
    void *ex = c->exec;
    const int64_t E = hp->n_embd, FF = hp->n_ff, H = hp->n_head, HKV = hp->n_head_kv, D = hp->head_dim;
    const float eps = (float)hp->rms_eps;

    if (hidden_in) memcpy(c->x, hidden_in, (size_t)(n * E) * sizeof *c->x);
    else op->embed(ex, c->embd, c->tokens, n, c->x);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &c->layers[l];
        /* attention */
        op->rms_norm(ex, c->x, w->attn_norm->data, c->xb, n, E, eps);
        op->matmul(ex, w->wq, c->xb, c->q, n, c->q8);
        op->matmul(ex, w->wk, c->xb, c->k, n, c->q8);
        op->matmul(ex, w->wv, c->xb, c->v, n, c->q8);
        if (w->bq) {
            op->add_rows(ex, c->q, w->bq->data, n, H * D);
            op->add_rows(ex, c->k, w->bk->data, n, HKV * D);
            op->add_rows(ex, c->v, w->bv->data, n, HKV * D);
        }
        if (w->q_norm) {
            op->rms_norm(ex, c->q, w->q_norm->data, c->q, n * H, D, eps);
            op->rms_norm(ex, c->k, w->k_norm->data, c->k, n * HKV, D, eps);
        }
        op->rope(ex, c->q, c->pos, n, (int)H, (int)D, (int)hp->rope_dim, hp->rope_neox, c->theta_scale, c->freq_scale,
                 c->freq_factors);
        op->rope(ex, c->k, c->pos, n, (int)HKV, (int)D, (int)hp->rope_dim, hp->rope_neox, c->theta_scale, c->freq_scale,
                 c->freq_factors);
        lli_attn_args a = {c->q, c->k, c->v, c->att, n, c->seqs, c->pos, c->kv, l, (int)H, (int)HKV, (int)D,
                           hp->sliding_window, 1.0f / sqrtf((float)D)};
        op->attention(ex, &a);
        op->matmul(ex, w->wo, c->att, c->xb, n, c->q8);
        op->add(ex, c->x, c->xb, n * E);
        /* feed-forward */
        op->rms_norm(ex, c->x, w->ffn_norm->data, c->xb, n, E, eps);
        op->matmul(ex, w->w_gate, c->xb, c->gate, n, c->q8);
        op->matmul(ex, w->w_up, c->xb, c->up, n, c->q8);
        op->swiglu(ex, c->gate, c->up, n * FF);
        op->matmul(ex, w->w_down, c->gate, c->xb, n, c->q8);
        op->add(ex, c->x, c->xb, n * E);
    }
    /* outputs, only for the entries that asked: the hidden state, and the head's logits */
    for (int64_t i = 0; i < n; i++) {
        if (c->logit_row[i] < 0) continue;
        memcpy(c->hidden + (int64_t)c->logit_row[i] * E, c->x + i * E, (size_t)E * sizeof *c->x);
        if (!c->has_head) continue;
        op->rms_norm(ex, c->x + i * E, c->out_norm->data, c->xo, 1, E, eps);
        op->matmul(ex, c->output, c->xo, c->logits + (int64_t)c->logit_row[i] * hp->n_vocab, 1, c->q8);
    }
}

lli_status lli_decode(lli_context *c, const lli_batch *b) {
    if (!c || !b) return lli_fail(LLI_E_INVALID_ARG, "lli_decode: context or batch is NULL");
    LLI_TRY(check_batch(c, b));
    /* Room for every sequence's new tokens, or nothing changes. */
    lli_seq_id *idp = c->step_seqs;
    int64_t *cnt = c->step_counts;
    int n_ids = 0;
    for (int32_t i = 0; i < b->n; i++) {
        int k = 0;
        while (k < n_ids && idp[k] != b->seq[i]) k++;
        if (k == n_ids) idp[n_ids] = b->seq[i], cnt[n_ids++] = 0;
        cnt[k]++;
    }
    lli_status st = lli_kv_reserve(c->kv, idp, cnt, n_ids);
    int32_t n_logits = 0;
    for (int32_t i = 0; st == LLI_OK && i < b->n; i++) n_logits += b->want_logits[i] != 0;
    if (st == LLI_OK && n_logits) {
        float *l = c->has_head ? realloc(c->logits, (size_t)n_logits * (size_t)c->model->mf->hp.n_vocab * sizeof *l) : c->logits;
        float *h = realloc(c->hidden, (size_t)n_logits * (size_t)c->model->mf->hp.n_embd * sizeof *h);
        if (l) c->logits = l;
        if (h) c->hidden = h;
        if ((c->has_head && !l) || !h) st = lli_fail(LLI_E_NOMEM, "out of memory for outputs");
    }
    if (st == LLI_OK) {
        int32_t row = 0;
        for (int32_t i = 0; i < b->n; i++) {
            c->tokens[i] = b->token[i];
            c->seqs[i] = b->seq[i];
            c->pos[i] = b->pos[i];
            c->logit_row[i] = b->want_logits[i] ? row++ : -1;
        }
        c->n_entries = b->n;
        forward(c, b->hidden, b->n);
        for (int k = 0; k < n_ids; k++) c->kv->seqs[idp[k]].len += cnt[k];
    }
    return st;
}

static lli_status output_row(const lli_context *c, int32_t entry, const char *fn) {
    if (entry < 0 || entry >= c->n_entries)
        return lli_fail(LLI_E_INVALID_ARG, "%s: entry %d is not in the last step (%d entries)", fn, entry, c->n_entries);
    if (c->logit_row[entry] < 0) return lli_fail(LLI_E_INVALID_ARG, "%s: entry %d did not ask for output", fn, entry);
    return LLI_OK;
}

lli_status lli_get_hidden(const lli_context *c, int32_t entry, const float **out) {
    if (!c || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_get_hidden: context or out is NULL");
    LLI_TRY(output_row(c, entry, "lli_get_hidden"));
    *out = c->hidden + (int64_t)c->logit_row[entry] * c->model->mf->hp.n_embd;
    return LLI_OK;
}

lli_status lli_get_logits(const lli_context *c, int32_t entry, const float **out) {
    if (!c || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_get_logits: context or out is NULL");
    if (!c->has_head)
        return lli_fail(LLI_E_INVALID_ARG, "lli_get_logits: the model's loaded layers end at %d of %lld: it gives hidden "
                        "states (lli_get_hidden), not logits", c->first_layer + c->n_layers, (long long)c->model->mf->hp.n_layer);
    LLI_TRY(output_row(c, entry, "lli_get_logits"));
    *out = c->logits + (int64_t)c->logit_row[entry] * c->model->mf->hp.n_vocab;
    return LLI_OK;
}

int64_t lli_context_n_vocab(const lli_context *c) { return c->model->mf->hp.n_vocab; }
