/* lli-generate: generate text from a prompt, streamed to stdout, or chat with a model (-i), keeping
 * the conversation in the KV cache between turns. The backend and timings go to stderr. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "common.h"
#include "engine.h"
#include "llminfer.h"

#define TOOL "lli-generate"

typedef struct options {
    const char *model, *prompt, *file, *sys, *cache_dir;
    int n_predict, ctx, threads, top_k, repeat_last_n, backend, interactive, chat, parse_special;
    float temp, top_p, min_p, repeat_penalty;
    unsigned long long seed;
} options;

/* One model, one sequence in a KV cache, one sampler chain, and the timings so far. */
typedef struct session {
    const options *o;
    lli_model *m;
    tool_engine e;
    lli_sampler *smp;
    lli_seq_id seq;
    int64_t pos, n_ctx, n_ctx_train;
    int chunk;
    int32_t last_entry;   /* the batch entry holding the last fed token's logits */
    int64_t eos;
    char end_marker[64];  /* the text that ends an assistant turn in the chat format, "" if none */
    double load_ms, prompt_ms, gen_ms;
    int64_t n_prompt, n_gen;
} session;

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

/* Tokens of text appended to *toks. A literal part (the user's own text inside a chat template)
 * is tokenized without special tokens when they are not to be parsed in typed text; the template's
 * markers around it always are. */
static lli_status tokenize(session *s, const char *text, size_t len, int add_bos, int parse_special, size_t lit_start,
                           size_t lit_len, lli_token **toks, size_t *n) {
    size_t cuts[4] = {0, lit_start, lit_start + lit_len, len};
    int parts = parse_special || lit_len == 0 ? 1 : 3;
    if (parts == 1) cuts[1] = len;
    for (int p = 0; p < parts; p++) {
        const char *t = text + cuts[p];
        size_t tl = cuts[p + 1] - cuts[p], need = 0;
        int special = parts == 1 ? parse_special : p != 1, bos = add_bos && p == 0;
        if (!tl && !bos) continue;
        lli_status st = lli_tokenize(s->m, t, tl, bos, special, NULL, 0, &need);
        if (st && st != LLI_E_BUFFER_TOO_SMALL) return tool_fail(TOOL, "lli_tokenize", st), st;
        lli_token *grown = realloc(*toks, (*n + need + 1) * sizeof **toks);
        if (!grown) return fprintf(stderr, TOOL ": out of memory\n"), LLI_E_NOMEM;
        *toks = grown;
        st = lli_tokenize(s->m, t, tl, bos, special, *toks + *n, need, &need);
        if (st) return tool_fail(TOOL, "lli_tokenize", st), st;
        *n += need;
    }
    return LLI_OK;
}

/* Feed tokens in chunks, logits for the last one only. */
static lli_status feed(session *s, const lli_token *toks, size_t n) {
    if (s->pos + (int64_t)n > s->n_ctx) { /* refused before anything is decoded */
        if (s->n_ctx == s->n_ctx_train)
            fprintf(stderr, TOOL ": %zu more tokens (%lld used) exceed the model's context length of %lld\n", n,
                    (long long)s->pos, (long long)s->n_ctx);
        else
            fprintf(stderr, TOOL ": %zu more tokens do not fit in the context of %lld (%lld used); use a larger -c\n", n,
                    (long long)s->n_ctx, (long long)s->pos);
        return LLI_E_KV_FULL;
    }
    double t0 = tool_now_ms();
    lli_status st = LLI_OK;
    for (size_t i = 0; !st && i < n; i += (size_t)s->chunk) {
        size_t end = i + (size_t)s->chunk < n ? i + (size_t)s->chunk : n;
        lli_batch_clear(s->e.batch);
        for (size_t j = i; !st && j < end; j++) st = lli_batch_add(s->e.batch, toks[j], s->seq, s->pos++, j == n - 1);
        if (st) return tool_fail(TOOL, "lli_batch_add", st), st;
        st = lli_decode(s->e.ctx, s->e.batch);
        if (st) return tool_fail(TOOL, "lli_decode", st), st;
        s->last_entry = (int32_t)(end - 1 - i);
    }
    s->prompt_ms += tool_now_ms() - t0;
    s->n_prompt += (int64_t)n;
    return st;
}

