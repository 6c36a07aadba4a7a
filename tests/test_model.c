/* Converting, loading and verifying model directories, and every kind of damage to them.
 * usage: test_model TINY.gguf TINY_OTHER_SEED.gguf TINY_QWEN3.gguf VOCAB_ONLY.gguf TINY_KQUANT.gguf... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"
#include "support/check.h"
#include "support/files.h"

static const char *g_tiny, *g_other, *g_qwen, *g_vocab;
static char **g_kquant; /* K-quant models, g_n_kquant of them */
static int g_n_kquant;
static char *g_tmp;
static char g_raw[4096], g_zstd[4096];

static lli_status convert(const char *in, const char *out, int compression) {
    lli_convert_params *p = NULL;
    lli_status st = lli_convert_params_create(&p);
    if (!st) st = lli_convert_params_set_compression(p, compression, 0);
    if (!st) st = lli_convert_params_set_threads(p, 2);
    if (!st) st = lli_convert_gguf(in, out, p);
    lli_convert_params_free(p);
    return st;
}

static lli_status load(const char *dir, lli_model **out) {
    *out = NULL;
    return lli_model_load(dir, NULL, out);
}

static lli_status load_with(const char *dir, const char *arch, int first, int last, int vocab_only, lli_model **out) {
    lli_model_params *p = NULL;
    *out = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_expected_arch(p, arch);
    if (!st && (first || last != -1)) st = lli_model_params_set_layer_range(p, first, last);
    if (!st) st = lli_model_params_set_vocab_only(p, vocab_only);
    if (!st) st = lli_model_load(dir, p, out);
    lli_model_params_free(p);
    return st;
}

static int64_t info(const lli_model *m, int key) {
    int64_t v = -12345;
    lli_model_info_int(m, key, &v);
    return v;
}

static const char *info_s(const lli_model *m, int key) {
    const char *v = "?";
    lli_model_info_str(m, key, &v);
    return v;
}

/* A scratch copy of the raw model, damaged by the caller, then loaded and verified. */
static char *scratch_copy(const char *src, const char *tag) {
    static int n;
    char *dst = malloc(4096);
    snprintf(dst, 4096, "%s/%s-%d", g_tmp, tag, n++);
    if (test_copy_dir(src, dst) != 0) {
        fprintf(stderr, "cannot copy %s\n", src);
        exit(2);
    }
    return dst;
}

static void frag_path(char *out, const char *dir, const char *name) { snprintf(out, 4096, "%s/%s.frag", dir, name); }

/* Load and verify both fail with the status and a message naming the fragment. */
static void expect_refused(const char *dir, lli_status want, const char *frag, const char *what) {
    lli_model *m;
    lli_status st = load(dir, &m);
    CHECK(st == want && strstr(lli_last_error(), frag), "%s: load gave %s: %s", what, lli_status_str(st), lli_last_error());
    CHECK(m == NULL, "%s: a model came back", what);
    lli_model_free(m);
    st = lli_model_verify(dir, 2, NULL, NULL);
    CHECK(st != LLI_OK && strstr(lli_last_error(), frag), "%s: verify gave %s: %s", what, lli_status_str(st),
          lli_last_error());
}

