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
#include "args.h"
#include "common.h"
#include "llminfer.h"

#define TOOL "lli-bench"

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
    const char *dir = NULL, *cache_dir = NULL;
    int n_prompt = 512, n_gen = 128, threads = 0, reps = 5, backend = 2, json = 0, in_place = 0;
    const tool_option opts[] = {
        {"-m, --model", OPT_STRING, &dir, "MODEL", TOOL_MODEL_HELP},
        {"-p, --n-prompt", OPT_INT, &n_prompt, "N", "prompt tokens processed in one step (ppN), 0 to 1000000; 0 skips "
         "the test (default 512)", 0, 1e6},
        {"-n, --n-gen", OPT_INT, &n_gen, "N", "tokens generated one at a time (tgN), 0 to 1000000; 0 skips the test "
         "(default 128)", 0, 1e6},
        {"-t, --threads", OPT_INT, &threads, "N", "compute threads, 1 to 1024; 0 (the default): one per processor", 0, 1024},
        {"-r, --repetitions", OPT_INT, &reps, "N", "runs of each test, 1 to 1000 (default 5)", 1, 1000},
        {"-o, --output", OPT_CHOICE, &json, "md|json", "a Markdown table (the default) or llama-bench's JSON rows",
         .choices = "md|json"},
        {"--backend", OPT_CHOICE, &backend, "cpu|cuda|auto", TOOL_BACKEND_HELP, .choices = TOOL_BACKEND_CHOICES},
        {"--cache-dir", OPT_STRING, &cache_dir, "DIR", TOOL_CACHE_HELP},
        {"--in-place", OPT_FLAG, &in_place, NULL, "use uncompressed fragments where they are mapped, from the page cache, "
         "instead of copying them into huge pages (lli_model_params_set_in_place)", .flag_value = 1},
    };
    const tool_spec spec = {TOOL, "-m MODEL [OPTION]...",
                            "Measure prompt processing (ppN) and generation (tgN) speed in tokens per second, like "
                            "llama-bench, on random tokens; the mean and standard deviation of the runs are printed.",
                            opts, (int)(sizeof opts / sizeof opts[0]), 0, 0,
                            "Exit status:\n0 on success, 1 when loading or running fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, NULL, NULL);
    if (rc >= 0) return rc;
    if (!dir) return fprintf(stderr, TOOL ": -m MODEL is required (see " TOOL " --help)\n"), 2;
    const char *out = json ? "json" : "md";
    lli_model *m = NULL;
    lli_model_params *mp = NULL;
    lli_status st = lli_model_params_create(&mp);
    if (!st) st = lli_model_params_set_backend(mp, tool_backend(backend));
    if (!st) st = lli_model_params_set_in_place(mp, in_place);
    if (st) tool_fail(TOOL, "model parameters", st);
    else st = tool_load_model(TOOL, dir, cache_dir, mp, 1, &m, NULL);
    lli_model_params_free(mp);
    if (st) return 1;
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
        tool_fail(TOOL, "running a test", st);
        lli_model_free(m);
        return 1;
    }
    const char *arch = "";
    int64_t bytes = 0;
    lli_model_info_str(m, LLI_INFO_ARCH, &arch);
    lli_model_info_int(m, LLI_INFO_BYTES, &bytes);
    const char *be_json = !strcmp(tool_backend_name(m), "cuda") ? "CUDA" : "CPU", *isa = "";
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
