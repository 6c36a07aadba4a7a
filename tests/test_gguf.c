/* The GGUF writer and reader. Files built with gguf_write are read back exactly; then damaged and
 * hostile encodings are refused with a status and a message, never a crash, an over-read or a huge
 * allocation (run under AddressSanitizer too); real files are read, and re-encoded byte for byte.
 *
 * usage: test_gguf [SCRATCH_DIR [VOCAB.gguf...]]
 * Without arguments it uses a fresh directory under /tmp and ../shared/vectors/tokenizer/ggml-vocab-*.gguf.
 * The real model is $LLI_TEST_GGUF, models/SmolLM2-135M-Instruct.Q4_1.gguf or
 * /tmp/dl/SmolLM2-135M-Instruct.Q4_1.gguf: the first that exists (skipped with a note if none). */
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cpu/quant.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "llminfer.h"
#include "support/check.h"
#include "format/tensor_types.h"

static const char *g_dir;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = xmalloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b = (free(b), NULL);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(p, 1, n, f) != n;
    return fclose(f) || bad ? -1 : 0;
}

static uint8_t *encode(gguf_writer *w, size_t *len) {
    uint8_t *b = NULL;
    CHECK(gguf_writer_encode(w, &b, len) == 0 && b, "encode: %s", strerror(errno));
    if (!b) exit(2);
    return b;
}

static int str_is(gguf_str s, const char *want) { return s.len == strlen(want) && !memcmp(s.ptr, want, s.len); }

static float half(const uint8_t *p) {
    unsigned h = (unsigned)p[0] | (unsigned)p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m + 1024), (int)e - 25);
    return h & 0x8000 ? -v : v;
}

static const int k_types[] = {LLI_TT_F32, LLI_TT_F16, LLI_TT_BF16, LLI_TT_Q4_0, LLI_TT_Q4_1, LLI_TT_Q5_0, LLI_TT_Q5_1,
                              LLI_TT_Q8_0, LLI_TT_Q2_K, LLI_TT_Q3_K, LLI_TT_Q4_K, LLI_TT_Q5_K, LLI_TT_Q6_K};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };

/* ---- the writer's metadata, read back ------------------------------------------------------ */

static void test_metadata_round_trip(void) {
    gguf_writer *w = gguf_writer_new();
    const char *strs[] = {"a", "bc", "", "\xc4\xa0h\xc3\xa9"};
    const float f32s[] = {1.5f, -2.0f, 1e-30f};
    const int32_t i32s[] = {7, -8, INT32_MIN};
    const uint32_t u32s[] = {0, 1, UINT32_MAX};
    const uint8_t u8s[] = {0, 255}, bools[] = {1, 0, 1};
    const int16_t i16s[] = {-32768, 32767};
    const uint64_t u64s[] = {UINT64_MAX, 5};
    const int64_t i64s[] = {INT64_MIN, -1};
    const double f64s[] = {3.25, -1e300};
    int bad = gguf_writer_u8(w, "t.u8", 200) || gguf_writer_i8(w, "t.i8", -100) || gguf_writer_u16(w, "t.u16", 60000) ||
              gguf_writer_i16(w, "t.i16", -30000) || gguf_writer_u32(w, "t.u32", 4000000000u) ||
              gguf_writer_i32(w, "t.i32", -2000000000) || gguf_writer_u64(w, "t.u64", (uint64_t)1 << 62) ||
              gguf_writer_i64(w, "t.i64", -((int64_t)1 << 62)) || gguf_writer_f32(w, "t.f32", 0.1f) ||
              gguf_writer_f64(w, "t.f64", 0.1) || gguf_writer_bool(w, "t.bool", 7) || gguf_writer_bool(w, "t.false", 0) ||
              gguf_writer_str(w, "t.str", "hello \xe2\x96\x81 world") || gguf_writer_str(w, "t.empty", "") ||
              gguf_writer_arr_str(w, "a.str", strs, 4) || gguf_writer_arr_f32(w, "a.f32", f32s, 3) ||
              gguf_writer_arr_i32(w, "a.i32", i32s, 3) || gguf_writer_arr_u32(w, "a.u32", u32s, 3) ||
              gguf_writer_arr(w, "a.u8", GGUF_UINT8, u8s, 2) || gguf_writer_arr(w, "a.i16", GGUF_INT16, i16s, 2) ||
              gguf_writer_arr(w, "a.u64", GGUF_UINT64, u64s, 2) || gguf_writer_arr(w, "a.i64", GGUF_INT64, i64s, 2) ||
              gguf_writer_arr(w, "a.f64", GGUF_FLOAT64, f64s, 2) || gguf_writer_arr(w, "a.bool", GGUF_BOOL, bools, 3) ||
              gguf_writer_arr_f32(w, "a.none", NULL, 0) || gguf_writer_arr_str(w, "a.nostr", NULL, 0);
    CHECK(!bad, "adding metadata failed: %s", strerror(errno));
    size_t len;
    uint8_t *buf = encode(w, &len);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    CHECK(gguf_parse(buf, len, &f) == LLI_OK, "parse: %s", lli_last_error());
    if (!f) return free(buf);
    int64_t i;
    double d;
    int b;
    gguf_str s;
    CHECK(f->version == 3 && f->n_kv == 26 && f->n_tensors == 0 && f->alignment == 32, "header");
    static const char *order[] = {"t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.u64", "t.i64", "t.f32"};
    static const uint32_t types[] = {GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32,
                                     GGUF_INT32, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT32};
    for (int k = 0; k < 9; k++)
        CHECK(str_is(f->kv[k].key, order[k]) && f->kv[k].type == types[k] && f->kv[k].n == 1, "key %d: %s", k, order[k]);
    CHECK(gguf_get_i64(f, "t.u8", &i) == 0 && i == 200, "u8 %lld", (long long)i);
    CHECK(gguf_get_i64(f, "t.i8", &i) == 0 && i == -100, "i8 %lld", (long long)i);
    CHECK(gguf_get_i64(f, "t.u16", &i) == 0 && i == 60000, "u16");
    CHECK(gguf_get_i64(f, "t.i16", &i) == 0 && i == -30000, "i16");
    CHECK(gguf_get_i64(f, "t.u32", &i) == 0 && i == 4000000000ll, "u32");
    CHECK(gguf_get_i64(f, "t.i32", &i) == 0 && i == -2000000000, "i32");
    CHECK(gguf_get_i64(f, "t.u64", &i) == 0 && i == (int64_t)1 << 62, "u64");
    CHECK(gguf_get_i64(f, "t.i64", &i) == 0 && i == -((int64_t)1 << 62), "i64");
    CHECK(gguf_get_f64(f, "t.f32", &d) == 0 && d == (double)0.1f, "f32 %.17g", d);
    CHECK(gguf_get_f64(f, "t.f64", &d) == 0 && d == 0.1, "f64 %.17g", d);
    CHECK(gguf_get_bool(f, "t.bool", &b) == 0 && b == 1 && gguf_get_bool(f, "t.false", &b) == 0 && b == 0, "bool");
    CHECK(gguf_get_str(f, "t.str", &s) == 0 && str_is(s, "hello \xe2\x96\x81 world"), "str");
    CHECK(gguf_get_str(f, "t.empty", &s) == 0 && s.len == 0, "empty str");
    /* No silent conversions between kinds. */
    CHECK(gguf_get_i64(f, "t.f32", &i) != 0 && gguf_get_i64(f, "t.bool", &i) != 0 && gguf_get_i64(f, "t.str", &i) != 0 &&
              gguf_get_i64(f, "a.i32", &i) != 0 && gguf_get_f64(f, "t.i32", &d) != 0 && gguf_get_str(f, "t.i32", &s) != 0 &&
              gguf_get_bool(f, "t.u8", &b) != 0 && gguf_get_i64(f, "missing", &i) != 0,
          "type confusion accepted");
    const gguf_kv *a = gguf_find(f, "a.str");
    CHECK(a && a->type == GGUF_ARRAY && a->elem_type == GGUF_STRING && a->n == 4 && str_is(a->strs[0], "a") &&
              str_is(a->strs[1], "bc") && a->strs[2].len == 0 && str_is(a->strs[3], strs[3]),
          "string array");
    CHECK(a && gguf_arr_i64(a, 0, &i) != 0 && gguf_arr_f64(a, 0, &d) != 0, "string array read as numbers");
    a = gguf_find(f, "a.f32");
    CHECK(a && a->n == 3 && gguf_arr_f64(a, 1, &d) == 0 && d == -2.0 && gguf_arr_f64(a, 2, &d) == 0 && d == (double)1e-30f &&
              gguf_arr_f64(a, 3, &d) != 0 && gguf_arr_i64(a, 0, &i) != 0,
          "f32 array");
    a = gguf_find(f, "a.i32");
    CHECK(a && gguf_arr_i64(a, 1, &i) == 0 && i == -8 && gguf_arr_i64(a, 2, &i) == 0 && i == INT32_MIN &&
              gguf_arr_f64(a, 0, &d) == 0 && d == 7.0,
          "i32 array");
    a = gguf_find(f, "a.u32");
    CHECK(a && a->elem_type == GGUF_UINT32 && gguf_arr_i64(a, 2, &i) == 0 && i == UINT32_MAX, "u32 array");
    a = gguf_find(f, "a.u8");
    CHECK(a && a->elem_type == GGUF_UINT8 && gguf_arr_i64(a, 1, &i) == 0 && i == 255, "u8 array");
    a = gguf_find(f, "a.i16");
    CHECK(a && gguf_arr_i64(a, 0, &i) == 0 && i == -32768, "i16 array");
    a = gguf_find(f, "a.u64");
    CHECK(a && gguf_arr_i64(a, 0, &i) != 0 && gguf_arr_i64(a, 1, &i) == 0 && i == 5, "u64 array (2^64-1 does not fit)");
    a = gguf_find(f, "a.i64");
    CHECK(a && gguf_arr_i64(a, 0, &i) == 0 && i == INT64_MIN, "i64 array");
    a = gguf_find(f, "a.f64");
    CHECK(a && gguf_arr_f64(a, 1, &d) == 0 && d == -1e300, "f64 array");
    a = gguf_find(f, "a.bool");
    CHECK(a && a->elem_type == GGUF_BOOL && a->n == 3 && a->data[0] == 1 && a->data[1] == 0, "bool array");
    a = gguf_find(f, "a.none");
    CHECK(a && a->n == 0 && gguf_arr_f64(a, 0, &d) != 0, "empty array");
    a = gguf_find(f, "a.nostr");
    CHECK(a && a->n == 0 && a->elem_type == GGUF_STRING, "empty string array");
    gguf_close(f);
    free(buf);
}

