#!/bin/bash
# export_numpy.sh - `microlens export --format npy` read back by numpy.load and compared with
# run.sqlite (python sqlite3) and the snapshot files' bytes (tests/oracle/export_numpy.py):
# a real MLP run with collectors (and trainer snapshots), plus snapshot files written here
# with F16, BF16, F64, I64 and BOOL tensors, odd names and a name too long for a file name.
set -u
: "${MICROLENS:?}"
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs /usr/bin/python3 with numpy" >&2; exit 1; fi
    echo "SKIP: /usr/bin/python3 with numpy not found"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config"
unset MICROLENS_ID_KEY
"$MICROLENS" synth --out "$T/c" --samples 60 --otus 80 --dim 8 --seed 3 --quiet >/dev/null || exit 1
snap=()
"$MICROLENS" train --help | grep -q -- '--snapshot ' && snap=(--snapshot weights,grads --snapshot-every 10)
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 8 \
    --steps 20 --batch 16 --eval-every 5 --checkpoint-every 10 "${snap[@]}" --quiet \
    --out "$T/run" >/dev/null || { echo "FAIL: train exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_numpy.py snapshots "$T/run" || exit 1
status=0
"$MICROLENS" export "$T/run" --format npy --out "$T/all" --quiet || { echo "FAIL: export exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_numpy.py check "$T/run" "$T/all" || status=1
"$MICROLENS" export "$T/run" --format npy --out "$T/some" --metrics 'grad_norm*' --no-snapshots \
    --quiet || { echo "FAIL: export --metrics exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_numpy.py check "$T/run" "$T/some" 'grad_norm*' --no-snapshots || status=1
exit $status
