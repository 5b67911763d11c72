/* handler.c - one HTTP request, from request line to access-log line: routing, bearer-token
 * check, role, rate limit, size limits, body collection, the route's work and a JSON
 * response for every outcome. Sockets, TLS and threads are the HTTP library's (server.c sets
 * it up); prediction is ml_serve_predict's. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "serve/server_internal.h"
#include "util/error.h"
#include "util/text.h"

/* Bearer tokens longer than this are refused before hashing (ours are 47 bytes). */
#define BEARER_MAX_BYTES 256
/* Per-header framing counted against max_header_bytes: ": " and CRLF. */
#define HEADER_LINE_OVERHEAD 4
/* A library error message (1024 bytes at most) plus our words around it. */
#define ERROR_REASON_BYTES 1200

typedef enum route_kind { ROUTE_HEALTH, ROUTE_PREDICT, ROUTE_MODEL, ROUTE_RELOAD } route_kind;

typedef struct route {
    const char *path;
    route_kind kind;
    const char *allow;  /* methods, as sent in Allow */
    bool needs_token;
    ml_token_role role; /* least role, when needs_token */
} route;

static const route routes[] = {
    {"/healthz", ROUTE_HEALTH, "GET, HEAD", false, ML_TOKEN_ROLE_PREDICT},
    {"/v1/predict", ROUTE_PREDICT, "POST", true, ML_TOKEN_ROLE_PREDICT},
    {"/v1/model", ROUTE_MODEL, "GET, HEAD", true, ML_TOKEN_ROLE_ADMIN},
    {"/v1/reload", ROUTE_RELOAD, "POST", true, ML_TOKEN_ROLE_ADMIN},
};

typedef struct request {
    ml_server *s;
    ml__watch_slot *slot;
    struct timespec wall; /* request line arrived (CLOCK_REALTIME), for the log */
    uint64_t t0_ns;
    const route *route;   /* NULL: unknown path */
    const char *method;
    bool started;         /* the first access-handler call (head complete) was made */
    int status;           /* queued response's status; 0: none yet */
    const char *terminated;
    bool has_token;
    size_t token;         /* index in s->tokens when has_token */
    char *body;
    size_t body_len, body_cap;
    bool has_outcome;
    ml_serve_outcome outcome;
} request;

/* ---- responses ------------------------------------------------------------------------------ */

static enum MHD_Result respond(request *r, struct MHD_Connection *c, int status,
                               const char *body, size_t len, const char *const *extra) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    bool ok = MHD_add_response_header(resp, "Content-Type", "application/json") == MHD_YES &&
              MHD_add_response_header(resp, "Cache-Control", "no-store") == MHD_YES &&
              MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
    /* While draining, no connection is kept alive for a next request. */
    if (ok && atomic_load(&r->s->draining))
        ok = MHD_add_response_header(resp, "Connection", "close") == MHD_YES;
    for (size_t i = 0; ok && extra && extra[i]; i += 2)
        ok = MHD_add_response_header(resp, extra[i], extra[i + 1]) == MHD_YES;
    enum MHD_Result q = ok ? MHD_queue_response(c, (unsigned)status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    if (q == MHD_YES) r->status = status;
    return q;
}

/* {"error":{"status":N,"reason":"..."}}: the same shape as ml_serve_predict's refusals. */
static enum MHD_Result respond_error(request *r, struct MHD_Connection *c, int status,
                                     const char *reason, const char *const *extra) {
    json_t *o = json_pack("{s:{s:i, s:s}}", "error", "status", status, "reason", reason);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    /* Without memory for JSON, still answer with a fixed JSON body. */
    static const char fallback[] = "{\"error\":{\"status\":500,\"reason\":\"out of memory\"}}";
    enum MHD_Result q = s ? respond(r, c, status, s, strlen(s), extra)
                          : respond(r, c, 500, fallback, sizeof fallback - 1, NULL);
    free(s);
    return q;
}