/* Refused calls give the right errno and leave the writer as it was. */
static void test_writer_refusals(void) {
    gguf_writer *w = gguf_writer_new();
    int64_t ne[4] = {64, 2, 1, 1}, bad_ne[4] = {33, 1, 1, 1}, zero_ne[4] = {32, 0, 1, 1};
    gguf_writer_u32(w, "k", 1);
    gguf_writer_tensor(w, "t", LLI_TT_Q4_0, 2, ne, 1, 0, 0.02f);
    size_t len0, len1;
    uint8_t *before = encode(w, &len0);
#define REFUSED(call, e) CHECK((call) == -1 && errno == (e), "%s: errno %d (%s)", #call, errno, strerror(errno))
    REFUSED(gguf_writer_u32(w, "k", 2), EEXIST);
    REFUSED(gguf_writer_str(w, "k", "x"), EEXIST);
    REFUSED(gguf_writer_arr_str(w, "k", (const char *[]){"x"}, 1), EEXIST);
    REFUSED(gguf_writer_u32(w, "", 2), EINVAL);
    REFUSED(gguf_writer_u32(w, NULL, 2), EINVAL);
    REFUSED(gguf_writer_str(w, "s", NULL), EINVAL);
    REFUSED(gguf_writer_arr_str(w, "s", (const char *[]){"x", NULL}, 2), EINVAL);
    REFUSED(gguf_writer_arr(w, "s", GGUF_STRING, "x", 1), EINVAL);
    REFUSED(gguf_writer_arr(w, "s", GGUF_ARRAY, "x", 1), EINVAL);
    REFUSED(gguf_writer_arr(w, "s", 13, "x", 1), EINVAL);
    REFUSED(gguf_writer_tensor(w, "t", LLI_TT_Q4_0, 2, ne, 1, 0, 0.02f), EEXIST);
    REFUSED(gguf_writer_tensor(w, "u", 4, 2, ne, 1, 0, 0.02f), EINVAL);
    REFUSED(gguf_writer_tensor(w, "u", LLI_TT_Q4_0, 0, ne, 1, 0, 0.02f), EINVAL);
    REFUSED(gguf_writer_tensor(w, "u", LLI_TT_Q4_0, 5, ne, 1, 0, 0.02f), EINVAL);
    REFUSED(gguf_writer_tensor(w, "u", LLI_TT_Q4_0, 1, bad_ne, 1, 0, 0.02f), EINVAL);
    REFUSED(gguf_writer_tensor(w, "u", LLI_TT_Q4_0, 2, zero_ne, 1, 0, 0.02f), EINVAL);
    REFUSED(gguf_writer_tensor(w, "", LLI_TT_F32, 1, ne, 1, 0, 0.02f), EINVAL);
    uint8_t data[36] = {0};
    REFUSED(gguf_writer_tensor_data(w, "u", LLI_TT_Q4_0, 2, ne, data, sizeof data, 1), EINVAL); /* needs 72 bytes */
    REFUSED(gguf_writer_tensor_data(w, "u", LLI_TT_Q4_0, 1, ne, NULL, 36, 1), EINVAL);
    REFUSED(gguf_writer_set_alignment(w, 3), EINVAL);
    REFUSED(gguf_writer_set_alignment(w, 0), EINVAL);
    REFUSED(gguf_writer_set_alignment(w, 1u << 21), EINVAL);
    REFUSED(gguf_writer_write(w, "/nonexistent-dir/x.gguf", NULL, NULL), ENOENT);
    uint8_t *after = encode(w, &len1);
    CHECK(len0 == len1 && !memcmp(before, after, len0), "a refused call changed the writer");
    CHECK(gguf_writer_set_alignment(w, 64) == 0, "alignment 64");
    REFUSED(gguf_writer_set_alignment(w, 128), EEXIST);
#undef REFUSED
    free(before), free(after);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Every type, several ranks, random and caller data, at the default and other alignments; encode
 * and write give the same bytes and gguf_open reads them like gguf_parse. */
static void test_tensors(uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    if (alignment != 32) CHECK(gguf_writer_set_alignment(w, alignment) == 0, "set alignment %u", alignment);
    gguf_writer_str(w, "general.architecture", "test");
    char name[64];
    int64_t shapes[4][4] = {{512, 1, 1, 1}, {256, 3, 1, 1}, {256, 2, 2, 1}, {256, 1, 2, 3}};
    for (int k = 0; k < N_TYPES; k++) {
        snprintf(name, sizeof name, "rand.%s", lli_ttype_by_id(k_types[k])->name);
        CHECK(gguf_writer_tensor(w, name, k_types[k], 1 + k % 4, shapes[k % 4], 100 + (uint64_t)k, 0.5f, 0.25f) == 0,
              "add %s", name);
    }
    /* Caller data: one copied, one borrowed (changed after adding: the file must show the change). */
    float copied[40], borrowed[12];
    for (int i = 0; i < 40; i++) copied[i] = (float)i - 20.5f;
    for (int i = 0; i < 12; i++) borrowed[i] = (float)i;
    int64_t ne_c[4] = {8, 5, 1, 1}, ne_b[4] = {12, 1, 1, 1};
    CHECK(gguf_writer_tensor_data(w, "data.copied", LLI_TT_F32, 2, ne_c, copied, sizeof copied, 1) == 0, "copied");
    CHECK(gguf_writer_tensor_data(w, "data.borrowed", LLI_TT_F32, 1, ne_b, borrowed, sizeof borrowed, 0) == 0, "borrowed");
    copied[0] = 999, borrowed[0] = 777;
    size_t len;
    uint8_t *buf = encode(w, &len);
    char path[4096];
    snprintf(path, sizeof path, "%s/tensors-%u.gguf", g_dir, alignment);
    CHECK(gguf_writer_write(w, path, NULL, NULL) == 0, "write %s: %s", path, strerror(errno));
    gguf_writer_free(w);
    size_t flen = 0;
    uint8_t *file = read_all(path, &flen);
    CHECK(file && flen == len && !memcmp(file, buf, len), "written file differs from the encoding (%zu vs %zu bytes)", flen, len);
    free(file);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary file left behind");

    gguf_file *f = NULL, *g = NULL;
    CHECK(gguf_parse(buf, len, &f) == LLI_OK, "parse (alignment %u): %s", alignment, lli_last_error());
    CHECK(gguf_open(path, &g) == LLI_OK, "open (alignment %u): %s", alignment, lli_last_error());
    if (f && g) {
        CHECK(f->alignment == alignment && f->data_offset % alignment == 0 && f->n_tensors == N_TYPES + 2 &&
                  g->n_tensors == f->n_tensors && g->data_offset == f->data_offset && g->owns_map && !f->owns_map,
              "alignment %u: header", alignment);
        for (int k = 0; k < N_TYPES; k++) {
            const lli_ttype_info *tt = lli_ttype_by_id(k_types[k]);
            snprintf(name, sizeof name, "rand.%s", tt->name);
            const gguf_tensor *t = gguf_find_tensor(f, name), *u = gguf_find_tensor(g, name);
            const int64_t *sh = shapes[k % 4];
            uint64_t want_bytes = lli_ttype_bytes(tt, sh[0], sh[1] * sh[2] * sh[3]);
            CHECK(t && u && t->type == (uint32_t)k_types[k] && t->n_dims == (uint32_t)(1 + k % 4) && t->ne[0] == sh[0] &&
                      t->ne[1] == sh[1] && t->ne[2] == sh[2] && t->ne[3] == sh[3] && t->bytes == want_bytes &&
                      t->offset % alignment == 0 && u->offset == t->offset,
                  "tensor %s info", name);
            if (!t || !u) continue;
            uint8_t *want = xmalloc(want_bytes);
            gguf_fill_random(want, want_bytes, k_types[k], 100 + (uint64_t)k, 0.5f, 0.25f);
            CHECK(!memcmp(t->data, want, want_bytes) && !memcmp(u->data, want, want_bytes), "tensor %s data", name);
            free(want);
        }
        const gguf_tensor *c = gguf_find_tensor(f, "data.copied"), *b = gguf_find_tensor(f, "data.borrowed");
        float v0 = 0, v1 = 0;
        if (c) memcpy(&v0, c->data, 4), memcpy(&v1, c->data + 4, 4);
        CHECK(c && c->n_dims == 2 && c->ne[0] == 8 && c->ne[1] == 5 && c->bytes == 160 && v0 == -20.5f && v1 == -19.5f,
              "copied tensor");
        if (b) memcpy(&v0, b->data, 4), memcpy(&v1, b->data + 44, 4);
        CHECK(b && b->bytes == 48 && v0 == 777.0f && v1 == 11.0f, "borrowed tensor");
        /* Tensors lie in order, aligned and without overlap, as a reader would expect. */
        for (uint64_t i = 1; i < f->n_tensors; i++)
            CHECK(f->tensors[i].offset >= f->tensors[i - 1].offset + f->tensors[i - 1].bytes, "tensor %llu overlaps",
                  (unsigned long long)i);
    }
    gguf_close(f);
    gguf_close(g);
    free(buf);
    unlink(path);
}

/* Files without tensors (vocab-only) and even without keys are valid. */
static void test_no_tensors(void) {
    gguf_writer *w = gguf_writer_new();
    size_t len;
    uint8_t *buf = encode(w, &len);
    gguf_file *f = NULL;
    CHECK(len == 32 && gguf_parse(buf, len, &f) == LLI_OK && f->n_kv == 0 && f->n_tensors == 0, "empty file: %s",
          lli_last_error());
    gguf_close(f);
    CHECK(gguf_parse(buf, 24, &f) == LLI_OK, "header only, no padding: %s", lli_last_error());
    gguf_close(f);
    free(buf);
    const char *toks[] = {"<s>", "</s>", "a"};
    gguf_writer_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    buf = encode(w, &len);
    CHECK(gguf_parse(buf, len, &f) == LLI_OK && f->n_tensors == 0 && gguf_find(f, "tokenizer.ggml.tokens"), "vocab-only: %s",
          lli_last_error());
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
}

/* ---- random blocks ------------------------------------------------------------------------- */

/* Where the f16 scale d and minimum dmin (-1: none) sit in each block. */
static void scale_layout(int type, int *d_at, int *m_at) {
    *d_at = 0, *m_at = -1;
    switch (type) {
    case LLI_TT_Q4_1: case LLI_TT_Q5_1: case LLI_TT_Q4_K: case LLI_TT_Q5_K: *m_at = 2; break;
    case LLI_TT_Q2_K: *d_at = 80, *m_at = 82; break;
    case LLI_TT_Q3_K: *d_at = 108; break;
    case LLI_TT_Q6_K: *d_at = 208; break;
    default: break;
    }
}

static void test_fill(void) {
    /* Weights come out at the magnitudes of trained models, whatever the block type: tests of big
     * shapes then see activations of realistic size rather than overflowing F16. */
    for (int k = 0; k < N_TYPES; k++) {
        const int type = k_types[k];
        if (type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16) continue;
        const lli_ttype_info *tt = lli_ttype_by_id(type);
        const int64_t n = 256 * 16;
        uint64_t bytes = lli_ttype_bytes(tt, n, 1);
        uint8_t *b = xmalloc(bytes);
        float *w = xmalloc((size_t)n * sizeof *w);
        gguf_fill_random(b, bytes, type, 1000 + (uint64_t)k, 0, 0.02f);
        lli_dequant_row(type, b, w, n);
        double mean_abs = 0;
        for (int64_t i = 0; i < n; i++) mean_abs += fabs(w[i]) / (double)n;
        CHECK(mean_abs > 0.005 && mean_abs < 0.2, "%s: mean |w| is %g, not within a trained model's 0.005..0.2", tt->name,
              mean_abs);
        free(b);
        free(w);
    }
    for (int k = 0; k < N_TYPES; k++) {
        const int type = k_types[k];
        const lli_ttype_info *tt = lli_ttype_by_id(type);
        const uint64_t n = 256 * 64, bytes = lli_ttype_bytes(tt, (int64_t)n, 1), bb = tt->block_bytes;
        uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes), *c = xmalloc(bytes);
        CHECK(gguf_fill_random(a, bytes, type, 42, 0, 0.02f) == 0, "%s fill", tt->name);
        gguf_fill_random(b, bytes, type, 42, 0, 0.02f);
        gguf_fill_random(c, bytes, type, 43, 0, 0.02f);
        CHECK(!memcmp(a, b, bytes) && memcmp(a, c, bytes), "%s: same seed same bytes, other seed other bytes", tt->name);
        /* In pieces of every size up to 5 blocks, which cut the 8-byte draws at every position. */
        for (uint64_t step = bb; step <= 5 * bb; step += bb) {
            memset(b, 0, bytes);
            for (uint64_t off = 0; off < bytes; off += step)
                gguf_fill_random_part(b + off, type, 42, 0, 0.02f, bytes, off, bytes - off < step ? bytes - off : step);
            CHECK(!memcmp(a, b, bytes), "%s: pieces of %llu bytes differ from the whole", tt->name, (unsigned long long)step);
        }
        CHECK(gguf_fill_random(a, bytes - 1, type, 1, 0, 1) == -1 || bb == 1 || (bytes - 1) % bb == 0, "%s: partial block",
              tt->name);
        CHECK(gguf_fill_random_part(b, type, 42, 0, 0.02f, bytes, bytes - bb, 2 * bb) == -1, "%s: range past the end", tt->name);
        if (type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16) {
            gguf_fill_random(a, bytes, type, 9, 1.0f, 0.1f);
            double sum = 0, sq = 0;
            for (uint64_t i = 0; i < n; i++) {
                float v;
                if (type == LLI_TT_F32) memcpy(&v, a + 4 * i, 4);
                else if (type == LLI_TT_F16) v = half(a + 2 * i);
                else {
                    uint32_t x = (uint32_t)(a[2 * i] | a[2 * i + 1] << 8) << 16;
                    memcpy(&v, &x, 4);
                }
                sum += v, sq += (double)v * v;
            }
            double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
            CHECK(fabs(mean - 1.0) < 0.01 && fabs(sd - 0.1) < 0.01, "%s: mean %g sd %g, wanted 1 and 0.1", tt->name, mean, sd);
        } else {
            /* Every block's scales finite and small; the minimum of the right sign. */
            int d_at, m_at, ok = 1;
            scale_layout(type, &d_at, &m_at);
            int signed_min = type == LLI_TT_Q4_1 || type == LLI_TT_Q5_1;
            for (uint64_t blk = 0; blk < bytes / bb && ok; blk++) {
                float d = half(a + blk * bb + (uint64_t)d_at);
                ok = isfinite(d) && d >= 6.1e-5f && d <= 0.0211f; /* normal F16, small */
                if (ok && m_at >= 0) {
                    float m = half(a + blk * bb + (uint64_t)m_at);
                    ok = isfinite(m) && (signed_min ? m >= -0.1f && m <= 0 : m >= 0 && m <= 0.0211f);
                }
                CHECK(ok, "%s block %llu: scale %g, min %g", tt->name, (unsigned long long)blk, (double)d,
                      m_at >= 0 ? (double)half(a + blk * bb + (uint64_t)m_at) : 0.0);
            }
        }
        free(a), free(b), free(c);
    }
    CHECK(gguf_fill_random(NULL, 32, LLI_TT_F32, 1, 0, 1) == -1, "NULL buffer");
    uint8_t x[64];
    CHECK(gguf_fill_random(x, 18, 5, 1, 0, 1) == -1, "unknown type");
}

