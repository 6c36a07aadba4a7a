/* The smallest useful program: load a model directory, print what it is, free it.
 *   cc load_model.c $(pkg-config --cflags --libs llminfer) -o load_model
 *   ./load_model models/smollm2 */
#include <inttypes.h>
#include <stdio.h>

#include <llminfer.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    lli_model *model = NULL;
    lli_status st = lli_model_load(argv[1], NULL, &model); /* NULL: default parameters */
    if (st != LLI_OK) {
        fprintf(stderr, "cannot load %s: %s: %s\n", argv[1], lli_status_str(st), lli_last_error());
        return 1;
    }
    const char *arch = "";
    int64_t layers = 0, bytes = 0;
    lli_model_info_str(model, LLI_INFO_ARCH, &arch);
    lli_model_info_int(model, LLI_INFO_N_LAYER, &layers);
    lli_model_info_int(model, LLI_INFO_BYTES, &bytes);
    printf("libllminfer %s: %s, %" PRId64 " layers, %.1f MiB of weights\n", lli_version(), arch, layers,
           bytes / 1048576.0);
    lli_model_free(model);
    return 0;
}
