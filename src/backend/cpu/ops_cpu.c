/* The CPU backend's operations: each splits its work over the context's thread pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"
#include "backend/cpu/quant.h"
#include "backend/kv_view.h"
#include "backend/tensor.h"
#include "llminfer.h"

/* matmul.c */
void lli_cpu_matmul(void *exec, const lli_tensor *w, const float *x, float *out, int64_t n, void *scratch);
uint64_t lli_cpu_matmul_scratch(int64_t n, int64_t in);

/* ---- embedding ---------------------------------------------------------------------------- */

static void cpu_embed(void *exec, const lli_tensor *t, const int32_t *tokens, int64_t n, float *out) {
    (void)exec;
    uint64_t row_bytes = t->bytes / (uint64_t)t->ne[1];
    for (int64_t i = 0; i < n; i++)
        lli_dequant_row(t->type->id, (const uint8_t *)t->data + (uint64_t)tokens[i] * row_bytes, out + i * t->ne[0], t->ne[0]);
}

/* ---- norms and elementwise ---------------------------------------------------------------- */

/* Runs fn over rows [0, n) in chunks that the pool's threads take as they come free, or on the
 * calling thread when the work is too small to pay for waking the others (a decode step's vectors). */
typedef void (*rows_fn)(const void *args, int64_t lo, int64_t hi);
typedef struct rows_job {
    rows_fn fn;
    const void *args;
} rows_job;

static void rows_run(int64_t lo, int64_t hi, int ith, void *arg) {
    (void)ith;
    const rows_job *j = arg;
    j->fn(j->args, lo, hi);
}

static void for_rows(void *exec, int64_t n, int64_t elements, rows_fn fn, const void *args) {
    if (elements < 32768 || lli_pool_size(exec) == 1) {
        fn(args, 0, n);
        return;
    }
    rows_job j = {fn, args};
    lli_pool_for(exec, n, 0, rows_run, &j);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* 1 where the kernels' level (chosen once) has AVX2, FMA and F16C: the functions below with those
 * targets may run. */
static int simd_avx2(void) { return lli_cpu_kernels()->level >= LLI_CPU_AVX2; }

/* sum_squares' first elements, eight at a time into two vectors of four doubles: the count done. */
__attribute__((target("avx2,fma"))) static int64_t sum_squares_avx2(const float *x, int64_t n, double *ss) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i), sq = _mm256_mul_ps(v, v);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(lo, hi));
    *ss += (l[0] + l[1]) + (l[2] + l[3]);
    return i;
}
#endif

typedef struct norm_args {
    const float *x, *w;
    float *out;
    int64_t dim;
    float eps;
} norm_args;

/* The sum of x[i]^2 (each square in float, as the scalar loop below squares) in double. */
static double sum_squares(const float *x, int64_t n) {
    double ss = 0;
    int64_t i = 0;
#if defined(__x86_64__)
    if (simd_avx2()) i = sum_squares_avx2(x, n, &ss);
#endif
    for (; i < n; i++) ss += (double)(x[i] * x[i]);
    return ss;
}

static void norm_rows(const void *p, int64_t lo, int64_t hi) {
    const norm_args *a = p;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = a->x + r * a->dim;
        float *out = a->out + r * a->dim;
        double ss = sum_squares(x, a->dim);
        float mean = (float)(ss / (double)a->dim), scale = 1.0f / sqrtf(mean + a->eps);
        for (int64_t i = 0; i < a->dim; i++) out[i] = x[i] * scale * (a->w ? a->w[i] : 1.0f);
    }
}

static void cpu_rms_norm(void *exec, const float *x, const float *w, float *out, int64_t rows, int64_t dim, float eps) {
    norm_args a = {x, w, out, dim, eps};
    for_rows(exec, rows, rows * dim, norm_rows, &a);
}

#if defined(__x86_64__)
/* e^x for x <= 88 (softmax arguments, which are <= 0, and swiglu's): x = n ln2 + r with
 * |r| <= ln2 / 2, e^r by its Taylor polynomial to degree 7, and 2^n put into the exponent bits.
 * Within 0.94 ulp of e^x for every float in [-87, 88] of magnitude above 1e-30 (degree 6 was 2.7
 * ulp; in swiglu that left one more of test_generate's greedy prompts unequal to llama.cpp's). */
__attribute__((target("avx2,fma"))) static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f)); /* below this e^x is under float's normal range */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

