/* flags.c - flag parsing and generated help; no command logic lives here. */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/error.h"

static const char exit_codes_text[] =
    "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 input data rejected,\n"
    "4 integrity check refused.\n";

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("microlens: usage: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

bool cli_env_flag(const char *name) {
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

int cli_exit_code_for_status(int status) {
    switch ((ml_status)status) {
    case ML_OK: return EXIT_OK;
    case ML_EINVAL: return EXIT_USAGE;
    case ML_EFORMAT:
    case ML_ENOTFOUND:
    case ML_EUNSUPPORTED: return EXIT_BAD_INPUT;
    case ML_EINTEGRITY: return EXIT_INTEGRITY;
    case ML_EIO:
    case ML_ENOMEM:
    case ML_EPERM: break;
    }
    return EXIT_FAILURE_RUNTIME;
}

int cli_fail(int status) {
    fprintf(stderr, "microlens: %s\n", ml_error_last()->message);
    return cli_exit_code_for_status(status);
}

void cli_print_help(const cli_command *cmd, const cli_flag *flags, size_t n_flags) {
    printf("Usage: microlens %s %s\n\n%s\n\nOptions:\n", cmd->name, cmd->synopsis, cmd->summary);
    for (size_t i = 0; i < n_flags; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
                 flags[i].metavar ? flags[i].metavar : "");
        printf("  %-26s %s", left, flags[i].help);
        if (flags[i].dflt) printf(" [default: %s]", flags[i].dflt);
        printf("\n");
    }
    printf("  %-26s %s\n", "--help", "show this help and exit");
    if (cmd->details) printf("\n%s\n", cmd->details);
    printf("\n%s", exit_codes_text);
    if (cmd->examples && cmd->examples[0]) {
        printf("\nExamples:\n");
        for (const char *const *e = cmd->examples; *e; e++) printf("  %s\n", *e);
    }
}

static int set_value(const cli_flag *f, const char *value) {
    char *end;
    switch (f->type) {
    case CLI_STRING: *(const char **)f->dst = value; return EXIT_OK;
    case CLI_SIZE:
    case CLI_U64: {
        if (value[0] == '-' || value[0] == '\0')
            return cli_usage_error("%s expects a non-negative integer, got \"%s\"", f->name, value);
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end) return cli_usage_error("%s expects a non-negative integer, got \"%s\"",
                                                  f->name, value);
        if (f->type == CLI_SIZE) {
            if (v > SIZE_MAX) return cli_usage_error("%s: %s is too large", f->name, value);
            *(size_t *)f->dst = (size_t)v;
        } else {
            *(uint64_t *)f->dst = (uint64_t)v;
        }
        return EXIT_OK;
    }
    case CLI_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || *end || value[0] == '\0' || !isfinite(v))
            return cli_usage_error("%s expects a number, got \"%s\"", f->name, value);
        *(double *)f->dst = v;
        return EXIT_OK;
    }
    case CLI_BOOL: break;
    }
    return cli_usage_error("%s takes no value", f->name);
}

static const cli_flag *find_flag(const cli_flag *flags, size_t n, const char *arg, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, arg, len) == 0) return &flags[i];
    return NULL;
}

int cli_parse(int argc, char **argv, const cli_command *cmd, const cli_flag *flags,
              size_t n_flags, const char **positionals) {
    size_t n_pos = 0;
    bool only_positionals = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positionals || arg[0] != '-' || arg[1] == '\0') {
            if (n_pos >= cmd->n_positionals)
                return cli_usage_error("unexpected argument \"%s\" for \"microlens %s\"", arg,
                                       cmd->name);
            positionals[n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positionals = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(cmd, flags, n_flags);
            return -1;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_flag *f = find_flag(flags, n_flags, arg, name_len);
        if (!f) return cli_usage_error("unknown option \"%.*s\" for \"microlens %s\"",
                                       (int)name_len, arg, cmd->name);
        if (f->type == CLI_BOOL) {
            if (eq) return cli_usage_error("%s takes no value", f->name);
            *(bool *)f->dst = true;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) return cli_usage_error("%s needs a value (%s)", f->name, f->metavar);
        int rc = set_value(f, value);
        if (rc != EXIT_OK) return rc;
    }
    if (n_pos < cmd->n_positionals)
        return cli_usage_error("\"microlens %s\" needs %s", cmd->name, cmd->synopsis);
    return EXIT_OK;
}
