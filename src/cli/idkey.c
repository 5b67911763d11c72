/* idkey.c - resolves the pseudonym key from flags, environment and the per-user key file. */
#include "idkey.h"

#include <stdio.h>
#include <stdlib.h>

#include "microlens/error.h"

static int user_key_path(char *dst, size_t cap) {
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') {
        n = snprintf(dst, cap, "%s/microlens/id.key", xdg);
    } else if (home && home[0]) {
        n = snprintf(dst, cap, "%s/.config/microlens/id.key", home);
    } else {
        return -1;
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int cli_idkey_resolve(ml_pseudonym_key **out, const cli_idkey_flags *f, bool quiet) {
    if (f->key_file) return ml_pseudonym_key_from_file(out, f->key_file);
    const char *secret = getenv("MICROLENS_ID_KEY");
    if (secret && secret[0]) return ml_pseudonym_key_from_secret(out, secret);
    if (f->ephemeral) {
        if (!quiet)
            fprintf(stderr, "microlens: note: --ephemeral-ids: pseudonyms are not stable "
                            "across runs and cannot be joined with other outputs\n");
        return ml_pseudonym_key_random(out);
    }
    char path[4096];
    if (user_key_path(path, sizeof path) != 0) {
        if (!quiet)
            fprintf(stderr, "microlens: note: neither HOME nor XDG_CONFIG_HOME is set: using a "
                            "throwaway pseudonym key (pseudonyms will not be stable)\n");
        return ml_pseudonym_key_random(out);
    }
    bool created = false;
    int st = ml_pseudonym_key_load_or_create(out, path, &created);
    if (st == ML_OK && created && !quiet)
        fprintf(stderr, "microlens: note: created pseudonym key %s (mode 0600); keep it to keep "
                        "pseudonyms stable, or set MICROLENS_ID_KEY\n", path);
    return st;
}
