#!/usr/bin/python3
"""collect_numpy.py - the training collectors' numbers recomputed with numpy from the raw
snapshot files of the same run (read byte by byte here, not through microlens), compared with
what run.sqlite holds (read with the sqlite3 module) to 1e-5 relative:
grad_norm/<tensor>, grad_norm (global: the norm of everything, not a sum of norms),
grad/cosine_prev (against the previous *collected* step's gradient), weight_norm/<tensor>,
update_ratio/<tensor> (weights of step s+1's snapshot minus step s's; none for a zero
tensor), and for LoRA runs
lora/<module>/{A,B,BA}_norm with B @ A formed densely, and {A,B}_grad_norm.

usage: collect_numpy.py RUN_DIR COLLECT_EVERY
Snapshots must hold grads and weights at every step of the run."""
import glob
import json
import os
import re
import sqlite3
import struct
import sys

import numpy as np

TOL = 1e-5


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").astype(np.float64).reshape(t["shape"])
    return out, meta


def metrics(run):
    c = sqlite3.connect(os.path.join(run, "run.sqlite"))
    rows = c.execute("select n.name, m.step, m.value from metrics m "
                     "join metric_names n on n.id = m.name_id")
    out = {}
    for name, step, value in rows:
        out[(name, step)] = value
    return out


failures = 0
checked = 0


def close(what, got, want):
    global failures, checked
    checked += 1
    if got is None or not abs(got - want) <= TOL * max(abs(got), abs(want)) + 1e-12:
        failures += 1
        print(f"FAIL {what}: run store {got!r}, numpy {want!r}")


def main():
    run, every = sys.argv[1], int(sys.argv[2])
    m = metrics(run)
    snaps = {}
    for p in glob.glob(os.path.join(run, "snapshots", "step-*.safetensors")):
        step = int(re.search(r"step-(\d+)\.safetensors$", p).group(1))
        snaps[step], meta = read_safetensors(p)
        assert meta["step"] == str(step) and meta["weights_after_updates"] == str(step - 1), meta
    steps = sorted(snaps)
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 3, steps
    prev = None
    for s in steps:
        t = snaps[s]
        grads = {k[5:]: v for k, v in t.items() if k.startswith("grad.")}
        names = sorted(grads)
        flat = np.concatenate([grads[k].ravel() for k in names])
        close(f"grad_norm step {s}", m.get(("grad_norm", s)), np.linalg.norm(flat))
        if s % every != 0:
            assert ("grad_norm/" + names[0], s) not in m, f"step {s} is not a collection step"
            continue
        for k in names:
            close(f"grad_norm/{k} step {s}", m.get((f"grad_norm/{k}", s)), np.linalg.norm(grads[k]))
            close(f"weight_norm/{k} step {s}", m.get((f"weight_norm/{k}", s)), np.linalg.norm(t[k]))
            if np.linalg.norm(t[k]) == 0:  # LoRA B at the start: the ratio is undefined
                assert (f"update_ratio/{k}", s) not in m, f"update_ratio/{k} of a zero tensor"
            elif s + 1 in snaps:
                dw = snaps[s + 1][k] - t[k]
                close(f"update_ratio/{k} step {s}", m.get((f"update_ratio/{k}", s)),
                      np.linalg.norm(dw) / np.linalg.norm(t[k]))
        if prev is None:
            assert ("grad/cosine_prev", s) not in m, "a cosine at the first collection"
        else:
            want = flat @ prev / (np.linalg.norm(flat) * np.linalg.norm(prev))
            close(f"grad/cosine_prev step {s}", m.get(("grad/cosine_prev", s)), want)
        prev = flat
        for a in [k for k in t if k.endswith(".lora_A.weight") and not k.startswith("grad.")]:
            mod = a[: -len(".lora_A.weight")]
            A, B = t[a], t[mod + ".lora_B.weight"]
            for key, want in [("A_norm", np.linalg.norm(A)), ("B_norm", np.linalg.norm(B)),
                              ("BA_norm", np.linalg.norm(B @ A)),
                              ("A_grad_norm", np.linalg.norm(grads[a])),
                              ("B_grad_norm", np.linalg.norm(grads[mod + ".lora_B.weight"]))]:
                close(f"lora/{mod}/{key} step {s}", m.get((f"lora/{mod}/{key}", s)), want)
    print(f"collect_numpy: {run}: {checked} values checked, {failures} failed")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
