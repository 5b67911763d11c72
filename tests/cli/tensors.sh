#!/bin/bash
# tensors.sh - `microlens tensors` from the outside: the aligned table and JSON for the
# reference samples and the PEFT adapter, refusals with the rule named (exit 3), pickles
# refused with the converter named, and tensor names unable to drive the terminal.
# Values are checked against numpy in tests/oracle/tensors_numpy.sh.
source "$(dirname "$0")/lib.bash"
S=../shared/fixtures/safetensors-samples
P=../shared/fixtures/peft-tiny-lora

run 0 "$MICROLENS" tensors --help
expect_in "$T/out" "^Usage: microlens tensors FILE"
expect_in "$T/out" "tools/convert-upstream-checkpoint"
expect_in "$T/out" "Examples:"
run 0 "$MICROLENS" --help
expect_in "$T/out" "tensors +list a safetensors"
run 2 "$MICROLENS" tensors
run 2 "$MICROLENS" tensors "$S/f.safetensors" --bogus

run 0 "$MICROLENS" tensors "$S/overall.safetensors"
expect_in "$T/out" "^metadata:$"
expect_in "$T/out" "^  test = a$"
expect_in "$T/out" "^tensors: 9 \(168 bytes\)$"
expect_in "$T/out" "^name +dtype +shape +bytes +min +max +mean +l2_norm +nan +inf$"
expect_in "$T/out" "^e +F16 +\[6\] +12 +-3 +2 +-0.5 +4.3589 +0 +0$"
expect_in "$T/out" "^i +I32 +\[6\] +24 +- +- +- +- +- +-$"
expect_empty "$T/err"
# Aligned: every row of the table is as wide as the title row up to the last column.
title_col=$(grep -b -o "dtype" <(grep "^name" "$T/out") | head -1 | cut -d: -f1)
expect_eq "$(grep -E '^[A-Za-z] +[A-Z]' "$T/out" | awk -v c="$title_col" '{ if (index($0, $2) - 1 != c) bad++ } END { print bad + 0 }')" 0 "dtype column aligned"

run 0 "$MICROLENS" tensors "$P/adapter_model.safetensors" --json
expect_eq "$(json_get "$T/out" 'd["n_tensors"]')" 24 "PEFT tensor count"
expect_eq "$(json_get "$T/out" 'd["tensors"][0]["dtype"]')" F32 "PEFT dtype"
expect_eq "$(json_get "$T/out" 'len(d["metadata"])')" 0 "PEFT metadata"
expect_eq "$(json_get "$T/out" 'all(t["stats"]["n_finite"] == t["n_elements"] for t in d["tensors"])')" True "PEFT all finite"

# Broken files: exit 3, the reader's rule named, nothing on stdout.
printf 'abcdefgh{}' >"$T/huge.safetensors"
run 3 "$MICROLENS" tensors "$T/huge.safetensors"
expect_in "$T/err" "^microlens: .*huge.safetensors: .*\(rule: header at most 100 MB\)"
expect_empty "$T/out"
head -c 100 "$S/f.safetensors" >"$T/cut.safetensors"
run 3 "$MICROLENS" tensors "$T/cut.safetensors" --json
expect_in "$T/err" "rule: "
expect_empty "$T/out"
run 3 "$MICROLENS" tensors "$T/none.safetensors"

# Pickles: by name, and by content (zip magic, torch.save's format) under an innocent name.
cp "$S/f.safetensors" "$T/model.bin"
run 3 "$MICROLENS" tensors "$T/model.bin"
expect_in "$T/err" "tools/convert-upstream-checkpoint"
printf 'PK\003\004rest-of-a-zip' >"$T/zip.safetensors"
run 3 "$MICROLENS" tensors "$T/zip.safetensors"
expect_in "$T/err" "tools/convert-upstream-checkpoint"

# A tensor name and metadata holding an escape sequence are printed with '?' instead.
/usr/bin/python3 - "$T/esc.safetensors" <<'PY'
import json, struct, sys
h = {"__metadata__": {"k": "v\u001b[31m"}, "x\u001b]0;pwned\u0007": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
t = json.dumps(h).encode()
t += b" " * ((8 - len(t) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(t)) + t + struct.pack("<f", 1.5))
PY
run 0 "$MICROLENS" tensors "$T/esc.safetensors"
expect_not_in "$T/out" $'\e'
expect_not_in "$T/out" $'\a'
expect_in "$T/out" "^x\?]0;pwned\? +F32"
run 0 "$MICROLENS" tensors "$T/esc.safetensors" --json
expect_not_in "$T/out" $'\e'
expect_eq "$(json_get "$T/out" 'd["tensors"][0]["name"] == "x\x1b]0;pwned\x07"')" True "JSON keeps the exact name"
finish
