/* The CPU backend's matrix product: activations quantized once per call (block types; rounded to
 * BF16 for BF16 weights where the kernels multiply BF16 pairs), then the weight rows handed out in
 * chunks to the pool's threads and multiplied by the kernel table's product for the weight type
 * (quant.h, kernels/). With enough tokens, block types take the tiled path: the activations
 * rearranged into tiles once per call, and each chunk of weight rows unpacked once into its
 * thread's scratch and multiplied by every tile. */
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "backend/tensor.h"
#include "format/tensor_types.h"

typedef struct matmul_job {
    const lli_kernels *k;
    int type;
    int x8; /* weights in the X8 layout (quant.h) */
    lli_pool *pool;
    const uint8_t *w;
    uint64_t row_bytes;
    int64_t rows, in, n;
    const float *x;
    const lli_q8 *xq;
    const void *xt;     /* activation tiles, or NULL: no tiled path */
    const uint16_t *xb; /* the activations as BF16, for mm_bf16_bf16; else NULL */
    float *out;
} matmul_job;

/* The pool hands out chunks of rows from a shared counter (lli_pool_for), so that a thread the
 * system does not run for a while delays only its current chunk, not a fixed share of the step.
 * Within a chunk (at most L2-sized), tiles of 16 activation rows (L1-sized) meet every weight row:
 * each weight byte comes from memory once per product, not once per tile. */
static void matmul_rows(int64_t r0, int64_t r1, int ith, void *arg) {
    const matmul_job *j = arg;
    const int64_t xs = j->in / 32, nr = r1 - r0;
    const uint8_t *w = j->w + (uint64_t)r0 * j->row_bytes;
    if (j->xt) {
        /* The scratch cannot grow: the decode product gives the same outputs, only slower. */
        void *un = lli_pool_scratch(j->pool, ith, (size_t)j->k->unpacked_bytes(j->type, nr, j->in));
        if (un) {
            (j->x8 ? j->k->mm_tiles_x8 : j->k->mm_tiles)[j->type](w, j->row_bytes, nr, j->xt, j->n, j->in, j->out + r0, j->rows, un);
            return;
        }
    }
    for (int64_t t0 = 0; t0 < j->n; t0 += 16) {
        int64_t nt = t0 + 16 < j->n ? 16 : j->n - t0;
        if (j->xb)
            j->k->mm_bf16_bf16(w, j->row_bytes, nr, j->xb + t0 * j->in, nt, j->in, j->out + t0 * j->rows + r0, j->rows);
        else
            (j->x8 ? j->k->mm_x8 : j->k->mm)[j->type](w, j->row_bytes, nr, j->x + t0 * j->in, j->xq ? j->xq + t0 * xs : NULL, nt, j->in,
                              j->out + t0 * j->rows + r0, j->rows);
    }
}

typedef struct quant_args {
    const lli_kernels *k;
    const float *x;
    lli_q8 *xq;   /* q8 blocks, */
    uint16_t *xb; /* or BF16 values */
    int64_t in, n;
    int group;
} quant_args;

static void quant_rows(const quant_args *a, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        if (a->xb) a->k->to_bf16(a->x + t * a->in, a->xb + t * a->in, a->in);
        else a->k->quantize(a->x + t * a->in, a->xq + t * (a->in / 32), a->in, a->group);
    }
}

static void quant_run(int64_t lo, int64_t hi, int ith, void *arg) {
    (void)ith;
    quant_rows(arg, lo, hi);
}

static uint64_t align64(uint64_t b) { return (b + 63) & ~(uint64_t)63; }
static uint64_t q8_bytes(int64_t n, int64_t in) { return align64((uint64_t)(n * (in / 32 + 1)) * sizeof(lli_q8)); }

/* The input quantized to 8-bit blocks of 32 (K-quant blocks of 256 read eight of them) and their
 * tiles, or rounded to BF16 for BF16 weights where the kernels take it so, once per call. */
uint64_t lli_cpu_matmul_scratch(int64_t n, int64_t in) {
    const lli_kernels *k = lli_cpu_kernels();
    uint64_t q8 = q8_bytes(n, in) + (k->xt_bytes ? k->xt_bytes(n, in) : 0), bf16 = (uint64_t)(n * in) * sizeof(uint16_t);
    return (q8 > bf16 ? q8 : bf16) + 64;
}

void lli_cpu_matmul(void *exec, const lli_tensor *w, const float *x, float *out, int64_t n, void *scratch) {
    const lli_kernels *k = lli_cpu_kernels();
    const int type = w->type->id;
    const int64_t in = w->ne[0], rows = w->ne[1];
    const int floats = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
    const int nth = lli_pool_size(exec);
    void *buf = (void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    lli_q8 *xq = NULL;
    uint16_t *xb = NULL;
    void *xt = NULL;
    if (type == LLI_TT_BF16 && k->mm_bf16_bf16) xb = buf;
    if (!floats || xb) { /* q8 blocks for block types (rows are whole blocks of 32 or 256), or BF16 */
        if (!xb) xq = buf;
        quant_args q = {k, x, xq, xb, in, n, lli_cpu_act_group(type)};
        if (n * in < 32768 || nth == 1) quant_rows(&q, 0, n);
        else lli_pool_for(exec, n, 0, quant_run, &q);
        if (xq && lli_cpu_takes_tiles(k, type, w->layout, n)) {
            xt = (uint8_t *)xq + q8_bytes(n, in);
            k->tile_acts(xq, n, in, xt);
        }
    }
    const uint64_t row_bytes = w->bytes / (uint64_t)rows;
    /* About eight chunks per thread, a multiple of eight rows (every kernel's tile height divides
     * it), and at most 128 KiB of weights (256 KiB unpacked) so that a chunk stays in L2 while its
     * token tiles pass. */
    const uint64_t chunk_bytes = xt ? k->unpacked_bytes(type, 8, in) / 8 : row_bytes;
    int64_t chunk = (rows + 8 * nth - 1) / (8 * nth), cap = (int64_t)((xt ? 256 : 128) * 1024 / chunk_bytes);
    if (chunk > cap) chunk = cap;
    chunk = (chunk + 7) / 8 * 8;
    if (chunk < 8) chunk = 8;
    matmul_job j = {k, type, w->layout == LLI_LAYOUT_X8, exec, w->data, row_bytes, rows, in, n, x, xq, xt, xb, out};
    if (nth > 1 && rows > chunk) {
        lli_pool_for(exec, rows, chunk, matmul_rows, &j);
        return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) matmul_rows(r0, r0 + chunk < rows ? r0 + chunk : rows, 0, &j);
}
