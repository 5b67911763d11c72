/* watchdog.h - the slowloris cut-off: every connection has a deadline by which the request
 * it is receiving must have fully arrived; a thread shuts down the sockets that miss it.
 * The HTTP library's own timeout is an idle timeout, which a client sending one byte every
 * few seconds never trips. It knows sockets and clocks, nothing of HTTP. */
#ifndef ML_SERVE_WATCHDOG_H
#define ML_SERVE_WATCHDOG_H

#include <stdint.h>

#include "microlens/error.h"

typedef struct ml__watchdog ml__watchdog;
typedef struct ml__watch_slot ml__watch_slot;

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t ml__now_ns(void);

/* Starts the watchdog thread; requests must arrive within timeout_ns. ML_ENOMEM, ML_EIO. */
ml_status ml__watchdog_start(ml__watchdog **out, uint64_t timeout_ns);

/* Watches socket fd from now (a new connection is receiving its first request). NULL on
 * allocation failure (the connection is then not watched; the idle timeout still applies). */
ml__watch_slot *ml__watchdog_add(ml__watchdog *w, int fd);
/* Stops watching; must be called before the socket is closed. NULL slot: no-op. */
void ml__watchdog_remove(ml__watchdog *w, ml__watch_slot *slot);
/* The connection is waiting for (the rest of) a request: deadline = now + timeout. */
void ml__watch_arm(ml__watchdog *w, ml__watch_slot *slot);
/* The request has arrived: no deadline while it is processed and answered. */
void ml__watch_disarm(ml__watch_slot *slot);

/* Connections shut down for missing their deadline so far. */
uint64_t ml__watchdog_cut_count(ml__watchdog *w);

/* Stops and joins the thread, frees the slots still registered. NULL: no-op. */
void ml__watchdog_stop(ml__watchdog *w);

#endif