/* ---- damaged and hostile files ------------------------------------------------------------- */

/* A small valid file: metadata of several kinds and two tensors. The tokens are key 9. */
static uint8_t *small_file(size_t *len) {
    gguf_writer *w = gguf_writer_new();
    const char *strs[] = {"a", "bc", ""}, *toks[] = {"<s>", "</s>", "hello", "world"};
    float fs[] = {1.5f, -2.0f};
    int32_t is[] = {7, -8, 9};
    int64_t ne1[4] = {32, 2, 1, 1}, ne2[4] = {8, 1, 1, 1};
    gguf_writer_str(w, "general.architecture", "llama");
    gguf_writer_u32(w, "llama.block_count", 3);
    gguf_writer_i32(w, "x.i32", -5);
    gguf_writer_u64(w, "x.u64", 1ull << 40);
    gguf_writer_f32(w, "x.f32", 0.25f);
    gguf_writer_bool(w, "x.bool", 1);
    gguf_writer_arr_str(w, "x.strs", strs, 3);
    gguf_writer_arr_f32(w, "x.f32s", fs, 2);
    gguf_writer_arr_i32(w, "x.i32s", is, 3);
    gguf_writer_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    gguf_writer_tensor(w, "tensor.w", LLI_TT_Q8_0, 2, ne1, 1, 0, 0.02f);
    gguf_writer_tensor(w, "tensor.n", LLI_TT_F32, 1, ne2, 2, 1, 0.1f);
    uint8_t *b = encode(w, len);
    gguf_writer_free(w);
    return b;
}

