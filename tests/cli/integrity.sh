#!/bin/bash
# integrity.sh - `microlens keygen`, `manifest`, `sign` and `verify` from the outside: key file
# modes, no overwrite, key material never printed, sign refusing a readable key, exit codes
# 0 / 3 / 4 for ok / bad input / integrity refused, the environment switch, and --json.
# The signature and hashes are checked with openssl and sha256sum in
# tests/oracle/integrity_openssl.sh.
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
C="$T/ckpt"
mkdir -p "$C" "$T/keys"
printf 'weights' >"$C/model.safetensors"
printf '{"step": 7}' >"$C/trainer_state.json"

for cmd in keygen manifest sign verify; do
    run 0 "$MICROLENS" $cmd --help
    expect_in "$T/out" "^Usage: microlens $cmd"
    expect_in "$T/out" "Examples:"
done
run 2 "$MICROLENS" keygen
expect_in "$T/err" "needs --out"
run 2 "$MICROLENS" sign "$C"
expect_in "$T/err" "needs --key"
run 2 "$MICROLENS" verify

# keygen: 0600 private key, 0644 public key, never overwritten, never printed.
run 0 "$MICROLENS" keygen --out "$T/keys/k"
expect_eq "$(stat -c %a "$T/keys/k")" 600 "private key mode"
expect_eq "$(stat -c %a "$T/keys/k.pub")" 644 "public key mode"
expect_in "$T/keys/k" "^-----BEGIN PRIVATE KEY-----$"
expect_in "$T/keys/k.pub" "^-----BEGIN PUBLIC KEY-----$"
secret=$(sed -n 2p "$T/keys/k")
expect_not_in "$T/out" "$secret"
expect_not_in "$T/err" "$secret"
expect_not_in "$T/out" "PRIVATE KEY-----"
cp "$T/keys/k" "$T/keys/k.before"
run 2 "$MICROLENS" keygen --out "$T/keys/k"
expect_in "$T/err" "already exists"
expect_eq "$(cmp -s "$T/keys/k" "$T/keys/k.before" && echo same)" same "key untouched"
run 0 "$MICROLENS" keygen --out "$T/keys/other"

# An unsigned checkpoint: no MANIFEST is refused, then manifest makes it verify.
run 4 "$MICROLENS" verify "$C"
expect_in "$T/err" "no MANIFEST"
run 0 "$MICROLENS" manifest "$C"
expect_in "$T/out" "wrote .*/MANIFEST"
run 0 "$MICROLENS" verify "$C"
expect_in "$T/out" "^ok: .*: 2 files, 18 bytes match MANIFEST; not signed$"
run 4 "$MICROLENS" verify "$C" --require-signature
expect_in "$T/err" "no MANIFEST.sig but a signature is required"
MICROLENS_REQUIRE_SIGNATURE=1 run 4 "$MICROLENS" verify "$C"
MICROLENS_REQUIRE_SIGNATURE=0 run 0 "$MICROLENS" verify "$C"

# sign refuses a key others can read; 0600 works.
chmod 644 "$T/keys/k"
run 1 "$MICROLENS" sign "$C" --key "$T/keys/k"
expect_in "$T/err" "mode 0644 .*chmod 600"
expect_eq "$([[ -e $C/MANIFEST.sig ]] && echo yes || echo no)" no "no signature written"
chmod 600 "$T/keys/k"
run 0 "$MICROLENS" sign "$C" --key "$T/keys/k"
expect_not_in "$T/out" "$secret"
expect_not_in "$T/err" "$secret"
expect_eq "$(stat -c %s "$C/MANIFEST.sig")" 64 "raw signature size"

run 0 "$MICROLENS" verify "$C"
expect_in "$T/out" "signature present, not checked \(give --pubkey\)"
run 4 "$MICROLENS" verify "$C" --require-signature
expect_in "$T/err" "no public key was given"
run 0 "$MICROLENS" verify "$C" --pubkey "$T/keys/k.pub" --require-signature
expect_in "$T/out" "signature valid"
MICROLENS_REQUIRE_SIGNATURE=1 run 0 "$MICROLENS" verify "$C" --pubkey "$T/keys/k.pub" --json
expect_eq "$(json_get "$T/out" 'd["verdict"]')" ok "verdict"
expect_eq "$(json_get "$T/out" 'd["signature"]')" valid "signature state"
expect_eq "$(json_get "$T/out" 'd["files_checked"]')" 2 "files checked"
expect_eq "$(json_get "$T/out" 'd["require_signature"]')" True "require from env"
run 0 "$MICROLENS" verify "$C" --quiet
expect_empty "$T/out"

# Wrong key: refused even when not required.
run 4 "$MICROLENS" verify "$C" --pubkey "$T/keys/other.pub" --json
expect_in "$T/err" "MANIFEST.sig: signature does not verify"
expect_eq "$(json_get "$T/out" 'd["verdict"]')" refused "verdict"
expect_eq "$(json_get "$T/out" 'd["signature"]')" invalid "signature state"
expect_eq "$(json_get "$T/out" 'd["error"]["code"]')" EINTEGRITY "error code"

# A flipped byte: refused with the file named, signature or not.
printf 'weightz' >"$C/model.safetensors"
run 4 "$MICROLENS" verify "$C" --pubkey "$T/keys/k.pub"
expect_in "$T/err" "model.safetensors: SHA-256 does not match MANIFEST line 1"
run 4 "$MICROLENS" sign "$C" --key "$T/keys/k"
expect_in "$T/err" "cannot sign"
# Re-manifesting the tampered file makes the hashes agree; the old signature does not.
run 0 "$MICROLENS" manifest "$C"
expect_in "$T/err" "note: .*MANIFEST.sig signs the previous MANIFEST"
run 4 "$MICROLENS" verify "$C" --pubkey "$T/keys/k.pub"
expect_in "$T/err" "signature does not verify"
run 0 "$MICROLENS" verify "$C"
run 0 "$MICROLENS" sign "$C" --key "$T/keys/k"
run 0 "$MICROLENS" verify "$C" --pubkey "$T/keys/k.pub"

# Extra files and symbolic links are refused; a link is never followed.
printf 'x' >"$C/extra.bin"
run 4 "$MICROLENS" verify "$C"
expect_in "$T/err" "extra.bin: not listed in MANIFEST"
rm "$C/extra.bin"
mv "$C/trainer_state.json" "$T/state.json"
ln -s "$T/state.json" "$C/trainer_state.json"
run 4 "$MICROLENS" verify "$C"
expect_in "$T/err" "trainer_state.json: is a symbolic link"
run 2 "$MICROLENS" manifest "$C"
expect_in "$T/err" "is a symbolic link"

# Bad input rather than integrity: exit 3.
run 3 "$MICROLENS" verify "$T/no-such-folder"
expect_in "$T/err" "no such checkpoint folder"
rm "$C/trainer_state.json"
mv "$T/state.json" "$C/trainer_state.json"
run 3 "$MICROLENS" verify "$C" --pubkey "$T/keys/none.pub"
cp "$C/trainer_state.json" "$T/keys/bad.pub"
run 3 "$MICROLENS" verify "$C" --pubkey "$T/keys/bad.pub"
expect_in "$T/err" "not an unencrypted PEM Ed25519 public key"
finish
