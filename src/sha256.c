#include "sha256.h"

#include <openssl/evp.h>
#include <stdio.h>

struct lli_sha256 {
    EVP_MD_CTX *md;
};

lli_sha256 *lli_sha256_new(void) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return NULL;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NULL;
    }
    /* The context pointer itself is the handle: no second allocation needed. */
    return (lli_sha256 *)md;
}

void lli_sha256_update(lli_sha256 *h, const void *data, size_t len) {
    if (len) EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void lli_sha256_final(lli_sha256 *h, uint8_t digest[32]) {
    unsigned int n = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)h, digest, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)h);
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
