#!/bin/bash
# export.sh - `microlens export` from the outside: help, usage errors (exit 2: missing flags,
# unknown format, a non-empty target), --metrics patterns (fnmatch; none matching: exit 3),
# each format's files, an empty target folder accepted, an unwritable target (exit 1) and a
# failure mid-export (bad snapshot, exit 3) leaving nothing behind, identical bytes on re-export,
# and no raw sample ID or absolute path in any exported file. Values are checked against
# numpy / protoc in tests/oracle/export_*.sh.
source "$(dirname "$0")/lib.bash"
"$MICROLENS" synth --out "$T/c" --samples 60 --otus 80 --dim 8 --seed 9 --quiet >/dev/null
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 8 \
    --steps 20 --batch 16 --eval-every 5 --checkpoint-every 10 --quiet --out "$T/run" >/dev/null
R=$T/run
# metric_count [GLOB]: rows of run.sqlite (of metrics matching GLOB, Python's fnmatch).
metric_count() {
    /usr/bin/python3 -c 'import sqlite3,sys,fnmatch
c=sqlite3.connect(sys.argv[1]); g=sys.argv[2] if len(sys.argv)>2 else "*"
print(sum(1 for (n,) in c.execute("select n.name from metrics m join metric_names n on n.id=m.name_id") if fnmatch.fnmatchcase(n,g)))' "$R/run.sqlite" "$@"
}
leftovers() { ls -A "$1" | grep -c '\.tmp-' ; }

run 0 "$MICROLENS" export --help
expect_in "$T/out" "^Usage: microlens export"
expect_in "$T/out" "Examples:"
expect_in "$T/out" "never overwrite"

# Usage errors: exit 2, nothing written.
run 2 "$MICROLENS" export "$R" --out "$T/x"
expect_in "$T/err" "needs --format and --out"
run 2 "$MICROLENS" export "$R" --format xml --out "$T/x"
expect_in "$T/err" 'export format "xml" is unknown \(expected csv, jsonl, npy or tensorboard\)'
run 2 "$MICROLENS" export --format csv --out "$T/x"
expect_eq "$(ls "$T" | grep -c '^x$')" 0 "no output on usage errors"

# csv: long-form metrics with every row of the store, checkpoints, events, analysis.
run 0 "$MICROLENS" export "$R" --format csv --out "$T/csv" --json
expect_eq "$(json_get "$T/out" 'd["n_points"]')" "$(metric_count)" "csv rows reported"
expect_eq "$(head -1 "$T/csv/metrics.csv")" "step,name,value,wall_time" "metrics.csv header"
expect_eq "$(($(wc -l <"$T/csv/metrics.csv") - 1))" "$(metric_count)" "metrics.csv rows"
expect_eq "$(head -1 "$T/csv/checkpoints.csv")" "step,dir,weights,is_adapter,is_best,deleted" \
    "checkpoints.csv header"
expect_in "$T/csv/checkpoints.csv" '^20,checkpoints/step-0000020,model.safetensors,0,[01],0$'
expect_eq "$(head -1 "$T/csv/events.csv")" "step,wall_time,level,text" "events.csv header"
expect_eq "$(head -1 "$T/csv/findings.csv")" "severity,code,step,title,evidence,recommendation" \
    "findings.csv header"
expect_eq "$(json_get "$T/csv/analysis.json" '"verdict" in d and "findings" in d')" True \
    "analysis.json"
expect_eq "$(ls "$T/csv" | tr '\n' ' ')" \
    "analysis.json checkpoints.csv events.csv findings.csv metrics.csv " "csv files"
expect_eq "$(leftovers "$T")" 0 "no temporary folder left"

# jsonl: one JSON object per line, same rows.
run 0 "$MICROLENS" export "$R" --format jsonl --out "$T/jsonl" --no-analysis
expect_eq "$(/usr/bin/python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
print(len(rows), sorted(rows[0]))' "$T/jsonl/metrics.jsonl")" \
    "$(metric_count) ['name', 'step', 'value', 'wall_time']" "metrics.jsonl"
expect_eq "$(ls "$T/jsonl" | tr '\n' ' ')" "checkpoints.jsonl events.jsonl metrics.jsonl " \
    "jsonl files without the analysis"

# --metrics: an fnmatch pattern where '*' also matches '/'; matching nothing is exit 3.
run 0 "$MICROLENS" export "$R" --format csv --out "$T/grad" --metrics 'grad_norm*' --no-analysis
expect_eq "$(($(wc -l <"$T/grad/metrics.csv") - 1))" "$(metric_count 'grad_norm*')" "--metrics rows"
expect_eq "$(cut -d, -f2 "$T/grad/metrics.csv" | tail -n +2 | grep -vc '^grad_norm')" 0 \
    "--metrics keeps only matching names"
run 3 "$MICROLENS" export "$R" --format csv --out "$T/none" --metrics 'no_such_*'
expect_in "$T/err" 'matches none of the run.s [0-9]+ metrics \(.*loss'
expect_eq "$(ls "$T" | grep -c '^none$')" 0 "no output when nothing matches"

