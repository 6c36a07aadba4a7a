#include "base/sha256.h"

/* libcrypto's one-shot SHA-256 context rather than EVP: EVP's first use loads the provider
 * machinery, which keeps 1.7 MiB more of libcrypto resident for the life of the process (measured
 * on OpenSSL 3.0), for the same assembly underneath. The API is marked deprecated in 3.0 but stays. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>

struct lli_sha256 {
    SHA256_CTX c;
};

lli_sha256 *lli_sha256_new(void) {
    lli_sha256 *h = malloc(sizeof *h);
    if (h && SHA256_Init(&h->c) != 1) {
        free(h);
        return NULL;
    }
    return h;
}

void lli_sha256_update(lli_sha256 *h, const void *data, size_t len) {
    if (len) SHA256_Update(&h->c, data, len);
}

void lli_sha256_final(lli_sha256 *h, uint8_t digest[32]) {
    SHA256_Final(digest, &h->c);
    free(h);
}

void lli_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

int lli_sha256_buffer_hex(const void *data, size_t len, char hex[65]) {
    lli_sha256 *h = lli_sha256_new();
    if (!h) return -1;
    uint8_t d[32];
    lli_sha256_update(h, data, len);
    lli_sha256_final(h, d);
    lli_sha256_hex(d, hex);
    return 0;
}
