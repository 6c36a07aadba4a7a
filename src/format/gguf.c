/* GGUF reader. The file is parsed with a cursor that refuses to read past the end; every count and
 * length is compared with the bytes that remain before anything is allocated or read for it, so a
 * hostile count can never cause a huge allocation or an over-read. Allocations are bounded by a
 * small multiple of the file's size. */
#include "format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/le.h"
#include "format/tensor_types.h"

/* The smallest possible key (8-byte length, empty name, 4-byte type, 1-byte value) and tensor info
 * (8-byte length, empty name, n_dims, one dimension, type, offset): used to refuse counts that the
 * remaining bytes cannot hold before allocating for them. */
#define MIN_KV_BYTES 13
#define MIN_TENSOR_BYTES 32
/* Larger dimensions cannot fit any file: even at the densest type they would need hundreds of GB. */
#define MAX_DIM ((uint64_t)1 << 40)
#define MAX_ROWS ((int64_t)1 << 50)
#define MAX_ALIGNMENT (1 << 20)

typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static int take(cursor *c, size_t n, const uint8_t **out) {
    if (n > left(c)) return -1;
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v) {
    const uint8_t *b;
    if (take(c, 4, &b)) return -1;
    *v = lli_get_le32(b);
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v) {
    const uint8_t *b;
    if (take(c, 8, &b)) return -1;
    *v = lli_get_le64(b);
    return 0;
}

/* 0; -1 when the length itself is cut; -2 when the length claims more than remains (*claimed says
 * how much, so that the message can tell a cut file from a hostile length). */
static int rd_str(cursor *c, gguf_str *s, uint64_t *claimed) {
    uint64_t len;
    const uint8_t *b;
    if (rd_u64(c, &len)) return -1;
    *claimed = len;
    if (len > left(c)) return -2;
    take(c, (size_t)len, &b);
    s->ptr = (const char *)b;
    s->len = len;
    return 0;
}

size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* A name from the file, for a message: cut, with bytes that would garble a terminal replaced. */
enum { NAME_CAP = 96 };
static void printable(gguf_str s, char buf[NAME_CAP]) {
    size_t n = 0;
    for (uint64_t i = 0; s.ptr && i < s.len && n < NAME_CAP - 4; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[n++] = ch >= 32 && ch != 127 ? (char)ch : '?';
    }
    if (s.ptr && s.len > n) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
}

static lli_status truncated(const char *what, int rc, uint64_t claimed, size_t remain) {
    if (rc == -2)
        return lli_fail(LLI_E_FORMAT, "truncated while reading %s: a string of %llu bytes is claimed, %zu remain", what,
                        (unsigned long long)claimed, remain);
    return lli_fail(LLI_E_FORMAT, "truncated while reading %s", what);
}

static lli_status parse_value(cursor *c, gguf_kv *kv, uint64_t i) {
    char name[NAME_CAP], what[NAME_CAP + 64];
    printable(kv->key, name);
    snprintf(what, sizeof what, "key %llu (%s)", (unsigned long long)i, name);
    uint64_t claimed = 0;
    int rc;
    if (kv->type == GGUF_STRING) {
        kv->strs = malloc(sizeof *kv->strs);
        if (!kv->strs) return lli_fail(LLI_E_NOMEM, "out of memory reading %s", what);
        if ((rc = rd_str(c, &kv->strs[0], &claimed))) return truncated(what, rc, claimed, left(c));
        kv->n = 1;
        return LLI_OK;
    }
    if (kv->type == GGUF_ARRAY) {
        if (rd_u32(c, &kv->elem_type) || rd_u64(c, &kv->n)) return truncated(what, -1, 0, 0);
        if (kv->elem_type == GGUF_ARRAY)
            return lli_fail(LLI_E_FORMAT, "%s is a nested array, which GGUF readers do not accept", what);
        /* Each string needs at least its 8-byte length; a fixed-size element its size. */
        size_t es = kv->elem_type == GGUF_STRING ? 8 : gguf_scalar_size(kv->elem_type);
        if (!es) return lli_fail(LLI_E_FORMAT, "%s holds an array of unknown type %u", what, kv->elem_type);
        if (kv->n > left(c) / es)
            return lli_fail(LLI_E_FORMAT, "%s claims %llu elements, more than the file can hold (%zu bytes remain)", what,
                            (unsigned long long)kv->n, left(c));
        if (kv->elem_type != GGUF_STRING) return take(c, (size_t)kv->n * es, &kv->data) ? truncated(what, -1, 0, 0) : LLI_OK;
        kv->strs = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->strs);
        if (!kv->strs) return lli_fail(LLI_E_NOMEM, "out of memory for the %llu strings of %s", (unsigned long long)kv->n, what);
        for (uint64_t k = 0; k < kv->n; k++)
            if ((rc = rd_str(c, &kv->strs[k], &claimed))) {
                char at[sizeof what + 64];
                snprintf(at, sizeof at, "%s, string %llu of %llu", what, (unsigned long long)k, (unsigned long long)kv->n);
                return truncated(at, rc, claimed, left(c));
            }
        return LLI_OK;
    }
    size_t sz = gguf_scalar_size(kv->type);
    if (!sz) return lli_fail(LLI_E_FORMAT, "%s has unknown value type %u", what, kv->type);
    kv->n = 1;
    return take(c, sz, &kv->data) ? truncated(what, -1, 0, 0) : LLI_OK;
}

