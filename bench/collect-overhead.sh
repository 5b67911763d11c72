#!/bin/bash
# bench/collect-overhead.sh - what the training collectors cost: the same `microlens train` run
# (seeded, so the same work) with --collect none, with the defaults (all but activations, every
# 10th step) and with everything at every step (--collect all --collect-every 1), for an MLP on
# CLR features and the small set transformer, on a cohort from `microlens synth`.
# Per-step time = (time of an N-step run - time of a 1-step run) / (N - 1), so start-up, data
# preparation, the final validation and checkpoint cancel out; median over REPEATS runs, modes
# interleaved; also the best (least disturbed) CPU time of the REPEATS runs. Wall and CPU
# (user + sys) medians are both reported; on a machine shared with other work only the best CPU
# time is steady, and the target (defaults <= 1.03x of none) is checked on it.
# It builds nothing: MICROLENS (default build/release/microlens, `make build`) must exist.
#   MICROLENS=build/release/microlens REPEATS=5 bench/collect-overhead.sh
set -euo pipefail
PY=/usr/bin/python3
M=${MICROLENS:-build/release/microlens}
REPEATS=${REPEATS:-5}
[[ -x $M ]] || { echo "bench/collect-overhead: $M is not built (make build, or set MICROLENS)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$M" synth --out "$T/c" --samples 240 --patients 60 --otus 500 --dim 32 --seed 1 --quiet >/dev/null

# name | steps | training flags
CASES=(
    "mlp 500-256-64-2, batch 32|2000|--model mlp --hidden 256,64 --batch 32"
    "mlp 500-64-2, batch 32|4000|--model mlp --hidden 64 --batch 32"
    "settransformer small, 16 x 128|60|--model settransformer --otu-vectors $T/c/otu_vectors.safetensors --max-otus 128 --batch 16"
)
MODES=("none|--collect none" "default|" "all every step|--collect all --collect-every 1")

# Prints "wall_seconds cpu_seconds" of one run of the command.
timed() {
    $PY - "$@" <<'PY'
import os, resource, subprocess, sys, time
t0 = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - t0
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode(errors="replace"))
    sys.exit(r.returncode)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.6f} {u.ru_utime + u.ru_stime:.6f}")
PY
}

echo "bench/collect-overhead: ms per training step, median of $REPEATS, (t(N steps) - t(1 step)) / (N - 1)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-32s %-15s %8s %8s %8s %8s %8s %8s\n' case collectors "wall ms" "cpu ms" "best cpu" \
    "wall x" "cpu x" "best x"
k=0
for c in "${CASES[@]}"; do
    IFS='|' read -r name steps flags <<<"$c"
    res="$T/res.$k"
    : >"$res"
    for ((r = 0; r < REPEATS; r++)); do
        for m in "${MODES[@]}"; do
            IFS='|' read -r mode mflags <<<"$m"
            for n in 1 "$steps"; do
                rm -rf "$T/run"
                # shellcheck disable=SC2086
                t=$(timed "$M" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" $flags $mflags \
                    --steps "$n" --val-fraction 0.2 --out "$T/run" --quiet)
                echo "$mode|$n|$t" >>"$res"
            done
        done
    done
    $PY - "$res" "$name" "$steps" <<'PY'
import statistics, sys
path, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(path):
    mode, n, t = line.rstrip("\n").split("|")
    wall, cpu = map(float, t.split())
    rows.setdefault((mode, int(n)), []).append((wall, cpu))
per = {}
for mode in ["none", "default", "all every step"]:
    def step_ms(i, pick):
        long = pick(r[i] for r in rows[(mode, steps)])
        short = pick(r[i] for r in rows[(mode, 1)])
        return (long - short) / (steps - 1) * 1e3
    per[mode] = (step_ms(0, statistics.median), step_ms(1, statistics.median), step_ms(1, min))
base = per["none"]
for mode, (w, c, b) in per.items():
    mark = ""
    if mode == "default":
        mark = "  ok" if b / base[2] <= 1.03 else "  MISSED (target <= 1.03x)"
    print(f"{name:<32s} {mode:<15s} {w:8.3f} {c:8.3f} {b:8.3f} {w / base[0]:7.3f}x {c / base[1]:7.3f}x"
          f" {b / base[2]:7.3f}x{mark}")
PY
    k=$((k + 1))
done
