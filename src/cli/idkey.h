/* idkey.h - where the CLI gets the pseudonym key from (the library never reads the
 * environment): --id-key-file, then MICROLENS_ID_KEY, then --ephemeral-ids, then the
 * per-user key file $XDG_CONFIG_HOME/microlens/id.key (created once, mode 0600). */
#ifndef ML_CLI_IDKEY_H
#define ML_CLI_IDKEY_H

#include <stdbool.h>

#include "microlens/pseudonym.h"

typedef struct cli_idkey_flags {
    const char *key_file; /* --id-key-file PATH */
    bool ephemeral;       /* --ephemeral-ids */
} cli_idkey_flags;

/* Resolves the key; prints a notice on stderr when a key file is created or an ephemeral key
 * is used (unless quiet). Returns an ml_status; the error is in ml_error_last(). */
int cli_idkey_resolve(ml_pseudonym_key **out, const cli_idkey_flags *f, bool quiet);

#define CLI_IDKEY_FLAGS(f)                                                                   \
    {"--id-key-file", "PATH", CLI_STRING, &(f).key_file,                                     \
     "pseudonym key file (mode 0600); else $MICROLENS_ID_KEY, else the per-user key", NULL}, \
    {"--ephemeral-ids", NULL, CLI_BOOL, &(f).ephemeral,                                      \
     "use a throwaway key: pseudonyms differ from run to run", NULL}

#endif
