#!/usr/bin/python3
"""export_numpy.py - the npy export against numpy.load and an independent reading of the run.

  export_numpy.py snapshots RUN_DIR   writes two snapshot files (F32, F16, BF16, F64, I64, BOOL;
                                      odd and very long tensor names) into RUN_DIR/snapshots
  export_numpy.py check RUN_DIR OUT [GLOB] [--no-snapshots]
      every metric of run.sqlite (read with sqlite3) matching GLOB has exactly one .npy in OUT,
      loaded by numpy.load(allow_pickle=False) as records (step, value, wall_time) equal to the
      store's rows; every snapshot tensor (read from the safetensors bytes here) has one .npy
      equal to it, in its dtype (BF16 widened to float32); index.csv lists exactly those files,
      each file name decodes back to its name; data starts at a multiple of 64.
"""
import csv
import fnmatch
import json
import os
import sqlite3
import struct
import sys
import urllib.parse

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8"}
LONG_NAME = "lora/" + "x" * 230 + "/A"  # over the 200-byte file name limit once encoded


def write_safetensors(path, tensors):
    """tensors: name -> (dtype name, shape, raw little-endian bytes)."""
    header, blobs, off = {}, [], 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16_bytes(values):
    bits = np.asarray(values, dtype="<f4").view("<u4") >> 16
    return bits.astype("<u2").tobytes()


def make_snapshots(run_dir):
    d = os.path.join(run_dir, "snapshots")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    for step in (5, 15):  # between the trainer's snapshots (every 10 steps)
        w = rng.standard_normal((4, 3)).astype("<f4")
        w[0, 0] = np.nan
        t = {
            "layers.0.weight": ("F32", w.shape, w.tobytes()),
            "grad.layers.0.weight": ("F32", w.shape, (w * 0.01).astype("<f4").tobytes()),
            "odd/name with space,comma":
                ("F16", (5,), rng.standard_normal(5).astype("<f2").tobytes()),
            "bf": ("BF16", (2, 2), bf16_bytes([1.5, -2.25, 3.0e-3, 1.0e20])),
            "d": ("F64", (3,), np.array([1e300, -0.0, np.inf]).astype("<f8").tobytes()),
            "count": ("I64", (), np.array(step, dtype="<i8").tobytes()),
            "mask": ("BOOL", (3,), bytes([1, 0, 1])),
            LONG_NAME: ("F32", (2,), np.array([1, 2], dtype="<f4").tobytes()),
        }
        write_safetensors(os.path.join(d, "step-%07d.safetensors" % step), t)
    # Not a snapshot name: the export must skip it.
    open(os.path.join(d, "step-5.safetensors.tmp"), "wb").close()


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        if v["dtype"] == "BF16":
            bits = np.frombuffer(data[a:b], dtype="<u2").astype("<u4") << 16
            arr = bits.view("<f4")
        else:
            arr = np.frombuffer(data[a:b], dtype=DTYPES[v["dtype"]])
        out[name] = arr.reshape(v["shape"])
    return out


def store_series(run_dir):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run_dir, "run.sqlite"), uri=True)
    rows = db.execute("SELECT n.name, m.step, m.value, m.wall_time FROM metrics m "
                      "JOIN metric_names n ON n.id = m.name_id ORDER BY n.name, m.step")
    series = {}
    for name, step, value, wall in rows:
        series.setdefault(name, []).append((step, float("nan") if value is None else value, wall))
    return series


def fail(msg):
    print("FAIL: " + msg)
    return 1


def check_file(path):
    with open(path, "rb") as f:
        major, minor = np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        if (major, minor) != (1, 0) or f.tell() % 64:
            return "version %d.%d, data at %d" % (major, minor, f.tell())
    return None


