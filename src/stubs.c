/* Entry points declared by the ABI whose implementation lands with the inference engine. Each
 * checks its arguments like the real one will and reports LLI_E_NOT_IMPLEMENTED, so that programs
 * written against the whole interface link and run today. */
#include "error.h"
#include "llminfer.h"

#define NOT_YET() return lli_fail(LLI_E_NOT_IMPLEMENTED, "%s is not implemented in libllminfer %s", __func__, lli_version())

lli_status lli_kv_seq_save(const lli_kv_cache *kv, lli_seq_id seq, const char *path) { (void)kv, (void)seq, (void)path; NOT_YET(); }
lli_status lli_kv_seq_restore(lli_kv_cache *kv, const char *path, lli_seq_id *out) { (void)kv, (void)path, (void)out; NOT_YET(); }
lli_status lli_kv_seq_save_buffer(const lli_kv_cache *kv, lli_seq_id s, void *b, size_t c, size_t *z) { (void)kv, (void)s, (void)b, (void)c, (void)z; NOT_YET(); }
lli_status lli_kv_seq_restore_buffer(lli_kv_cache *kv, const void *b, size_t z, lli_seq_id *o) { (void)kv, (void)b, (void)z, (void)o; NOT_YET(); }
lli_status lli_kv_state_load(const char *p, int b, lli_kv_state **o) { (void)p, (void)b, (void)o; NOT_YET(); }
lli_status lli_kv_state_wait(lli_kv_state *s) { (void)s; NOT_YET(); }
lli_status lli_kv_state_length(lli_kv_state *s, int64_t *o) { (void)s, (void)o; NOT_YET(); }
lli_status lli_kv_seq_restore_state(lli_kv_cache *kv, lli_kv_state *s, lli_seq_id *o) { (void)kv, (void)s, (void)o; NOT_YET(); }
void lli_kv_state_free(lli_kv_state *s) { (void)s; }

