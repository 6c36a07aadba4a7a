/* Built through find_package(llminfer): prints the library's version, checks that it is the one the
 * header describes, and, given a model, loads it (a directory or a GGUF file) and prints its
 * architecture and layer count. */
#include <stdio.h>
#include <string.h>

#include <llminfer.h>

int main(int argc, char **argv) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", LLI_VERSION_MAJOR, LLI_VERSION_MINOR, LLI_VERSION_PATCH);
    printf("libllminfer %s\n", lli_version());
    if (strcmp(want, lli_version()) != 0 || lli_abi_version() != LLI_ABI_VERSION) {
        fprintf(stderr, "header %s (ABI %d), library %s (ABI %d)\n", want, LLI_ABI_VERSION, lli_version(), lli_abi_version());
        return 1;
    }
    if (argc < 2) return 0;
    lli_model *m = NULL;
    lli_model_params *p = NULL;
    lli_status st = lli_model_params_create(&p);
    if (!st) st = lli_model_params_set_backend(p, LLI_BACKEND_CPU);
    if (!st) st = lli_model_load_gguf(argv[1], argc > 2 ? argv[2] : NULL, NULL, p, &m, NULL);
    if (st == LLI_E_FORMAT) st = lli_model_load(argv[1], p, &m); /* not a GGUF file: a directory */
    lli_model_params_free(p);
    if (st) {
        fprintf(stderr, "%s: %s\n", lli_status_str(st), lli_last_error());
        return 1;
    }
    const char *arch = "";
    int64_t layers = 0;
    lli_model_info_str(m, LLI_INFO_ARCH, &arch);
    lli_model_info_int(m, LLI_INFO_N_LAYER, &layers);
    printf("%s, %lld layers\n", arch, (long long)layers);
    lli_model_free(m);
    return 0;
}
