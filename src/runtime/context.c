/* Contexts and lli_decode(): one step of a batch through the transformer. The forward pass below
 * reads top to bottom; the arithmetic lives in the backend's operations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/batch.h"
#include "runtime/context.h"
#include "backend/cpu/quant.h"
#include "base/error.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"
#include "runtime/params.h"
#include "base/parallel.h"

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
    /* scratch in backend memory, sized for max_batch entries */
    float *x, *xb, *q, *k, *v, *att, *gate, *up, *xg, *xo;
    void *q8;
    float *logits_dev;       /* [entries that asked][n_vocab] */
    int32_t logits_dev_rows;
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

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
    lli_backend *be = c->model->backend;
    if (c->exec) be->ops->exec_free(be, c->exec);
    void *dev[] = {c->x, c->xb, c->q, c->k, c->v, c->att, c->gate, c->up, c->xg, c->xo, c->q8, c->logits_dev};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->ops->free(be, dev[i]);
    free(c->layers);
    free(c->pos), free(c->tokens), free(c->seqs), free(c->logits), free(c->hidden), free(c->logit_row);
    free(c->step_seqs), free(c->step_counts), free(c->step_tokens), free(c->out_entries);
    free(c);
}

/* Backend memory for n floats (or bytes, for the quantized scratch). */
static void dev_alloc(lli_context *c, void *out, uint64_t bytes, lli_status *st) {
    lli_backend *be = c->model->backend;
    if (*st == LLI_OK) *st = lli_backend_status(be, be->ops->alloc(be, bytes, (void **)out));
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
    const uint64_t F = sizeof(float);
    dev_alloc(c, &c->x, (uint64_t)(B * E) * F, &st);
    dev_alloc(c, &c->xb, (uint64_t)(B * E) * F, &st);
    dev_alloc(c, &c->xg, (uint64_t)(B * E) * F, &st);
    dev_alloc(c, &c->xo, (uint64_t)(B * E) * F, &st);
    dev_alloc(c, &c->q, (uint64_t)(B * QD) * F, &st);
    dev_alloc(c, &c->k, (uint64_t)(B * KD) * F, &st);
    dev_alloc(c, &c->v, (uint64_t)(B * KD) * F, &st);
    dev_alloc(c, &c->att, (uint64_t)(B * QD) * F, &st);
    dev_alloc(c, &c->gate, (uint64_t)(B * hp->n_ff) * F, &st);
    dev_alloc(c, &c->up, (uint64_t)(B * hp->n_ff) * F, &st);
    dev_alloc(c, &c->q8, (uint64_t)(B * (widest / 32 + 1)) * sizeof(lli_q8), &st);
    if (st == LLI_OK) {
        c->pos = malloc((size_t)B * sizeof *c->pos);
        c->tokens = malloc((size_t)B * sizeof *c->tokens);
        c->seqs = malloc((size_t)B * sizeof *c->seqs);
        c->logit_row = malloc((size_t)B * sizeof *c->logit_row);
        c->step_seqs = malloc((size_t)B * sizeof *c->step_seqs);
        c->step_counts = malloc((size_t)B * sizeof *c->step_counts);
        c->step_tokens = malloc((size_t)B * sizeof *c->step_tokens);
        c->out_entries = malloc((size_t)B * sizeof *c->out_entries);
        if (!c->step_seqs || !c->step_counts || !c->step_tokens || !c->out_entries || !c->pos || !c->tokens ||
            !c->seqs || !c->logit_row)
            st = lli_fail(LLI_E_NOMEM, "out of memory for a context of %d entries per step", c->max_batch);
    }
    if (st == LLI_OK && !(c->exec = m->backend->ops->exec_create(m->backend, lli_compute_thread_count(params->n_threads))))
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

/* Host time of one operation, added to a counter. */
#define TIMED(counter, call)                                                                              \
    do {                                                                                                  \
        int64_t t0_ = now_ns();                                                                           \
        call;                                                                                             \
        (counter) += now_ns() - t0_;                                                                      \
    } while (0)

static lli_status forward(lli_context *c, const float *hidden_in, int64_t n, int32_t n_out) {
    const lli_model *m = c->model;
    const lli_hparams *hp = &m->mf->hp;
    lli_backend *be = m->backend;
    const lli_compute_ops *op = c->ops;
    void *ex = c->exec;
    const int64_t E = hp->n_embd, FF = hp->n_ff, H = hp->n_head, HKV = hp->n_head_kv, D = hp->head_dim;
    const float eps = (float)hp->rms_eps;

    if (hidden_in) LLI_TRY(lli_backend_status(be, be->ops->upload(be, c->x, 0, hidden_in, (uint64_t)(n * E) * sizeof(float))));
    else op->embed(ex, c->embd, c->tokens, n, c->x);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &c->layers[l];
        /* attention */
        op->rms_norm(ex, c->x, w->attn_norm->data, c->xb, n, E, eps);
        TIMED(c->matmul_ns, op->matmul(ex, w->wq, c->xb, c->q, n, c->q8));
        TIMED(c->matmul_ns, op->matmul(ex, w->wk, c->xb, c->k, n, c->q8));
        TIMED(c->matmul_ns, op->matmul(ex, w->wv, c->xb, c->v, n, c->q8));
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
        TIMED(c->attention_ns, op->attention(ex, &a));
        TIMED(c->matmul_ns, op->matmul(ex, w->wo, c->att, c->xb, n, c->q8));
        op->add(ex, c->x, c->xb, n * E);
        /* feed-forward */
        op->rms_norm(ex, c->x, w->ffn_norm->data, c->xb, n, E, eps);
        TIMED(c->matmul_ns, op->matmul(ex, w->w_gate, c->xb, c->gate, n, c->q8));
        TIMED(c->matmul_ns, op->matmul(ex, w->w_up, c->xb, c->up, n, c->q8));
        op->swiglu(ex, c->gate, c->up, n * FF);
        TIMED(c->matmul_ns, op->matmul(ex, w->w_down, c->gate, c->xb, n, c->q8));
        op->add(ex, c->x, c->xb, n * E);
    }
    /* outputs, only for the entries that asked: the hidden state, and the head's logits */
    if (n_out) {
        op->gather_rows(ex, c->x, c->out_entries, n_out, E, c->xg);
        if (c->has_head) {
            op->rms_norm(ex, c->xg, c->out_norm->data, c->xo, n_out, E, eps);
            TIMED(c->matmul_ns, op->matmul(ex, c->output, c->xo, c->logits_dev, n_out, c->q8));
        }
    }
    LLI_TRY(lli_backend_status(be, op->finish(ex)));
    if (n_out) {
        LLI_TRY(lli_backend_status(be, be->ops->download(be, c->hidden, c->xg, 0, (uint64_t)(n_out * E) * sizeof(float))));
        if (c->has_head)
            LLI_TRY(lli_backend_status(
                be, be->ops->download(be, c->logits, c->logits_dev, 0, (uint64_t)n_out * (uint64_t)hp->n_vocab * sizeof(float))));
    }
    return LLI_OK;
}

