#!/bin/bash
# analyze.sh - `microlens analyze` on planted faults, each a real short `microlens train` run on
# `microlens synth` data: learning rate far too high (explosion and non-finite steps, with the
# step), labels shuffled on a tiny set trained long (overfitting, best checkpoint named),
# learning rate zero (no progress), and a healthy run that must not be flagged. Prints the
# table of expected against found. Then exit codes, --steps, --json and a Hugging Face folder
# with a pickled file that is named and never opened.
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
"$MICROLENS" synth --out "$T/h" --samples 240 --otus 200 --dim 8 --seed 7 --quiet >/dev/null
"$MICROLENS" synth --out "$T/s" --samples 60 --patients 60 --otus 60 --dim 8 --seed 3 --quiet >/dev/null
# Shuffled labels: every label moves 7 rows down (a fixed permutation, so the run is repeatable).
awk -F, 'NR == 1 { print; next } { id[NR] = $1; lab[NR] = $2; grp[NR] = $3; n = NR }
    END { for (i = 2; i <= n; i++) { j = (i - 2 + 7) % (n - 1) + 2; print id[i] "," lab[j] "," grp[i] } }' \
    "$T/s/labels.csv" >"$T/s/shuffled.csv"
healthy=(--table "$T/h/table.tsv" --labels "$T/h/labels.csv")
mlp=(train --model mlp --quiet --batch 32)

# With validation: a diverged model's scores are NaN, which must not fail the run.
run 0 "$MICROLENS" "${mlp[@]}" "${healthy[@]}" --hidden 16 --steps 60 --batch 16 --lr 3 \
    --optimizer sgd --eval-every 20 --out "$T/high"
run 0 "$MICROLENS" "${mlp[@]}" --table "$T/s/table.tsv" --labels "$T/s/shuffled.csv" --hidden 128 \
    --steps 300 --batch 16 --lr 1e-3 --eval-every 10 --checkpoint-every 10 --out "$T/shuffled"
run 0 "$MICROLENS" "${mlp[@]}" "${healthy[@]}" --hidden 32 --steps 200 --lr 0 --eval-every 20 \
    --out "$T/zero"
run 0 "$MICROLENS" "${mlp[@]}" "${healthy[@]}" --hidden 32 --steps 60 --lr 1e-3 --eval-every 10 \
    --checkpoint-every 20 --out "$T/healthy"

for r in high shuffled zero healthy; do
    run 0 "$MICROLENS" analyze "$T/$r" --json
    cp "$T/out" "$T/$r.json"
done

# One line per fault: what the analysis found, in numbers.
found() { # found RUN PYTHON_EXPR
    /usr/bin/python3 - "$T/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = {x["code"]: x for x in d["findings"]}
def sev(code):
    return f[code]["severity"] if code in f else "absent"
print(eval(sys.argv[2]))
PY
}
expect_eq "$(found high 'sev("gradient.explosion"), sev("gradient.nonfinite"), d["verdict"]')" \
    "('critical', 'critical', 'poor')" "high learning rate: explosion and non-finite steps"
expect_eq "$(found high 'f["gradient.nonfinite"]["step"] == d["gradients"]["first_nonfinite_step"] > 0')" \
    True "high learning rate: the first non-finite step is named"
expect_eq "$(found shuffled 'sev("overfitting") in ("warning", "critical"), d["overfitting"]["best_checkpoint"]')" \
    "(True, 'checkpoints/step-0000010')" "shuffled labels: overfitting, best checkpoint"
expect_eq "$(found shuffled 'd["overfitting"]["early_stop_step"] > d["overfitting"]["best_eval_step"]')" \
    True "shuffled labels: early-stop advice after the best step"
expect_eq "$(found zero 'sev("lr.zero"), sev("loss.no_progress"), d["verdict"]')" \
    "('critical', 'critical', 'poor')" "zero learning rate: no progress"
expect_eq "$(found healthy '[x["code"] for x in d["findings"] if x["severity"] != "info"], d["verdict"]')" \
    "([], 'excellent')" "healthy run: nothing flagged"
expect_eq "$(found healthy 'd["overfitting"]["overfitting"], d["loss"]["reduction"] > 0.5')" \
    "(False, True)" "healthy run: learning, not overfitting"

echo "planted faults: expected vs found"
printf '%-22s | %-52s | %s\n' fault expected found
printf '%-22s | %-52s | %s\n' "lr far too high (3)" "explosion + non-finite (critical), steps named" \
    "$(found high '"explosion %s from step %s (norm %.3g = %.0fx median %.3g); non-finite %s from step %s (%d steps); verdict %s" % (sev("gradient.explosion"), d["gradients"]["first_spike_step"], d["gradients"]["first_spike_norm"], d["gradients"]["first_spike_norm"] / d["gradients"]["first_spike_median"], d["gradients"]["first_spike_median"], sev("gradient.nonfinite"), d["gradients"]["first_nonfinite_step"], d["gradients"]["n_nonfinite"], d["verdict"])')"
