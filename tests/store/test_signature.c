/* test_signature.c - what keys, signing and ml_checkpoint_verify promise: key files with the
 * right modes and never overwritten, a good signature valid, a wrong key, a tampered MANIFEST
 * or a malformed .sig invalid, require_signature refusing unsigned and unchecked checkpoints,
 * and sign refusing a readable key or a checkpoint that does not verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/manifest.h"
#include "ml_test.h"

static char dir[64];  /* the checkpoint */
static char keys[64]; /* key files, outside it */

static const char *in(const char *base, const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", base, name);
    return p[k];
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static size_t read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static void remove_tree(const char *d) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    CHECK(system(cmd) == 0);
}

/* A fresh signed-able checkpoint with a MANIFEST, and a fresh key folder with key "k". */
static void setup(void) {
    if (dir[0]) remove_tree(dir);
    if (keys[0]) remove_tree(keys);
    snprintf(dir, sizeof dir, "/tmp/ml-sig-ckpt-XXXXXX");
    snprintf(keys, sizeof keys, "/tmp/ml-sig-keys-XXXXXX");
    CHECK(mkdtemp(dir) != NULL && mkdtemp(keys) != NULL);
    write_file(in(dir, "model.safetensors"), "weights");
    write_file(in(dir, "trainer_state.json"), "{\"step\": 1}");
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    CHECK_STATUS(ml_signing_key_generate(in(keys, "k")), ML_OK);
}

static ml_status verify(const char *pub, bool require, ml_verify_result *r) {
    ml_verify_options o = ML_VERIFY_OPTIONS_INIT;
    o.pubkey_path = pub;
    o.require_signature = require;
    return ml_checkpoint_verify(dir, &o, r);
}

static void test_signature__keygen_modes_and_pem(void) {
    setup();
    struct stat sb;
    CHECK(stat(in(keys, "k"), &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(stat(in(keys, "k.pub"), &sb) == 0 && (sb.st_mode & 0777) == 0644);
    char text[4096];
    read_file(in(keys, "k"), text, sizeof text);
    CHECK(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    read_file(in(keys, "k.pub"), text, sizeof text);
    CHECK(strncmp(text, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
}

static void test_signature__keygen_never_overwrites(void) {
    setup();
    char before[4096], after[4096];
    read_file(in(keys, "k"), before, sizeof before);
    CHECK_STATUS(ml_signing_key_generate(in(keys, "k")), ML_EINVAL);
    CHECK_ERR_CONTAINS("already exists");
    read_file(in(keys, "k"), after, sizeof after);
    CHECK_STR(after, before);
    /* Only the .pub exists: refused too, and no private key is left behind. */
    write_file(in(keys, "j.pub"), "mine");
    CHECK_STATUS(ml_signing_key_generate(in(keys, "j")), ML_EINVAL);
    CHECK_ERR_CONTAINS("j.pub: already exists");
    CHECK(access(in(keys, "j"), F_OK) != 0);
    /* A dangling symbolic link is not followed to create its target. */
    CHECK(symlink(in(keys, "elsewhere"), in(keys, "l")) == 0);
    CHECK_STATUS(ml_signing_key_generate(in(keys, "l")), ML_EINVAL);
    CHECK(access(in(keys, "elsewhere"), F_OK) != 0);
}

static void test_signature__sign_then_verify_valid(void) {
    setup();
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    struct stat sb;
    CHECK(stat(in(dir, "MANIFEST.sig"), &sb) == 0 && sb.st_size == 64);
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "k.pub"), true, &r), ML_OK);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_VALID);
    CHECK_EQ_INT(r.manifest.n_checked, 2);
    CHECK_STR(ml_signature_state_name(r.signature), "valid");
}

static void test_signature__present_without_pubkey_is_unchecked(void) {
    setup();
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    ml_verify_result r;
    CHECK_STATUS(verify(NULL, false, &r), ML_OK);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_UNCHECKED);
    CHECK_STATUS(verify(NULL, true, &r), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("no public key was given");
}

static void test_signature__wrong_key_invalid(void) {
    setup();
    CHECK_STATUS(ml_signing_key_generate(in(keys, "other")), ML_OK);
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "other.pub"), false, &r), ML_EINTEGRITY);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_INVALID);
    CHECK_ERR_CONTAINS("MANIFEST.sig: signature does not verify");
    CHECK_EQ_INT(r.manifest.n_checked, 0); /* refused before hashing */
}

