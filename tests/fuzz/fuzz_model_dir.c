/* Manifest, fragment headers and the loader: the input is a small archive of a model directory,
 *   byte 0: flags (bit 0: load with verification; bit 1: vocab only; bit 2: also lli_model_verify)
 *   then entries: a file name ending in NUL (at most 64 bytes, made a plain name), a 32-bit
 *   little-endian length, and that many bytes (cut at the end of the input).
 * The files are written into a fresh directory which is loaded; a model that loads is used. */
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static void on_check(const char *check, int ok, const char *detail, void *user) {
    (void)ok, (void)user;
    FZ_CHECK(check != NULL && detail != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    const int flags = d[0];
    char dir[512];
    fz_path(dir, sizeof dir, "model");
    fz_rmtree(dir);
    FZ_CHECK(mkdir(dir, 0755) == 0);
    size_t i = 1;
    for (int files = 0; i < n && files < 16; files++) {
        char name[65];
        size_t k = 0;
        while (i < n && d[i] && k < 64) {
            char c = (char)d[i++];
            int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || (c == '.' && k > 0);
            name[k++] = plain ? c : '_';
        }
        name[k] = 0;
        if (i < n && d[i] == 0) i++;
        uint32_t len = 0;
        for (int b = 0; b < 4 && i < n; b++) len |= (uint32_t)d[i++] << (8 * b);
        if (len > n - i) len = (uint32_t)(n - i);
        if (k > 0) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            fz_write_file(path, d + i, len);
        }
        i += len;
    }

    lli_model_params *mp;
    FZ_CHECK(lli_model_params_create(&mp) == LLI_OK);
    FZ_CHECK(lli_model_params_set_threads(mp, 1) == LLI_OK);
    FZ_CHECK(lli_model_params_set_backend(mp, LLI_BACKEND_CPU) == LLI_OK);
    FZ_CHECK(lli_model_params_set_verify(mp, flags & 1) == LLI_OK);
    FZ_CHECK(lli_model_params_set_vocab_only(mp, (flags >> 1) & 1) == LLI_OK);
    lli_model *m = NULL;
    lli_status st = lli_model_load(dir, mp, &m);
    lli_model_params_free(mp);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    if (st == LLI_OK) {
        fz_exercise_model(m);
        lli_model_free(m);
    } else {
        FZ_CHECK(m == NULL);
    }
    if (flags & 4) {
        lli_status vs = lli_model_verify(dir, 1, on_check, NULL);
        FZ_STATUS_OK_OR_EXPLAINED(vs);
        /* A directory that passes every check must load with verification. */
        if (vs == LLI_OK && (flags & 1) && !((flags >> 1) & 1)) FZ_CHECK(st == LLI_OK);
    }
    return 0;
}
