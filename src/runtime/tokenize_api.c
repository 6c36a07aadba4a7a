/* The public tokenizer functions: argument checks around runtime/tokenizer.c. */
#include "base/error.h"
#include "runtime/model.h"

lli_status lli_tokenize(const lli_model *model, const char *text, size_t text_len, int add_special, int parse_special,
                        lli_token *tokens, size_t capacity, size_t *n_tokens) {
    if (!model || !n_tokens || (!text && text_len) || (!tokens && capacity))
        return lli_fail(LLI_E_INVALID_ARG, "lli_tokenize: model, n_tokens, text or tokens is NULL");
    return lli_tokenizer_encode(model->tokenizer, text ? text : "", text_len, add_special, parse_special, tokens, capacity,
                                n_tokens);
}

lli_status lli_token_to_piece(const lli_model *model, lli_token token, char *buf, size_t capacity, size_t *n_bytes) {
    if (!model || !n_bytes || (!buf && capacity))
        return lli_fail(LLI_E_INVALID_ARG, "lli_token_to_piece: model, n_bytes or buf is NULL");
    return lli_tokenizer_piece(model->tokenizer, token, buf, capacity, n_bytes);
}

lli_status lli_detokenize(const lli_model *model, const lli_token *tokens, size_t n_tokens, int remove_special, char *buf,
                          size_t capacity, size_t *n_bytes) {
    if (!model || !n_bytes || (!tokens && n_tokens) || (!buf && capacity))
        return lli_fail(LLI_E_INVALID_ARG, "lli_detokenize: model, tokens, n_bytes or buf is NULL");
    return lli_tokenizer_decode(model->tokenizer, tokens, n_tokens, remove_special, buf, capacity, n_bytes);
}
