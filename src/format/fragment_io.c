#include "format/fragment_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "base/error.h"
#include "base/file.h"
#include "format/fragment.h"
#include "base/sha256.h"

/* Hashing in chunks lets progress be reported and a cancel be noticed on big fragments. */
#define HASH_CHUNK ((size_t)8 << 20)

static lli_status hash_check(const lli_mf_fragment *f, const uint8_t *data, size_t len, lli_progress *pr) {
    lli_sha256 *h = lli_sha256_new();
    if (!h) return lli_fail(LLI_E_NOMEM, "out of memory hashing fragment %s", f->name);
    for (size_t off = 0; off < len; off += HASH_CHUNK) {
        size_t n = len - off < HASH_CHUNK ? len - off : HASH_CHUNK;
        lli_sha256_update(h, data + off, n);
        if (!lli_progress_add(pr, n)) {
            uint8_t d[32];
            lli_sha256_final(h, d);
            return lli_fail(LLI_E_CANCELLED, "cancelled while verifying fragment %s", f->name);
        }
    }
    uint8_t d[32];
    char hex[65];
    lli_sha256_final(h, d);
    lli_sha256_hex(d, hex);
    if (strcmp(hex, f->sha256) != 0)
        return lli_fail(LLI_E_CHECKSUM, "fragment %s (%s) is damaged: SHA-256 is %s, the manifest says %s", f->name,
                        f->file, hex, f->sha256);
    return LLI_OK;
}

lli_status lli_frag_map_open(const char *dir, const lli_manifest *m, int64_t index, int verify, lli_progress *pr,
                             lli_frag_map *out) {
    const lli_mf_fragment *f = &m->fragments[index];
    out->base = NULL;
    out->len = 0;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, f->file) >= sizeof path)
        return lli_fail(LLI_E_INVALID_ARG, "fragment %s: path is too long", f->name);
    int fd;
    uint64_t size;
    lli_status st = lli_open_regular(path, &fd, &size);
    if (st != LLI_OK) return lli_fail_prefix(st, "fragment %s: ", f->name);
    /* The header first: a fragment from another model is named as such, whatever its size. */
    uint8_t hdr[LLI_FRAG_HEADER_BYTES];
    ssize_t got = size >= LLI_FRAG_HEADER_BYTES ? pread(fd, hdr, sizeof hdr, 0) : 0;
    if (got == (ssize_t)sizeof hdr) st = lli_frag_header_check(hdr, m, index);
    if (st == LLI_OK && size != f->size)
        st = lli_fail(LLI_E_FORMAT, "fragment %s (%s) is %s: %llu bytes, the manifest says %llu", f->name, f->file,
                      size < f->size ? "truncated" : "too long", (unsigned long long)size, (unsigned long long)f->size);
    if (st != LLI_OK) {
        close(fd);
        return st;
    }
    void *base = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (base == MAP_FAILED)
        return lli_fail(lli_errno_status(err), "fragment %s: cannot map %s: %s", f->name, path, strerror(err));
    /* The whole file is about to be read: start reading it now. Not MADV_SEQUENTIAL (this said
     * MADV_SEQUENTIAL | MADV_WILLNEED, whose number is MADV_WILLNEED's: madvise takes one piece of
     * advice): a fragment used in place is read again at every token, and sequential advice
     * lets the kernel drop pages soon after they were read. */
    madvise(base, (size_t)f->size, MADV_WILLNEED);
    if (verify) st = hash_check(f, base, (size_t)f->size, pr);
    if (st != LLI_OK) {
        munmap(base, (size_t)f->size);
        return st;
    }
    out->base = base;
    out->len = (size_t)f->size;
    return LLI_OK;
}

void lli_frag_map_close(lli_frag_map *map) {
    if (map->base) munmap(map->base, map->len);
    map->base = NULL;
    map->len = 0;
}

const void *lli_frag_raw_payload(const lli_frag_map *map) { return (const uint8_t *)map->base + LLI_FRAG_HEADER_BYTES; }

lli_status lli_frag_decompress(const lli_manifest *m, int64_t index, const lli_frag_map *map, void *dst) {
    const lli_mf_fragment *f = &m->fragments[index];
    const uint8_t *src = (const uint8_t *)map->base + LLI_FRAG_HEADER_BYTES;
    size_t src_len = map->len - LLI_FRAG_HEADER_BYTES;
    unsigned long long content = ZSTD_getFrameContentSize(src, src_len);
    if (content != f->raw_size)
        return lli_fail(LLI_E_FORMAT, "fragment %s (%s): the zstd frame holds %s bytes, the manifest says %llu", f->name,
                        f->file, content == ZSTD_CONTENTSIZE_ERROR ? "no valid frame of" : "a different number of",
                        (unsigned long long)f->raw_size);
    size_t got = ZSTD_decompress(dst, (size_t)f->raw_size, src, src_len);
    if (ZSTD_isError(got))
        return lli_fail(LLI_E_FORMAT, "fragment %s (%s): zstd: %s", f->name, f->file, ZSTD_getErrorName(got));
    if (got != f->raw_size)
        return lli_fail(LLI_E_FORMAT, "fragment %s (%s): decompressed to %zu bytes, expected %llu", f->name, f->file, got,
                        (unsigned long long)f->raw_size);
    return LLI_OK;
}