/* Host and backend room for n_out rows of outputs. */
static lli_status output_room(lli_context *c, int32_t n_out) {
    const lli_hparams *hp = &c->model->mf->hp;
    lli_backend *be = c->model->backend;
    float *h = realloc(c->hidden, (size_t)n_out * (size_t)hp->n_embd * sizeof *h);
    if (!h) return lli_fail(LLI_E_NOMEM, "out of memory for outputs");
    c->hidden = h;
    if (!c->has_head) return LLI_OK;
    float *l = realloc(c->logits, (size_t)n_out * (size_t)hp->n_vocab * sizeof *l);
    if (!l) return lli_fail(LLI_E_NOMEM, "out of memory for %d rows of logits", n_out);
    c->logits = l;
    if (n_out > c->logits_dev_rows) {
        if (c->logits_dev) be->ops->free(be, c->logits_dev);
        c->logits_dev = NULL;
        c->logits_dev_rows = 0;
        LLI_TRY(lli_backend_status(be, be->ops->alloc(be, (uint64_t)n_out * (uint64_t)hp->n_vocab * sizeof(float),
                                                        (void **)&c->logits_dev)));
        c->logits_dev_rows = n_out;
    }
    return LLI_OK;
}

lli_status lli_decode(lli_context *c, const lli_batch *b) {
    if (!c || !b) return lli_fail(LLI_E_INVALID_ARG, "lli_decode: context or batch is NULL");
    LLI_TRY(check_batch(c, b));
    int64_t t0 = now_ns();
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
    int32_t n_out = 0;
    for (int32_t i = 0; i < b->n; i++) {
        c->tokens[i] = b->token[i];
        c->seqs[i] = b->seq[i];
        c->pos[i] = b->pos[i];
        c->logit_row[i] = b->want_logits[i] ? n_out : -1;
        if (b->want_logits[i]) c->out_entries[n_out++] = i;
    }
    lli_status st = n_out ? output_room(c, n_out) : LLI_OK;
    if (st == LLI_OK) st = lli_kv_reserve(c->kv, idp, cnt, n_ids);
    if (st != LLI_OK) return st;
    c->n_entries = b->n;
    st = forward(c, b->hidden, b->n, n_out);
    if (st != LLI_OK) {
        c->n_entries = 0; /* no outputs to read; the cache keeps the lengths it had */
        return st;
    }
    /* The sequences grow by their entries; their tokens go with them for the prefix index. */
    int64_t prefill = 0, decode = 0;
    for (int k = 0; k < n_ids; k++) {
        int64_t m = 0;
        for (int32_t i = 0; i < b->n && !b->hidden; i++)
            if (b->seq[i] == idp[k]) c->step_tokens[m++] = b->token[i];
        lli_kv_commit(c->kv, idp[k], b->hidden ? NULL : c->step_tokens, cnt[k]);
        if (cnt[k] > 1) prefill += cnt[k];
        else decode += cnt[k];
    }
    int64_t dt = now_ns() - t0;
    c->steps++;
    c->prefill_tokens += prefill;
    c->decode_tokens += decode;
    c->time_ns += dt;
    c->prefill_ns += dt * prefill / (prefill + decode);
    c->decode_ns += dt - dt * prefill / (prefill + decode);
    return LLI_OK;
}

