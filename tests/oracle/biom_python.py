"""biom_python.py - python3-biom-format writes seeded random tables as BIOM 1.0 JSON and
BIOM 2.1 HDF5 (gzip); `microlens data inspect --json --per-sample` must agree with biom-format
on n_samples, n_features, nnz, total and every sample's depth and observed count, samples
matched by the pseudonym computed here. Usage: biom_python.py MICROLENS TMPDIR (the key comes
from $MICROLENS_ID_KEY). Exits 1 and prints each difference on mismatch."""
import hashlib
import hmac
import json
import os
import subprocess
import sys

import biom
import h5py
import numpy as np

SEED = 20240101


def pseudonym(key, raw):
    return "s_" + hmac.new(bytes.fromhex(key), raw.encode(), hashlib.sha256).hexdigest()[:16]


def make(rng, n_obs, n_samples, kind):
    """(observations, samples) matrix of the given kind, plus IDs and optional taxonomy."""
    if kind == "float":
        x = rng.gamma(0.7, 3.0, size=(n_obs, n_samples)) * (rng.random((n_obs, n_samples)) < 0.5)
    elif kind == "large":
        x = rng.integers(0, 2**40, size=(n_obs, n_samples)).astype(float)
        x[rng.random((n_obs, n_samples)) < 0.3] = 0
    else:
        density = 0.1 if kind == "sparse" else 0.6
        x = rng.poisson(20, size=(n_obs, n_samples)).astype(float)
        x[rng.random((n_obs, n_samples)) >= density] = 0
    if kind == "empty_sample":
        x[:, n_samples // 2] = 0
    if kind == "empty_observation":
        x[n_obs // 2, :] = 0
    obs = [f"OTU_{i}_{rng.integers(1e6)}" for i in range(n_obs)]
    samples = [f"P{rng.integers(1000):03d}.{j}" for j in range(n_samples)]
    if kind == "sparse":
        samples[0] = "Sujet-\u00e9t\u00e9 1"  # non-ASCII and a space: UTF-8 bytes get the HMAC
    meta = None
    if kind == "taxonomy":
        meta = [{"taxonomy": ["k__Bacteria", f"p__P{i % 3}", f"g__G{i}"][: 1 + i % 3]}
                for i in range(n_obs)]
    return biom.Table(x, obs, samples, observation_metadata=meta)


CASES = [(1, 1, "int"), (6, 4, "empty_sample"), (5, 5, "empty_observation"), (8, 6, "float"),
         (4, 3, "large"), (10, 7, "taxonomy"), (40, 15, "sparse"), (3, 25, "int")]


def inspect(microlens, path):
    r = subprocess.run([microlens, "data", "inspect", path, "--json", "--per-sample",
                        "--max-listed", "1000"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"exit {r.returncode}: {r.stderr.strip()}"
    try:
        return json.loads(r.stdout), None
    except ValueError as e:
        return None, f"stdout is not JSON ({e})"


def same(got, want, exact):
    """Integer tables (sums below 2^53) must match exactly; fractional ones to 1e-12."""
    if not isinstance(got, (int, float)):
        return False
    return got == want if exact else bool(np.isclose(got, want, rtol=1e-12, atol=0))


def compare(label, table, report, key, fmt):
    """Returns a list of differences between biom-format's view and microlens's report."""
    diffs = []
    x = table.matrix_data.toarray()  # (observations, samples)
    exact = bool(np.all(x == np.round(x)))
    depth = x.sum(axis=0)
    want = {"n_samples": x.shape[1], "n_features": x.shape[0],
            "nnz": int(np.count_nonzero(x)), "format": fmt}
    got = report.get("table", {})
    for k, v in want.items():
        if got.get(k) != v:
            diffs.append(f"{label}: table.{k} is {got.get(k)!r}, biom-format says {v!r}")
    if not same(got.get("total"), x.sum(), exact):
        diffs.append(f"{label}: table.total is {got.get('total')!r}, biom-format says {x.sum()!r}")
    by_id = {s.get("id"): s for s in report.get("samples", [])}
    if len(by_id) != x.shape[1]:
        diffs.append(f"{label}: {len(by_id)} samples listed, expected {x.shape[1]}")
    for j, raw in enumerate(table.ids(axis="sample")):
        p = pseudonym(key, raw)
        s = by_id.get(p)
        if s is None:
            diffs.append(f"{label}: sample #{j + 1} (pseudonym {p}) missing from the report")
            continue
        if not same(s.get("depth"), depth[j], exact):
            diffs.append(f"{label}: sample #{j + 1} depth {s.get('depth')!r}, "
                         f"biom-format says {depth[j]!r}")
        if s.get("observed") != int(np.count_nonzero(x[:, j])):
            diffs.append(f"{label}: sample #{j + 1} observed {s.get('observed')!r}, "
                         f"biom-format says {int(np.count_nonzero(x[:, j]))}")
    return diffs


def main():
    microlens, tmp = sys.argv[1], sys.argv[2]
    key = os.environ["MICROLENS_ID_KEY"]
    rng = np.random.default_rng(SEED)
    diffs, n_checked = [], 0
    for i, (n_obs, n_samples, kind) in enumerate(CASES):
        table = make(rng, n_obs, n_samples, kind)
        json_path = os.path.join(tmp, f"t{i}.json")
        hdf5_path = os.path.join(tmp, f"t{i}.biom")
        with open(json_path, "w") as f:
            f.write(table.to_json("microlens oracle"))
        with h5py.File(hdf5_path, "w") as f:
            table.to_hdf5(f, "microlens oracle", compress=True)
        for path, fmt in ((json_path, "biom-json"), (hdf5_path, "biom-hdf5")):
            label = f"case {i} ({n_obs}x{n_samples} {kind}, {fmt})"
            report, err = inspect(microlens, path)
            if err:
                diffs.append(f"{label}: {err}")
                continue
            diffs += compare(label, table, report, key, fmt)
            n_checked += 1
    for d in diffs:
        print("FAIL:", d, file=sys.stderr)
    print(f"biom_python: {n_checked} files checked, {len(diffs)} differences", file=sys.stderr)
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
