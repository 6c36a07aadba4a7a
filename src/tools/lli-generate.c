/* lli-generate: generate text from a prompt, streamed to stdout; speeds go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "llminfer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lli-generate -m DIR -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]\n"
               "                    [--threads T] [--chat] [--backend cpu|cuda|auto]\n"
               "--temp 0 (the default) is greedy. --chat wraps the prompt in the model's chat template.\n");
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The chat formats of the supported families, recognised by their markers in the model's template:
 * ChatML (<|im_start|>: SmolLM2, Qwen; with the template's default system message if it has one),
 * Llama 3 (<|start_header_id|>) and Mistral ([INST]). Others are refused. */
static char *apply_chat(const char *tmpl, const char *prompt) {
    size_t cap = strlen(prompt) + strlen(tmpl) + 256;
    char *out = malloc(cap);
    if (!out) return NULL;
    if (strstr(tmpl, "<|im_start|>")) {
        const char *sys = strstr(tmpl, "<|im_start|>system\n"), *sys_end = sys ? strstr(sys, "<|im_end|>") : NULL;
        int n = 0;
        if (sys && sys_end) n = snprintf(out, cap, "%.*s<|im_end|>\n", (int)(sys_end - sys), sys);
        snprintf(out + n, cap - (size_t)n, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", prompt);
    } else if (strstr(tmpl, "<|start_header_id|>")) {
        snprintf(out, cap,
                 "<|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                 prompt);
    } else if (strstr(tmpl, "[INST]")) {
        snprintf(out, cap, "[INST]%s%s[/INST]", strstr(tmpl, "[INST] ") ? " " : "", prompt);
    } else {
        free(out);
        return NULL;
    }
    return out;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *prompt = NULL, *backend_name = "auto";
    int n_gen = 64, threads = 0, chat = 0, top_k = 0;
    float temp = 0, top_p = 1;
    unsigned long long seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v) dir = v, i++;
        else if (!strcmp(a, "-p") && v) prompt = v, i++;
        else if (!strcmp(a, "-n") && v) n_gen = atoi(v), i++;
        else if (!strcmp(a, "--temp") && v) temp = strtof(v, NULL), i++;
        else if (!strcmp(a, "--top-k") && v) top_k = atoi(v), i++;
        else if (!strcmp(a, "--top-p") && v) top_p = strtof(v, NULL), i++;
        else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--backend") && v) backend_name = v, i++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    int backend = !strcmp(backend_name, "cpu") ? LLI_BACKEND_CPU : !strcmp(backend_name, "cuda") ? LLI_BACKEND_CUDA
                : !strcmp(backend_name, "auto") ? LLI_BACKEND_AUTO : -1;
    if (!dir || !prompt || n_gen < 0 || backend < 0) return usage(stderr), 2;

    lli_model *m = NULL;
    tool_engine e = {0};
    lli_sampler *smp = NULL;
    lli_token *toks = NULL;
    char *text = NULL;
    lli_model_params *mp = NULL;
    lli_status st = lli_model_params_create(&mp);
    if (!st) st = lli_model_params_set_backend(mp, backend);
    if (!st) st = lli_model_load(dir, mp, &m);
    lli_model_params_free(mp);
    const char *tmpl = "";
    if (!st && chat) {
        lli_model_info_str(m, LLI_INFO_CHAT_TEMPLATE, &tmpl);
        if (!(text = apply_chat(tmpl, prompt))) {
            fprintf(stderr, "lli-generate: this model's chat template is not one of ChatML, Llama 3 or Mistral [INST]; "
                            "use it without --chat\n");
            lli_model_free(m);
            return 1;
        }
    }
    const char *input = text ? text : prompt;
    size_t n_prompt = 0;
    if (!st) {
        st = lli_tokenize(m, input, strlen(input), 1, chat, NULL, 0, &n_prompt);
        if (st == LLI_E_BUFFER_TOO_SMALL) st = LLI_OK;
    }
    if (!st && !(toks = malloc((n_prompt + 1) * sizeof *toks))) st = LLI_E_NOMEM;
    if (!st) st = lli_tokenize(m, input, strlen(input), 1, chat, toks, n_prompt, &n_prompt);
    int told = 0; /* the failure was reported here, not by the library */
    if (!st && n_prompt == 0) {
        fprintf(stderr, "lli-generate: the prompt gives no tokens\n");
        st = LLI_E_INVALID_ARG, told = 1;
    }
    /* lli_decode refuses the chunk that crosses the context; refusing here spares the chunks before. */
    int64_t n_ctx = 0;
    if (!st && !lli_model_info_int(m, LLI_INFO_N_CTX_TRAIN, &n_ctx) && n_ctx > 0 && (int64_t)n_prompt > n_ctx) {
        fprintf(stderr, "lli-generate: the prompt has %zu tokens, more than the model's context length of %lld\n",
                n_prompt, (long long)n_ctx);
        st = LLI_E_INVALID_ARG, told = 1;
    }
    const int chunk = 64; /* prompt tokens per step: scratch memory grows with it, speed hardly */
    if (!st) st = tool_engine_open(m, (int64_t)n_prompt + n_gen + 16, chunk, threads, &e);
    lli_kv_cache *kv = e.kv;
    lli_context *ctx = e.ctx;
    lli_batch *batch = e.batch;
    if (!st) st = lli_sampler_create(&smp);
    if (!st && temp > 0) {
        if (top_k > 0) st = lli_sampler_add_top_k(smp, top_k);
        if (!st && top_p < 1) st = lli_sampler_add_top_p(smp, top_p);
        if (!st) st = lli_sampler_add_temperature(smp, temp);
        if (!st) st = lli_sampler_add_dist(smp, seed);
    } else if (!st)
        st = lli_sampler_add_greedy(smp);
    lli_seq_id seq = 0;
    if (!st) st = lli_kv_seq_create(kv, &seq);

    /* Prompt, in chunks; logits for its last token only. */
    double t0 = now(), t1 = t0;
    int64_t pos = 0;
    for (size_t i = 0; !st && i < n_prompt; i += chunk) {
        lli_batch_clear(batch);
        size_t end = i + chunk < n_prompt ? i + chunk : n_prompt;
        for (size_t j = i; !st && j < end; j++) st = lli_batch_add(batch, toks[j], seq, pos++, j == n_prompt - 1);
        if (!st) st = lli_decode(ctx, batch);
    }
    t1 = now();
    int64_t eos = -1;
    if (m) lli_model_info_int(m, LLI_INFO_TOKEN_EOS, &eos);
    int generated = 0;
    int32_t entry = n_prompt ? (int32_t)((n_prompt - 1) % chunk) : 0; /* the prompt's last token */
    char piece[256];
    while (!st && generated < n_gen) {
        lli_token t;
        st = lli_sampler_sample(smp, ctx, entry, &t);
        entry = 0;
        if (st || t == eos) break;
        lli_sampler_accept(smp, t);
        size_t nb = 0;
        if (lli_token_to_piece(m, t, piece, sizeof piece, &nb) == LLI_OK) fwrite(piece, 1, nb, stdout);
        fflush(stdout);
        generated++;
        if (generated == n_gen) break;
        lli_batch_clear(batch);
        st = lli_batch_add(batch, t, seq, pos++, 1);
        if (!st) st = lli_decode(ctx, batch);
    }
    double t2 = now();
    putchar('\n');
    fflush(stdout);
    if (st) {
        if (!told) fprintf(stderr, "lli-generate: %s: %s\n", lli_status_str(st), lli_last_error());
    } else
        fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tokens/s); generation: %d tokens in %.3f s (%.1f tokens/s)\n",
                n_prompt, t1 - t0, (double)n_prompt / (t1 - t0 > 0 ? t1 - t0 : 1e-9), generated, t2 - t1,
                generated / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    lli_sampler_free(smp);
    tool_engine_close(&e);
    lli_model_free(m);
    free(toks);
    free(text);
    return st ? 1 : 0;
}