static void test_good_model(void) {
    lli_model *raw, *z;
    CHECK(load(g_raw, &raw) == LLI_OK, "load raw: %s", lli_last_error());
    CHECK(load(g_zstd, &z) == LLI_OK, "load zstd: %s", lli_last_error());
    if (!raw || !z) return;
    CHECK(!strcmp(info_s(raw, LLI_INFO_FAMILY), "llama"), "family %s", info_s(raw, LLI_INFO_FAMILY));
    /* the CPU kernels' level: one of the three names, and no higher than LLI_CPU asks */
    const char *isa = info_s(raw, LLI_INFO_CPU_ISA), *cap = getenv("LLI_CPU");
    CHECK(!strcmp(isa, "scalar") || !strcmp(isa, "avx2") || !strcmp(isa, "avx512"), "cpu isa %s", isa);
    CHECK(!cap || strcmp(cap, "scalar") || !strcmp(isa, "scalar"), "LLI_CPU=scalar gave %s", isa);
    CHECK(info(raw, LLI_INFO_N_LAYER) == 3 && info(raw, LLI_INFO_N_EMBD) == 64 && info(raw, LLI_INFO_N_HEAD) == 4 &&
              info(raw, LLI_INFO_N_HEAD_KV) == 2 && info(raw, LLI_INFO_HEAD_DIM) == 16 && info(raw, LLI_INFO_N_FF) == 128,
          "hyperparameters");
    CHECK(info(raw, LLI_INFO_N_VOCAB) == 320, "vocab %lld", (long long)info(raw, LLI_INFO_N_VOCAB));
    CHECK(info(raw, LLI_INFO_N_TENSORS) == 2 + 3 * 9 + 1, "tensors %lld", (long long)info(raw, LLI_INFO_N_TENSORS));
    CHECK(info(raw, LLI_INFO_BACKEND) == LLI_BACKEND_CPU, "backend");
    CHECK(!strcmp(info_s(raw, LLI_INFO_MODEL_ID), info_s(z, LLI_INFO_MODEL_ID)), "compression changed the model id");
    CHECK(strlen(info_s(raw, LLI_INFO_MODEL_ID)) == 32, "model id %s", info_s(raw, LLI_INFO_MODEL_ID));
    /* Same bytes, whichever way they were stored. */
    uint64_t total = 0;
    for (int64_t i = 0; i < info(raw, LLI_INFO_N_TENSORS); i++) {
        const char *n1, *n2, *t1;
        uint64_t b1, b2;
        int64_t d[4];
        int nd;
        lli_model_tensor_info(raw, i, &n1, &t1, &nd, d, &b1);
        lli_model_tensor_info(z, i, &n2, NULL, NULL, NULL, &b2);
        CHECK(!strcmp(n1, n2) && b1 == b2, "tensor %lld differs: %s/%s", (long long)i, n1, n2);
        total += b1;
        if (!strcmp(n1, "blk.0.attn_q.weight"))
            CHECK(!strcmp(t1, "q4_1") && nd == 2 && d[0] == 64 && d[1] == 64, "attn_q %s %d", t1, nd);
    }
    CHECK(total == (uint64_t)info(raw, LLI_INFO_BYTES), "bytes %llu vs %lld", (unsigned long long)total,
          (long long)info(raw, LLI_INFO_BYTES));
    CHECK_FAILS(lli_model_tensor_info(raw, 9999, NULL, NULL, NULL, NULL, NULL), LLI_E_INVALID_ARG, "9999");
    CHECK_FAILS(lli_model_info_int(raw, 777, &(int64_t){0}), LLI_E_INVALID_ARG, "777");
    /* A string key given to the integer reader is refused, not read as the integer fact it overlapped. */
    CHECK_FAILS(lli_model_info_int(raw, LLI_INFO_ARCH, &(int64_t){0}), LLI_E_INVALID_ARG, "string key");
    CHECK_FAILS(lli_model_info_str(raw, LLI_INFO_N_LAYER + 100, &(const char *){0}), LLI_E_INVALID_ARG, "unknown key");
    /* Programs built before 1.1 numbered the string keys 1 to 6: they still get their strings. */
    const char *legacy, *current;
    CHECK(lli_model_info_str(raw, 2, &legacy) == LLI_OK && lli_model_info_str(raw, LLI_INFO_FAMILY, &current) == LLI_OK &&
              !strcmp(legacy, current) && !strcmp(current, "llama"),
          "legacy family key");
    lli_model_free(raw);
    lli_model_free(z);
    CHECK(lli_model_verify(g_raw, 2, NULL, NULL) == LLI_OK, "verify raw: %s", lli_last_error());
    CHECK(lli_model_verify(g_zstd, 1, NULL, NULL) == LLI_OK, "verify zstd: %s", lli_last_error());
}

