/* server_internal.h - the server object shared by server.c (life cycle, model swap) and
 * handler.c (one HTTP request: route, auth, limits, body, response, access log). */
#ifndef ML_SERVE_SERVER_INTERNAL_H
#define ML_SERVE_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "microlens/serve.h"
#include "serve/accesslog.h"
#include "serve/ratelimit.h"
#include "serve/watchdog.h"

struct ml_server {
    ml_server_options opts;  /* the caller's options with defaults filled in; strings borrowed */
    struct MHD_Daemon *daemon;
    uint16_t port;
    ml_tokens *tokens;
    ml__ratelimit *rate;     /* NULL: no rate limit */
    ml__accesslog log;
    ml__watchdog *watchdog;
    char *tls_cert, *tls_key; /* PEM text handed to the TLS library; the key wiped on free */
    size_t tls_key_len;

    pthread_mutex_t model_lock; /* guards the pointer only; requests hold a reference */
    ml_serve_model *model;
    pthread_mutex_t reload_lock; /* one reload at a time */

    atomic_bool draining;        /* stop requested: no keep-alive, /healthz says so */
    atomic_uint_fast64_t in_flight; /* requests begun (request line seen), not yet completed */
    atomic_uint_fast64_t n_requests, n_4xx, n_5xx, n_429, n_log_failures;
};

/* Returns a reference to the current model (release with ml_serve_model_release). */
ml_serve_model *ml__server_model_acquire(ml_server *s);

/* MHD callbacks (handler.c); cls is the ml_server. */
void *ml__req_begin(void *cls, const char *uri, struct MHD_Connection *c);
enum MHD_Result ml__req_access(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls);
void ml__req_done(void *cls, struct MHD_Connection *c, void **con_cls,
                  enum MHD_RequestTerminationCode toe);
void ml__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);

#endif
