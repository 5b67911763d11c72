"""evaluate_sklearn.py TABLE METADATA FOLDS EVAL_JSON - scikit-learn on microlens's own folds.

Reads the BIOM 2.1 table with h5py (samples in file order, as microlens numbers them), the
labels (--label-col delivery) and the fold assignment microlens wrote with --folds-out. For
each fold: CLR (pseudocount 1) per sample over all features, StandardScaler and
LogisticRegression(C=1, tol=1e-10, max_iter=10000) fitted on the training rows only, then
probabilities for the test rows. Prints per-fold and pooled out-of-fold ROC-AUC beside
microlens's from EVAL_JSON and exits 1 if any differs by more than 1e-4.
"""
import csv
import json
import sys
import warnings

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

TOL = 1e-4
table_path, meta_path, folds_path, eval_path = sys.argv[1:5]
ours = json.load(open(eval_path))
label_col = ours["input"]["label_column"]
positive = ours["positive_class"]

with h5py.File(table_path, "r") as f:
    sids = [s.decode() if isinstance(s, bytes) else s for s in f["sample/ids"][:]]
    n_obs = len(f["observation/ids"])
    data = f["sample/matrix/data"][:]
    indices = f["sample/matrix/indices"][:]
    indptr = f["sample/matrix/indptr"][:]
X = np.zeros((len(sids), n_obs))
for i in range(len(sids)):
    X[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]

rows = list(csv.reader(open(meta_path), delimiter="\t"))
header = rows[0]
label_of = {r[0]: r[header.index(label_col)] for r in rows[1:] if r and not r[0].startswith("#")}
y = np.array([1 if label_of.get(s) == positive else 0 for s in sids])

fold = np.full(len(sids), -1)
for r in csv.DictReader(open(folds_path)):
    assert r["repeat"] == "0", "oracle handles one repeat"
    fold[int(r["sample_index"])] = int(r["fold"])
labelled = fold >= 0
group_col = ours["input"]["group_column"]
if group_col:
    group_of = {r[0]: r[header.index(group_col)] for r in rows[1:] if r and not r[0].startswith("#")}
    folds_of = {}
    for i in np.flatnonzero(labelled):
        folds_of.setdefault(group_of[sids[i]], set()).add(int(fold[i]))
    split = [g for g, fs in folds_of.items() if len(fs) > 1]
    assert not split, f"{len(split)} groups span two folds"
    print(f"{len(folds_of)} groups ({group_col}), none in two folds")

logx = np.log(X + 1.0)
clr = logx - logx.mean(axis=1, keepdims=True)
score = np.full(len(sids), np.nan)
warnings.simplefilter("ignore")
bad = 0
for k in range(int(fold.max()) + 1):
    tr, te = labelled & (fold != k), fold == k
    sc = StandardScaler().fit(clr[tr])
    m = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(sc.transform(clr[tr]), y[tr])
    score[te] = m.predict_proba(sc.transform(clr[te]))[:, 1]
    sk = roc_auc_score(y[te], score[te])
    mine = ours["folds"][k]["roc_auc"]
    ok = abs(sk - mine) <= TOL
    bad += not ok
    print(f"fold {k}: n_test {te.sum():4d}  microlens AUROC {mine:.6f}  scikit-learn AUROC "
          f"{sk:.6f}  |diff| {abs(sk - mine):.2e} {'ok' if ok else 'FAIL'}")
sk_pooled = roc_auc_score(y[labelled], score[labelled])
mine = ours["pooled"]["roc_auc"]
ok = abs(sk_pooled - mine) <= TOL
bad += not ok
print(f"pooled out-of-fold (n {labelled.sum()}): microlens AUROC {mine:.6f}  scikit-learn AUROC "
      f"{sk_pooled:.6f}  |diff| {abs(sk_pooled - mine):.2e} {'ok' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
