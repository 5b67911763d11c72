#!/bin/bash
# lora_numpy.sh - LoRA spectra (src/analyze/lora.c: thin QR/LQ + r x r SVD) against numpy's SVD
# of the dense update scale·B@A (tests/oracle/lora_numpy.py), to 1e-4 relative: every singular
# value, frob_sq, effective and stable rank, utilisation, condition number, energy share, HHI
# and update cosines. Cases: the PEFT fixture (GPT-2-small shapes, r=8), the fixture against a
# perturbed copy (cosines), and adapters written here with F16/BF16 factors, rank_pattern,
# alpha_pattern, rsLoRA, r > min(d), a zero B, a rank-deficient B and a conv-shaped pair.
#
# The C numbers come from the unit-test binary's dump mode (test_lora_spectra --dump), which
# CMake builds beside the CLI: ctest gives the CLI's path in $MICROLENS, so the binary is
# $(dirname $MICROLENS)/test_lora_spectra unless $ML_TEST_LORA_SPECTRA names another.
set -u
: "${MICROLENS:?}"
BIN=${ML_TEST_LORA_SPECTRA:-$(dirname "$MICROLENS")/test_lora_spectra}
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs /usr/bin/python3 with numpy" >&2; exit 1; fi
    echo "SKIP: /usr/bin/python3 with numpy not found"
    exit 0
fi
[[ -x $BIN ]] || { echo "FAIL: $BIN not built (cmake --build ... --target test_lora_spectra)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
PY=(/usr/bin/python3 tests/oracle/lora_numpy.py)
FIX=../shared/fixtures/peft-tiny-lora
"${PY[@]}" write "$T/gen" || exit 1
"${PY[@]}" perturb "$FIX/adapter_model.safetensors" "$T/perturbed.safetensors" 7 || exit 1
status=0
# case: WEIGHTS CONFIG [WEIGHTS2 CONFIG2]
run_case() {
    "$BIN" --dump "$@" >"$T/dump.json" || { echo "FAIL: test_lora_spectra --dump $* exited $?"; status=1; return; }
    "${PY[@]}" check "$1" "$2" "$T/dump.json" "${@:3}" || status=1
}
# the fixture's spectra, and its cosines with the perturbed copy (one dense SVD pass: ~10 s)
run_case "$FIX/adapter_model.safetensors" "$FIX/adapter_config.json" "$T/perturbed.safetensors" "$FIX/adapter_config.json"
run_case "$T/gen/a/adapter_model.safetensors" "$T/gen/a/adapter_config.json" \
    "$T/gen/b/adapter_model.safetensors" "$T/gen/b/adapter_config.json"
run_case "$T/gen/b/adapter_model.safetensors" "$T/gen/b/adapter_config.json" \
    "$T/gen/a/adapter_model.safetensors" "$T/gen/a/adapter_config.json"
run_case "$T/gen/a/adapter_model.safetensors" - "$T/gen/a/adapter_model.safetensors" -
exit $status
