"""sklearn_metrics.py DIR - scikit-learn's answers for tests/eval/test_metrics.c.

Reads DIR/y.csv (0/1 per line) and DIR/score.csv (one score per line), writes DIR/out.csv:
roc_auc, average_precision, f1, accuracy, balanced_accuracy, tn, fp, fn, tp (predicting
score > 0.5), then DIR/roc.csv (fpr,tpr,threshold rows, drop_intermediate=False) and
DIR/pr.csv (precision,recall,threshold rows; the final point has threshold inf).
"""
import sys

import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score,
                             confusion_matrix, f1_score, precision_recall_curve, roc_auc_score,
                             roc_curve)

d = sys.argv[1]
y = np.loadtxt(f"{d}/y.csv", dtype=int, ndmin=1)
s = np.loadtxt(f"{d}/score.csv", dtype=float, ndmin=1)
pred = (s > 0.5).astype(int)
tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
vals = [roc_auc_score(y, s), average_precision_score(y, s), f1_score(y, pred),
        accuracy_score(y, pred), balanced_accuracy_score(y, pred), tn, fp, fn, tp]
np.savetxt(f"{d}/out.csv", np.array(vals, dtype=float), fmt="%.17g")
fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
np.savetxt(f"{d}/roc.csv", np.column_stack([fpr, tpr, thr]), fmt="%.17g", delimiter=",")
prec, rec, thr = precision_recall_curve(y, s)
np.savetxt(f"{d}/pr.csv", np.column_stack([prec, rec, np.append(thr, np.inf)]), fmt="%.17g",
           delimiter=",")
