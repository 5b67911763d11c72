/* cmd_serve.c - `microlens serve`: flags -> ml_server_start, then waits for signals: SIGHUP
 * reopens the access log, SIGTERM or SIGINT drains and exits 0. Everything else (TLS, tokens,
 * limits, the model) is the library's, include/microlens/serve.h. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "idkey.h"
#include "microlens/serve.h"

/* Timeouts above a day are surely a typo (and would overflow nothing, but help nobody). */
#define MAX_TIMEOUT_S 86400
/* More worker threads than this is a typo on any machine we target. */
#define MAX_THREADS 256

typedef struct serve_flags {
    const char *model, *cert, *key, *tokens, *listen, *rate, *access_log, *pubkey, *vectors;
    const char *base_weights;
    size_t threads, max_body, max_header, max_samples, idle_timeout, request_timeout;
    size_t max_connections, max_per_ip, burst, drain_timeout;
    bool plaintext, require_signature, quiet;
    cli_idkey_flags key_flags;
} serve_flags;

static const char *const serve_examples[] = {
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 "
    "-subj /CN=localhost -keyout key.pem -out cert.pem && chmod 600 key.pem",
    "microlens token new --name lab --role predict --tokens tokens > lab.token",
    "microlens serve --model out/demo/ecam-logreg --tls-cert cert.pem --tls-key key.pem "
    "--tokens tokens --access-log access.log",
    "printf 'Authorization: Bearer %s' \"$(head -1 lab.token)\" > lab.auth && curl --cacert "
    "cert.pem -H @lab.auth -H 'Content-Type: application/json' -d @samples.json "
    "https://localhost:8443/v1/predict",
    NULL};

static const cli_command serve_cmd = {
    "serve", "--model DIR --tls-cert CERT --tls-key KEY --tokens FILE [options]",
    "Serves predictions over HTTPS: POST /v1/predict (role predict), GET /v1/model and\n"
    "POST /v1/reload (role admin), GET /healthz (no token).",
    "DIR: an `evaluate --save-model` bundle or a `train` checkpoint; its MANIFEST is verified\n"
    "before anything is read (a checkpoint that does not verify exits 4), and with\n"
    "--require-signature (or MICROLENS_REQUIRE_SIGNATURE=1) its signature must check against\n"
    "--pubkey. POST /v1/reload loads DIR again the same way and swaps it in only if it\n"
    "verifies; requests in flight finish on the old model.\n"
    "A LoRA checkpoint (train --lora) needs --base-weights FILE: the weights it was trained\n"
    "over (train --init), same file name as recorded, with a MANIFEST beside it listing it.\n"
    "TLS is required (TLS 1.2/1.3; KEY mode 0600). --insecure-plaintext-loopback serves plain\n"
    "HTTP on 127.0.0.1 only, for tests. FILE (mode 0600) holds NAME:ROLE:SHA256 lines from\n"
    "`microlens token new`; clients send Authorization: Bearer <token>.\n"
    "Limits: --max-body (413), --max-header (431), --max-samples (413), --idle-timeout (no\n"
    "byte for that long: closed), --request-timeout (a whole request must arrive in time:\n"
    "slow clients are cut off), --max-connections, --rate per token (429 + Retry-After).\n"
    "Every error is a JSON body {\"error\":{\"status\":N,\"reason\":\"...\"}}.\n"
    "--access-log: one JSON line per request (time, token name, route, status, latency,\n"
    "sample pseudonyms; never a token or a payload value). SIGHUP reopens it (after\n"
    "logrotate); SIGTERM or SIGINT stops accepting, lets requests in flight finish (up to\n"
    "--drain-timeout) and exits 0. Port 0 picks a free port; the address is printed on stderr.\n"
    "Protocol and formats: docs/serve.md and docs/serve-model.md.",
    serve_examples, 0};

static int to_unsigned(size_t v, size_t max, const char *flag, unsigned *out) {
    if (v > max) return cli_usage_error("%s must be at most %zu", flag, max);
    *out = (unsigned)v;
    return EXIT_OK;
}

/* "R" or "R/s": requests per second, > 0. */
static int parse_rate(const char *s, double *out) {
    char *end = NULL;
    double r = strtod(s, &end);
    if (end == s || !(r > 0.0) || r > 1e9 || (*end && strcmp(end, "/s") != 0))
        return cli_usage_error("--rate must be a positive number of requests per second, "
                               "e.g. 50 or 50/s");
    *out = r;
    return EXIT_OK;
}

