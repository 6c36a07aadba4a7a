#include "gguf_write.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytebuf.h"
#include "gguf.h"
#include "tensor_types.h"

#define ALIGN 32

typedef struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    uint64_t bytes, offset, seed;
    float mean, std;
} wtensor;

struct gguf_writer {
    lli_bytebuf kv;
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint64_t data_len;
};

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    lli_bytebuf_free(&w->kv);
    free(w);
}

static int put(gguf_writer *w, const void *p, size_t n) { return lli_bytebuf_put(&w->kv, p, n); }

static int put_u32(gguf_writer *w, uint32_t v) { return lli_bytebuf_u32(&w->kv, v); }
static int put_u64(gguf_writer *w, uint64_t v) { return lli_bytebuf_u64(&w->kv, v); }
static int put_str(gguf_writer *w, const char *s) { return put_u64(w, strlen(s)) || put(w, s, strlen(s)); }
static int key(gguf_writer *w, const char *k, uint32_t type) {
    w->n_kv++;
    return put_str(w, k) || put_u32(w, type);
}

int gguf_writer_str(gguf_writer *w, const char *k, const char *v) { return key(w, k, GGUF_STRING) || put_str(w, v); }
int gguf_writer_u32(gguf_writer *w, const char *k, uint32_t v) { return key(w, k, GGUF_UINT32) || put_u32(w, v); }
int gguf_writer_i32(gguf_writer *w, const char *k, int32_t v) { return key(w, k, GGUF_INT32) || put(w, &v, 4); }
int gguf_writer_u64(gguf_writer *w, const char *k, uint64_t v) { return key(w, k, GGUF_UINT64) || put_u64(w, v); }
int gguf_writer_f32(gguf_writer *w, const char *k, float v) { return key(w, k, GGUF_FLOAT32) || put(w, &v, 4); }
int gguf_writer_bool(gguf_writer *w, const char *k, int v) {
    uint8_t b = v != 0;
    return key(w, k, GGUF_BOOL) || put(w, &b, 1);
}
int gguf_writer_arr_str(gguf_writer *w, const char *k, const char *const *v, size_t n) {
    if (key(w, k, GGUF_ARRAY) || put_u32(w, GGUF_STRING) || put_u64(w, n)) return -1;
    for (size_t i = 0; i < n; i++)
        if (put_str(w, v[i])) return -1;
    return 0;
}
int gguf_writer_arr_f32(gguf_writer *w, const char *k, const float *v, size_t n) {
    return key(w, k, GGUF_ARRAY) || put_u32(w, GGUF_FLOAT32) || put_u64(w, n) || put(w, v, n * 4);
}
int gguf_writer_arr_i32(gguf_writer *w, const char *k, const int32_t *v, size_t n) {
    return key(w, k, GGUF_ARRAY) || put_u32(w, GGUF_INT32) || put_u64(w, n) || put(w, v, n * 4);
}

int gguf_writer_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4], uint64_t seed,
                       float mean, float std) {
    const lli_ttype_info *tt = lli_ttype_by_id(type);
    if (!tt || n_dims < 1 || n_dims > 4) return -1;
    int64_t rows = 1;
    for (int d = 1; d < n_dims; d++) rows *= ne[d];
    uint64_t bytes = lli_ttype_bytes(tt, ne[0], rows);
    if (!bytes) return -1;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return -1;
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return -1;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->bytes = bytes;
    t->offset = (w->data_len + ALIGN - 1) / ALIGN * ALIGN;
    t->seed = seed;
    t->mean = mean;
    t->std = std;
    w->data_len = t->offset + bytes;
    w->n_t++;
    return 0;
}

/* ---- random data ---------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) { return (float)((splitmix(s) >> 40) * (1.0 / 16777216.0)); }

static float normal(uint64_t *s) {
    float u1 = uniform(s), u2 = uniform(s);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    float a = fabsf(f);
    if (a < 6.1e-5f) return (uint16_t)sign; /* flush tiny values to zero: only normal numbers needed */
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

