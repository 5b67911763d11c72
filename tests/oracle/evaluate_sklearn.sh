#!/bin/bash
# evaluate_sklearn.sh - `microlens evaluate --model logreg --transform clr` with grouped 5-fold
# CV on ECAM (delivery mode, grouped by child) against scikit-learn fitted on the very same
# folds (tests/oracle/evaluate_sklearn.py): per-fold and pooled ROC-AUC within 1e-4.
set -uo pipefail
: "${MICROLENS:?MICROLENS must point at the microlens binary}"
skip() {
    if [[ ${CI:-} == true ]]; then echo "FAIL: $1 (CI needs the oracle)" >&2; exit 1; fi
    echo "SKIP: $1"
    exit 0
}
/usr/bin/python3 -c 'import sklearn, h5py, numpy' 2>/dev/null || skip "Debian's python3-sklearn/h5py missing"
scripts/fetch-ecam.sh data/ecam >/dev/null || skip "ECAM data not available (scripts/fetch-ecam.sh failed)"
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$MICROLENS" evaluate --features data/ecam/feature-table.biom --labels data/ecam/sample-metadata.tsv \
    --label-col delivery --group-col studyid --model logreg --transform clr --cv 5 \
    --folds-out "$T/folds.csv" --json --quiet >"$T/eval.json" || { echo "FAIL: evaluate exited $?" >&2; exit 1; }
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("microlens: pooled AUROC %.6f, 95%% CI [%.4f, %.4f], %d samples, %d positive (%s), %s" % (d["pooled"]["roc_auc"], *d["ci95"]["roc_auc"], d["n_samples"], d["n_positive"], d["positive_class"], d["cv"]["kind"]))' "$T/eval.json"
/usr/bin/python3 tests/oracle/evaluate_sklearn.py data/ecam/feature-table.biom data/ecam/sample-metadata.tsv \
    "$T/folds.csv" "$T/eval.json"
