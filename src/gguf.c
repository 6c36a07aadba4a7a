/* GGUF reader. The file is parsed with a cursor that refuses to read past the end; every count is
 * compared with the bytes that remain before anything is allocated for it, so a hostile count can
 * never cause a huge allocation. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "tensor_types.h"

typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **out) {
    if (n > c->size - c->pos) return -1;
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v) {
    const uint8_t *b;
    if (take(c, 4, &b)) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v) {
    uint32_t lo, hi;
    if (rd_u32(c, &lo) || rd_u32(c, &hi)) return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static int rd_str(cursor *c, gguf_str *s) {
    uint64_t len;
    const uint8_t *b;
    if (rd_u64(c, &len) || len > c->size - c->pos || take(c, (size_t)len, &b)) return -1;
    s->ptr = (const char *)b;
    s->len = len;
    return 0;
}

static size_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void key_text(const gguf_kv *kv, char *buf, size_t cap) {
    size_t n = kv->key.len < cap - 1 ? (size_t)kv->key.len : cap - 1;
    if (kv->key.ptr) memcpy(buf, kv->key.ptr, n);
    else n = 0;
    buf[n] = '\0';
}

static lli_status parse_value(cursor *c, gguf_kv *kv, uint64_t i) {
    char key[80];
    key_text(kv, key, sizeof key);
    if (kv->type == GGUF_STRING) {
        kv->strs = malloc(sizeof *kv->strs);
        if (!kv->strs) return lli_fail(LLI_E_NOMEM, "out of memory");
        if (rd_str(c, &kv->strs[0]))
            return lli_fail(LLI_E_FORMAT, "truncated while reading the value of key %llu (%s)", (unsigned long long)i, key);
        kv->n = 1;
        return LLI_OK;
    }
    if (kv->type == GGUF_ARRAY) {
        if (rd_u32(c, &kv->elem_type) || rd_u64(c, &kv->n))
            return lli_fail(LLI_E_FORMAT, "truncated while reading the array header of key %llu (%s)", (unsigned long long)i, key);
        if (kv->elem_type == GGUF_ARRAY)
            return lli_fail(LLI_E_FORMAT, "key %s is a nested array, which GGUF readers do not accept", key);
        if (kv->elem_type == GGUF_STRING) {
            /* Each string needs at least its 8-byte length. */
            if (kv->n > (c->size - c->pos) / 8)
                return lli_fail(LLI_E_FORMAT, "key %s claims %llu strings, more than the file can hold", key,
                                (unsigned long long)kv->n);
            kv->strs = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->strs);
            if (!kv->strs) return lli_fail(LLI_E_NOMEM, "out of memory for key %s", key);
            for (uint64_t k = 0; k < kv->n; k++)
                if (rd_str(c, &kv->strs[k]))
                    return lli_fail(LLI_E_FORMAT, "truncated while reading string %llu of key %s", (unsigned long long)k, key);
            return LLI_OK;
        }
        size_t es = scalar_size(kv->elem_type);
        if (!es) return lli_fail(LLI_E_FORMAT, "key %s has arrays of unknown type %u", key, kv->elem_type);
        if (kv->n > (c->size - c->pos) / es)
            return lli_fail(LLI_E_FORMAT, "key %s claims %llu elements, more than the file can hold", key,
                            (unsigned long long)kv->n);
        return take(c, (size_t)kv->n * es, &kv->data) ? lli_fail(LLI_E_FORMAT, "truncated array %s", key) : LLI_OK;
    }
    size_t sz = scalar_size(kv->type);
    if (!sz) return lli_fail(LLI_E_FORMAT, "key %llu (%s) has unknown value type %u", (unsigned long long)i, key, kv->type);
    kv->n = 1;
    if (take(c, sz, &kv->data))
        return lli_fail(LLI_E_FORMAT, "truncated while reading the value of key %llu (%s)", (unsigned long long)i, key);
    return LLI_OK;
}

