/* GGUF reader and converter: the input is a GGUF file. It is parsed from memory (every string,
 * array and tensor must then lie inside the buffer), then written to a file, converted into
 * fragments, and the result loaded with verification and used. */
#include <string.h>

#include "format/gguf.h"
#include "fuzz_util.h"

static void check_parsed(const gguf_file *f, const uint8_t *d, size_t n) {
    const uint8_t *end = d + n;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        FZ_CHECK((const uint8_t *)kv->key.ptr >= d && kv->key.len <= (uint64_t)(end - (const uint8_t *)kv->key.ptr));
        if (kv->strs) {
            uint64_t count = kv->type == GGUF_ARRAY ? kv->n : 1;
            for (uint64_t j = 0; j < count; j++) {
                const gguf_str *s = &kv->strs[j];
                FZ_CHECK((const uint8_t *)s->ptr >= d && s->len <= (uint64_t)(end - (const uint8_t *)s->ptr));
            }
        } else if (kv->type == GGUF_ARRAY) {
            size_t es = gguf_scalar_size(kv->elem_type);
            FZ_CHECK(es > 0 && kv->data >= d && kv->n <= (uint64_t)(end - kv->data) / es);
            double x;
            int64_t y;
            if (kv->n) gguf_arr_f64(kv, kv->n - 1, &x), gguf_arr_i64(kv, kv->n - 1, &y);
        } else {
            FZ_CHECK(kv->data >= d && gguf_scalar_size(kv->type) <= (size_t)(end - kv->data));
        }
        /* The typed look-ups on this key: none may read outside. */
        char key[256];
        if (kv->key.len < sizeof key) {
            memcpy(key, kv->key.ptr, kv->key.len);
            key[kv->key.len] = 0;
            int64_t i64;
            double f64;
            int b;
            gguf_str s;
            gguf_get_i64(f, key, &i64), gguf_get_f64(f, key, &f64), gguf_get_bool(f, key, &b), gguf_get_str(f, key, &s);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        FZ_CHECK(t->n_dims >= 1 && t->n_dims <= 4);
        FZ_CHECK(t->data >= d && t->bytes <= (uint64_t)(end - t->data));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    gguf_file *f = NULL;
    lli_status st = gguf_parse(d, n, &f);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st == LLI_OK) {
        check_parsed(f, d, n);
        gguf_close(f);
    } else {
        FZ_CHECK(f == NULL);
        return 0; /* the converter reads through the same parser: nothing more to learn */
    }

    char in[512], out[512];
    fz_path(in, sizeof in, "in.gguf");
    fz_path(out, sizeof out, "out");
    fz_write_file(in, d, n);
    lli_convert_params *cp;
    FZ_CHECK(lli_convert_params_create(&cp) == LLI_OK);
    FZ_CHECK(lli_convert_params_set_threads(cp, 1) == LLI_OK);
    /* Both storage kinds, chosen by the input so that a crash reproduces. */
    FZ_CHECK(lli_convert_params_set_compression(cp, n % 2 ? LLI_COMPRESS_ZSTD : LLI_COMPRESS_NONE, 1) == LLI_OK);
    st = lli_convert_gguf(in, out, cp);
    lli_convert_params_free(cp);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st == LLI_OK) {
        /* What the converter wrote must be a model that verifies and loads. */
        FZ_CHECK(lli_model_verify(out, 1, NULL, NULL) == LLI_OK);
        lli_model_params *mp;
        FZ_CHECK(lli_model_params_create(&mp) == LLI_OK);
        FZ_CHECK(lli_model_params_set_threads(mp, 1) == LLI_OK);
        FZ_CHECK(lli_model_params_set_backend(mp, LLI_BACKEND_CPU) == LLI_OK);
        lli_model *m = NULL;
        st = lli_model_load(out, mp, &m);
        lli_model_params_free(mp);
        FZ_CHECK(st == LLI_OK);
        fz_exercise_model(m);
        lli_model_free(m);
    }
    fz_rmtree(out);
    return 0;
}
