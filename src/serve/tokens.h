/* tokens.h - the tokens-file parser behind ml_tokens_load, on bytes already read, for the
 * fuzzer (fuzz/fuzz_tokens.c). Internal to src/serve/. */
#ifndef ML_SERVE_TOKENS_H
#define ML_SERVE_TOKENS_H

#include <stddef.h>

#include "microlens/serve.h"

/* Parses len bytes of a tokens file named path (for messages) as ml_tokens_load does after
 * its file checks. Same errors for the content; *out untouched on failure. */
ml_status ml__tokens_parse(ml_tokens **out, const char *path, const char *buf, size_t len);

#endif
