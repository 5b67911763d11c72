#!/bin/bash
# collect_numpy.sh - the collectors' metrics in run.sqlite against numpy's reading of the raw
# gradient, weight and LoRA snapshots of the same run (tests/oracle/collect_numpy.py): an MLP
# run with clipping on, collecting every 2nd step (so the cosine pairs collected steps), and a
# LoRA fine-tune of the set transformer collecting every step; 1e-5 relative.
set -u
: "${MICROLENS:?}"
if ! /usr/bin/python3 -c 'import numpy, sqlite3' 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs /usr/bin/python3 with numpy" >&2; exit 1; fi
    echo "SKIP: /usr/bin/python3 with numpy not found"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
status=0
"$MICROLENS" synth --out "$T/c" --samples 60 --patients 15 --otus 50 --dim 8 --seed 9 --quiet >/dev/null || exit 1
tl=(--table "$T/c/table.tsv" --labels "$T/c/labels.csv" --quiet)
snap=(--snapshot grads,weights --snapshot-every 1)
"$MICROLENS" train "${tl[@]}" --model mlp --hidden 16,8 --steps 7 --batch 12 --clip-grad 0.05 \
    --collect all --collect-every 2 "${snap[@]}" --out "$T/mlp" || { echo "FAIL: mlp run"; exit 1; }
/usr/bin/python3 tests/oracle/collect_numpy.py "$T/mlp" 2 || status=1
st=(--model settransformer --otu-vectors "$T/c/otu_vectors.safetensors" --batch 8 --max-otus 16
    --d-model 10 --layers 2 --heads 2 --ff 16)
"$MICROLENS" train "${tl[@]}" "${st[@]}" --steps 2 --collect none --out "$T/st" || { echo "FAIL: st run"; exit 1; }
"$MICROLENS" train "${tl[@]}" "${st[@]}" --steps 5 --init "$T/st/checkpoints/step-0000002/model.safetensors" \
    --lora r=3,alpha=6,targets=q,v,out,linear2 --collect all --collect-every 1 "${snap[@]}" \
    --out "$T/lora" || { echo "FAIL: lora run"; exit 1; }
/usr/bin/python3 tests/oracle/collect_numpy.py "$T/lora" 1 || status=1
exit $status
