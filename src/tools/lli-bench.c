/* lli-bench: prompt processing (ppN) and generation (tgN) speed, like llama-bench.
 * -o json prints llama-bench's JSON shape: a list of rows with n_prompt, n_gen, n_threads, avg_ts,
 * stddev_ts (and a few descriptive fields), so that tools written for llama-bench read it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "llminfer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lli-bench -m DIR [-p 512] [-n 128] [-t THREADS] [-r REPETITIONS] [-o md|json] [--backend cpu|cuda|auto]\n");
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct row {
    int n_prompt, n_gen;
    double avg, sd;
    double *samples;
} row;

/* One timed run: n_prompt tokens in one step (pp), or n_gen single-token steps after one token (tg). */
static lli_status run_once(lli_model *m, int threads, int n_prompt, int n_gen, double *secs) {
    tool_engine e = {0};
    int64_t vocab = 0;
    lli_model_info_int(m, LLI_INFO_N_VOCAB, &vocab);
    int width = n_prompt > 1 ? n_prompt : 1;
    lli_status st = tool_engine_open(m, n_prompt + n_gen + 1, width, threads, &e);
    lli_context *ctx = e.ctx;
    lli_batch *b = e.batch;
    lli_seq_id s = 0;
    if (!st) st = lli_kv_seq_create(e.kv, &s);
    srand(1);
    double t0 = now();
    if (!st && n_prompt) {
        for (int i = 0; !st && i < n_prompt; i++) st = lli_batch_add(b, rand() % (int)vocab, s, i, i == n_prompt - 1);
        if (!st) st = lli_decode(ctx, b);
    }
    for (int i = 0; !st && i < n_gen; i++) {
        lli_batch_clear(b);
        st = lli_batch_add(b, rand() % (int)vocab, s, i, 1);
        if (!st) st = lli_decode(ctx, b);
    }
    *secs = now() - t0;
    tool_engine_close(&e);
    return st;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *out = "md", *backend_name = "auto";
    int n_prompt = 512, n_gen = 128, threads = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v) dir = v, i++;
        else if (!strcmp(a, "-p") && v) n_prompt = atoi(v), i++;
        else if (!strcmp(a, "-n") && v) n_gen = atoi(v), i++;
        else if (!strcmp(a, "-t") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "-r") && v) reps = atoi(v), i++;
        else if (!strcmp(a, "-o") && v) out = v, i++;
        else if (!strcmp(a, "--backend") && v) backend_name = v, i++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    int backend = !strcmp(backend_name, "cpu") ? LLI_BACKEND_CPU : !strcmp(backend_name, "cuda") ? LLI_BACKEND_CUDA
                : !strcmp(backend_name, "auto") ? LLI_BACKEND_AUTO : -1;
    if (!dir || n_prompt < 0 || n_gen < 0 || reps < 1 || (strcmp(out, "md") && strcmp(out, "json")) || backend < 0)
        return usage(stderr), 2;
    lli_model *m = NULL;
    lli_model_params *mp = NULL;
    lli_status st = lli_model_params_create(&mp);
    if (!st) st = lli_model_params_set_backend(mp, backend);
    if (!st) st = lli_model_load(dir, mp, &m);
    lli_model_params_free(mp);
    if (st) {
        fprintf(stderr, "lli-bench: %s: %s\n", lli_status_str(st), lli_last_error());
        return 1;
    }
    row rows[2] = {{n_prompt, 0, 0, 0, NULL}, {0, n_gen, 0, 0, NULL}};
    double warm;
    run_once(m, threads, 8, 4, &warm); /* first touch of the weights is not part of any test */
    for (int r = 0; r < 2 && !st; r++) {
        int tokens = r == 0 ? n_prompt : n_gen;
        if (!tokens) continue;
        rows[r].samples = calloc((size_t)reps, sizeof(double));
        double sum = 0, sq = 0;
        for (int k = 0; k < reps && !st; k++) {
            double secs;
            st = run_once(m, threads, rows[r].n_prompt, rows[r].n_gen, &secs);
            rows[r].samples[k] = tokens / secs;
            sum += rows[r].samples[k];
        }
        rows[r].avg = sum / reps;
        for (int k = 0; k < reps; k++) sq += (rows[r].samples[k] - rows[r].avg) * (rows[r].samples[k] - rows[r].avg);
        rows[r].sd = reps > 1 ? sqrt(sq / (reps - 1)) : 0;
    }
    if (st) {
        fprintf(stderr, "lli-bench: %s: %s\n", lli_status_str(st), lli_last_error());
        lli_model_free(m);
        return 1;
    }
    const char *arch = "";
    int64_t bytes = 0;
    lli_model_info_str(m, LLI_INFO_ARCH, &arch);
    lli_model_info_int(m, LLI_INFO_BYTES, &bytes);
    int64_t used = LLI_BACKEND_CPU;
    lli_model_info_int(m, LLI_INFO_BACKEND, &used);
    const char *be_json = used == LLI_BACKEND_CUDA ? "CUDA" : "CPU", *isa = "";
    lli_model_info_str(m, LLI_INFO_CPU_ISA, &isa);
    int shown_threads = threads ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN); /* what 0 means to the library */
    if (!strcmp(out, "json")) {
        printf("[\n");
        int first = 1;
        for (int r = 0; r < 2; r++) {
            if (!rows[r].samples) continue;
            printf("%s  {\"build_commit\": \"libllminfer-%s\", \"model_filename\": \"%s\", \"model_type\": \"%s\", "
                   "\"model_size\": %lld, \"backends\": \"%s\", \"cpu_isa\": \"%s\", \"n_threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, "
                   "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ts\": [",
                   first ? "" : ",\n", lli_version(), dir, arch, (long long)bytes, be_json, isa, shown_threads, rows[r].n_prompt,
                   rows[r].n_gen, rows[r].avg, rows[r].sd);
            for (int k = 0; k < reps; k++) printf(k ? ", %.6f" : "%.6f", rows[r].samples[k]);
            printf("]}");
            first = 0;
        }
        printf("\n]\n");
    } else {
        printf("CPU kernels: %s\n\n| model | size | threads | test | t/s |\n| --- | --- | --- | --- | --- |\n", isa);
        for (int r = 0; r < 2; r++)
            if (rows[r].samples)
                printf("| %s | %.1f MiB | %d | %s%d | %.2f ± %.2f |\n", arch, bytes / 1048576.0, shown_threads,
                       r == 0 ? "pp" : "tg", r == 0 ? rows[r].n_prompt : rows[r].n_gen, rows[r].avg, rows[r].sd);
    }
    free(rows[0].samples);
    free(rows[1].samples);
    lli_model_free(m);
    return 0;
}
