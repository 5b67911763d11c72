/* manifest.h (internal) - the pieces of MANIFEST checking that signature.c shares: opening the
 * checkpoint folder, reading a file in it without following links, and checking MANIFEST
 * bytes already read (so that the bytes signed or verified are the bytes checked). */
#ifndef ML_STORE_MANIFEST_H
#define ML_STORE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/manifest.h"

/* Opens dir as a folder (O_DIRECTORY; the folder itself may be reached through a link).
 * ML_ENOTFOUND if missing, ML_EINVAL if not a folder, ML_EIO otherwise. */
ml_status ml__checkpoint_dir_open(const char *dir, int *dirfd);

/* Reads dir/name (relative to dirfd, O_NOFOLLOW) into a malloc'd NUL-terminated buffer that
 * the caller frees with free(); *len excludes the NUL. ML_ENOTFOUND if absent (message
 * says so); ML_EINTEGRITY for a symbolic link, a non-regular file or more than max_bytes;
 * ML_EIO for read errors. Outputs untouched on failure. */
ml_status ml__read_at(int dirfd, const char *dir, const char *name, size_t max_bytes,
                      char **data, size_t *len);

/* Checks MANIFEST bytes (len bytes at bytes, as read from dir) against the folder open at
 * dirfd: the rules of ml_manifest_verify. report (may be NULL) is filled as far as it got. */
ml_status ml__manifest_check(int dirfd, const char *dir, const char *bytes, size_t len,
                             bool allow_extra_files, ml_manifest_report *report);

#endif
