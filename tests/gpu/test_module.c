/* How the core finds and checks the CUDA module (src/backend/backend.c), on any machine: by path
 * only, never by a bare name; a module without the entry points, or built for another interface
 * version (tests/gpu/fake_module.c), is refused with a message that says why, before it is used.
 * Usage: test_module PATH_OF_A_LIBRARY_WITHOUT_ENTRY_POINTS PATH_OF_THE_FAKE_MODULE */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "check.h"

static lli_status open_with(const char *module) {
    setenv("LLI_CUDA_MODULE", module, 1);
    lli_backend *be = NULL;
    lli_status st = lli_backend_open(LLI_BACKEND_CUDA, &be);
    if (be) lli_backend_close(be);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_module LIBRARY FAKE_MODULE\n");
        return 2;
    }
    CHECK_FAILS(open_with("libllminfer-cuda.so"), LLI_E_BACKEND, "not a path");
    CHECK_FAILS(open_with("/nonexistent/" LLI_CUDA_MODULE_NAME), LLI_E_BACKEND, "/nonexistent/" LLI_CUDA_MODULE_NAME);
    CHECK_FAILS(open_with(argv[1]), LLI_E_BACKEND, "lacks", LLI_BACKEND_MODULE_ABI_SYMBOL);
    CHECK_FAILS(open_with(argv[2]), LLI_E_BACKEND, "built for backend interface", "rebuild");
    return check_summary();
}
