/* The fixed 256-byte header at the start of every fragment file (see docs/fragment-format.md).
 * It names the model, architecture and fragment, so that a file copied in from elsewhere is
 * recognised before any of its data is trusted. */
#ifndef LLI_FRAGMENT_H
#define LLI_FRAGMENT_H

#include <stdint.h>

#include "llminfer.h"
#include "format/manifest.h"

#define LLI_FRAG_MAGIC "LLIFRAG\0"
#define LLI_FRAG_HEADER_BYTES 256
#define LLI_FRAG_VERSION 1

typedef struct lli_frag_header {
    uint32_t version;
    uint32_t compression;
    uint32_t index;          /* position in the manifest's fragments */
    uint64_t payload_bytes;  /* bytes stored after the header */
    uint64_t raw_bytes;      /* bytes once decompressed */
    char model_id[33];
    char arch[33];           /* the preset name, else the family */
    char name[33];           /* "layer-007" */
} lli_frag_header;

void lli_frag_header_encode(const lli_frag_header *h, uint8_t out[LLI_FRAG_HEADER_BYTES]);

/* Decode and check a header against the manifest entry it should match. The message names the
 * fragment; a fragment of another model or architecture gives LLI_E_MISMATCH naming both. */
lli_status lli_frag_header_check(const uint8_t buf[LLI_FRAG_HEADER_BYTES], const lli_manifest *m, int64_t index);

#endif
