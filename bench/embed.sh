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
# the PyTorch side also excludes them) with THREADS worker threads.
ml_rate() {
    local n=$1 threads=$2 best=0 r
    for _ in 1 2; do
        "$ML" embed --weights "$T/model.safetensors" --table "$T/table_$n.tsv" \
            --otu-vectors "$T/vectors.safetensors" --out "$T/emb.tsv" --max-otus "$n" \
            --threads "$threads" --ephemeral-ids --quiet --json >"$T/ml.json"
        r=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples_per_second"])' "$T/ml.json")
        best=$($PY -c "print(max($best, $r))")
    done
    echo "$best"
}

echo "bench/embed: large set transformer (d_in $D_IN, d_model $D, $L layers, 5 heads, ff $FF)"
echo "machine: $cpus CPUs; OpenBLAS SGEMM 1024^3 (default threads): $peak GFLOP/s"
echo "samples/s; microlens --threads T runs T workers with one-thread OpenBLAS; ratio = best"
echo "microlens / best torch; GFLOP/s of the best microlens against the SGEMM rate"
printf '\n%6s %10s %10s %10s %10s %8s %11s %9s\n' "N" "ml 1T" "ml 2T" "torch 1T" "torch 2T" "ratio" "ml GFLOP/s" "of SGEMM"
for i in "${!NS[@]}"; do
    n=${NS[$i]}
    m1=$(ml_rate "$n" 1)
    m2=$(ml_rate "$n" 2)
    t1=$($PY bench/embed_torch.py time "$T" "$n" "$TORCH_SECONDS" 1)
    t2=$($PY bench/embed_torch.py time "$T" "$n" "$TORCH_SECONDS" 2)
    $PY - "$n" "$m1" "$m2" "$t1" "$t2" "$peak" "$D_IN" "$D" "$L" "$FF" <<'PY'
import sys
n, m1, m2, t1, t2, peak = int(sys.argv[1]), *map(float, sys.argv[2:7])
d_in, d, layers, ff = map(int, sys.argv[7:11])
ml = max(m1, m2)
# multiply-adds x 2: input projection; per layer q/k/v/out projections, feed-forward, and the
# attention products Q K^T and P V (softmax, LayerNorm and pooling are not counted)
flops = 2 * n * d_in * d + layers * (2 * n * (4 * d * d + 2 * d * ff) + 4 * n * n * d)
g = flops * ml / 1e9
print(f"{n:6d} {m1:10.1f} {m2:10.1f} {t1:10.1f} {t2:10.1f} {ml / max(t1, t2):7.2f}x {g:11.1f} "
      f"{100 * g / peak:8.0f}%")
PY
done
