#include "format/fragment.h"

#include <string.h>

#include "base/error.h"
#include "base/le.h"

/* Offsets of the fields; the rest of the 256 bytes is reserved and written as zeros. */
enum { O_MAGIC = 0, O_VERSION = 8, O_COMPRESSION = 12, O_INDEX = 16, O_HEADER_BYTES = 20, O_PAYLOAD = 24,
       O_RAW = 32, O_MODEL_ID = 40, O_ARCH = 72, O_NAME = 104, TEXT_FIELD = 32 };

static void put_text(uint8_t *dst, const char *src) {
    memcpy(dst, src, strnlen(src, TEXT_FIELD)); /* NUL-padded, not NUL-terminated when full */
}

static void get_text(const uint8_t *p, char out[33]) {
    memcpy(out, p, TEXT_FIELD);
    out[TEXT_FIELD] = '\0';
}

void lli_frag_header_encode(const lli_frag_header *h, uint8_t out[LLI_FRAG_HEADER_BYTES]) {
    memset(out, 0, LLI_FRAG_HEADER_BYTES);
    memcpy(out + O_MAGIC, LLI_FRAG_MAGIC, 8);
    lli_put_le32(out + O_VERSION, h->version);
    lli_put_le32(out + O_COMPRESSION, h->compression);
    lli_put_le32(out + O_INDEX, h->index);
    lli_put_le32(out + O_HEADER_BYTES, LLI_FRAG_HEADER_BYTES);
    lli_put_le64(out + O_PAYLOAD, h->payload_bytes);
    lli_put_le64(out + O_RAW, h->raw_bytes);
    put_text(out + O_MODEL_ID, h->model_id);
    put_text(out + O_ARCH, h->arch);
    put_text(out + O_NAME, h->name);
}

lli_status lli_frag_header_check(const uint8_t buf[LLI_FRAG_HEADER_BYTES], const lli_manifest *m, int64_t index) {
    const lli_mf_fragment *f = &m->fragments[index];
    if (memcmp(buf + O_MAGIC, LLI_FRAG_MAGIC, 8) != 0)
        return lli_fail(LLI_E_FORMAT, "fragment %s (%s) is not a fragment file (bad magic)", f->name, f->file);
    lli_frag_header h;
    h.version = lli_get_le32(buf + O_VERSION);
    h.compression = lli_get_le32(buf + O_COMPRESSION);
    h.index = lli_get_le32(buf + O_INDEX);
    h.payload_bytes = lli_get_le64(buf + O_PAYLOAD);
    h.raw_bytes = lli_get_le64(buf + O_RAW);
    get_text(buf + O_MODEL_ID, h.model_id);
    get_text(buf + O_ARCH, h.arch);
    get_text(buf + O_NAME, h.name);
    if (h.version != LLI_FRAG_VERSION || lli_get_le32(buf + O_HEADER_BYTES) != LLI_FRAG_HEADER_BYTES)
        return lli_fail(LLI_E_UNSUPPORTED, "fragment %s (%s) has version %u, this library reads %d", f->name, f->file,
                        h.version, LLI_FRAG_VERSION);
    const char *arch = lli_manifest_arch_name(m);
    if (strcmp(h.arch, arch) != 0)
        return lli_fail(LLI_E_MISMATCH, "architecture mismatch: fragment %s (%s) is from a %s model, expected %s", f->name,
                        f->file, h.arch, arch);
    if (strcmp(h.model_id, m->model_id) != 0)
        return lli_fail(LLI_E_MISMATCH, "fragment %s (%s) belongs to model %s, not %s", f->name, f->file, h.model_id,
                        m->model_id);
    if (strcmp(h.name, f->name) != 0 || h.index != (uint64_t)index)
        return lli_fail(LLI_E_MISMATCH, "fragment %s (%s) holds fragment %s (index %u) of the same model", f->name, f->file,
                        h.name, h.index);
    if (h.compression != (uint32_t)f->compression || h.raw_bytes != f->raw_size ||
        h.payload_bytes != f->size - LLI_FRAG_HEADER_BYTES)
        return lli_fail(LLI_E_FORMAT, "fragment %s (%s): header sizes or compression differ from the manifest", f->name,
                        f->file);
    return LLI_OK;
}
