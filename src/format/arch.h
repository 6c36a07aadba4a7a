/* Architecture families and the presets (known model shapes) they are detected from. */
#ifndef LLI_ARCH_H
#define LLI_ARCH_H

#include <stdint.h>

#include "llminfer.h"

/* Hyperparameters that the forward pass needs; the manifest's "hparams" object, parsed. */
typedef struct lli_hparams {
    int64_t n_vocab, n_ctx_train, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim;
    int64_t rope_dim;          /* dimensions rotated per head (usually head_dim) */
    double rope_freq_base;
    int rope_neox;             /* 1: rotate halves (qwen); 0: rotate adjacent pairs (llama) */
    char rope_scaling[16];     /* "none", "linear", "yarn", "llama3" */
    double rope_scale_factor;  /* 1 for none */
    int64_t rope_orig_ctx;     /* original context for yarn/llama3, 0 if unused */
    double rope_low_freq_factor, rope_high_freq_factor; /* llama3 scaling */
    double rms_eps;
    int64_t sliding_window;    /* 0 for none */
    int tied_embeddings;       /* output head reuses token_embd */
    int qkv_bias;              /* qwen2 */
    int qk_norm;               /* qwen3 */
} lli_hparams;

typedef struct lli_preset {
    const char *name;    /* "mistral_7b" */
    const char *family;  /* "llama" */
    int64_t n_embd, n_ff, n_vocab, n_head, n_head_kv, head_dim, n_layer;
} lli_preset;

/* 1 if the family is one the forward pass knows: "llama", "qwen2", "qwen3". */
int lli_family_known(const char *family);
/* The comma-separated list, for messages. */
const char *lli_family_list(void);

/* The preset whose shape the hyperparameters have (the layer count is not compared, so a model cut
 * to a few layers is still recognised), or NULL. */
const lli_preset *lli_preset_detect(const char *family, const lli_hparams *hp);
const lli_preset *lli_preset_by_name(const char *name);
const lli_preset *lli_preset_at(int i); /* NULL past the end: for listing */

/* Check every tensor's shape against the hyperparameters, and that norms and biases are F32 (every
 * backend reads them as plain floats). Names follow GGUF ("blk.3.attn_q.weight"); type is the GGUF
 * type number. Returns LLI_OK, LLI_E_FORMAT naming the tensor, expected and actual shape, or
 * LLI_E_UNSUPPORTED for a norm or bias of another type. Unknown names pass. The converter, the
 * verifier and the loader all call it, so that what converts also loads. */
lli_status lli_arch_check_tensor(const lli_hparams *hp, const char *name, int type, int n_dims, const int64_t ne[4]);

/* The tensors the forward pass reads with these hyperparameters, for the converter and the verifier
 * to refuse a model that lacks one: writes the i-th name (from 0: the global tensors, then each
 * layer's) into name and returns 1, or returns 0 past the last. */
#define LLI_TENSOR_NAME_MAX 96
int lli_arch_required_tensor(const lli_hparams *hp, int64_t i, char name[LLI_TENSOR_NAME_MAX]);

#endif