static lli_status parse_tensor(cursor *c, gguf_tensor *t, uint64_t i) {
    char name[NAME_CAP], what[NAME_CAP + 64];
    uint64_t claimed = 0;
    int rc;
    snprintf(what, sizeof what, "the name of tensor %llu", (unsigned long long)i);
    if ((rc = rd_str(c, &t->name, &claimed))) return truncated(what, rc, claimed, left(c));
    printable(t->name, name);
    snprintf(what, sizeof what, "tensor %llu (%s)", (unsigned long long)i, name);
    if (rd_u32(c, &t->n_dims)) return truncated(what, -1, 0, 0);
    if (t->n_dims < 1 || t->n_dims > 4)
        return lli_fail(LLI_E_FORMAT, "tensor %s has %u dimensions (1 to 4 allowed)", name, t->n_dims);
    int64_t rows = 1;
    for (int d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if ((uint32_t)d >= t->n_dims) continue;
        uint64_t v;
        if (rd_u64(c, &v)) return truncated(what, -1, 0, 0);
        if (v == 0 || v > MAX_DIM)
            return lli_fail(LLI_E_FORMAT, "tensor %s has dimension %d = %llu (1 to 2^40 allowed)", name, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        if (d > 0) {
            if (rows > MAX_ROWS / t->ne[d]) return lli_fail(LLI_E_FORMAT, "tensor %s has too many rows", name);
            rows *= t->ne[d];
        }
    }
    if (rd_u32(c, &t->type) || rd_u64(c, &t->offset)) return truncated(what, -1, 0, 0);
    const lli_ttype_info *tt = lli_ttype_by_id((int)t->type);
    if (!tt) return lli_fail(LLI_E_UNSUPPORTED, "tensor %s has type %u, which is not supported", name, t->type);
    t->bytes = lli_ttype_bytes(tt, t->ne[0], rows);
    if (!t->bytes)
        return lli_fail(LLI_E_FORMAT, "tensor %s: %lld elements per row is not a multiple of %s's block of %u", name,
                        (long long)t->ne[0], tt->name, tt->block);
    return LLI_OK;
}

static uint64_t hash_name(const gguf_str *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < s->len; i++) h = (h ^ (uint8_t)s->ptr[i]) * 0x100000001b3ull;
    return h;
}

/* Names at base + i * stride (keys or tensor names). A hash table keeps this linear: a file may
 * claim millions of names, and comparing every pair would let it stall the reader.
 * Returns 0 and *dup = the later index of a repeated name, or UINT64_MAX if none; -1 if out of memory. */
static int find_duplicate(const void *base, size_t stride, uint64_t n, uint64_t *dup, uint64_t *first) {
    *dup = UINT64_MAX;
    if (n < 2) return 0;
    size_t cap = 4;
    while (cap < n * 2) cap *= 2;
    uint64_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return -1;
    memset(slot, 0xff, cap * sizeof *slot);
    for (uint64_t i = 0; i < n && *dup == UINT64_MAX; i++) {
        const gguf_str *s = (const gguf_str *)((const char *)base + i * stride);
        for (size_t h = (size_t)hash_name(s) & (cap - 1);; h = (h + 1) & (cap - 1)) {
            if (slot[h] == UINT64_MAX) {
                slot[h] = i;
                break;
            }
            const gguf_str *o = (const gguf_str *)((const char *)base + slot[h] * stride);
            if (o->len == s->len && !memcmp(o->ptr, s->ptr, (size_t)s->len)) {
                *dup = i, *first = slot[h];
                break;
            }
        }
    }
    free(slot);
    return 0;
}

