/* A progress bar on stderr for the tools, drawn only when stderr is a terminal. */
#ifndef LLI_TOOLS_PROGRESS_BAR_H
#define LLI_TOOLS_PROGRESS_BAR_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

typedef struct progress_bar {
    const char *label;
    int last_permille;
    struct timespec start;
} progress_bar;

static inline void progress_bar_init(progress_bar *b, const char *label) {
    b->label = label;
    b->last_permille = -1;
    clock_gettime(CLOCK_MONOTONIC, &b->start);
}

/* Matches lli_progress_fn; pass a progress_bar as user data. */
static inline int progress_bar_update(uint64_t done, uint64_t total, void *user) {
    progress_bar *b = user;
    if (!isatty(STDERR_FILENO) || total == 0) return 1;
    int permille = (int)(done * 1000 / total);
    if (permille == b->last_permille) return 1;
    b->last_permille = permille;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs = (double)(now.tv_sec - b->start.tv_sec) + (double)(now.tv_nsec - b->start.tv_nsec) * 1e-9;
    int width = 30, filled = permille * width / 1000;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %5.1f%%  %.1f/%.1f MiB  %.1fs", b->label, bar, permille / 10.0, done / 1048576.0,
            total / 1048576.0, secs);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
    return 1;
}

#endif
