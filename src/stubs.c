/* Entry points declared by the ABI whose implementation lands with the inference engine. Each
 * checks its arguments like the real one will and reports LLI_E_NOT_IMPLEMENTED, so that programs
 * written against the whole interface link and run today. */
#include "error.h"
#include "llminfer.h"

#define NOT_YET() return lli_fail(LLI_E_NOT_IMPLEMENTED, "%s is not implemented in libllminfer %s", __func__, lli_version())

lli_status lli_kv_cache_create(const lli_model *model, const lli_kv_cache_params *params, lli_kv_cache **out) {
    (void)model, (void)params;
    if (out) *out = NULL;
    NOT_YET();
}
void lli_kv_cache_free(lli_kv_cache *kv) { (void)kv; }
lli_status lli_kv_seq_create(lli_kv_cache *kv, lli_seq_id *out) { (void)kv, (void)out; NOT_YET(); }
lli_status lli_kv_seq_free(lli_kv_cache *kv, lli_seq_id seq) { (void)kv, (void)seq; NOT_YET(); }
lli_status lli_kv_seq_fork(lli_kv_cache *kv, lli_seq_id src, lli_seq_id *out) { (void)kv, (void)src, (void)out; NOT_YET(); }
lli_status lli_kv_seq_truncate(lli_kv_cache *kv, lli_seq_id seq, int64_t n) { (void)kv, (void)seq, (void)n; NOT_YET(); }
lli_status lli_kv_seq_length(const lli_kv_cache *kv, lli_seq_id seq, int64_t *out) { (void)kv, (void)seq, (void)out; NOT_YET(); }
lli_status lli_kv_free_blocks(const lli_kv_cache *kv, int64_t *out) { (void)kv, (void)out; NOT_YET(); }
lli_status lli_kv_seq_fits(const lli_kv_cache *kv, lli_seq_id seq, int64_t n, int *out) {
    (void)kv, (void)seq, (void)n, (void)out;
    NOT_YET();
}
lli_status lli_kv_seq_save(const lli_kv_cache *kv, lli_seq_id seq, const char *path) { (void)kv, (void)seq, (void)path; NOT_YET(); }
lli_status lli_kv_seq_restore(lli_kv_cache *kv, const char *path, lli_seq_id *out) { (void)kv, (void)path, (void)out; NOT_YET(); }
lli_status lli_context_create(const lli_model *model, lli_kv_cache *kv, const lli_context_params *params, lli_context **out) {
    (void)model, (void)kv, (void)params;
    if (out) *out = NULL;
    NOT_YET();
}
void lli_context_free(lli_context *ctx) { (void)ctx; }
lli_status lli_decode(lli_context *ctx, const lli_batch *batch) { (void)ctx, (void)batch; NOT_YET(); }
lli_status lli_get_logits(const lli_context *ctx, int32_t entry, const float **out) { (void)ctx, (void)entry, (void)out; NOT_YET(); }
lli_status lli_sampler_create(lli_sampler **out) {
    if (out) *out = NULL;
    NOT_YET();
}
void lli_sampler_free(lli_sampler *s) { (void)s; }
lli_status lli_sampler_add_greedy(lli_sampler *s) { (void)s; NOT_YET(); }
lli_status lli_sampler_add_temperature(lli_sampler *s, float t) { (void)s, (void)t; NOT_YET(); }
lli_status lli_sampler_add_top_k(lli_sampler *s, int32_t k) { (void)s, (void)k; NOT_YET(); }
lli_status lli_sampler_add_top_p(lli_sampler *s, float p) { (void)s, (void)p; NOT_YET(); }
lli_status lli_sampler_add_min_p(lli_sampler *s, float p) { (void)s, (void)p; NOT_YET(); }
lli_status lli_sampler_add_penalties(lli_sampler *s, int32_t n, float r, float f, float p) {
    (void)s, (void)n, (void)r, (void)f, (void)p;
    NOT_YET();
}
lli_status lli_sampler_add_dist(lli_sampler *s, uint64_t seed) { (void)s, (void)seed; NOT_YET(); }
lli_status lli_sampler_sample(lli_sampler *s, const lli_context *ctx, int32_t entry, lli_token *out) {
    (void)s, (void)ctx, (void)entry, (void)out;
    NOT_YET();
}
lli_status lli_sampler_accept(lli_sampler *s, lli_token t) { (void)s, (void)t; NOT_YET(); }