/* The files change and the MANIFEST is rewritten to match: hashes agree, the signature not. */
static void test_signature__manifest_rewritten_after_signing_invalid(void) {
    setup();
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    write_file(in(dir, "model.safetensors"), "backdoor");
    CHECK_STATUS(ml_manifest_write(dir), ML_OK);
    CHECK_STATUS(ml_manifest_verify(dir, NULL, NULL), ML_OK);
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "k.pub"), false, &r), ML_EINTEGRITY);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_INVALID);
}

static void test_signature__tampered_file_after_signing_refused(void) {
    setup();
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    write_file(in(dir, "model.safetensors"), "weighty");
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "k.pub"), true, &r), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("model.safetensors: SHA-256 does not match");
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_VALID);
}

static void test_signature__malformed_sig_invalid(void) {
    setup();
    write_file(in(dir, "MANIFEST.sig"), "short");
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "k.pub"), false, &r), ML_EINTEGRITY);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_INVALID);
    CHECK_ERR_CONTAINS("5 bytes (expected a 64-byte raw Ed25519 signature)");
}

static void test_signature__require_on_unsigned_refused(void) {
    setup();
    ml_verify_result r;
    CHECK_STATUS(verify(NULL, false, &r), ML_OK);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_ABSENT);
    CHECK_STATUS(verify(in(keys, "k.pub"), true, &r), ML_EINTEGRITY);
    CHECK_EQ_INT(r.signature, ML_SIGNATURE_ABSENT);
    CHECK_ERR_CONTAINS("no MANIFEST.sig but a signature is required");
}

static void test_signature__sign_refuses_readable_key(void) {
    setup();
    CHECK(chmod(in(keys, "k"), 0644) == 0);
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_EPERM);
    CHECK_ERR_CONTAINS("mode 0644");
    CHECK_ERR_CONTAINS("chmod 600");
    CHECK(access(in(dir, "MANIFEST.sig"), F_OK) != 0);
    CHECK(chmod(in(keys, "k"), 0400) == 0); /* stricter than 0600 is fine */
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
}

static void test_signature__sign_refuses_checkpoint_that_does_not_verify(void) {
    setup();
    write_file(in(dir, "extra.txt"), "x");
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("cannot sign");
    CHECK_ERR_CONTAINS("extra.txt: not listed");
    CHECK(access(in(dir, "MANIFEST.sig"), F_OK) != 0);
    CHECK(unlink(in(dir, "MANIFEST")) == 0);
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("no MANIFEST");
}

static void test_signature__bad_key_files(void) {
    setup();
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "missing")), ML_ENOTFOUND);
    CHECK(chmod(in(keys, "k.pub"), 0600) == 0); /* a public key is not a private key */
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k.pub")), ML_EFORMAT);
    CHECK_ERR_CONTAINS("not an unencrypted PEM Ed25519 private key");
    CHECK_STATUS(ml_manifest_sign(dir, in(keys, "k")), ML_OK);
    ml_verify_result r;
    CHECK_STATUS(verify(in(keys, "k"), false, &r), ML_EFORMAT); /* private given as public */
    CHECK_STATUS(verify(in(keys, "nope.pub"), false, &r), ML_ENOTFOUND);
}

static void test_signature__missing_manifest_and_bad_version(void) {
    setup();
    CHECK(unlink(in(dir, "MANIFEST")) == 0);
    ml_verify_result r;
    CHECK_STATUS(verify(NULL, false, &r), ML_EINTEGRITY);
    CHECK_ERR_CONTAINS("no MANIFEST");
    ml_verify_options o = ML_VERIFY_OPTIONS_INIT;
    o.version = 0;
    CHECK_STATUS(ml_checkpoint_verify(dir, &o, NULL), ML_EINVAL);
    CHECK_STATUS(ml_checkpoint_verify("/nonexistent/ckpt", NULL, NULL), ML_ENOTFOUND);
}

int main(void) {
    RUN(test_signature__keygen_modes_and_pem);
    RUN(test_signature__keygen_never_overwrites);
    RUN(test_signature__sign_then_verify_valid);
    RUN(test_signature__present_without_pubkey_is_unchecked);
    RUN(test_signature__wrong_key_invalid);
    RUN(test_signature__manifest_rewritten_after_signing_invalid);
    RUN(test_signature__tampered_file_after_signing_refused);
    RUN(test_signature__malformed_sig_invalid);
    RUN(test_signature__require_on_unsigned_refused);
    RUN(test_signature__sign_refuses_readable_key);
    RUN(test_signature__sign_refuses_checkpoint_that_does_not_verify);
    RUN(test_signature__bad_key_files);
    RUN(test_signature__missing_manifest_and_bad_version);
    remove_tree(dir);
    remove_tree(keys);
    TEST_MAIN_END();
}