/* Elementwise operations over `count` floats, in chunks of 1024. */
typedef struct elem_args {
    float *x;
    const float *y;
    int64_t count;
} elem_args;

static void add_chunks(const void *p, int64_t lo, int64_t hi) {
    const elem_args *a = p;
    int64_t end = hi * 1024 < a->count ? hi * 1024 : a->count;
    for (int64_t i = lo * 1024; i < end; i++) a->x[i] += a->y[i];
}

#if defined(__x86_64__)
/* x / (1 + e^-x) * y, eight at a time, in the scalar code's order of operations. e^-x is clamped
 * to e^88 (a float of 1.6e38, where exp_avx2 builds 2^n within the exponent's range): for x below
 * -88 the result is then -|x| / 1.6e38 * y instead of -0. A libm expf per element was a twentieth
 * of a prefill step. */
__attribute__((target("avx2,fma"))) static void swiglu_avx2(float *x, const float *y, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f), top = _mm256_set1_ps(88.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 e = exp_avx2(_mm256_min_ps(top, _mm256_xor_ps(v, sign))); /* NaN passes through min */
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i])) * y[i];
}
#endif

static void swiglu_chunks(const void *p, int64_t lo, int64_t hi) {
    const elem_args *a = p;
    int64_t end = hi * 1024 < a->count ? hi * 1024 : a->count;
#if defined(__x86_64__)
    if (simd_avx2()) {
        swiglu_avx2(a->x + lo * 1024, a->y + lo * 1024, end - lo * 1024);
        return;
    }
#endif
    for (int64_t i = lo * 1024; i < end; i++) a->x[i] = a->x[i] / (1.0f + expf(-a->x[i])) * a->y[i];
}

static void cpu_add(void *exec, float *x, const float *y, int64_t count) {
    elem_args a = {x, y, count};
    for_rows(exec, (count + 1023) / 1024, count, add_chunks, &a);
}

static void cpu_add_rows(void *exec, float *x, const float *bias, int64_t rows, int64_t dim) {
    (void)exec;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < dim; i++) x[r * dim + i] += bias[i];
}

static void cpu_swiglu(void *exec, float *gate, const float *up, int64_t count) {
    elem_args a = {gate, up, count};
    for_rows(exec, (count + 1023) / 1024, count, swiglu_chunks, &a);
}

typedef struct rope_args {
    float *x;
    const int64_t *pos;
    int heads, head_dim, rope_dim, neox;
    float theta_scale, freq_scale;
    const float *freq_factors;
} rope_args;

static void rope_rows(const void *p, int64_t lo, int64_t hi) {
    const rope_args *a = p;
    int half = a->rope_dim / 2;
    for (int64_t t = lo; t < hi; t++) {
        /* The angle is built by repeated multiplication, in float, as GGML does: the same rounding
         * keeps greedy outputs identical to other implementations. */
        float theta = (float)a->pos[t];
        for (int i = 0; i < half; i++, theta *= a->theta_scale) {
            float angle = a->freq_scale * (a->freq_factors ? theta / a->freq_factors[i] : theta), c = cosf(angle),
                  s = sinf(angle);
            for (int h = 0; h < a->heads; h++) {
                float *v = a->x + (t * a->heads + h) * a->head_dim;
                /* llama rotates adjacent pairs, NeoX-style models the two halves */
                int i0 = a->neox ? i : 2 * i, i1 = a->neox ? i + half : 2 * i + 1;
                float x0 = v[i0], x1 = v[i1];
                v[i0] = x0 * c - x1 * s;
                v[i1] = x0 * s + x1 * c;
            }
        }
    }
}

static void cpu_rope(void *exec, float *x, const int64_t *pos, int64_t n, int heads, int head_dim, int rope_dim, int neox,
                     float theta_scale, float freq_scale, const float *freq_factors) {
    rope_args a = {x, pos, heads, head_dim, rope_dim, neox, theta_scale, freq_scale, freq_factors};
    for_rows(exec, n, n * heads * head_dim, rope_rows, &a);
}

/* ---- attention over the paged cache ------------------------------------------------------- */

static uint16_t *f16_row(const lli_kv_view *kv, void *base, int64_t row) { return (uint16_t *)base + row * kv->head_dim; }
static int8_t *q8_row(const lli_kv_view *kv, void *base, int64_t row) { return (int8_t *)base + row * kv->head_dim; }

