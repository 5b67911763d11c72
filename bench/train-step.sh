#!/bin/bash
# bench/train-step.sh - milliseconds per training step (forward + backward + AdamW update) of
# microlens against PyTorch CPU in the same run, two cases: a LoRA fine-tune step of the large
# set transformer (d_in 384, d_model 100, 5 layers, 5 heads, ff 400, LoRA r=8 alpha=16 on q and
# v; 16 sets of 256 OTUs; target >= 2x) and an MLP 2000-256-64-2 step (batch 64; target >= 3x).
# PyTorch: best of 1 and 2 threads; microlens: 1 and 2 threads (2: two data-parallel workers
# within the step, OpenBLAS single-threaded in each; see bench/train_step.c), each reported.
# Ratio = PyTorch's best / microlens's best. Run from the repository root; it builds the
# release library if missing:
#   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j2
set -euo pipefail
PY=/usr/bin/python3
REL=${ML_RELEASE_DIR:-build/release}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-6}
$PY -c 'import torch' 2>/dev/null || { echo "bench/train-step: /usr/bin/python3 cannot import torch" >&2; exit 1; }
if [[ ! -f $REL/libmicrolens.a ]]; then
    cmake -S . -B "$REL" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$REL" -j2 --target microlens >/dev/null
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
# the library's own flags (Release: -O2), against the static library and its dependencies
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude bench/train_step.c "$REL/libmicrolens.a" \
    $(pkg-config --cflags --libs openblas jansson hdf5) -lhdf5_serial_hl -llapacke -lcrypto \
    -lm -lpthread -o "$T/train_step"

echo "bench/train-step: ms per step (forward + backward + AdamW), median over ~${SECONDS_PER_RUN} s each"
echo "machine: $(nproc) CPUs; torch $($PY -c 'import torch; print(torch.__version__)')"
printf '\n%-34s %10s %10s %10s %10s %8s %7s\n' "case" "ml 1T" "ml 2T" "torch 1T" "torch 2T" "ratio" "target"
row() {
    local case=$1 label=$2 target=$3
    local m1 m2 t1 t2
    m1=$(OPENBLAS_NUM_THREADS=1 "$T/train_step" "$case" "$SECONDS_PER_RUN")
    m2=$(OPENBLAS_NUM_THREADS=2 "$T/train_step" "$case" "$SECONDS_PER_RUN")
    t1=$($PY bench/train_step_torch.py "$case" 1 "$SECONDS_PER_RUN")
    t2=$($PY bench/train_step_torch.py "$case" 2 "$SECONDS_PER_RUN")
    $PY - "$label" "$target" "$m1" "$m2" "$t1" "$t2" <<'PY'
import sys
label, target = sys.argv[1], float(sys.argv[2])
m1, m2, t1, t2 = map(float, sys.argv[3:7])
ratio = min(t1, t2) / min(m1, m2)
mark = "ok" if ratio >= target else "MISSED"
print(f"{label:<34s} {m1:10.2f} {m2:10.2f} {t1:10.2f} {t2:10.2f} {ratio:7.2f}x {target:4.0f}x {mark}")
PY
}
row st "LoRA set transformer, 16 x 256" 2
row mlp "MLP 2000-256-64-2, batch 64" 3
