#!/usr/bin/python3
"""transform_numpy.py - writes tests/data/fixtures/transform/numpy.golden: CLR and log
transforms with standard scaling (population std, like scikit-learn's StandardScaler) computed
by numpy on a deterministic table that tests/data/test_transform.c rebuilds with the same
generator (splitmix64 finalizer of i * 1000 + j + 1). Fitted on samples 0-7, applied to all 12.
Usage: transform_numpy.py [OUT] (default: stdout)."""
import sys

import numpy as np

M = (1 << 64) - 1
N_SAMPLES, N_FEATURES, N_TRAIN = 12, 9, 8


def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


def value(i, j):
    h = mix(i * 1000 + j + 1)
    return 0.0 if h % 10 < 4 else float((h >> 16) % 300 + 1)


def scaled(z, train):
    mean = z[train].mean(axis=0)
    sd = z[train].std(axis=0, ddof=0)
    sd[sd == 0] = 1.0
    return (z - mean) / sd


def main():
    x = np.array([[value(i, j) for j in range(N_FEATURES)] for i in range(N_SAMPLES)])
    train = np.arange(N_TRAIN)
    relab = x / x.sum(axis=1, keepdims=True)
    lines = ["# SOURCE: tests/oracle/transform_numpy.py, numpy %s; 12 x 9 table, fit on "
             "samples 0-7" % np.__version__]
    # clr: min_prevalence 0.5, pseudocount 0.5, scaled
    prevalence = (x[train] > 0).mean(axis=0)
    kept = np.flatnonzero(prevalence >= 0.5)
    lz = np.log(x[:, kept] + 0.5)
    clr = lz - lz.mean(axis=1, keepdims=True)
    blocks = [("clr", kept, scaled(clr, train))]
    # log: top_k 5 by mean relative abundance over training samples, pseudocount 1e-6, scaled
    mean_relab = relab[train].mean(axis=0)
    order = sorted(range(N_FEATURES), key=lambda j: (-mean_relab[j], j))
    kept = np.array(sorted(order[:5]))
    blocks.append(("log", kept, scaled(np.log(relab[:, kept] + 1e-6), train)))
    for name, kept, z in blocks:
        lines.append(name + " kept " + " ".join(str(j) for j in kept))
        for i in range(N_SAMPLES):
            lines.append("%s %d %s" % (name, i, " ".join("%.17g" % v for v in z[i])))
    text = "\n".join(lines) + "\n"
    if len(sys.argv) > 1:
        open(sys.argv[1], "w").write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