static enum MHD_Result respond_json(request *r, struct MHD_Connection *c, int status,
                                    json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) return respond_error(r, c, 500, "out of memory", NULL);
    enum MHD_Result q = respond(r, c, status, s, strlen(s), NULL);
    free(s);
    return q;
}

/* ---- checks on the request head ------------------------------------------------------------- */

static const route *find_route(const char *url) {
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strcmp(url, routes[i].path) == 0) return &routes[i];
    return NULL;
}

/* A static copy of the method word for the log (MHD's string lives in its request memory). */
static const char *method_word(const char *m) {
    static const char *const words[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                        "PATCH"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(m, words[i]) == 0) return words[i];
    return "OTHER";
}

static bool method_allowed(const route *rt, const char *method) {
    if (strcmp(rt->allow, "POST") == 0) return strcmp(method, "POST") == 0;
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
    (void)kind;
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + HEADER_LINE_OVERHEAD;
    return MHD_YES;
}

static size_t head_bytes(struct MHD_Connection *c, const char *url, const char *method,
                         const char *version) {
    size_t total = strlen(url) + strlen(method) + strlen(version) + HEADER_LINE_OVERHEAD;
    MHD_get_connection_values(c, MHD_HEADER_KIND, sum_header, &total);
    return total;
}

/* "Bearer <token>" (scheme case-insensitive, RFC 6750); false if absent or another scheme. */
static bool bearer_token(const char *h, const char **tok, size_t *len) {
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    if (n == 0 || n > BEARER_MAX_BYTES) return false;
    *tok = h;
    *len = n;
    return true;
}

static enum MHD_Result check_token(request *r, struct MHD_Connection *c, bool *refused) {
    static const char *const challenge[] = {"WWW-Authenticate", "Bearer realm=\"microlens\"",
                                            NULL};
    static const char *const invalid[] = {
        "WWW-Authenticate", "Bearer realm=\"microlens\", error=\"invalid_token\"", NULL};
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *tok = NULL;
    size_t len = 0;
    *refused = true;
    if (!bearer_token(h, &tok, &len))
        return respond_error(r, c, 401, "missing bearer token: send Authorization: Bearer "
                             "<token>", challenge);
    size_t idx = 0;
    if (!ml_tokens_find(r->s->tokens, tok, len, &idx))
        return respond_error(r, c, 401, "unknown token", invalid);
    r->has_token = true;
    r->token = idx;
    if (r->route->role == ML_TOKEN_ROLE_ADMIN &&
        ml_tokens_role(r->s->tokens, idx) != ML_TOKEN_ROLE_ADMIN)
        return respond_error(r, c, 403, "this token's role (predict) may not call this route: "
                             "it needs role admin", NULL);
    *refused = false;
    return MHD_YES;
}

static enum MHD_Result check_rate(request *r, struct MHD_Connection *c, bool *refused) {
    unsigned retry = 0;
    *refused = false;
    if (!r->s->rate || ml__ratelimit_take(r->s->rate, r->token, ml__now_ns(), &retry))
        return MHD_YES;
    *refused = true;
    atomic_fetch_add(&r->s->n_429, 1);
    char secs[16];
    snprintf(secs, sizeof secs, "%u", retry);
    const char *const extra[] = {"Retry-After", secs, NULL};
    char reason[128];
    snprintf(reason, sizeof reason, "rate limit of this token exceeded: retry after %u s", retry);
    return respond_error(r, c, 429, reason, extra);
}

/* Body limits known from the head: a declared size over the cap, or a type that is not JSON. */
static enum MHD_Result check_body_head(request *r, struct MHD_Connection *c, bool *refused) {
    *refused = true;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0)
        return respond_error(r, c, 415, "Content-Type must be application/json", NULL);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > r->s->opts.max_body_bytes) {
            char reason[128];
            snprintf(reason, sizeof reason, "body of %llu bytes exceeds the limit of %zu bytes",
                     n, r->s->opts.max_body_bytes);
            return respond_error(r, c, 413, reason, NULL);
        }
    }
    *refused = false;
    return MHD_YES;
}

