/* The CPU backend's matrix product: activations quantized once per call, then weight rows split
 * between the pool's threads and multiplied by the kernels of quant.c. */
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "runtime/model.h"

/* Rows [*lo, *hi) of n for thread ith of nth. */
static void split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* ---- matrix products ---------------------------------------------------------------------- */

typedef struct matmul_job {
    const lli_tensor *w;
    const float *x;
    const lli_q8 *xq;
    float *out;
    int64_t n;
} matmul_job;

/* Output rows r of activation rows [t0, t1): four activation rows per pass over the weight row. */
static void one_weight_row(const matmul_job *j, int64_t r, int64_t t0, int64_t t1) {
    const int type = j->w->type->id;
    const int64_t in = j->w->ne[0], rows = j->w->ne[1];
    const void *row = (const uint8_t *)j->w->data + (uint64_t)r * (j->w->bytes / (uint64_t)rows);
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) {
        const float *x4[4];
        const lli_q8 *q4[4];
        float o[4];
        for (int k = 0; k < 4; k++) {
            x4[k] = j->x + (t + k) * in;
            q4[k] = j->xq ? j->xq + (t + k) * (in / 32) : NULL;
        }
        lli_vec_dot4(type, row, x4, q4, in, o);
        for (int k = 0; k < 4; k++) j->out[(t + k) * rows + r] = o[k];
    }
    for (; t < t1; t++)
        j->out[t * rows + r] = lli_vec_dot(type, row, j->x + t * in, j->xq ? j->xq + t * (in / 32) : NULL, in);
}

/* Output rows r and r + 1 of activation rows [t0, t1), with the two-row kernel (which the type
 * must have) for every four activation rows and one-row dots for the rest. */
static void two_weight_rows(const matmul_job *j, int64_t r, int64_t t0, int64_t t1) {
    const int type = j->w->type->id;
    const int64_t in = j->w->ne[0], rows = j->w->ne[1];
    const uint64_t row_bytes = j->w->bytes / (uint64_t)rows;
    const uint8_t *row = (const uint8_t *)j->w->data + (uint64_t)r * row_bytes;
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) {
        const lli_q8 *q4[4];
        float o0[4], o1[4];
        for (int k = 0; k < 4; k++) q4[k] = j->xq + (t + k) * (in / 32);
        lli_vec_dot2x4(type, row, row + row_bytes, q4, in, o0, o1);
        for (int k = 0; k < 4; k++) j->out[(t + k) * rows + r] = o0[k], j->out[(t + k) * rows + r + 1] = o1[k];
    }
    for (int64_t rr = 0; rr < 2; rr++)
        for (int64_t u = t; u < t1; u++)
            j->out[u * rows + r + rr] = lli_vec_dot(type, row + rr * row_bytes, j->x + u * in, j->xq + u * (in / 32), in);
}

static void matmul_rows(int ith, int nth, void *arg) {
    const matmul_job *j = arg;
    int64_t rows = j->w->ne[1], lo, hi;
    uint64_t row_bytes = j->w->bytes / (uint64_t)rows;
    split(rows, ith, nth, &lo, &hi);
    const int pairs = j->xq && lli_vec_dot2x4_supported(j->w->type->id);
    /* Blocks of weight rows that fit in L2 meet tiles of 16 activation rows that fit in L1: each
     * weight byte comes from memory once per matrix, not once per tile. */
    int64_t block = (int64_t)(128 * 1024 / row_bytes);
    block = block < 4 ? 4 : block;
    for (int64_t r0 = lo; r0 < hi; r0 += block) {
        int64_t r1 = r0 + block < hi ? r0 + block : hi;
        for (int64_t t0 = 0; t0 < j->n; t0 += 16) {
            int64_t t1 = t0 + 16 < j->n ? t0 + 16 : j->n;
            for (int64_t r = r0; r < r1; r++) {
                if (pairs && r + 1 < r1 && t1 - t0 >= 4) two_weight_rows(j, r++, t0, t1);
                else one_weight_row(j, r, t0, t1);
            }
        }
    }
}

typedef struct quant_args {
    const float *x;
    lli_q8 *xq;
    int64_t in, n;
} quant_args;

static void quant_rows(const void *p, int64_t lo, int64_t hi) {
    const quant_args *a = p;
    for (int64_t t = lo; t < hi; t++) lli_quantize_q8(a->x + t * a->in, a->xq + t * (a->in / 32), a->in);
}

static void quant_run(int ith, int nth, void *arg) {
    const quant_args *q = arg;
    int64_t lo, hi;
    split(q->n, ith, nth, &lo, &hi);
    if (lo < hi) quant_rows(q, lo, hi);
}

void lli_cpu_matmul(void *exec, const lli_tensor *w, const float *x, float *out, int64_t n, void *scratch) {
    int64_t in = w->ne[0];
    lli_q8 *xq = NULL;
    if (in % 32 == 0) {
        xq = scratch;
        quant_args q = {x, xq, in, n};
        if (n * in < 32768 || lli_pool_size(exec) == 1) quant_rows(&q, 0, n);
        else lli_pool_run(exec, quant_run, &q);
    }
    matmul_job j = {w, x, xq, out, n};
    lli_pool_run(exec, matmul_rows, &j);
}

