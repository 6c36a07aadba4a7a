/* The GGUF reader against damaged and hostile files: every refusal is a status and a message, never
 * a crash, an over-read or a huge allocation (run under AddressSanitizer too). */
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "llminfer.h"
#include "support/check.h"
#include "tensor_types.h"

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) b = (free(b), NULL);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A small valid file, in memory: metadata of several kinds and two tensors. */
static uint8_t *small_file(const char *dir, size_t *len) {
    gguf_writer *w = gguf_writer_new();
    const char *strs[] = {"a", "bc", ""};
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
    gguf_writer_tensor(w, "w", LLI_TT_Q8_0, 2, ne1, 1, 0, 0.02f);
    gguf_writer_tensor(w, "n", LLI_TT_F32, 1, ne2, 2, 1, 0.1f);
    char path[4096];
    snprintf(path, sizeof path, "%s/small.gguf", dir);
    if (gguf_writer_write(w, path, NULL, NULL)) {
        perror(path);
        exit(2);
    }
    gguf_writer_free(w);
    return read_all(path, len);
}

static void test_round_trip(const uint8_t *buf, size_t len) {
    gguf_file *f = NULL;
    CHECK(gguf_parse(buf, len, &f) == LLI_OK, "parse: %s", lli_last_error());
    if (!f) return;
    int64_t i;
    double d;
    int b;
    gguf_str s;
    CHECK(f->version == 3 && f->n_kv == 9 && f->n_tensors == 2, "counts %llu %llu", (unsigned long long)f->n_kv,
          (unsigned long long)f->n_tensors);
    CHECK(gguf_get_str(f, "general.architecture", &s) == 0 && s.len == 5 && !memcmp(s.ptr, "llama", 5), "arch");
    CHECK(gguf_get_i64(f, "llama.block_count", &i) == 0 && i == 3, "u32");
    CHECK(gguf_get_i64(f, "x.i32", &i) == 0 && i == -5, "i32");
    CHECK(gguf_get_i64(f, "x.u64", &i) == 0 && i == (int64_t)1 << 40, "u64");
    CHECK(gguf_get_f64(f, "x.f32", &d) == 0 && d == 0.25, "f32");
    CHECK(gguf_get_bool(f, "x.bool", &b) == 0 && b == 1, "bool");
    CHECK(gguf_get_i64(f, "x.f32", &i) != 0 && gguf_get_str(f, "x.i32", &s) != 0, "type confusion accepted");
    const gguf_kv *a = gguf_find(f, "x.strs");
    CHECK(a && a->n == 3 && a->strs[1].len == 2 && !memcmp(a->strs[1].ptr, "bc", 2) && a->strs[2].len == 0, "strs");
    a = gguf_find(f, "x.f32s");
    CHECK(a && gguf_arr_f64(a, 1, &d) == 0 && d == -2.0 && gguf_arr_f64(a, 2, &d) != 0, "f32s");
    a = gguf_find(f, "x.i32s");
    CHECK(a && gguf_arr_i64(a, 1, &i) == 0 && i == -8, "i32s");
    const gguf_tensor *t = gguf_find_tensor(f, "w");
    CHECK(t && t->type == LLI_TT_Q8_0 && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->bytes == 68, "tensor w");
    t = gguf_find_tensor(f, "n");
    CHECK(t && t->type == LLI_TT_F32 && t->bytes == 32 && t->offset % 32 == 0 && t->data + t->bytes <= buf + len, "tensor n");
    CHECK(gguf_find_tensor(f, "missing") == NULL, "missing tensor found");
    gguf_close(f);
}

