/* A tensor as the backends see it: shape, type and where its data lives in the backend's memory.
 * Plain C with no atomics, so that every backend (the CUDA module's C++ among them) can include it. */
#ifndef LLI_TENSOR_H
#define LLI_TENSOR_H

#include <stdint.h>

#include "format/tensor_types.h"

typedef struct lli_tensor {
    const char *name;            /* owned by the manifest */
    const lli_ttype_info *type;
    int n_dims;
    int layout;                  /* 0: rows one after another, as in the file; another value: the
                                    arrangement the backend chose at load (lli_backend_ops.prepare_weight) */
    int64_t ne[4];
    uint64_t bytes;
    void *data;                  /* in the backend's memory */
} lli_tensor;

#endif
