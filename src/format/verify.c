/* lli_model_verify(): every check of a model directory, each reported on its own, none stopping
 * the others (except an unreadable manifest, without which nothing else can be checked). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "format/fragment_io.h"
#include "format/manifest.h"
#include "base/parallel.h"
#include "base/sha256.h"

typedef struct verify_state {
    const char *dir;
    const lli_manifest *mf;
    lli_status *status;
    char (*message)[512];
} verify_state;

typedef struct reporter {
    lli_verify_fn fn;
    void *user;
    lli_status first;
    char first_msg[512];
} reporter;

static void report(reporter *r, const char *check, lli_status st, const char *detail) {
    if (r->fn) r->fn(check, st == LLI_OK, detail, r->user);
    if (st != LLI_OK && r->first == LLI_OK) {
        r->first = st;
        lli_copy_str(r->first_msg, sizeof r->first_msg, detail);
    }
}

/* A fragment passes if it opens, its header and size match, its file hash matches, and its
 * payload, decompressed, hashes to content_sha256. */
static lli_status check_fragment(const verify_state *s, int64_t i) {
    const lli_mf_fragment *f = &s->mf->fragments[i];
    lli_frag_map map;
    lli_status st = lli_frag_map_open(s->dir, s->mf, i, 1, NULL, &map);
    if (st) return st;
    const void *payload = lli_frag_raw_payload(&map);
    void *buf = NULL;
    if (f->compression == LLI_COMPRESS_ZSTD) {
        buf = malloc(f->raw_size ? (size_t)f->raw_size : 1);
        st = buf ? lli_frag_decompress(s->mf, i, &map, buf) : lli_fail(LLI_E_NOMEM, "out of memory");
        payload = buf;
    }
    char hex[65];
    if (st == LLI_OK && lli_sha256_buffer_hex(payload, (size_t)f->raw_size, hex) != 0)
        st = lli_fail(LLI_E_NOMEM, "out of memory");
    if (st == LLI_OK && strcmp(hex, f->content_sha256) != 0)
        st = lli_fail(LLI_E_CHECKSUM, "fragment %s (%s): its payload's SHA-256 is %s, the manifest says %s", f->name,
                      f->file, hex, f->content_sha256);
    free(buf);
    lli_frag_map_close(&map);
    return st;
}

static void verify_job(int64_t i, void *arg) {
    verify_state *s = arg;
    s->status[i] = check_fragment(s, i);
    if (s->status[i] != LLI_OK) lli_error_copy(s->message[i], sizeof s->message[i]);
}

static int listed(const lli_manifest *mf, const char *file) {
    for (int64_t i = 0; i < mf->n_fragments; i++)
        if (!strcmp(mf->fragments[i].file, file)) return 1;
    return 0;
}

static void check_count(reporter *r, const char *dir, const lli_manifest *mf) {
    char detail[512] = "";
    size_t used = 0;
    int64_t present = 0, extra = 0;
    DIR *d = opendir(dir);
    if (!d) {
        report(r, "fragment count", LLI_E_IO, "cannot list the model directory");
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".frag")) continue;
        if (listed(mf, e->d_name)) present++;
        else {
            extra++;
            if (used < sizeof detail - 64)
                used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s", extra == 1 ? "not in the manifest: " : ", ",
                                         e->d_name);
        }
    }
    closedir(d);
    if (present == mf->n_fragments && extra == 0) {
        snprintf(detail, sizeof detail, "%lld fragments, as the manifest lists", (long long)present);
        report(r, "fragment count", LLI_OK, detail);
        return;
    }
    /* Name what is missing, so that the fix is obvious. */
    char missing[512] = "";
    size_t mused = 0;
    for (int64_t i = 0; i < mf->n_fragments; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, mf->fragments[i].file);
        if (access(path, F_OK) == 0 || mused >= sizeof missing - 64) continue;
        mused += (size_t)snprintf(missing + mused, sizeof missing - mused, "%s%s (%s)", mused ? ", " : "; missing: ",
                                  mf->fragments[i].name, mf->fragments[i].file);
    }
    char msg[1200];
    snprintf(msg, sizeof msg, "the manifest lists %lld fragments, %lld are present%s%s%s", (long long)mf->n_fragments,
             (long long)present, missing, extra ? "; " : "", detail);
    report(r, "fragment count", LLI_E_FORMAT, msg);
}