/* 8-bit rows: one scale per row, the largest magnitude mapped to 127. */
static void quantize_row_q8(const float *x, int8_t *q, float *scale, int n) {
    float amax = 0;
    for (int i = 0; i < n; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (int8_t)lrintf(x[i] * id);
    *scale = d;
}

static void attn_store(const lli_attn_args *a) {
    const lli_kv_view *kv = a->kv;
    int kvd = a->n_head_kv * a->head_dim;
    for (int64_t t = 0; t < a->n; t++) {
        const int32_t *blocks = kv->seq_blocks[a->seq[t]];
        for (int h = 0; h < a->n_head_kv; h++) {
            int64_t row = lli_kv_view_row(kv, blocks, a->pos[t], a->layer, h);
            const float *k = a->k + t * kvd + h * a->head_dim, *v = a->v + t * kvd + h * a->head_dim;
            if (kv->type == LLI_KV_TYPE_Q8) {
                quantize_row_q8(k, q8_row(kv, kv->k, row), &kv->k_scale[row], a->head_dim);
                quantize_row_q8(v, q8_row(kv, kv->v, row), &kv->v_scale[row], a->head_dim);
            } else {
                lli_f32_to_f16_row(k, f16_row(kv, kv->k, row), a->head_dim);
                lli_f32_to_f16_row(v, f16_row(kv, kv->v, row), a->head_dim);
            }
        }
    }
}

/* One cache row as floats. */
static void row_to_f32(const lli_kv_view *kv, void *base, const float *scales, int64_t row, float *out) {
    if (kv->type == LLI_KV_TYPE_Q8) {
        const int8_t *q = q8_row(kv, base, row);
        for (int d = 0; d < kv->head_dim; d++) out[d] = (float)q[d] * scales[row];
    } else {
        lli_f16_to_f32_row(f16_row(kv, base, row), out, kv->head_dim);
    }
}

/* Work of one unit: up to UNIT_TOKENS entries of one sequence (consecutive positions) and one KV
 * head. Its keys and values are converted to F32 once and then serve every query head of the group
 * for every entry of the unit. */
#define UNIT_TOKENS 16

typedef struct attn_job {
    const lli_attn_args *a;
    const int32_t *order;  /* entries sorted by sequence, then position */
    const int32_t *unit_start; /* per unit of tokens: first index into order; n_units + 1 entries */
    int64_t n_units;
    int64_t max_pos;
    float *scratch;        /* per thread: keys, values (max_pos * head_dim each) and scores (max_pos) */
} attn_job;

#if defined(__x86_64__)
/* One query head over F32 keys and values [0, count), for head sizes that are multiples of 8 up to
 * 128: eight keys' scores per pass with a single transposing reduction, and the output kept in
 * registers while the values stream past. */
__attribute__((target("avx2,fma,f16c"))) static void attend_avx2(int D, float scale, const float *K, const float *V,
                                                                const float *qh, int64_t count, float *scores,
                                                                float *out) {
    const int nv = D / 8;
    __m256 q[16];
    for (int v = 0; v < nv; v++) q[v] = _mm256_loadu_ps(qh + 8 * v);
    float maxs = -INFINITY;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 acc[8];
        for (int k = 0; k < 8; k++) {
            const float *kr = K + (i + k) * D;
            __m256 sum = _mm256_setzero_ps();
            for (int v = 0; v < nv; v++) sum = _mm256_fmadd_ps(q[v], _mm256_loadu_ps(kr + 8 * v), sum);
            acc[k] = sum;
        }
        /* eight horizontal sums at once */
        __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
        __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
        t0 = _mm256_hadd_ps(t0, t1);
        t2 = _mm256_hadd_ps(t2, t3);
        __m256 r = _mm256_add_ps(_mm256_permute2f128_ps(t0, t2, 0x20), _mm256_permute2f128_ps(t0, t2, 0x31));
        r = _mm256_mul_ps(r, _mm256_set1_ps(scale));
        _mm256_storeu_ps(scores + i, r);
    }
    for (; i < count; i++) {
        const float *kr = K + i * D;
        __m256 sum = _mm256_setzero_ps();
        for (int v = 0; v < nv; v++) sum = _mm256_fmadd_ps(q[v], _mm256_loadu_ps(kr + 8 * v), sum);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        h = _mm_hadd_ps(h, h);
        h = _mm_hadd_ps(h, h);
        scores[i] = _mm_cvtss_f32(h) * scale;
    }
    for (i = 0; i < count; i++) maxs = scores[i] > maxs ? scores[i] : maxs;
    /* softmax, eight scores at a time; probabilities meet V at F16 precision */
    __m256 vmax = _mm256_set1_ps(maxs), vsum = _mm256_setzero_ps();
    double sum = 0;
    for (i = 0; i + 8 <= count; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(scores + i), vmax));
        vsum = _mm256_add_ps(vsum, e);
        _mm256_storeu_ps(scores + i, e);
    }
    for (; i < count; i++) sum += scores[i] = expf(scores[i] - maxs);
    float lanes[8];
    _mm256_storeu_ps(lanes, vsum);
    for (int k = 0; k < 8; k++) sum += lanes[k];
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= count; i += 8) {
        __m256 pr = _mm256_mul_ps(_mm256_loadu_ps(scores + i), inv);
        _mm256_storeu_ps(scores + i, _mm256_cvtph_ps(_mm256_cvtps_ph(pr, _MM_FROUND_TO_NEAREST_INT)));
    }
    for (; i < count; i++) scores[i] = lli_f16_to_f32(lli_f32_to_f16(scores[i] * _mm256_cvtss_f32(inv)));
    __m256 o[16];
    for (int v = 0; v < nv; v++) o[v] = _mm256_setzero_ps();
    for (i = 0; i < count; i++) {
        const float *vr = V + i * D;
        __m256 w = _mm256_set1_ps(scores[i]);
        for (int v = 0; v < nv; v++) o[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vr + 8 * v), o[v]);
    }
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(out + 8 * v, o[v]);
}
#endif

