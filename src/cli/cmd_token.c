/* cmd_token.c - `microlens token new`: makes a bearer token for `microlens serve`, prints it
 * once, and prints (or adds to a tokens file) the line that admits it. The token itself is
 * never stored: the tokens file holds its SHA-256. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "microlens/serve.h"

static const char *const token_new_examples[] = {
    "microlens token new --name lab-pipeline --role predict",
    "microlens token new --name ops --role admin --tokens /etc/microlens/tokens",
    "umask 077; microlens token new --name ci --role predict --tokens tokens > ci.token", NULL};

static const cli_command token_new_cmd = {
    "token new", "--name NAME --role predict|admin [--tokens FILE]",
    "Makes a fresh bearer token for `microlens serve` (32 random bytes, \"mlt_\" + base64url)\n"
    "and the tokens-file line that admits it: NAME:ROLE:SHA-256 of the token.",
    "stdout gets two lines: the token, then the line. The token is shown this once and stored\n"
    "nowhere: keep it in a secret store and give it to the client, who sends it as\n"
    "`Authorization: Bearer <token>`. With --tokens, the line is also added to FILE (created\n"
    "with mode 0600 if absent; a name or token already there is refused, exit 3).\n"
    "Roles: predict may call POST /v1/predict; admin may also call GET /v1/model and\n"
    "POST /v1/reload. NAME (1-64 of A-Z a-z 0-9 . _ -) is what the access log records.\n"
    "To revoke a token, delete its line and restart the server.",
    token_new_examples, 0};

int cmd_token_new(int argc, char **argv) {
    const char *name = NULL, *role_s = NULL, *file = NULL;
    const cli_flag flags[] = {
        {"--name", "NAME", CLI_STRING, &name, "client name, as the access log shows it", NULL},
        {"--role", "ROLE", CLI_STRING, &role_s, "predict or admin", NULL},
        {"--tokens", "FILE", CLI_STRING, &file, "also add the line to this tokens file", NULL},
    };
    int rc = cli_parse(argc, argv, &token_new_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!name || !role_s) return cli_usage_error("token new needs --name NAME and --role ROLE");
    ml_token_role role = ML_TOKEN_ROLE_PREDICT;
    if (ml_token_role_parse(role_s, &role) != ML_OK)
        return cli_usage_error("--role must be predict or admin");
    char token[ML_TOKEN_SIZE], line[ML_TOKEN_LINE_SIZE];
    int st = ml_token_new(name, role, token, line);
    if (st != ML_OK) return cli_fail(st);
    /* Add first: if the file refuses the line, no token is shown that nothing admits. */
    if (file && (st = ml_tokens_file_add(file, line)) != ML_OK) {
        OPENSSL_cleanse(token, sizeof token);
        return cli_fail(st);
    }
    printf("%s\n%s\n", token, line);
    OPENSSL_cleanse(token, sizeof token);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "microlens: cannot write the token to stdout\n");
        return EXIT_FAILURE_RUNTIME;
    }
    if (file)
        fprintf(stderr, "microlens: added \"%s\" (role %s) to %s; restart the server to admit "
                "it. The token above is shown only this once.\n", name,
                ml_token_role_name(role), file);
    else
        fprintf(stderr, "microlens: add the second line to the tokens file (mode 0600) and "
                "restart the server. The token above is shown only this once.\n");
    return EXIT_OK;
}