def check(run_dir, out, pattern, snapshots):
    status = 0
    series = {k: v for k, v in store_series(run_dir).items()
              if pattern is None or fnmatch.fnmatchcase(k, pattern)}
    with open(os.path.join(out, "index.csv"), newline="") as f:
        index = list(csv.DictReader(f))
    metric_rows = [r for r in index if r["kind"] == "metric"]
    if sorted(r["name"] for r in metric_rows) != sorted(series):
        status |= fail("index metrics %s != store metrics %s" %
                       (sorted(r["name"] for r in metric_rows)[:5], sorted(series)[:5]))
    for r in metric_rows:
        path = os.path.join(out, r["file"])
        base = os.path.basename(r["file"])[:-4]
        if "~" not in base and urllib.parse.unquote(base) != r["name"]:
            status |= fail("%s does not decode to %r" % (r["file"], r["name"]))
        bad = check_file(path)
        if bad:
            status |= fail("%s: %s" % (r["file"], bad))
        a = np.load(path, allow_pickle=False)
        want = series.get(r["name"], [])
        steps = np.array([s for s, _, _ in want], dtype=np.int64)
        values = np.array([v for _, v, _ in want], dtype=np.float64)
        walls = np.array([w for _, _, w in want], dtype=np.float64)
        if a.dtype.names != ("step", "value", "wall_time") or a.shape != (len(want),):
            status |= fail("%s: dtype %s shape %s" % (r["file"], a.dtype, a.shape))
            continue
        if not (np.array_equal(a["step"], steps) and
                np.array_equal(a["value"], values, equal_nan=True) and
                np.array_equal(a["wall_time"], walls)):
            status |= fail("%s: values differ from run.sqlite" % r["file"])
    snap_dir = os.path.join(run_dir, "snapshots")
    want_snaps = {}
    if snapshots and os.path.isdir(snap_dir):
        for fn in sorted(os.listdir(snap_dir)):
            if fn.startswith("step-") and fn.endswith(".safetensors") and len(fn) == 24:
                step = int(fn[5:12])
                for name, arr in read_safetensors(os.path.join(snap_dir, fn)).items():
                    want_snaps[(step, name)] = arr
    snap_rows = [r for r in index if r["kind"] == "snapshot"]
    got = {(int(r["step"]), r["name"]): r["file"] for r in snap_rows}
    if set(got) != set(want_snaps) or len(got) != len(snap_rows):
        status |= fail("snapshot tensors in index.csv differ: %d vs %d" %
                       (len(got), len(want_snaps)))
    for key, rel in got.items():
        if key not in want_snaps:
            continue
        bad = check_file(os.path.join(out, rel))
        if bad:
            status |= fail("%s: %s" % (rel, bad))
        a = np.load(os.path.join(out, rel), allow_pickle=False)
        w = want_snaps[key]
        if a.dtype != w.dtype or a.shape != w.shape or not np.array_equal(a, w, equal_nan=True):
            status |= fail("%s: %s %s differs from the snapshot's %s %s" %
                           (rel, a.dtype, a.shape, w.dtype, w.shape))
        base = os.path.basename(rel)[:-4]
        if "~" in base:
            if len(base.encode()) > 200 or key[1] != LONG_NAME:
                status |= fail("%s: cut name for %r" % (rel, key[1][:40]))
        elif urllib.parse.unquote(base) != key[1]:
            status |= fail("%s does not decode to %r" % (rel, key[1]))
    n_files = sum(len(fs) for _, _, fs in os.walk(out))
    if n_files != len(index) + 1:
        status |= fail("%d files under %s, index lists %d" % (n_files, out, len(index)))
    print("%s: %d metric series, %d snapshot tensors checked" % (out, len(metric_rows), len(got)))
    return status


def main():
    if sys.argv[1] == "snapshots":
        make_snapshots(sys.argv[2])
        return 0
    args = [a for a in sys.argv[2:] if a != "--no-snapshots"]
    return check(args[0], args[1], args[2] if len(args) > 2 else None,
                 "--no-snapshots" not in sys.argv)


if __name__ == "__main__":
    sys.exit(main())
