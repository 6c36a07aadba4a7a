#include "format/gguf_write.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytebuf.h"
#include "format/gguf.h"
#include "format/tensor_types.h"

#define DEFAULT_ALIGN 32
#define MAX_ALIGN (1u << 20)
/* Random tensors are generated and written this much at a time (rounded down to whole blocks). */
#define CHUNK_BYTES ((size_t)4 << 20)

typedef struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    uint64_t bytes, seed;
    float mean, std;
    const uint8_t *data; /* NULL: random from seed, mean, std */
    uint8_t *owned;      /* the writer's copy of data, if it made one */
} wtensor;

struct gguf_writer {
    lli_bytebuf kv; /* the encoded key/value section */
    uint64_t n_kv;
    char **keys;    /* for refusing a key twice: a file with one is refused by every reader */
    size_t cap_keys;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof(gguf_writer));
    if (w) w->alignment = DEFAULT_ALIGN;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name), free(w->t[i].owned);
    free(w->t);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    lli_bytebuf_free(&w->kv);
    free(w);
}

static int fail(int e) {
    errno = e;
    return -1;
}

/* ---- metadata ------------------------------------------------------------------------------- */

static int put_le(lli_bytebuf *b, uint64_t v, size_t n) {
    uint8_t x[8];
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)(v >> (8 * i));
    return lli_bytebuf_put(b, x, n);
}

static int put_str(lli_bytebuf *b, const char *s) {
    size_t n = strlen(s);
    return lli_bytebuf_u64(b, n) || lli_bytebuf_put(b, s, n);
}

/* A key is added in three steps, so that any failure can be undone by cutting the buffer back:
 * begin (checks, name and type), the value, end (records the name). */
static int begin_key(gguf_writer *w, const char *key, uint32_t type, size_t *mark) {
    if (!w || !key || !*key) return fail(EINVAL);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return fail(EEXIST);
    if (w->n_kv == w->cap_keys) {
        size_t cap = w->cap_keys ? w->cap_keys * 2 : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return fail(ENOMEM);
        w->keys = k;
        w->cap_keys = cap;
    }
    *mark = w->kv.len;
    if (put_str(&w->kv, key) || lli_bytebuf_u32(&w->kv, type)) {
        w->kv.len = *mark;
        return fail(ENOMEM);
    }
    return 0;
}

static int end_key(gguf_writer *w, const char *key, size_t mark, int bad) {
    char *copy = bad ? NULL : strdup(key);
    if (!copy) {
        w->kv.len = mark;
        return fail(ENOMEM);
    }
    w->keys[w->n_kv++] = copy;
    return 0;
}

static int scalar(gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    size_t mark;
    if (begin_key(w, key, type, &mark)) return -1;
    return end_key(w, key, mark, put_le(&w->kv, bits, gguf_scalar_size((uint32_t)type)) ? 1 : 0);
}

int gguf_writer_str(gguf_writer *w, const char *key, const char *value) {
    size_t mark;
    if (!value) return fail(EINVAL);
    if (begin_key(w, key, GGUF_STRING, &mark)) return -1;
    return end_key(w, key, mark, put_str(&w->kv, value) ? 1 : 0);
}

int gguf_writer_u8(gguf_writer *w, const char *k, uint8_t v) { return scalar(w, k, GGUF_UINT8, v); }
int gguf_writer_i8(gguf_writer *w, const char *k, int8_t v) { return scalar(w, k, GGUF_INT8, (uint8_t)v); }
int gguf_writer_u16(gguf_writer *w, const char *k, uint16_t v) { return scalar(w, k, GGUF_UINT16, v); }
int gguf_writer_i16(gguf_writer *w, const char *k, int16_t v) { return scalar(w, k, GGUF_INT16, (uint16_t)v); }
int gguf_writer_u32(gguf_writer *w, const char *k, uint32_t v) { return scalar(w, k, GGUF_UINT32, v); }
int gguf_writer_i32(gguf_writer *w, const char *k, int32_t v) { return scalar(w, k, GGUF_INT32, (uint32_t)v); }
int gguf_writer_u64(gguf_writer *w, const char *k, uint64_t v) { return scalar(w, k, GGUF_UINT64, v); }
int gguf_writer_i64(gguf_writer *w, const char *k, int64_t v) { return scalar(w, k, GGUF_INT64, (uint64_t)v); }
int gguf_writer_bool(gguf_writer *w, const char *k, int v) { return scalar(w, k, GGUF_BOOL, v != 0); }

