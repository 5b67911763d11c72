/* flags.h - the command-line flag table: parsing into typed destinations and --help text
 * generated from the same table (unit and default per flag, then runnable examples). */
#ifndef ML_CLI_FLAGS_H
#define ML_CLI_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, stable and documented in every --help. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_BAD_INPUT = 3,
    EXIT_INTEGRITY = 4
};

typedef enum cli_flag_type {
    CLI_BOOL,   /* bool*: set true when present */
    CLI_STRING, /* const char**: the next argument or =value */
    CLI_SIZE,   /* size_t*: non-negative integer */
    CLI_U64,    /* uint64_t* */
    CLI_DOUBLE  /* double*: finite */
} cli_flag_type;

typedef struct cli_flag {
    const char *name;    /* "--labels" */
    const char *metavar; /* "CSV"; NULL for booleans */
    cli_flag_type type;
    void *dst;
    const char *help;    /* one line; includes the unit */
    const char *dflt;    /* default shown in --help, or NULL */
} cli_flag;

typedef struct cli_command {
    const char *name;     /* "data inspect" */
    const char *synopsis; /* "TABLE [--labels CSV] [--json]" */
    const char *summary;  /* one sentence */
    const char *details;  /* paragraph(s) after the flags, or NULL */
    const char *const *examples; /* NULL-terminated */
    size_t n_positionals;        /* required positionals */
} cli_command;

/* Parses argv (after the command words) into the table's destinations and positional
 * arguments (into positionals, up to cmd->n_positionals). Prints the error to stderr and
 * returns EXIT_USAGE on unknown flags, missing values, bad numbers or a wrong count of
 * positionals. Returns -1 after printing help for --help; EXIT_OK otherwise. */
int cli_parse(int argc, char **argv, const cli_command *cmd, const cli_flag *flags,
              size_t n_flags, const char **positionals);

void cli_print_help(const cli_command *cmd, const cli_flag *flags, size_t n_flags);

/* Prints "microlens: <last error>" to stderr and maps a library status to an exit code. */
int cli_exit_code_for_status(int status);
int cli_fail(int status);

/* True when the environment variable is set to anything but "" or "0": switches that tighten
 * security (MICROLENS_REQUIRE_SIGNATURE) fail closed on values we do not know. */
bool cli_env_flag(const char *name);

/* Prints "microlens: usage: ..." and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