/* Sample up to n_predict tokens (-1: until the end of the turn or of the context), streamed to
 * stdout and collected in *text when it is not NULL. With keep_all, every token printed is also in
 * the cache afterwards (so that the next turn continues from exactly the text shown). */
static lli_status answer(session *s, int n_predict, int keep_all, char **text, size_t *text_len) {
    double t0 = tool_now_ms();
    lli_status st = LLI_OK;
    char piece[256];
    for (int done = 0; n_predict < 0 || done < n_predict; done++) {
        if (g_interrupted) break;
        if (s->pos >= s->n_ctx) {
            fprintf(stderr, "\n" TOOL ": the context of %lld tokens is full; use a larger -c\n", (long long)s->n_ctx);
            break;
        }
        lli_token t;
        st = lli_sampler_sample(s->smp, s->e.ctx, s->last_entry, &t);
        if (st) return tool_fail(TOOL, "lli_sampler_sample", st), st;
        size_t nb = 0;
        st = lli_token_to_piece(s->m, t, piece, sizeof piece, &nb);
        if (st) return tool_fail(TOOL, "lli_token_to_piece", st), st;
        if (t == s->eos || (s->end_marker[0] && nb == strlen(s->end_marker) && !memcmp(piece, s->end_marker, nb))) break;
        lli_sampler_accept(s->smp, t);
        fwrite(piece, 1, nb, stdout);
        fflush(stdout);
        s->n_gen++;
        if (text) {
            char *grown = realloc(*text, *text_len + nb + 1);
            if (!grown) return fprintf(stderr, TOOL ": out of memory\n"), LLI_E_NOMEM;
            memcpy(grown + *text_len, piece, nb);
            *text = grown, *text_len += nb, grown[*text_len] = '\0';
        }
        if (!keep_all && done + 1 == n_predict) break; /* the last token need not be decoded */
        lli_batch_clear(s->e.batch);
        st = lli_batch_add(s->e.batch, t, s->seq, s->pos++, 1);
        if (st) return tool_fail(TOOL, "lli_batch_add", st), st;
        st = lli_decode(s->e.ctx, s->e.batch);
        if (st) return tool_fail(TOOL, "lli_decode", st), st;
        s->last_entry = 0;
    }
    s->gen_ms += tool_now_ms() - t0;
    return LLI_OK;
}

static void print_timings(const session *s) {
    fprintf(stderr, "\n" TOOL ": load time        = %10.2f ms\n", s->load_ms);
    fprintf(stderr, TOOL ": prompt eval time = %10.2f ms / %5lld tokens (%8.2f ms per token, %8.2f tokens per second)\n",
            s->prompt_ms, (long long)s->n_prompt, s->n_prompt ? s->prompt_ms / (double)s->n_prompt : 0.0,
            s->prompt_ms > 0 ? 1e3 * (double)s->n_prompt / s->prompt_ms : 0.0);
    fprintf(stderr, TOOL ": eval time        = %10.2f ms / %5lld tokens (%8.2f ms per token, %8.2f tokens per second)\n",
            s->gen_ms, (long long)s->n_gen, s->n_gen ? s->gen_ms / (double)s->n_gen : 0.0,
            s->gen_ms > 0 ? 1e3 * (double)s->n_gen / s->gen_ms : 0.0);
    fprintf(stderr, TOOL ": total time       = %10.2f ms / %5lld tokens\n", s->load_ms + s->prompt_ms + s->gen_ms,
            (long long)(s->n_prompt + s->n_gen));
}

/* A conversation: roles and contents, formatted by the library. */
typedef struct chat {
    const char **roles;
    char **contents;
    size_t n;
    char *fed;      /* the text the cache holds, as formatted (plus the answers as generated) */
    size_t fed_len;
} chat;

