/* The two yardsticks of the CUDA backend's speed targets, measured on this device in this run:
 * - the decode floor: a model's weight bytes over the device-to-device copy bandwidth (bytes read
 *   plus bytes written per second, as CUDA's bandwidthTest counts them): no decoder reads its
 *   weights faster than the memory system moves bytes;
 * - the cuBLAS GEMM rate on the prompt-processing shapes: every weight matrix of one layer times
 *   N_PROMPT F16 activation rows (F16 x F16, F32 accumulation and output, tensor cores), which is
 *   what the backend's prefill path calls.
 * Prints key=value lines for tests/gpu/run.sh. Usage: bench_floor MODEL_DIR [N_PROMPT]. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_skip.h"
#include "llminfer.h"

#define CK(call)                                                                                           \
    do {                                                                                                   \
        cudaError_t e_ = (call);                                                                           \
        if (e_ != cudaSuccess) {                                                                           \
            fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));                                    \
            return 1;                                                                                      \
        }                                                                                                  \
    } while (0)
#define CB(call)                                                                                           \
    do {                                                                                                   \
        cublasStatus_t s_ = (call);                                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                 \
            fprintf(stderr, "%s: %s\n", #call, cublasGetStatusString(s_));                                 \
            return 1;                                                                                      \
        }                                                                                                  \
    } while (0)

/* IEEE half of a float (round to nearest even; values here are far from the half range's edges). */
static uint16_t f16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, exp = (u >> 23) & 0xff, man = u & 0x7fffffu;
    if (exp < 103) return (uint16_t)sign; /* below half's subnormals */
    if (exp < 113) { /* half subnormal */
        man |= 0x800000u;
        uint32_t shift = 126 - exp, half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((exp - 112) << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_floor MODEL_DIR [N_PROMPT]\n");
        return 2;
    }
    int n_prompt = argc > 2 ? atoi(argv[2]) : 512;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return gpu_skip("bench_floor", "no CUDA device");
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);

    /* The model's shapes and weight bytes; the CPU backend maps raw fragments in place, quickly. */
    lli_model_params *mp = NULL;
    lli_model *m = NULL;
    lli_model_params_create(&mp);
    lli_model_params_set_backend(mp, LLI_BACKEND_CPU);
    lli_model_params_set_verify(mp, 0);
    if (lli_model_load(argv[1], mp, &m) != LLI_OK) {
        fprintf(stderr, "load %s: %s\n", argv[1], lli_last_error());
        return 1;
    }
    lli_model_params_free(mp);
    int64_t bytes = 0, E = 0, FF = 0, H = 0, HKV = 0, D = 0, L = 0;
    lli_model_info_int(m, LLI_INFO_BYTES, &bytes);
    lli_model_info_int(m, LLI_INFO_N_EMBD, &E);
    lli_model_info_int(m, LLI_INFO_N_FF, &FF);
    lli_model_info_int(m, LLI_INFO_N_HEAD, &H);
    lli_model_info_int(m, LLI_INFO_N_HEAD_KV, &HKV);
    lli_model_info_int(m, LLI_INFO_HEAD_DIM, &D);
    lli_model_info_int(m, LLI_INFO_N_LAYER, &L);
    lli_model_free(m);

    /* Copy bandwidth: 1 GiB buffers, best of 20 copies. */
    size_t nb = (size_t)1 << 30;
    void *a, *b;
    CK(cudaMalloc(&a, nb));
    CK(cudaMalloc(&b, nb));
    CK(cudaMemset(a, 1, nb));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMemcpy(b, a, nb, cudaMemcpyDeviceToDevice));
    float best = 1e30f;
    for (int i = 0; i < 20; i++) {
        CK(cudaEventRecord(e0, 0));
        CK(cudaMemcpy(b, a, nb, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (ms < best) best = ms;
    }
    double bw = 2.0 * (double)nb / (best * 1e-3);
    CK(cudaFree(a));
    CK(cudaFree(b));

    /* GEMM rate on one layer's matrices: q, k, v, o, gate, up (in E) and down (in FF). */
    int64_t shapes[7][2] = {{H * D, E}, {HKV * D, E}, {HKV * D, E}, {E, H * D}, {FF, E}, {FF, E}, {E, FF}};
    size_t wmax = 0, xmax = 0;
    double flops = 0;
    for (int s = 0; s < 7; s++) {
        size_t w = (size_t)(shapes[s][0] * shapes[s][1]), x = (size_t)(shapes[s][1] * n_prompt);
        wmax = w > wmax ? w : wmax;
        xmax = x > xmax ? x : xmax;
        flops += 2.0 * (double)shapes[s][0] * (double)shapes[s][1] * n_prompt;
    }
    void *w, *x, *o;
    CK(cudaMalloc(&w, wmax * 2));
    CK(cudaMalloc(&x, xmax * 2));
    CK(cudaMalloc(&o, (size_t)(FF > E ? FF : E) * (size_t)(H * D > FF ? H * D : FF) * 4 + (size_t)n_prompt * (size_t)FF * 4));
    /* Random F16 data (N(0, 1) weights scaled to 0.02, activations N(0, 1)): zeros run faster than
     * real data on the tensor cores (about 10% on an H200) and would inflate the rate. */
    {
        size_t nmax = wmax > xmax ? wmax : xmax;
        uint16_t *h16 = malloc(nmax * 2);
        if (!h16) return 1;
        uint64_t g = 0x9e3779b97f4a7c15ull;
        for (int which = 0; which < 2; which++) {
            size_t cnt = which ? xmax : wmax;
            float sd = which ? 1.0f : 0.02f;
            for (size_t i = 0; i < cnt; i++) {
                g ^= g << 13, g ^= g >> 7, g ^= g << 17;
                /* sum of four uniforms: close enough to normal for a rate measurement */
                float u = 0;
                for (int k = 0; k < 4; k++) u += (float)((g >> (16 * k)) & 0xffff) / 65536.0f;
                h16[i] = f16_bits((u - 2.0f) * 1.732f * sd);
            }
            CK(cudaMemcpy(which ? x : w, h16, cnt * 2, cudaMemcpyHostToDevice));
        }
        free(h16);
    }
    cublasHandle_t h;
    CB(cublasCreate(&h));
    const float one = 1, zero = 0;
    float gemm_best = 1e30f;
    for (int rep = 0; rep < 12; rep++) {
        CK(cudaEventRecord(e0, 0));
        for (int s = 0; s < 7; s++)
            CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)shapes[s][0], n_prompt, (int)shapes[s][1], &one, w, CUDA_R_16F,
                            (int)shapes[s][1], x, CUDA_R_16F, (int)shapes[s][1], &zero, o, CUDA_R_32F, (int)shapes[s][0],
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (rep >= 2 && ms < gemm_best) gemm_best = ms; /* the first runs choose kernels */
    }
    double gemm_rate = flops / (gemm_best * 1e-3);
    cublasDestroy(h);
    cudaFree(w), cudaFree(x), cudaFree(o);

    printf("device=%s\n", prop.name);
    printf("driver=%d.%d\nruntime=%d.%d\n", driver / 1000, (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10);
    printf("weight_bytes=%lld\n", (long long)bytes);
    printf("copy_bandwidth_gbs=%.1f\n", bw / 1e9);
    printf("decode_floor_ms=%.3f\n", (double)bytes / bw * 1e3);
    printf("prefill_flops_per_token=%.6g\n", flops / n_prompt * (double)L);
    printf("gemm_tflops=%.1f\n", gemm_rate / 1e12);
    return 0;
}