/* The logits of a short prompt's last token (five tokens in one batch: the prefill path) and of
 * one more token alone (the decode path), vocab each, into out, from the model at dir loaded with
 * the given in_place. */
static int prompt_logits(const char *dir, int in_place, int64_t vocab, float *out) {
    lli_model_params *p = NULL;
    lli_model *m = NULL;
    lli_kv_cache *kv = NULL;
    lli_context *ctx = NULL;
    lli_batch *b = NULL;
    lli_seq_id s = 0;
    const float *l = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_in_place(p, in_place);
    if (!st) st = lli_model_load(dir, p, &m);
    if (!st) st = lli_kv_cache_create(m, NULL, &kv);
    if (!st) st = lli_context_create(m, kv, NULL, &ctx);
    if (!st) st = lli_batch_create(8, &b);
    if (!st) st = lli_kv_seq_create(kv, &s);
    for (int i = 0; !st && i < 5; i++) st = lli_batch_add(b, 7 + 31 * i, s, i, i == 4);
    if (!st) st = lli_decode(ctx, b);
    if (!st) st = lli_get_logits(ctx, 4, &l);
    if (!st) memcpy(out, l, (size_t)vocab * sizeof *out);
    if (!st) lli_batch_clear(b), st = lli_batch_add(b, 11, s, 5, 1);
    if (!st) st = lli_decode(ctx, b);
    if (!st) st = lli_get_logits(ctx, 0, &l);
    if (!st) memcpy(out + vocab, l, (size_t)vocab * sizeof *out);
    CHECK(st == LLI_OK, "%s, in_place %d: %s", dir, in_place, lli_last_error());
    lli_batch_free(b);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
    lli_model_free(m);
    lli_model_params_free(p);
    return st == LLI_OK;
}

/* Raw fragments copied into the backend's memory (the default) or used in place, and zstd ones
 * decompressed: the same weights, so the same logits, bit for bit. */
static void same_logits(const char *raw, const char *zstd, int64_t vocab) {
    float *copied = calloc((size_t)(4 * vocab), sizeof *copied), *mapped = calloc((size_t)(2 * vocab), sizeof *mapped);
    float *unpacked = copied + 2 * vocab;
    const size_t bytes = (size_t)(2 * vocab) * sizeof *copied;
    if (prompt_logits(raw, 0, vocab, copied) && prompt_logits(raw, 1, vocab, mapped) && prompt_logits(zstd, 1, vocab, unpacked)) {
        CHECK(!memcmp(copied, mapped, bytes), "%s: logits differ between copied and in-place fragments", raw);
        CHECK(!memcmp(copied, unpacked, bytes), "%s: logits differ between raw and zstd fragments", raw);
        int finite = 1;
        for (int64_t i = 0; i < 2 * vocab; i++) finite &= isfinite(copied[i]) && copied[i] != 0;
        CHECK(finite, "%s: logits not finite and non-zero", raw);
    }
    free(copied), free(mapped);
}

static void test_in_place(void) {
    CHECK_FAILS(lli_model_params_set_in_place(NULL, 1), LLI_E_INVALID_ARG, "params");
    same_logits(g_raw, g_zstd, 320);
    /* K-quant weights, which the CPU backend rearranges at load (X8, in its memory: copied raw
     * fragments and decompressed zstd ones) but not in place: the same logits all the same, in
     * prefill and decode. Their vocabulary of 325 leaves the output matrix five rows past its
     * last group of eight. */
    for (int i = 0; i < g_n_kquant; i++) {
        char raw[4096], zstd[4096];
        snprintf(raw, sizeof raw, "%s/kq%d-raw", g_tmp, i);
        snprintf(zstd, sizeof zstd, "%s/kq%d-zstd", g_tmp, i);
        CHECK(convert(g_kquant[i], raw, LLI_COMPRESS_NONE) == LLI_OK, "convert %s: %s", g_kquant[i], lli_last_error());
        CHECK(convert(g_kquant[i], zstd, LLI_COMPRESS_ZSTD) == LLI_OK, "convert %s: %s", g_kquant[i], lli_last_error());
        same_logits(raw, zstd, 325);
    }
}

