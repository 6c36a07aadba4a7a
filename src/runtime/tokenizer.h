/* The tokenizer built from a model's tokenizer fragment: byte-level BPE ("gpt2") with the
 * pre-tokenizer regexes of the supported architectures, and SentencePiece-style merges by score
 * with byte fallback ("llama"). */
#ifndef LLI_TOKENIZER_H
#define LLI_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"
#include "format/manifest.h"

typedef struct lli_tokenizer lli_tokenizer;

/* Parse the tokenizer payload (format in docs/fragment-format.md) with the manifest's settings.
 * model_name (general.name, may be NULL) decides, as in llama.cpp, which special tokens swallow
 * the whitespace next to them. The payload must outlive the tokenizer (it is the model's). Errors
 * name the problem in it. */
lli_status lli_tokenizer_create(const uint8_t *data, uint64_t len, const lli_mf_tokenizer *settings,
                                const char *model_name, lli_tokenizer **out);
void lli_tokenizer_free(lli_tokenizer *t);

lli_status lli_tokenizer_encode(const lli_tokenizer *t, const char *text, size_t len, int add_special,
                                int parse_special, lli_token *out, size_t cap, size_t *n_out);
/* The bytes a token stands for ("▁the" gives " the", "<0x0A>" gives "\n"). */
lli_status lli_tokenizer_piece(const lli_tokenizer *t, lli_token tok, char *buf, size_t cap, size_t *n_out);
lli_status lli_tokenizer_decode(const lli_tokenizer *t, const lli_token *toks, size_t n, int remove_special,
                                char *buf, size_t cap, size_t *n_out);

#endif
