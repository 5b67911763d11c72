#!/usr/bin/python3
"""safetensors_values.py - an independent reader of safetensors files (json + numpy on the raw
bytes), used by tests/store/test_safetensors_read.c. For each file argument, prints one line
per tensor, sorted by name:
    name dtype shape n_elements fsum v0 v1 ...
shape is dims joined by 'x' ('scalar' for []), fsum the exact sum (math.fsum) of the values
as float64, and the values are all of them when n_elements <= 64, else the first 16, each
as a Python int or a float64 with 17 significant digits. Then one line per metadata entry:
    meta key value
"""
import json
import math
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "u1"}
ALL_VALUES_UP_TO = 64
FIRST_VALUES = 16


def values(raw, dtype):
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    arr = np.frombuffer(raw, dtype=DTYPES[dtype])
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


def show(v):
    return str(int(v)) if isinstance(v, (np.integer, int)) else format(float(v), ".17g")


def main(paths):
    for path in paths:
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n].decode("utf-8"))
        data = raw[8 + n:]
        meta = header.pop("__metadata__", {})
        for name in sorted(header):
            info = header[name]
            begin, end = info["data_offsets"]
            arr = values(data[begin:end], info["dtype"])
            count = int(np.prod(info["shape"], dtype=np.int64))
            assert arr.size == count, f"{name}: size does not match shape"
            shape = "x".join(str(d) for d in info["shape"]) or "scalar"
            total = math.fsum(float(x) for x in arr)
            shown = arr if count <= ALL_VALUES_UP_TO else arr[:FIRST_VALUES]
            print(name, info["dtype"], shape, count, format(total, ".17g"),
                  *(show(v) for v in shown))
        for key in sorted(meta):
            print("meta", key, meta[key])


if __name__ == "__main__":
    main(sys.argv[1:])