static void test_arch_and_ranges(void) {
    lli_model *m;
    CHECK_FAILS(load_with(g_raw, "mistral_7b", 0, -1, 0, &m), LLI_E_MISMATCH, "expected mistral_7b", "got llama");
    CHECK(load_with(g_raw, "llama", 0, -1, 0, &m) == LLI_OK, "family as expected arch: %s", lli_last_error());
    lli_model_free(m);
    CHECK(load_with(g_raw, NULL, 1, 2, 0, &m) == LLI_OK, "layer range: %s", lli_last_error());
    if (m) {
        CHECK(info(m, LLI_INFO_N_TENSORS) == 9, "one layer: %lld tensors", (long long)info(m, LLI_INFO_N_TENSORS));
        CHECK(info(m, LLI_INFO_LAYER_FIRST) == 1 && info(m, LLI_INFO_LAYER_LAST) == 2, "range info");
    }
    lli_model_free(m);
    CHECK_FAILS(load_with(g_raw, NULL, 1, 7, 0, &m), LLI_E_INVALID_ARG, "[1, 7)", "3 layers");
    CHECK(load_with(g_raw, NULL, 0, -1, 1, &m) == LLI_OK, "vocab-only load: %s", lli_last_error());
    if (m) CHECK(info(m, LLI_INFO_N_TENSORS) == 0 && info(m, LLI_INFO_VOCAB_ONLY) == 1, "vocab only");
    lli_model_free(m);

    char qdir[4096];
    snprintf(qdir, sizeof qdir, "%s/qwen3", g_tmp);
    CHECK(convert(g_qwen, qdir, LLI_COMPRESS_NONE) == LLI_OK, "convert qwen3: %s", lli_last_error());
    CHECK(load_with(qdir, "qwen3", 0, -1, 0, &m) == LLI_OK, "qwen3: %s", lli_last_error());
    lli_model_free(m);
    CHECK_FAILS(load_with(qdir, "llama", 0, -1, 0, &m), LLI_E_MISMATCH, "expected llama", "got qwen3");
}

static void test_vocab_only_gguf(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/vocab", g_tmp);
    CHECK(convert(g_vocab, dir, LLI_COMPRESS_ZSTD) == LLI_OK, "convert vocab-only: %s", lli_last_error());
    lli_model *m;
    CHECK(load(dir, &m) == LLI_OK, "load vocab-only: %s", lli_last_error());
    if (m) {
        CHECK(info(m, LLI_INFO_VOCAB_ONLY) == 1 && info(m, LLI_INFO_N_TENSORS) == 0, "vocab-only facts");
        CHECK(info(m, LLI_INFO_N_VOCAB) > 1000, "vocab %lld", (long long)info(m, LLI_INFO_N_VOCAB));
        CHECK(info(m, LLI_INFO_N_FRAGMENTS) == 1, "fragments %lld", (long long)info(m, LLI_INFO_N_FRAGMENTS));
    }
    lli_model_free(m);
    CHECK(lli_model_verify(dir, 0, NULL, NULL) == LLI_OK, "verify vocab-only: %s", lli_last_error());
}

