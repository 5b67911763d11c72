/* h5image.c - an HDF5 file image in memory opened read-only in place through libhdf5's core
 * driver, after a superblock check; it reads no object inside and never writes. */
#include "data/h5image.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static uint64_t read_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

/* libhdf5 would read past a cut image as zeros; checking the superblock's end-of-file
 * address first turns every truncation into one clear message. Layouts: HDF5 File Format
 * Specification 3.0, section II.A (versions 0/1 and 2/3 place the addresses differently). */
ml_status ml__h5image_check(const char *name, const void *buf, size_t len) {
    const unsigned char *b = buf;
    size_t at = SIZE_MAX;
    for (size_t off = 0; off <= len && len - off >= 8; off = off ? off * 2 : 512) {
        if (memcmp(b + off, hdf5_magic, 8) == 0) {
            at = off;
            break;
        }
    }
    if (at == SIZE_MAX)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (no HDF5 signature in %zu "
                       "bytes)", name, len);
    const unsigned char *s = b + at;
    size_t avail = len - at;
    if (avail < 16)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (superblock cut at %zu bytes)",
                       name, avail);
    unsigned version = s[8];
    size_t off_size, base_at;
    if (version <= 1) {
        off_size = s[13];
        base_at = version == 0 ? 24 : 28;
    } else if (version <= 3) {
        off_size = s[9];
        base_at = 12;
    } else {
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (superblock version %u, "
                       "expected 0 to 3)", name, version);
    }
    if (off_size != 2 && off_size != 4 && off_size != 8)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (size of offsets %zu, "
                       "expected 2, 4 or 8)", name, off_size);
    if (avail < base_at + 3 * off_size)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (superblock cut at %zu bytes)",
                       name, avail);
    uint64_t undefined = off_size == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * off_size)) - 1;
    uint64_t base = read_le(s + base_at, off_size);
    uint64_t eof = read_le(s + base_at + 2 * off_size, off_size);
    if (eof == undefined || base > eof || eof > UINT64_MAX / 2)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (superblock end-of-file "
                       "address is undefined or impossible)", name);
    /* libhdf5 compares the stored end-of-file address with the whole image size, user block
     * included (h5py stores 9923 for a 9923-byte file with a 512-byte user block), after
     * moving the base address to where the superblock was found. Same rule here. */
    uint64_t end = base > at ? eof - (base - at) : eof + (at - base);
    if (end > len)
        return ML_FAIL(ML_EFORMAT, "%s: truncated or corrupt HDF5 (the superblock says the file "
                       "has %" PRIu64 " bytes, found %zu)", name, end, len);
    return ML_OK;
}

/* libhdf5 asks these callbacks for "copies" of the image and they hand back the caller's
 * bytes, read-only: no copy at all. This is what H5LTopen_file_image does with DONT_COPY, but
 * libhdf5_hl 1.10.8 leaks 72 bytes per open when DONT_RELEASE is also set. */
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    const ml__h5image *r = udata;
    (void)op;
    return size == r->len ? (void *)r->buf : NULL;
}

static void *image_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata) {
    (void)size;
    (void)op;
    (void)udata;
    return dst == src ? dst : NULL; /* only ever "copies" the image onto itself */
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)ptr;
    (void)size;
    (void)op;
    (void)udata;
    return NULL; /* opened read-only: the image never grows */
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    (void)ptr;
    (void)op;
    (void)udata;
    return 0; /* the caller owns the bytes */
}

static void *udata_copy(void *udata) { return udata; }

static herr_t udata_free(void *udata) {
    (void)udata;
    return 0;
}

/* Opens the image read-only through the core driver. The name only has to be unique among
 * open files and absent from the working directory (the core driver refuses a name that
 * exists on disk), hence the buffer address in it. */
hid_t ml__h5image_open(const ml__h5image *ref) {
    H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free,
                                      udata_copy, udata_free, (void *)ref};
    char fname[64];
    snprintf(fname, sizeof fname, "microlens-h5image-%p", ref->buf);
    hid_t file = -1, fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 65536, 0) >= 0 &&
        H5Pset_file_image_callbacks(fapl, &cb) >= 0 &&
        H5Pset_file_image(fapl, (void *)ref->buf, ref->len) >= 0)
        file = H5Fopen(fname, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    return file;
}