static lli_status parse(gguf_file *f) {
    cursor c = {f->map, f->size, 0};
    const uint8_t *magic;
    if (take(&c, 4, &magic)) return lli_fail(LLI_E_FORMAT, "truncated while reading the magic (%zu bytes)", f->size);
    if (memcmp(magic, "GGUF", 4) != 0) return lli_fail(LLI_E_FORMAT, "not a GGUF file (bad magic)");
    if (rd_u32(&c, &f->version)) return lli_fail(LLI_E_FORMAT, "truncated while reading the version");
    if (f->version != 2 && f->version != 3) {
        /* A big-endian file reads as a version with the low bytes zero. */
        int swapped = f->version && !(f->version & 0xffff);
        return lli_fail(LLI_E_FORMAT, "unsupported GGUF version %u%s", f->version,
                        swapped ? " (a big-endian file? only little-endian files are read)" : "");
    }
    if (rd_u64(&c, &f->n_tensors)) return lli_fail(LLI_E_FORMAT, "truncated while reading the tensor count");
    if (rd_u64(&c, &f->n_kv)) return lli_fail(LLI_E_FORMAT, "truncated while reading the key count");
    /* Each count is checked just before its section, so that a file cut inside the keys is
     * reported where it was cut rather than as too short for its tensors. */
    if (f->n_kv > left(&c) / MIN_KV_BYTES)
        return lli_fail(LLI_E_FORMAT, "%llu keys claimed, more than the file can hold (%zu bytes remain)",
                        (unsigned long long)f->n_kv, left(&c));
    f->kv = calloc((size_t)(f->n_kv ? f->n_kv : 1), sizeof *f->kv);
    if (!f->kv) return lli_fail(LLI_E_NOMEM, "out of memory for %llu keys", (unsigned long long)f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        uint64_t claimed = 0;
        char what[NAME_CAP + 64];
        snprintf(what, sizeof what, "the name of key %llu", (unsigned long long)i);
        int rc = rd_str(&c, &kv->key, &claimed);
        if (rc) return truncated(what, rc, claimed, left(&c));
        if (rd_u32(&c, &kv->type)) {
            char name[NAME_CAP];
            printable(kv->key, name);
            snprintf(what, sizeof what, "key %llu (%s)", (unsigned long long)i, name);
            return truncated(what, -1, 0, 0);
        }
        lli_status st = parse_value(&c, kv, i);
        if (st) return st;
    }
    uint64_t dup, first;
    if (find_duplicate(f->kv, sizeof *f->kv, f->n_kv, &dup, &first)) return lli_fail(LLI_E_NOMEM, "out of memory");
    if (dup != UINT64_MAX) {
        char name[NAME_CAP];
        printable(f->kv[dup].key, name);
        return lli_fail(LLI_E_FORMAT, "key %s appears twice (keys %llu and %llu)", name, (unsigned long long)first,
                        (unsigned long long)dup);
    }
    f->alignment = 32;
    if (gguf_find(f, "general.alignment")) {
        int64_t a = 0;
        if (gguf_get_i64(f, "general.alignment", &a))
            return lli_fail(LLI_E_FORMAT, "general.alignment is not a single integer");
        if (a <= 0 || a > MAX_ALIGNMENT || (a & (a - 1)))
            return lli_fail(LLI_E_FORMAT, "general.alignment is %lld, not a power of two up to 2^20", (long long)a);
        f->alignment = (uint64_t)a;
    }
    if (f->n_tensors > left(&c) / MIN_TENSOR_BYTES)
        return lli_fail(LLI_E_FORMAT, "%llu tensors claimed, more than the file can hold (%zu bytes remain)",
                        (unsigned long long)f->n_tensors, left(&c));
    f->tensors = calloc((size_t)(f->n_tensors ? f->n_tensors : 1), sizeof *f->tensors);
    if (!f->tensors) return lli_fail(LLI_E_NOMEM, "out of memory for %llu tensors", (unsigned long long)f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        lli_status st = parse_tensor(&c, &f->tensors[i], i);
        if (st) return st;
    }
    if (find_duplicate(f->tensors, sizeof *f->tensors, f->n_tensors, &dup, &first))
        return lli_fail(LLI_E_NOMEM, "out of memory");
    if (dup != UINT64_MAX) {
        char name[NAME_CAP];
        printable(f->tensors[dup].name, name);
        return lli_fail(LLI_E_FORMAT, "tensor %s appears twice (tensors %llu and %llu)", name, (unsigned long long)first,
                        (unsigned long long)dup);
    }
    /* c.pos <= size and the alignment is at most 2^20, so this cannot overflow. */
    f->data_offset = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char name[NAME_CAP];
        printable(t->name, name);
        if (t->offset % f->alignment)
            return lli_fail(LLI_E_FORMAT, "tensor %s: offset %llu is not a multiple of the alignment %llu", name,
                            (unsigned long long)t->offset, (unsigned long long)f->alignment);
        if (f->data_offset > f->size || t->offset > f->size - f->data_offset || t->bytes > f->size - f->data_offset - t->offset)
            return lli_fail(LLI_E_FORMAT,
                            "tensor %s: data (%llu bytes at %llu in the data section, which starts at %llu) lies past the "
                            "end of the file (%zu bytes)",
                            name, (unsigned long long)t->bytes, (unsigned long long)t->offset,
                            (unsigned long long)f->data_offset, f->size);
        t->data = (const uint8_t *)f->map + f->data_offset + t->offset;
    }
    return LLI_OK;
}

