/* The class of a code point as llama.cpp's pre-tokenizers see it: its Unicode 15.1 general
 * category folded to one class, with the White_Space property taking precedence. Generated
 * tables (scripts/gen-unicode-classes.py) rather than PCRE2's own Unicode data, so that the
 * split points do not move with the PCRE2 version installed. */
#ifndef LLI_UNICODE_CLASSES_H
#define LLI_UNICODE_CLASSES_H

#include <stddef.h>
#include <stdint.h>

enum lli_ucls {
    LLI_UCLS_OTHER = 0, /* controls, format, private use, surrogates, unassigned, beyond U+10FFFF */
    LLI_UCLS_WHITESPACE,
    LLI_UCLS_NUMBER,
    LLI_UCLS_LETTER,
    LLI_UCLS_PUNCT,
    LLI_UCLS_MARK,
    LLI_UCLS_SYMBOL,
};

/* Ranges: lli_ucls_class[i] holds from lli_ucls_start[i] up to the next start (the last to U+10FFFF). */
extern const uint32_t lli_ucls_start[];
extern const uint8_t lli_ucls_class[];
extern const size_t lli_ucls_count;

static inline int lli_ucls_of(uint32_t cp) {
    if (cp > 0x10ffff) return LLI_UCLS_OTHER;
    size_t lo = 0, hi = lli_ucls_count; /* last range whose start is <= cp */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (lli_ucls_start[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return lli_ucls_class[lo];
}

#endif