static void test_small_round_trip(const uint8_t *buf, size_t len) {
    gguf_file *f = NULL;
    CHECK(gguf_parse(buf, len, &f) == LLI_OK, "parse: %s", lli_last_error());
    if (!f) return;
    int64_t i;
    gguf_str s;
    CHECK(f->version == 3 && f->n_kv == 10 && f->n_tensors == 2, "counts %llu %llu", (unsigned long long)f->n_kv,
          (unsigned long long)f->n_tensors);
    CHECK(gguf_get_str(f, "general.architecture", &s) == 0 && str_is(s, "llama"), "arch");
    CHECK(gguf_get_i64(f, "llama.block_count", &i) == 0 && i == 3, "u32");
    const gguf_tensor *t = gguf_find_tensor(f, "tensor.w");
    CHECK(t && t->type == LLI_TT_Q8_0 && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->bytes == 68, "tensor w");
    t = gguf_find_tensor(f, "tensor.n");
    CHECK(t && t->type == LLI_TT_F32 && t->bytes == 32 && t->offset % 32 == 0 && t->data + t->bytes <= buf + len, "tensor n");
    CHECK(gguf_find_tensor(f, "missing") == NULL && gguf_find(f, "missing") == NULL, "missing name found");
    CHECK(gguf_find_tensor(f, "tensor") == NULL && gguf_find(f, "x") == NULL, "prefix matched a name");
    gguf_close(f);
}

