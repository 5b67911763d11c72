#!/bin/bash
# report.sh - `microlens report` and `microlens evaluate --report` from the outside: help, usage
# errors (exit 2), a missing run (exit 3), an unwritable output (exit 1, nothing written), the
# three formats (chosen by --format or the extension), two runs compared, and no raw sample ID
# and nothing fetchable in any output. Rendering in Chromium: tests/oracle/report_chromium.sh.
source "$(dirname "$0")/lib.bash"
"$MICROLENS" synth --out "$T/c" --samples 80 --otus 120 --dim 8 --seed 5 --quiet >/dev/null
mlp=(train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 16 --steps 60
     --batch 16 --eval-every 5 --checkpoint-every 20 --collect all --collect-every 2 --quiet)
"$MICROLENS" "${mlp[@]}" --lr 1e-3 --out "$T/a" >/dev/null
"$MICROLENS" "${mlp[@]}" --lr 1e-2 --out "$T/b" >/dev/null

run 0 "$MICROLENS" report --help
expect_in "$T/out" "^Usage: microlens report PATH"
expect_in "$T/out" "Examples:"

# Usage errors: exit 2, nothing written.
run 2 "$MICROLENS" report "$T/a"
expect_in "$T/err" "needs --out FILE"
run 2 "$MICROLENS" report "$T/a" --out "$T/x.pdf" --format pdf
expect_in "$T/err" "--format must be html, md or json"
run 2 "$MICROLENS" report --out "$T/x.html"
run 2 "$MICROLENS" report "$T/a" --out "$T/x.html" --steps 9:3
expect_eq "$(ls "$T" | grep -c '^x\.')" 0 "nothing written on usage errors"

# A folder that is no run: exit 3; an output that cannot be written: exit 1.
run 3 "$MICROLENS" report "$T/c" --out "$T/x.html"
run 1 "$MICROLENS" report "$T/a" --out "$T/no/such/dir/r.html"
checks=$((checks + 1))
[[ ! -e $T/x.html ]] || { failures=$((failures + 1)); echo "FAIL: x.html written" >&2; }

# HTML: summary, plots, details; printed path and size; nothing a browser would fetch.
run 0 "$MICROLENS" report "$T/a" --out "$T/a.html"
expect_in "$T/out" "^report \(html\): $T/a.html \([0-9]+ bytes\)$"
for want in "Executive summary" ">Training and evaluation loss</text>" ">Gradient global norm</text>" \
    ">Gradient norm per tensor</text>" ">Weight norms \(relative\)</text>" "Technical detail"; do
    expect_in "$T/a.html" "$want"
done
for bad in "http://" "https://" "src=" "url(" "@import" "<script"; do
    checks=$((checks + 1))
    if grep -Fqi -- "$bad" "$T/a.html"; then failures=$((failures + 1)); echo "FAIL: a.html has $bad" >&2; fi
done

# Markdown and JSON, by extension and by --format.
run 0 "$MICROLENS" report "$T/a" --out "$T/a.md"
expect_in "$T/out" "^report \(md\): "
expect_in "$T/a.md" "^# Training report: a$"
expect_in "$T/a.md" "^## Diagnostics"
run 0 "$MICROLENS" report "$T/a" --format json --out "$T/a.txt" --quiet
expect_empty "$T/out"
expect_eq "$(json_get "$T/a.txt" '(d["report"]["version"], d["run"]["kind"], d["verdict"] in ("excellent","good","moderate","poor"), "loss" in [m["name"] for m in d["metrics"]])')" \
    "(1, 'microlens', True, True)" "JSON report fields"

# Two runs side by side.
run 0 "$MICROLENS" report "$T/a" --compare "$T/b" --out "$T/ab.html"
expect_in "$T/ab.html" ">Loss, both runs</text>"
expect_in "$T/ab.html" ">Comparison<"
expect_in "$T/ab.html" "difference \(2nd - 1st\)"
run 0 "$MICROLENS" report "$T/a" --compare "$T/b" --out "$T/ab.json"
expect_eq "$(json_get "$T/ab.json" '(len(d["comparison"]["deltas"]) > 5, d["compare"]["run"]["kind"])')" \
    "(True, 'microlens')" "comparison in JSON"

# The evaluation page.
run 0 "$MICROLENS" evaluate --features "$T/c/table.tsv" --labels "$T/c/labels.csv" --model logreg \
    --cv 3 --report "$T/ev.html" --quiet
expect_in "$T/out" "^report: $T/ev.html$"
expect_in "$T/ev.html" ">ROC curve</text>"
expect_in "$T/ev.html" ">Precision-recall curve</text>"
expect_in "$T/ev.html" ">Confusion matrix</text>"

# No raw sample identifier anywhere.
for id in $(tail -n +2 "$T/c/labels.csv" | cut -d, -f1,3 | tr , "\n" | sort -u | head -40); do
    for f in a.html a.md a.txt ab.html ev.html; do expect_not_in "$T/$f" "$id"; done
done
# Reports are shared files: no absolute path (runs are named by their folder's last component,
# and the stored configuration's file settings are cut the same way).
for f in a.html a.md a.txt ab.html ab.json; do expect_not_in "$T/$f" "$T"; done
finish
