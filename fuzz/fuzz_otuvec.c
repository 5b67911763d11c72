/* fuzz_otuvec.c - the OTU-vector reader (ml_otuvec_parse) under hostile input, in two modes
 * chosen by the first byte. Odd: the rest is raw bytes for the safetensors path (an input
 * that starts with the HDF5 signature is skipped). Even: the rest is a recipe, not a file -
 * libhdf5 1.10.8 itself crashes on some byte-flipped images (see fuzz_biom_hdf5.c; not our
 * bug, and it would drown ours), so raw bytes never reach it. The recipe chooses the
 * /embeddings group (or its absence, or a dataset or soft link in its place) and its entries:
 * names, kind (dataset, group, soft/external/extra hard link), dtype, rank, lengths, values,
 * storage layout and filters; libhdf5's writer makes that a well-formed image (core driver,
 * nothing on disk), which may then be cut past the superblock. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/otuvec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 6
#define MAX_LEN 8                  /* values written per dataset */
#define SUPERBLOCK_BYTES 96        /* v0 superblock with 8-byte offsets + root entry */
#define HUGE_LEN ((hsize_t)1 << 21) /* beyond ML_OTUVEC_MAX_DIM; never written */

/* Reads the recipe byte by byte; zeros once the input is used up. */
typedef struct cursor {
    const uint8_t *p;
    size_t n, pos;
} cursor;

static unsigned next(cursor *c) { return c->pos < c->n ? c->p[c->pos++] : 0u; }

static const char *const name_pool[] = {
    "90_1;96_2;97_3", "OTU_1", "OTU 7", "k__A; p__B", "S\xc3\xa9", "x", "\x01\x1b[2Jctl",
    "a_rather_long_otu_identifier_that_goes_on_and_on_past_the_part_echoed_in_messages_0123456789",
};
#define N_NAMES (sizeof name_pool / sizeof name_pool[0])

static double value_of(unsigned b) {
    switch (b) {
    case 255: return NAN;
    case 254: return INFINITY;
    case 253: return -INFINITY;
    case 252: return 1e300; /* overflows float32 */
    default: return (double)b / 8.0 - 10.0;
    }
}

/* File dtypes: floats the reader converts, and an integer it must refuse. */
static hid_t file_type(unsigned b) {
    switch (b % 5) {
    case 0: return H5T_IEEE_F64LE;
    case 1: return H5T_IEEE_F32BE;
    case 2: return H5T_STD_I32LE;
    default: return H5T_IEEE_F32LE;
    }
}

/* Storage: contiguous, compact, chunked with gzip/shuffle/fletcher32, or the N-bit filter
 * (which the reader refuses). Returns a new dataset creation property list. */
static hid_t layout(cursor *c, int rank, const hsize_t *dims, hid_t type) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned how = next(c) % 6;
    int has_zero = 0;
    for (int i = 0; i < rank; i++) has_zero |= dims[i] == 0;
    if (how == 1 && rank > 0) {
        H5Pset_layout(dcpl, H5D_COMPACT);
    } else if (how >= 2 && rank > 0 && !has_zero) {
        H5Pset_chunk(dcpl, rank, dims);
        if (how == 2) H5Pset_deflate(dcpl, 6);
        if (how == 3) H5Pset_shuffle(dcpl);
        if (how == 4) H5Pset_fletcher32(dcpl);
        if (how == 5 && type != H5T_IEEE_F64LE) H5Pset_nbit(dcpl);
    }
    return dcpl;
}

