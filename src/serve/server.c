/* server.c - the HTTPS server's life cycle: checks the options, loads tokens, TLS files and
 * the model, starts libmicrohttpd (TLS via GnuTLS, a pool of worker threads on epoll), swaps
 * models on reload, reopens the access log, and drains on stop. What one request does is
 * handler.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve/server_internal.h"
#include "util/error.h"

/* A PEM certificate chain or key larger than this is refused unread. */
#define TLS_FILE_MAX_BYTES (1u << 20)
/* The HTTP library keeps request line, headers and the read buffer in one pool per
 * connection; this much beyond max_header_bytes leaves room for buffers, so that heads up to
 * the limit reach our own check (and its JSON 431). Not more: the library zeroes the whole
 * pool after every request (32 KiB of memset was 5% of a small request's CPU). */
#define MHD_POOL_SLACK_BYTES (8u * 1024u)
/* TLS 1.2 and 1.3 only, GnuTLS's default ("NORMAL") cipher suites otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* How often a draining stop looks at the count of requests in flight. */
#define DRAIN_POLL_NS 10000000L
/* Diagnostic lines from the HTTP library are cut at this length. */
#define DIAG_MAX_BYTES 512

/* ---- options -------------------------------------------------------------------------------- */

static ml_status fill_defaults(ml_server_options *o) {
    if (!o->listen) o->listen = ML_SERVER_LISTEN_DEFAULT;
    if (!o->threads) o->threads = ML_SERVER_THREADS_DEFAULT;
    if (!o->max_body_bytes) o->max_body_bytes = ML_SERVER_MAX_BODY_DEFAULT;
    if (!o->max_header_bytes) o->max_header_bytes = ML_SERVER_MAX_HEADER_DEFAULT;
    if (!o->idle_timeout_s) o->idle_timeout_s = ML_SERVER_IDLE_TIMEOUT_DEFAULT;
    if (!o->request_timeout_s) o->request_timeout_s = ML_SERVER_REQUEST_TIMEOUT_DEFAULT;
    if (!o->max_connections) o->max_connections = ML_SERVER_MAX_CONNECTIONS_DEFAULT;
    if (!o->drain_timeout_s) o->drain_timeout_s = ML_SERVER_DRAIN_TIMEOUT_DEFAULT;
    if (!o->tokens_path) return ML_FAIL(ML_EINVAL, "server: a tokens file is required");
    if (!o->model_path) return ML_FAIL(ML_EINVAL, "server: a model folder is required");
    if (!o->model.id_key) return ML_FAIL(ML_EINVAL, "server: a pseudonym key is required");
    if (o->rate_per_s < 0.0 || o->burst < 0.0)
        return ML_FAIL(ML_EINVAL, "server: rate and burst must not be negative");
    if (o->insecure_plaintext_loopback && (o->tls_cert_path || o->tls_key_path))
        return ML_FAIL(ML_EINVAL, "server: TLS files and plaintext were both asked for: give "
                       "one or the other");
    if (!o->insecure_plaintext_loopback && (!o->tls_cert_path || !o->tls_key_path))
        return ML_FAIL(ML_EINVAL, "server: refusing to serve without TLS: give a certificate "
                       "and a private key (plaintext exists only for tests, on loopback)");
    return ML_OK;
}

/* "HOST:PORT" or "[V6]:PORT" with a numeric host. */
static ml_status parse_listen(const char *listen, struct sockaddr_storage *ss, bool *is_v6,
                              bool *is_loopback) {
    char host[64];
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof host || !end || *end || end == colon + 1 ||
        port > 65535)
        return ML_FAIL(ML_EINVAL, "listen address \"%s\": expected HOST:PORT with a numeric "
                       "host, e.g. 127.0.0.1:8443 or [::1]:8443", listen);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *is_v6 = false;
        *is_loopback = ntohl(v4->sin_addr.s_addr) == INADDR_LOOPBACK;
        return ML_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *is_v6 = true;
        *is_loopback = memcmp(&v6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0;
        return ML_OK;
    }
    return ML_FAIL(ML_EINVAL, "listen address \"%s\": host is not a numeric IPv4 or IPv6 "
                   "address", listen);
}

