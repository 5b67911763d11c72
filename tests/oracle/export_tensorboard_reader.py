#!/usr/bin/env python3
"""export_tensorboard_reader.py - TensorBoard's own reader on our event file: a second oracle.

  export_tensorboard_reader.py RUN_DIR OUT

Run with the virtualenv of scripts/tensorboard-venv.sh. Loads OUT with
tensorboard.backend.event_processing.event_accumulator (which checks the TFRecord CRCs and
parses the Events with the real protobuf classes) and compares every scalar (tag, step,
float32 value, wall time) with run.sqlite, and every snapshot histogram's count, min and max
with the snapshot tensor's finite values.
"""
import os
import re
import sqlite3
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_numpy import read_safetensors  # noqa: E402


def main():
    run_dir, out = sys.argv[1], sys.argv[2]
    acc = ea.EventAccumulator(out, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()
    got = sorted((t, e.step, repr(float(np.float32(e.value))), e.wall_time)
                 for t in tags["scalars"] for e in acc.Scalars(t))
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run_dir, "run.sqlite"), uri=True)
    want = sorted((n, s, repr(float(np.float32(np.nan if v is None else v))), w) for n, s, v, w in
                  db.execute("SELECT n.name, m.step, m.value, m.wall_time FROM metrics m "
                             "JOIN metric_names n ON n.id = m.name_id"))
    status = 0
    if got != want:
        print("FAIL: TensorBoard read %d scalars, the store has %d; first difference %s" %
              (len(got), len(want), next(((a, b) for a, b in zip(got, want) if a != b), None)))
        status = 1
    n_hist = 0
    snap_dir = os.path.join(run_dir, "snapshots")
    for fn in sorted(os.listdir(snap_dir)) if os.path.isdir(snap_dir) else []:
        if not re.fullmatch(r"step-\d{7}\.safetensors", fn):
            continue
        for name, arr in read_safetensors(os.path.join(snap_dir, fn)).items():
            if arr.dtype.kind != "f":
                continue
            with np.errstate(over="ignore"):
                v = arr.astype(np.float32).astype(np.float64).ravel()
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            hs = [h for h in acc.Histograms("snapshots/" + name) if h.step == int(fn[5:12])]
            hv = hs[0].histogram_value if len(hs) == 1 else None
            if (hv is None or hv.num != v.size or hv.min != v.min() or hv.max != v.max() or
                    sum(hv.bucket) != v.size):
                print("FAIL: histogram of %s at %s: %s" % (name, fn, hv))
                status = 1
            n_hist += 1
    print("TensorBoard's EventAccumulator read %d scalars and %d histograms matching the run" %
          (len(got), n_hist))
    return status


if __name__ == "__main__":
    sys.exit(main())
