#!/usr/bin/python3
"""export_tensorboard.py - the tensorboard export against protoc and an independent reading.

  export_tensorboard.py check RUN_DIR OUT PROTO [GLOB] [--no-snapshots]

Splits the event file into TFRecords, checking both masked CRC-32C of every record with the
CRC written here (bitwise, from the polynomial); decodes every record's data with
`protoc --decode=tensorboard.EventList PROTO` (records wrapped as repeated field 1) and
compares: the first event is file_version "brain.Event:2"; the scalar events are exactly the
store's rows (run.sqlite read with sqlite3) of the metrics matching GLOB, as float32 values
with the exact wall times, in step order; each floating snapshot tensor has a histogram whose
counts equal numpy.histogram's (30 bins over [min, max] of its finite values). Prints the
first lines of the protoc decode.
"""
import ast
import fnmatch
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_numpy import read_safetensors  # noqa: E402  (same oracle folder)

POLY = 0x82F63B78


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ POLY if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(raw):
    pos, out = 0, []
    while pos < len(raw):
        if pos + 12 > len(raw):
            raise ValueError("torn record header at %d" % pos)
        n = struct.unpack_from("<Q", raw, pos)[0]
        if struct.unpack_from("<I", raw, pos + 8)[0] != masked(crc32c(raw[pos:pos + 8])):
            raise ValueError("length CRC mismatch at %d" % pos)
        data = raw[pos + 12:pos + 12 + n]
        if len(data) != n or pos + 16 + n > len(raw):
            raise ValueError("torn record at %d" % pos)
        if struct.unpack_from("<I", raw, pos + 12 + n)[0] != masked(crc32c(data)):
            raise ValueError("data CRC mismatch at %d" % pos)
        out.append(data)
        pos += 16 + n
    return out


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def parse_text(text):
    """protoc's text format -> nested dicts; every field is a list of its values."""
    root, stack = {}, []
    cur = root
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            cur = stack.pop()
        elif line.endswith("{"):
            child = {}
            cur.setdefault(line[:-1].strip(), []).append(child)
            stack.append(cur)
            cur = child
        else:
            key, val = line.split(":", 1)
            val = val.strip()
            if val.startswith('"'):
                val = ast.literal_eval("b" + val).decode("utf-8")
            else:
                val = float(val)
            cur.setdefault(key, []).append(val)
    return root


def store_rows(run_dir, pattern):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run_dir, "run.sqlite"), uri=True)
    rows = db.execute("SELECT n.name, m.step, m.value, m.wall_time FROM metrics m "
                      "JOIN metric_names n ON n.id = m.name_id")
    return [(name, step, np.float32(np.nan if v is None else v), wall) for name, step, v, wall
            in rows if pattern is None or fnmatch.fnmatchcase(name, pattern)]


def key(row):
    name, step, v, wall = row
    return (step, name, "nan" if np.isnan(v) else repr(float(v)), wall)


def fail(msg):
    print("FAIL: " + msg)
    return 1


