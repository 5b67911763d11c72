/* progress.c - draws "label [#####     ]  45%" on a terminal; silent otherwise. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 30

void cli_progress_start(cli_progress *p, const char *label, bool quiet) {
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->label = label;
    p->last_permille = -1;
}

void cli_progress_update(cli_progress *p, size_t done, size_t total) {
    if (!p->enabled || total == 0) return;
    int permille = (int)((double)done / (double)total * 1000.0);
    if (permille == p->last_permille) return;
    p->last_permille = permille;
    int filled = permille * BAR_WIDTH / 1000;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : ' ';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%%", p->label, bar, permille / 10);
    fflush(stderr);
}

void cli_progress_finish(cli_progress *p) {
    if (!p->enabled) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

void cli_progress_callback(void *ctx, size_t done, size_t total) {
    cli_progress_update(ctx, done, total);
}