static int fill_options(const serve_flags *f, ml_server_options *o) {
    if (!f->model || !f->tokens) return cli_usage_error("serve needs --model DIR and --tokens FILE");
    if (!f->plaintext && (!f->cert || !f->key))
        return cli_usage_error("refusing to serve without TLS: give --tls-cert CERT and "
                               "--tls-key KEY (plain HTTP exists only as "
                               "--insecure-plaintext-loopback, for tests)");
    if (f->plaintext && (f->cert || f->key))
        return cli_usage_error("--insecure-plaintext-loopback and --tls-cert/--tls-key "
                               "exclude each other");
    if (f->threads == 0 || f->max_samples == 0)
        return cli_usage_error("--threads and --max-samples must be at least 1");
    int rc = EXIT_OK;
    if ((rc = to_unsigned(f->threads, MAX_THREADS, "--threads", &o->threads)) ||
        (rc = to_unsigned(f->idle_timeout, MAX_TIMEOUT_S, "--idle-timeout", &o->idle_timeout_s)) ||
        (rc = to_unsigned(f->request_timeout, MAX_TIMEOUT_S, "--request-timeout",
                          &o->request_timeout_s)) ||
        (rc = to_unsigned(f->drain_timeout, MAX_TIMEOUT_S, "--drain-timeout",
                          &o->drain_timeout_s)) ||
        (rc = to_unsigned(f->max_connections, 1u << 20, "--max-connections",
                          &o->max_connections)) ||
        (rc = to_unsigned(f->max_per_ip, 1u << 20, "--max-connections-per-ip",
                          &o->max_connections_per_ip)))
        return rc;
    if (f->idle_timeout == 0 || f->request_timeout == 0 || f->drain_timeout == 0 ||
        f->max_connections == 0 || f->max_body == 0 || f->max_header == 0)
        return cli_usage_error("timeouts, --max-connections, --max-body and --max-header must "
                               "be at least 1");
    if (f->rate && (rc = parse_rate(f->rate, &o->rate_per_s)) != EXIT_OK) return rc;
    if (f->burst && !f->rate) return cli_usage_error("--burst needs --rate");
    o->burst = (double)f->burst;
    o->listen = f->listen;
    o->tls_cert_path = f->cert;
    o->tls_key_path = f->key;
    o->insecure_plaintext_loopback = f->plaintext;
    o->tokens_path = f->tokens;
    o->model_path = f->model;
    o->max_body_bytes = f->max_body;
    o->max_header_bytes = f->max_header;
    o->access_log_path = f->access_log;
    o->model.max_samples = f->max_samples;
    o->model.otu_vectors = f->vectors;
    o->model.base_weights = f->base_weights;
    o->model.verify.pubkey_path = f->pubkey;
    o->model.verify.require_signature =
        f->require_signature || cli_env_flag("MICROLENS_REQUIRE_SIGNATURE");
    return EXIT_OK;
}

static void print_diag(void *cls, const char *message) {
    (void)cls;
    fprintf(stderr, "microlens: http: %s\n", message);
}

static void announce(const serve_flags *f, ml_server *s, const ml_server_options *o) {
    char sha[ML_SERVE_SHA256_SIZE];
    ml_server_model_sha256(s, sha);
    const char *listen = o->listen ? o->listen : ML_SERVER_LISTEN_DEFAULT;
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    fprintf(stderr, "microlens: serving %s (%s)\n", f->model, sha);
    fprintf(stderr, "microlens: listening on %s://%.*s:%u (threads %u, rate limit %s)\n",
            f->plaintext ? "http" : "https", host_len, listen, (unsigned)ml_server_port(s),
            o->threads, f->rate ? f->rate : "off");
    if (f->plaintext)
        fprintf(stderr, "microlens: WARNING: PLAINTEXT HTTP WITHOUT TLS on loopback only: tokens "
                "and data cross this connection unencrypted. For tests; never in production.\n");
}

/* Waits for signals (blocked in every thread, so none interrupts a worker). */
static void wait_for_signals(ml_server *s, const sigset_t *set, bool quiet) {
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            int st = ml_server_reopen_log(s);
            if (st != ML_OK)
                fprintf(stderr, "microlens: SIGHUP: %s (still writing the old log)\n",
                        ml_error_last()->message);
            else if (!quiet)
                fprintf(stderr, "microlens: SIGHUP: access log reopened\n");
            continue;
        }
        if (!quiet)
            fprintf(stderr, "microlens: %s: draining requests in flight, then exiting\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
}

static int run_serve(const serve_flags *f) {
    ml_server_options o = ML_SERVER_OPTIONS_INIT;
    int rc = fill_options(f, &o);
    if (rc != EXIT_OK) return rc;
    if (!f->quiet) {
        o.diag = print_diag;
        o.diag_cls = NULL;
    }
    if (f->plaintext)
        fprintf(stderr, "microlens: WARNING: --insecure-plaintext-loopback: no TLS; binding "
                "127.0.0.1 only\n");
    ml_pseudonym_key *key = NULL;
    int st = cli_idkey_resolve(&key, &f->key_flags, f->quiet);
    if (st != ML_OK) return cli_fail(st);
    o.model.id_key = key;
    /* Block the signals we wait for before any server thread exists: threads inherit it. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-response is an error code, not a death */
    ml_server *s = NULL;
    st = ml_server_start(&s, &o);
    if (st != ML_OK) {
        rc = cli_fail(st);
        ml_pseudonym_key_free(key);
        return rc;
    }
    announce(f, s, &o);
    wait_for_signals(s, &set, f->quiet);
    ml_server_stats stats;
    ml_server_get_stats(s, &stats);
    ml_server_stop(s);
    ml_pseudonym_key_free(key);
    if (!f->quiet)
        fprintf(stderr, "microlens: stopped after %llu requests (%llu 4xx, %llu 5xx, %llu rate "
                "limited, %llu connections cut off by the request timeout)\n",
                (unsigned long long)stats.requests, (unsigned long long)stats.responses_4xx,
                (unsigned long long)stats.responses_5xx, (unsigned long long)stats.rate_limited,
                (unsigned long long)stats.cut_off);
    if (stats.log_write_failures)
        fprintf(stderr, "microlens: warning: %llu access-log lines could not be written\n",
                (unsigned long long)stats.log_write_failures);
    return EXIT_OK;
}

