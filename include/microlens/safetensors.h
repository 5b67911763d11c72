/* safetensors.h - the safetensors tensor file format (huggingface/safetensors): dtypes,
 * tensor views, an atomic writer, a strict zero-copy reader, and the refusal of pickled
 * PyTorch checkpoints. Accepted format and refusal rules: docs/safetensors.md. */
#ifndef MICROLENS_SAFETENSORS_H
#define MICROLENS_SAFETENSORS_H

#include <stddef.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header JSON larger than this is refused, as by the reference implementation (100 MB), so
 * that whatever we write every reader can open. */
#define ML_SAFETENSORS_MAX_HEADER_BYTES 100000000u
/* Most dimensions a tensor may have here; PyTorch's own limit is 64, model weights use <= 4. */
#define ML_TENSOR_MAX_DIMS 8

/* The element types of the format; names as in the file ("F32"). Numbers are stable. */
typedef enum ml_dtype {
    ML_DTYPE_F64 = 0,
    ML_DTYPE_F32,
    ML_DTYPE_F16,
    ML_DTYPE_BF16,
    ML_DTYPE_I64,
    ML_DTYPE_I32,
    ML_DTYPE_I16,
    ML_DTYPE_I8,
    ML_DTYPE_U8,
    ML_DTYPE_BOOL, /* one byte, 0 or 1 */
    ML_DTYPE_U16,
    ML_DTYPE_U32,
    ML_DTYPE_U64
} ml_dtype;

/* ^Bytes per element (8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 2, 4, 8); 0 for a value outside the enum. */
size_t ml_dtype_size(ml_dtype d);
/* ^The format's name ("F64", "BF16", "BOOL"...); "unknown" outside the enum. */
const char *ml_dtype_name(ml_dtype d);
/* ^Parses a format name (exact case, as in files). ML_EINVAL if it is not one of ours. */
ml_status ml_dtype_parse(ml_dtype *out, const char *name);

/* One tensor: a name, an element type, a shape and little-endian bytes. For the writer all
 * pointers are borrowed for the call; data holds product(shape) * ml_dtype_size(dtype) bytes
 * (may be NULL when that is 0). n_dims == 0 is a scalar (one element). */
typedef struct ml_tensor_view {
    const char *name;       /* UTF-8, non-empty, unique in a file, not "__metadata__" */
    ml_dtype dtype;
    size_t n_dims;          /* 0 .. ML_TENSOR_MAX_DIMS */
    size_t shape[ML_TENSOR_MAX_DIMS];
    const void *data;
} ml_tensor_view;

/* One "__metadata__" entry: both strings UTF-8; keys unique. */
typedef struct ml_kv {
    const char *key;
    const char *value;
} ml_kv;

/* ^Writes tensors and metadata to path atomically (temporary file, fsync, rename; mode 0644).
 * Layout: 8-byte little-endian header length N, N bytes of JSON padded with spaces so that the
 * data section starts at a multiple of 8, then the tensor bytes, contiguous, no gaps.
 * Tensors are stored ordered by element size (largest first) then by name (bytewise), so that
 * every tensor starts aligned to its element size and the output does not depend on the
 * order of `tensors`; "__metadata__" comes first and only when n_metadata > 0.
 * ^ML_EINVAL naming the tensor (by index and name) if a name is empty, repeated, not UTF-8 or
 * "__metadata__", a dtype is unknown, n_dims is over ML_TENSOR_MAX_DIMS, the byte size
 * overflows, data is NULL for a non-empty tensor; also for repeated or non-UTF-8 metadata and a
 * header over ML_SAFETENSORS_MAX_HEADER_BYTES. ML_EIO if the file cannot be written; then any
 * previous file at path is untouched and no temporary file is left. */
ml_status ml_safetensors_write(const char *path, const ml_tensor_view *tensors, size_t n,
                               const ml_kv *metadata, size_t n_metadata);

/* ---- Reading ---------------------------------------------------------------------------- */

/* An open, validated safetensors file (or buffer). Views it lends stay valid until close. */
typedef struct ml_safetensors ml_safetensors;