/* Reads a PEM file; with is_secret, refuses one that group or others may read. */
static ml_status read_pem(const char *path, const char *what, bool is_secret, char **out,
                          size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "TLS %s %s: %s", what, path,
                       strerror(errno));
    struct stat sb;
    ml_status st = ML_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = ML_FAIL(ML_EINVAL, "TLS %s %s is not a regular file", what, path);
    else if (is_secret && (sb.st_mode & 077) != 0)
        st = ML_FAIL(ML_EPERM, "TLS %s %s has mode %04o: expected 0600 or stricter (chmod 600 "
                     "%s)", what, path, (unsigned)(sb.st_mode & 07777), path);
    else if ((uint64_t)sb.st_size > TLS_FILE_MAX_BYTES)
        st = ML_FAIL(ML_EFORMAT, "TLS %s %s is over %u bytes", what, path, TLS_FILE_MAX_BYTES);
    size_t cap = st == ML_OK ? (size_t)sb.st_size + 1 : 0, n = 0;
    char *buf = st == ML_OK ? malloc(cap) : NULL;
    if (st == ML_OK && !buf) st = ML_NOMEM();
    while (st == ML_OK && n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = ML_FAIL(ML_EIO, "cannot read TLS %s %s: %s", what, path, strerror(errno));
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (st == ML_OK && (n == 0 || !strstr(buf, "-----BEGIN ")))
        st = ML_FAIL(ML_EFORMAT, "TLS %s %s is not PEM (no -----BEGIN line)", what, path);
    if (st != ML_OK) {
        if (buf) OPENSSL_cleanse(buf, n);
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ML_OK;
}

/* ---- MHD glue ------------------------------------------------------------------------------- */

static void diag_logger(void *cls, const char *fmt, va_list ap) {
    ml_server *s = cls;
    if (!s->opts.diag) return;
    char msg[DIAG_MAX_BYTES];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* libmicrohttpd 0.9.75 says this whenever a logger is given with MHD_OPTION_ARRAY around
     * (ours is first); it is noise. */
    if (strncmp(msg, "MHD_OPTION_EXTERNAL_LOGGER is not the first", 43) == 0) return;
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f) msg[i] = '?';
    s->opts.diag(s->opts.diag_cls, msg);
}

static ml_status start_daemon(ml_server *s, const struct sockaddr_storage *ss, bool is_v6) {
    const ml_server_options *o = &s->opts;
    bool tls = !o->insecure_plaintext_loopback;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return ML_FAIL(ML_EUNSUPPORTED, "this libmicrohttpd was built without TLS support");
    /* Internal threads on epoll; ITC so that a stop can quiesce the listener first. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     (tls ? MHD_USE_TLS : 0) | (is_v6 ? MHD_USE_IPv6 : 0) |
                     (o->diag ? MHD_USE_ERROR_LOG : 0);
    struct MHD_OptionItem items[16];
    size_t k = 0;
    items[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)(uintptr_t)ss};
    items[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->max_connections, NULL};
    items[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s, NULL};
    items[k++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(o->max_header_bytes + MHD_POOL_SLACK_BYTES),
        NULL};
    if (o->max_connections_per_ip)
        items[k++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                             o->max_connections_per_ip, NULL};
    if (o->threads > 1)
        items[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL};
    if (tls) {
        items[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        items[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        items[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                             (void *)(uintptr_t)TLS_PRIORITIES};
    }
    items[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    uint16_t port = ntohs(is_v6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                : ((const struct sockaddr_in *)ss)->sin_port);
    /* The logger goes first, so that messages about the other options reach it. */
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL, ml__req_access, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, diag_logger, s, MHD_OPTION_ARRAY,
                                 items, MHD_OPTION_URI_LOG_CALLBACK, ml__req_begin, s,
                                 MHD_OPTION_NOTIFY_COMPLETED, ml__req_done, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, ml__conn_notify, s,
                                 MHD_OPTION_END);
    if (!s->daemon)
        return ML_FAIL(ML_EIO, "cannot listen on %s (address in use, not local, or the TLS "
                       "certificate and key do not match)", o->listen);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    return ML_OK;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

static void server_free(ml_server *s) {
    if (!s) return;
    ml__watchdog_stop(s->watchdog);
    ml_serve_model_release(s->model);
    ml_tokens_free(s->tokens);
    ml__ratelimit_free(s->rate);
    if (s->tls_key) OPENSSL_cleanse(s->tls_key, s->tls_key_len);
    free(s->tls_key);
    free(s->tls_cert);
    pthread_mutex_destroy(&s->model_lock);
    pthread_mutex_destroy(&s->reload_lock);
    free(s);
}

static ml_status load_all(ml_server *s) {
    const ml_server_options *o = &s->opts;
    if (!o->insecure_plaintext_loopback) {
        size_t n = 0;
        ML_TRY(read_pem(o->tls_cert_path, "certificate", false, &s->tls_cert, &n));
        ML_TRY(read_pem(o->tls_key_path, "private key", true, &s->tls_key, &s->tls_key_len));
    }
    ML_TRY(ml_tokens_load(&s->tokens, o->tokens_path));
    if (o->rate_per_s > 0.0)
        ML_TRY(ml__ratelimit_new(&s->rate, ml_tokens_count(s->tokens), o->rate_per_s, o->burst));
    ML_TRY(ml_serve_model_load(&s->model, o->model_path, &o->model));
    return ml__watchdog_start(&s->watchdog, (uint64_t)o->request_timeout_s * 1000000000ull);
}

