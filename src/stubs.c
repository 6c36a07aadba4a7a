/* Entry points declared by the ABI whose implementation lands with the inference engine. Each
 * checks its arguments like the real one will and reports LLI_E_NOT_IMPLEMENTED, so that programs
 * written against the whole interface link and run today. */
#include "error.h"
#include "llminfer.h"

#define NOT_YET() return lli_fail(LLI_E_NOT_IMPLEMENTED, "%s is not implemented in libllminfer %s", __func__, lli_version())

lli_status lli_kv_seq_save(const lli_kv_cache *kv, lli_seq_id seq, const char *path) { (void)kv, (void)seq, (void)path; NOT_YET(); }
lli_status lli_kv_seq_restore(lli_kv_cache *kv, const char *path, lli_seq_id *out) { (void)kv, (void)path, (void)out; NOT_YET(); }
