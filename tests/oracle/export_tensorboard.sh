#!/bin/bash
# export_tensorboard.sh - `microlens export --format tensorboard` checked record by record:
# both masked CRC-32C of every TFRecord (an independent CRC in Python), every Event decoded by
# `protoc --decode` against tests/oracle/tensorboard_min.proto (TensorBoard's field numbers),
# scalars equal to run.sqlite's rows as float32 with exact wall times, histograms equal to
# numpy.histogram of the snapshot tensors (tests/oracle/export_tensorboard.py).
set -u
: "${MICROLENS:?}"
missing=
/usr/bin/python3 -c 'import numpy' 2>/dev/null || missing="python3-numpy"
command -v protoc >/dev/null || missing="$missing protobuf-compiler"
if [[ -n $missing ]]; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs$missing" >&2; exit 1; fi
    echo "SKIP: needs$missing"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config"
unset MICROLENS_ID_KEY
proto=tests/oracle/tensorboard_min.proto
"$MICROLENS" synth --out "$T/c" --samples 60 --otus 80 --dim 8 --seed 4 --quiet >/dev/null || exit 1
snap=()
"$MICROLENS" train --help | grep -q -- '--snapshot ' && snap=(--snapshot weights,grads --snapshot-every 10)
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 8 \
    --steps 20 --batch 16 --eval-every 5 --checkpoint-every 10 "${snap[@]}" --quiet \
    --out "$T/run" >/dev/null || { echo "FAIL: train exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_numpy.py snapshots "$T/run" || exit 1
status=0
"$MICROLENS" export "$T/run" --format tensorboard --out "$T/tb" --quiet ||
    { echo "FAIL: export exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_tensorboard.py check "$T/run" "$T/tb" "$proto" || status=1
"$MICROLENS" export "$T/run" --format tensorboard --out "$T/tb-loss" --metrics loss \
    --no-snapshots --quiet || { echo "FAIL: export --metrics exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_tensorboard.py check "$T/run" "$T/tb-loss" "$proto" loss --no-snapshots \
    >/dev/null || status=1
# One record's data alone decodes as a tensorboard.Event too (what a reader of the file sees).
/usr/bin/python3 - "$T/tb" <<'PY' >"$T/rec1" || status=1
import os, struct, sys
d = sys.argv[1]; raw = open(os.path.join(d, os.listdir(d)[0]), "rb").read()
n0 = struct.unpack_from("<Q", raw, 0)[0]; p = 16 + n0
n1 = struct.unpack_from("<Q", raw, p)[0]; sys.stdout.buffer.write(raw[p + 12:p + 12 + n1])
PY
protoc --proto_path=tests/oracle --decode=tensorboard.Event tensorboard_min.proto <"$T/rec1" >"$T/dec1" || status=1
grep -q 'simple_value: ' "$T/dec1" || { echo "FAIL: second record is not a scalar event"; cat "$T/dec1"; status=1; }
exit $status
