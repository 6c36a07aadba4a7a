/* What a loaded model holds. Read-only after lli_model_load() returns. */
#ifndef LLI_MODEL_H
#define LLI_MODEL_H

#include "backend/backend.h"
#include "backend/tensor.h"
#include "format/fragment_io.h"
#include "format/manifest.h"
#include "runtime/tokenizer.h"
#include "runtime/weights.h"


/* Where one fragment's payload ended up. */
typedef struct lli_loaded_fragment {
    int loaded;
    lli_frag_map map;            /* kept for raw fragments used in place */
    void *buf;                   /* backend memory, when the payload was copied or decompressed */
    int buf_is_host;             /* buf came from malloc (tokenizer), not the backend */
    const uint8_t *payload;      /* host-visible payload, if any (tokenizer, CPU) */
} lli_loaded_fragment;

struct lli_model {
    lli_manifest *mf;
    lli_backend *backend;
    int layer_first, layer_last;
    int vocab_only;
    lli_loaded_fragment *frags;  /* one per manifest fragment */
    lli_tensor *tensors;
    int64_t n_tensors;
    uint64_t bytes;
    const uint8_t *tok_data;     /* the tokenizer fragment's payload */
    uint64_t tok_bytes;
    lli_tokenizer *tokenizer;
    lli_weights weights;         /* bound at load, unless vocab-only */
    /* The caller's reference (dropped by lli_model_free) plus one per KV cache and context made
     * from the model; the last one dropped frees it. Changed atomically: caches and contexts of
     * one model are made and freed on any threads. */
    int refs;
};

/* Hold the model for a cache or context (the model stays otherwise read-only). */
void lli_model_retain(const lli_model *m);
/* Drop a reference; the last one frees the model. */
void lli_model_release(const lli_model *m);

const lli_tensor *lli_model_tensor(const lli_model *m, const char *name);

#endif
