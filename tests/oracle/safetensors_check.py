#!/usr/bin/python3
"""safetensors_check.py - an independent reader of a safetensors file (json + numpy), used by
tests/store/test_safetensors_write.c. Checks the layout rules of huggingface/safetensors and
prints one line per tensor: name dtype shape sum(values as float64), then "ok"."""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}


def main(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0, "data section not 8-aligned"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values()), "metadata values must be strings"
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for begin, end, name in spans:
        assert begin == pos, f"gap or overlap before {name}"
        pos = end
    assert pos == len(data), "data section not covered exactly"
    for name in sorted(header):
        info = header[name]
        begin, end = info["data_offsets"]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]])
        assert arr.size == int(np.prod(shape)), f"{name}: size does not match shape"
        assert begin % arr.dtype.itemsize == 0 or info["dtype"] == "BF16", f"{name} misaligned"
        total = float(arr.astype(np.float64).sum())
        dims = "x".join(str(d) for d in shape) or "scalar"
        print(f"{name} {info['dtype']} {dims} {total:.17g}")
    for k in sorted(meta):
        print(f"meta {k}={meta[k]}")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
