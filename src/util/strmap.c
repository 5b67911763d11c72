/* strmap.c - string -> index hash map with linear probing; no deletion (not needed). */
#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static size_t find_slot(const ml__strmap *m, const char *key, size_t len, bool *found) {
    size_t mask = m->capacity - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    while (m->keys[i]) {
        if (m->key_lens[i] == len && memcmp(m->keys[i], key, len) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static ml_status grow(ml__strmap *m) {
    size_t cap = m->capacity ? m->capacity * 2 : 64;
    ml__strmap bigger = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)),
                         calloc(cap, sizeof(size_t)), cap, m->count};
    if (!bigger.keys || !bigger.key_lens || !bigger.vals) {
        ml__strmap_free(&bigger);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < m->capacity; i++) {
        if (!m->keys[i]) continue;
        bool found;
        size_t j = find_slot(&bigger, m->keys[i], m->key_lens[i], &found);
        bigger.keys[j] = m->keys[i];
        bigger.key_lens[j] = m->key_lens[i];
        bigger.vals[j] = m->vals[i];
    }
    ml__strmap_free(m);
    *m = bigger;
    return ML_OK;
}

ml_status ml__strmap_put(ml__strmap *m, const char *key, size_t key_len, size_t val,
                         size_t *existing) {
    if ((m->count + 1) * 2 > m->capacity) ML_TRY(grow(m));
    bool found;
    size_t i = find_slot(m, key, key_len, &found);
    if (found) {
        *existing = m->vals[i];
        return ML_OK;
    }
    m->keys[i] = key;
    m->key_lens[i] = key_len;
    m->vals[i] = val;
    m->count++;
    *existing = SIZE_MAX;
    return ML_OK;
}

bool ml__strmap_get(const ml__strmap *m, const char *key, size_t key_len, size_t *val) {
    if (m->capacity == 0) return false;
    bool found;
    size_t i = find_slot(m, key, key_len, &found);
    if (found) *val = m->vals[i];
    return found;
}

void ml__strmap_free(ml__strmap *m) {
    free(m->keys);
    free(m->key_lens);
    free(m->vals);
    m->keys = NULL;
    m->key_lens = NULL;
    m->vals = NULL;
    m->capacity = m->count = 0;
}