int cmd_serve(int argc, char **argv) {
    serve_flags f = {0};
    f.threads = ML_SERVER_THREADS_DEFAULT;
    f.max_body = ML_SERVER_MAX_BODY_DEFAULT;
    f.max_header = ML_SERVER_MAX_HEADER_DEFAULT;
    f.max_samples = ML_SERVE_MAX_SAMPLES;
    f.idle_timeout = ML_SERVER_IDLE_TIMEOUT_DEFAULT;
    f.request_timeout = ML_SERVER_REQUEST_TIMEOUT_DEFAULT;
    f.max_connections = ML_SERVER_MAX_CONNECTIONS_DEFAULT;
    f.drain_timeout = ML_SERVER_DRAIN_TIMEOUT_DEFAULT;
    const cli_flag flags[] = {
        {"--model", "DIR", CLI_STRING, &f.model,
         "evaluate --save-model bundle or train checkpoint folder (verified first)", NULL},
        {"--tls-cert", "CERT", CLI_STRING, &f.cert, "PEM certificate (chain)", NULL},
        {"--tls-key", "KEY", CLI_STRING, &f.key, "PEM private key, mode 0600", NULL},
        {"--tokens", "FILE", CLI_STRING, &f.tokens,
         "tokens file, mode 0600: NAME:ROLE:SHA256 lines (microlens token new)", NULL},
        {"--listen", "HOST:PORT", CLI_STRING, &f.listen,
         "numeric address and port; port 0 picks a free one", ML_SERVER_LISTEN_DEFAULT},
        {"--threads", "N", CLI_SIZE, &f.threads, "worker threads", "2"},
        {"--max-body", "BYTES", CLI_SIZE, &f.max_body, "largest request body (413 beyond)",
         "4194304"},
        {"--max-header", "BYTES", CLI_SIZE, &f.max_header,
         "largest request line + headers (431 beyond)", "8192"},
        {"--max-samples", "N", CLI_SIZE, &f.max_samples, "most samples per request (413 beyond)",
         "4096"},
        {"--idle-timeout", "S", CLI_SIZE, &f.idle_timeout,
         "seconds without a byte before a connection is closed", "15"},
        {"--request-timeout", "S", CLI_SIZE, &f.request_timeout,
         "seconds for a whole request to arrive (slow clients are cut off)", "10"},
        {"--max-connections", "N", CLI_SIZE, &f.max_connections, "open connections at most",
         "512"},
        {"--max-connections-per-ip", "N", CLI_SIZE, &f.max_per_ip,
         "open connections per client address at most", "no cap"},
        {"--rate", "R/s", CLI_STRING, &f.rate, "requests per second per token (429 beyond)",
         "no limit"},
        {"--burst", "N", CLI_SIZE, &f.burst, "requests a token may send at once (with --rate)",
         "the rate, at least 1"},
        {"--access-log", "FILE", CLI_STRING, &f.access_log,
         "append one JSON line per request (mode 0600); SIGHUP reopens it", "no log"},
        {"--drain-timeout", "S", CLI_SIZE, &f.drain_timeout,
         "seconds SIGTERM waits for requests in flight", "10"},
        {"--otu-vectors", "V", CLI_STRING, &f.vectors,
         "OTU vectors for a set-transformer checkpoint (safetensors or HDF5)", NULL},
        {"--base-weights", "FILE", CLI_STRING, &f.base_weights,
         "base weights of a LoRA checkpoint (its train --init file; MANIFEST beside it)", NULL},
        {"--pubkey", "KEY.pub", CLI_STRING, &f.pubkey,
         "Ed25519 public key to check the model's MANIFEST.sig", NULL},
        {"--require-signature", NULL, CLI_BOOL, &f.require_signature,
         "refuse a model without a valid signature (also MICROLENS_REQUIRE_SIGNATURE=1)", NULL},
        {"--insecure-plaintext-loopback", NULL, CLI_BOOL, &f.plaintext,
         "plain HTTP on 127.0.0.1 only, for tests (never in production)", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "only errors on stderr", NULL},
        CLI_IDKEY_FLAGS(f.key_flags),
    };
    int rc = cli_parse(argc, argv, &serve_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    return run_serve(&f);
}
