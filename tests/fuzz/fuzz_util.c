#include "fuzz_util.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_scratch[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void fz_rmtree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_scratch(void) {
    if (g_scratch[0]) fz_rmtree(g_scratch);
}

const char *fz_scratch(void) {
    if (!g_scratch[0]) {
        struct stat sb;
        const char *base = getenv("LLI_FUZZ_TMP");
        if (!base) base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(g_scratch, sizeof g_scratch, "%s/lli-fuzz-XXXXXX", base);
        FZ_CHECK(mkdtemp(g_scratch) != NULL);
        atexit(remove_scratch);
    }
    return g_scratch;
}

void fz_path(char *buf, size_t cap, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", fz_scratch(), name);
    FZ_CHECK(n > 0 && (size_t)n < cap);
}

void fz_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f != NULL);
    FZ_CHECK(n == 0 || fwrite(data, 1, n, f) == n);
    FZ_CHECK(fclose(f) == 0);
}

uint8_t *fz_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    FZ_CHECK(f != NULL);
    FZ_CHECK(fseek(f, 0, SEEK_END) == 0);
    long len = ftell(f);
    FZ_CHECK(len >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *d = malloc((size_t)len + 1);
    FZ_CHECK(d != NULL);
    FZ_CHECK(fread(d, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return d;
}

lli_model *fz_model_from_gguf(const char *gguf, const char *name, int compress, int vocab_only) {
    char dir[512];
    fz_path(dir, sizeof dir, name);
    fz_rmtree(dir);
    lli_convert_params *cp;
    FZ_CHECK(lli_convert_params_create(&cp) == LLI_OK);
    FZ_CHECK(lli_convert_params_set_threads(cp, 1) == LLI_OK);
    FZ_CHECK(lli_convert_params_set_compression(cp, compress ? LLI_COMPRESS_ZSTD : LLI_COMPRESS_NONE, 1) == LLI_OK);
    FZ_CHECK(lli_convert_gguf(gguf, dir, cp) == LLI_OK);
    lli_convert_params_free(cp);
    lli_model_params *mp;
    FZ_CHECK(lli_model_params_create(&mp) == LLI_OK);
    FZ_CHECK(lli_model_params_set_threads(mp, 1) == LLI_OK);
    FZ_CHECK(lli_model_params_set_backend(mp, LLI_BACKEND_CPU) == LLI_OK);
    FZ_CHECK(lli_model_params_set_vocab_only(mp, vocab_only) == LLI_OK);
    lli_model *m;
    FZ_CHECK(lli_model_load(dir, mp, &m) == LLI_OK);
    lli_model_params_free(mp);
    return m;
}

static void exercise_tokenizer(lli_model *m, int64_t n_vocab) {
    static const char text[] = "Hello world, <|im_start|>user\n\xc3\xa9t\xc3\xa9 123 </s><s>";
    lli_token toks[128];
    size_t n = 0;
    lli_status st = lli_tokenize(m, text, sizeof text - 1, 1, 1, toks, 128, &n);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st != LLI_OK) return;
    FZ_CHECK(n <= 128);
    for (size_t i = 0; i < n; i++) {
        if (toks[i] < 0 || toks[i] >= n_vocab) fprintf(stderr, "token %zu of %zu is %d\n", i, n, (int)toks[i]);
        FZ_CHECK(toks[i] >= 0 && toks[i] < n_vocab);
        char piece[64];
        size_t len;
        FZ_STATUS_OK_OR_EXPLAINED(lli_token_to_piece(m, toks[i], piece, sizeof piece, &len));
    }
    char out[1024];
    size_t len;
    FZ_STATUS_OK_OR_EXPLAINED(lli_detokenize(m, toks, n, 0, out, sizeof out, &len));
}

static void exercise_decode(lli_model *m, int64_t n_vocab) {
    lli_kv_cache_params *kp;
    FZ_CHECK(lli_kv_cache_params_create(&kp) == LLI_OK);
    FZ_CHECK(lli_kv_cache_params_set_capacity(kp, 64) == LLI_OK);
    FZ_CHECK(lli_kv_cache_params_set_block_size(kp, 16) == LLI_OK);
    lli_kv_cache *kv = NULL;
    lli_status st = lli_kv_cache_create(m, kp, &kv);
    lli_kv_cache_params_free(kp);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st != LLI_OK) return;
    lli_context_params *cp;
    FZ_CHECK(lli_context_params_create(&cp) == LLI_OK);
    FZ_CHECK(lli_context_params_set_threads(cp, 1) == LLI_OK);
    FZ_CHECK(lli_context_params_set_max_batch(cp, 8) == LLI_OK);
    lli_context *ctx = NULL;
    st = lli_context_create(m, kv, cp, &ctx);
    lli_context_params_free(cp);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    lli_seq_id seq;
    lli_batch *b = NULL;
    lli_sampler *s = NULL;
    if (st == LLI_OK) st = lli_kv_seq_create(kv, &seq);
    if (st == LLI_OK) st = lli_batch_create(8, &b);
    for (int i = 0; st == LLI_OK && i < 3; i++) st = lli_batch_add(b, (lli_token)(i % n_vocab), seq, i, i == 2);
    if (st == LLI_OK) {
        st = lli_decode(ctx, b);
        FZ_STATUS_OK_OR_EXPLAINED(st);
    }
    if (st == LLI_OK) {
        const float *logits;
        FZ_CHECK(lli_get_logits(ctx, 2, &logits) == LLI_OK);
        FZ_CHECK(lli_sampler_create(&s) == LLI_OK);
        FZ_CHECK(lli_sampler_add_greedy(s) == LLI_OK);
        lli_token t;
        st = lli_sampler_sample(s, ctx, 2, &t);
        FZ_STATUS_OK_OR_EXPLAINED(st);
        if (st == LLI_OK) FZ_CHECK(t >= 0 && t < n_vocab);
    }
    lli_sampler_free(s);
    lli_batch_free(b);
    lli_context_free(ctx);
    lli_kv_cache_free(kv);
}

void fz_exercise_model(lli_model *m) {
    int64_t v, n_vocab = 0, n_tensors = 0, vocab_only = 1;
    for (int key = LLI_INFO_N_LAYER; key <= LLI_INFO_TOKEN_EOS; key++) FZ_CHECK(lli_model_info_int(m, key, &v) == LLI_OK);
    FZ_CHECK(lli_model_info_int(m, LLI_INFO_N_VOCAB, &n_vocab) == LLI_OK);
    FZ_CHECK(lli_model_info_int(m, LLI_INFO_N_TENSORS, &n_tensors) == LLI_OK);
    FZ_CHECK(lli_model_info_int(m, LLI_INFO_VOCAB_ONLY, &vocab_only) == LLI_OK);
    for (int key = LLI_INFO_ARCH; key <= LLI_INFO_CHAT_TEMPLATE; key++) {
        const char *s;
        FZ_CHECK(lli_model_info_str(m, key, &s) == LLI_OK && s != NULL);
        FZ_CHECK(strlen(s) < ((size_t)1 << 30));
    }
    for (int64_t i = 0; i < n_tensors; i++) {
        const char *name, *type;
        int n_dims;
        int64_t ne[4];
        uint64_t bytes;
        FZ_CHECK(lli_model_tensor_info(m, i, &name, &type, &n_dims, ne, &bytes) == LLI_OK);
        FZ_CHECK(name && type && n_dims >= 1 && n_dims <= 4);
    }
    FZ_CHECK(n_vocab > 0);
    exercise_tokenizer(m, n_vocab);
    if (!vocab_only) exercise_decode(m, n_vocab);
}
