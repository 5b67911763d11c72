"""inspect_numpy.py - independent numpy computation of what `microlens data inspect` reports."""
import csv, hashlib, hmac, json, sys
import numpy as np

def read(path):
    with open(path) as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("# ")]
    samples = rows[0][1:]
    otus = [r[0] for r in rows[1:]]
    counts = np.array([[float(x) for x in r[1:]] for r in rows[1:]]).T  # samples x otus
    return samples, otus, counts

def write(path, samples, otus, counts):
    with open(path, "w") as f:
        f.write("#OTU ID\t" + "\t".join(samples) + "\n")
        for j, o in enumerate(otus):
            f.write(o + "\t" + "\t".join("%d" % v for v in counts[:, j]) + "\n")

def plant(src, dst):
    samples, otus, x = read(src)
    x[5] = x[2]
    rare = np.argsort(x.sum(axis=0))[:3]
    depth = x[7].sum()
    x[7] = 0
    x[7, rare] = depth // 3
    write(dst, samples, otus, x)

def pseudonym(key, raw):
    return "s_" + hmac.new(bytes.fromhex(key), raw.encode(), hashlib.sha256).hexdigest()[:16]

def check(table, report, key):
    samples, otus, x = read(table)
    r = json.load(open(report))
    ok = True
    def expect(cond, what):
        nonlocal ok
        if not cond:
            ok = False
            print("FAIL:", what, file=sys.stderr)
    depth = x.sum(axis=1)
    expect(r["table"]["n_samples"] == len(samples), "n_samples")
    expect(r["table"]["nnz"] == int((x > 0).sum()), "nnz")
    expect(abs(r["table"]["depth"]["median"] - np.median(depth)) < 1e-9, "median depth")
    expect(r["table"]["depth"]["min"] == depth.min() and r["table"]["depth"]["max"] == depth.max(), "depth range")
    ids = [pseudonym(key, s) for s in samples]
    expect([s["id"] for s in r["samples"]] == ids, "per-sample pseudonyms in table order")
    expect([s["depth"] for s in r["samples"]] == list(depth), "per-sample depth")
    # duplicates: identical rows
    sets = [sorted(s) for s in r["duplicates"]["sets"]]
    expect(sorted([ids[2], ids[5]]) in sets, "planted duplicate pair found")
    # outliers: modified z of Aitchison distance to the median CLR profile
    l = np.log(x + 0.5)
    clr = l - l.mean(axis=1, keepdims=True)
    med = np.median(clr, axis=0)
    d = np.sqrt(((clr - med) ** 2).sum(axis=1))
    mad = np.median(np.abs(d - np.median(d)))
    z = 0.6745 * (d - np.median(d)) / mad
    want = {ids[i]: (d[i], z[i]) for i in range(len(ids)) if z[i] > 3.5}
    got = {o["id"]: (o["distance"], o["z"]) for o in r["outliers"]["samples"]}
    expect(set(got) == set(want), "outlier set %s vs numpy %s" % (sorted(got), sorted(want)))
    expect(ids[7] in got, "planted outlier found")
    for k in set(got) & set(want):
        expect(abs(got[k][0] - want[k][0]) < 1e-6 * max(1, want[k][0]), "distance of %s" % k)
        expect(abs(got[k][1] - want[k][1]) < 1e-6 * max(1, abs(want[k][1])), "z of %s" % k)
    print("inspect vs numpy: %d samples, %d outliers, duplicates %s: %s" %
          (len(ids), len(want), sets, "ok" if ok else "MISMATCH"))
    return ok

if __name__ == "__main__":
    if sys.argv[1] == "plant":
        plant(sys.argv[2], sys.argv[3])
    else:
        sys.exit(0 if check(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
