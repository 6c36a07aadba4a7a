/* Reading one fragment file: open, check its size and header against the manifest, map it, hash it,
 * and produce its payload. Shared by the loader and lli_model_verify(). */
#ifndef LLI_FRAGMENT_IO_H
#define LLI_FRAGMENT_IO_H

#include <stddef.h>

#include "format/manifest.h"
#include "base/progress.h"

typedef struct lli_frag_map {
    void *base;  /* the whole file, read-only */
    size_t len;
} lli_frag_map;

/* Open and map fragment `index` of the model in `dir`, check size and header, and if `verify`,
 * its SHA-256. Errors name the fragment and its file. */
lli_status lli_frag_map_open(const char *dir, const lli_manifest *m, int64_t index, int verify, lli_progress *pr,
                             lli_frag_map *out);
void lli_frag_map_close(lli_frag_map *map);

/* For a raw fragment, the payload inside the mapping. */
const void *lli_frag_raw_payload(const lli_frag_map *map);

/* Decompress a zstd fragment's payload into dst (raw_size bytes). */
lli_status lli_frag_decompress(const lli_manifest *m, int64_t index, const lli_frag_map *map, void *dst);

#endif
