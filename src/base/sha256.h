/* SHA-256 through OpenSSL's libcrypto, with lower-case hex helpers. */
#ifndef LLI_SHA256_H
#define LLI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct lli_sha256 lli_sha256;

lli_sha256 *lli_sha256_new(void); /* NULL when out of memory */
void lli_sha256_update(lli_sha256 *h, const void *data, size_t len);
void lli_sha256_final(lli_sha256 *h, uint8_t digest[32]); /* also frees h */
void lli_sha256_hex(const uint8_t digest[32], char hex[65]);
/* One-shot digest of a buffer, written as 64 hex digits + NUL; 0 on success. */
int lli_sha256_buffer_hex(const void *data, size_t len, char hex[65]);

#endif