/* One dataset: rank 0, 1 or 2, MAX_LEN values at most; sometimes huge and unwritten. */
static void add_dataset(cursor *c, hid_t g, const char *name) {
    hid_t type = file_type(next(c));
    unsigned r = next(c);
    int rank = r < 200 ? 1 : (int)(r % 3);
    hsize_t dims[2];
    dims[0] = next(c) % (MAX_LEN + 1);
    dims[1] = 1 + next(c) % 2;
    int is_huge = next(c) == 77;
    if (is_huge) dims[0] = HUGE_LEN;
    if (rank == 2) dims[0] = dims[0] > 4 && !is_huge ? 4 : dims[0];
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = is_huge ? H5Pcreate(H5P_DATASET_CREATE) : layout(c, rank, dims, type);
    if (is_huge) H5Pset_chunk(dcpl, 1, (hsize_t[]){1024});
    hid_t d = H5Dcreate2(g, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    double vals[2 * MAX_LEN];
    for (size_t i = 0; i < 2 * MAX_LEN; i++) vals[i] = value_of(next(c));
    if (d >= 0 && !is_huge && next(c) < 240)
        H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
}

static void add_entry(cursor *c, hid_t g, const char *name) {
    unsigned kind = next(c);
    if (kind < 200) add_dataset(c, g, name);
    else if (kind < 215) H5Gclose(H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    else if (kind < 230) H5Lcreate_soft("/embeddings/x", g, name, H5P_DEFAULT, H5P_DEFAULT);
    else if (kind < 240) H5Lcreate_external("other.h5", "/v", g, name, H5P_DEFAULT, H5P_DEFAULT);
    else H5Lcreate_hard(g, name_pool[next(c) % N_NAMES], g, name, H5P_DEFAULT, H5P_DEFAULT);
}

static void fill_file(cursor *c, hid_t f) {
    unsigned top = next(c);
    if (top >= 240) { /* /embeddings is a dataset, or absent */
        if (top & 1) add_dataset(c, f, "embeddings");
        return;
    }
    const char *gname = top >= 225 ? "vectors" : "embeddings";
    hid_t g = H5Gcreate2(f, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return;
    size_t n = next(c) % (MAX_ENTRIES + 1);
    for (size_t i = 0; i < n; i++) add_entry(c, g, name_pool[next(c) % N_NAMES]);
    H5Gclose(g);
    if (top >= 225 && (top & 1))
        H5Lcreate_soft("/vectors", f, "embeddings", H5P_DEFAULT, H5P_DEFAULT);
}

/* The recipe as an HDF5 image in memory (malloc'd), or -1. */
static int build(cursor *c, unsigned char **img, size_t *len) {
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 4096, 0);
    hid_t f = H5Fcreate("fuzz-otuvec-in-memory.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f >= 0) {
        fill_file(c, f);
        H5Fflush(f, H5F_SCOPE_GLOBAL);
        ssize_t n = H5Fget_file_image(f, NULL, 0);
        if (n > 0 && (*img = malloc((size_t)n)) != NULL) {
            if (H5Fget_file_image(f, *img, (size_t)n) == n) {
                *len = (size_t)n;
                rc = 0;
            } else {
                free(*img);
            }
        }
        H5Fclose(f);
    }
    H5Pclose(fapl);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    return rc;
}

static void use(const ml_otuvec *v) {
    size_t n = ml_otuvec_count(v), dim = ml_otuvec_dim(v);
    if (n == 0 || dim == 0 || dim > ML_OTUVEC_MAX_DIM) __builtin_trap();
    volatile float sink = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = ml_otuvec_vector(v, i);
        if (ml_otuvec_find(v, ml_otuvec_id(v, i)) != x) __builtin_trap();
        for (size_t k = 0; k < dim; k++) {
            if (!isfinite(x[k])) __builtin_trap();
            sink += x[k];
        }
    }
    (void)sink;
}

static void parse(const void *buf, size_t len, const char *name) {
    ml_otuvec *v = NULL;
    if (ml_otuvec_parse(&v, buf, len, name) != ML_OK) return;
    use(v);
    ml_otuvec_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size == 0) return 0;
    if (data[0] & 1) {
        if (size - 1 >= 8 && memcmp(data + 1, hdf5_magic, 8) == 0) return 0;
        parse(data + 1, size - 1, "fuzz.safetensors");
        return 0;
    }
    cursor c = {data + 1, size - 1, 0};
    unsigned char *img = NULL;
    size_t len = 0;
    if (build(&c, &img, &len) != 0) return 0;
    unsigned cut_mode = next(&c), hi = next(&c), lo = next(&c);
    if (cut_mode >= 200 && len > SUPERBLOCK_BYTES)
        len = SUPERBLOCK_BYTES + (hi << 8 | lo) % (len - SUPERBLOCK_BYTES);
    parse(img, len, "fuzz.h5");
    free(img);
    return 0;
}
