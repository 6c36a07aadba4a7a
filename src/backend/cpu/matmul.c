/* The CPU backend's matrix product: activations quantized once per call (block types; rounded to
 * BF16 for BF16 weights where the kernels multiply BF16 pairs), then the
 * weight rows handed out in chunks to the pool's threads and multiplied by the kernel table's
 * product for the weight type (quant.h, kernels/). */
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "backend/tensor.h"
#include "format/tensor_types.h"

typedef struct matmul_job {
    lli_mm_fn mm;
    const uint8_t *w;
    uint64_t row_bytes;
    int64_t rows, in, n, chunk;
    const float *x;
    const lli_q8 *xq;
    const uint16_t *xb; /* the activations as BF16, for mm_bf16_bf16; else NULL */
    void (*mm_bf16)(const uint8_t *, uint64_t, int64_t, const uint16_t *, int64_t, int64_t, float *, int64_t);
    float *out;
} matmul_job;

/* The pool hands out chunks of rows from a shared counter (lli_pool_for), so that a thread the
 * system does not run for a while delays only its current chunk, not a fixed share of the step.
 * Within a chunk (at most L2-sized), tiles of 16 activation rows (L1-sized) meet every weight row:
 * each weight byte comes from memory once per product, not once per tile. */
static void matmul_rows(int64_t r0, int64_t r1, int ith, void *arg) {
    (void)ith;
    const matmul_job *j = arg;
    const int64_t xs = j->in / 32, nr = r1 - r0;
    for (int64_t t0 = 0; t0 < j->n; t0 += 16) {
        int64_t nt = t0 + 16 < j->n ? 16 : j->n - t0;
        if (j->xb) {
            j->mm_bf16(j->w + (uint64_t)r0 * j->row_bytes, j->row_bytes, nr, j->xb + t0 * j->in, nt, j->in,
                       j->out + t0 * j->rows + r0, j->rows);
            continue;
        }
        j->mm(j->w + (uint64_t)r0 * j->row_bytes, j->row_bytes, nr, j->x + t0 * j->in, j->xq ? j->xq + t0 * xs : NULL, nt, j->in,
              j->out + t0 * j->rows + r0, j->rows);
    }
}

typedef struct quant_args {
    const lli_kernels *k;
    const float *x;
    lli_q8 *xq;   /* q8 blocks, */
    uint16_t *xb; /* or BF16 values */
    int64_t in, n;
} quant_args;

static void quant_rows(const quant_args *a, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        if (a->xb) a->k->to_bf16(a->x + t * a->in, a->xb + t * a->in, a->in);
        else a->k->quantize(a->x + t * a->in, a->xq + t * (a->in / 32), a->in);
    }
}

static void quant_run(int64_t lo, int64_t hi, int ith, void *arg) {
    (void)ith;
    quant_rows(arg, lo, hi);
}

/* The input quantized to 8-bit blocks of 32 (K-quant blocks of 256 read eight of them), or
 * rounded to BF16 for BF16 weights where the kernels take it so, once per call. */
uint64_t lli_cpu_matmul_scratch(int64_t n, int64_t in) {
    uint64_t q8 = (uint64_t)(n * (in / 32 + 1)) * sizeof(lli_q8), bf16 = (uint64_t)(n * in) * sizeof(uint16_t);
    return q8 > bf16 ? q8 : bf16;
}

void lli_cpu_matmul(void *exec, const lli_tensor *w, const float *x, float *out, int64_t n, void *scratch) {
    const lli_kernels *k = lli_cpu_kernels();
    const int type = w->type->id;
    const int64_t in = w->ne[0], rows = w->ne[1];
    const int floats = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
    lli_q8 *xq = NULL;
    uint16_t *xb = NULL;
    if (type == LLI_TT_BF16 && k->mm_bf16_bf16) xb = scratch;
    if (!floats || xb) { /* q8 blocks for block types (rows are whole blocks of 32 or 256), or BF16 */
        if (!xb) xq = scratch;
        quant_args q = {k, x, xq, xb, in, n};
        if (n * in < 32768 || lli_pool_size(exec) == 1) quant_rows(&q, 0, n);
        else lli_pool_for(exec, n, 0, quant_run, &q);
    }
    const int nth = lli_pool_size(exec);
    const uint64_t row_bytes = w->bytes / (uint64_t)rows;
    /* About eight chunks per thread, a multiple of four rows (every kernel's tile height divides
     * it), and at most 128 KiB of weights so that a chunk stays in L2 while its token tiles pass. */
    int64_t chunk = (rows + 8 * nth - 1) / (8 * nth), cap = (int64_t)(128 * 1024 / row_bytes);
    if (chunk > cap) chunk = cap;
    chunk = (chunk + 3) / 4 * 4;
    if (chunk < 4) chunk = 4;
    matmul_job j = {k->mm[type], w->data, row_bytes, rows, in, n, chunk, x, xq, xb, k->mm_bf16_bf16, out};
    if (nth > 1 && rows > chunk) {
        lli_pool_for(exec, rows, chunk, matmul_rows, &j);
        return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) matmul_rows(r0, r0 + chunk < rows ? r0 + chunk : rows, 0, &j);
}