static void test_damaged_fragments(void) {
    static const char *frags[] = {"tokenizer", "embed", "layer-000", "layer-001", "layer-002", "head"};
    char path[4096];
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        /* Flipped bytes: in the header's fields, and spread over the payload. */
        frag_path(path, g_raw, frags[i]);
        long long size = test_file_size(path);
        long long offsets[] = {0, 9, 13, 17, 25, 41, 73, 105, 200, 256, 257, size / 3, size / 2, size - 1};
        for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
            char *dir = scratch_copy(g_raw, "flip");
            frag_path(path, dir, frags[i]);
            test_flip_byte(path, offsets[k]);
            lli_model *m;
            lli_status st = load(dir, &m);
            CHECK(st != LLI_OK && strstr(lli_last_error(), frags[i]), "flip %s@%lld: %s: %s", frags[i], offsets[k],
                  lli_status_str(st), lli_last_error());
            lli_model_free(m);
            CHECK(lli_model_verify(dir, 2, NULL, NULL) != LLI_OK && strstr(lli_last_error(), frags[i]),
                  "verify flip %s@%lld: %s", frags[i], offsets[k], lli_last_error());
            test_rm_rf(dir);
            free(dir);
        }
        /* A payload flip is a checksum failure. */
        char *dir = scratch_copy(g_raw, "payload");
        frag_path(path, dir, frags[i]);
        test_flip_byte(path, test_file_size(path) - 1);
        expect_refused(dir, LLI_E_CHECKSUM, frags[i], "payload flip");
        test_rm_rf(dir);
        free(dir);
        /* Truncated, in the header and in the payload. */
        long long cuts[] = {0, 100, size - 1};
        for (size_t k = 0; k < 3; k++) {
            dir = scratch_copy(g_zstd, "trunc");
            frag_path(path, dir, frags[i]);
            test_truncate(path, cuts[k] < test_file_size(path) ? cuts[k] : 1);
            expect_refused(dir, LLI_E_FORMAT, frags[i], "truncated");
            test_rm_rf(dir);
            free(dir);
        }
        /* Missing. */
        dir = scratch_copy(g_raw, "missing");
        frag_path(path, dir, frags[i]);
        remove(path);
        expect_refused(dir, LLI_E_IO, frags[i], "missing");
        test_rm_rf(dir);
        free(dir);
    }
}

static void test_foreign_fragments(void) {
    char other[4096], src[4096], dst[4096];
    snprintf(other, sizeof other, "%s/other", g_tmp);
    CHECK(convert(g_other, other, LLI_COMPRESS_NONE) == LLI_OK, "convert other: %s", lli_last_error());
    /* Same shapes, other weights: the header names the other model. */
    char *dir = scratch_copy(g_raw, "foreign");
    frag_path(src, other, "layer-001");
    frag_path(dst, dir, "layer-001");
    test_copy_file(src, dst);
    expect_refused(dir, LLI_E_MISMATCH, "layer-001", "foreign fragment");
    CHECK(strstr(lli_last_error(), "belongs to model"), "message: %s", lli_last_error());
    test_rm_rf(dir);
    free(dir);
    /* Another architecture altogether. */
    dir = scratch_copy(g_raw, "foreign-arch");
    snprintf(src, sizeof src, "%s/qwen3/layer-000.frag", g_tmp);
    frag_path(dst, dir, "layer-000");
    test_copy_file(src, dst);
    expect_refused(dir, LLI_E_MISMATCH, "layer-000", "foreign architecture");
    CHECK(strstr(lli_last_error(), "architecture mismatch") && strstr(lli_last_error(), "qwen3"), "message: %s",
          lli_last_error());
    test_rm_rf(dir);
    free(dir);
    /* A fragment of the same model under another name. */
    dir = scratch_copy(g_raw, "swapped");
    frag_path(src, g_raw, "layer-000");
    frag_path(dst, dir, "layer-002");
    test_copy_file(src, dst);
    expect_refused(dir, LLI_E_MISMATCH, "layer-002", "swapped fragment");
    test_rm_rf(dir);
    free(dir);
}

/* Replace the first occurrence of `from` in the manifest by `to`. */
static char *manifest_edit(const char *from, const char *to) {
    char *dir = scratch_copy(g_raw, "manifest");
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t n;
    char *text = test_read_file(path, &n);
    char *at = strstr(text, from);
    if (!at) {
        fprintf(stderr, "manifest has no \"%s\"\n", from);
        exit(2);
    }
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, n - head - fl + 1);
    test_write_file(path, out, n - fl + tl);
    free(text);
    free(out);
    return dir;
}

static void expect_manifest(const char *from, const char *to, lli_status want, const char *word) {
    char *dir = manifest_edit(from, to);
    lli_model *m;
    lli_status st = load(dir, &m);
    CHECK(st == want && strstr(lli_last_error(), word), "manifest %s -> %s: %s: %s", from, to, lli_status_str(st),
          lli_last_error());
    lli_model_free(m);
    test_rm_rf(dir);
    free(dir);
}

