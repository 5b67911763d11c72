#!/bin/bash
# train.sh - `microlens train` from the outside: help, exit codes 2 (usage) and 3 (data),
# the run folder's layout, MANIFESTs that verify, bit-identical reruns, --keep retention next
# to a planted symlink, --config with flag overrides, resume refusing other settings and
# skipping a tampered checkpoint, SIGTERM, and the LoRA adapter folder in PEFT's layout.
# Crash safety under SIGKILL is tests/cli/train_kill.sh.
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
PEFT="${ML_SOURCE_DIR:-.}/../shared/fixtures/peft-tiny-lora/adapter_config.json"
"$MICROLENS" synth --out "$T/c" --samples 80 --otus 120 --dim 8 --seed 5 --quiet >/dev/null
tl=(--table "$T/c/table.tsv" --labels "$T/c/labels.csv")
mlp=(train "${tl[@]}" --model mlp --hidden 16 --steps 40 --batch 16 --quiet)

run 0 "$MICROLENS" train --help
expect_in "$T/out" "^Usage: microlens train"
expect_in "$T/out" "Examples:"
expect_in "$T/out" "TOML is not supported"

# Usage errors: exit 2, nothing written.
run 2 "$MICROLENS" train "${tl[@]}" --out "$T/x"
expect_in "$T/err" "needs --table, --labels, --model and --out"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --optimizer adam
expect_in "$T/err" "--optimizer: unknown value"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --epochs 3
expect_in "$T/err" "--steps or --epochs"
run 2 "$MICROLENS" train "${tl[@]}" --model settransformer --out "$T/x"
expect_in "$T/err" "needs --otu-vectors"
run 2 "$MICROLENS" train "${tl[@]}" --model settransformer --otu-vectors "$T/c/otu_vectors.safetensors" \
    --init "$T/nope.safetensors" --lora r=0 --out "$T/x"
expect_in "$T/err" "--lora: bad r"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --val-fraction 1
expect_in "$T/err" "--val-fraction"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --bogus
expect_eq "$(ls "$T/x" 2>/dev/null | wc -l)" 0 "nothing written on usage errors"

# Bad inputs: exit 3.
printf 'sid,label\nP000_S00,a\n' >"$T/one.csv"
run 3 "$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/one.csv" --model mlp --out "$T/x1"
expect_in "$T/err" "at least 2 classes"
run 3 "$MICROLENS" train --table "$T/missing.tsv" --labels "$T/c/labels.csv" --model mlp --out "$T/x2"
printf '{"steps": 10, "colour": 1}' >"$T/bad.json"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x3" --config "$T/bad.json"
expect_in "$T/err" 'unknown key "colour"'
printf '{"steps": ' >"$T/broken.json"
run 3 "$MICROLENS" "${mlp[@]}" --out "$T/x3" --config "$T/broken.json"

# A run: layout, store, MANIFESTs, retention of the last 2 + the best, symlink untouched.
mkdir -p "$T/a/checkpoints" "$T/outside"
echo precious >"$T/outside/file"
ln -s "$T/outside" "$T/a/checkpoints/planted"
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/a" --checkpoint-every 5 --keep 2 --eval-every 5 --json
expect_eq "$(json_get "$T/out" 'd["steps"]')" 40 "steps"
expect_eq "$(json_get "$T/out" 'd["last_checkpoint"]')" checkpoints/step-0000040 "last checkpoint"
best=$(json_get "$T/out" 'd["best_checkpoint"]')
expect_eq "$(cat "$T/outside/file")" precious "file behind the planted symlink"
expect_eq "$(readlink "$T/a/checkpoints/planted")" "$T/outside" "planted symlink kept"
kept=$(cd "$T/a/checkpoints" && ls -d step-* | tr '\n' ' ')
want=$( (echo "${best#checkpoints/}"; echo step-0000035; echo step-0000040) | sort -u | tr '\n' ' ')
expect_eq "$kept" "$want" "retained checkpoints (best $best)"
for f in MANIFEST model.safetensors optimizer.safetensors trainer_state.json; do
    checks=$((checks + 1))
    [[ -f $T/a/checkpoints/step-0000040/$f ]] || { failures=$((failures + 1)); echo "FAIL: no $f" >&2; }