/* The same for any head size, without SIMD. */
static void attend_generic(int D, float scale, const float *K, const float *V, const float *qh, int64_t count,
                           float *scores, float *out) {
    float maxs = -INFINITY;
    for (int64_t i = 0; i < count; i++) {
        float dot = 0;
        for (int d = 0; d < D; d++) dot += qh[d] * K[i * D + d];
        scores[i] = dot * scale;
        maxs = scores[i] > maxs ? scores[i] : maxs;
    }
    double sum = 0;
    for (int64_t i = 0; i < count; i++) sum += scores[i] = expf(scores[i] - maxs);
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < count; i++) scores[i] *= inv;
    lli_round_f16_row(scores, scores, (int)count);
    memset(out, 0, (size_t)D * sizeof *out);
    for (int64_t i = 0; i < count; i++)
        for (int d = 0; d < D; d++) out[d] += scores[i] * V[i * D + d];
}

static void attn_units(int64_t lo, int64_t hi, int ith, void *arg) {
    const attn_job *j = arg;
    const lli_attn_args *a = j->a;
    const lli_kv_view *kv = a->kv;
    const int D = a->head_dim;
    float *K = j->scratch + (int64_t)ith * j->max_pos * (2 * D + 1), *V = K + j->max_pos * D, *scores = V + j->max_pos * D;
    int64_t group = a->n_head / a->n_head_kv, qd = (int64_t)a->n_head * D;
    float qh[512];
#if defined(__x86_64__)
    const int use_avx2 = simd_avx2();
#endif
    /* Items in reverse: a causal unit's cost grows with its positions, and the pool hands out the
     * largest first so that the last ones to finish are small. */
    for (int64_t item = lo; item < hi; item++) {
        int64_t w = j->n_units * a->n_head_kv - 1 - item;
        int64_t u = w / a->n_head_kv;
        int kh = (int)(w % a->n_head_kv);
        const int32_t *entries = j->order + j->unit_start[u];
        int64_t m = j->unit_start[u + 1] - j->unit_start[u];
        const int32_t *blocks = kv->seq_blocks[a->seq[entries[0]]];
        int64_t p0 = a->pos[entries[0]];
        int64_t base = a->window > 0 && p0 - a->window + 1 > 0 ? p0 - a->window + 1 : 0;
        for (int64_t t = 0; t < m; t++) {
            int64_t e = entries[t], p = a->pos[e], first = a->window > 0 && p - a->window + 1 > 0 ? p - a->window + 1 : 0;
            /* Keys and values of positions this entry adds to the unit's, converted once. */
            int64_t from = t == 0 ? base : a->pos[entries[t - 1]] + 1;
            for (int64_t i = from; i <= p; i++) {
                int64_t row = lli_kv_view_row(kv, blocks, i, a->layer, kh);
                row_to_f32(kv, kv->k, kv->k_scale, row, K + (i - base) * D);
                row_to_f32(kv, kv->v, kv->v_scale, row, V + (i - base) * D);
            }
            for (int64_t h = kh * group; h < (kh + 1) * group; h++) {
                /* Queries meet the cache at F16 precision, as in GGML. */
                lli_round_f16_row(a->q + e * qd + h * D, qh, D);
                const float *Kf = K + (first - base) * D, *Vf = V + (first - base) * D;
                float *out = a->out + e * qd + h * D;
#if defined(__x86_64__)
                if (use_avx2 && D % 8 == 0 && D <= 128) {
                    attend_avx2(D, a->scale, Kf, Vf, qh, p - first + 1, scores, out);
                    continue;
                }
#endif
                attend_generic(D, a->scale, Kf, Vf, qh, p - first + 1, scores, out);
            }
        }
    }
}

