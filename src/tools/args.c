/* tool_parse(): see args.h. Options are given as "-x VALUE", "--long VALUE" or "--long=VALUE";
 * "--" ends the options; "-" alone is an argument (stdin where a file is expected). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llminfer.h"

/* Does arg (up to len bytes) name option o? names is a ", "-separated list. */
static int matches(const tool_option *o, const char *arg, size_t len) {
    for (const char *p = o->names; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, arg, len)) return 1;
        p += n;
        while (*p == ',' || *p == ' ') p++;
    }
    return 0;
}

static void print_wrapped(FILE *f, const char *text, int indent, int first_col) {
    int col = first_col, width = 79;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        if (*p == '\n') { /* an explicit line break; spaces after it are kept (examples) */
            fprintf(f, "\n%*s", indent, "");
            col = indent, p++;
            for (; *p == ' '; p++) fputc(' ', f), col++;
            if (col > indent && *p && *p != '\n') {
                size_t w = strcspn(p, " \n");
                fwrite(p, 1, w, f);
                col += (int)w, p += w;
            }
            continue;
        }
        size_t w = strcspn(p, " \n");
        if (!w) break;
        if (col > indent && col + 1 + (int)w > width) fprintf(f, "\n%*s", indent, ""), col = indent;
        else if (col > indent) fputc(' ', f), col++;
        fwrite(p, 1, w, f);
        col += (int)w, p += w;
    }
    fputc('\n', f);
}

static void print_help(const tool_spec *s) {
    printf("Usage: %s %s\n", s->name, s->usage);
    print_wrapped(stdout, s->summary, 0, 0);
    printf("\nOptions:\n");
    for (int i = 0; i < s->n_opts; i++) {
        const tool_option *o = &s->opts[i];
        char head[96];
        /* A long-only option is indented like GNU tools, so that help2man lines them up. */
        int n = snprintf(head, sizeof head, "%s%s%s%s", o->names[1] == '-' ? "    " : "", o->names, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
        printf("  %s", head);
        int col = 2 + n;
        if (col > 28) printf("\n%*s", 30, ""), col = 30;
        else printf("%*s", 30 - col, ""), col = 30;
        print_wrapped(stdout, o->help, 30, col);
    }
    printf("  -h, --help                  print this help and exit\n"
           "      --version               print the version and exit\n");
    if (s->epilog) {
        putchar('\n');
        print_wrapped(stdout, s->epilog, 0, 0);
    }
}

static int bad(const tool_spec *s, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "%s: ", s->name);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see %s --help)\n", s->name);
    return 2;
}

static int set_value(const tool_spec *s, const tool_option *o, const char *opt, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno) return bad(s, "%s takes a whole number, not \"%s\"", opt, v);
        if (x < o->min || x > o->max) {
            fprintf(stderr, "%s: %s must be from %.0f to %.0f, not %s (see %s --help)\n", s->name, opt, o->min, o->max, v,
                    s->name);
            return 2;
        }
        *(int *)o->dest = (int)x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || errno || *v == '-') return bad(s, "%s takes a whole number from 0, not \"%s\"", opt, v);
        *(unsigned long long *)o->dest = x;
        return 0;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x)) return bad(s, "%s takes a number, not \"%s\"", opt, v);
        if (x < o->min || x > o->max || (o->min_open && x == o->min)) {
            fprintf(stderr, "%s: %s must be %s %g and at most %g, not %s (see %s --help)\n", s->name, opt,
                    o->min_open ? "above" : "at least", o->min, o->max, v, s->name);
            return 2;
        }
        *(float *)o->dest = (float)x;
        return 0;
    }
    case OPT_STRING: *(const char **)o->dest = v; return 0;
    case OPT_CHOICE: {
        int idx = 0;
        for (const char *p = o->choices; *p; idx++) {
            size_t n = strcspn(p, "|");
            if (strlen(v) == n && !strncmp(p, v, n)) {
                *(int *)o->dest = idx;
                return 0;
            }
            p += n + (p[n] == '|');
        }
        fprintf(stderr, "%s: %s takes one of %s, not \"%s\" (see %s --help)\n", s->name, opt, o->choices, v, s->name);
        return 2;
    }
    case OPT_FLAG: break;
    }
    return 0;
}

int tool_parse(const tool_spec *s, int argc, char **argv, const char **pos, int *n_pos) {
    int np = 0, options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || !a[1]) {
            if (np >= s->max_pos) {
                if (s->max_pos == 0) return bad(s, "unexpected argument \"%s\"%s", a, "");
                return bad(s, "unexpected argument \"%s\"%s", a, "; too many arguments");
            }
            pos[np++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            options_done = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(s);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("%s (libllminfer) %s\n", s->name, lli_version());
            return 0;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const tool_option *o = NULL;
        for (int k = 0; k < s->n_opts && !o; k++)
            if (matches(&s->opts[k], a, len)) o = &s->opts[k];
        char opt[64];
        snprintf(opt, sizeof opt, "%.*s", (int)(len < 63 ? len : 63), a);
        if (!o) return bad(s, "unknown option %s%s", opt, "");
        if (o->type == OPT_FLAG) {
            if (eq) return bad(s, "%s takes no value%s", opt, "");
            *(int *)o->dest = o->flag_value;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) return bad(s, "%s needs a value (%s)", opt, o->metavar);
        int rc = set_value(s, o, opt, v);
        if (rc) return rc;
    }
    if (np < s->min_pos) return bad(s, "missing argument: usage: %s %s", s->name, s->usage);
    if (n_pos) *n_pos = np;
    return -1;
}