/* First call, with the whole head: every refusal that needs no body happens here, so that an
 * unauthenticated or oversized request is answered before a byte of its body is read. */
static enum MHD_Result on_head(request *r, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version) {
    r->route = find_route(url);
    if (!r->route) return respond_error(r, c, 404, "no such route", NULL);
    if (!method_allowed(r->route, method)) {
        const char *const extra[] = {"Allow", r->route->allow, NULL};
        return respond_error(r, c, 405, "method not allowed on this route", extra);
    }
    if (head_bytes(c, url, method, version) > r->s->opts.max_header_bytes)
        return respond_error(r, c, 431, "request line and headers exceed the size limit",
                             NULL);
    bool refused = false;
    enum MHD_Result q = MHD_YES;
    if (r->route->needs_token) {
        q = check_token(r, c, &refused);
        if (refused) return q;
        q = check_rate(r, c, &refused);
        if (refused) return q;
    }
    if (strcmp(method, "POST") == 0) return check_body_head(r, c, &refused);
    return q;
}

/* ---- the routes ----------------------------------------------------------------------------- */

static enum MHD_Result do_health(request *r, struct MHD_Connection *c) {
    bool draining = atomic_load(&r->s->draining);
    return respond_json(r, c, draining ? 503 : 200,
                        json_pack("{s:s}", "status", draining ? "draining" : "ok"));
}

static enum MHD_Result do_predict(request *r, struct MHD_Connection *c) {
    ml_serve_model *m = ml__server_model_acquire(r->s);
    ml_status st = ml_serve_predict(m, r->body ? r->body : "", r->body_len, &r->outcome);
    ml_serve_model_release(m);
    if (st != ML_OK) return respond_error(r, c, 500, "out of memory while predicting", NULL);
    r->has_outcome = true;
    return respond(r, c, r->outcome.http_status, r->outcome.body, r->outcome.body_len, NULL);
}

static enum MHD_Result do_model(request *r, struct MHD_Connection *c) {
    ml_serve_model *m = ml__server_model_acquire(r->s);
    char *json = NULL;
    ml_status st = ml_serve_model_info_json(m, &json);
    ml_serve_model_release(m);
    if (st != ML_OK) return respond_error(r, c, 500, "cannot describe the model", NULL);
    enum MHD_Result q = respond(r, c, 200, json, strlen(json), NULL);
    free(json);
    return q;
}

static enum MHD_Result do_reload(request *r, struct MHD_Connection *c) {
    char before[ML_SERVE_SHA256_SIZE], after[ML_SERVE_SHA256_SIZE];
    ml_server_model_sha256(r->s, before);
    ml_status st = ml_server_reload(r->s);
    if (st != ML_OK) {
        /* Only admins get here; the message names the file that failed to verify. */
        char reason[ERROR_REASON_BYTES];
        snprintf(reason, sizeof reason, "reload refused, the previous model keeps serving: %s: %s",
                 ml_status_name(st), ml_error_last()->message);
        int status = st == ML_ENOMEM || st == ML_EIO ? 500 : 409;
        return respond_error(r, c, status, reason, NULL);
    }
    ml_server_model_sha256(r->s, after);
    return respond_json(r, c, 200,
                        json_pack("{s:b, s:{s:s, s:s}}", "reloaded", 1, "model", "sha256", after,
                                  "previous_sha256", before));
}

/* ---- MHD callbacks -------------------------------------------------------------------------- */

void *ml__req_begin(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)uri; /* the URL as sent may carry anything: it is never logged */
    ml_server *s = cls;
    request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->s = s;
    clock_gettime(CLOCK_REALTIME, &r->wall);
    r->t0_ns = ml__now_ns();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->slot = ci ? ci->socket_context : NULL;
    atomic_fetch_add(&s->in_flight, 1);
    return r;
}

