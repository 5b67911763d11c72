#!/usr/bin/python3
"""embed_torch.py - the PyTorch side of bench/embed.sh, and its data.

  embed_torch.py setup DIR N1,N2,...  S1,S2,...   writes DIR/ckpt.pt (the large upstream
        MicrobiomeTransformer: d_in 384, d_model 100, 5 layers, 5 heads, ff 400, random
        weights), DIR/vectors.safetensors (one [384] vector per OTU) and DIR/table_N.tsv with
        S samples of exactly N OTUs each, for every pair N, S
  embed_torch.py time DIR N SECONDS THREADS       samples/s of upstream-style inference:
        eval(), no_grad, batch 1, src_key_padding_mask, mean over the set; prints one number

The model class is the upstream one (same attribute names), so the checkpoint converts with
tools/convert-upstream-checkpoint exactly as a released one would."""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

D_IN, D_MODEL, N_LAYERS, N_HEADS, D_FF = 384, 100, 5, 5, 400
N_OTUS = 1200


class MicrobiomeTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_projection_type1 = nn.Linear(D_IN, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.1,
                                           batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=N_LAYERS)
        self.output_projection = nn.Linear(D_MODEL, 1)

    def forward(self, x, mask):
        x = self.input_projection_type1(x)
        return self.transformer(x, src_key_padding_mask=~mask)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def otu_id(j):
    return f"90_{j};96_{j};97_{j}"


def setup(d, ns, ss):
    torch.manual_seed(0)
    torch.save({"model_state_dict": MicrobiomeTransformer().state_dict()}, f"{d}/ckpt.pt")
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(N_OTUS, D_IN)).astype(np.float32)
    np.save(f"{d}/vectors.npy", vecs)
    write_safetensors(f"{d}/vectors.safetensors", {otu_id(j): vecs[j] for j in range(N_OTUS)})
    for n, s in zip(map(int, ns.split(",")), map(int, ss.split(","))):
        counts = np.zeros((N_OTUS, s), dtype=np.int64)
        for i in range(s):
            counts[rng.choice(N_OTUS, size=n, replace=False), i] = rng.integers(1, 1000, size=n)
        with open(f"{d}/table_{n}.tsv", "w") as f:
            f.write("#OTU ID\t" + "\t".join(f"S{i}" for i in range(s)) + "\n")
            for j in range(N_OTUS):
                f.write(otu_id(j) + "\t" + "\t".join(map(str, counts[j])) + "\n")


def time_torch(d, n, seconds, threads):
    n, seconds, threads = int(n), float(seconds), int(threads)
    torch.set_num_threads(threads)
    m = MicrobiomeTransformer()
    m.load_state_dict(torch.load(f"{d}/ckpt.pt", weights_only=True)["model_state_dict"])
    m.eval()
    vecs = torch.from_numpy(np.load(f"{d}/vectors.npy"))
    rng = np.random.default_rng(1)
    samples = [vecs[rng.choice(N_OTUS, size=n, replace=False)].unsqueeze(0) for _ in range(8)]
    mask = torch.ones(1, n, dtype=torch.bool)
    with torch.no_grad():
        for x in samples[:2]:  # warm-up
            m(x, mask)
        done, t0 = 0, time.perf_counter()
        while True:
            h = m(samples[done % len(samples)], mask)
            emb = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            done += 1
            dt = time.perf_counter() - t0
            if dt >= seconds and done >= 3:
                break
    assert emb.shape == (1, D_MODEL)
    print(f"{done / dt:.3f}")


if __name__ == "__main__":
    {"setup": setup, "time": time_torch}[sys.argv[1]](*sys.argv[2:])