ml_status ml_server_start(ml_server **out, const ml_server_options *opts) {
    if (!out || !opts || opts->version != ML_SERVER_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "ml_server_start: NULL argument or unknown options version");
    ml_server_options o = *opts;
    ML_TRY(fill_defaults(&o));
    struct sockaddr_storage ss;
    bool is_v6 = false, is_loopback = false;
    ML_TRY(parse_listen(o.listen, &ss, &is_v6, &is_loopback));
    if (o.insecure_plaintext_loopback && !is_loopback)
        return ML_FAIL(ML_EINVAL, "plaintext is allowed on loopback only (127.0.0.1 or [::1]), "
                       "not on %s", o.listen);
    ml_server *s = calloc(1, sizeof *s);
    if (!s) return ML_NOMEM();
    s->opts = o;
    pthread_mutex_init(&s->model_lock, NULL);
    pthread_mutex_init(&s->reload_lock, NULL);
    ml_status st = load_all(s);
    if (st == ML_OK) {
        st = ml__accesslog_open(&s->log, o.access_log_path);
        if (st == ML_OK) {
            st = start_daemon(s, &ss, is_v6);
            if (st != ML_OK) ml__accesslog_close(&s->log);
        }
    }
    if (st != ML_OK) {
        server_free(s);
        return st;
    }
    *out = s;
    return ML_OK;
}

uint16_t ml_server_port(const ml_server *s) { return s ? s->port : 0; }

ml_serve_model *ml__server_model_acquire(ml_server *s) {
    pthread_mutex_lock(&s->model_lock);
    ml_serve_model *m = ml_serve_model_retain(s->model);
    pthread_mutex_unlock(&s->model_lock);
    return m;
}

void ml_server_model_sha256(ml_server *s, char dst[ML_SERVE_SHA256_SIZE]) {
    ml_serve_model *m = ml__server_model_acquire(s);
    snprintf(dst, ML_SERVE_SHA256_SIZE, "%s", m ? ml_serve_model_sha256(m) : "");
    ml_serve_model_release(m);
}

ml_status ml_server_reload(ml_server *s) {
    if (!s) return ML_FAIL(ML_EINVAL, "ml_server_reload: NULL server");
    pthread_mutex_lock(&s->reload_lock);
    ml_serve_model *fresh = NULL;
    /* Verified and loaded outside the model lock: requests keep flowing meanwhile. */
    ml_status st = ml_serve_model_load(&fresh, s->opts.model_path, &s->opts.model);
    if (st == ML_OK) {
        pthread_mutex_lock(&s->model_lock);
        ml_serve_model *old = s->model;
        s->model = fresh;
        pthread_mutex_unlock(&s->model_lock);
        /* Requests still running hold their own references to old. */
        ml_serve_model_release(old);
    }
    pthread_mutex_unlock(&s->reload_lock);
    return st;
}

ml_status ml_server_reopen_log(ml_server *s) {
    if (!s) return ML_FAIL(ML_EINVAL, "ml_server_reopen_log: NULL server");
    return ml__accesslog_reopen(&s->log);
}

void ml_server_get_stats(ml_server *s, ml_server_stats *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->requests = atomic_load(&s->n_requests);
    out->responses_4xx = atomic_load(&s->n_4xx);
    out->responses_5xx = atomic_load(&s->n_5xx);
    out->rate_limited = atomic_load(&s->n_429);
    out->cut_off = ml__watchdog_cut_count(s->watchdog);
    out->log_write_failures = atomic_load(&s->n_log_failures);
}

/* Waits until no request is in flight, or the drain timeout passes. */
static void drain(ml_server *s) {
    uint64_t deadline = ml__now_ns() + (uint64_t)s->opts.drain_timeout_s * 1000000000ull;
    while (atomic_load(&s->in_flight) > 0 && ml__now_ns() < deadline) {
        struct timespec nap = {0, DRAIN_POLL_NS};
        nanosleep(&nap, NULL);
    }
}

void ml_server_stop(ml_server *s) {
    if (!s) return;
    atomic_store(&s->draining, true);
    /* Stop accepting first (the listening socket is ours to close after quiesce), then let
     * requests in flight finish, then close what is left (idle keep-alive connections). */
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    drain(s);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    ml__accesslog_close(&s->log);
    server_free(s);
}
