#include "llminfer.h"

#define LLI_STR2(x) #x
#define LLI_STR(x) LLI_STR2(x)

const char *lli_version(void) {
    return LLI_STR(LLI_VERSION_MAJOR) "." LLI_STR(LLI_VERSION_MINOR) "." LLI_STR(LLI_VERSION_PATCH);
}

int lli_abi_version(void) { return LLI_ABI_VERSION; }