int gguf_writer_f32(gguf_writer *w, const char *k, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return scalar(w, k, GGUF_FLOAT32, bits);
}

int gguf_writer_f64(gguf_writer *w, const char *k, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return scalar(w, k, GGUF_FLOAT64, bits);
}

int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n) {
    size_t mark;
    if (n && !v) return fail(EINVAL);
    for (size_t i = 0; i < n; i++)
        if (!v[i]) return fail(EINVAL);
    if (begin_key(w, key, GGUF_ARRAY, &mark)) return -1;
    int bad = lli_bytebuf_u32(&w->kv, GGUF_STRING) || lli_bytebuf_u64(&w->kv, n);
    for (size_t i = 0; !bad && i < n; i++) bad = put_str(&w->kv, v[i]);
    return end_key(w, key, mark, bad);
}

int gguf_writer_arr(gguf_writer *w, const char *key, int elem_type, const void *values, size_t n) {
    size_t es = gguf_scalar_size((uint32_t)elem_type), mark;
    if (!es || (n && !values)) return fail(EINVAL);
    if (begin_key(w, key, GGUF_ARRAY, &mark)) return -1;
    int bad = lli_bytebuf_u32(&w->kv, (uint32_t)elem_type) || lli_bytebuf_u64(&w->kv, n);
    /* Element by element through an integer of the same size: little-endian whatever the host. */
    const uint8_t *p = values;
    for (size_t i = 0; !bad && i < n; i++, p += es) {
        uint64_t bits = 0;
        if (es == 1) bits = p[0];
        else if (es == 2) { uint16_t x; memcpy(&x, p, 2); bits = x; }
        else if (es == 4) { uint32_t x; memcpy(&x, p, 4); bits = x; }
        else memcpy(&bits, p, 8);
        bad = put_le(&w->kv, bits, es);
    }
    return end_key(w, key, mark, bad);
}

int gguf_writer_arr_f32(gguf_writer *w, const char *k, const float *v, size_t n) { return gguf_writer_arr(w, k, GGUF_FLOAT32, v, n); }
int gguf_writer_arr_i32(gguf_writer *w, const char *k, const int32_t *v, size_t n) { return gguf_writer_arr(w, k, GGUF_INT32, v, n); }
int gguf_writer_arr_u32(gguf_writer *w, const char *k, const uint32_t *v, size_t n) { return gguf_writer_arr(w, k, GGUF_UINT32, v, n); }

int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (!w || !alignment || alignment > MAX_ALIGN || (alignment & (alignment - 1))) return fail(EINVAL);
    if (gguf_writer_u32(w, "general.alignment", alignment)) return -1;
    w->alignment = alignment;
    return 0;
}

/* ---- tensors -------------------------------------------------------------------------------- */

static wtensor *new_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4]) {
    if (!w || !name || !*name || !ne || n_dims < 1 || n_dims > 4) return errno = EINVAL, NULL;
    const lli_ttype_info *tt = lli_ttype_by_id(type);
    if (!tt) return errno = EINVAL, NULL;
    int64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || ne[d] > ((int64_t)1 << 40)) return errno = EINVAL, NULL;
        if (d > 0) {
            if (rows > INT64_MAX / ne[d]) return errno = EINVAL, NULL;
            rows *= ne[d];
        }
    }
    uint64_t bytes = lli_ttype_bytes(tt, ne[0], rows);
    if (!bytes) return errno = EINVAL, NULL;
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return errno = EEXIST, NULL;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return errno = ENOMEM, NULL;
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return errno = ENOMEM, NULL;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->bytes = bytes;
    return t; /* counted by the caller once it is complete */
}

int gguf_writer_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4], uint64_t seed,
                       float mean, float std) {
    wtensor *t = new_tensor(w, name, type, n_dims, ne);
    if (!t) return -1;
    t->seed = seed;
    t->mean = mean;
    t->std = std;
    w->n_t++;
    return 0;
}

