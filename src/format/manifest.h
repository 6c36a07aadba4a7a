/* manifest.json of a model directory: parsed, validated field by field, and tied to its fragments
 * through the model id (see docs/fragment-format.md). */
#ifndef LLI_MANIFEST_H
#define LLI_MANIFEST_H

#include <jansson.h>
#include <stdint.h>

#include "format/arch.h"
#include "llminfer.h"
#include "format/tensor_types.h"

#define LLI_FORMAT_NAME "llminfer-fragments"
#define LLI_FORMAT_VERSION 1
#define LLI_TENSOR_ALIGN 64

enum lli_frag_kind { LLI_FRAG_TOKENIZER, LLI_FRAG_EMBED, LLI_FRAG_LAYER, LLI_FRAG_HEAD };

typedef struct lli_mf_fragment {
    char *name;          /* "layer-007" */
    char *file;          /* "layer-007.frag": a plain file name inside the directory */
    int kind;            /* enum lli_frag_kind */
    int layer;           /* for LLI_FRAG_LAYER */
    int compression;     /* LLI_COMPRESS_NONE or LLI_COMPRESS_ZSTD */
    uint64_t size;       /* bytes of the file */
    uint64_t raw_size;   /* bytes of the payload once decompressed */
    char sha256[65];     /* of the whole file */
    char content_sha256[65]; /* of the decompressed payload */
} lli_mf_fragment;

typedef struct lli_mf_tensor {
    char *name;
    const lli_ttype_info *type;
    int n_dims;
    int64_t ne[4];
    int fragment;        /* index into fragments */
    uint64_t offset;     /* in the fragment's payload */
    uint64_t bytes;
} lli_mf_tensor;

typedef struct lli_mf_tokenizer {
    char *model;         /* "gpt2" or "llama" */
    char *pre;           /* pre-tokenizer name, "" if none */
    char *chat_template; /* "" if none */
    int fragment;        /* index of the tokenizer fragment */
    int64_t n_tokens, n_merges;
    int64_t bos, eos, unk, pad; /* -1 if none */
    int add_bos, add_eos, add_space_prefix;
} lli_mf_tokenizer;

typedef struct lli_manifest {
    char model_id[33];
    char *family;        /* "llama", "qwen2", "qwen3", or the source's name for vocab-only models */
    char *preset;        /* as the manifest names it; may be NULL */
    const lli_preset *detected; /* the preset the hyperparameters match, or NULL */
    char *name;
    int vocab_only;
    lli_hparams hp;
    lli_mf_tokenizer tok;
    int64_t n_tensors;
    lli_mf_tensor *tensors;
    int64_t n_fragments;
    lli_mf_fragment *fragments;
} lli_manifest;

/* Read DIR/manifest.json. Errors name the field ("manifest.json: tensors[3].shape: ..."). */
lli_status lli_manifest_read(const char *dir, lli_manifest **out);
lli_status lli_manifest_parse(const char *text, size_t len, lli_manifest **out);
void lli_manifest_free(lli_manifest *m);

/* The model id: SHA-256 of the canonical manifest without the "model_id" key and without each
 * fragment's storage fields (file, compression, size, sha256), as 32 hex digits. So the id names
 * the model's contents, not how its fragments happen to be stored. */
lli_status lli_manifest_model_id(const json_t *root, char out[33]);

/* The name the architecture goes by: the preset if one matches, else the family. */
const char *lli_manifest_arch_name(const lli_manifest *m);

int lli_mf_find_fragment(const lli_manifest *m, const char *name);

/* 1 if the tokenizer kind (len bytes at model) is one the library implements: "llama"
 * (SentencePiece) or "gpt2" (byte-level BPE). The converter and the manifest refuse others, so that
 * no directory is written, or read, that the tokenizer cannot use. */
int lli_tokenizer_model_known(const char *model, size_t len);
#define LLI_TOKENIZER_MODELS "llama, gpt2"

#endif