static void test_bad_manifests(void) {
    expect_manifest("{", "[", LLI_E_FORMAT, "not valid JSON");
    expect_manifest("\"format_version\"", "\"format_versio\"", LLI_E_FORMAT, "format_version is missing");
    expect_manifest("\"hparams\"", "\"hparamz\"", LLI_E_FORMAT, "hparams is missing");
    expect_manifest("\"n_embd\": 64", "\"n_embd\": \"64\"", LLI_E_FORMAT, "hparams.n_embd must be an integer");
    expect_manifest("\"n_layer\": 3", "\"n_layer\": 3.5", LLI_E_FORMAT, "n_layer must be an integer");
    expect_manifest("\"tied_embeddings\": false", "\"tied_embeddings\": 0", LLI_E_FORMAT, "true or false");
    expect_manifest("\"raw_size\": ", "\"raw_size\": -", LLI_E_FORMAT, "raw_size");
    expect_manifest("\"size\": ", "\"size\": 1", LLI_E_FORMAT, "raw_size + 256");
    expect_manifest("\"size\": ", "\"size\": 99999999999999999999", LLI_E_FORMAT, "not valid JSON");
    expect_manifest("\"offset\": 0", "\"offset\": 1099511627776", LLI_E_FORMAT, "past the end of fragment");
    expect_manifest("\"offset\": 0", "\"offset\": 3", LLI_E_FORMAT, "multiple of 64");
    expect_manifest("\"type\": \"q4_1\"", "\"type\": \"q9_9\"", LLI_E_UNSUPPORTED, "q9_9");
    expect_manifest("\"file\": \"layer-001.frag\"", "\"file\": \"../layer-001.frag\"", LLI_E_FORMAT, "plain file name");
    expect_manifest("\"compression\": \"none\"", "\"compression\": \"lz4\"", LLI_E_UNSUPPORTED, "lz4");
    expect_manifest("\"architecture\": \"llama\"", "\"architecture\": \"gptj\"", LLI_E_UNSUPPORTED, "gptj");
    expect_manifest("\"model\": \"gpt2\"", "\"model\": \"gpt1\"", LLI_E_UNSUPPORTED, "tokenizer.model \"gpt1\"");
    expect_manifest("\"format_version\": 1", "\"format_version\": 2", LLI_E_UNSUPPORTED, "format_version 2");
    expect_manifest("\"rms_eps\": ", "\"rms_eps\": -", LLI_E_FORMAT, "positive");
    /* Sizes that claim more than the file holds. */
    expect_manifest("\"name\": \"layer-002\"", "\"name\": \"layer-002\", \"zzz\": 1", LLI_E_FORMAT, "model_id");
    expect_manifest("\"n_head\": 4", "\"n_head\": 3", LLI_E_FORMAT, "n_head");
    expect_manifest("\"shape\": [\n", "\"shape\": [\n 128,\n", LLI_E_FORMAT, "token_embd");
}

static int cancel_after_first(uint64_t done, uint64_t total, void *user) {
    (void)total;
    int *calls = user;
    return ++*calls < 2 && done > 0 ? 1 : 0;
}

static void test_conversion_is_atomic(void) {
    char out[4096];
    snprintf(out, sizeof out, "%s/cancelled", g_tmp);
    lli_convert_params *p = NULL;
    int calls = 0;
    lli_convert_params_create(&p);
    lli_convert_params_set_progress(p, cancel_after_first, &calls);
    CHECK_FAILS(lli_convert_gguf(g_tiny, out, p), LLI_E_CANCELLED, "cancelled");
    lli_convert_params_free(p);
    CHECK(!test_exists(out), "a cancelled conversion left %s", out);
    /* Nothing half-written is left beside it either. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -d %s/cancelled* >/dev/null 2>&1", g_tmp);
    CHECK(system(cmd) != 0, "leftovers beside %s", out);
    CHECK_FAILS(convert(g_tiny, g_raw, LLI_COMPRESS_NONE), LLI_E_IO, "already exists");

    /* A bad GGUF is refused, naming the file. */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.gguf", g_tmp);
    test_write_file(bad, "GGUX\3\0\0\0", 8);
    snprintf(out, sizeof out, "%s/from-bad", g_tmp);
    CHECK_FAILS(convert(bad, out, LLI_COMPRESS_NONE), LLI_E_FORMAT, "bad.gguf");
    CHECK(!test_exists(out), "a failed conversion left %s", out);
}

