/* A tensor as the CUDA backend's kernels see it (see tensor_view.c for why it is not lli_tensor). */
#ifndef LLI_CUDA_TENSOR_VIEW_H
#define LLI_CUDA_TENSOR_VIEW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lli_tensor;

typedef struct lli_cuda_tensor {
    const char *name, *type_name;
    int type;
    int64_t ne0, ne1; /* elements per row, rows */
    uint64_t bytes;
    const void *data; /* device memory */
} lli_cuda_tensor;

void lli_cuda_tensor_of(const struct lli_tensor *t, lli_cuda_tensor *out);

struct lli_backend_abi;
/* The module's view of the backend interface (LLI_BACKEND_ABI_INIT), taken in C where lli_tensor's
 * size is known. */
void lli_cuda_abi(struct lli_backend_abi *out);

#ifdef __cplusplus
}
#endif

#endif
