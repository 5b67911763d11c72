#!/bin/bash
# export_tensorboard_reader.sh - TensorBoard itself (its EventAccumulator, from PyPI) reads the
# tensorboard export: every scalar equals run.sqlite's, every snapshot histogram its tensor's
# (tests/oracle/export_tensorboard_reader.py). TensorBoard lives in a virtualenv made by
# scripts/tensorboard-venv.sh (ML_TB_VENV, default build/venv-tb); the test never installs
# anything itself. Missing venv: SKIP, or FAIL under CI=true (CI runs the script first).
set -u
: "${MICROLENS:?}"
venv=${ML_TB_VENV:-build/venv-tb}
if ! "$venv/bin/python" -c 'import tensorboard, numpy' 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then
        echo "FAIL: CI=true needs TensorBoard in $venv (run scripts/tensorboard-venv.sh)" >&2
        exit 1
    fi
    echo "SKIP: no TensorBoard in $venv (scripts/tensorboard-venv.sh makes it)"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config"
unset MICROLENS_ID_KEY
"$MICROLENS" synth --out "$T/c" --samples 60 --otus 80 --dim 8 --seed 6 --quiet >/dev/null || exit 1
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 8 \
    --steps 20 --batch 16 --eval-every 5 --checkpoint-every 10 --snapshot weights,grads \
    --snapshot-every 10 --quiet --out "$T/run" >/dev/null || { echo "FAIL: train exited $?"; exit 1; }
/usr/bin/python3 tests/oracle/export_numpy.py snapshots "$T/run" 2>/dev/null ||
    "$venv/bin/python" tests/oracle/export_numpy.py snapshots "$T/run" || exit 1
"$MICROLENS" export "$T/run" --format tensorboard --out "$T/tb" --quiet ||
    { echo "FAIL: export exited $?"; exit 1; }
"$venv/bin/python" tests/oracle/export_tensorboard_reader.py "$T/run" "$T/tb"