def check_histograms(run_dir, hist, snapshots):
    status, n = 0, 0
    snap_dir = os.path.join(run_dir, "snapshots")
    want = {}
    if snapshots and os.path.isdir(snap_dir):
        for fn in sorted(os.listdir(snap_dir)):
            if re.fullmatch(r"step-\d{7}\.safetensors", fn):
                for name, arr in read_safetensors(os.path.join(snap_dir, fn)).items():
                    if arr.dtype.kind == "f":
                        want[(int(fn[5:12]), "snapshots/" + name)] = arr
    for k, arr in want.items():
        with np.errstate(over="ignore"):  # F64 beyond float range: inf, as in the export
            v = arr.astype(np.float32).astype(np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            if k in hist:
                status |= fail("histogram for %s with no finite value" % (k,))
            continue
        h = hist.get(k)
        if h is None:
            status |= fail("no histogram for %s" % (k,))
            continue
        n += 1
        lo, hi = float(v.min()), float(v.max())
        if h.get("min", [0.0])[0] != lo or h.get("max", [0.0])[0] != hi or h["num"][0] != v.size:
            status |= fail("%s: min/max/num %s vs %s" % (k, h, (lo, hi, v.size)))
        if not np.isclose(h.get("sum", [0.0])[0], v.sum(), rtol=1e-12, atol=1e-300):
            status |= fail("%s: sum %r vs %r" % (k, h.get("sum"), v.sum()))
        if lo == hi:
            counts, limits = [float(v.size)], [hi]
        else:
            c, edges = np.histogram(v, bins=30, range=(lo, hi))
            counts, limits = list(c.astype(float)), list(edges[1:])
        if h["bucket"] != counts or not np.allclose(h["bucket_limit"], limits, rtol=1e-15, atol=0):
            status |= fail("%s: buckets %s vs numpy %s" % (k, h["bucket"], counts))
    if set(hist) - set(want):
        status |= fail("unexpected histograms %s" % sorted(set(hist) - set(want))[:3])
    return status, n


def main():
    args = [a for a in sys.argv[2:] if a != "--no-snapshots"]
    run_dir, out, proto = args[0], args[1], args[2]
    pattern = args[3] if len(args) > 3 else None
    files = os.listdir(out)
    if len(files) != 1 or not re.fullmatch(r"events\.out\.tfevents\.\d+\.localhost\.microlens",
                                           files[0]):
        return fail("expected one events.out.tfevents.<seconds>.localhost.microlens, got %s" %
                    files)
    with open(os.path.join(out, files[0]), "rb") as f:
        recs = records(f.read())
    wrapped = b"".join(b"\x0a" + varint(len(r)) + r for r in recs)
    dec = subprocess.run(["protoc", "--proto_path=" + os.path.dirname(proto),
                          "--decode=tensorboard.EventList", os.path.basename(proto)],
                         input=wrapped, capture_output=True, check=True)
    text = dec.stdout.decode()
    print("\n".join(text.splitlines()[:30]))
    events = parse_text(text).get("event", [])
    status = 0
    if len(events) != len(recs):
        status |= fail("protoc decoded %d events of %d records" % (len(events), len(recs)))
    if not events or events[0].get("file_version") != ["brain.Event:2"] or "summary" in events[0]:
        status |= fail("first event is not file_version brain.Event:2")
    scalars, hist, last = [], {}, (-1, "")
    for ev in events[1:]:
        step = int(ev.get("step", [0])[0])
        values = ev["summary"][0]["value"]
        if len(values) != 1:
            status |= fail("event with %d values" % len(values))
        v = values[0]
        if "simple_value" in v:
            if (step, v["tag"][0]) < last:
                status |= fail("scalars out of order at step %d %s" % (step, v["tag"][0]))
            last = (step, v["tag"][0])
            scalars.append((v["tag"][0], step, np.float32(v["simple_value"][0]),
                            ev["wall_time"][0]))
        elif "histo" in v:
            hist[(step, v["tag"][0])] = v["histo"][0]
        else:
            status |= fail("value without simple_value or histo: %s" % v)
    want = store_rows(run_dir, pattern)
    if sorted(map(key, scalars)) != sorted(map(key, want)):
        got_k, want_k = set(map(key, scalars)), set(map(key, want))
        status |= fail("%d scalars vs %d store rows; only in export %s; only in store %s" %
                       (len(scalars), len(want), sorted(got_k - want_k)[:2],
                        sorted(want_k - got_k)[:2]))
    hs, n_hist = check_histograms(run_dir, hist, "--no-snapshots" not in sys.argv)
    status |= hs
    print("%s: %d records, CRCs ok, %d scalars and %d histograms match" %
          (files[0], len(recs), len(scalars), n_hist))
    return status


if __name__ == "__main__":
    sys.exit(main())