/* A GGUF that the loader could not use is refused by the converter, naming what is wrong, instead
 * of becoming a directory that no loader accepts: a tensor the forward pass reads is missing, or the
 * tokenizer is of a kind the library does not implement. */
static void expect_unusable(const char *find, const char *replace, lli_status want, const char *word) {
    size_t len;
    char *data = test_read_file(g_tiny, &len);
    CHECK(data != NULL, "cannot read %s", g_tiny);
    if (!data) return;
    char *at = memmem(data, len, find, strlen(find));
    CHECK(at != NULL, "%s has no %s", g_tiny, find);
    if (at) {
        memcpy(at, replace, strlen(find)); /* same length: replace may hold a NUL */
        char in[4096], out[4096];
        snprintf(in, sizeof in, "%s/unusable.gguf", g_tmp);
        snprintf(out, sizeof out, "%s/from-unusable", g_tmp);
        test_write_file(in, data, len);
        CHECK_FAILS(convert(in, out, LLI_COMPRESS_NONE), want, word);
        CHECK(!test_exists(out), "a refused conversion left %s", out);
        test_rm_rf(out); /* so that one failure does not make the next case fail */
    }
    free(data);
}

static void test_unusable_gguf(void) {
    /* blk.1.attn_v.weighX: a name the architecture does not know, so the real one is missing */
    expect_unusable("blk.1.attn_v.weight", "blk.1.attn_v.weighX", LLI_E_FORMAT, "tensor blk.1.attn_v.weight is missing");
    expect_unusable("gpt2", "gpt1", LLI_E_UNSUPPORTED, "tokenizer.ggml.model \"gpt1\" is not supported");
    /* Strings the manifest's JSON could not carry back: invalid UTF-8, a NUL. */
    expect_unusable("random weights", "r\xffndom weights", LLI_E_FORMAT, "general.name is not UTF-8 text");
    expect_unusable("random weights", "rand\0m weights", LLI_E_FORMAT, "general.name is not UTF-8 text");
    expect_unusable("blk.0.ffn_up.weight", "blk.0.ffn_up.w\xc0\xafight", LLI_E_FORMAT, "is not UTF-8 text");
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s TINY.gguf OTHER.gguf QWEN3.gguf VOCAB.gguf KQUANT.gguf...\n", argv[0]);
        return 2;
    }
    g_tiny = argv[1], g_other = argv[2], g_qwen = argv[3], g_vocab = argv[4];
    g_kquant = argv + 5, g_n_kquant = argc - 5;
    g_tmp = test_tmpdir("model");
    snprintf(g_raw, sizeof g_raw, "%s/raw", g_tmp);
    snprintf(g_zstd, sizeof g_zstd, "%s/zstd", g_tmp);
    CHECK(convert(g_tiny, g_raw, LLI_COMPRESS_NONE) == LLI_OK, "convert raw: %s", lli_last_error());
    CHECK(convert(g_tiny, g_zstd, LLI_COMPRESS_ZSTD) == LLI_OK, "convert zstd: %s", lli_last_error());
    if (check_failed) return check_summary();
    test_good_model();
    test_in_place();
    test_arch_and_ranges();
    test_vocab_only_gguf();
    test_damaged_fragments();
    test_foreign_fragments();
    test_bad_manifests();
    test_conversion_is_atomic();
    test_unusable_gguf();
    test_rm_rf(g_tmp);
    free(g_tmp);
    return check_summary();
}