lli_status lli_context_stat(const lli_context *c, int key, int64_t *out) {
    if (!c || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_context_stat: context or out is NULL");
    switch (key) {
    case LLI_CTX_STAT_STEPS: *out = c->steps; break;
    case LLI_CTX_STAT_PREFILL_TOKENS: *out = c->prefill_tokens; break;
    case LLI_CTX_STAT_DECODE_TOKENS: *out = c->decode_tokens; break;
    case LLI_CTX_STAT_TIME_NS: *out = c->time_ns; break;
    case LLI_CTX_STAT_PREFILL_NS: *out = c->prefill_ns; break;
    case LLI_CTX_STAT_DECODE_NS: *out = c->decode_ns; break;
    case LLI_CTX_STAT_MATMUL_NS: *out = c->matmul_ns; break;
    case LLI_CTX_STAT_ATTENTION_NS: *out = c->attention_ns; break;
    default: return lli_fail(LLI_E_INVALID_ARG, "lli_context_stat: unknown key %d", key);
    }
    return LLI_OK;
}

lli_status lli_context_stats_reset(lli_context *c) {
    if (!c) return lli_fail(LLI_E_INVALID_ARG, "lli_context_stats_reset: context is NULL");
    c->steps = c->prefill_tokens = c->decode_tokens = c->time_ns = 0;
    c->prefill_ns = c->decode_ns = c->matmul_ns = c->attention_ns = 0;
    return LLI_OK;
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
