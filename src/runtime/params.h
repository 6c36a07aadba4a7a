/* The opaque parameter objects' contents, shared by the files that read them. */
#ifndef LLI_PARAMS_H
#define LLI_PARAMS_H

#include "llminfer.h"

struct lli_model_params {
    int backend;
    int n_threads;
    int verify;
    char *expected_arch;
    int layer_first, layer_last; /* last = -1: all */
    int vocab_only;
    int in_place; /* raw fragments used from the page cache rather than copied */
    lli_progress_fn progress;
    void *progress_user;
};

struct lli_convert_params {
    int compression;
    int level;
    int n_threads;
    lli_progress_fn progress;
    void *progress_user;
};

struct lli_kv_cache_params {
    int64_t capacity;
    int block_size;
    int type;
    int prefix_cache;
};

struct lli_context_params {
    int n_threads;
    int max_batch;
};

void lli_model_params_defaults(struct lli_model_params *p);
void lli_convert_params_defaults(struct lli_convert_params *p);
void lli_kv_cache_params_defaults(struct lli_kv_cache_params *p);
void lli_context_params_defaults(struct lli_context_params *p);

#endif
