/* watchdog.c - request deadlines per connection, enforced by one thread that wakes a few
 * times a second and shuts down (never closes) the sockets whose deadline passed, so the HTTP
 * library sees the connection end and cleans up on its own thread. */
#include "serve/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "util/error.h"

/* Checks per deadline period: a client is cut within timeout * (1 + 1/4), and a 10 s
 * deadline costs 4 wake-ups a second at most. */
#define CHECKS_PER_TIMEOUT 4
/* Never wake more often than this (ns), whatever the timeout. */
#define MIN_PERIOD_NS 50000000ull

struct ml__watch_slot {
    int fd;
    _Atomic uint64_t deadline_ns; /* 0: no deadline (request being processed) */
    bool cut;                     /* shut down already (under the lock) */
    ml__watch_slot *prev, *next;
};

struct ml__watchdog {
    pthread_mutex_t lock; /* guards the list; held while a socket is shut down, so that the
                           * library cannot close (and reuse) that descriptor meanwhile */
    pthread_cond_t wake;
    ml__watch_slot *head;
    uint64_t timeout_ns, period_ns;
    bool stopping;
    _Atomic uint64_t n_cut;
    pthread_t thread;
};

uint64_t ml__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sweep(ml__watchdog *w, uint64_t now) {
    for (ml__watch_slot *s = w->head; s; s = s->next) {
        uint64_t d = atomic_load_explicit(&s->deadline_ns, memory_order_relaxed);
        if (d == 0 || now < d || s->cut) continue;
        /* shutdown, not close: the descriptor stays the library's to close. */
        shutdown(s->fd, SHUT_RDWR);
        s->cut = true;
        atomic_fetch_add(&w->n_cut, 1);
    }
}

static void *run(void *arg) {
    ml__watchdog *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        sweep(w, ml__now_ns());
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + w->period_ns;
        until.tv_sec += (time_t)(ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        int rc = 0;
        while (!w->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

ml_status ml__watchdog_start(ml__watchdog **out, uint64_t timeout_ns) {
    ml__watchdog *w = calloc(1, sizeof *w);
    if (!w) return ML_NOMEM();
    w->timeout_ns = timeout_ns;
    w->period_ns = timeout_ns / CHECKS_PER_TIMEOUT;
    if (w->period_ns < MIN_PERIOD_NS) w->period_ns = MIN_PERIOD_NS;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return ML_FAIL(ML_EIO, "cannot start the request-deadline thread");
    }
    *out = w;
    return ML_OK;
}

ml__watch_slot *ml__watchdog_add(ml__watchdog *w, int fd) {
    ml__watch_slot *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = fd;
    atomic_store(&s->deadline_ns, ml__now_ns() + w->timeout_ns);
    pthread_mutex_lock(&w->lock);
    s->next = w->head;
    if (w->head) w->head->prev = s;
    w->head = s;
    pthread_mutex_unlock(&w->lock);
    return s;
}

void ml__watchdog_remove(ml__watchdog *w, ml__watch_slot *s) {
    if (!s) return;
    pthread_mutex_lock(&w->lock);
    if (s->prev) s->prev->next = s->next;
    else w->head = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&w->lock);
    free(s);
}

void ml__watch_arm(ml__watchdog *w, ml__watch_slot *s) {
    if (s) atomic_store_explicit(&s->deadline_ns, ml__now_ns() + w->timeout_ns,
                                 memory_order_relaxed);
}

void ml__watch_disarm(ml__watch_slot *s) {
    if (s) atomic_store_explicit(&s->deadline_ns, 0, memory_order_relaxed);
}

uint64_t ml__watchdog_cut_count(ml__watchdog *w) { return w ? atomic_load(&w->n_cut) : 0; }

void ml__watchdog_stop(ml__watchdog *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (ml__watch_slot *s = w->head, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
