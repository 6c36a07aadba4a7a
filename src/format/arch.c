#include "format/arch.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "format/tensor_types.h"

static const char *const k_families[] = {"llama", "qwen2", "qwen3"};

/* Known shapes. Detection compares everything but the layer count, so random-weight test models
 * with a few layers of a real shape are still named after it. Two Mistral 7B vocabularies exist. */
static const lli_preset k_presets[] = {
    {"smollm2_135m", "llama", 576, 1536, 49152, 9, 3, 64, 30},
    {"smollm2_360m", "llama", 960, 2560, 49152, 15, 5, 64, 32},
    {"smollm2_1.7b", "llama", 2048, 8192, 49152, 32, 32, 64, 24},
    {"llama2_7b", "llama", 4096, 11008, 32000, 32, 32, 128, 32},
    {"llama3_8b", "llama", 4096, 14336, 128256, 32, 8, 128, 32},
    {"llama3.2_1b", "llama", 2048, 8192, 128256, 32, 8, 64, 16},
    {"mistral_7b", "llama", 4096, 14336, 32768, 32, 8, 128, 32},
    {"mistral_7b", "llama", 4096, 14336, 32000, 32, 8, 128, 32},
    {"magistral_small", "llama", 5120, 32768, 131072, 32, 8, 128, 40},
    {"qwen2_0.5b", "qwen2", 896, 4864, 151936, 14, 2, 64, 24},
    {"qwen2_1.5b", "qwen2", 1536, 8960, 151936, 12, 2, 128, 28},
    {"qwen2_7b", "qwen2", 3584, 18944, 152064, 28, 4, 128, 28},
    {"qwen3_0.6b", "qwen3", 1024, 3072, 151936, 16, 8, 128, 28},
    {"qwen3_1.7b", "qwen3", 2048, 6144, 151936, 16, 8, 128, 28},
    {"qwen3_4b", "qwen3", 2560, 9728, 151936, 32, 8, 128, 36},
    {"qwen3_8b", "qwen3", 4096, 12288, 151936, 32, 8, 128, 36},
};
enum { N_PRESETS = sizeof k_presets / sizeof k_presets[0] };

int lli_family_known(const char *family) {
    for (size_t i = 0; family && i < sizeof k_families / sizeof k_families[0]; i++)
        if (strcmp(family, k_families[i]) == 0) return 1;
    return 0;
}

const char *lli_family_list(void) { return "llama, qwen2, qwen3"; }

const lli_preset *lli_preset_at(int i) { return i >= 0 && i < N_PRESETS ? &k_presets[i] : NULL; }

const lli_preset *lli_preset_by_name(const char *name) {
    for (int i = 0; name && i < N_PRESETS; i++)
        if (strcmp(k_presets[i].name, name) == 0) return &k_presets[i];
    return NULL;
}

const lli_preset *lli_preset_detect(const char *family, const lli_hparams *hp) {
    for (int i = 0; i < N_PRESETS; i++) {
        const lli_preset *p = &k_presets[i];
        if (strcmp(p->family, family) == 0 && p->n_embd == hp->n_embd && p->n_ff == hp->n_ff &&
            p->n_vocab == hp->n_vocab && p->n_head == hp->n_head && p->n_head_kv == hp->n_head_kv &&
            p->head_dim == hp->head_dim)
            return p;
    }
    return NULL;
}

static int shape_is(int n_dims, const int64_t ne[4], int want_dims, int64_t a, int64_t b) {
    if (n_dims != want_dims) return 0;
    return ne[0] == a && (want_dims == 1 || ne[1] == b);
}

static void shape_str(char *buf, size_t cap, int n_dims, const int64_t ne[4]) {
    int off = snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && off > 0 && (size_t)off < cap; i++)
        off += snprintf(buf + off, cap - (size_t)off, i ? ", %lld" : "%lld", (long long)ne[i]);
    if (off > 0 && (size_t)off < cap) snprintf(buf + off, cap - (size_t)off, "]");
}

lli_status lli_arch_check_tensor(const lli_hparams *hp, const char *name, int type, int n_dims, const int64_t ne[4]) {
    const int64_t e = hp->n_embd, q = hp->n_head * hp->head_dim, kv = hp->n_head_kv * hp->head_dim;
    int dims = 2;
    int64_t a = 0, b = 0;
    const char *suffix = name;
    if (strncmp(name, "blk.", 4) == 0) {
        const char *dot = strchr(name + 4, '.');
        if (!dot) return LLI_OK;
        suffix = dot + 1;
    }
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")) a = e, b = hp->n_vocab;
    else if (!strcmp(name, "output_norm.weight")) dims = 1, a = e;
    else if (!strcmp(suffix, "attn_norm.weight") || !strcmp(suffix, "ffn_norm.weight")) dims = 1, a = e;
    else if (!strcmp(suffix, "attn_q.weight")) a = e, b = q;
    else if (!strcmp(suffix, "attn_k.weight") || !strcmp(suffix, "attn_v.weight")) a = e, b = kv;
    else if (!strcmp(suffix, "attn_output.weight")) a = q, b = e;
    else if (!strcmp(suffix, "ffn_gate.weight") || !strcmp(suffix, "ffn_up.weight")) a = e, b = hp->n_ff;
    else if (!strcmp(suffix, "ffn_down.weight")) a = hp->n_ff, b = e;
    else if (!strcmp(suffix, "attn_q.bias")) dims = 1, a = q;
    else if (!strcmp(suffix, "attn_k.bias") || !strcmp(suffix, "attn_v.bias")) dims = 1, a = kv;
    else if (!strcmp(suffix, "attn_q_norm.weight") || !strcmp(suffix, "attn_k_norm.weight")) dims = 1, a = hp->head_dim;
    else return LLI_OK;
    if (dims == 1 && type != LLI_TT_F32) {
        const lli_ttype_info *t = lli_ttype_by_id(type);
        return lli_fail(LLI_E_UNSUPPORTED, "tensor %s is %s; norms and biases must be f32", name, t ? t->name : "?");
    }
    if (shape_is(n_dims, ne, dims, a, b)) return LLI_OK;
    char got[96], want[96];
    int64_t w[4] = {a, b, 1, 1};
    shape_str(got, sizeof got, n_dims, ne);
    shape_str(want, sizeof want, dims, w);
    return lli_fail(LLI_E_FORMAT, "tensor %s has shape %s, but the hyperparameters require %s", name, got, want);
}

int lli_arch_required_tensor(const lli_hparams *hp, int64_t i, char name[LLI_TENSOR_NAME_MAX]) {
    const char *globals[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    const int n_globals = hp->tied_embeddings ? 2 : 3;
    if (i < 0) return 0;
    if (i < n_globals) {
        snprintf(name, LLI_TENSOR_NAME_MAX, "%s", globals[i]);
        return 1;
    }
    i -= n_globals;
    const char *per_layer[14] = {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                                 "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight",
                                 "ffn_down.weight"};
    int n = 9;
    if (hp->qkv_bias) per_layer[n++] = "attn_q.bias", per_layer[n++] = "attn_k.bias", per_layer[n++] = "attn_v.bias";
    if (hp->qk_norm) per_layer[n++] = "attn_q_norm.weight", per_layer[n++] = "attn_k_norm.weight";
    if (i / n >= hp->n_layer) return 0;
    snprintf(name, LLI_TENSOR_NAME_MAX, "blk.%lld.%s", (long long)(i / n), per_layer[i % n]);
    return 1;
}
