/* manifest.h - checkpoint integrity: a MANIFEST of SHA-256 hashes and sizes for the files of
 * a checkpoint folder, Ed25519 keys, a detached signature over the MANIFEST (MANIFEST.sig),
 * and one call that verifies all of it before a loader trusts a checkpoint. Formats and
 * rules: docs/integrity.md. The library never reads the environment: callers turn
 * MICROLENS_REQUIRE_SIGNATURE into ml_verify_options.require_signature. */
#ifndef MICROLENS_MANIFEST_H
#define MICROLENS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ML_MANIFEST_NAME "MANIFEST"
#define ML_MANIFEST_SIG_NAME "MANIFEST.sig"
/* A MANIFEST larger than this is refused unread: at ~100 bytes a line it allows ~160,000
 * files, far beyond any checkpoint (a handful of files). */
#define ML_MANIFEST_MAX_BYTES (16u * 1024u * 1024u)
/* Raw Ed25519 signature length (RFC 8032). */
#define ML_SIGNATURE_BYTES 64u

/* ---- MANIFEST ----------------------------------------------------------------------------- */

/* ^Writes DIR/MANIFEST atomically (temporary file, fsync, rename; mode 0644): one line
 * "<sha256 hex>  <size>  <name>\n" per regular file in dir, sorted bytewise by name, leaving
 * out MANIFEST and MANIFEST.sig. Files are hashed as opened with O_NOFOLLOW.
 * ^ML_EINVAL naming the entry if dir holds a symbolic link, a subfolder or another
 * non-regular entry, or a file name with a control character (a checkpoint is a flat folder
 * of regular files); ML_ENOTFOUND if dir does not exist; ML_EIO if a file cannot be read or
 * the MANIFEST written. On failure any previous MANIFEST is untouched. A MANIFEST.sig already
 * in dir is left as it is: it no longer verifies if the MANIFEST changed. */
ml_status ml_manifest_write(const char *dir);

typedef struct ml_manifest_verify_options {
    int version;             /* ML_MANIFEST_VERIFY_OPTIONS_VERSION */
    bool allow_extra_files;  /* entries in dir not listed in MANIFEST are ignored rather than
                              * refused. Default false. */
} ml_manifest_verify_options;
#define ML_MANIFEST_VERIFY_OPTIONS_VERSION 1
#define ML_MANIFEST_VERIFY_OPTIONS_INIT {ML_MANIFEST_VERIFY_OPTIONS_VERSION, false}

/* What a verification got through; filled even when it fails (it is a report). */
typedef struct ml_manifest_report {
    size_t n_files;    /* files listed in the MANIFEST (0 if it could not be parsed) */
    size_t n_checked;  /* listed files whose size and SHA-256 matched */
    uint64_t n_bytes;  /* bytes hashed in matching files */
} ml_manifest_report;

/* ^Checks DIR/MANIFEST against the folder: every line well formed ("<64 lowercase hex>  <size
 * in decimal>  <name>\n", names sorted and unique, no '/', not "." or "..", no control
 * characters, not MANIFEST or MANIFEST.sig), every listed file present as a regular file (not
 * a symbolic link: O_NOFOLLOW) with that size and SHA-256, and, unless allow_extra_files, no
 * other entry in dir besides MANIFEST and MANIFEST.sig. opts may be NULL (defaults); report
 * may be NULL.
 * ^ML_EINTEGRITY for any mismatch or malformed line; the message names the file (or
 * "DIR/MANIFEST:LINE") and what was expected. ML_ENOTFOUND if dir does not exist; ML_EIO if a
 * file cannot be read; ML_EINVAL for an unknown options version. */
ml_status ml_manifest_verify(const char *dir, const ml_manifest_verify_options *opts,
                             ml_manifest_report *report);

/* ---- Ed25519 keys and MANIFEST signatures -------------------------------------------------- */

/* ^Creates a new Ed25519 key pair: the private key as PEM PKCS#8 ("BEGIN PRIVATE KEY") at
 * key_path, mode 0600, and the public key as PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") at
 * key_path + ".pub", mode 0644. Both are created with O_EXCL|O_NOFOLLOW: an existing file
 * (or symbolic link) at either path is never overwritten.
 * ^ML_EINVAL if either path exists (nothing is written then); ML_EIO if a file cannot be
 * written (then neither file is left behind). The key is never printed or logged. */