static lli_status parse_tensor(cursor *c, gguf_tensor *t, uint64_t i) {
    if (rd_str(c, &t->name)) return lli_fail(LLI_E_FORMAT, "truncated while reading the name of tensor %llu", (unsigned long long)i);
    char name[80];
    size_t n = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
    memcpy(name, t->name.ptr, n);
    name[n] = '\0';
    if (rd_u32(c, &t->n_dims)) return lli_fail(LLI_E_FORMAT, "truncated while reading tensor %s", name);
    if (t->n_dims < 1 || t->n_dims > 4)
        return lli_fail(LLI_E_FORMAT, "tensor %s has %u dimensions (1 to 4 allowed)", name, t->n_dims);
    int64_t rows = 1;
    for (int d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if ((uint32_t)d >= t->n_dims) continue;
        uint64_t v;
        if (rd_u64(c, &v)) return lli_fail(LLI_E_FORMAT, "truncated while reading tensor %s", name);
        if (v == 0 || v > ((uint64_t)1 << 40))
            return lli_fail(LLI_E_FORMAT, "tensor %s has dimension %d = %llu", name, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        if (d > 0) {
            if (rows > (((int64_t)1 << 50) / t->ne[d])) return lli_fail(LLI_E_FORMAT, "tensor %s is too large", name);
            rows *= t->ne[d];
        }
    }
    if (rd_u32(c, &t->type) || rd_u64(c, &t->offset)) return lli_fail(LLI_E_FORMAT, "truncated while reading tensor %s", name);
    const lli_ttype_info *tt = lli_ttype_by_id((int)t->type);
    if (!tt) return lli_fail(LLI_E_UNSUPPORTED, "tensor %s has type %u, which is not supported", name, t->type);
    t->bytes = lli_ttype_bytes(tt, t->ne[0], rows);
    if (!t->bytes)
        return lli_fail(LLI_E_FORMAT, "tensor %s: %lld elements per row is not a multiple of %s's block of %u", name,
                        (long long)t->ne[0], tt->name, tt->block);
    return LLI_OK;
}

static lli_status parse(gguf_file *f) {
    cursor c = {f->map, f->size, 0};
    const uint8_t *magic;
    if (take(&c, 4, &magic)) return lli_fail(LLI_E_FORMAT, "truncated: too short for a GGUF header");
    if (memcmp(magic, "GGUF", 4) != 0) return lli_fail(LLI_E_FORMAT, "not a GGUF file (bad magic)");
    if (rd_u32(&c, &f->version)) return lli_fail(LLI_E_FORMAT, "truncated while reading the version");
    if (f->version != 2 && f->version != 3) return lli_fail(LLI_E_FORMAT, "unsupported GGUF version %u", f->version);
    if (rd_u64(&c, &f->n_tensors) || rd_u64(&c, &f->n_kv))
        return lli_fail(LLI_E_FORMAT, "truncated while reading the tensor and key counts");
    /* A key takes at least 12 bytes (length + type), a tensor at least 28. */
    if (f->n_kv > (f->size - c.pos) / 12)
        return lli_fail(LLI_E_FORMAT, "%llu keys claimed, more than the file can hold", (unsigned long long)f->n_kv);
    if (f->n_tensors > (f->size - c.pos) / 28)
        return lli_fail(LLI_E_FORMAT, "%llu tensors claimed, more than the file can hold", (unsigned long long)f->n_tensors);
    f->kv = calloc((size_t)(f->n_kv ? f->n_kv : 1), sizeof *f->kv);
    f->tensors = calloc((size_t)(f->n_tensors ? f->n_tensors : 1), sizeof *f->tensors);
    if (!f->kv || !f->tensors) return lli_fail(LLI_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        if (rd_str(&c, &kv->key) || rd_u32(&c, &kv->type))
            return lli_fail(LLI_E_FORMAT, "truncated while reading key %llu", (unsigned long long)i);
        lli_status st = parse_value(&c, kv, i);
        if (st) return st;
    }
    f->alignment = 32;
    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        int64_t a;
        if (gguf_get_i64(f, "general.alignment", &a) || a <= 0 || a > (1 << 20) || (a & (a - 1)))
            return lli_fail(LLI_E_FORMAT, "general.alignment is not a power of two up to 2^20");
        f->alignment = (uint64_t)a;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        lli_status st = parse_tensor(&c, &f->tensors[i], i);
        if (st) return st;
        for (uint64_t j = 0; j < i; j++)
            if (f->tensors[j].name.len == f->tensors[i].name.len &&
                !memcmp(f->tensors[j].name.ptr, f->tensors[i].name.ptr, f->tensors[i].name.len))
                return lli_fail(LLI_E_FORMAT, "tensor %.*s appears twice", (int)f->tensors[i].name.len, f->tensors[i].name.ptr);
    }
    f->data_offset = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return lli_fail(LLI_E_FORMAT, "tensor %.*s: offset %llu is not a multiple of the alignment %llu", (int)t->name.len,
                            t->name.ptr, (unsigned long long)t->offset, (unsigned long long)f->alignment);
        if (f->data_offset > f->size || t->offset > f->size - f->data_offset || t->bytes > f->size - f->data_offset - t->offset)
            return lli_fail(LLI_E_FORMAT, "tensor %.*s: data (%llu bytes at %llu) lies past the end of the file", (int)t->name.len,
                            t->name.ptr, (unsigned long long)t->bytes, (unsigned long long)t->offset);
        t->data = (const uint8_t *)f->map + f->data_offset + t->offset;
    }
    return LLI_OK;
}

