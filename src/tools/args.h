/* The command line of every tool: one parser, one --help layout (which help2man turns into the man
 * pages), one way of naming a wrong option. Exit status 2 for any command-line error. */
#ifndef LLI_TOOLS_ARGS_H
#define LLI_TOOLS_ARGS_H

#include <stdint.h>

typedef enum tool_opt_type {
    OPT_FLAG,   /* int: set to flag_value */
    OPT_INT,    /* int in [min, max] */
    OPT_U64,    /* unsigned long long */
    OPT_FLOAT,  /* float in [min, max] (or (min, max] with min_open) */
    OPT_STRING, /* const char * */
    OPT_CHOICE, /* int: the index of the value in choices ("cpu|cuda|auto") */
} tool_opt_type;

typedef struct tool_option {
    const char *names;   /* "-n, --n-predict", "-sys, --system-prompt" or "--temp" */
    tool_opt_type type;
    void *dest;
    const char *metavar; /* "N", "TEXT"; NULL for flags */
    const char *help;    /* one sentence or more; wrapped by the help printer */
    double min, max;     /* OPT_INT / OPT_FLOAT range */
    int min_open;        /* OPT_FLOAT: min itself is refused */
    const char *choices; /* OPT_CHOICE */
    int flag_value;      /* OPT_FLAG */
} tool_option;

typedef struct tool_spec {
    const char *name;       /* "lli-generate" */
    const char *usage;      /* after the name: "-m MODEL (-p TEXT | -f FILE) [OPTION]..." */
    const char *summary;    /* what the tool does, a paragraph */
    const tool_option *opts;
    int n_opts;
    int min_pos, max_pos;   /* positional arguments accepted */
    const char *epilog;     /* more text after the options (examples, exit status), or NULL */
} tool_spec;

/* Parse argv into the options' destinations and pos[] (max_pos entries). Returns -1 when the tool
 * should go on, else the exit status: 0 after --help or --version, 2 after a command-line error
 * (printed to stderr, naming the option and the value). */
int tool_parse(const tool_spec *spec, int argc, char **argv, const char **pos, int *n_pos);

#endif
