/* lli_model_load(): manifest, architecture checks, then every needed fragment read, verified and
 * placed on a pool of threads; the tensor table is built only when all of them succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "base/error.h"
#include "format/gguf_cache.h"
#include "runtime/model.h"
#include "base/parallel.h"
#include "runtime/params.h"

typedef struct load_job_state {
    const char *dir;
    lli_model *model;
    const struct lli_model_params *params;
    lli_progress progress;
    int64_t *order;              /* fragments to load, largest first */
    lli_status *status;          /* per fragment */
    char (*message)[512];        /* per fragment */
} load_state;

static int needs_fragment(const lli_model *m, const lli_mf_fragment *f) {
    switch (f->kind) {
    case LLI_FRAG_TOKENIZER: return 1;
    case LLI_FRAG_EMBED: return !m->vocab_only && (m->layer_first == 0 || (m->mf->hp.tied_embeddings &&
                                                                         m->layer_last == m->mf->hp.n_layer));
    case LLI_FRAG_HEAD: return !m->vocab_only && m->layer_last == m->mf->hp.n_layer;
    case LLI_FRAG_LAYER: return !m->vocab_only && f->layer >= m->layer_first && f->layer < m->layer_last;
    default: return 0;
    }
}

/* Place one fragment's payload where the backend wants it. The tokenizer always stays in host
 * memory: it is read by the CPU whatever the backend. A raw fragment of a host backend is used
 * where it is mapped when the application asked for that (lli_model_params_set_in_place), and
 * the tokenizer's always (it is read once, at load); other raw fragments are copied into the
 * backend's own memory, which for the CPU backend means huge pages (backend_cpu.c). */
static lli_status place_fragment(load_state *s, int64_t index) {
    lli_model *m = s->model;
    const lli_mf_fragment *f = &m->mf->fragments[index];
    lli_loaded_fragment *lf = &m->frags[index];
    lli_backend *be = m->backend;
    int host = f->kind == LLI_FRAG_TOKENIZER || be->ops->uses_host_memory;
    lli_frag_map map;
    lli_status st = lli_frag_map_open(s->dir, m->mf, index, s->params->verify, &s->progress, &map);
    if (st) return st;
    if (!s->params->verify) lli_progress_add(&s->progress, f->size);
    if (f->compression == LLI_COMPRESS_NONE && host && (s->params->in_place || f->kind == LLI_FRAG_TOKENIZER)) {
        lf->map = map; /* used in place: no copy at all */
        lf->payload = lli_frag_raw_payload(&map);
        return LLI_OK;
    }
    uint64_t n = f->raw_size ? f->raw_size : 1;
    if (host && f->kind == LLI_FRAG_TOKENIZER) {
        lf->buf = malloc((size_t)n);
        lf->buf_is_host = 1;
        st = lf->buf ? LLI_OK : lli_fail(LLI_E_NOMEM, "out of memory for fragment %s", f->name);
    } else {
        st = lli_backend_status(be, be->ops->alloc(be, n, &lf->buf));
    }
    if (st == LLI_OK) {
        if (f->compression == LLI_COMPRESS_NONE) {
            st = lli_backend_status(be, be->ops->upload(be, lf->buf, 0, lli_frag_raw_payload(&map), f->raw_size));
        } else if (host) {
            st = lli_frag_decompress(m->mf, index, &map, lf->buf);
        } else {
            void *staging = malloc((size_t)n);
            st = staging ? lli_frag_decompress(m->mf, index, &map, staging)
                         : lli_fail(LLI_E_NOMEM, "out of memory staging fragment %s", f->name);
            if (st == LLI_OK) st = lli_backend_status(be, be->ops->upload(be, lf->buf, 0, staging, f->raw_size));
            free(staging);
        }
    }
    lli_frag_map_close(&map);
    if (st == LLI_OK && host) lf->payload = lf->buf;
    return st;
}