static void put_half(uint8_t *p, float v) {
    uint16_t h = to_f16(v);
    memcpy(p, &h, 2);
}

int gguf_fill_random(void *buf, uint64_t bytes, int type, uint64_t seed, float mean, float std) {
    const lli_ttype_info *tt = lli_ttype_by_id(type);
    if (!tt || bytes % tt->block_bytes) return -1;
    uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
    uint8_t *p = buf;
    if (type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16) {
        for (uint64_t i = 0; i < bytes / tt->block_bytes; i++) {
            float v = mean + std * normal(&s);
            if (type == LLI_TT_F32) memcpy(p + 4 * i, &v, 4);
            else {
                uint16_t h = type == LLI_TT_F16 ? to_f16(v) : to_bf16(v);
                memcpy(p + 2 * i, &h, 2);
            }
        }
        return 0;
    }
    /* Quantized: random bits everywhere, then every block's scales set to small finite values. */
    for (uint64_t i = 0; i + 8 <= bytes; i += 8) {
        uint64_t r = splitmix(&s);
        memcpy(p + i, &r, 8);
    }
    for (uint64_t i = bytes & ~(uint64_t)7; i < bytes; i++) p[i] = (uint8_t)splitmix(&s);
    int d_at = 0, m_at = -1;
    switch (type) {
    case LLI_TT_Q4_1: case LLI_TT_Q5_1: case LLI_TT_Q4_K: case LLI_TT_Q5_K: m_at = 2; break;
    case LLI_TT_Q2_K: d_at = 80, m_at = 82; break;
    case LLI_TT_Q3_K: d_at = 108; break;
    case LLI_TT_Q6_K: d_at = 208; break;
    default: break;
    }
    for (uint64_t b = 0; b < bytes; b += tt->block_bytes) {
        put_half(p + b + d_at, 0.001f + 0.02f * uniform(&s));
        if (m_at >= 0) put_half(p + b + m_at, (type == LLI_TT_Q4_1 || type == LLI_TT_Q5_1 ? -0.1f : 0.01f) * uniform(&s));
    }
    return 0;
}

/* ---- writing -------------------------------------------------------------------------------- */

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int gguf_writer_write(gguf_writer *w, const char *path, void (*progress)(uint64_t, uint64_t, void *), void *arg) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid()) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    uint32_t version = 3;
    uint64_t n_t = w->n_t, pos = 0;
    int bad = write_all(f, "GGUF", 4) || write_all(f, &version, 4) || write_all(f, &n_t, 8) ||
              write_all(f, &w->n_kv, 8) || write_all(f, w->kv.p, w->kv.len);
    pos = 24 + w->kv.len;
    for (size_t i = 0; !bad && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name), ne;
        uint32_t nd = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        bad |= write_all(f, &len, 8) || write_all(f, t->name, len) || write_all(f, &nd, 4);
        for (int d = 0; d < t->n_dims; d++) ne = (uint64_t)t->ne[d], bad |= write_all(f, &ne, 8);
        bad |= write_all(f, &type, 4) || write_all(f, &t->offset, 8);
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    static const uint8_t zeros[ALIGN];
    if (!bad && pos % ALIGN) bad = write_all(f, zeros, (size_t)(ALIGN - pos % ALIGN));
    uint64_t data = 0;
    for (size_t i = 0; !bad && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (t->offset > data) bad = write_all(f, zeros, (size_t)(t->offset - data));
        uint8_t *buf = malloc((size_t)t->bytes);
        if (!buf) bad = 1;
        else {
            gguf_fill_random(buf, t->bytes, t->type, t->seed, t->mean, t->std);
            bad = write_all(f, buf, (size_t)t->bytes);
            free(buf);
        }
        data = t->offset + t->bytes;
        if (progress) progress(data, w->data_len, arg);
    }
    if (fclose(f) != 0) bad = 1;
    if (!bad && rename(tmp, path) != 0) bad = 1;
    if (bad) {
        int e = errno;
        unlink(tmp);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}