static int chat_add(chat *c, const char *role, const char *content, size_t len) {
    const char **r = realloc(c->roles, (c->n + 1) * sizeof *r);
    if (!r) return -1;
    c->roles = r;
    char **t = realloc(c->contents, (c->n + 1) * sizeof *t);
    if (!t) return -1;
    c->contents = t;
    if (!(t[c->n] = malloc(len + 1))) return -1;
    memcpy(t[c->n], content, len);
    t[c->n][len] = '\0';
    r[c->n++] = role;
    return 0;
}

static void chat_free(chat *c) {
    for (size_t i = 0; i < c->n; i++) free(c->contents[i]);
    free(c->roles), free(c->contents), free(c->fed);
}

static char *chat_format(const char *tmpl, const chat *c, int gen, size_t *len) {
    lli_status st = lli_chat_format(tmpl, c->roles, (const char *const *)c->contents, c->n, gen, NULL, 0, len);
    char *out = st == LLI_E_BUFFER_TOO_SMALL ? malloc(*len + 1) : NULL;
    if (out) st = lli_chat_format(tmpl, c->roles, (const char *const *)c->contents, c->n, gen, out, *len + 1, len);
    if (st || !out) {
        if (st == LLI_E_UNSUPPORTED)
            fprintf(stderr, TOOL ": this model's chat template is not one of ChatML, Llama 3 or Mistral [INST]; use it "
                            "without --chat, -sys and -i\n");
        else tool_fail(TOOL, "lli_chat_format", st ? st : LLI_E_NOMEM);
        free(out);
        return NULL;
    }
    return out;
}

/* One user turn: the conversation formatted with the new message; what the cache already holds is
 * not fed again when the new text begins with it (otherwise the cache starts over). */
static lli_status chat_turn(session *s, const char *tmpl, chat *c, const char *user, size_t user_len, int keep) {
    if (chat_add(c, "user", user, user_len)) return fprintf(stderr, TOOL ": out of memory\n"), LLI_E_NOMEM;
    size_t len;
    char *full = chat_format(tmpl, c, 1, &len);
    if (!full) return LLI_E_UNSUPPORTED;
    size_t from = 0;
    if (c->fed && len >= c->fed_len && !memcmp(full, c->fed, c->fed_len)) from = c->fed_len;
    else if (s->pos) {
        lli_status st = lli_kv_seq_truncate(s->e.kv, s->seq, 0);
        if (st) return free(full), tool_fail(TOOL, "lli_kv_seq_truncate", st), st;
        s->pos = 0;
    }
    /* The user's text is the last occurrence of it in the new part. */
    size_t lit = from;
    for (const char *p = full + from; (p = strstr(p, c->contents[c->n - 1])) && user_len; p++) lit = (size_t)(p - full);
    lli_token *toks = NULL;
    size_t n = 0;
    lli_status st = tokenize(s, full + from, len - from, from == 0, s->o->parse_special, lit - from, user_len, &toks, &n);
    if (!st) st = feed(s, toks, n);
    free(toks);
    char *reply = NULL;
    size_t reply_len = 0;
    if (!st) st = answer(s, s->o->n_predict, keep, &reply, &reply_len);
    if (!st && chat_add(c, "assistant", reply ? reply : "", reply_len)) st = LLI_E_NOMEM;
    free(reply);
    if (!st) { /* the cache now holds the formatted text and the reply */
        free(c->fed);
        c->fed = full, c->fed_len = len;
        char *grown = realloc(c->fed, len + reply_len + 1);
        if (!grown) return LLI_E_NOMEM;
        memcpy(grown + len, c->contents[c->n - 1], reply_len + 1);
        c->fed = grown, c->fed_len = len + reply_len;
    } else free(full);
    return st;
}

