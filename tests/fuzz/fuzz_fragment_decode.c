/* A damaged fragment, then decode: a tiny random-weight model (lli-mkgguf) is converted at start,
 * raw and zstd-compressed. The input damages one fragment file:
 *   byte 0: bit 0 picks the zstd copy, bits 1-7 the fragment (modulo their count);
 *   bytes 1-4: offset (little-endian, modulo the file's size); the rest: bytes written there (the
 *   file keeps its size).
 * Loaded without verification the model must load or fail with a message, and decode and sample
 * or fail with a message. Loaded with verification it must be refused exactly when a byte changed. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

#ifndef LLI_FUZZ_TINY_GGUF
#error "LLI_FUZZ_TINY_GGUF: the tiny model's path"
#endif

#define MAX_FILES 16

typedef struct variant {
    int n;
    char name[MAX_FILES][64];
    uint8_t *data[MAX_FILES];
    size_t size[MAX_FILES];
    int frags[MAX_FILES], n_frags; /* indices of the .frag files */
} variant;

static variant g_var[2];

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void read_variant(const char *dir, variant *v) {
    DIR *dh = opendir(dir);
    FZ_CHECK(dh != NULL);
    char *names[MAX_FILES];
    int n = 0;
    for (struct dirent *e; (e = readdir(dh));) {
        if (e->d_name[0] == '.') continue;
        FZ_CHECK(n < MAX_FILES && strlen(e->d_name) < 64);
        names[n++] = strdup(e->d_name);
    }
    closedir(dh);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        strcpy(v->name[i], names[i]);
        v->data[i] = fz_read_file(path, &v->size[i]);
        if (strstr(names[i], ".frag")) v->frags[v->n_frags++] = i;
        free(names[i]);
    }
    v->n = n;
    FZ_CHECK(v->n_frags > 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    for (int z = 0; z < 2; z++) {
        const char *name = z ? "base-zstd" : "base-raw";
        lli_model *m = fz_model_from_gguf(LLI_FUZZ_TINY_GGUF, name, z, 0);
        lli_model_free(m);
        char dir[512];
        fz_path(dir, sizeof dir, name);
        read_variant(dir, &g_var[z]);
    }
    return 0;
}

static lli_status load(const char *dir, int verify, lli_model **m) {
    lli_model_params *mp;
    FZ_CHECK(lli_model_params_create(&mp) == LLI_OK);
    FZ_CHECK(lli_model_params_set_threads(mp, 1) == LLI_OK);
    FZ_CHECK(lli_model_params_set_backend(mp, LLI_BACKEND_CPU) == LLI_OK);
    FZ_CHECK(lli_model_params_set_verify(mp, verify) == LLI_OK);
    lli_status st = lli_model_load(dir, mp, m);
    lli_model_params_free(mp);
    FZ_STATUS_OK_OR_EXPLAINED(st);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 5) return 0;
    const variant *v = &g_var[d[0] & 1];
    const int target = v->frags[(d[0] >> 1) % v->n_frags];
    const size_t size = v->size[target], off = (d[1] | (size_t)d[2] << 8 | (size_t)d[3] << 16 | (size_t)d[4] << 24) % size;
    size_t len = n - 5;
    if (len > size - off) len = size - off;
    const int changed = memcmp(v->data[target] + off, d + 5, len) != 0;

    char dir[512];
    fz_path(dir, sizeof dir, "damaged");
    fz_rmtree(dir);
    FZ_CHECK(mkdir(dir, 0755) == 0);
    for (int i = 0; i < v->n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, v->name[i]);
        if (i != target) {
            fz_write_file(path, v->data[i], v->size[i]);
            continue;
        }
        uint8_t *copy = malloc(size);
        FZ_CHECK(copy != NULL);
        memcpy(copy, v->data[i], size);
        memcpy(copy + off, d + 5, len);
        fz_write_file(path, copy, size);
        free(copy);
    }

    lli_model *m = NULL;
    if (load(dir, 0, &m) == LLI_OK) {
        fz_exercise_model(m);
        lli_model_free(m);
    }
    lli_status st = load(dir, 1, &m);
    if (st == LLI_OK) lli_model_free(m);
    FZ_CHECK(changed ? st != LLI_OK : st == LLI_OK);
    return 0;
}
