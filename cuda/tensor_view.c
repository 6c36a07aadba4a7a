/* What the CUDA kernels read of a tensor, taken in C: model.h pulls in C11 atomics, which the
 * module's C++ cannot include. */
#include "tensor_view.h"

#include "backend/backend.h"
#include "backend/tensor.h"

void lli_cuda_abi(struct lli_backend_abi *out) {
    static const lli_backend_abi k = LLI_BACKEND_ABI_INIT;
    *out = k;
}

void lli_cuda_tensor_of(const struct lli_tensor *t, lli_cuda_tensor *out) {
    out->name = t->name ? t->name : "?";
    out->type_name = t->type->name;
    out->type = t->type->id;
    out->ne0 = t->ne[0];
    out->ne1 = t->n_dims > 1 ? t->ne[1] : 1;
    out->bytes = t->bytes;
    out->data = t->data;
}
