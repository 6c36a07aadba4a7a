/* Read-only facts about a loaded model. */
#include "backend/cpu/quant.h"
#include "base/error.h"
#include "runtime/model.h"

lli_status lli_model_info_int(const lli_model *m, int key, int64_t *out) {
    if (!m || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_model_info_int: model or out is NULL");
    const lli_hparams *hp = &m->mf->hp;
    const lli_mf_tokenizer *tok = &m->mf->tok;
    switch (key) {
    case LLI_INFO_N_LAYER: *out = hp->n_layer; break;
    case LLI_INFO_N_EMBD: *out = hp->n_embd; break;
    case LLI_INFO_N_FF: *out = hp->n_ff; break;
    case LLI_INFO_N_HEAD: *out = hp->n_head; break;
    case LLI_INFO_N_HEAD_KV: *out = hp->n_head_kv; break;
    case LLI_INFO_HEAD_DIM: *out = hp->head_dim; break;
    case LLI_INFO_N_VOCAB: *out = hp->n_vocab; break;
    case LLI_INFO_N_CTX_TRAIN: *out = hp->n_ctx_train; break;
    case LLI_INFO_N_TENSORS: *out = m->n_tensors; break;
    case LLI_INFO_BYTES: *out = (int64_t)m->bytes; break;
    case LLI_INFO_LAYER_FIRST: *out = m->layer_first; break;
    case LLI_INFO_LAYER_LAST: *out = m->layer_last; break;
    case LLI_INFO_VOCAB_ONLY: *out = m->vocab_only; break;
    case LLI_INFO_BACKEND: *out = m->backend->ops->kind; break;
    case LLI_INFO_N_FRAGMENTS: *out = m->mf->n_fragments; break;
    case LLI_INFO_SLIDING_WINDOW: *out = hp->sliding_window; break;
    case LLI_INFO_TOKEN_BOS: *out = tok->bos; break;
    case LLI_INFO_TOKEN_EOS: *out = tok->eos; break;
    default:
        if (key >= LLI_INFO_ARCH && key <= LLI_INFO_CPU_ISA)
            return lli_fail(LLI_E_INVALID_ARG, "lli_model_info_int: key %d is a string key: read it with lli_model_info_str",
                            key);
        return lli_fail(LLI_E_INVALID_ARG, "lli_model_info_int: unknown key %d", key);
    }
    return LLI_OK;
}

lli_status lli_model_info_str(const lli_model *m, int key, const char **out) {
    if (!m || !out) return lli_fail(LLI_E_INVALID_ARG, "lli_model_info_str: model or out is NULL");
    /* Before 1.1 the string keys were numbered 1 to 6, overlapping the integer keys; programs built
     * against those numbers still get their strings. */
    enum { LEGACY_FIRST = 1, LEGACY_LAST = 6 };
    if (key >= LEGACY_FIRST && key <= LEGACY_LAST) key += LLI_INFO_ARCH - LEGACY_FIRST;
    switch (key) {
    case LLI_INFO_ARCH: *out = lli_manifest_arch_name(m->mf); break;
    case LLI_INFO_FAMILY: *out = m->mf->family; break;
    case LLI_INFO_NAME: *out = m->mf->name; break;
    case LLI_INFO_MODEL_ID: *out = m->mf->model_id; break;
    case LLI_INFO_TOKENIZER: *out = m->mf->tok.model; break;
    case LLI_INFO_CHAT_TEMPLATE: *out = m->mf->tok.chat_template; break;
    case LLI_INFO_CPU_ISA: *out = lli_cpu_kernels()->name; break;
    default: return lli_fail(LLI_E_INVALID_ARG, "lli_model_info_str: unknown key %d", key);
    }
    return LLI_OK;
}

lli_status lli_model_tensor_info(const lli_model *m, int64_t index, const char **name, const char **type, int *n_dims,
                                 int64_t dims[4], uint64_t *bytes) {
    if (!m) return lli_fail(LLI_E_INVALID_ARG, "lli_model_tensor_info: model is NULL");
    if (index < 0 || index >= m->n_tensors)
        return lli_fail(LLI_E_INVALID_ARG, "lli_model_tensor_info: index %lld is outside 0..%lld", (long long)index,
                        (long long)m->n_tensors - 1);
    const lli_tensor *t = &m->tensors[index];
    if (name) *name = t->name;
    if (type) *type = t->type->name;
    if (n_dims) *n_dims = t->n_dims;
    if (dims)
        for (int i = 0; i < 4; i++) dims[i] = t->ne[i];
    if (bytes) *bytes = t->bytes;
    return LLI_OK;
}
