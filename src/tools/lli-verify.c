/* lli-verify: check a fragment model directory, one line per check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"

static void print_check(const char *check, int ok, const char *detail, void *user) {
    int *failures = user;
    if (!ok) ++*failures;
    printf("%s %-24s %s\n", ok ? "ok  " : "FAIL", check, detail);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: lli-verify DIR [--threads N]\nCheck a model directory: manifest, fragment count,\n"
                   "architecture, tensor shapes and every checksum. Exits 1 if any check fails.\n");
            return 0;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "usage: lli-verify DIR [--threads N]\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: lli-verify DIR [--threads N]\n");
        return 2;
    }
    int failures = 0;
    lli_status st = lli_model_verify(dir, threads, print_check, &failures);
    if (st != LLI_OK) {
        fprintf(stderr, "lli-verify: %d check%s failed: %s\n", failures, failures == 1 ? "" : "s", lli_last_error());
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