static bool append_body(request *r, const char *data, size_t n) {
    size_t max = r->s->opts.max_body_bytes;
    if (n > max || r->body_len > max - n) return false;
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n) cap *= 2;
        if (cap > max) cap = max;
        char *p = realloc(r->body, cap);
        if (!p) return false;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return true;
}

static enum MHD_Result on_complete(request *r, struct MHD_Connection *c) {
    ml__watch_disarm(r->slot);
    switch (r->route->kind) {
    case ROUTE_HEALTH: return do_health(r, c);
    case ROUTE_PREDICT: return do_predict(r, c);
    case ROUTE_MODEL: return do_model(r, c);
    case ROUTE_RELOAD: return do_reload(r, c);
    }
    return respond_error(r, c, 500, "unknown route kind", NULL);
}

enum MHD_Result ml__req_access(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    request *r = *con_cls;
    if (!r) {
        r = ml__req_begin(cls, url, c); /* the request-line callback could not allocate */
        if (!r) return MHD_NO;
        *con_cls = r;
    }
    if (!r->started) {
        r->started = true;
        r->method = method_word(method);
        return on_head(r, c, url, method, version);
    }
    if (r->status != 0) { /* answered from the head: MHD discards the body and closes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->route->kind == ROUTE_PREDICT && !append_body(r, upload, *upload_size)) {
            /* A chunked body (no Content-Length) that grew past the cap, or no memory: the
             * response can no longer be queued mid-body, so the connection is closed. */
            r->status = 413;
            r->terminated = "error";
            return MHD_NO;
        }
        *upload_size = 0; /* consumed (other routes ignore a body) */
        return MHD_YES;
    }
    return on_complete(r, c);
}

static const char *termination_word(enum MHD_RequestTerminationCode toe) {
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return NULL;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "error";
    }
    return "error";
}

static void log_request(request *r, enum MHD_RequestTerminationCode toe) {
    ml_server *s = r->s;
    ml__access_entry e = {0};
    e.time = r->wall;
    e.token_name = r->has_token ? ml_tokens_name(s->tokens, r->token) : NULL;
    e.method = r->method;
    e.route = r->route ? r->route->path : NULL;
    e.status = r->status;
    e.latency_ms = (double)(ml__now_ns() - r->t0_ns) * 1e-6;
    if (r->has_outcome) {
        e.n_samples = r->outcome.n_samples;
        e.pseudonyms = r->outcome.pseudonyms;
        e.n_pseudonyms = r->outcome.pseudonyms ? r->outcome.n_samples : 0;
    }
    e.terminated = r->terminated ? r->terminated : termination_word(toe);
    if (ml__accesslog_write(&s->log, &e) != ML_OK) atomic_fetch_add(&s->n_log_failures, 1);
}

void ml__req_done(void *cls, struct MHD_Connection *c, void **con_cls,
                  enum MHD_RequestTerminationCode toe) {
    (void)c;
    ml_server *s = cls;
    request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    log_request(r, toe);
    atomic_fetch_add(&s->n_requests, 1);
    if (r->status >= 400 && r->status < 500) atomic_fetch_add(&s->n_4xx, 1);
    if (r->status >= 500) atomic_fetch_add(&s->n_5xx, 1);
    /* The connection now waits for its next request, under a fresh deadline. */
    ml__watch_arm(s->watchdog, r->slot);
    if (r->has_outcome) ml_serve_outcome_clear(&r->outcome);
    free(r->body);
    free(r);
    atomic_fetch_sub(&s->in_flight, 1);
}

void ml__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe) {
    ml_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? ml__watchdog_add(s->watchdog, ci->connect_fd) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        ml__watchdog_remove(s->watchdog, *socket_context);
        *socket_context = NULL;
    }
}
