#!/bin/bash
# embed_torch.sh - `microlens embed` against PyTorch: the upstream MicrobiomeTransformer module
# (small sizes, d_in 16) with random weights is torch.save'd as upstream does, converted with
# tools/convert-upstream-checkpoint, and every embedding of a synthetic cohort must match
# torch's (eval mode, padded batch, masked mean) within 1e-4 relative, with and without the
# --max-otus cut; the HDF5 /embeddings/<OTU_ID> layout gives byte-identical output; the .pt
# itself is refused with exit 3 naming the converter.
set -u
: "${MICROLENS:?set MICROLENS to the microlens binary}"
if ! /usr/bin/python3 -c 'import torch, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks torch or h5py (apt install python3-torch python3-h5py)" >&2
    [[ ${CI:-} == true ]] && { echo "FAIL: the oracle may not be skipped in CI" >&2; exit 1; }
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
KEY=00112233445566778899aabbccddeeff
export XDG_CONFIG_HOME="$T/config" MICROLENS_ID_KEY=$KEY
py=tests/oracle/embed_torch.py
fail() { echo "FAIL: $*" >&2; exit 1; }

/usr/bin/python3 $py checkpoint "$T/ckpt.pt" || fail "cannot build the checkpoint"
tools/convert-upstream-checkpoint "$T/ckpt.pt" "$T/model.safetensors" --nhead 5 >"$T/conv" \
    || fail "convert-upstream-checkpoint failed"
grep -Eq "^sha256 [0-9a-f]{64}  " "$T/conv" || fail "converter printed no SHA-256"
[[ $(cut -d' ' -f2 "$T/conv") == $(sha256sum "$T/model.safetensors" | cut -d' ' -f1) ]] \
    || fail "printed SHA-256 is not the file's"
"$MICROLENS" synth --out "$T/c" --dim 16 --samples 30 --patients 6 --otus 60 --seed 5 \
    >/dev/null || fail "synth failed"
/usr/bin/python3 $py h5 "$T/c/otu_vectors.safetensors" "$T/vectors.h5" || fail "h5py failed"

embed() { # OUT VECTORS extra flags...
    local out=$1 vec=$2; shift 2
    "$MICROLENS" embed --weights "$T/model.safetensors" --table "$T/c/table.tsv" \
        --otu-vectors "$vec" --out "$out" --quiet "$@" >/dev/null || fail "embed $* exited $?"
}
embed "$T/cut.tsv" "$T/c/otu_vectors.safetensors" --max-otus 8 --batch 7
/usr/bin/python3 $py check "$T/ckpt.pt" "$T/c/table.tsv" "$T/c/otu_vectors.safetensors" \
    "$T/cut.tsv" $KEY 8 || fail "--max-otus 8 differs from torch"
embed "$T/all.tsv" "$T/c/otu_vectors.safetensors" --batch 3 --threads 1
/usr/bin/python3 $py check "$T/ckpt.pt" "$T/c/table.tsv" "$T/c/otu_vectors.safetensors" \
    "$T/all.tsv" $KEY 1024 || fail "default --max-otus differs from torch"
embed "$T/h5.tsv" "$T/vectors.h5" --batch 3 --threads 1
cmp -s "$T/all.tsv" "$T/h5.tsv" || fail "HDF5 vectors give other embeddings than safetensors"

"$MICROLENS" embed --weights "$T/ckpt.pt" --table "$T/c/table.tsv" \
    --otu-vectors "$T/c/otu_vectors.safetensors" --out "$T/x.tsv" 2>"$T/err"
rc=$?
[[ $rc == 3 ]] || fail "a .pt checkpoint gave exit $rc (expected 3)"
grep -q "tools/convert-upstream-checkpoint" "$T/err" || fail "the refusal does not name the tool"
[[ ! -e $T/x.tsv ]] || fail "an output was written for a refused checkpoint"
echo "embed matches torch; HDF5 = safetensors; .pt refused"
