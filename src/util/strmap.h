/* strmap.h - string -> index hash map (open addressing); keys are borrowed, not copied. */
#ifndef ML_UTIL_STRMAP_H
#define ML_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"

typedef struct ml__strmap {
    const char **keys;  /* borrowed; must outlive the map and not move */
    size_t *key_lens;
    size_t *vals;
    size_t capacity;    /* power of two */
    size_t count;
} ml__strmap;

#define ML__STRMAP_INIT {NULL, NULL, NULL, 0, 0}

/* Inserts key -> val unless key is present. *existing receives the stored value when the
 * key was present (and nothing changes), SIZE_MAX otherwise. ML_ENOMEM on allocation failure. */
ml_status ml__strmap_put(ml__strmap *m, const char *key, size_t key_len, size_t val,
                         size_t *existing);
/* Returns true and sets *val when key is present. */
bool ml__strmap_get(const ml__strmap *m, const char *key, size_t key_len, size_t *val);
void ml__strmap_free(ml__strmap *m); /* frees the table, not the keys */

#endif