/* The end-of-turn text of the template's format: what follows an assistant message's content. */
static void find_end_marker(const char *tmpl, char *out, size_t cap) {
    const char *roles[] = {"assistant"}, *contents[] = {"\x01"};
    char buf[512];
    out[0] = '\0';
    if (lli_chat_format(tmpl, roles, contents, 1, 0, buf, sizeof buf, NULL)) return;
    const char *after = strchr(buf, '\x01');
    if (!after) return;
    snprintf(out, cap, "%s", after + 1);
    for (size_t l = strlen(out); l && (out[l - 1] == '\n' || out[l - 1] == ' '); l--) out[l - 1] = '\0';
}

static lli_status make_sampler(session *s) {
    const options *o = s->o;
    lli_status st = lli_sampler_create(&s->smp);
    if (!st && o->repeat_penalty != 1) st = lli_sampler_add_penalties(s->smp, o->repeat_last_n, o->repeat_penalty, 0, 0);
    if (!st && o->temp > 0) {
        if (o->top_k > 0) st = lli_sampler_add_top_k(s->smp, o->top_k);
        if (!st && o->top_p < 1) st = lli_sampler_add_top_p(s->smp, o->top_p);
        if (!st && o->min_p > 0) st = lli_sampler_add_min_p(s->smp, o->min_p);
        if (!st) st = lli_sampler_add_temperature(s->smp, o->temp);
        if (!st) st = lli_sampler_add_dist(s->smp, o->seed);
    } else if (!st)
        st = lli_sampler_add_greedy(s->smp);
    if (st) tool_fail(TOOL, "making the sampler", st);
    return st;
}