static void check_shapes(reporter *r, const lli_manifest *mf) {
    if (mf->vocab_only) {
        report(r, "tensor shapes", LLI_OK, "vocab-only model: no tensors");
        return;
    }
    for (int64_t i = 0; i < mf->n_tensors; i++) {
        const lli_mf_tensor *t = &mf->tensors[i];
        lli_status st = lli_arch_check_tensor(&mf->hp, t->name, t->type->id, t->n_dims, t->ne);
        if (st) {
            report(r, "tensor shapes", st, lli_last_error());
            return;
        }
    }
    /* Every tensor the forward pass reads must be there. */
    char name[LLI_TENSOR_NAME_MAX], msg[160];
    for (int64_t k = 0; lli_arch_required_tensor(&mf->hp, k, name); k++) {
        int found = 0;
        for (int64_t i = 0; i < mf->n_tensors && !found; i++) found = !strcmp(mf->tensors[i].name, name);
        if (!found) {
            snprintf(msg, sizeof msg, "tensor %s is missing", name);
            report(r, "tensor shapes", LLI_E_FORMAT, msg);
            return;
        }
    }
    snprintf(msg, sizeof msg, "%lld tensors agree with the hyperparameters", (long long)mf->n_tensors);
    report(r, "tensor shapes", LLI_OK, msg);
}

lli_status lli_model_verify(const char *path, int n_threads, lli_verify_fn fn, void *user) {
    if (!path) return lli_fail(LLI_E_INVALID_ARG, "lli_model_verify: path is NULL");
    if (n_threads < 0 || n_threads > 1024) return lli_fail(LLI_E_INVALID_ARG, "lli_model_verify: bad thread count");
    reporter r = {.fn = fn, .user = user};
    lli_manifest *mf = NULL;
    lli_status st = lli_manifest_read(path, &mf);
    if (st) {
        report(&r, "manifest", st, lli_last_error());
        return st;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "format %d, model %s, %lld fragments, %lld tensors", LLI_FORMAT_VERSION, mf->model_id,
             (long long)mf->n_fragments, (long long)mf->n_tensors);
    report(&r, "manifest", LLI_OK, msg);
    check_count(&r, path, mf);
    if (mf->vocab_only) snprintf(msg, sizeof msg, "vocab-only (tokenizer %s)", mf->tok.model);
    else if (mf->detected) snprintf(msg, sizeof msg, "%s (family %s)", mf->detected->name, mf->family);
    else snprintf(msg, sizeof msg, "%s (no known preset has these dimensions)", mf->family);
    report(&r, "architecture", LLI_OK, msg);
    check_shapes(&r, mf);

    verify_state s = {.dir = path, .mf = mf};
    s.status = calloc((size_t)mf->n_fragments, sizeof *s.status);
    s.message = calloc((size_t)mf->n_fragments, sizeof *s.message);
    if (!s.status || !s.message) {
        free(s.status), free(s.message);
        lli_manifest_free(mf);
        return lli_fail(LLI_E_NOMEM, "out of memory");
    }
    lli_parallel_for(n_threads, mf->n_fragments, verify_job, &s);
    int64_t good = 0;
    for (int64_t i = 0; i < mf->n_fragments; i++) {
        const lli_mf_fragment *f = &mf->fragments[i];
        char check[96];
        snprintf(check, sizeof check, "fragment %s", f->name);
        if (s.status[i] == LLI_OK) {
            good++;
            snprintf(msg, sizeof msg, "%s, %llu bytes, checksums valid", f->compression ? "zstd" : "raw",
                     (unsigned long long)f->size);
            report(&r, check, LLI_OK, msg);
        } else {
            report(&r, check, s.status[i], s.message[i]);
        }
    }
    snprintf(msg, sizeof msg, "%lld of %lld fragments valid", (long long)good, (long long)mf->n_fragments);
    report(&r, "checksums", good == mf->n_fragments ? LLI_OK : LLI_E_CHECKSUM, msg);
    free(s.status);
    free(s.message);
    lli_manifest_free(mf);
    if (r.first != LLI_OK) return lli_fail(r.first, "%s: %s", path, r.first_msg);
    return LLI_OK;
}