static int by_seq_then_pos(const void *x, const void *y, void *arg) {
    const lli_attn_args *a = arg;
    int32_t i = *(const int32_t *)x, k = *(const int32_t *)y;
    if (a->seq[i] != a->seq[k]) return a->seq[i] < a->seq[k] ? -1 : 1;
    return a->pos[i] < a->pos[k] ? -1 : a->pos[i] > a->pos[k];
}

/* Scratch of one step: per thread, keys, values and scores for max_pos positions; then the
 * entries' order and the units' starts. */
static uint64_t cpu_attention_scratch(void *exec, int64_t n, int64_t max_pos, int head_dim) {
    uint64_t per_thread = (uint64_t)max_pos * (uint64_t)(2 * head_dim + 1) * sizeof(float);
    return per_thread * (uint64_t)lli_pool_size(exec) + (uint64_t)(2 * n + 1) * sizeof(int32_t);
}

static void cpu_attention(void *exec, const lli_attn_args *a) {
    attn_store(a);
    int64_t max_pos = 1;
    for (int64_t t = 0; t < a->n; t++)
        if (a->pos[t] + 1 > max_pos) max_pos = a->pos[t] + 1;
    int nth = lli_pool_size(exec);
    /* Sized by the context for this step (attention_scratch) before it started. */
    float *scratch = a->scratch;
    int32_t *order = (int32_t *)(void *)(scratch + max_pos * (2 * a->head_dim + 1) * nth), *unit_start = order + a->n;
    for (int32_t t = 0; t < a->n; t++) order[t] = t;
    qsort_r(order, (size_t)a->n, sizeof *order, by_seq_then_pos, (void *)a);
    int64_t n_units = 0;
    for (int64_t t = 0; t < a->n; t++)
        if (t == 0 || a->seq[order[t]] != a->seq[order[t - 1]] || t - unit_start[n_units - 1] == UNIT_TOKENS)
            unit_start[n_units++] = (int32_t)t;
    unit_start[n_units] = (int32_t)a->n;
    attn_job j = {a, order, unit_start, n_units, max_pos, scratch};
    lli_pool_for(exec, n_units * a->n_head_kv, 1, attn_units, &j);
}

static void cpu_gather_rows(void *exec, const float *src, const int32_t *rows, int64_t n, int64_t dim, float *dst) {
    (void)exec;
    for (int64_t i = 0; i < n; i++) memcpy(dst + i * dim, src + (int64_t)rows[i] * dim, (size_t)dim * sizeof *dst);
}

/* Every operation above has finished when it returns. */
static lli_status cpu_finish(void *exec) {
    (void)exec;
    return LLI_OK;
}

const lli_compute_ops lli_cpu_compute_ops = {
    .embed = cpu_embed,
    .rms_norm = cpu_rms_norm,
    .matmul = lli_cpu_matmul,
    .add = cpu_add,
    .add_rows = cpu_add_rows,
    .rope = cpu_rope,
    .swiglu = cpu_swiglu,
    .attention = cpu_attention,
    .gather_rows = cpu_gather_rows,
    .finish = cpu_finish,
    .attention_scratch = cpu_attention_scratch,
    .matmul_scratch = lli_cpu_matmul_scratch,
};
