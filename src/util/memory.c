/* memory.c - ml_free and ml_version: the two things every caller needs from the library. */
#include "microlens/memory.h"

#include <stdlib.h>

void ml_free(void *p) { free(p); }

const char *ml_version(void) { return ML_VERSION_STRING; }