ml_status ml_signing_key_generate(const char *key_path);

/* ^Signs DIR/MANIFEST with the private key at key_path, after checking that the MANIFEST
 * verifies (ml_manifest_verify with default options), and writes the raw 64-byte Ed25519
 * signature over the exact MANIFEST bytes to DIR/MANIFEST.sig atomically (mode 0644).
 * ^ML_EPERM if the key file's mode lets group or others read it (expected 0600 or
 * stricter); ML_EFORMAT if it is not a PEM Ed25519 private key (encrypted keys are refused,
 * never prompted for); ML_ENOTFOUND for a missing key; ML_EINTEGRITY (and no signature
 * written) if the MANIFEST is absent or does not verify. */
ml_status ml_manifest_sign(const char *dir, const char *key_path);

/* ---- One call for loaders ----------------------------------------------------------------- */

typedef enum ml_signature_state {
    ML_SIGNATURE_ABSENT = 0, /* no MANIFEST.sig */
    ML_SIGNATURE_VALID,      /* checked against the public key: good */
    ML_SIGNATURE_INVALID,    /* checked: wrong key, altered MANIFEST, or a malformed .sig */
    ML_SIGNATURE_UNCHECKED   /* present, but no public key was given to check it */
} ml_signature_state;

/* ^"absent", "valid", "invalid", "unchecked"; "unknown" outside the enum. */
const char *ml_signature_state_name(ml_signature_state s);

typedef struct ml_verify_options {
    int version;               /* ML_VERIFY_OPTIONS_VERSION */
    const char *pubkey_path;   /* PEM Ed25519 public key (KEY.pub); NULL: a signature present
                                * is reported ML_SIGNATURE_UNCHECKED. Default NULL. */
    bool require_signature;    /* refuse unless the signature is ML_SIGNATURE_VALID (so absent
                                * or unchecked is refused). Default false; the CLI sets it from
                                * --require-signature or MICROLENS_REQUIRE_SIGNATURE=1. */
    bool allow_extra_files;    /* as in ml_manifest_verify_options. Default false. */
} ml_verify_options;
#define ML_VERIFY_OPTIONS_VERSION 1
#define ML_VERIFY_OPTIONS_INIT {ML_VERIFY_OPTIONS_VERSION, NULL, false, false}

typedef struct ml_verify_result {
    ml_signature_state signature;
    ml_manifest_report manifest;
} ml_verify_result;

/* ^Verifies a checkpoint folder before it is loaded: reads DIR/MANIFEST, then the signature
 * (checked first, so a forged MANIFEST is refused before any file is hashed), then every
 * file as ml_manifest_verify does. result may be NULL; when given it is filled even on
 * failure, as far as verification got. opts may be NULL (defaults).
 * ^ML_EINTEGRITY if the MANIFEST is missing or does not verify, if a signature checked against
 * pubkey_path is invalid (always, whether required or not), or if require_signature is set
 * and the signature is absent or unchecked. ML_ENOTFOUND for a missing folder or public key
 * file; ML_EFORMAT for a public key file that is not PEM Ed25519; ML_EIO for read errors;
 * ML_EINVAL for an unknown options version. */
ml_status ml_checkpoint_verify(const char *dir, const ml_verify_options *opts,
                               ml_verify_result *result);

/* ^For a weights file outside a checkpoint of ours (embed --weights, train --init): when a
 * MANIFEST sits in the same folder, or a signature is required, verifies that folder as
 * ml_checkpoint_verify does (other files in the folder are allowed) AND that the MANIFEST lists
 * the weights file itself, so an unrelated MANIFEST cannot vouch for it. *was_checked (may be
 * NULL) says whether a MANIFEST was checked. ^ML_EINTEGRITY naming the file on any failure. */
ml_status ml_weights_verify(const char *weights_path, const ml_verify_options *opts,
                            bool *was_checked);

#ifdef __cplusplus
}
#endif
#endif