/* ^Maps path read-only (mmap, zero copy) and validates it completely before returning: every
 * rule of docs/safetensors.md. A pickled checkpoint is refused first (ml_pickle_refuse_bytes),
 * so its bytes never reach the JSON parser.
 * ^ML_EFORMAT for a broken rule; the message is "PATH: header: ... (rule: ...)" naming it.
 * ML_ENOTFOUND if path does not exist, ML_EIO if it cannot be opened or mapped, ML_ENOMEM.
 * *out untouched on failure; free with ml_safetensors_close. Another process truncating the
 * file while it is open makes later reads of tensor data fault (SIGBUS), as with any mmap. */
ml_status ml_safetensors_open(ml_safetensors **out, const char *path);

/* ^As ml_safetensors_open for len bytes at buf, which are borrowed (not copied) and must
 * outlive *out. name (may be NULL) stands for the file in messages and in the pickle name
 * check (a name ending .bin/.pt/... is refused). */
ml_status ml_safetensors_parse_buffer(ml_safetensors **out, const void *buf, size_t len,
                                      const char *name);

void ml_safetensors_close(ml_safetensors *st); /* NULL: no-op; unmaps the file */

/* ^Number of tensors (0 for a file holding only metadata). */
size_t ml_safetensors_n_tensors(const ml_safetensors *st);
/* ^Tensor i, ordered by position in the data section (ties, from empty tensors, by name);
 * NULL when i >= ml_safetensors_n_tensors. Borrowed from st; data points into the file
 * (NULL for an empty tensor) and may be unaligned: see ml_tensor_view_is_aligned. */
const ml_tensor_view *ml_safetensors_tensor(const ml_safetensors *st, size_t i);
/* ^The tensor called name (hash lookup), or NULL. Borrowed from st. */
const ml_tensor_view *ml_safetensors_find(const ml_safetensors *st, const char *name);

/* ^Number of "__metadata__" entries, in file order. */
size_t ml_safetensors_n_metadata(const ml_safetensors *st);
/* ^Entry i, or NULL when i is out of range. Borrowed from st. */
const ml_kv *ml_safetensors_metadata(const ml_safetensors *st, size_t i);
/* ^The value stored under key, or NULL. Borrowed from st. */
const char *ml_safetensors_metadata_find(const ml_safetensors *st, const char *key);

/* ^Product of the shape (1 for a scalar); SIZE_MAX if it overflows or n_dims is over
 * ML_TENSOR_MAX_DIMS. */
size_t ml_tensor_view_n_elements(const ml_tensor_view *t);
/* ^Elements times ml_dtype_size; SIZE_MAX if it overflows, 0 for an unknown dtype. */
size_t ml_tensor_view_n_bytes(const ml_tensor_view *t);
/* ^1 if data is NULL or its address is a multiple of the element size, so that it may be
 * used in place as an array of that type; 0 otherwise. The format does not promise
 * alignment (files from other writers often break it); ml_safetensors_read_f32 works either
 * way. */
int ml_tensor_view_is_aligned(const ml_tensor_view *t);
/* ^Converts a floating tensor (F32, F16, BF16, F64) into ml_tensor_view_n_elements(t) floats
 * at dst, reading bytes one by one (any alignment). F64 values beyond float range become
 * +-inf, NaN stays NaN. ^ML_EINVAL for another dtype; dst untouched then. */
ml_status ml_safetensors_read_f32(const ml_tensor_view *t, float *dst);

/* ---- Pickled checkpoints ---------------------------------------------------------------- */

/* ^ML_OK unless path looks like a pickled PyTorch checkpoint: a name ending .bin, .pt,
 * .pth, .pkl or .ckpt (any case), or a file starting with a zip local header ("PK\3\4",
 * torch.save's format) or a pickle protocol 2-5 opcode (0x80, 2..5). Those give ML_EFORMAT
 * with a message naming tools/convert-upstream-checkpoint, because unpickling can run code.
 * Bytes that start a plausible safetensors header (bytes 4-7 zero, byte 8 '{') are never
 * taken for a pickle. ML_ENOTFOUND / ML_EIO if path cannot be read (after the name check). */
ml_status ml_pickle_refuse(const char *path);
/* ^The same check on a name (may be NULL: skipped) and the first head_len bytes of a file. */
ml_status ml_pickle_refuse_bytes(const char *name, const void *head, size_t head_len);

#ifdef __cplusplus
}
#endif
#endif