done
for d in "$T"/a/checkpoints/step-*; do run 0 "$MICROLENS" verify "$d"; done
expect_eq "$(json_get "$T/a/checkpoints/step-0000040/trainer_state.json" \
    '(d["global_step"], sorted(d["log_history"][0]))')" \
    "(40, ['epoch', 'grad_norm', 'learning_rate', 'loss', 'step'])" "trainer_state.json"
expect_eq "$(/usr/bin/python3 -c 'import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]);
r=c.execute("select status, config_json, dataset_sha256 from run").fetchone()
n=c.execute("select count(*) from metrics m join metric_names n on n.id=m.name_id where n.name=\"loss\"").fetchone()[0]
d=c.execute("select count(*) from checkpoints where deleted_at is not null").fetchone()[0]
print(r[0], json.loads(r[1])["steps"], len(r[2]), n, d)' "$T/a/run.sqlite")" \
    "completed 40 64 40 $((8 - $(echo "$want" | wc -w)))" "run store rows"

# Determinism: a second run gives the same bytes; a CREATE over an existing run is refused.
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/b" --checkpoint-every 5 --keep 2 --eval-every 5
checks=$((checks + 1))
cmp -s "$T/a/checkpoints/step-0000040/model.safetensors" "$T/b/checkpoints/step-0000040/model.safetensors" ||
    { failures=$((failures + 1)); echo "FAIL: reruns differ" >&2; }
run 3 "$MICROLENS" "${mlp[@]}" --out "$T/b" --checkpoint-every 5 --keep 2 --eval-every 5
expect_in "$T/err" "already exists"

# --config: file values, flags override them; the same run from a config file.
printf '{"model": "mlp", "hidden": "16", "steps": 7, "batch": 16, "checkpoint-every": 5, "keep": 2, "eval-every": 5}' >"$T/run.json"
run 0 "$MICROLENS" train "${tl[@]}" --config "$T/run.json" --steps 40 --out "$T/cfg" --quiet
checks=$((checks + 1))
cmp -s "$T/a/checkpoints/step-0000040/model.safetensors" "$T/cfg/checkpoints/step-0000040/model.safetensors" ||
    { failures=$((failures + 1)); echo "FAIL: --config run differs from the flags run" >&2; }

# Resume: other settings refused; a completed run resumes to the same end; a tampered newest
# checkpoint is skipped for the previous one; signatures required refuse unsigned ones.
run 3 "$MICROLENS" "${mlp[@]}" --out "$T/b" --checkpoint-every 5 --keep 2 --eval-every 5 --lr 0.01 --resume
expect_in "$T/err" "configuration differs"
printf 'x' >>"$T/b/checkpoints/step-0000040/trainer_state.json"
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/b" --checkpoint-every 5 --keep 2 --eval-every 5 --resume --json
expect_eq "$(json_get "$T/out" 'd["start_step"]')" 35 "resumed from the checkpoint before the tampered one"
checks=$((checks + 1))
cmp -s "$T/a/checkpoints/step-0000040/model.safetensors" "$T/b/checkpoints/step-0000040/model.safetensors" ||
    { failures=$((failures + 1)); echo "FAIL: resumed run differs" >&2; }
run 4 "$MICROLENS" "${mlp[@]}" --out "$T/b" --checkpoint-every 5 --keep 2 --eval-every 5 --resume --require-signature
expect_in "$T/err" "none of the run's"

# SIGTERM: finishes the step, writes a checkpoint, exits 143, run marked interrupted.
"$MICROLENS" train "${tl[@]}" --model mlp --hidden 16 --steps 100000000 --batch 16 --out "$T/s" --quiet 2>"$T/serr" &
pid=$!
for _ in $(seq 50); do [[ -f $T/s/run.sqlite ]] && break; sleep 0.1; done
sleep 0.3
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 143 "exit status after SIGTERM"
expect_in "$T/serr" "interrupted by signal 15"
expect_eq "$(/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);
print(c.execute("select status from run").fetchone()[0], c.execute("select count(*) from checkpoints").fetchone()[0])' "$T/s/run.sqlite")" \
    "interrupted 1" "status and checkpoint after SIGTERM"