printf '%-22s | %-52s | %s\n' "labels shuffled" "overfitting, best checkpoint named" \
    "$(found shuffled '"overfitting %s: best eval_loss %.3f at step %d (%s), final %.3f; train slope %+.2f/1k; stop at %d; verdict %s" % (sev("overfitting"), d["overfitting"]["best_eval_loss"], d["overfitting"]["best_eval_step"], d["overfitting"]["best_checkpoint"], d["overfitting"]["final_eval_loss"], d["overfitting"]["train_slope_per_1k_steps"], d["overfitting"]["early_stop_step"], d["verdict"])')"
printf '%-22s | %-52s | %s\n' "lr zero (--lr 0)" "no progress + lr zero (critical)" \
    "$(found zero '"lr.zero %s (peak %.3g); no_progress %s (loss %.4f -> %.4f, %.2f%%); verdict %s" % (sev("lr.zero"), d["learning_rate"]["peak"], sev("loss.no_progress"), d["loss"]["initial"], d["loss"]["final"], 100 * d["loss"]["reduction"], d["verdict"])')"
printf '%-22s | %-52s | %s\n' "healthy" "no critical or warning finding" \
    "$(found healthy '"findings %s; loss %.3f -> %.3f; best eval %.3f at %d; verdict %s (%g)" % ([x["code"] for x in d["findings"]], d["loss"]["initial"], d["loss"]["final"], d["overfitting"]["best_eval_loss"], d["overfitting"]["best_eval_step"], d["verdict"], d["score"])')"

# Text output: verdict first, then findings with evidence and a recommendation.
run 0 "$MICROLENS" analyze "$T/high"
expect_in "$T/out" "^verdict: poor"
expect_in "$T/out" "\[critical\] gradient.nonfinite \(step [0-9]+\)"
expect_in "$T/out" "      do: "
run 0 "$MICROLENS" analyze --help
expect_in "$T/out" "^Usage: microlens analyze PATH"
expect_in "$T/out" "Examples:"

# --steps: the window is honoured in every series.
run 0 "$MICROLENS" analyze "$T/healthy" --steps 20:40 --json
expect_eq "$(json_get "$T/out" '(d["window"], d["loss"]["n_points"])')" \
    "({'first_step': 20, 'last_step': 40}, 21)" "--steps 20:40"
run 2 "$MICROLENS" analyze "$T/healthy" --steps 40:20
expect_in "$T/err" "first step is after the last"
run 2 "$MICROLENS" analyze "$T/healthy" --steps x:3
expect_in "$T/err" "--steps expects A:B"

# Bad inputs: exit 3 with the file and field named.
run 3 "$MICROLENS" analyze "$T/nowhere"
expect_in "$T/err" "nowhere: cannot open"
mkdir -p "$T/empty"
run 3 "$MICROLENS" analyze "$T/empty"
expect_in "$T/err" "no run.sqlite, no checkpoint-N/ folder and no trainer_state.json"
mkdir -p "$T/badhf/checkpoint-4"
printf '{"global_step": 4, "log_history": [{"step": 1, "loss": 0.5}, {"loss": 0.4}]}' \
    >"$T/badhf/checkpoint-4/trainer_state.json"
run 3 "$MICROLENS" analyze "$T/badhf"
expect_in "$T/err" "checkpoint-4/trainer_state.json: log_history\[1\].step: missing"
printf '{"global_step": 4, "log_his' >"$T/badhf/checkpoint-4/trainer_state.json"
run 3 "$MICROLENS" analyze "$T/badhf"
expect_in "$T/err" "checkpoint-4/trainer_state.json:1:[0-9]+: "

# A Hugging Face folder: NaN written bare by Python, a pickle named and never opened (a FIFO
# would block any reader that opened it).
mkdir -p "$T/hf/checkpoint-3"
/usr/bin/python3 - "$T/hf/checkpoint-3/trainer_state.json" <<'PY'
import json, sys
h = [{"step": s, "loss": 1.0 / s, "learning_rate": 1e-4, "grad_norm": float("nan") if s == 2 else 1.0,
      "epoch": s / 3} for s in (1, 2, 3)]
h.append({"step": 3, "train_loss": 0.6, "train_runtime": 1.0, "total_flos": 10.0})
json.dump({"global_step": 3, "log_history": h}, open(sys.argv[1], "w"))
PY
mkfifo "$T/hf/checkpoint-3/pytorch_model.bin"
run 0 "$MICROLENS" analyze "$T/hf" --json
expect_eq "$(json_get "$T/out" '(d["run"]["kind"], d["gradients"]["first_nonfinite_step"], d["loss"]["n_points"])')" \
    "('hf_trainer', 2, 3)" "HF folder series"
expect_in "$T/out" "checkpoint-3: pickled files skipped, never opened: pytorch_model.bin"
expect_in "$T/out" "train_summary"
finish
