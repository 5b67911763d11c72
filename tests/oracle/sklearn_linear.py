"""sklearn_linear.py DIR - scikit-learn's linear models for tests/classify/test_classifier.c.

Reads DIR/X.csv (n rows of d values), DIR/y.csv (0/1), DIR/w.csv (sample weights) and
DIR/cases.csv, one case per line: kind,penalty,C,l1_ratio,balanced,use_weights with kind
logreg|logreg-newton-cg|svm and penalty l2|l1|elasticnet|none. Writes DIR/out.csv: one line
per case, the d coefficients then the intercept. Solvers: lbfgs for l2/none (the default),
newton-cg when asked (tighter), saga for l1 and elasticnet (the only ones with an unpenalised
intercept), LinearSVC(loss="hinge") for svm.
"""
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

d = sys.argv[1]
X = np.loadtxt(f"{d}/X.csv", delimiter=",", ndmin=2)
y = np.loadtxt(f"{d}/y.csv", dtype=int, ndmin=1)
w = np.loadtxt(f"{d}/w.csv", ndmin=1)
rows = []
warnings.simplefilter("ignore")
for line in open(f"{d}/cases.csv"):
    kind, penalty, C, l1_ratio, balanced, use_w = line.strip().split(",")
    cw = "balanced" if balanced == "1" else None
    sw = w if use_w == "1" else None
    if kind == "svm":
        m = LinearSVC(loss="hinge", C=float(C), tol=1e-10, max_iter=1000000, class_weight=cw,
                      random_state=0)
    elif kind == "logreg-newton-cg":
        m = LogisticRegression(penalty=None if penalty == "none" else "l2", C=float(C),
                               solver="newton-cg", tol=1e-12, max_iter=10000, class_weight=cw)
    elif penalty in ("l2", "none"):
        m = LogisticRegression(penalty=None if penalty == "none" else "l2", C=float(C),
                               tol=1e-10, max_iter=10000, class_weight=cw)
    else:
        m = LogisticRegression(penalty=penalty, C=float(C), solver="saga", tol=1e-12,
                               max_iter=1000000, class_weight=cw,
                               l1_ratio=float(l1_ratio) if penalty == "elasticnet" else None)
    m.fit(X, y, sample_weight=sw)
    rows.append(np.append(m.coef_.ravel(), m.intercept_[0]))
np.savetxt(f"{d}/out.csv", np.array(rows), fmt="%.17g", delimiter=",")
