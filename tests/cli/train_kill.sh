#!/bin/bash
# train_kill.sh - crash safety of `microlens train`: SIGKILL at >= 20 seeded random moments,
# each followed by --resume; afterwards the run store passes SQLite's integrity check, every
# listed (not deleted) checkpoint verifies, and the final weights equal an uninterrupted
# run's byte for byte. Prints the number of kills and how many landed mid-checkpoint.
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
KILLS=${TRAIN_KILLS:-24}
RANDOM=20261123 # seeded: the same kill moments every run (up to the machine's speed)
"$MICROLENS" synth --out "$T/c" --samples 120 --otus 200 --dim 8 --seed 3 --quiet >/dev/null
args=(train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 32
      --steps 300 --batch 16 --checkpoint-every 10 --keep 3 --eval-every 25 --quiet)

run 0 "$MICROLENS" "${args[@]}" --out "$T/ref"
final=checkpoints/step-0000300/model.safetensors

kills=0 mid=0 completed_early=0 launches=0
while ((kills < KILLS)); do
    "$MICROLENS" "${args[@]}" --out "$T/k" --resume >/dev/null 2>"$T/kerr" &
    pid=$!
    launches=$((launches + 1))
    sleep "0.$(printf '%03d' $((RANDOM % 150)))"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        compgen -G "$T/k/checkpoints/.tmp-*" >/dev/null && mid=$((mid + 1))
    else
        wait "$pid"
        completed_early=$((completed_early + 1))
        # the run finished before the kill: start a new one so that every kill hits work
        rm -rf "$T/k.done"
        mv "$T/k" "$T/k.done"
    fi
    if ((launches > 10 * KILLS)); then echo "FAIL: too many launches" >&2; exit 1; fi
done
# Keep the last interrupted run if one is under way, else the last completed one.
[[ -d $T/k ]] || mv "$T/k.done" "$T/k"
run 0 "$MICROLENS" "${args[@]}" --out "$T/k" --resume
echo "train_kill: $kills kills ($mid mid-checkpoint, $completed_early runs completed before" \
     "their kill, $launches launches)"

integrity=$(/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);
print(c.execute("pragma integrity_check").fetchone()[0], c.execute("select status from run").fetchone()[0])' "$T/k/run.sqlite")
expect_eq "$integrity" "ok completed" "store integrity and status"
listed=$(/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);
print("\n".join(r[0] for r in c.execute("select path from checkpoints where deleted_at is null")))' "$T/k/run.sqlite")
n_listed=0
for p in $listed; do
    n_listed=$((n_listed + 1))
    run 0 "$MICROLENS" verify "$T/k/$p"
done
expect_eq "$((n_listed >= 3))" 1 "checkpoints listed ($n_listed)"
checks=$((checks + 1))
if ! cmp -s "$T/ref/$final" "$T/k/$final"; then
    failures=$((failures + 1))
    echo "FAIL: final weights differ from the uninterrupted run's" >&2
fi
# Optimizer state and trainer_state.json (log history, best checkpoint) too: same MANIFEST.
checks=$((checks + 1))
if ! cmp -s "$T/ref/${final%/*}/MANIFEST" "$T/k/${final%/*}/MANIFEST"; then
    failures=$((failures + 1))
    echo "FAIL: final checkpoint differs from the uninterrupted run's:" >&2
    diff "$T/ref/${final%/*}/MANIFEST" "$T/k/${final%/*}/MANIFEST" >&2
fi
finish
