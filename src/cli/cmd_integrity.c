/* cmd_integrity.c - `microlens keygen`, `manifest`, `sign` and `verify`: thin layers over
 * include/microlens/manifest.h. Key material is never printed; the only secret input is a
 * 0600 key file named by a flag. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "flags.h"
#include "microlens/manifest.h"

/* ---- keygen --------------------------------------------------------------------------------- */

static const char *const keygen_examples[] = {
    "microlens keygen --out ~/.config/microlens/signing.key",
    "microlens keygen --out release.key && microlens sign runs/r1/checkpoints/step-0000100 "
    "--key release.key", NULL};

static const cli_command keygen_cmd = {
    "keygen", "--out KEY",
    "Creates an Ed25519 key pair for signing checkpoints: the private key at KEY (PEM PKCS#8,\n"
    "mode 0600) and the public key at KEY.pub (PEM, mode 0644).",
    "Existing files are never overwritten: if KEY or KEY.pub exists, nothing is written.\n"
    "Keep KEY secret; give KEY.pub to whoever verifies (microlens verify --pubkey KEY.pub).",
    keygen_examples, 0};

int cmd_keygen(int argc, char **argv) {
    const char *out = NULL;
    const cli_flag flags[] = {
        {"--out", "KEY", CLI_STRING, &out, "private key path; the public key goes to KEY.pub",
         NULL},
    };
    int rc = cli_parse(argc, argv, &keygen_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!out) return cli_usage_error("keygen needs --out KEY");
    int st = ml_signing_key_generate(out);
    if (st != ML_OK) return cli_fail(st);
    printf("wrote %s (Ed25519 private key, mode 0600) and %s.pub (public key)\n", out, out);
    return EXIT_OK;
}

/* ---- manifest ------------------------------------------------------------------------------- */

static const char *const manifest_examples[] = {
    "microlens manifest runs/r1/checkpoints/step-0000100",
    "microlens manifest export/ && microlens verify export/", NULL};

static const cli_command manifest_cmd = {
    "manifest", "CKPT_DIR",
    "Writes CKPT_DIR/MANIFEST (atomically): the SHA-256 and size of every file in the folder.",
    "The folder must be flat and hold regular files only: a symbolic link or a subfolder is\n"
    "refused (exit 2), never followed. An existing MANIFEST is replaced; if the folder holds\n"
    "a MANIFEST.sig, sign again afterwards, since the old signature covers the old MANIFEST.\n",
    manifest_examples, 1};

int cmd_manifest(int argc, char **argv) {
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &manifest_cmd, NULL, 0, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    int st = ml_manifest_write(pos[0]);
    if (st != ML_OK) return cli_fail(st);
    printf("wrote %s/" ML_MANIFEST_NAME "\n", pos[0]);
    char sig[4096];
    struct stat sb;
    snprintf(sig, sizeof sig, "%s/" ML_MANIFEST_SIG_NAME, pos[0]);
    if (lstat(sig, &sb) == 0)
        fprintf(stderr, "microlens: note: %s signs the previous MANIFEST; if the files changed, "
                "sign again (microlens sign)\n", sig);
    return EXIT_OK;
}

/* ---- sign ----------------------------------------------------------------------------------- */

static const char *const sign_examples[] = {
    "microlens sign runs/r1/checkpoints/step-0000100 --key ~/.config/microlens/signing.key",
    "microlens manifest export/ && microlens sign export/ --key release.key", NULL};

static const cli_command sign_cmd = {
    "sign", "CKPT_DIR --key KEY",
    "Signs CKPT_DIR/MANIFEST with an Ed25519 private key, writing CKPT_DIR/MANIFEST.sig.",
    "The MANIFEST must exist and verify first (every file present, same size and SHA-256, no\n"
    "extra files): a checkpoint that does not verify is refused (exit 4), not signed. KEY\n"
    "must be mode 0600 or stricter (refused otherwise, exit 1).\n",
    sign_examples, 1};

int cmd_sign(int argc, char **argv) {
    const char *key = NULL, *pos[1] = {NULL};
    const cli_flag flags[] = {
        {"--key", "KEY", CLI_STRING, &key, "Ed25519 private key from `microlens keygen`", NULL},
    };
    int rc = cli_parse(argc, argv, &sign_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!key) return cli_usage_error("sign needs --key KEY");
    int st = ml_manifest_sign(pos[0], key);
    if (st != ML_OK) return cli_fail(st);
    printf("wrote %s/" ML_MANIFEST_SIG_NAME "\n", pos[0]);
    return EXIT_OK;
}