static void load_job(int64_t job, void *arg) {
    load_state *s = arg;
    int64_t index = s->order[job];
    if (lli_progress_cancelled(&s->progress)) {
        s->status[index] = LLI_E_CANCELLED;
        snprintf(s->message[index], sizeof s->message[index], "loading was cancelled");
        return;
    }
    s->status[index] = place_fragment(s, index);
    if (s->status[index] != LLI_OK) lli_error_copy(s->message[index], sizeof s->message[index]);
    else s->model->frags[index].loaded = 1;
}

static void release_fragments(lli_model *m) {
    for (int64_t i = 0; m->frags && i < m->mf->n_fragments; i++) {
        lli_loaded_fragment *lf = &m->frags[i];
        lli_frag_map_close(&lf->map);
        if (lf->buf) {
            if (lf->buf_is_host) free(lf->buf);
            else m->backend->ops->free(m->backend, lf->buf);
        }
    }
    free(m->frags);
    m->frags = NULL;
}

static void destroy(lli_model *m) {
    lli_tokenizer_free(m->tokenizer);
    release_fragments(m);
    lli_weights_free(&m->weights);
    free(m->tensors);
    lli_backend_close(m->backend);
    lli_manifest_free(m->mf);
    free(m);
}

/* A model and the caches and contexts made from it may be freed in any order, as SQLite's
 * sqlite3_close_v2 lets a connection outlive its close while statements remain: each holds a
 * reference. The count is the one thing about a loaded model that changes, hence the cast. */
void lli_model_retain(const lli_model *m) { __atomic_add_fetch(&((lli_model *)m)->refs, 1, __ATOMIC_RELAXED); }

void lli_model_release(const lli_model *m) {
    /* Acquire-release: whatever a releasing thread did with the model happens before the free. */
    if (m && __atomic_sub_fetch(&((lli_model *)m)->refs, 1, __ATOMIC_ACQ_REL) == 0) destroy((lli_model *)m);
}

void lli_model_free(lli_model *m) { lli_model_release(m); }

static lli_status check_arch(const lli_manifest *mf, const char *expected) {
    if (!expected) return LLI_OK;
    const char *arch = lli_manifest_arch_name(mf);
    if (!strcmp(expected, arch) || !strcmp(expected, mf->family)) return LLI_OK;
    return lli_fail(LLI_E_MISMATCH, "architecture mismatch: expected %s, got %s", expected, arch);
}

static lli_status load_fragments(const char *dir, lli_model *m, const struct lli_model_params *p) {
    const lli_manifest *mf = m->mf;
    int64_t nf = mf->n_fragments;
    load_state s = {.dir = dir, .model = m, .params = p};
    s.order = calloc((size_t)nf, sizeof *s.order);
    s.status = calloc((size_t)nf, sizeof *s.status);
    s.message = calloc((size_t)nf, sizeof *s.message);
    m->frags = calloc((size_t)nf, sizeof *m->frags);
    if (!s.order || !s.status || !s.message || !m->frags) {
        free(s.order), free(s.status), free(s.message);
        return lli_fail(LLI_E_NOMEM, "out of memory loading %s", dir);
    }
    int64_t n_jobs = 0;
    uint64_t total = 0;
    for (int64_t i = 0; i < nf; i++)
        if (needs_fragment(m, &mf->fragments[i])) {
            s.order[n_jobs++] = i;
            total += mf->fragments[i].size;
        }
    /* Largest first, so that no big fragment starts last and leaves the other threads idle. */
    for (int64_t i = 1; i < n_jobs; i++)
        for (int64_t j = i; j > 0 && mf->fragments[s.order[j]].size > mf->fragments[s.order[j - 1]].size; j--) {
            int64_t t = s.order[j];
            s.order[j] = s.order[j - 1];
            s.order[j - 1] = t;
        }
    lli_progress_init(&s.progress, total, p->progress, p->progress_user);
    lli_parallel_for(p->n_threads, n_jobs, load_job, &s);
    lli_progress_destroy(&s.progress);
    /* Report the first failure in manifest order, so that the same damage gives the same message
     * whatever the threads did; a cancel is reported only if nothing else went wrong. */
    lli_status st = LLI_OK;
    const char *msg = "";
    for (int64_t i = 0; i < nf; i++)
        if (s.status[i] != LLI_OK && (st == LLI_OK || (st == LLI_E_CANCELLED && s.status[i] != LLI_E_CANCELLED))) {
            st = s.status[i];
            msg = s.message[i];
        }
    if (st != LLI_OK) lli_fail(st, "%s: %s", dir, msg);
    free(s.order);
    free(s.status);
    free(s.message);
    return st;
}

