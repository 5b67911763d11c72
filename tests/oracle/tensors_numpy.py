"""tensors_numpy.py - the oracle for `microlens tensors --json`: parses a safetensors file
with json + numpy alone (no microlens code, no safetensors package) and checks every tensor's
dtype, shape, byte size and, for floating types, min / max / mean / L2 norm over the finite
values in float64 and the NaN / +inf / -inf counts.

usage: tensors_numpy.py check FILE REPORT.json    exit 1 on any mismatch
       tensors_numpy.py write FILE                a file with NaN, inf, BF16, F16, big F64
"""
import json
import struct
import sys

import numpy as np

NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1", "U16": "<u2",
                "U32": "<u4", "U64": "<u8"}
ITEM = {"BF16": 2, **{k: np.dtype(v).itemsize for k, v in NUMPY_DTYPES.items()}}
REL = 1e-12


def read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def values(dtype, buf):
    if dtype == "BF16":  # the top half of a float32
        return (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
    return np.frombuffer(buf, NUMPY_DTYPES[dtype]).astype(np.float64)


def close(got, want, what):
    if want is None or got is None:
        ok = got is None and want is None
    else:
        ok = abs(got - want) <= REL * max(1.0, abs(want)) or (want != 0 and abs(got / want - 1) <= REL)
    if not ok:
        print(f"FAIL: {what}: got {got!r}, numpy says {want!r}")
    return ok


def expected_stats(dtype, buf):
    x = values(dtype, buf)
    fin = x[np.isfinite(x)]
    # Scaled like LAPACK so that F64 near DBL_MAX does not overflow numpy's own sum.
    scale = np.max(np.abs(fin)) if fin.size else 0.0
    with np.errstate(over="ignore"):
        norm = float(scale * np.sqrt(np.sum((fin / scale) ** 2))) if scale > 0 else 0.0
        mean = float(np.mean(fin)) if fin.size else None
        if mean is not None and not np.isfinite(mean):
            mean = float(np.sum(fin / fin.size))
    norm = norm if np.isfinite(norm) else None  # JSON null, as microlens writes it
    return {"min": float(fin.min()) if fin.size else None,
            "max": float(fin.max()) if fin.size else None, "mean": mean, "l2_norm": norm,
            "n_finite": int(fin.size), "n_nan": int(np.isnan(x).sum()),
            "n_posinf": int(np.isposinf(x).sum()), "n_neginf": int(np.isneginf(x).sum())}


def check(path, report_path):
    header, data = read(path)
    report = json.load(open(report_path))
    ok = True
    meta = header.pop("__metadata__", {})
    if report["metadata"] != meta:
        print(f"FAIL: {path}: metadata {report['metadata']} != {meta}")
        ok = False
    got = {t["name"]: t for t in report["tensors"]}
    if sorted(got) != sorted(header) or report["n_tensors"] != len(header):
        print(f"FAIL: {path}: tensor names {sorted(got)} != {sorted(header)}")
        return False
    for name, h in header.items():
        t, (b, e) = got[name], h["data_offsets"]
        where = f"{path}: {name}"
        for key, want in [("dtype", h["dtype"]), ("shape", h["shape"]), ("n_bytes", e - b),
                          ("n_elements", int(np.prod(h["shape"], dtype=np.int64)))]:
            if t[key] != want:
                print(f"FAIL: {where}: {key} {t[key]!r} != {want!r}")
                ok = False
        if h["dtype"] not in ("F64", "F32", "F16", "BF16"):
            if t["stats"] is not None:
                print(f"FAIL: {where}: stats for a non-float tensor")
                ok = False
            continue
        want = expected_stats(h["dtype"], data[b:e])
        for key, w in want.items():
            if key.startswith("n_"):
                if t["stats"][key] != w:
                    print(f"FAIL: {where}: {key} {t['stats'][key]} != {w}")
                    ok = False
            else:
                ok &= close(t["stats"][key], w, f"{where}: {key}")
    n_checked = len(header)
    print(f"{path}: {n_checked} tensors match numpy" if ok else f"{path}: MISMATCH")
    return ok


def write(path):
    rng = np.random.default_rng(7)
    f32 = rng.normal(size=(3, 5)).astype("<f4")
    f32[0, 1], f32[1, 2], f32[2, 3] = np.nan, np.inf, -np.inf
    bf16 = (rng.normal(size=7).astype("<f4").view("<u4") >> 16).astype("<u2")
    bf16[3] = 0x7FC0  # NaN
    f16 = np.array([1e-7, -65504, 0.5, np.nan, 6e-8, 3], dtype="<f2")
    f64 = np.array([1e308, 1e308, -2e307, np.inf], dtype="<f8")  # naive sums overflow
    allnan = np.array([np.nan, np.nan], dtype="<f4")
    empty = np.zeros((0, 4), dtype="<f4")
    ints = np.arange(5, dtype="<i8")
    tensors = [("a.f32", "F32", f32), ("b.bf16", "BF16", bf16), ("c.f16", "F16", f16),
               ("d.f64", "F64", f64), ("e.allnan", "F32", allnan), ("f.empty", "F32", empty),
               ("g.ints", "I64", ints)]
    header, blobs, off = {"__metadata__": {"format": "pt", "note": "oracle"}}, [], 0
    for name, dtype, a in tensors:
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(0 if check(sys.argv[2], sys.argv[3]) else 1)
