"""lora_numpy.py - the oracle for LoRA spectra (src/analyze/lora.c): reads a PEFT adapter with
json + numpy alone (no microlens code, no safetensors or peft package), forms the dense update
W = scale * B @ A in float64 and takes numpy.linalg.svd of it - the naive way, which the C side
must never do - then derives every reported number from those singular values and checks the
C side's JSON (test_lora_spectra --dump) to 1e-4 relative.

usage: lora_numpy.py check WEIGHTS CONFIG|- DUMP.json [WEIGHTS2 CONFIG2|-]   exit 1 on mismatch
       lora_numpy.py write DIR                 DIR/{a,b}/adapter_model.safetensors + config:
                                               F32/F16/BF16, rank_pattern, alpha_pattern,
                                               rsLoRA, r > min(d), zero B, rank-deficient, conv,
                                               embedding
       lora_numpy.py perturb WEIGHTS OUT SEED  a copy of WEIGHTS with every factor perturbed
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np

REL = 1e-4
# Singular values below this fraction of sigma_max are rounding noise on both sides (numpy's
# are of the dense W, ours of an r x r core): compared absolutely at this level instead.
ABS_FLOOR = 1e-10
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}
PREFIX = "base_model.model."
# PEFT's names: linear "<m>.lora_A[.<adapter>].weight", embedding "<m>.lora_embedding_A[.<adapter>]"
NAMES = (re.compile(r"^(.+)\.lora_([AB])(\.[^.]+)?\.weight$"),
         re.compile(r"^(.+)\.lora_embedding_([AB])(\.[^.]+)?$"))


def lora_name(name):
    for pattern in NAMES:
        m = pattern.match(name)
        if m:
            return m.group(1), m.group(2)
    return None


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = data[b:e]
        if t["dtype"] == "BF16":
            v = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view("<f4")
        else:
            v = np.frombuffer(buf, DTYPES[t["dtype"]])
        out[name] = v.astype(np.float64).reshape(t["shape"])
    return out


def write_safetensors(path, tensors):
    """tensors: name -> (dtype, numpy array already in that dtype's bytes layout)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def pattern_key(keys, name):
    """PEFT's get_pattern_key: the first key whose regex matches a dotted suffix."""
    for k in keys:
        if re.match(rf"(.*\.)?({k})$", name):
            return k
    return name


def scales(config, modules, ranks):
    if config is None:
        return {m: 1.0 for m in modules}
    r0, a0 = config.get("r", 8), config.get("lora_alpha", 8)
    rp, ap = config.get("rank_pattern") or {}, config.get("alpha_pattern") or {}
    out = {}
    for m in modules:
        base = m[len(PREFIX):] if m.startswith(PREFIX) else m
        r = rp.get(pattern_key(rp.keys(), base), r0)
        alpha = ap.get(pattern_key(ap.keys(), base), a0)
        assert r == ranks[m], f"{m}: config r {r} vs tensors {ranks[m]}"
        out[m] = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    return out


def dense_updates(weights, config_path):
    t = read_safetensors(weights)
    config = None if config_path == "-" else json.load(open(config_path))
    pairs = {}
    for name, v in t.items():
        m = lora_name(name)
        if m:
            pairs.setdefault(m[0], {})[m[1]] = v
    ranks = {m: p["A"].shape[0] for m, p in pairs.items()}
    s = scales(config, pairs, ranks)
    out = {}
    for m, p in pairs.items():
        a = p["A"].reshape(ranks[m], -1)
        b = p["B"].reshape(p["B"].shape[0], ranks[m])
        out[m] = (s[m], s[m] * (b @ a), ranks[m])
    return out


def expected(weights, config_path):
    dense = dense_updates(weights, config_path)
    mods = []
    for name in sorted(dense, key=lambda x: x.encode()):
        scale, w, r = dense[name]
        sv = np.linalg.svd(w, compute_uv=False)
        sigma = np.zeros(r)
        sigma[:min(r, sv.size)] = sv[:r]
        f = float(np.sum(sigma ** 2))
        e = {"module": name, "rank": r, "d_out": w.shape[0], "d_in": w.shape[1], "scale": scale,
             "sigma": sigma}
        if sigma[0] > 0:
            p = sigma ** 2 / f
            p = p[p > 0]
            e.update(frob_sq=f, effective_rank=float(np.exp(-np.sum(p * np.log(p)))),
                     stable_rank=f / sigma[0] ** 2)
            e["utilisation"] = e["effective_rank"] / r
            tol = sigma[0] * max(w.shape) * np.finfo(np.float64).eps
            e["condition"] = sigma[0] / sigma[-1] if sigma[-1] > tol else math.inf
        else:
            e.update(frob_sq=0.0, effective_rank=0.0, stable_rank=0.0, utilisation=0.0,
                     condition=math.nan)
        mods.append(e)
    total = sum(e["frob_sq"] for e in mods)
    for e in mods:
        e["energy_share"] = e["frob_sq"] / total if total > 0 else math.nan
    hhi = sum(e["energy_share"] ** 2 for e in mods) if total > 0 else math.nan
    return mods, hhi, dense


class Checker:
    def __init__(self):
        self.ok, self.worst = True, 0.0

    def close(self, got, want, what, floor=0.0):
        if want is None or (isinstance(want, float) and math.isnan(want)):
            good = got is None
        elif math.isinf(want):
            good = got is None
        else:
            err = abs(got - want) if got is not None else math.inf
            good = err <= REL * abs(want) + floor
            if abs(want) > floor and got is not None:
                self.worst = max(self.worst, err / abs(want))
        if not good:
            print(f"FAIL: {what}: got {got!r}, numpy says {want!r}")
            self.ok = False


def check(weights, config, dump, weights2=None, config2=None):
    got = json.load(open(dump))
    mods, hhi, dense = expected(weights, config)
    c = Checker()
    if [m["module"] for m in got["modules"]] != [e["module"] for e in mods]:
        print(f"FAIL: modules {[m['module'] for m in got['modules']]} != {[e['module'] for e in mods]}")
        return False, 0.0
    dense2 = dense_updates(weights2, config2) if weights2 else None
    for g, e in zip(got["modules"], mods):
        n = e["module"]
        for k in ("rank", "d_out", "d_in"):
            if g[k] != e[k]:
                print(f"FAIL: {n}: {k} {g[k]} != {e[k]}")
                c.ok = False
        c.close(g["scale"], e["scale"], f"{n}: scale")
        floor = ABS_FLOOR * e["sigma"][0]
        for i, (x, y) in enumerate(zip(g["sigma"], e["sigma"])):
            c.close(x, float(y), f"{n}: sigma[{i}]", floor)
        for k in ("frob_sq", "effective_rank", "stable_rank", "utilisation", "energy_share"):
            c.close(g[k], e[k], f"{n}: {k}")
        if math.isinf(e["condition"]) != bool(g["condition_is_inf"]):
            print(f"FAIL: {n}: condition {g['condition']} (inf: {g['condition_is_inf']}), numpy {e['condition']}")
            c.ok = False
        elif not math.isinf(e["condition"]):
            c.close(g["condition"], e["condition"], f"{n}: condition")
        if dense2 is not None:
            w1 = dense[n][1]
            w2 = dense2.get(n, (None, None, None))[1]
            if w2 is None or w2.shape != w1.shape or not w1.any() or not w2.any():
                want = math.nan
            else:
                want = float(np.vdot(w1, w2) / (np.linalg.norm(w1) * np.linalg.norm(w2)))
            c.close(g["cosine"], want, f"{n}: cosine vs {weights2}", 1e-12)
    c.close(got["hhi"], hhi, "hhi")
    return c.ok, c.worst


def f16(x):
    return ("F16", x.astype("<f2"))


def bf16(x):
    u = x.astype("<f4").view("<u4")
    return ("BF16", ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2"))  # round to nearest even


def f32(x):
    return ("F32", x.astype("<f4"))


def write(out):
    rng = np.random.default_rng(20240611)
    # (module, d_out, d_in, r, encoder, special)
    spec = [("base_model.model.enc.0.q", 48, 40, 8, f32, None),
            ("base_model.model.enc.0.v", 48, 40, 8, f16, None),
            ("base_model.model.enc.1.q", 48, 40, 12, bf16, None),
            ("base_model.model.enc.1.ff", 16, 10, 24, f32, None),       # r > d_out > d_in
            ("base_model.model.enc.2.q", 48, 40, 8, f32, "zero"),       # B = 0, PEFT's init
            ("base_model.model.enc.2.v", 48, 40, 8, f32, "deficient"),  # rank 6 < r
            ("base_model.model.enc.3.conv", 20, 4 * 3 * 3, 4, f32, "conv"),
            ("base_model.model.embed", 32, 100, 8, bf16, "embedding")]
    config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": False,
              "rank_pattern": {"enc\\.1\\.q": 12, "ff": 24, "conv": 4},
              "alpha_pattern": {"1.q": 6, "q": 24, "conv": 3}}
    for variant, cfg in (("a", config), ("b", dict(config, use_rslora=True))):
        d = os.path.join(out, variant)
        os.makedirs(d, exist_ok=True)
        tensors = {}
        for name, d_out, d_in, r, enc, special in spec:
            a = rng.standard_normal((r, d_in)) / math.sqrt(d_in)
            b = rng.standard_normal((d_out, r)) * 0.1
            if special == "zero" and variant == "a":
                b[:] = 0
            if special == "deficient":
                b[:, 6:] = b[:, :2] * 0.5
            kind, tail = ("embedding_", "") if special == "embedding" else ("", ".weight")
            tensors[f"{name}.lora_{kind}A{tail}"] = enc(a.reshape(r, 4, 3, 3) if special == "conv" else a)
            tensors[f"{name}.lora_{kind}B{tail}"] = enc(b.reshape(d_out, r, 1, 1) if special == "conv" else b)
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        json.dump(cfg, open(os.path.join(d, "adapter_config.json"), "w"))


def perturb(weights, out, seed):
    rng = np.random.default_rng(int(seed))
    t = read_safetensors(weights)
    write_safetensors(out, {n: f32(v + 0.5 * np.std(v) * rng.standard_normal(v.shape)) for n, v in t.items()})


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "perturb":
        perturb(*sys.argv[2:5])
    else:
        ok, worst = check(*sys.argv[2:5], *sys.argv[5:7])
        print(f"{'ok' if ok else 'FAIL'}: {sys.argv[2]}: max relative error {worst:.2e} (tolerance {REL:g})")
        sys.exit(0 if ok else 1)