for d in "$T"/s/checkpoints/step-*; do run 0 "$MICROLENS" verify "$d"; done

# Set transformer, then LoRA on its weights: PEFT's adapter folder.
st=(train "${tl[@]}" --model settransformer --otu-vectors "$T/c/otu_vectors.safetensors" --steps 4
    --batch 8 --max-otus 16 --d-model 10 --layers 1 --heads 2 --ff 16 --quiet)
run 0 "$MICROLENS" "${st[@]}" --out "$T/st"
run 0 "$MICROLENS" verify "$T/st/checkpoints/step-0000004"
# Full fine-tune from those weights: the classification loss never reaches the per-token head,
# which is frozen, so output_projection.* leave training exactly as they came in (weight decay
# would otherwise shrink them).
run 0 "$MICROLENS" "${st[@]}" --init "$T/st/checkpoints/step-0000004/model.safetensors" --out "$T/st2"
head_stats() { "$MICROLENS" tensors "$1" | grep '^output_projection\.'; }
expect_eq "$(head_stats "$T/st2/checkpoints/step-0000004/model.safetensors")" \
    "$(head_stats "$T/st/checkpoints/step-0000004/model.safetensors")" "token head unchanged"
expect_not_in "$T/st2/run.sqlite" "grad_norm/output_projection"
lora=(--init "$T/st/checkpoints/step-0000004/model.safetensors" --lora r=2,alpha=4,targets=q,v,dropout=0.1)
run 0 "$MICROLENS" "${st[@]}" --out "$T/lora" --checkpoint-every 2 "${lora[@]}"
L="$T/lora/checkpoints/step-0000004"
expect_eq "$(ls "$L" | tr '\n' ' ')" \
    "MANIFEST adapter_config.json adapter_model.safetensors optimizer.safetensors preprocess.json trainer_state.json " "LoRA folder"
run 0 "$MICROLENS" verify "$L"
if [[ -f $PEFT ]]; then
    expect_eq "$(/usr/bin/python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); p=json.load(open(sys.argv[2]))
print(sorted(set(p) - set(a) - {"alpha"}), a["peft_type"], a["r"], a["lora_alpha"], a["lora_dropout"], a["target_modules"], a["bias"])' "$L/adapter_config.json" "$PEFT")" \
        "[] LORA 2 4.0 0.1 ['q_proj', 'v_proj'] none" "adapter_config.json keys and values"
fi
# Resume of a LoRA run (dropout on) from step 2: the rewritten step-4 checkpoint must have the
# MANIFEST recorded (the library refuses a differing one with exit 4).
printf 'x' >>"$L/trainer_state.json"
run 3 "$MICROLENS" "${st[@]}" --out "$T/lora" --checkpoint-every 3 "${lora[@]}" --resume
expect_in "$T/err" "configuration differs"
run 0 "$MICROLENS" "${st[@]}" --out "$T/lora" --checkpoint-every 2 "${lora[@]}" --resume --json
expect_eq "$(json_get "$T/out" 'd["start_step"]')" 2 "LoRA run resumed from step 2"
run 0 "$MICROLENS" verify "$L"
run 0 "$MICROLENS" tensors "$L/adapter_model.safetensors"
expect_in "$T/out" "base_model.model.transformer.layers.0.self_attn.q_proj.lora_A.weight +F32 +\[2, 10\]"
expect_in "$T/out" "base_model.model.classifier.weight"
# A flipped byte in the base weights' folder is refused through its MANIFEST.
printf 'x' >>"$T/st/checkpoints/step-0000004/trainer_state.json"
run 4 "$MICROLENS" "${st[@]}" --out "$T/lora2" --init "$T/st/checkpoints/step-0000004/model.safetensors" --lora r=2
finish