static lli_status build_tensor_table(lli_model *m) {
    const lli_manifest *mf = m->mf;
    m->tensors = calloc((size_t)(mf->n_tensors ? mf->n_tensors : 1), sizeof *m->tensors);
    if (!m->tensors) return lli_fail(LLI_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < mf->n_tensors; i++) {
        const lli_mf_tensor *t = &mf->tensors[i];
        const lli_loaded_fragment *lf = &m->frags[t->fragment];
        if (!lf->loaded) continue;
        const uint8_t *base = lf->payload ? lf->payload : lf->buf;
        lli_tensor *out = &m->tensors[m->n_tensors++];
        out->name = t->name;
        out->type = t->type;
        out->n_dims = t->n_dims;
        memcpy(out->ne, t->ne, sizeof out->ne);
        out->bytes = t->bytes;
        out->data = (void *)(base + t->offset);
        m->bytes += t->bytes;
    }
    const lli_loaded_fragment *tok = &m->frags[mf->tok.fragment];
    m->tok_data = tok->payload;
    m->tok_bytes = mf->fragments[mf->tok.fragment].raw_size;
    return lli_tokenizer_create(m->tok_data, m->tok_bytes, &mf->tok, mf->name, &m->tokenizer);
}

/* The weights only matmul reads, in the backend's own memory (not a fragment mapped in place,
 * not the embedding table, which is also read by rows), handed to the backend's prepare_weight
 * on the loader's threads. */
typedef struct prepare_state {
    lli_model *model;
    lli_tensor **todo;
    lli_status *status;
    char (*message)[512];
} prepare_state;

static void prepare_job(int64_t i, void *arg) {
    prepare_state *s = arg;
    lli_backend *be = s->model->backend;
    s->status[i] = lli_backend_status(be, be->ops->prepare_weight(be, s->todo[i]));
    if (s->status[i]) lli_error_copy(s->message[i], sizeof s->message[i]);
}

static int in_backend_buffer(const lli_model *m, const lli_tensor *t) {
    for (int64_t i = 0; i < m->mf->n_fragments; i++) {
        const lli_loaded_fragment *lf = &m->frags[i];
        const uint8_t *b = lf->buf;
        if (b && !lf->buf_is_host && (const uint8_t *)t->data >= b && (const uint8_t *)t->data + t->bytes <= b + m->mf->fragments[i].raw_size)
            return 1;
    }
    return 0;
}

/* Queues t when prepare_weight may rearrange it. */
static void queue_weight(lli_model *m, prepare_state *s, int64_t *n, const lli_tensor *t) {
    if (t && in_backend_buffer(m, t)) s->todo[(*n)++] = &m->tensors[t - m->tensors];
}

