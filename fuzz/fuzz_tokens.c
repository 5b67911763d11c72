/* fuzz_tokens.c - hostile bytes as a tokens file (ml__tokens_parse): no crash; accepted files
 * hold at least one entry, each with a name of 1..64 characters of [A-Za-z0-9._-], a known
 * role and a unique name; refusals name "tokens:LINE" (or say the file holds no token) and
 * carry no control character. */
#include <stdint.h>
#include <string.h>

#include "serve/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > ML_TOKEN_NAME_MAX) return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ml_tokens *t = NULL;
    ml_status st = ml__tokens_parse(&t, "tokens", (const char *)data, size);
    if (st == ML_OK) {
        size_t n = ml_tokens_count(t);
        if (n == 0) __builtin_trap();
        for (size_t i = 0; i < n; i++) {
            const char *name = ml_tokens_name(t, i);
            ml_token_role r = ml_tokens_role(t, i);
            if (!name_ok(name)) __builtin_trap();
            if (r != ML_TOKEN_ROLE_PREDICT && r != ML_TOKEN_ROLE_ADMIN) __builtin_trap();
            for (size_t j = 0; j < i; j++)
                if (strcmp(ml_tokens_name(t, j), name) == 0) __builtin_trap();
        }
        size_t idx = 0;
        (void)ml_tokens_find(t, (const char *)data, size, &idx);
        ml_tokens_free(t);
        return 0;
    }
    if (t != NULL) __builtin_trap(); /* untouched on failure */
    const char *msg = ml_error_last()->message;
    if (strncmp(msg, "tokens:", 7) != 0 && !strstr(msg, "holds no token")) __builtin_trap();
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) __builtin_trap();
    return 0;
}