/* Parse a copy (so that ASan sees any read past its end) and expect a refusal with a message that
 * mentions every given word (NULL-terminated). */
static void refused(const uint8_t *buf, size_t len, lli_status want, const char *what, ...) {
    uint8_t *copy = xmalloc(len);
    memcpy(copy, buf, len);
    gguf_file *f = (gguf_file *)1;
    lli_status st = gguf_parse(copy, len, &f);
    int ok = st == want && f == NULL && lli_last_error()[0];
    va_list ap;
    va_start(ap, what);
    for (const char *word; ok && (word = va_arg(ap, const char *));) ok = strstr(lli_last_error(), word) != NULL;
    va_end(ap);
    CHECK(ok, "%s: got %s: %s", what, lli_status_str(st), lli_last_error());
    if (st == LLI_OK) gguf_close(f);
    free(copy);
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Where a name (key or tensor) of the file starts: the offset of its 8-byte length. The last
 * occurrence, because tensor infos follow the keys. */
static size_t name_at(const uint8_t *buf, size_t len, const char *name) {
    size_t n = strlen(name);
    uint8_t pat[128];
    put64(pat, n);
    memcpy(pat + 8, name, n);
    for (size_t i = len - (8 + n) + 1; i-- > 0;)
        if (!memcmp(buf + i, pat, 8 + n)) return i;
    fprintf(stderr, "%s not in the file\n", name);
    exit(2);
}

/* Just after a name: where a key's type or a tensor's n_dims is. */
static size_t after(const uint8_t *buf, size_t len, const char *name) { return name_at(buf, len, name) + 8 + strlen(name); }

static void test_damage(const uint8_t *good, size_t len) {
    gguf_file *probe = NULL;
    gguf_parse(good, len, &probe);
    size_t meta_end = probe ? (size_t)probe->data_offset : len;
    gguf_close(probe);
    /* Every prefix is refused cleanly: those inside the metadata as truncated, the rest for the
     * tensor data that no longer fits. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = xmalloc(n);
        memcpy(copy, good, n);
        gguf_file *f = (gguf_file *)1;
        lli_status st = gguf_parse(copy, n, &f);
        const char *m = lli_last_error();
        int ok = st == LLI_E_FORMAT && f == NULL && m[0] &&
                 (n >= meta_end ? strstr(m, "past the end") != NULL
                                : strstr(m, "truncated") != NULL || strstr(m, "more than the file") != NULL ||
                                      strstr(m, "past the end") != NULL);
        CHECK(ok, "prefix of %zu bytes (metadata ends at %zu): %s: %s", n, meta_end, lli_status_str(st), m);
        free(copy);
    }
    /* A cut names what was being read, key by number and name. */
    size_t hello = name_at(good, len, "hello");
    refused(good, hello + 10, LLI_E_FORMAT, "cut in the tokens", "truncated while reading key 9 (tokenizer.ggml.tokens)",
            "string 2 of 4", NULL);
    refused(good, name_at(good, len, "x.f32") + 8 + 5 + 2, LLI_E_FORMAT, "cut in a key's type", "truncated while reading key 4 (x.f32)",
            NULL);
    refused(good, name_at(good, len, "x.f32") + 8 + 2, LLI_E_FORMAT, "cut in a key's name", "the name of key 4", NULL);
    refused(good, name_at(good, len, "tensor.n") + 8 + 8 + 6, LLI_E_FORMAT, "cut in a tensor", "tensor 1 (tensor.n)", NULL);
    refused(good, 10, LLI_E_FORMAT, "cut in the header", "tensor count", NULL);
    refused(good, 20, LLI_E_FORMAT, "cut in the header", "key count", NULL);

    uint8_t *b = xmalloc(len);
#define DAMAGED(stmt, want, what, ...)                                                                     \
    do {                                                                                                   \
        memcpy(b, good, len);                                                                              \
        stmt;                                                                                              \
        refused(b, len, want, what, __VA_ARGS__, NULL);                                                    \
    } while (0)
    DAMAGED(b[0] = 'X', LLI_E_FORMAT, "magic", "not a GGUF file (bad magic)");
    DAMAGED(memcpy(b, "GGML", 4), LLI_E_FORMAT, "ggml magic", "bad magic");
    DAMAGED(put32(b + 4, 1), LLI_E_FORMAT, "version 1", "unsupported GGUF version 1");
    DAMAGED(put32(b + 4, 4), LLI_E_FORMAT, "version 4", "unsupported GGUF version 4");
    DAMAGED(put32(b + 4, 0), LLI_E_FORMAT, "version 0", "unsupported GGUF version 0");
    DAMAGED(put32(b + 4, 0x03000000), LLI_E_FORMAT, "big-endian", "unsupported GGUF version", "big-endian");
    DAMAGED(put64(b + 8, 1ull << 60), LLI_E_FORMAT, "tensor count", "tensors claimed");
    DAMAGED(put64(b + 8, UINT64_MAX), LLI_E_FORMAT, "tensor count 2^64-1", "tensors claimed");
    DAMAGED(put64(b + 8, 3), LLI_E_FORMAT, "one tensor too many", "truncated");
    DAMAGED(put64(b + 16, 1ull << 60), LLI_E_FORMAT, "key count", "keys claimed");
    DAMAGED(put64(b + 16, UINT64_MAX), LLI_E_FORMAT, "key count 2^64-1", "keys claimed");
    DAMAGED(put64(b + 24, 1ull << 62), LLI_E_FORMAT, "key name length", "truncated", "name of key 0", "4611686018427387904");
    size_t arch = after(good, len, "general.architecture");
    DAMAGED(put64(b + arch + 4, 1ull << 62), LLI_E_FORMAT, "string length 2^62", "key 0 (general.architecture)",
            "4611686018427387904 bytes");
    DAMAGED(put64(b + arch + 4, UINT64_MAX), LLI_E_FORMAT, "string length 2^64-1", "key 0 (general.architecture)");
    DAMAGED(put32(b + after(good, len, "x.bool"), 77), LLI_E_FORMAT, "value type", "key 5 (x.bool)", "unknown value type 77");
    DAMAGED(put32(b + after(good, len, "x.bool"), 13), LLI_E_FORMAT, "value type 13", "unknown value type 13");
    /* An array: type, element type, count, then the elements (for strings: length and bytes). */
    size_t strs = after(good, len, "x.strs");
    DAMAGED(put64(b + strs + 8, 1ull << 61), LLI_E_FORMAT, "string array length", "x.strs", "more than the file");
    DAMAGED(put64(b + strs + 8, UINT64_MAX), LLI_E_FORMAT, "string array length 2^64-1", "more than the file");
    DAMAGED(put64(b + strs + 16, 1ull << 62), LLI_E_FORMAT, "array string length", "string 0 of 3", "4611686018427387904");
    DAMAGED(put32(b + strs + 4, GGUF_ARRAY), LLI_E_FORMAT, "nested array", "x.strs", "nested array");
    size_t f32s = after(good, len, "x.f32s");
    DAMAGED(put64(b + f32s + 8, 1ull << 62), LLI_E_FORMAT, "f32 array length", "x.f32s", "more than the file");
    DAMAGED(put64(b + f32s + 8, (uint64_t)len), LLI_E_FORMAT, "f32 array just too long", "more than the file");
    DAMAGED(put32(b + f32s + 4, 40), LLI_E_FORMAT, "array element type", "array of unknown type 40");
    /* Same length names, so only the duplicate changes. */
    DAMAGED(memcpy(b + after(good, len, "x.i32s") - 6, "x.f32s", 6), LLI_E_FORMAT, "duplicate key", "key x.f32s appears twice");
    /* Tensor infos: name, n_dims, ne[0], ne[1], type, offset. */
    size_t tw = after(good, len, "tensor.w");
    DAMAGED(put32(b + tw, 5), LLI_E_FORMAT, "n_dims 5", "tensor.w has 5 dimensions");
    DAMAGED(put32(b + tw, 0), LLI_E_FORMAT, "n_dims 0", "tensor.w has 0 dimensions");
    DAMAGED(put64(b + tw + 4, 0), LLI_E_FORMAT, "zero dimension", "tensor.w has dimension 0 = 0");
    DAMAGED(put64(b + tw + 12, 0), LLI_E_FORMAT, "zero dimension 1", "dimension 1 = 0");
    DAMAGED(put64(b + tw + 12, 1ull << 41), LLI_E_FORMAT, "absurd dimension", "dimension 1 = 2199023255552");
    DAMAGED(put64(b + tw + 4, 33), LLI_E_FORMAT, "row not a whole block", "not a multiple of q8_0's block of 32");
    DAMAGED(put32(b + tw + 20, 99), LLI_E_UNSUPPORTED, "tensor type 99", "tensor.w", "type 99");
    DAMAGED(put32(b + tw + 20, 4), LLI_E_UNSUPPORTED, "tensor type 4 (removed q4_2)", "tensor.w", "type 4");
    DAMAGED(put64(b + tw + 24, 4), LLI_E_FORMAT, "misaligned offset", "tensor.w", "not a multiple of the alignment 32");
    DAMAGED(put64(b + tw + 24, 1ull << 50), LLI_E_FORMAT, "offset out of file", "tensor.w", "past the end");
    DAMAGED(put64(b + tw + 24, UINT64_MAX - 31), LLI_E_FORMAT, "offset 2^64-32", "past the end");
    DAMAGED(put64(b + tw + 12, 1ull << 39), LLI_E_FORMAT, "huge tensor", "past the end");
    size_t tn = after(good, len, "tensor.n");
    DAMAGED(put64(b + tn + 16, 1024), LLI_E_FORMAT, "second tensor past the end", "tensor.n", "past the end");
    DAMAGED(b[tn - 1] = 'w', LLI_E_FORMAT, "duplicate tensor name", "tensor tensor.w appears twice");
    /* A name with bytes that would garble a terminal is shown with them replaced. */
    DAMAGED((b[tw - 2] = '\n', put32(b + tw + 20, 99)), LLI_E_UNSUPPORTED, "unprintable name", "tensor?w");
    gguf_file *f = (gguf_file *)1;
    CHECK(gguf_parse(NULL, 10, &f) == LLI_E_INVALID_ARG && f == NULL, "NULL buffer");
    CHECK(gguf_parse(good, len, NULL) == LLI_E_INVALID_ARG, "NULL out");
    /* Version 2 has the same layout for everything this reader uses. */
    memcpy(b, good, len);
    put32(b + 4, 2);
    CHECK(gguf_parse(b, len, &f) == LLI_OK && f->version == 2, "version 2: %s", lli_last_error());
    gguf_close(f);
    free(b);
#undef DAMAGED
}

/* general.alignment, and tensors that must follow it. */
static void test_alignment_damage(void) {
    int64_t ne[4] = {8, 1, 1, 1};
    static const struct { uint32_t value; const char *word; } bad[] = {{3, "is 3"}, {0, "is 0"}, {48, "is 48"}, {1u << 21, "2097152"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        gguf_writer *w = gguf_writer_new();
        gguf_writer_u32(w, "general.alignment", bad[k].value); /* written by hand: set_alignment refuses these */
        gguf_writer_tensor(w, "t", LLI_TT_F32, 1, ne, 1, 0, 1);
        size_t len;
        uint8_t *buf = encode(w, &len);
        refused(buf, len, LLI_E_FORMAT, "bad alignment", "general.alignment", bad[k].word, "power of two", NULL);
        free(buf);
        gguf_writer_free(w);
    }
    gguf_writer *w = gguf_writer_new();
    gguf_writer_str(w, "general.alignment", "64");
    size_t len;
    uint8_t *buf = encode(w, &len);
    refused(buf, len, LLI_E_FORMAT, "alignment as a string", "general.alignment is not a single integer", NULL);
    free(buf);
    gguf_writer_free(w);
    /* A file whose tensors follow 32 but that claims 64: the second tensor's offset (32) is refused. */
    w = gguf_writer_new();
    gguf_writer_u32(w, "general.alignment", 64);
    gguf_writer_tensor(w, "a", LLI_TT_F32, 1, ne, 1, 0, 1);
    gguf_writer_tensor(w, "b", LLI_TT_F32, 1, ne, 1, 0, 1);
    buf = encode(w, &len);
    refused(buf, len, LLI_E_FORMAT, "offset misaligned for 64", "tensor b", "offset 32", "alignment 64", NULL);
    free(buf);
    gguf_writer_free(w);
    /* Another width of integer works as long as the value is a power of two. */
    w = gguf_writer_new();
    gguf_writer_u64(w, "general.alignment", 1);
    gguf_writer_tensor(w, "a", LLI_TT_F32, 1, ne, 1, 0, 1);
    buf = encode(w, &len);
    gguf_file *f = NULL;
    CHECK(gguf_parse(buf, len, &f) == LLI_OK && f->alignment == 1, "alignment 1 as u64: %s", lli_last_error());
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
    /* Many dimensions whose product overflows. */
    int64_t ne4[4] = {32, 2, 2, 2};
    w = gguf_writer_new();
    gguf_writer_tensor(w, "four", LLI_TT_Q8_0, 4, ne4, 1, 0, 1);
    buf = encode(w, &len);
    size_t at = after(buf, len, "four");
    for (int d = 1; d < 4; d++) put64(buf + at + 4 + 8 * (size_t)d, 1ull << 40);
    refused(buf, len, LLI_E_FORMAT, "rows overflow", "four", "too many rows", NULL);
    free(buf);
    gguf_writer_free(w);
}

/* ---- files ---------------------------------------------------------------------------------- */

static void test_open_errors(const uint8_t *good, size_t len) {
    gguf_file *f = (gguf_file *)1;
    CHECK_FAILS(gguf_open("/nonexistent.gguf", &f), LLI_E_IO, "/nonexistent.gguf");
    CHECK(f == NULL, "out not cleared");
    CHECK_FAILS(gguf_open("/dev/null", &f), LLI_E_IO, "/dev/null");
    CHECK_FAILS(gguf_open(g_dir, &f), LLI_E_IO, g_dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/empty.gguf", g_dir);
    write_all(path, "", 0);
    CHECK_FAILS(gguf_open(path, &f), LLI_E_FORMAT, path, "empty");
    /* Messages from a file start with its path. */
    snprintf(path, sizeof path, "%s/damaged.gguf", g_dir);
    uint8_t *b = xmalloc(len);
    memcpy(b, good, len);
    b[0] = 'X';
    write_all(path, b, len);
    CHECK(gguf_open(path, &f) == LLI_E_FORMAT && !strncmp(lli_last_error(), path, strlen(path)) &&
              strstr(lli_last_error(), ": not a GGUF file (bad magic)"),
          "bad magic on disk: %s", lli_last_error());
    memcpy(b, good, len);
    write_all(path, b, len / 3);
    CHECK(gguf_open(path, &f) == LLI_E_FORMAT && !strncmp(lli_last_error(), path, strlen(path)) &&
              strstr(lli_last_error(), "truncated"),
          "cut file on disk: %s", lli_last_error());
    put32(b + after(good, len, "tensor.w") + 20, 99);
    write_all(path, b, len);
    CHECK(gguf_open(path, &f) == LLI_E_UNSUPPORTED && !strncmp(lli_last_error(), path, strlen(path)) &&
              strstr(lli_last_error(), "tensor.w"),
          "unsupported type on disk: %s", lli_last_error());
    unlink(path);
    snprintf(path, sizeof path, "%s/empty.gguf", g_dir);
    unlink(path);
    free(b);
}

/* Rebuild a parsed file with the writer, borrowing its tensor data. NULL if it holds something the
 * writer's C-string interface cannot say (a string with a NUL byte). */
static gguf_writer *rebuild(const gguf_file *f) {
    gguf_writer *w = gguf_writer_new();
    char key[1024];
    int bad = 0;
    for (uint64_t i = 0; i < f->n_kv && !bad; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (kv->key.len >= sizeof key || memchr(kv->key.ptr, 0, kv->key.len)) return gguf_writer_free(w), NULL;
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = '\0';
        if (!strcmp(key, "general.alignment")) {
            int64_t a;
            bad = gguf_get_i64(f, key, &a) || kv->type != GGUF_UINT32 || gguf_writer_set_alignment(w, (uint32_t)a);
        } else if (kv->type == GGUF_STRING || (kv->type == GGUF_ARRAY && kv->elem_type == GGUF_STRING)) {
            uint64_t n = kv->n;
            char **s = xmalloc((size_t)n * sizeof *s);
            for (uint64_t k = 0; k < n; k++) {
                if (memchr(kv->strs[k].ptr, 0, kv->strs[k].len)) bad = 2;
                s[k] = strndup(kv->strs[k].ptr, kv->strs[k].len);
            }
            if (!bad) bad = kv->type == GGUF_STRING ? gguf_writer_str(w, key, s[0]) : gguf_writer_arr_str(w, key, (const char *const *)s, n);
            for (uint64_t k = 0; k < n; k++) free(s[k]);
            free(s);
            if (bad == 2) return gguf_writer_free(w), NULL;
        } else if (kv->type == GGUF_ARRAY) {
            bad = gguf_writer_arr(w, key, (int)kv->elem_type, kv->data, (size_t)kv->n);
        } else {
            static const uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}; /* by enum gguf_vtype */
            uint64_t v = 0;
            for (int k = 0; kv->type < sizeof sizes && k < sizes[kv->type]; k++) v |= (uint64_t)kv->data[k] << (8 * k);
            float fv;
            double dv;
            uint32_t v32 = (uint32_t)v;
            memcpy(&fv, &v32, 4);
            memcpy(&dv, &v, 8);
            switch (kv->type) {
            case GGUF_UINT8: bad = gguf_writer_u8(w, key, (uint8_t)v); break;
            case GGUF_INT8: bad = gguf_writer_i8(w, key, (int8_t)v); break;
            case GGUF_UINT16: bad = gguf_writer_u16(w, key, (uint16_t)v); break;
            case GGUF_INT16: bad = gguf_writer_i16(w, key, (int16_t)v); break;
            case GGUF_UINT32: bad = gguf_writer_u32(w, key, (uint32_t)v); break;
            case GGUF_INT32: bad = gguf_writer_i32(w, key, (int32_t)v); break;
            case GGUF_UINT64: bad = gguf_writer_u64(w, key, v); break;
            case GGUF_INT64: bad = gguf_writer_i64(w, key, (int64_t)v); break;
            case GGUF_FLOAT32: bad = gguf_writer_f32(w, key, fv); break;
            case GGUF_FLOAT64: bad = gguf_writer_f64(w, key, dv); break;
            case GGUF_BOOL: bad = gguf_writer_bool(w, key, (int)v); break;
            default: bad = 1;
            }
        }
    }
    for (uint64_t i = 0; i < f->n_tensors && !bad; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 255 ? t->name.len : 255), t->name.ptr);
        bad = gguf_writer_tensor_data(w, name, (int)t->type, (int)t->n_dims, t->ne, t->data, t->bytes, 0);
    }
    CHECK(!bad, "rebuilding failed: %s", strerror(errno));
    if (bad) return gguf_writer_free(w), NULL;
    return w;
}