static lli_status prepare_weights(lli_model *m, int n_threads) {
    const lli_weights *w = &m->weights;
    if (!m->backend->ops->prepare_weight || m->vocab_only) return LLI_OK;
    const int64_t n_layers = m->layer_last - m->layer_first, most = 7 * n_layers + 1; /* seven matrices a layer, the head */
    prepare_state s = {.model = m};
    s.todo = calloc((size_t)most, sizeof *s.todo);
    s.status = calloc((size_t)most, sizeof *s.status);
    s.message = calloc((size_t)most, sizeof *s.message);
    lli_status st = s.todo && s.status && s.message ? LLI_OK : lli_fail(LLI_E_NOMEM, "out of memory");
    int64_t n = 0;
    for (int64_t l = 0; st == LLI_OK && l < n_layers; l++) {
        const lli_layer_weights *lw = &w->layers[l];
        const lli_tensor *mats[7] = {lw->wq, lw->wk, lw->wv, lw->wo, lw->w_gate, lw->w_up, lw->w_down};
        for (int i = 0; i < 7; i++) queue_weight(m, &s, &n, mats[i]);
    }
    if (st == LLI_OK && w->output != w->embd) queue_weight(m, &s, &n, w->output);
    if (st == LLI_OK) lli_parallel_for(n_threads, n, prepare_job, &s);
    for (int64_t i = 0; st == LLI_OK && i < n; i++)
        if (s.status[i]) st = lli_fail(s.status[i], "%s", s.message[i]);
    free(s.todo), free(s.status), free(s.message);
    return st;
}

lli_status lli_model_load(const char *path, const lli_model_params *params, lli_model **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "lli_model_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return lli_fail(LLI_E_INVALID_ARG, "lli_model_load: path is NULL or empty");
    if (lli_is_gguf_file(path))
        return lli_fail(LLI_E_INVALID_ARG, "%s is a GGUF file, not a model directory: convert it with lli_convert_gguf() "
                                           "(or lli-convert), or load it with lli_model_load_gguf(), which converts it "
                                           "once into a cache", path);
    struct lli_model_params defaults;
    if (!params) {
        lli_model_params_defaults(&defaults);
        params = &defaults;
    }
    lli_model *m = calloc(1, sizeof *m);
    if (!m) return lli_fail(LLI_E_NOMEM, "out of memory");
    m->refs = 1; /* the caller's */
    lli_status st = lli_manifest_read(path, &m->mf);
    if (st == LLI_OK) st = check_arch(m->mf, params->expected_arch);
    if (st == LLI_OK) {
        m->vocab_only = params->vocab_only || m->mf->vocab_only;
        int64_t n_layer = m->vocab_only ? 0 : m->mf->hp.n_layer;
        m->layer_first = m->vocab_only ? 0 : params->layer_first;
        m->layer_last = m->vocab_only ? 0 : params->layer_last < 0 ? (int)n_layer : params->layer_last;
        if (m->layer_last > n_layer || m->layer_first >= (m->vocab_only ? 1 : m->layer_last))
            st = lli_fail(LLI_E_INVALID_ARG, "%s: layer range [%d, %d) is outside the model's %lld layers", path,
                          params->layer_first, params->layer_last, (long long)n_layer);
    }
    for (int64_t i = 0; st == LLI_OK && i < m->mf->n_tensors; i++) {
        const lli_mf_tensor *t = &m->mf->tensors[i];
        st = lli_arch_check_tensor(&m->mf->hp, t->name, t->type->id, t->n_dims, t->ne);
        if (st) lli_fail_prefix(st, "%s: ", path);
    }
    if (st == LLI_OK) st = lli_backend_open(params->backend, &m->backend);
    if (st == LLI_OK) st = load_fragments(path, m, params);
    if (st == LLI_OK) st = build_tensor_table(m);
    if (st == LLI_OK && !m->vocab_only && (st = lli_weights_bind(m)) != LLI_OK) lli_fail_prefix(st, "%s: ", path);
    if (st == LLI_OK && (st = prepare_weights(m, params->n_threads)) != LLI_OK) lli_fail_prefix(st, "%s: ", path);
    if (st != LLI_OK) {
        lli_model_free(m);
        return st;
    }
#ifdef __GLIBC__
    /* The loader threads' malloc arenas keep their freed decompression and parsing buffers
     * (several MiB) resident for the life of the process unless asked to give them back. */
    malloc_trim(0);
#endif
    *out = m;
    return LLI_OK;
}

const lli_tensor *lli_model_tensor(const lli_model *m, const char *name) {
    for (int64_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}
