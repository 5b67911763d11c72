# evaluate.sh - `microlens evaluate` on a synth cohort: grouped CV, the folds file, repeats,
# nested tuning, leave-one-group-out, a model bundle our strict reader opens, and refusals
# (usage errors exit 2, missing or unusable labels exit 3). No raw sample ID in any output.
source tests/cli/lib.bash

run 0 "$MICROLENS" synth --out "$T/c" --samples 60 --patients 20 --otus 40 --dim 4 --seed 5 --quiet
F=(--features "$T/c/table.tsv" --labels "$T/c/labels.csv")

run 0 "$MICROLENS" evaluate "${F[@]}" --group-col group --model logreg --cv 4 \
    --folds-out "$T/folds.csv" --save-model "$T/model" --json
cp "$T/out" "$T/e.json"
expect_empty "$T/err"
expect_eq "$(json_get "$T/e.json" 'd["cv"]["kind"]')" stratified_group_kfold "cv kind"
expect_eq "$(json_get "$T/e.json" 'd["n_samples"]')" 60 "n_samples"
expect_eq "$(json_get "$T/e.json" 'len(d["folds"])')" 4 "fold count"
expect_eq "$(json_get "$T/e.json" 'sum(f["n_test"] for f in d["folds"])')" 60 "test rows"
expect_eq "$(json_get "$T/e.json" '0 <= d["pooled"]["roc_auc"] <= 1 and d["ci95"]["roc_auc"][0] <= d["ci95"]["roc_auc"][1]')" True "pooled AUC and CI"
expect_eq "$(json_get "$T/e.json" 'sorted(d["pooled"]["confusion"])')" "['fn', 'fp', 'tn', 'tp']" "confusion"
expect_eq "$(json_get "$T/e.json" 'sum(d["pooled"]["confusion"].values())')" 60 "confusion total"
expect_eq "$(json_get "$T/e.json" 'd["transform"]["kind"], d["transform"]["pseudocount"]')" "('clr', 1.0)" "transform"
expect_in "$T/e.json" '"fingerprint": "sha256:[0-9a-f]{64}"'
expect_not_in "$T/e.json" "P001_S"

# The folds file: header, one line per labelled sample, 0-based rows, no group in two folds.
expect_eq "$(head -1 "$T/folds.csv")" "sample_index,repeat,fold" "folds header"
expect_eq "$(tail -n +2 "$T/folds.csv" | wc -l)" 60 "folds rows"
expect_eq "$(/usr/bin/python3 - "$T/folds.csv" "$T/c/table.tsv" "$T/c/labels.csv" <<'PY'
import csv, sys
folds = {int(r["sample_index"]): r["fold"] for r in csv.DictReader(open(sys.argv[1]))}
head = [l for l in open(sys.argv[2]) if l.startswith("#OTU ID")][0].rstrip("\n").split("\t")[1:]
group = {r["sid"]: r["group"] for r in csv.DictReader(open(sys.argv[3]))}
seen = {}
for i, sid in enumerate(head):
    seen.setdefault(group[sid], set()).add(folds[i])
print(sorted(folds) == list(range(len(head))) and all(len(v) == 1 for v in seen.values()))
PY
)" True "groups whole in the folds file"

# The bundle: both files, tensors our strict reader accepts, a card naming features and class.
for f in model.safetensors card.json; do
    checks=$((checks + 1))
    [[ -s $T/model/$f ]] || { failures=$((failures + 1)); echo "FAIL: bundle lacks $f" >&2; }
done
run 0 "$MICROLENS" tensors "$T/model/model.safetensors"
expect_in "$T/out" "classifier.coef"
expect_in "$T/out" "transform.scale"
expect_eq "$(json_get "$T/model/card.json" 'len(d["features"]), d["positive_class"], d["model"]["kind"]')" "(40, 'healthy', 'logreg')" "card"
expect_eq "$(json_get "$T/model/card.json" 'd["data_fingerprint"] == json.load(open(sys.argv[1].replace("model/card.json", "e.json")))["fingerprint"]')" True "card fingerprint"
expect_not_in "$T/model/card.json" "P001_S"

# Repeats, nested tuning and leave-one-group-out; text output.
run 0 "$MICROLENS" evaluate "${F[@]}" --model logreg --cv 3 --repeats 2 --folds-out "$T/f2.csv" --json --quiet
expect_eq "$(json_get "$T/out" 'len(d["pooled_by_repeat"]), len(d["folds"])')" "(2, 6)" "repeats"
expect_eq "$(tail -n +2 "$T/f2.csv" | wc -l)" 120 "folds rows over 2 repeats"
run 0 "$MICROLENS" evaluate "${F[@]}" --model logreg --cv 3 --nested --grid 'C=0.1,1' --inner-cv 2 --json --quiet
expect_eq "$(json_get "$T/out" 'all(f["chosen"] in ("C=0.1", "C=1") for f in d["folds"]) and d["cv"]["nested"]')" True "nested choices"
run 0 "$MICROLENS" evaluate "${F[@]}" --model logreg --leave-one-group-out --json --quiet
expect_eq "$(json_get "$T/out" 'd["cv"]["kind"], d["cv"]["k"]')" "('leave_one_group_out', 20)" "logo"
run 0 "$MICROLENS" evaluate "${F[@]}" --model rf --trees 20 --max-depth 4 --cv 3
expect_in "$T/out" "pooled ROC-AUC [0-9.]+, 95% CI"
expect_in "$T/err" 'folds grouped by column "group"'
expect_not_in "$T/out" "P001_S"

# Usage errors exit 2.
run 2 "$MICROLENS" evaluate "${F[@]}" --model forest
expect_in "$T/err" "--model must be"
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --trees 10
expect_in "$T/err" "does not apply"
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --nested
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --cv 1
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --transform none --pseudocount 1
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --C -1
run 2 "$MICROLENS" evaluate "${F[@]}" --model logreg --bogus
run 2 "$MICROLENS" evaluate --labels "$T/c/labels.csv" --model logreg
# Missing or unusable labels exit 3.
run 3 "$MICROLENS" evaluate --features "$T/c/table.tsv" --labels "$T/missing.csv" --model logreg
run 3 "$MICROLENS" evaluate "${F[@]}" --label-col nosuch --model logreg
sed 's/,allergy,/,healthy,/' "$T/c/labels.csv" >"$T/one.csv"
run 3 "$MICROLENS" evaluate --features "$T/c/table.tsv" --labels "$T/one.csv" --model logreg
expect_in "$T/err" "exactly 2 classes"
run 3 "$MICROLENS" evaluate "${F[@]}" --model logreg --cv 15
expect_not_in "$T/err" "P001_S"
finish