/* A file written by llama.cpp's tools, read through the writer again, gives the same bytes: the
 * writer lays files out as everyone else does. Files without tensors may end without padding. */
static void check_rebuild(const char *path, const gguf_file *f) {
    gguf_writer *w = rebuild(f);
    if (!w) {
        printf("note: %s holds strings with NUL bytes; not rebuilt\n", path);
        return;
    }
    size_t len;
    uint8_t *buf = encode(w, &len);
    gguf_writer_free(w);
    int same = len >= f->size && !memcmp(buf, f->map, f->size);
    for (size_t i = f->size; same && i < len; i++) same = buf[i] == 0;
    size_t at = 0;
    while (at < len && at < f->size && buf[at] == ((const uint8_t *)f->map)[at]) at++;
    CHECK(same && (f->n_tensors == 0 || len == f->size), "%s rebuilt: %zu bytes vs %zu, first difference at %zu", path, len,
          f->size, at);
    free(buf);
}

static void test_vocab(const char *path) {
    gguf_file *f = NULL;
    CHECK(gguf_open(path, &f) == LLI_OK, "vocab-only file: %s", lli_last_error());
    if (!f) return;
    const gguf_kv *toks = gguf_find(f, "tokenizer.ggml.tokens");
    gguf_str model;
    CHECK(f->n_tensors == 0 && toks && toks->type == GGUF_ARRAY && toks->elem_type == GGUF_STRING && toks->n > 1000 &&
              gguf_get_str(f, "tokenizer.ggml.model", &model) == 0,
          "%s: vocab-only contents", path);
    check_rebuild(path, f);
    /* Cuts at many places of a real file's metadata: refused, never a crash. */
    int ok = 1;
    for (size_t k = 1; k <= 64 && ok; k++) {
        size_t n = (size_t)((double)f->size * (double)k / 65.0) + k % 7;
        uint8_t *copy = xmalloc(n);
        memcpy(copy, f->map, n);
        gguf_file *g = (gguf_file *)1;
        ok = gguf_parse(copy, n, &g) == LLI_E_FORMAT && g == NULL && lli_last_error()[0];
        CHECK(ok, "%s cut to %zu bytes: %s", path, n, lli_last_error());
        free(copy);
    }
    gguf_close(f);
}

