/* A growable byte buffer for encoding files in memory (GGUF metadata, the tokenizer payload). */
#ifndef LLI_BYTEBUF_H
#define LLI_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct lli_bytebuf {
    uint8_t *p;
    size_t len, cap;
} lli_bytebuf;

/* Append n bytes; 0, or -1 when out of memory (the buffer is then unchanged). */
int lli_bytebuf_put(lli_bytebuf *b, const void *data, size_t n);
/* Append a little-endian integer. */
int lli_bytebuf_u32(lli_bytebuf *b, uint32_t v);
int lli_bytebuf_u64(lli_bytebuf *b, uint64_t v);
void lli_bytebuf_free(lli_bytebuf *b);

#endif
