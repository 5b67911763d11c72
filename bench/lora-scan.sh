#!/bin/bash
# bench/lora-scan.sh - a LoRA checkpoint-series scan (per module: singular values of scale·B·A,
# effective / stable rank, condition, energy shares and HHI; cosine of each module's update
# with the first and the previous checkpoint) by microlens (bench/lora_scan.c: thin QR/LQ +
# r x r SVD, Gram-matrix cosines) against numpy reading the same files
# (bench/lora_scan_numpy.py) two ways: naive (dense W = s·B@A, np.linalg.svd, np.vdot - what a
# Python user writes) and smart (the same QR algorithm as microlens, in numpy). Target (DESIGN.md,
# "scan of a checkpoint series"): >= 5x numpy. The series: N checkpoints (default 20) of a
# GPT-2-like adapter, LAYERS layers (default 4) x {c_attn 768->2304 r 64, attn.c_proj 768->768
# r 8, c_fc 768->2304 r 32, mlp.c_proj 2304->768 r 16}, F32. The naive peer costs seconds per
# checkpoint, so it scans the first NAIVE_CKPTS (default 2) only; ratios are per checkpoint.
# Best of REPEATS (default 3) runs each; OpenBLAS / numpy use their default threads. Run from
# the repository root; it builds the release library if missing:
#   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j2
set -euo pipefail
PY=/usr/bin/python3
REL=${ML_RELEASE_DIR:-build/release}
N=${N:-20} LAYERS=${LAYERS:-4} REPEATS=${REPEATS:-3} NAIVE_CKPTS=${NAIVE_CKPTS:-2}
$PY -c 'import numpy' 2>/dev/null || { echo "bench/lora-scan: /usr/bin/python3 cannot import numpy" >&2; exit 1; }
if [[ ! -f $REL/libmicrolens.a ]]; then
    cmake -S . -B "$REL" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$REL" -j2 --target microlens >/dev/null
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
# the library's own flags (Release: -O2), against the static library and its dependencies
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/lora_scan.c "$REL/libmicrolens.a" \
    $(pkg-config --cflags --libs openblas jansson hdf5 sqlite3) -lhdf5_serial_hl -llapacke -lcrypto \
    -lm -lpthread -o "$T/lora_scan"

$PY bench/lora_scan_numpy.py write "$T/series" "$N" "$LAYERS" 42
mapfile -t DIRS < <(ls -d "$T"/series/checkpoint-* | sort -t- -k2 -n)
NAIVE=("${DIRS[@]:0:$NAIVE_CKPTS}")
echo "bench/lora-scan: $N checkpoints x $((LAYERS * 4)) modules ($(du -sh "$T/series" | cut -f1) of F32 safetensors), best of $REPEATS"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); numpy $($PY -c 'import numpy; print(numpy.__version__)')"

"$T/lora_scan" "$REPEATS" "${DIRS[@]}" >"$T/ml.txt"
"$T/lora_scan" "$REPEATS" "${NAIVE[@]}" >"$T/ml_naive.txt"
$PY bench/lora_scan_numpy.py scan smart "$REPEATS" "${DIRS[@]}" >"$T/np_smart.txt"
$PY bench/lora_scan_numpy.py scan naive 1 "${NAIVE[@]}" >"$T/np_naive.txt"

$PY - "$T" "$N" "$NAIVE_CKPTS" <<'PY'
import sys
t, n, n_naive = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def read(name):
    secs, rows = None, []
    for line in open(f"{t}/{name}"):
        f = line.split()
        if f[0] == "seconds":
            secs = float(f[1])
        else:
            rows.append(tuple(map(float, f[2:5])))
    return secs, rows

ml, ml_rows = read("ml.txt")
ml_n, _ = read("ml_naive.txt")
sm, sm_rows = read("np_smart.txt")
nv, nv_rows = read("np_naive.txt")
# the three agree on what they computed (sums of singular values and of cosines per checkpoint)
worst = 0.0
for a, b in list(zip(ml_rows, sm_rows)) + list(zip(ml_rows, nv_rows)):
    for x, y in zip(a, b):
        worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
print(f"\nagreement: max relative difference of per-checkpoint sums (sigma, cosines) {worst:.1e}")
print(f"\n{'peer':<38s} {'ms/ckpt':>10s} {'microlens':>10s} {'ratio':>8s} {'target':>7s}")
for label, peer, mine, k in (("numpy naive (dense W, np.linalg.svd)", nv, ml_n, n_naive),
                             ("numpy smart (QR + r x r SVD)", sm, ml, n)):
    ratio = peer / mine
    mark = "ok" if ratio >= 5 else "MISSED"
    print(f"{label:<38s} {1e3 * peer / k:10.1f} {1e3 * mine / k:10.2f} {ratio:7.1f}x {'5x':>6s} {mark}")
if worst > 1e-6:
    print("bench/lora-scan: microlens and numpy disagree", file=sys.stderr)
    sys.exit(1)
PY