static void test_model_file(void) {
    const char *candidates[] = {getenv("LLI_TEST_GGUF"), "models/SmolLM2-135M-Instruct.Q4_1.gguf",
                                "../models/SmolLM2-135M-Instruct.Q4_1.gguf", "/tmp/dl/SmolLM2-135M-Instruct.Q4_1.gguf"};
    const char *path = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !path; i++)
        if (candidates[i] && access(candidates[i], R_OK) == 0) path = candidates[i];
    if (!path) {
        printf("note: SmolLM2-135M-Instruct.Q4_1.gguf not found (set LLI_TEST_GGUF); real-model checks skipped\n");
        return;
    }
    gguf_file *f = NULL;
    CHECK(gguf_open(path, &f) == LLI_OK, "%s: %s", path, lli_last_error());
    if (!f) return;
    gguf_str arch;
    int64_t layers;
    CHECK(gguf_get_str(f, "general.architecture", &arch) == 0 && str_is(arch, "llama"), "architecture");
    CHECK(gguf_get_i64(f, "llama.block_count", &layers) == 0 && layers == 30, "block count");
    CHECK(f->n_tensors == 272 && f->alignment == 32, "%llu tensors", (unsigned long long)f->n_tensors);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    CHECK(t && t->type == LLI_TT_Q8_0 && t->n_dims == 2 && t->ne[0] == 576 && t->ne[1] == 49152 &&
              t->bytes == (uint64_t)576 / 32 * 34 * 49152,
          "token_embd.weight");
    t = gguf_find_tensor(f, "blk.29.ffn_down.weight");
    CHECK(t && t->ne[0] == 1536 && t->ne[1] == 576, "blk.29.ffn_down.weight");
    const gguf_kv *toks = gguf_find(f, "tokenizer.ggml.tokens");
    CHECK(toks && toks->n == 49152, "tokens");
    check_rebuild(path, f);
    printf("checked %s: 272 tensors, rebuilt byte for byte\n", path);
    gguf_close(f);
}

