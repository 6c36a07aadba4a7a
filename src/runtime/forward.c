/* lli_decode(): one step of a batch through the transformer. The forward pass below reads top to
 * bottom; the arithmetic lives in the backend's operations, the weights were bound at load. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "runtime/batch.h"
#include "runtime/context.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
        /* Refused up front rather than run into ever slower attention, or into a full cache only
         * after the work of the steps before. */
        int64_t train = c->model->mf->hp.n_ctx_train, cap = c->kv->n_blocks * c->kv->block_size;
        if ((train > 0 && b->pos[i] >= train) || b->pos[i] >= cap) {
            int64_t total = b->pos[i] + 1; /* the sequence's length after the whole step */
            for (int32_t j = i + 1; j < b->n; j++) total += b->seq[j] == b->seq[i];
            if (train > 0 && b->pos[i] >= train)
                return lli_fail(LLI_E_INVALID_ARG, "lli_decode: sequence %d would hold %lld tokens, more than the model's "
                                "context length of %lld", b->seq[i], (long long)total, (long long)train);
            return lli_fail(LLI_E_KV_FULL, "lli_decode: sequence %d would hold %lld tokens, more than the KV cache's "
                            "capacity of %lld tokens (%lld blocks of %d)", b->seq[i], (long long)total, (long long)cap,
                            (long long)c->kv->n_blocks, c->kv->block_size);
        }
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
    else op->embed(ex, c->w->embd, c->tokens, n, c->x);
    for (int l = 0; l < c->n_layers; l++) {
        const lli_layer_weights *w = &c->w->layers[l];
        /* attention */
        op->rms_norm(ex, c->x, w->attn_norm->data, c->xb, n, E, eps);
        TIMED(c->matmul_ns, op->matmul(ex, w->wq, c->xb, c->q, n, c->matmul_scratch));
        TIMED(c->matmul_ns, op->matmul(ex, w->wk, c->xb, c->k, n, c->matmul_scratch));
        TIMED(c->matmul_ns, op->matmul(ex, w->wv, c->xb, c->v, n, c->matmul_scratch));
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
                 c->w->freq_factors);
        op->rope(ex, c->k, c->pos, n, (int)HKV, (int)D, (int)hp->rope_dim, hp->rope_neox, c->theta_scale, c->freq_scale,
                 c->w->freq_factors);
        lli_attn_args a = {c->q, c->k, c->v, c->att, n, c->seqs, c->pos, &c->kv_view, l, (int)H, (int)HKV, (int)D,
                           hp->sliding_window, 1.0f / sqrtf((float)D), c->att_scratch};
        TIMED(c->attention_ns, op->attention(ex, &a));
        TIMED(c->matmul_ns, op->matmul(ex, w->wo, c->att, c->xb, n, c->matmul_scratch));
        op->add(ex, c->x, c->xb, n * E);
        /* feed-forward; in the last layer only for the entries that asked for outputs (gathered
         * into xg): the others' keys and values are stored, and their states go no further. Each
         * row's arithmetic is the same in any batch, so the outputs do not change. In a prefill
         * of many tokens this saves most of a layer (a 32-layer model: about 2% of the step). */
        float *x = c->x;
        int64_t rows = n;
        if (l == c->n_layers - 1) {
            if (n_out) op->gather_rows(ex, c->x, c->out_entries, n_out, E, c->xg);
            x = c->xg, rows = n_out;
        }
        if (rows) {
            op->rms_norm(ex, x, w->ffn_norm->data, c->xb, rows, E, eps);
            TIMED(c->matmul_ns, op->matmul(ex, w->w_gate, c->xb, c->gate, rows, c->matmul_scratch));
            TIMED(c->matmul_ns, op->matmul(ex, w->w_up, c->xb, c->up, rows, c->matmul_scratch));
            op->swiglu(ex, c->gate, c->up, rows * FF);
            TIMED(c->matmul_ns, op->matmul(ex, w->w_down, c->gate, c->xb, rows, c->matmul_scratch));
            op->add(ex, x, c->xb, rows * E);
        }
    }
    /* outputs, only for the entries that asked (gathered into xg in the last layer): the hidden
     * state, and the head's logits */
    if (n_out && !c->n_layers) op->gather_rows(ex, c->x, c->out_entries, n_out, E, c->xg);
    if (n_out) {
        if (c->has_head) {
            op->rms_norm(ex, c->xg, c->w->out_norm->data, c->xo, n_out, E, eps);
            TIMED(c->matmul_ns, op->matmul(ex, c->w->output, c->xo, c->logits_dev, n_out, c->matmul_scratch));
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

/* Host and backend room for n_out rows of outputs. The buffers only grow, and each is replaced
 * only once its successor exists, so that a failure leaves the last step's outputs readable. */
static lli_status output_room(lli_context *c, int32_t n_out) {
    if (n_out <= c->out_rows) return LLI_OK;
    const lli_hparams *hp = &c->model->mf->hp;
    lli_backend *be = c->model->backend;
    float *h = realloc(c->hidden, (size_t)n_out * (size_t)hp->n_embd * sizeof *h);
    if (!h) return lli_fail(LLI_E_NOMEM, "out of memory for %d rows of outputs", n_out);
    c->hidden = h;
    if (c->has_head) {
        float *l = realloc(c->logits, (size_t)n_out * (size_t)hp->n_vocab * sizeof *l);
        if (!l) return lli_fail(LLI_E_NOMEM, "out of memory for %d rows of logits", n_out);
        c->logits = l;
        void *dev = NULL;
        LLI_TRY(lli_backend_status(be, be->ops->alloc(be, (uint64_t)n_out * (uint64_t)hp->n_vocab * sizeof(float), &dev)));
        if (c->logits_dev) be->ops->free(be, c->logits_dev);
        c->logits_dev = dev;
    }
    c->out_rows = n_out;
    return LLI_OK;
}

/* Room for the backends' view of every sequence id the cache has. */
static lli_status view_room(lli_context *c) {
    int32_t n = c->kv->n_seqs;
    if (n <= c->view_cap) return LLI_OK;
    const int32_t **blocks = realloc(c->view_blocks, (size_t)n * sizeof *blocks);
    if (!blocks) return lli_fail(LLI_E_NOMEM, "out of memory for the KV view of %d sequences", n);
    c->view_blocks = blocks;
    int64_t *counts = realloc(c->view_n_blocks, (size_t)n * sizeof *counts);
    if (!counts) return lli_fail(LLI_E_NOMEM, "out of memory for the KV view of %d sequences", n);
    c->view_n_blocks = counts;
    c->view_cap = n;
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
    int64_t positions = 0;
    for (int32_t i = 0; i < b->n; i++) {
        n_out += b->want_logits[i] != 0;
        if (b->pos[i] + 1 > positions) positions = b->pos[i] + 1;
    }
    /* Every allocation of the step happens here, before anything changes: on failure the last
     * step's outputs stay readable and the cache is as it was. */
    lli_status st = output_room(c, n_out);
    if (st == LLI_OK) st = lli_context_attention_room(c, positions);
    if (st == LLI_OK) st = view_room(c);
    if (st == LLI_OK) st = lli_kv_reserve(c->kv, idp, cnt, n_ids);
    if (st != LLI_OK) return st;
    lli_kv_view_fill(c->kv, &c->kv_view, c->view_blocks, c->view_n_blocks);
    n_out = 0;
    for (int32_t i = 0; i < b->n; i++) {
        c->tokens[i] = b->token[i];
        c->seqs[i] = b->seq[i];
        c->pos[i] = b->pos[i];
        c->logit_row[i] = b->want_logits[i] ? n_out : -1;
        if (b->want_logits[i]) c->out_entries[n_out++] = i;
    }
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