lli_status gguf_parse(const void *buf, size_t size, gguf_file **out) {
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return lli_fail(LLI_E_NOMEM, "out of memory");
    f->map = (void *)buf;
    f->size = size;
    lli_status st = buf ? parse(f) : lli_fail(LLI_E_INVALID_ARG, "no buffer");
    if (st) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return LLI_OK;
}

lli_status gguf_open(const char *path, gguf_file **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lli_fail(LLI_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lli_fail(LLI_E_IO, "%s is not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return lli_fail(LLI_E_FORMAT, "%s: truncated: the file is empty", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return lli_fail(LLI_E_IO, "cannot map %s: %s", path, strerror(errno));
    lli_status st = gguf_parse(map, (size_t)sb.st_size, out);
    if (st) {
        munmap(map, (size_t)sb.st_size);
        return lli_fail_prefix(st, "%s: ", path);
    }
    (*out)->owns_map = 1;
    return LLI_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; f->kv && i < f->n_kv; i++) free(f->kv[i].strs);
    free(f->kv);
    free(f->tensors);
    if (f->owns_map) munmap(f->map, f->size);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
    size_t n = strlen(key);
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key.len == n && !memcmp(f->kv[i].key.ptr, key, n)) return &f->kv[i];
    return NULL;
}

static int scalar_i64(uint32_t type, const uint8_t *p, int64_t *out) {
    uint64_t u = 0;
    size_t sz = scalar_size(type);
    for (size_t i = 0; i < sz; i++) u |= (uint64_t)p[i] << (8 * i);
    switch (type) {
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_BOOL: *out = (int64_t)u; return 0;
    case GGUF_INT8: *out = (int8_t)u; return 0;
    case GGUF_INT16: *out = (int16_t)u; return 0;
    case GGUF_INT32: *out = (int32_t)u; return 0;
    case GGUF_INT64: *out = (int64_t)u; return 0;
    case GGUF_UINT64: if (u > INT64_MAX) return -1; *out = (int64_t)u; return 0;
    default: return -1;
    }
}

static int scalar_f64(uint32_t type, const uint8_t *p, double *out) {
    if (type == GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        *out = f;
        return 0;
    }
    if (type == GGUF_FLOAT64) {
        memcpy(out, p, 8);
        return 0;
    }
    int64_t i;
    if (type == GGUF_BOOL || scalar_i64(type, p, &i)) return -1;
    *out = (double)i;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->type == GGUF_BOOL || !scalar_size(kv->type)) return -1;
    return scalar_i64(kv->type, kv->data, out);
}

int gguf_get_f64(const gguf_file *f, const char *key, double *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || (kv->type != GGUF_FLOAT32 && kv->type != GGUF_FLOAT64)) return -1;
    return scalar_f64(kv->type, kv->data, out);
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->type != GGUF_BOOL) return -1;
    *out = kv->data[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->type != GGUF_STRING) return -1;
    *out = kv->strs[0];
    return 0;
}

int gguf_arr_f64(const gguf_kv *kv, uint64_t i, double *out) {
    if (kv->type != GGUF_ARRAY || i >= kv->n || !kv->data) return -1;
    return scalar_f64(kv->elem_type, kv->data + i * scalar_size(kv->elem_type), out);
}

int gguf_arr_i64(const gguf_kv *kv, uint64_t i, int64_t *out) {
    if (kv->type != GGUF_ARRAY || i >= kv->n || !kv->data || kv->elem_type == GGUF_FLOAT32 || kv->elem_type == GGUF_FLOAT64)
        return -1;
    return scalar_i64(kv->elem_type, kv->data + i * scalar_size(kv->elem_type), out);
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    size_t n = strlen(name);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name.len == n && !memcmp(f->tensors[i].name.ptr, name, n)) return &f->tensors[i];
    return NULL;
}
