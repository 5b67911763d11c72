#!/bin/bash
# train_collect.sh - `microlens train` collectors and snapshots from the outside: --collect and
# --snapshot usage errors (exit 2 naming the valid names), the metric rows of the default set,
# --collect none, cadence, and --snapshot lora --snapshot-every 2 writing exactly the expected
# snapshot files (LoRA tensors only, outside checkpoints/). Values: tests/train/test_collect.c
# and tests/oracle/collect_numpy.sh.
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
"$MICROLENS" synth --out "$T/c" --samples 60 --patients 15 --otus 60 --dim 8 --seed 4 --quiet >/dev/null
tl=(--table "$T/c/table.tsv" --labels "$T/c/labels.csv")
mlp=(train "${tl[@]}" --model mlp --hidden 8 --steps 10 --batch 16 --quiet)
sql() { /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1])
print(" ".join(str(x) for r in c.execute(sys.argv[2]) for x in r))' "$@"; }

run 0 "$MICROLENS" train --help
expect_in "$T/out" "--collect LIST"
expect_in "$T/out" "--snapshot-every N"

# Usage errors: exit 2 with the list of valid names; nothing written.
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --collect loss,gradients
expect_in "$T/err" '--collect: unknown collector "gradients"'
expect_in "$T/err" "loss, lr, grad, grad-cosine, weights, lora, activations, memory, time"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --collect ""
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --collect-every 0
expect_in "$T/err" "at least 1"
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --snapshot activations
expect_in "$T/err" '--snapshot: unknown snapshot "activations" \(valid: none, or a comma list of lora, grads, weights\)'
run 2 "$MICROLENS" "${mlp[@]}" --out "$T/x" --snapshot lora
expect_in "$T/err" "needs --lora"
expect_eq "$(ls "$T/x" 2>/dev/null | wc -l)" 0 "nothing written on usage errors"

# Defaults: loss, learning rate and grad_norm every step, per-tensor metrics every 10th step,
# no activations, no snapshots.
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/d"
q='select n.name, count(*) from metrics m join metric_names n on n.id = m.name_id group by n.name order by n.name'
expect_eq "$(sql "$T/d/run.sqlite" "$q")" \
    "eval_loss 1 eval_roc_auc 1 grad/nonfinite_fraction 1 grad_norm 10 grad_norm/layers.0.bias 1 grad_norm/layers.0.weight 1 grad_norm/layers.1.bias 1 grad_norm/layers.1.weight 1 learning_rate 10 loss 10 memory/peak_rss_bytes 1 time/step_seconds 1 update_ratio/layers.0.bias 1 update_ratio/layers.0.weight 1 update_ratio/layers.1.bias 1 update_ratio/layers.1.weight 1 weight_norm/layers.0.bias 1 weight_norm/layers.0.weight 1 weight_norm/layers.1.bias 1 weight_norm/layers.1.weight 1" \
    "default metric rows"
checks=$((checks + 1))
[[ ! -e $T/d/snapshots ]] || { failures=$((failures + 1)); echo "FAIL: snapshots/ without --snapshot" >&2; }

# --collect none: no metric rows (the log history keeps loss); the weights are the same.
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/n" --collect none
expect_eq "$(sql "$T/n/run.sqlite" 'select count(*) from metrics')" 0 "no metric with --collect none"
expect_eq "$(json_get "$T/n/checkpoints/step-0000010/trainer_state.json" 'len(d["log_history"])')" 11 "log history"
checks=$((checks + 1))
cmp -s "$T/d/checkpoints/step-0000010/model.safetensors" "$T/n/checkpoints/step-0000010/model.safetensors" ||
    { failures=$((failures + 1)); echo "FAIL: collectors changed the weights" >&2; }

# Everything every 3rd step, from a --config file.
printf '{"collect": "all", "collect-every": 3}' >"$T/all.json"
run 0 "$MICROLENS" "${mlp[@]}" --out "$T/a" --config "$T/all.json"
expect_eq "$(sql "$T/a/run.sqlite" "select group_concat(m.step) from metrics m join metric_names n on n.id = m.name_id where n.name = 'act/layers.0/zero_fraction'")" \
    "3,6,9" "activation rows every 3rd step"
expect_eq "$(sql "$T/a/run.sqlite" "select count(*) from metrics m join metric_names n on n.id = m.name_id where n.name = 'grad/cosine_prev'")" \
    2 "cosine rows (none at the first collection)"

# LoRA: --snapshot lora --snapshot-every 2 over 5 steps gives steps 2 and 4, LoRA tensors only.
st=(train "${tl[@]}" --model settransformer --otu-vectors "$T/c/otu_vectors.safetensors"
    --batch 8 --max-otus 16 --d-model 10 --layers 2 --heads 2 --ff 16 --quiet)
run 0 "$MICROLENS" "${st[@]}" --steps 2 --out "$T/st"
run 0 "$MICROLENS" "${st[@]}" --steps 5 --out "$T/lora" --init "$T/st/checkpoints/step-0000002/model.safetensors" \
    --lora r=2,alpha=4,targets=q,v --snapshot lora --snapshot-every 2 --collect-every 1
expect_eq "$(ls "$T/lora/snapshots" | tr '\n' ' ')" "step-0000002.safetensors step-0000004.safetensors " "snapshot files"
run 0 "$MICROLENS" tensors "$T/lora/snapshots/step-0000004.safetensors"
expect_in "$T/out" "base_model.model.transformer.layers.1.self_attn.v_proj.lora_B.weight +F32 +\[10, 2\]"
expect_not_in "$T/out" "grad."
expect_not_in "$T/out" "classifier"
expect_eq "$(grep -c "lora_[AB].weight" "$T/out")" 8 "LoRA tensors in a snapshot"
expect_eq "$(find "$T/lora/checkpoints" -name '*snapshot*' -o -name 'step-*.safetensors' | wc -l)" 0 "no snapshot in checkpoints/"
expect_eq "$(sql "$T/lora/run.sqlite" "select count(distinct n.name) from metrics m join metric_names n on n.id = m.name_id where n.name like 'lora/%'")" \
    20 "lora metrics: 4 modules x 5"
finish
