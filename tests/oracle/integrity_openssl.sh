#!/bin/bash
# integrity_openssl.sh - the integrity files checked by independent tools: every MANIFEST
# line's hash equals coreutils' sha256sum and its size stat's, the openssl command line
# verifies MANIFEST.sig with KEY.pub (and rejects it after a one-byte change), and a
# signature made by openssl with our private key is accepted by `microlens verify`.
set -u
: "${MICROLENS:?}"
for tool in openssl sha256sum; do
    if ! command -v $tool >/dev/null; then
        if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs $tool" >&2; exit 1; fi
        echo "SKIP: $tool not found"
        exit 0
    fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
C="$T/ckpt"
mkdir "$C"
cp ../shared/fixtures/peft-tiny-lora/adapter_model.safetensors ../shared/fixtures/peft-tiny-lora/adapter_config.json "$C/"
head -c 3000000 /dev/urandom >"$C/optimizer.safetensors" # several hash chunks
printf '' >"$C/empty"
printf 'name with spaces\n' >"$C/a b.txt"
"$MICROLENS" manifest "$C" >/dev/null || fail "manifest exited $?"
"$MICROLENS" keygen --out "$T/k" >/dev/null || fail "keygen exited $?"
"$MICROLENS" sign "$C" --key "$T/k" >/dev/null || fail "sign exited $?"

# Hashes and sizes: ours vs sha256sum and stat, file by file, same order as `LC_ALL=C ls`.
(cd "$C" && LC_ALL=C ls -A | grep -v -x -e MANIFEST -e MANIFEST.sig | while IFS= read -r f; do
    printf '%s  %s  %s\n' "$(sha256sum -- "$f" | cut -d' ' -f1)" "$(stat -c %s -- "$f")" "$f"
done) >"$T/expected"
cmp -s "$T/expected" "$C/MANIFEST" || { diff "$T/expected" "$C/MANIFEST" >&2; fail "MANIFEST differs from sha256sum/stat"; }
echo "MANIFEST: $(wc -l <"$C/MANIFEST") lines equal sha256sum + stat"

# openssl verifies our signature, and refuses it for a changed MANIFEST.
openssl pkeyutl -verify -pubin -inkey "$T/k.pub" -rawin -in "$C/MANIFEST" -sigfile "$C/MANIFEST.sig" >"$T/o" 2>&1 \
    || { cat "$T/o" >&2; fail "openssl does not verify MANIFEST.sig"; }
echo "openssl: $(cat "$T/o")"
sed 's/^\(.\)/X/' "$C/MANIFEST" | head -c "$(stat -c %s "$C/MANIFEST")" >"$T/forged"
if openssl pkeyutl -verify -pubin -inkey "$T/k.pub" -rawin -in "$T/forged" -sigfile "$C/MANIFEST.sig" >/dev/null 2>&1; then
    fail "openssl accepted the signature for a changed MANIFEST"
fi
# openssl reads our PEM keys, and its signature with our private key verifies with us.
openssl pkeyutl -sign -inkey "$T/k" -rawin -in "$C/MANIFEST" -out "$T/sig" || fail "openssl cannot sign with our key"
cmp -s "$T/sig" "$C/MANIFEST.sig" || fail "Ed25519 is deterministic: openssl's signature should equal ours"
cp "$T/sig" "$C/MANIFEST.sig"
"$MICROLENS" verify "$C" --pubkey "$T/k.pub" --require-signature || fail "verify refused openssl's signature"
openssl pkey -in "$T/k" -noout -text 2>/dev/null | grep -q "ED25519 Private-Key" || fail "not an Ed25519 key"
echo "ok"
