#!/bin/bash
# bench/embed.sh - samples/s of `microlens embed` against the same model in PyTorch CPU
# inference as upstream runs it (eval, no_grad, batch 1; best of 1 and 2 threads), large
# variant (d_in 384, d_model 100, 5 layers, 5 heads, ff 400), N = 100, 500, 1000 OTUs per
# sample; plus microlens's achieved GFLOP/s against this machine's SGEMM rate (cblas_sgemm
# 1024^3 through the same OpenBLAS), measured in the same run. Run from the repository root
# after: cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j2
set -euo pipefail
ML=${MICROLENS:-build/release/microlens}
PY=/usr/bin/python3
[[ -x $ML ]] || { echo "bench/embed: $ML is missing (build the release first, see the header)" >&2; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "bench/embed: /usr/bin/python3 cannot import torch" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config"

NS=(100 500 1000)
SAMPLES=(768 160 64)      # samples per table: a few seconds of microlens work each
TORCH_SECONDS=${TORCH_SECONDS:-3}
D_IN=384 D=100 L=5 FF=400

$PY bench/embed_torch.py setup "$T" "$(IFS=,; echo "${NS[*]}")" "$(IFS=,; echo "${SAMPLES[*]}")"
tools/convert-upstream-checkpoint "$T/ckpt.pt" "$T/model.safetensors" --nhead 5 >/dev/null 2>&1
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L bench/sgemm_rate.c $(pkg-config --cflags --libs openblas) -o "$T/sgemm"
peak=$("$T/sgemm")
cpus=$(nproc)

# microlens: best of 2 runs of samples/s over ml_embed (model and table loading excluded, as
# the PyTorch side also excludes them).
ml_rate() {
    local n=$1 best=0 r
    for _ in 1 2; do
        "$ML" embed --weights "$T/model.safetensors" --table "$T/table_$n.tsv" \
            --otu-vectors "$T/vectors.safetensors" --out "$T/emb.tsv" --max-otus "$n" \
            --ephemeral-ids --quiet --json >"$T/ml.json"
        r=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples_per_second"])' "$T/ml.json")
        best=$($PY -c "print(max($best, $r))")
    done
    echo "$best"
}

echo "bench/embed: large set transformer (d_in $D_IN, d_model $D, $L layers, 5 heads, ff $FF)"
echo "machine: $cpus CPUs; OpenBLAS SGEMM 1024^3: $peak GFLOP/s; microlens uses OpenBLAS's default threads"
printf '\n%6s %14s %12s %12s %10s %14s %10s\n' "N" "microlens s/s" "torch 1T" "torch 2T" "ratio" "ml GFLOP/s" "of SGEMM"
for i in "${!NS[@]}"; do
    n=${NS[$i]}
    ml=$(ml_rate "$n")
    t1=$($PY bench/embed_torch.py time "$T" "$n" "$TORCH_SECONDS" 1)
    t2=$($PY bench/embed_torch.py time "$T" "$n" "$TORCH_SECONDS" 2)
    $PY - "$n" "$ml" "$t1" "$t2" "$peak" "$D_IN" "$D" "$L" "$FF" <<'PY'
import sys
n, ml, t1, t2, peak = int(sys.argv[1]), *map(float, sys.argv[2:6])
d_in, d, layers, ff = map(int, sys.argv[6:10])
# multiply-adds x 2: input projection; per layer q/k/v/out projections, feed-forward, and the
# attention products Q K^T and P V (softmax, LayerNorm and pooling are not counted)
flops = 2 * n * d_in * d + layers * (2 * n * (4 * d * d + 2 * d * ff) + 4 * n * n * d)
g = flops * ml / 1e9
print(f"{n:6d} {ml:14.1f} {t1:12.1f} {t2:12.1f} {ml / max(t1, t2):9.2f}x {g:14.1f} {100 * g / peak:9.0f}%")
PY
done