lli_status gguf_parse(const void *buf, size_t size, gguf_file **out) {
    if (!out) return lli_fail(LLI_E_INVALID_ARG, "gguf_parse: out is NULL");
    *out = NULL;
    if (!buf) return lli_fail(LLI_E_INVALID_ARG, "gguf_parse: no buffer");
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return lli_fail(LLI_E_NOMEM, "out of memory");
    f->map = (void *)buf;
    f->size = size;
    lli_status st = parse(f);
    if (st) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return LLI_OK;
}

lli_status gguf_open(const char *path, gguf_file **out) {
    if (!out || !path) return lli_fail(LLI_E_INVALID_ARG, "gguf_open: NULL argument");
    *out = NULL;
    int fd;
    uint64_t size;
    LLI_TRY(lli_open_regular(path, &fd, &size));
    if (size == 0) {
        close(fd);
        return lli_fail(LLI_E_FORMAT, "%s: not a GGUF file (empty)", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) return lli_fail(lli_errno_status(err), "cannot map %s: %s", path, strerror(err));
    lli_status st = gguf_parse(map, (size_t)size, out);
    if (st) {
        munmap(map, (size_t)size);
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
    if (!f || !key || !f->kv) return NULL;
    size_t n = strlen(key);
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key.len == n && !memcmp(f->kv[i].key.ptr, key, n)) return &f->kv[i];
    return NULL;
}

static int scalar_i64(uint32_t type, const uint8_t *p, int64_t *out) {
    uint64_t u = 0;
    size_t sz = gguf_scalar_size(type);
    for (size_t i = 0; i < sz; i++) u |= (uint64_t)p[i] << (8 * i);
    switch (type) {
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: *out = (int64_t)u; return 0;
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
        uint32_t bits = lli_get_le32(p);
        float f;
        memcpy(&f, &bits, 4);
        *out = f;
        return 0;
    }
    if (type == GGUF_FLOAT64) {
        uint64_t bits = lli_get_le64(p);
        memcpy(out, &bits, 8);
        return 0;
    }
    int64_t i;
    if (scalar_i64(type, p, &i)) return -1;
    *out = (double)i;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || !kv->data || kv->type == GGUF_ARRAY) return -1;
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
    if (!kv || kv->type != GGUF_ARRAY || i >= kv->n || !kv->data) return -1;
    return scalar_f64(kv->elem_type, kv->data + i * gguf_scalar_size(kv->elem_type), out);
}

int gguf_arr_i64(const gguf_kv *kv, uint64_t i, int64_t *out) {
    if (!kv || kv->type != GGUF_ARRAY || i >= kv->n || !kv->data) return -1;
    return scalar_i64(kv->elem_type, kv->data + i * gguf_scalar_size(kv->elem_type), out);
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name || !f->tensors) return NULL;
    size_t n = strlen(name);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name.len == n && !memcmp(f->tensors[i].name.ptr, name, n)) return &f->tensors[i];
    return NULL;
}
