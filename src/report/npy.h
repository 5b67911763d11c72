/* npy.h - NumPy .npy files, format version 1.0: the header that numpy.load parses and a
 * writer that streams the data after it into an atomic file. It does not read .npy files and
 * knows no dtype beyond the descr string its caller gives. Format: numpy's
 * doc/neps/nep-0001-npy-format.rst ("A Simple File Format for NumPy Arrays"). */
#ifndef ML_REPORT_NPY_H
#define ML_REPORT_NPY_H

#include <stddef.h>

#include "microlens/error.h"
#include "util/outbuf.h"

/* The data section starts at a multiple of this many bytes: numpy >= 1.14 pads its own
 * headers to 64 (ARRAY_ALIGN) so that memory-mapped arrays are aligned for any SIMD width;
 * the format's own minimum is 16. */
#define ML__NPY_ALIGN 64
/* Format 1.0 stores the header length in 2 bytes; longer headers need version 2.0, which we
 * never need: our headers are a descr of at most a few fields and <= ML_TENSOR_MAX_DIMS dims. */
#define ML__NPY_MAX_HEADER 65535u
/* Most dimensions accepted (ML_TENSOR_MAX_DIMS of safetensors.h). */
#define ML__NPY_MAX_DIMS 8

/* Builds the whole preamble (magic "\x93NUMPY", version 1.0, header length, the header dict
 * "{'descr': DESCR, 'fortran_order': False, 'shape': (...), }" padded with spaces and ended
 * by '\n' so that its total length is a multiple of ML__NPY_ALIGN) into dst.
 * descr is a Python literal: a quoted type string such as "'<f8'" or a list of fields such as
 * "[('step', '<i8'), ('value', '<f8')]". n_dims 0 is a scalar, shape "()".
 * ML_EINVAL if n_dims > ML__NPY_MAX_DIMS or the preamble does not fit dst_capacity or the
 * 2-byte length; dst is then unspecified and *dst_len untouched. */
ml_status ml__npy_header(char *dst, size_t dst_capacity, size_t *dst_len, const char *descr,
                         const size_t *shape, size_t n_dims);

/* Opens an atomic file at path (ml__outbuf_open, mode 0644) and writes the preamble; the
 * caller then writes exactly product(shape) items of the descr's size with ml__outbuf_write
 * (little-endian, C order) and commits. On failure nothing is left at path and b needs
 * no cleanup, though ml__outbuf_abort on it is still safe. */
ml_status ml__npy_open(ml__outbuf *b, const char *path, const char *descr, const size_t *shape,
                       size_t n_dims);

/* Writes a whole array: ml__npy_open, n_bytes of data, commit. ML_EIO/ML_ENOMEM as the file
 * helpers; nothing is left at path on failure. */
ml_status ml__npy_write(const char *path, const char *descr, const size_t *shape, size_t n_dims,
                        const void *data, size_t n_bytes);

#endif
