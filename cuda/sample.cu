// Sampling on the device, so that whole rows of logits need not cross to the host: greedy, or
// temperature with top-k and top-p. One block per row. The k-th largest logit and the top-p
// threshold are found by bisection over the logits' order-preserving integer keys (32 counting
// passes each), which needs neither sorting nor memory beyond the block. The rules (NaN, infinities,
// top_p <= 0) are sample_row.h's.
#include <cstdio>
#include <cstring>

#include "common.cuh"
#include "sample_row.h"

namespace lli_cuda {
namespace {

constexpr int T = LLI_CUDA_SAMPLE_THREADS;

// One block per row; the selection logic is sample_row.h's, shared with the host test.
__global__ void __launch_bounds__(T) sample_kernel(const float *__restrict__ logits, int64_t vocab, float temperature, int top_k,
                                                   float top_p, const float *__restrict__ uniform, int32_t *__restrict__ tokens) {
    __shared__ float redf[T / 32], seg[T];
    __shared__ int64_t redi[T / 32], pick;
    lli_sr_ctx r = {redf, redi, seg, &pick};
    const int64_t row = blockIdx.x;
    const int64_t tok = lli_sr_sample(&r, logits + row * vocab, vocab, temperature, top_k, top_p, uniform[row]);
    if (threadIdx.x == 0) tokens[row] = static_cast<int32_t>(tok);
}

}  // namespace
}  // namespace lli_cuda

namespace lli_cuda {

lli_status op_sample(exec *ex, const float *logits, int64_t rows, int64_t vocab, float temperature, int top_k, float top_p,
                     const float *uniform, int32_t *tokens) {
    char msg[160];
    if (rows <= 0 || vocab <= 0 || rows > 65535 || vocab > INT32_MAX) {
        std::snprintf(msg, sizeof msg, "sample: %lld rows of %lld logits", static_cast<long long>(rows),
                      static_cast<long long>(vocab));
        return report(LLI_E_INVALID_ARG, msg);
    }
    // Temperatures of inf or NaN would turn the weights into NaN; a NaN top_p or draw has no meaning.
    if (temperature != temperature || temperature == INFINITY || top_p != top_p) {
        std::snprintf(msg, sizeof msg, "sample: temperature %g / top_p %g", temperature, top_p);
        return report(LLI_E_INVALID_ARG, msg);
    }
    for (int64_t r = 0; r < rows; r++)
        if (!(uniform[r] >= 0.0f && uniform[r] <= 1.0f)) {
            std::snprintf(msg, sizeof msg, "sample: draw %g of row %lld is outside [0, 1]", uniform[r], static_cast<long long>(r));
            return report(LLI_E_INVALID_ARG, msg);
        }
    if (ex->st == LLI_OK) {
        const float *du = static_cast<const float *>(stage(ex, uniform, static_cast<size_t>(rows) * sizeof(float)));
        void *hbuf = nullptr, *dbuf = nullptr;
        if (du && stage_reserve(ex, static_cast<size_t>(rows) * sizeof(int32_t), &hbuf, &dbuf)) {
            sample_kernel<<<static_cast<unsigned>(rows), T, 0, ex->stream>>>(logits, vocab, temperature, top_k, top_p, du,
                                                                              static_cast<int32_t *>(dbuf));
            if (check_launch(ex, "sample"))
                fail_cuda(ex, cudaMemcpyAsync(tokens, dbuf, static_cast<size_t>(rows) * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                              ex->stream),
                          "cudaMemcpyAsync (sampled tokens)");
        }
    }
    lli_status st = lli_cuda_exec_finish(ex);
    if (st != LLI_OK) return st;
    for (int64_t r = 0; r < rows; r++)
        if (tokens[r] < 0) {
            std::snprintf(msg, sizeof msg, "sample: row %lld has no logit that is a number", static_cast<long long>(r));
            return report(LLI_E_INVALID_ARG, msg);
        }
    return LLI_OK;
}

}  // namespace lli_cuda
