/* One weight type's matrix product on one thread, timed: what the kernel does without the rest of
 * a model around it. Not a test (speed is never asserted); the decode experiments in
 * docs/benchmarks.md were measured with it.
 *
 *   build/tests/bench_kernels TYPE ROWS K [TOKENS] [REPS]
 *
 * TYPE is a name (q4_k, q8_0, f16, ...); ROWS x K weights of random values from the generator of
 * lli-mkgguf; TOKENS activation rows (1: the decode product; 4 and more: the tiled prefill where
 * the level has one). Weights several times the last-level cache measure the stream from memory
 * (this machine's L3 is 32 MiB: 131072 x 1024 Q4_K is 74 MiB, while 32000 x 1024 is 18 MiB and
 * streams from L3, which flattered an eight-row decode that lost in the model); a few hundred
 * rows measure the kernel itself. LLI_CPU caps the level, as everywhere. Prints the time
 * per product, the weight bytes per second and the multiply-adds per second (best of REPS,
 * default chosen for about a second). LLI_X8=1 times the types with an X8 layout in it, as the
 * CPU backend arranges them at load (quant.h); LLI_X8=0 (the default) the rows as the file has
 * them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/quant.h"
#include "format/gguf_write.h"
#include "format/tensor_types.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s TYPE ROWS K [TOKENS] [REPS]\n", argv[0]);
        return 2;
    }
    const lli_ttype_info *ti = lli_ttype_by_name(argv[1]);
    const int64_t nr = atoll(argv[2]), k = atoll(argv[3]), nt = argc > 4 ? atoll(argv[4]) : 1;
    if (!ti || !lli_cpu_type_supported(ti->id) || nr < 1 || k < 1 || nt < 1 || k % ti->block) {
        fprintf(stderr, "%s: unknown or unsupported type, or a size that is not whole blocks\n", argv[0]);
        return 2;
    }
    const int type = ti->id, floats = type == LLI_TT_F32 || type == LLI_TT_F16 || type == LLI_TT_BF16;
    const uint64_t rb = lli_ttype_bytes(ti, k, 1);
    uint8_t *w = malloc((size_t)(rb * (uint64_t)nr));
    float *x = malloc((size_t)(nt * k) * sizeof *x), *out = malloc((size_t)(nt * nr) * sizeof *out);
    lli_q8 *xq = malloc((size_t)(nt * (k / 32 + 1)) * sizeof *xq);
    if (!w || !x || !out || !xq) return 1;
    gguf_fill_random(w, rb * (uint64_t)nr, type, 7, 0, 0.05f);
    for (int64_t i = 0; i < nt * k; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    const lli_kernels *kt = lli_cpu_kernels();
    if (!floats && k % 32 == 0) kt->quantize(x, xq, nt * k, lli_cpu_act_group(type));
    const char *x8env = getenv("LLI_X8");
    const int layout = x8env && !strcmp(x8env, "1") && kt->mm_x8[type] ? LLI_LAYOUT_X8 : LLI_LAYOUT_ROWS;
    if (layout == LLI_LAYOUT_X8 && lli_cpu_interleave_x8(type, w, rb, nr)) return 1;
    /* The tiled path as matmul.c runs it on one thread: activation tiles once, then chunks of
     * rows of at most 256 KiB unpacked through one reused buffer (a buffer allocated per call
     * would add its page faults to every product). */
    const int tiles = !floats && lli_cpu_takes_tiles(kt, type, layout, nt);
    int64_t chunk = tiles ? (int64_t)(256 * 1024 / (kt->unpacked_bytes(type, 8, k) / 8)) / 8 * 8 : nr;
    if (chunk < 8) chunk = 8;
    void *xt = tiles ? aligned_alloc(64, (size_t)kt->xt_bytes(nt, k)) : NULL;
    void *un = tiles ? aligned_alloc(64, (size_t)kt->unpacked_bytes(type, chunk, k)) : NULL;
    if (tiles && (!xt || !un)) return 1;
    const double macs = (double)nr * (double)k * (double)nt;
    int reps = argc > 5 ? atoi(argv[5]) : (int)(2e9 / macs) + 1;
    double best = 1e30;
    for (int r = 0; r < (reps < 3 ? 3 : reps); r++) {
        double t0 = now();
        if (floats) kt->mm[type](w, rb, nr, x, NULL, nt, k, out, nr);
        else if (tiles) {
            kt->tile_acts(xq, nt, k, xt);
            for (int64_t r0 = 0; r0 < nr; r0 += chunk) {
                const int64_t n = nr - r0 < chunk ? nr - r0 : chunk;
                (layout == LLI_LAYOUT_X8 ? kt->mm_tiles_x8 : kt->mm_tiles)[type](w + (uint64_t)r0 * rb, rb, n, xt, nt, k, out + r0, nr, un);
            }
        } else if (lli_cpu_product(kt, type, layout, w, rb, nr, xq, nt, k, out, nr)) return 1;
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%s %s%s %lldx%lld, %lld token(s): %.3f ms, %.2f GB/s of weights, %.1f GMAC/s\n", kt->name, ti->name,
           layout == LLI_LAYOUT_X8 ? " (x8)" : "", (long long)nr, (long long)k, (long long)nt, best * 1e3, (double)(rb * (uint64_t)nr) / best / 1e9, macs / best / 1e9);
    free(w), free(x), free(out), free(xq), free(xt), free(un);
    return 0;
}
