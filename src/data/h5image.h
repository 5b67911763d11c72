/* h5image.h - opening an HDF5 file image held in memory, read-only and in place (no copy),
 * for the readers of outside HDF5 bytes (biom_hdf5.c, otuvec.c); it reads nothing inside. */
#ifndef ML_DATA_H5IMAGE_H
#define ML_DATA_H5IMAGE_H

#include <hdf5.h>
#include <stddef.h>

#include "microlens/error.h"

/* The bytes of one image; must outlive the file opened from it (libhdf5 keeps a pointer). */
typedef struct ml__h5image {
    const void *buf;
    size_t len;
} ml__h5image;

/* ^Checks the superblock (signature at 0, 512, 1024, ...; version 0-3; offset size 2, 4 or
 * 8) and that its end-of-file address fits in len: libhdf5 would read past a cut image as
 * zeros. ML_EFORMAT "NAME: truncated or corrupt HDF5 (...)" otherwise. */
ml_status ml__h5image_check(const char *name, const void *buf, size_t len);

/* ^Opens img read-only through the core driver; a negative id (error on libhdf5's stack)
 * on failure. Close with H5Fclose before img's bytes go. */
hid_t ml__h5image_open(const ml__h5image *img);

#endif