/* ---- verify --------------------------------------------------------------------------------- */

typedef struct verify_flags {
    const char *pubkey;
    bool require_signature, json, quiet;
} verify_flags;

static const char *const verify_examples[] = {
    "microlens verify runs/r1/checkpoints/step-0000100",
    "microlens verify export/ --pubkey release.key.pub --require-signature",
    "MICROLENS_REQUIRE_SIGNATURE=1 microlens verify export/ --pubkey release.key.pub --json",
    NULL};

static const cli_command verify_cmd = {
    "verify", "CKPT_DIR [--pubkey KEY.pub] [--require-signature] [--json]",
    "Verifies a checkpoint folder: its MANIFEST.sig (if any) against --pubkey, then every file\n"
    "against MANIFEST (present, same size and SHA-256, no extra files, no symbolic links).",
    "Signature states: absent, valid, invalid, unchecked (present but no --pubkey given).\n"
    "An invalid signature is always refused; with --require-signature or\n"
    "MICROLENS_REQUIRE_SIGNATURE=1 (any value but empty or 0), absent and unchecked are\n"
    "refused too. Any integrity failure exits 4 and names the file.\n"
    "MANIFEST lines are \"<sha256 hex>  <size>  <name>\" (the hex equals sha256sum's);\n"
    "MANIFEST.sig is the raw 64-byte Ed25519 signature of the MANIFEST bytes, which\n"
    "`openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in MANIFEST -sigfile MANIFEST.sig`\n"
    "checks too. Formats and rules: docs/integrity.md.",
    verify_examples, 1};

static int print_verify_json(const char *dir, const verify_flags *f, const ml_verify_result *r,
                             int st) {
    const char *verdict = st == ML_OK ? "ok" : st == ML_EINTEGRITY ? "refused" : "error";
    json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:b}", "checkpoint", dir, "verdict",
                            verdict, "files_listed", (json_int_t)r->manifest.n_files,
                            "files_checked", (json_int_t)r->manifest.n_checked, "bytes_checked",
                            (json_int_t)r->manifest.n_bytes, "signature",
                            ml_signature_state_name(r->signature), "require_signature",
                            f->require_signature);
    if (doc && f->pubkey) json_object_set_new(doc, "pubkey", json_string(f->pubkey));
    if (doc && st != ML_OK)
        json_object_set_new(doc, "error", json_pack("{s:s, s:s}", "code", ml_status_name(st),
                                                    "message", ml_error_last()->message));
    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        json_decref(doc);
        fprintf(stderr, "microlens: cannot write the JSON report\n");
        return -1;
    }
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

static void print_verify_text(const char *dir, const verify_flags *f, const ml_verify_result *r) {
    printf("ok: %s: %zu files, %llu bytes match MANIFEST; ", dir, r->manifest.n_checked,
           (unsigned long long)r->manifest.n_bytes);
    switch (r->signature) {
    case ML_SIGNATURE_VALID: printf("signature valid (%s)\n", f->pubkey); break;
    case ML_SIGNATURE_UNCHECKED: printf("signature present, not checked (give --pubkey)\n"); break;
    default: printf("not signed\n"); break;
    }
}

int cmd_verify(int argc, char **argv) {
    verify_flags f = {0};
    const char *pos[1] = {NULL};
    const cli_flag flags[] = {
        {"--pubkey", "KEY.pub", CLI_STRING, &f.pubkey,
         "Ed25519 public key to check MANIFEST.sig with", NULL},
        {"--require-signature", NULL, CLI_BOOL, &f.require_signature,
         "refuse unless MANIFEST.sig is valid for --pubkey", "$MICROLENS_REQUIRE_SIGNATURE"},
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout (also on refusal)",
         NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "print nothing on success (exit status only)",
         NULL},
    };
    int rc = cli_parse(argc, argv, &verify_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (cli_env_flag("MICROLENS_REQUIRE_SIGNATURE")) f.require_signature = true;
    ml_verify_options o = ML_VERIFY_OPTIONS_INIT;
    o.pubkey_path = f.pubkey;
    o.require_signature = f.require_signature;
    ml_verify_result r;
    int st = ml_checkpoint_verify(pos[0], &o, &r);
    if (f.json && print_verify_json(pos[0], &f, &r, st) != 0 && st == ML_OK)
        return EXIT_FAILURE_RUNTIME;
    if (st != ML_OK) return cli_fail(st);
    if (!f.json && !f.quiet) print_verify_text(pos[0], &f, &r);
    return EXIT_OK;
}
