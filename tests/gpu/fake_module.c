/* A backend module as a stale build would be: the entry points, another interface version. The
 * core must refuse it before creating anything (test_module.c). */
#include "backend/backend.h"

__attribute__((visibility("default"))) void lli_backend_module_abi(lli_backend_abi *out) {
    lli_backend_abi a = {LLI_BACKEND_ABI + 100, {1, 2, 3, 4, 5, 6}};
    *out = a;
}

__attribute__((visibility("default"))) lli_status lli_backend_module_create(const lli_backend_host *host, lli_backend **out) {
    (void)out;
    return host->fail(LLI_E_INTERNAL, "the core called create() of a module whose layout differs");
}