int main(int argc, char **argv) {
    char tmpdir[] = "/tmp/test_gguf.XXXXXX";
    g_dir = argc > 1 ? argv[1] : mkdtemp(tmpdir);
    if (!g_dir) {
        perror("mkdtemp");
        return 2;
    }
    test_metadata_round_trip();
    test_writer_refusals();
    test_tensors(32);
    test_tensors(64);
    test_tensors(1);
    test_no_tensors();
    test_fill();
    size_t len;
    uint8_t *good = small_file(&len);
    test_small_round_trip(good, len);
    test_damage(good, len);
    test_alignment_damage();
    test_open_errors(good, len);
    free(good);

    glob_t gl = {0};
    int n_vocab = 0;
    if (argc > 2) {
        for (int i = 2; i < argc; i++) test_vocab(argv[i]), n_vocab++;
    } else if (glob("../shared/vectors/tokenizer/ggml-vocab-*.gguf", 0, NULL, &gl) == 0) {
        for (size_t i = 0; i < gl.gl_pathc; i++) test_vocab(gl.gl_pathv[i]), n_vocab++;
    }
    globfree(&gl);
    if (!n_vocab) printf("note: no vocab-only GGUF given or found in ../shared/vectors/tokenizer; skipped\n");
    else printf("checked %d vocab-only file%s\n", n_vocab, n_vocab == 1 ? "" : "s");
    test_model_file();
    if (argc <= 1) rmdir(tmpdir);
    return check_summary();
}
