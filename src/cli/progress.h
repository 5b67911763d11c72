/* progress.h - a one-line progress bar on stderr, drawn only when stderr is a terminal and
 * --quiet was not given; never mixed into stdout (which carries data). */
#ifndef ML_CLI_PROGRESS_H
#define ML_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_progress {
    bool enabled;
    const char *label;
    int last_permille;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, bool quiet);
void cli_progress_update(cli_progress *p, size_t done, size_t total);
void cli_progress_finish(cli_progress *p);
/* Adapter with the library's callback shape (ctx is a cli_progress*). */
void cli_progress_callback(void *ctx, size_t done, size_t total);

#endif
