#include "base/bytebuf.h"

#include <stdlib.h>
#include <string.h>

int lli_bytebuf_put(lli_bytebuf *b, const void *data, size_t n) {
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

int lli_bytebuf_u32(lli_bytebuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return lli_bytebuf_put(b, x, 4);
}

int lli_bytebuf_u64(lli_bytebuf *b, uint64_t v) {
    return lli_bytebuf_u32(b, (uint32_t)v) || lli_bytebuf_u32(b, (uint32_t)(v >> 32));
}

void lli_bytebuf_free(lli_bytebuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
