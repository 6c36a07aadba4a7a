/* What other parts of the library read from a context. */
#ifndef LLI_CONTEXT_H
#define LLI_CONTEXT_H

#include <stdint.h>

#include "llminfer.h"

/* Size of the logits rows lli_get_logits() returns. */
int64_t lli_context_n_vocab(const lli_context *c);

#endif
