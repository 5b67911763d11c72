"""lora_scan_numpy.py - the numpy peer of bench/lora_scan.c, and the series generator.

  write DIR N LAYERS SEED    N checkpoints DIR/checkpoint-K/ of a GPT-2-like PEFT adapter:
                             per layer attn.c_attn (768 -> 2304, r 64), attn.c_proj (768 -> 768,
                             r 8), mlp.c_fc (768 -> 2304, r 32), mlp.c_proj (2304 -> 768, r 16,
                             the default), F32, a random walk from step to step
  scan naive|smart REPEATS CKPT_DIR...
                             the same quantities as lora_scan.c (per module singular values,
                             effective / stable rank, condition, energy shares, HHI, cosine
                             with the first and the previous checkpoint), reading the files
                             with numpy alone, in two ways:
                             naive - what a Python user writes: W = s * B @ A dense, then
                                     np.linalg.svd(W) and np.vdot of dense updates
                             smart - the same algorithm as microlens: np.linalg.qr of B and
                                     A^T (mode 'r'), SVD of the r x r core, Gram-matrix cosines
                             Prints the best wall time over REPEATS, then per checkpoint the
                             sum of singular values and of the finite cosines.
"""
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np

NAME = re.compile(r"^(.+)\.lora_([AB])(\.[^.]+)?\.weight$")
PREFIX = "base_model.model."
MODULES = [("attn.c_attn", 2304, 768, 64), ("attn.c_proj", 768, 768, 8),
           ("mlp.c_fc", 2304, 768, 32), ("mlp.c_proj", 768, 2304, 16)]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write(out, n, layers, seed):
    rng = np.random.default_rng(seed)
    config = {"peft_type": "LORA", "r": 16, "lora_alpha": 32,
              "rank_pattern": {"attn.c_attn": 64, "attn.c_proj": 8, "mlp.c_fc": 32},
              "alpha_pattern": {}, "use_rslora": False}
    state = {}
    for layer in range(layers):
        for name, d_out, d_in, r in MODULES:
            m = f"{PREFIX}transformer.h.{layer}.{name}"
            state[m] = [rng.standard_normal((r, d_in)) / math.sqrt(d_in),
                        rng.standard_normal((d_out, r)) * 1e-3]
    for k in range(n):
        d = os.path.join(out, f"checkpoint-{(k + 1) * 100}")
        os.makedirs(d, exist_ok=True)
        tensors = {}
        for m, (a, b) in state.items():
            a += 0.01 * rng.standard_normal(a.shape) / math.sqrt(a.shape[1])
            b += 0.01 * rng.standard_normal(b.shape)
            tensors[f"{m}.lora_A.weight"] = a
            tensors[f"{m}.lora_B.weight"] = b
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(config, f)


def pattern_key(keys, name):
    for k in keys:
        if re.match(rf"(.*\.)?({k})$", name):
            return k
    return name


def load(d):
    """Modules of one checkpoint: name -> (scale, A (r, d_in), B (d_out, r)), float64."""
    raw = open(os.path.join(d, "adapter_model.safetensors"), "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    cfg = json.load(open(os.path.join(d, "adapter_config.json")))
    pairs = {}
    for name, t in header.items():
        m = NAME.match(name)
        if not m:
            continue
        b, e = t["data_offsets"]
        v = np.frombuffer(raw, "<f4", (e - b) // 4, 8 + n + b).astype(np.float64).reshape(t["shape"])
        pairs.setdefault(m.group(1), {})[m.group(2)] = v
    out = {}
    rp, ap = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    for m, p in pairs.items():
        base = m[len(PREFIX):] if m.startswith(PREFIX) else m
        r = rp.get(pattern_key(rp.keys(), base), cfg["r"])
        alpha = ap.get(pattern_key(ap.keys(), base), cfg["lora_alpha"])
        out[m] = (alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r, p["A"], p["B"])
    return out


def stats(sigma, d_max):
    f = float(np.sum(sigma ** 2))
    if sigma[0] == 0:
        return f, 0.0, 0.0, math.nan
    p = sigma ** 2 / f
    p = p[p > 0]
    tol = sigma[0] * d_max * np.finfo(np.float64).eps
    cond = sigma[0] / sigma[-1] if sigma[-1] > tol else math.inf
    return f, float(np.exp(-np.sum(p * np.log(p)))), f / sigma[0] ** 2, cond


def spectra_naive(mods):
    dense, sig = {}, {}
    for m, (s, a, b) in mods.items():
        w = s * (b @ a)
        sv = np.linalg.svd(w, compute_uv=False)
        r = a.shape[0]
        sigma = np.zeros(r)
        sigma[:min(r, sv.size)] = sv[:r]
        sig[m] = sigma
        dense[m] = w
    return dense, sig


def spectra_smart(mods):
    sig = {}
    for m, (s, a, b) in mods.items():
        rb = np.linalg.qr(b, mode="r")
        ra = np.linalg.qr(a.T, mode="r")
        sv = np.linalg.svd(s * (rb @ ra.T), compute_uv=False)
        r = a.shape[0]
        sigma = np.zeros(r)
        sigma[:min(r, sv.size)] = sv[:r]
        sig[m] = sigma
    return sig


def cos_dense(w1, w2):
    if w2 is None or w1.shape != w2.shape:
        return math.nan
    n = np.linalg.norm(w1) * np.linalg.norm(w2)
    return float(np.vdot(w1, w2) / n) if n > 0 else math.nan


def cos_gram(m1, m2):
    if m2 is None:
        return math.nan
    (s1, a1, b1), (s2, a2, b2) = m1, m2
    if a1.shape[1] != a2.shape[1] or b1.shape[0] != b2.shape[0]:
        return math.nan
    dot = s1 * s2 * np.sum((b1.T @ b2) * (a1 @ a2.T))
    n1 = s1 * s1 * np.sum((b1.T @ b1) * (a1 @ a1.T))
    n2 = s2 * s2 * np.sum((b2.T @ b2) * (a2 @ a2.T))
    return float(dot / math.sqrt(n1 * n2)) if n1 > 0 and n2 > 0 else math.nan


def scan(how, dirs):
    rows, first, prev = [], None, None
    for d in dirs:
        mods = load(d)
        if how == "naive":
            cur, sig = spectra_naive(mods)
            cosf = [cos_dense(cur[m], (first or cur).get(m)) for m in sorted(mods)]
            cosp = [cos_dense(cur[m], (prev or cur).get(m)) for m in sorted(mods)]
        else:
            cur, sig = mods, spectra_smart(mods)
            cosf = [cos_gram(cur[m], (first or cur).get(m)) for m in sorted(mods)]
            cosp = [cos_gram(cur[m], (prev or cur).get(m)) for m in sorted(mods)]
        per = {m: stats(sig[m], max(mods[m][1].shape[1], mods[m][2].shape[0])) for m in sorted(mods)}
        total = sum(v[0] for v in per.values())
        shares = [v[0] / total for v in per.values()] if total > 0 else []
        _hhi = sum(x * x for x in shares)
        rows.append((sum(float(np.sum(v)) for v in sig.values()),
                     sum(c for c in cosf if math.isfinite(c)), sum(c for c in cosp if math.isfinite(c))))
        if first is None:
            first = cur
        prev = cur
    return rows


def main():
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    how, repeats, dirs = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    best, rows = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = scan(how, dirs)
        best = min(best, time.perf_counter() - t0)
    print(f"seconds {best:.6f}")
    for k, (s, cf, cp) in enumerate(rows):
        print(f"ckpt {k} {s:.12e} {cf:.12e} {cp:.12e}")


if __name__ == "__main__":
    main()