int main(int argc, char **argv) {
    options o = {.n_predict = -2, .backend = 2, .parse_special = 1, .top_p = 1, .repeat_penalty = 1,
                 .repeat_last_n = 64, .seed = 42};
    const tool_option opts[] = {
        {"-m, --model", OPT_STRING, &o.model, "MODEL", TOOL_MODEL_HELP},
        {"-p, --prompt", OPT_STRING, &o.prompt, "TEXT", "the prompt (with -i: the first message)"},
        {"-f, --file", OPT_STRING, &o.file, "FILE", "read the prompt from FILE; - reads it from standard input"},
        {"-sys, --system-prompt", OPT_STRING, &o.sys, "TEXT", "a system message; implies --chat"},
        {"-i, --interactive", OPT_FLAG, &o.interactive, NULL,
         "chat: read one message per line from standard input and answer each, keeping the conversation in the KV "
         "cache between turns; Ctrl-C stops an answer, end of input (Ctrl-D) ends the chat", .flag_value = 1},
        {"--chat", OPT_FLAG, &o.chat, NULL, "wrap the prompt in the model's chat format (ChatML, Llama 3 or Mistral)",
         .flag_value = 1},
        {"-n, --n-predict", OPT_INT, &o.n_predict, "N",
         "tokens to generate at most (default 64; with -i, per answer, default -1); -1: until the end of the answer or "
         "of the context", -1, 1e9},
        {"-c, --ctx-size", OPT_INT, &o.ctx, "N",
         "tokens the KV cache holds, at most the model's context length; 0 (the default): the prompt and -n, or "
         "with -i 4096", 0, 1 << 24},
        {"--temp", OPT_FLOAT, &o.temp, "T", "sampling temperature, 0 to 100; 0 (the default) is greedy", 0, 100},
        {"--top-k", OPT_INT, &o.top_k, "K", "keep the K most likely tokens; 0 (the default): all", 0, 1e9},
        {"--top-p", OPT_FLOAT, &o.top_p, "P", "keep the most likely tokens up to probability P, above 0 and at most 1 "
         "(the default: all)", 0, 1, 1},
        {"--min-p", OPT_FLOAT, &o.min_p, "P", "keep tokens at least P times as likely as the most likely, 0 to 1; 0 (the "
         "default): all", 0, 1},
        {"--repeat-penalty", OPT_FLOAT, &o.repeat_penalty, "X", "penalty for repeating recent tokens, above 0; 1 (the "
         "default): none", 0, 100, 1},
        {"--repeat-last-n", OPT_INT, &o.repeat_last_n, "N", "recent tokens the penalty looks at (default 64)", 0, 1e9},
        {"-s, --seed", OPT_U64, &o.seed, "S", "random seed for sampling (default 42)"},
        {"-t, --threads", OPT_INT, &o.threads, "N", "compute threads, 1 to 1024; 0 (the default): one per processor", 0,
         1024},
        {"--backend", OPT_CHOICE, &o.backend, "cpu|cuda|auto", TOOL_BACKEND_HELP, .choices = TOOL_BACKEND_CHOICES},
        {"--no-parse-special", OPT_FLAG, &o.parse_special, NULL,
         "read special-token texts (like <|im_start|>) in the prompt as plain text; by default they are special tokens",
         .flag_value = 0},
        {"--cache-dir", OPT_STRING, &o.cache_dir, "DIR", TOOL_CACHE_HELP},
    };
    const tool_spec spec = {
        TOOL, "-m MODEL (-p TEXT | -f FILE | -i) [OPTION]...",
        "Generate text from a prompt with a model and stream it to standard output, or chat with it (-i). The backend "
        "in use, the load time and the prompt and generation speeds go to standard error.",
        opts, (int)(sizeof opts / sizeof opts[0]), 0, 0,
        "Examples:\n  lli-generate -m model.gguf --chat -p \"Write a haiku.\"\n\n  echo \"Hi\" | lli-generate -m DIR -f -\n\n"
        "  lli-generate -m DIR -i -sys \"Answer briefly.\"\n\nExit status:\n0 on success, 1 when loading or generating "
        "fails, 2 for a wrong command line."};
    int rc = tool_parse(&spec, argc, argv, NULL, NULL);
    if (rc >= 0) return rc;
    if (!o.model) return fprintf(stderr, TOOL ": -m MODEL is required (see " TOOL " --help)\n"), 2;
    if (o.prompt && o.file) return fprintf(stderr, TOOL ": give the prompt with -p or -f, not both\n"), 2;
    if (!o.prompt && !o.file && !o.interactive)
        return fprintf(stderr, TOOL ": no prompt: give -p TEXT, -f FILE (- for standard input) or -i\n"), 2;
    if (o.interactive && o.file && !strcmp(o.file, "-"))
        return fprintf(stderr, TOOL ": -f - and -i both read standard input; give the first message with -p\n"), 2;
    if (o.n_predict == -2) o.n_predict = o.interactive ? -1 : 64;
    int chat_mode = o.chat || o.sys || o.interactive;

    char *file_text = NULL;
    size_t prompt_len = 0;
    if (o.file && !(file_text = tool_read_text(TOOL, o.file, &prompt_len))) return 1;
    const char *prompt = file_text ? file_text : o.prompt;
    if (prompt) prompt_len = strlen(prompt);
    if (prompt && prompt_len == 0) {
        fprintf(stderr, TOOL ": the prompt %s%s is empty\n", o.file ? "in " : "given with -p", o.file ? o.file : "");
        free(file_text);
        return 2;
    }

    session s = {.o = &o, .chunk = 64, .eos = -1};
    lli_model_params *mp = NULL;
    lli_status st = lli_model_params_create(&mp);
    if (!st) st = lli_model_params_set_backend(mp, tool_backend(o.backend));
    if (!st) st = lli_model_params_set_threads(mp, o.threads);
    if (st) tool_fail(TOOL, "model parameters", st);
    if (!st) st = tool_load_model(TOOL, o.model, o.cache_dir, mp, 1, &s.m, &s.load_ms);
    lli_model_params_free(mp);
    if (st) return free(file_text), 1;

    const char *tmpl = "";
    int64_t n_ctx_train = 0;
    lli_model_info_str(s.m, LLI_INFO_CHAT_TEMPLATE, &tmpl);
    lli_model_info_int(s.m, LLI_INFO_TOKEN_EOS, &s.eos);
    lli_model_info_int(s.m, LLI_INFO_N_CTX_TRAIN, &n_ctx_train);
    if (chat_mode) find_end_marker(tmpl, s.end_marker, sizeof s.end_marker);
    const char *arch = "";
    lli_model_info_str(s.m, LLI_INFO_ARCH, &arch);
    fprintf(stderr, TOOL ": %s on the %s backend\n", arch, tool_backend_name(s.m));

    chat c = {0};
    lli_token *toks = NULL;
    size_t n_toks = 0;
    /* One-shot: the prompt's tokens first, to size the cache. */
    if (!o.interactive) {
        char *text = NULL;
        size_t len = prompt_len, lit = 0;
        if (chat_mode) {
            if ((o.sys && chat_add(&c, "system", o.sys, strlen(o.sys))) || chat_add(&c, "user", prompt, prompt_len))
                st = LLI_E_NOMEM;
            if (!st && !(text = chat_format(tmpl, &c, 1, &len))) st = LLI_E_UNSUPPORTED;
            if (text) {
                for (const char *p = text; (p = strstr(p, prompt)); p++) lit = (size_t)(p - text);
            }
        }
        if (!st) st = tokenize(&s, text ? text : prompt, len, 1, o.parse_special, lit, chat_mode ? prompt_len : 0, &toks, &n_toks);
        free(text);
        if (!st && n_toks == 0) {
            fprintf(stderr, TOOL ": the prompt gives no tokens\n");
            st = LLI_E_INVALID_ARG;
        }
    }
    if (!st) {
        int64_t want = o.ctx ? o.ctx : o.interactive ? 4096 : (int64_t)n_toks + (o.n_predict < 0 ? 4096 : o.n_predict) + 1;
        /* The library refuses positions beyond the model's context length: no cache larger than it. */
        if (n_ctx_train > 0 && want > n_ctx_train) {
            if (o.ctx) fprintf(stderr, TOOL ": -c %d is more than the model's context length; using %lld\n", o.ctx,
                               (long long)n_ctx_train);
            want = n_ctx_train;
        }
        s.n_ctx = want, s.n_ctx_train = n_ctx_train;
        st = tool_engine_open(s.m, s.n_ctx, s.chunk, o.threads, &s.e);
        if (st) tool_fail(TOOL, "making the KV cache and context", st);
    }
    if (!st) st = make_sampler(&s);
    if (!st) {
        st = lli_kv_seq_create(s.e.kv, &s.seq);
        if (st) tool_fail(TOOL, "lli_kv_seq_create", st);
    }

    if (!st && !o.interactive) {
        st = feed(&s, toks, n_toks);
        if (!st) {
            st = answer(&s, o.n_predict, 0, NULL, NULL);
            putchar('\n');
            fflush(stdout);
        }
    } else if (!st) {
        struct sigaction sa = {0};
        sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt ends the chat */
        sigaction(SIGINT, &sa, NULL);
        int tty = isatty(STDIN_FILENO);
        if (o.sys && chat_add(&c, "system", o.sys, strlen(o.sys))) st = LLI_E_NOMEM;
        if (!st && prompt) {
            st = chat_turn(&s, tmpl, &c, prompt, prompt_len, 1);
            putchar('\n');
            g_interrupted = 0;
        }
        char *line = NULL;
        size_t cap = 0;
        while (!st) {
            if (tty) fputs("> ", stdout);
            fflush(stdout);
            errno = 0;
            ssize_t got = getline(&line, &cap, stdin);
            if (got < 0) break; /* end of input, or Ctrl-C while waiting for it */
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
            if (got == 0) continue;
            st = chat_turn(&s, tmpl, &c, line, (size_t)got, 1);
            if (g_interrupted) fputs(" [stopped]", stdout);
            g_interrupted = 0;
            putchar('\n');
            fflush(stdout);
        }
        free(line);
    }
    if (s.m && s.e.ctx) print_timings(&s);
    chat_free(&c);
    free(toks);
    lli_sampler_free(s.smp);
    tool_engine_close(&s.e);
    lli_model_free(s.m);
    free(file_text);
    return st ? 1 : 0;
}