int gguf_writer_tensor_data(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4],
                            const void *data, uint64_t bytes, int copy) {
    if (!data) return fail(EINVAL);
    wtensor *t = new_tensor(w, name, type, n_dims, ne);
    if (!t) return -1;
    if (t->bytes != bytes) {
        free(t->name);
        return fail(EINVAL);
    }
    if (copy) {
        if (bytes > SIZE_MAX || !(t->owned = malloc((size_t)bytes))) {
            free(t->name);
            return fail(ENOMEM);
        }
        memcpy(t->owned, data, (size_t)bytes);
        t->data = t->owned;
    } else {
        t->data = data;
    }
    w->n_t++;
    return 0;
}

/* ---- random data ---------------------------------------------------------------------------- */

/* splitmix64. Its state after k draws is s0 + k * GAMMA, so draw k can be computed directly: that
 * is what lets a tensor be generated in pieces with exactly the bytes of a generation in one go. */
#define GAMMA 0x9e3779b97f4a7c15ull

static uint64_t draw(uint64_t s0, uint64_t k) {
    uint64_t z = s0 + k * GAMMA;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t s0, uint64_t k) { return (float)((draw(s0, k) >> 40) * (1.0 / 16777216.0)); }

/* Box-Muller from draws k and k + 1. */
static float normal(uint64_t s0, uint64_t k) {
    float u1 = uniform(s0, k), u2 = uniform(s0, k + 1);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    float a = fabsf(f);
    if (!(a >= 6.1e-5f)) return (uint16_t)sign; /* tiny values (and NaN) become zero: only normal numbers are needed */
    if (a > 65504.0f) return (uint16_t)(sign | 0x7bff);
    int e;
    float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    uint32_t mant = (uint32_t)lrintf((m * 2.0f - 1.0f) * 1024.0f);
    uint32_t exp = (uint32_t)(e - 1 + 15);
    if (mant == 1024) mant = 0, exp++;
    return (uint16_t)(sign | exp << 10 | mant);
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static void store_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_half(uint8_t *p, float v) { store_le(p, to_f16(v), 2); }

int gguf_fill_random_part(void *buf, int type, uint64_t seed, float mean, float std, uint64_t total, uint64_t off,
                          uint64_t len) {
    const lli_ttype_info *tt = lli_ttype_by_id(type);
    if (!tt || !buf || total % tt->block_bytes || off % tt->block_bytes || len % tt->block_bytes || off > total ||
        len > total - off)
        return fail(EINVAL);
    const uint64_t s0 = seed * 0x2545f4914f6cdd1dull + 1, bb = tt->block_bytes;
    uint8_t *p = buf;
    if (type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16) {
        /* Element i takes draws 2i + 1 and 2i + 2. */
        for (uint64_t i = off / bb; i < (off + len) / bb; i++) {
            float v = mean + std * normal(s0, 2 * i + 1);
            uint8_t *at = p + (i * bb - off);
            if (type == LLI_TT_F32) {
                uint32_t bits;
                memcpy(&bits, &v, 4);
                store_le(at, bits, 4);
            } else {
                store_le(at, type == LLI_TT_F16 ? to_f16(v) : to_bf16(v), 2);
            }
        }
        return 0;
    }
    /* Quantized: random bits everywhere (draw k gives the 8 bytes at 8(k - 1), and the last
     * total % 8 bytes take one draw each), then every block's scales are set to small finite
     * values from the draws after those. */
    const uint64_t words = total / 8, tail_at = words * 8, base = words + total % 8;
    for (uint64_t i = off; i < off + len;) {
        if (i >= tail_at) {
            p[i - off] = (uint8_t)draw(s0, words + 1 + (i - tail_at));
            i++;
            continue;
        }
        uint64_t r = draw(s0, i / 8 + 1);
        if (i % 8 == 0 && i + 8 <= off + len) {
            store_le(p + (i - off), r, 8);
            i += 8;
        } else {
            p[i - off] = (uint8_t)(r >> (8 * (i % 8)));
            i++;
        }
    }
    /* Where the f16 scale d and the f16 minimum (if the type has one) sit in a block. */
    int d_at = 0, m_at = -1;
    switch (type) {
    case LLI_TT_Q4_1: case LLI_TT_Q5_1: case LLI_TT_Q4_K: case LLI_TT_Q5_K: m_at = 2; break;
    case LLI_TT_Q2_K: d_at = 80, m_at = 82; break;
    case LLI_TT_Q3_K: d_at = 108; break;
    case LLI_TT_Q6_K: d_at = 208; break;
    default: break;
    }
    /* Block scales sized so that weights come out near the magnitudes of trained models (|w| of a
     * few hundredths): a weight is d times a sub-scale times a quant, and those products differ by
     * type. Without this, K-quant and q8_0 weights reach tens, and activations overflow F16 caches.
     * Scales stay within F16's normal range (>= 2^-14). */
    float d_lo = 0.001f, d_span = 0.02f; /* 4- and 5-bit legacy types: |q - 8| of a few */
    switch (type) {
    case LLI_TT_Q8_0: d_lo = 2e-4f, d_span = 4e-4f; break;   /* |q| up to 127 */
    case LLI_TT_Q2_K: d_lo = 1e-3f, d_span = 2e-3f; break;   /* 4-bit sub-scales, 2-bit quants */
    case LLI_TT_Q3_K: d_lo = 2e-4f, d_span = 4e-4f; break;   /* 6-bit signed sub-scales, 3-bit quants */
    case LLI_TT_Q4_K: d_lo = 7e-5f, d_span = 1e-4f; break;   /* 6-bit sub-scales, 4-bit quants */
    case LLI_TT_Q5_K: d_lo = 6.2e-5f, d_span = 4e-5f; break; /* 6-bit sub-scales, 5-bit quants */
    case LLI_TT_Q6_K: d_lo = 6.2e-5f, d_span = 4e-5f; break; /* 8-bit sub-scales, 6-bit quants */
    default: break;
    }
    const int k_quant = type == LLI_TT_Q2_K || type == LLI_TT_Q4_K || type == LLI_TT_Q5_K;
    const uint64_t per_block = m_at >= 0 ? 2 : 1;
    for (uint64_t b = off / bb; b < (off + len) / bb; b++) {
        uint8_t *blk = p + (b * bb - off);
        uint64_t k = base + b * per_block + 1;
        put_half(blk + d_at, d_lo + d_span * uniform(s0, k));
        /* q4_1/q5_1 add the minimum (so negative for zero-centred weights); K-quants subtract it,
         * times a sub-block minimum, so theirs is on the scale of d. */
        if (m_at >= 0)
            put_half(blk + m_at, k_quant ? d_lo + d_span * uniform(s0, k + 1)
                                         : (type == LLI_TT_Q4_1 || type == LLI_TT_Q5_1 ? -0.1f : 0.01f) * uniform(s0, k + 1));
    }
    return 0;
}

int gguf_fill_random(void *buf, uint64_t bytes, int type, uint64_t seed, float mean, float std) {
    return gguf_fill_random_part(buf, type, seed, mean, std, bytes, 0, bytes);
}

/* ---- encoding ------------------------------------------------------------------------------- */

/* Where the bytes go: a FILE (streamed) or one memory buffer (encode). */
typedef struct sink {
    FILE *f;
    uint8_t *mem;
    uint64_t pos;
    uint8_t *chunk; /* scratch for random tensors when streaming */
    size_t chunk_cap;
} sink;

static int sink_put(sink *s, const void *p, size_t n) {
    if (s->f) {
        if (n && fwrite(p, 1, n, s->f) != n) return -1;
    } else if (n) {
        memcpy(s->mem + s->pos, p, n);
    }
    s->pos += n;
    return 0;
}

static int sink_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (sink_put(s, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

static int sink_tensor(sink *s, const wtensor *t) {
    if (t->data) return sink_put(s, t->data, (size_t)t->bytes);
    if (!s->f) {
        gguf_fill_random(s->mem + s->pos, t->bytes, t->type, t->seed, t->mean, t->std);
        s->pos += t->bytes;
        return 0;
    }
    uint64_t bb = lli_ttype_by_id(t->type)->block_bytes, step = s->chunk_cap / bb * bb;
    for (uint64_t off = 0; off < t->bytes; off += step) {
        uint64_t n = t->bytes - off < step ? t->bytes - off : step;
        gguf_fill_random_part(s->chunk, t->type, t->seed, t->mean, t->std, t->bytes, off, n);
        if (sink_put(s, s->chunk, (size_t)n)) return -1;
    }
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Everything before the data section (header, keys, tensor infos, padding), and the data size. */
static int encode_meta(const gguf_writer *w, lli_bytebuf *b, uint64_t *data_len) {
    uint64_t off = 0;
    int bad = lli_bytebuf_put(b, "GGUF", 4) || lli_bytebuf_u32(b, 3) || lli_bytebuf_u64(b, w->n_t) ||
              lli_bytebuf_u64(b, w->n_kv) || lli_bytebuf_put(b, w->kv.p, w->kv.len);
    for (size_t i = 0; !bad && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        off = align_up(off, w->alignment);
        bad = put_str(b, t->name) || lli_bytebuf_u32(b, (uint32_t)t->n_dims);
        for (int d = 0; !bad && d < t->n_dims; d++) bad = lli_bytebuf_u64(b, (uint64_t)t->ne[d]);
        bad = bad || lli_bytebuf_u32(b, (uint32_t)t->type) || lli_bytebuf_u64(b, off);
        if (t->bytes > UINT64_MAX / 2 - off) return fail(EOVERFLOW);
        off += t->bytes;
    }
    size_t pad = (size_t)(align_up(b->len, w->alignment) - b->len);
    for (size_t i = 0; !bad && i < pad; i++) bad = lli_bytebuf_put(b, "", 1);
    if (bad) return fail(ENOMEM);
    *data_len = off;
    return 0;
}

static int encode_data(const gguf_writer *w, sink *s, void (*progress)(uint64_t, uint64_t, void *), void *arg,
                       uint64_t data_len) {
    uint64_t at = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (sink_zeros(s, align_up(at, w->alignment) - at) || sink_tensor(s, t)) return -1;
        at = align_up(at, w->alignment) + t->bytes;
        if (progress) progress(at, data_len, arg);
    }
    return 0;
}

int gguf_writer_encode(gguf_writer *w, uint8_t **out, size_t *len) {
    if (!w || !out || !len) return fail(EINVAL);
    *out = NULL;
    *len = 0;
    lli_bytebuf meta = {0};
    uint64_t data_len;
    if (encode_meta(w, &meta, &data_len)) {
        lli_bytebuf_free(&meta);
        return -1;
    }
    if (data_len > SIZE_MAX - meta.len) {
        lli_bytebuf_free(&meta);
        return fail(ENOMEM);
    }
    size_t total = meta.len + (size_t)data_len;
    sink s = {.mem = malloc(total ? total : 1)};
    if (!s.mem) {
        lli_bytebuf_free(&meta);
        return fail(ENOMEM);
    }
    sink_put(&s, meta.p, meta.len);
    lli_bytebuf_free(&meta);
    encode_data(w, &s, NULL, NULL, data_len);
    *out = s.mem;
    *len = total;
    return 0;
}

int gguf_writer_write(gguf_writer *w, const char *path, void (*progress)(uint64_t, uint64_t, void *), void *arg) {
    if (!w || !path) return fail(EINVAL);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) return fail(ENAMETOOLONG);
    lli_bytebuf meta = {0};
    uint64_t data_len;
    if (encode_meta(w, &meta, &data_len)) {
        lli_bytebuf_free(&meta);
        return -1;
    }
    sink s = {.chunk_cap = CHUNK_BYTES};
    s.chunk = malloc(s.chunk_cap);
    s.f = s.chunk ? fopen(tmp, "wbe") : NULL;
    int bad = !s.f;
    if (!s.chunk) errno = ENOMEM;
    bad = bad || sink_put(&s, meta.p, meta.len) || encode_data(w, &s, progress, arg, data_len);
    lli_bytebuf_free(&meta);
    /* Flushed to the disk before the rename, so that a crash leaves the old file or the new one. */
    if (!bad && (fflush(s.f) != 0 || fsync(fileno(s.f)) != 0)) bad = 1;
    int e = errno;
    if (s.f && fclose(s.f) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
    free(s.chunk);
    if (bad) {
        if (s.f) unlink(tmp);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}
