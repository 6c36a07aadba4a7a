/* The CPU backend's matrix product: activations quantized once per call (block types), then the
 * weight rows handed out in chunks to the pool's threads and multiplied by the kernel table's
 * product for the weight type (quant.h, kernels/). */
#include <stdatomic.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "format/tensor_types.h"
#include "runtime/model.h"

/* Rows [*lo, *hi) of n for thread ith of nth. */
static void split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

typedef struct matmul_job {
    lli_mm_fn mm;
    const uint8_t *w;
    uint64_t row_bytes;
    int64_t rows, in, n, chunk;
    const float *x;
    const lli_q8 *xq;
    float *out;
    atomic_llong next; /* the next chunk of rows to take */
} matmul_job;

/* Threads take chunks of rows from a shared counter until none are left, so that a thread the
 * system does not run for a while delays only its current chunk, not a fixed share of the step.
 * Within a chunk (at most L2-sized), tiles of 16 activation rows (L1-sized) meet every weight row:
 * each weight byte comes from memory once per product, not once per tile. */
static void matmul_rows(int ith, int nth, void *arg) {
    (void)ith, (void)nth;
    matmul_job *j = arg;
    const int64_t xs = j->in / 32;
    for (;;) {
        int64_t r0 = (int64_t)atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->chunk;
        if (r0 >= j->rows) return;
        int64_t nr = r0 + j->chunk < j->rows ? j->chunk : j->rows - r0;
        for (int64_t t0 = 0; t0 < j->n; t0 += 16) {
            int64_t nt = t0 + 16 < j->n ? 16 : j->n - t0;
            j->mm(j->w + (uint64_t)r0 * j->row_bytes, j->row_bytes, nr, j->x + t0 * j->in, j->xq ? j->xq + t0 * xs : NULL, nt,
                  j->in, j->out + t0 * j->rows + r0, j->rows);
        }
    }
}

typedef struct quant_args {
    const lli_kernels *k;
    const float *x;
    lli_q8 *xq;
    int64_t in, n;
} quant_args;

static void quant_rows(const quant_args *a, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) a->k->quantize(a->x + t * a->in, a->xq + t * (a->in / 32), a->in);
}

static void quant_run(int ith, int nth, void *arg) {
    const quant_args *q = arg;
    int64_t lo, hi;
    split(q->n, ith, nth, &lo, &hi);
    if (lo < hi) quant_rows(q, lo, hi);
}

void lli_cpu_matmul(void *exec, const lli_tensor *w, const float *x, float *out, int64_t n, void *scratch) {
    const lli_kernels *k = lli_cpu_kernels();
    const int type = w->type->id;
    const int64_t in = w->ne[0], rows = w->ne[1];
    const int floats = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
    lli_q8 *xq = NULL;
    if (!floats) { /* block types: rows are whole blocks of 32 or 256 */
        xq = scratch;
        quant_args q = {k, x, xq, in, n};
        if (n * in < 32768 || lli_pool_size(exec) == 1) quant_rows(&q, 0, n);
        else lli_pool_run(exec, quant_run, &q);
    }
    const int nth = lli_pool_size(exec);
    const uint64_t row_bytes = w->bytes / (uint64_t)rows;
    /* About eight chunks per thread, a multiple of four rows (every kernel's tile height divides
     * it), and at most 128 KiB of weights so that a chunk stays in L2 while its token tiles pass. */
    int64_t chunk = (rows + 8 * nth - 1) / (8 * nth), cap = (int64_t)(128 * 1024 / row_bytes);
    if (chunk > cap) chunk = cap;
    chunk = (chunk + 3) / 4 * 4;
    if (chunk < 4) chunk = 4;
    matmul_job j = {k->mm[type], w->data, row_bytes, rows, in, n, chunk, x, xq, out, 0};
    if (nth == 1 || rows <= chunk) matmul_rows(0, 1, &j);
    else lli_pool_run(exec, matmul_rows, &j);
}
