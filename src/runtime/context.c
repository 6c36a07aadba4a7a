/* Contexts: the scratch and host buffers of one stream of lli_decode() steps (forward.c runs them),
 * their statistics, and the outputs of the last step. */
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "base/error.h"
#include "base/parallel.h"
#include "runtime/context.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"
#include "runtime/params.h"

void lli_context_free(lli_context *c) {
    if (!c) return;
    lli_backend *be = c->model->backend;
    if (c->exec) be->ops->exec_free(be, c->exec);
    void *dev[] = {c->x, c->xb, c->q, c->k, c->v, c->att, c->gate, c->up, c->xg, c->xo, c->matmul_scratch, c->logits_dev,
                   c->att_scratch};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->ops->free(be, dev[i]);
    free(c->pos), free(c->tokens), free(c->seqs), free(c->logits), free(c->hidden), free(c->logit_row);
    free(c->view_blocks), free(c->view_n_blocks);
    free(c->step_seqs), free(c->step_counts), free(c->step_tokens), free(c->out_entries);
    lli_model_release(c->model);
    free(c);
}

/* Backend memory for n floats (or bytes, for the quantized scratch). */
static void dev_alloc(lli_context *c, void *out, uint64_t bytes, lli_status *st) {
    lli_backend *be = c->model->backend;
    if (*st == LLI_OK) *st = lli_backend_status(be, be->ops->alloc(be, bytes, (void **)out));
}

/* Tokens a sequence of the context can hold: the model's context length, or the KV cache's
 * capacity if smaller. */
static int64_t max_positions(const lli_context *c) {
    int64_t train = c->model->mf->hp.n_ctx_train, cap = c->kv->n_blocks * c->kv->block_size;
    return train > 0 && train < cap ? train : cap;
}

/* Attention scratch for steps at positions below `positions`. Grown at least twofold (up to what a
 * sequence can hold), so that a sequence decoded token by token reallocates O(log n) times. The
 * old scratch is kept until the new one exists: on failure nothing changes. */
lli_status lli_context_attention_room(lli_context *c, int64_t positions) {
    if (!c->ops->attention_scratch || positions <= c->att_positions) return LLI_OK;
    int64_t limit = max_positions(c), want = 2 * c->att_positions;
    if (want > limit) want = limit;
    if (want < positions) want = positions;
    lli_backend *be = c->model->backend;
    uint64_t bytes = c->ops->attention_scratch(c->exec, c->max_batch, want, (int)c->model->mf->hp.head_dim);
    void *buf = NULL;
    lli_status st = be->ops->alloc(be, bytes, &buf);
    if (st != LLI_OK)
        return lli_fail_prefix(lli_backend_status(be, st), "attention scratch for %lld positions: ", (long long)want);
    if (c->att_scratch) be->ops->free(be, c->att_scratch);
    c->att_scratch = buf;
    c->att_positions = want;
    return LLI_OK;
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
    lli_model_retain(m); /* dropped by lli_context_free, also on the failures below */
    c->kv = kv;
    c->ops = m->backend->ops->compute;
    c->max_batch = params->max_batch;
    lli_status st = LLI_OK;
    c->first_layer = m->layer_first;
    c->n_layers = m->layer_last - m->layer_first;
    c->has_head = m->layer_last == hp->n_layer;
    c->w = &m->weights;
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
    /* The backend's own scratch for a matmul's input (the CPU quantizes it to 8 bits there). */
    if (c->ops->matmul_scratch) dev_alloc(c, &c->matmul_scratch, c->ops->matmul_scratch(B, widest), &st);
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
    /* The backend recorded why it could not start (a CUDA device's own message, say): keep it. */
    if (st == LLI_OK && !(c->exec = m->backend->ops->exec_create(m->backend, lli_compute_thread_count(params->n_threads))))
        st = lli_fail_prefix(LLI_E_BACKEND, "the %s backend: ", m->backend->ops->name);
    /* Room for a first step of max_batch positions; longer sequences grow it (step_room). */
    if (st == LLI_OK) st = lli_context_attention_room(c, B);
    if (st != LLI_OK) {
        lli_context_free(c);
        return st;
    }
    *out = c;
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
