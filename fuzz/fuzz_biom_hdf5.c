/* fuzz_biom_hdf5.c - structure-aware fuzzing of the BIOM 2.1 HDF5 reader: the input is a
 * recipe, not a file. libhdf5 1.10.8 itself crashes on some hostile byte images (not our bug
 * to fix, and it would drown ours), so raw bytes never reach it. Instead the input chooses the
 * shape, IDs, indptr, indices, values and taxonomy, and which datasets or attributes to omit
 * or mistype; tests/data/biom_h5build.h writes that as a well-formed HDF5 image with
 * libhdf5's own writer (core driver, no backing store) and the image goes to
 * ml__biom_hdf5_parse. For some inputs the image is then cut at a chosen position past the
 * superblock, which our superblock end-of-file check must catch before libhdf5 reads it.
 * Flipping bytes past the superblock was tried and dropped: within a minute libhdf5 1.10.8
 * crashed in its own code (H5HG_read copying a global-heap object whose corrupted length
 * points far outside the heap, while converting variable-length strings). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../tests/data/biom_h5build.h"
#include "data/readers.h"
#include "microlens/table.h"

/* A v0 superblock with 8-byte offsets plus the root symbol table entry (24 + 4*8 + 40). */
#define SUPERBLOCK_BYTES 96
#define MAX_AXIS 8    /* observations or samples */
#define MAX_ENTRIES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the recipe byte by byte; zeros once the input is used up. */
typedef struct cursor {
    const uint8_t *p;
    size_t n, pos;
} cursor;

static unsigned next(cursor *c) { return c->pos < c->n ? c->p[c->pos++] : 0u; }

static const char *const obs_pool[] = {"OTU_1", "OTU_2", "OTU_3", "OTU_4", "OTU_5", "OTU_6",
                                       "OTU_7", "OTU_8", "OTU_9", "", "k__A; p__B", "OTU_1 "};
static const char *const sample_pool[] = {"S1", "S2", "S3", "S4", "S5", "S6",
                                          "S7", "S8", "S9", "", "S\xc3\xa9", "S 1"};
static const char *const tax_pool[] = {"k__Bacteria", "p__Firmicutes", "", "g__X"};

static double value_of(unsigned b) {
    switch (b) {
    case 255: return NAN;
    case 254: return INFINITY;
    case 253: return -1.0;
    case 252: return 1e300;
    case 251: return 0.0;
    default: return b / 4.0;
    }
}

typedef struct recipe_store {
    const char *obs[MAX_AXIS], *samples[MAX_AXIS], *tax[MAX_AXIS * 2];
    int64_t indptr[MAX_AXIS + 2], indices[MAX_ENTRIES];
    double values[MAX_ENTRIES];
} recipe_store;

/* Valid-looking CSR most of the time (entries spread over samples, distinct indices within a
 * sample), arbitrary numbers otherwise. */
static void fill_matrix(cursor *c, h5b_recipe *r, recipe_store *s, size_t n_obs,
                        size_t n_samples) {
    size_t n_entries = next(c) % (MAX_ENTRIES + 1);
    bool valid = next(c) < 200;
    s->indptr[0] = 0;
    size_t used = 0;
    for (size_t j = 0; j < n_samples; j++) {
        size_t left = n_entries - used;
        size_t take = !valid ? 0 : j + 1 == n_samples ? left : next(c) % (left + 1);
        used += take;
        s->indptr[j + 1] = valid ? (int64_t)used : (int64_t)(int8_t)next(c);
    }
    if (valid && n_samples == 0) n_entries = 0;
    for (size_t k = 0; k < n_entries; k++) {
        unsigned b = next(c);
        s->indices[k] = valid ? (int64_t)((b + k) % (n_obs ? n_obs : 1)) : (int64_t)(int8_t)b;
        s->values[k] = value_of(next(c));
    }
    r->indptr = s->indptr;
    r->n_indptr = n_samples + 1 - (next(c) == 7);
    r->indices = s->indices;
    r->data = s->values;
    r->n_indices = r->n_data = n_entries;
    if (next(c) == 9 && n_entries > 0) r->n_data--;
    r->nnz = next(c) < 230 ? (int64_t)n_entries : (int64_t)(int8_t)next(c);
    r->obs_matrix_len = n_entries + (next(c) == 3);
}

static void fill_recipe(cursor *c, h5b_recipe *r, recipe_store *s) {
    unsigned f0 = next(c), f1 = next(c), f2 = next(c);
    /* Most inputs keep every part, so that the deeper checks are reached. */
    r->flags = f0 < 128 ? 0u : (f0 | f1 << 8 | f2 << 16) & ((1u << 20) - 1);
    r->flags |= (next(c) & 1) ? (unsigned)H5B_COMPRESS : 0u;
    unsigned v = next(c);
    r->version[0] = v < 230 ? 2 : (int64_t)(v % 4);
    r->version[1] = 1;
    size_t n_obs = next(c) % (MAX_AXIS + 1), n_samples = next(c) % (MAX_AXIS + 1);
    for (size_t i = 0; i < n_obs; i++) s->obs[i] = obs_pool[next(c) % 12];
    for (size_t j = 0; j < n_samples; j++) s->samples[j] = sample_pool[next(c) % 12];
    r->obs_ids = s->obs;
    r->n_obs_ids = n_obs;
    r->sample_ids = s->samples;
    r->n_sample_ids = n_samples;
    unsigned sh = next(c);
    r->shape[0] = sh < 220 ? (int64_t)n_obs : (int64_t)(int8_t)next(c);
    r->shape[1] = sh < 220 ? (int64_t)n_samples : (int64_t)(int8_t)next(c);
    r->tax_levels = next(c) % 3;
    for (size_t i = 0; i < n_obs * r->tax_levels; i++) s->tax[i] = tax_pool[next(c) % 4];
    r->taxonomy = r->tax_levels && n_obs ? s->tax : NULL;
    fill_matrix(c, r, s, n_obs, n_samples);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cursor c = {data, size, 0};
    h5b_recipe r;
    recipe_store s;
    fill_recipe(&c, &r, &s);
    unsigned char *img = NULL;
    size_t len = 0;
    if (h5b_build(&r, &img, &len) != 0) return 0;
    unsigned cut_mode = next(&c), hi = next(&c), lo = next(&c);
    if (cut_mode >= 200 && len > SUPERBLOCK_BYTES)
        len = SUPERBLOCK_BYTES + (hi << 8 | lo) % (len - SUPERBLOCK_BYTES);
    ml_table *t = NULL;
    if (ml__biom_hdf5_parse(&t, img, len, "fuzz.biom", NULL) == ML_OK) {
        for (size_t i = 0; i < ml_table_n_samples(t); i++) (void)ml_table_row_sum(t, i);
        ml_table_free(t);
    }
    free(img);
    return 0;
}
