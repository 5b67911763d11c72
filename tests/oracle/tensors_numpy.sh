#!/bin/bash
# tensors_numpy.sh - `microlens tensors --json` against an independent reading of the raw
# bytes with json + numpy (tests/oracle/tensors_numpy.py): the reference implementation's
# sample files, the PEFT adapter, and a file written here with NaN, infinities, BF16, F16
# subnormals and F64 values near DBL_MAX.
set -u
: "${MICROLENS:?}"
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs /usr/bin/python3 with numpy" >&2; exit 1; fi
    echo "SKIP: /usr/bin/python3 with numpy not found"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 tests/oracle/tensors_numpy.py write "$T/odd.safetensors" || exit 1
status=0
for f in ../shared/fixtures/safetensors-samples/*.safetensors \
         ../shared/fixtures/peft-tiny-lora/adapter_model.safetensors "$T/odd.safetensors"; do
    "$MICROLENS" tensors "$f" --json >"$T/r.json" || { echo "FAIL: tensors $f exited $?"; status=1; continue; }
    /usr/bin/python3 tests/oracle/tensors_numpy.py check "$f" "$T/r.json" || status=1
done
exit $status