# Target folder policy: an empty folder is taken; a non-empty one is refused untouched.
mkdir "$T/empty"
run 0 "$MICROLENS" export "$R" --format npy --out "$T/empty"
expect_in "$T/out" "exported npy to .*empty: [0-9]+ files"
expect_eq "$(head -1 "$T/empty/index.csv")" "kind,name,step,file" "index.csv header"
run 2 "$MICROLENS" export "$R" --format csv --out "$T/csv"
expect_in "$T/err" "exists and is not empty \(exports never overwrite"
expect_eq "$(ls "$T/csv" | wc -l)" 5 "refused target untouched"
touch "$T/afile"
run 2 "$MICROLENS" export "$R" --format csv --out "$T/afile"
expect_in "$T/err" "exists and is not a folder"

# Unwritable target: exit 1, nothing half-written.
run 1 "$MICROLENS" export "$R" --format csv --out "$T/afile/sub"
expect_in "$T/err" "cannot create a temporary folder"
run 1 "$MICROLENS" export "$R" --format csv --out "$T/missing/parent/out"
if [[ $(id -u) != 0 ]]; then
    mkdir "$T/ro" && chmod 555 "$T/ro"
    run 1 "$MICROLENS" export "$R" --format csv --out "$T/ro/out"
    expect_eq "$(ls -A "$T/ro" | wc -l)" 0 "read-only parent left empty"
    chmod 755 "$T/ro"
fi

# A failure after files were written (a snapshot that breaks the safetensors rules) leaves
# neither the target nor the temporary folder.
mkdir -p "$R/snapshots"
printf 'not a safetensors file' >"$R/snapshots/step-0000010.safetensors"
run 3 "$MICROLENS" export "$R" --format npy --out "$T/broken"
expect_in "$T/err" "step-0000010.safetensors"
expect_eq "$(ls "$T" | grep -c '^broken$')" 0 "no target after a failure"
expect_eq "$(leftovers "$T")" 0 "no temporary folder after a failure"
run 0 "$MICROLENS" export "$R" --format npy --out "$T/nosnap" --no-snapshots
rm "$R/snapshots/step-0000010.safetensors"

# tensorboard: one event file named without the host; a second export has the same bytes.
run 0 "$MICROLENS" export "$R" --format tensorboard --out "$T/tb1"
run 0 "$MICROLENS" export "$R" --format tensorboard --out "$T/tb2"
f1=$(ls "$T/tb1")
expect_in <(echo "$f1") '^events\.out\.tfevents\.[0-9]+\.localhost\.microlens$'
expect_not_in <(echo "$f1") "$(hostname)"
checks=$((checks + 1))
cmp -s "$T/tb1/$f1" "$T/tb2/$(ls "$T/tb2")" || { failures=$((failures + 1)); echo "FAIL: re-export differs" >&2; }

# A Hugging Face Trainer folder exports the same way (no wall times there: null / nan / 0);
# its pickled file is never read.
mkdir -p "$T/hf/checkpoint-10"
printf '%s' '{"global_step": 10, "log_history": [{"loss": 0.7, "learning_rate": 1e-4, "step": 5},
 {"loss": 0.6, "learning_rate": 5e-5, "step": 10}, {"eval_loss": 0.65, "step": 10}]}' \
    >"$T/hf/checkpoint-10/trainer_state.json"
printf '\x80\x02junk' >"$T/hf/checkpoint-10/pytorch_model.bin"
run 0 "$MICROLENS" export "$T/hf" --format jsonl --out "$T/hfj"
expect_in "$T/hfj/metrics.jsonl" '^\{"step":10,"name":"loss","value":0.6,"wall_time":null\}$'
expect_eq "$(cat "$T/hfj/checkpoints.jsonl")" \
    '{"step":10,"dir":"checkpoint-10","weights":null,"is_adapter":false,"is_best":false,"deleted":false}' \
    "HF checkpoints.jsonl"
run 0 "$MICROLENS" export "$T/hf" --format tensorboard --out "$T/hftb"
expect_in <(ls "$T/hftb") '^events\.out\.tfevents\.0\.localhost\.microlens$'

# Privacy: no raw sample ID and no absolute path in any exported file.
ids=$(tail -n +2 "$T/c/labels.csv" | cut -d, -f1 | sort -u)
expect_eq "$(echo "$ids" | wc -l)" 60 "sample IDs read from labels.csv"
hits=0
for d in csv jsonl grad empty tb1 hfj; do
    while read -r id; do
        grep -rqaF -- "$id" "$T/$d" && hits=$((hits + 1))
    done <<<"$ids"
    grep -rqaF -- "$T" "$T/$d" && { hits=$((hits + 1)); echo "absolute path in $d" >&2; }
done
expect_eq "$hits" 0 "raw sample IDs or absolute paths in exports"
finish
