/* The sampler's rules (cuda/sample_row.h) computed independently in double precision, for the host
 * test of the selection logic (test_launch.c) and the device test of the kernel (test_gpu_ops.c):
 * is `tok` a token the sampler may return for draw u? */
#ifndef LLI_TEST_SAMPLE_REF_H
#define LLI_TEST_SAMPLE_REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int sample_ref_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* 1 if tok is right; else 0 with the reason in why. */
static int sample_ref_check(const float *x, int64_t vocab, float temp, int top_k, float top_p, float u, int64_t tok, char *why,
                            size_t why_cap) {
    float *s = malloc((size_t)vocab * sizeof *s);
    int64_t numbers = 0, best = -1;
    for (int64_t i = 0; i < vocab; i++)
        if (!isnan(x[i])) {
            s[numbers++] = x[i];
            if (best < 0 || x[i] > x[best]) best = i;
        }
    int ok = 1;
    if (numbers == 0) {
        ok = tok == -1;
        snprintf(why, why_cap, "no number in the row: got %lld, want -1", (long long)tok);
    } else if (temp <= 0 || top_k == 1) {
        ok = tok == best;
        snprintf(why, why_cap, "greedy: got %lld, want %lld", (long long)tok, (long long)best);
    } else {
        qsort(s, (size_t)numbers, sizeof *s, sample_ref_desc);
        double mx = s[0];
#define W(v) ((v) == mx ? 1.0 : exp(((double)(v) - mx) / temp))
        float lo = s[numbers - 1];
        if (top_k > 0 && top_k < numbers) lo = s[top_k - 1];
        if (top_p < 1.0f) {
            double total = 0, mass = 0;
            for (int64_t i = 0; i < numbers && s[i] >= lo; i++) total += W(s[i]);
            float cut = s[0];
            for (int64_t i = 0; i < numbers && s[i] >= lo && mass < top_p * total; i++) cut = s[i], mass += W(s[i]);
            if (top_p <= 0) cut = s[0];
            lo = cut > lo ? cut : lo;
        }
        double kept = 0, before = 0, w = 0;
        for (int64_t i = 0; i < vocab; i++) {
            if (isnan(x[i]) || x[i] < lo) continue;
            if (i < tok) before += W(x[i]);
            kept += W(x[i]);
        }
        ok = tok >= 0 && tok < vocab && !isnan(x[tok]) && x[tok] >= lo && (w = W(x[tok])) > 0;
        const double slack = 1e-4;
        ok = ok && u >= before / kept - slack && u <= (before + w) / kept + slack;
        snprintf(why, why_cap, "token %lld (logit %g, kept from %g; u %.6f, its slice [%.6f, %.6f])", (long long)tok,
                 tok >= 0 && tok < vocab ? x[tok] : 0.0, lo, u, before / kept, (before + w) / kept);
#undef W
    }
    free(s);
    return ok;
}

#endif