/* Parse a copy (so that ASan sees any read past its end) and expect a refusal mentioning word. */
static void expect_refused(const uint8_t *buf, size_t len, lli_status want, const char *word, const char *what) {
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    gguf_file *f = (gguf_file *)1;
    lli_status st = gguf_parse(copy, len, &f);
    CHECK(st == want && f == NULL && lli_last_error()[0] && (!word || strstr(lli_last_error(), word)),
          "%s: got %s: %s", what, lli_status_str(st), lli_last_error());
    if (st == LLI_OK) gguf_close(f);
    free(copy);
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Byte offsets inside small_file(): after the 24-byte header comes the first key. */
static size_t offset_of(const uint8_t *buf, size_t len, const char *text) {
    for (size_t i = 0; i + strlen(text) <= len; i++)
        if (!memcmp(buf + i, text, strlen(text))) return i;
    fprintf(stderr, "\"%s\" not in the file\n", text);
    exit(2);
}

/* The last occurrence: tensor infos come after every key, so their names are found here. */
static size_t last_offset_of(const uint8_t *buf, size_t len, const char *text, size_t text_len) {
    for (size_t i = len - text_len + 1; i-- > 0;)
        if (!memcmp(buf + i, text, text_len)) return i;
    fprintf(stderr, "pattern not in the file\n");
    exit(2);
}

static void test_damage(const uint8_t *good, size_t len) {
    uint8_t *b = malloc(len);
    /* Every prefix of the metadata is refused cleanly. */
    const gguf_file *probe = NULL;
    gguf_parse(good, len, (gguf_file **)&probe);
    size_t meta_end = probe ? (size_t)probe->data_offset : len;
    gguf_close((gguf_file *)probe);
    for (size_t n = 0; n < meta_end; n++) expect_refused(good, n, LLI_E_FORMAT, NULL, "truncated");
    expect_refused(good, len - 1, LLI_E_FORMAT, "past the end", "data cut by one byte");

#define DAMAGED(stmt, want, word, what)                                                                    \
    do {                                                                                                   \
        memcpy(b, good, len);                                                                              \
        stmt;                                                                                              \
        expect_refused(b, len, want, word, what);                                                          \
    } while (0)
    DAMAGED(b[0] = 'X', LLI_E_FORMAT, "bad magic", "magic");
    DAMAGED(put32(b + 4, 1), LLI_E_FORMAT, "version 1", "version 1");
    DAMAGED(put32(b + 4, 99), LLI_E_FORMAT, "version 99", "version 99");
    DAMAGED(put64(b + 8, 1ull << 60), LLI_E_FORMAT, "tensors claimed", "tensor count");
    DAMAGED(put64(b + 16, 1ull << 60), LLI_E_FORMAT, "keys claimed", "key count");
    DAMAGED(put64(b + 24, 1ull << 62), LLI_E_FORMAT, "truncated", "key length");
    size_t arch_val = offset_of(good, len, "general.architecture") + strlen("general.architecture") + 4;
    DAMAGED(put64(b + arch_val, ~0ull), LLI_E_FORMAT, "truncated", "string length");
    size_t type_at = offset_of(good, len, "x.bool") + 6;
    DAMAGED(put32(b + type_at, 77), LLI_E_FORMAT, "unknown value type 77", "value type");
    size_t strs = offset_of(good, len, "x.strs") + 6;
    DAMAGED(put64(b + strs + 8, 1ull << 61), LLI_E_FORMAT, "more than the file", "string array length");
    DAMAGED(put32(b + strs + 4, GGUF_ARRAY), LLI_E_FORMAT, "nested array", "nested array");
    size_t f32s = offset_of(good, len, "x.f32s") + 6;
    DAMAGED(put64(b + f32s + 8, 1ull << 62), LLI_E_FORMAT, "more than the file", "f32 array length");
    DAMAGED(put32(b + f32s + 4, 40), LLI_E_FORMAT, "unknown type 40", "array element type");
    /* Tensor infos: name "w" (8 + 1 bytes), n_dims, ne[0], ne[1], type, offset. */
    size_t tw = last_offset_of(good, meta_end, "\001\000\000\000\000\000\000\000w", 9) + 9;
    DAMAGED(put32(b + tw, 5), LLI_E_FORMAT, "5 dimensions", "n_dims 5");
    DAMAGED(put64(b + tw + 4, 0), LLI_E_FORMAT, "dimension 0 = 0", "zero dimension");
    DAMAGED(put64(b + tw + 4, 33), LLI_E_FORMAT, "multiple", "row not a whole block");
    DAMAGED(put32(b + tw + 20, 99), LLI_E_UNSUPPORTED, "type 99", "tensor type");
    DAMAGED(put64(b + tw + 24, 4), LLI_E_FORMAT, "alignment", "misaligned offset");
    DAMAGED(put64(b + tw + 24, 1ull << 50), LLI_E_FORMAT, "past the end", "offset out of file");
    DAMAGED(put64(b + tw + 12, 1ull << 39), LLI_E_FORMAT, "past the end", "huge tensor");
    size_t tn = last_offset_of(good, meta_end, "\001\000\000\000\000\000\000\000n", 9) + 8;
    DAMAGED(b[tn] = 'w', LLI_E_FORMAT, "appears twice", "duplicate tensor name");
    free(b);
}

static void test_files(const char *vocab) {
    gguf_file *f = NULL;
    CHECK(gguf_open(vocab, &f) == LLI_OK, "vocab-only file: %s", lli_last_error());
    if (f) {
        const gguf_kv *toks = gguf_find(f, "tokenizer.ggml.tokens");
        CHECK(f->n_tensors == 0 && toks && toks->n > 1000, "vocab-only contents");
        gguf_close(f);
    }
    CHECK_FAILS(gguf_open("/nonexistent.gguf", &f), LLI_E_IO, "/nonexistent.gguf");
    CHECK_FAILS(gguf_open("/dev/null", &f), LLI_E_IO, "/dev/null");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR VOCAB.gguf\n", argv[0]);
        return 2;
    }
    size_t len;
    uint8_t *good = small_file(argv[1], &len);
    if (!good) return 2;
    test_round_trip(good, len);
    test_damage(good, len);
    test_files(argv[2]);
    free(good);
    return check_summary();
}
