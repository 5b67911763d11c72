#!/usr/bin/python3
"""embed_torch.py - the PyTorch oracle of `microlens embed` (run by embed_torch.sh).

  embed_torch.py checkpoint OUT.pt            the upstream MicrobiomeTransformer module (small
                                              sizes, d_in 16), random weights, torch.save'd as
                                              upstream does: {"model_state_dict": ...}
  embed_torch.py h5 VECTORS.safetensors OUT.h5  the same vectors in the upstream HDF5 layout
                                              /embeddings/<OTU_ID> (h5py)
  embed_torch.py check OUT.pt TABLE.tsv VECTORS.safetensors EMB.tsv KEY_HEX MAX_OTUS
                                              embeds the table in torch (eval, padded batch with
                                              src_key_padding_mask, mean over the real rows, the
                                              same max-otus selection) and compares every row

Exit status: 0 all within tolerance, 1 a mismatch (max |diff| is printed), 77 no torch/h5py."""
import hashlib
import hmac
import json
import struct
import sys

import numpy as np

try:
    import h5py
    import torch
    import torch.nn as nn
except ImportError:
    print("SKIP: torch or h5py is not importable")
    sys.exit(77)

D_IN, D_MODEL, N_LAYERS, N_HEADS, D_FF = 16, 20, 3, 5, 80
# A C value c passes against torch's t (float64) when |c - t| <= RTOL |t| + ATOL_REL max|T|:
# 1e-4 relative, with a floor at float32's accuracy on the row's scale for near-zero entries.
RTOL = 1e-4
ATOL_REL = 1e-5


class MicrobiomeTransformer(nn.Module):
    """The upstream module (structure and attribute names as released)."""

    def __init__(self, input_dim_type1, d_model, nhead, num_layers, dim_feedforward, dropout):
        super().__init__()
        self.input_projection_type1 = nn.Linear(input_dim_type1, d_model)
        encoder_layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead,
                                                   dim_feedforward=dim_feedforward,
                                                   dropout=dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(encoder_layer, num_layers=num_layers)
        self.output_projection = nn.Linear(d_model, 1)

    def forward(self, x, mask):
        x = self.input_projection_type1(x)
        return self.transformer(x, src_key_padding_mask=~mask)


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", info
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"])
    return out


def read_table(path):
    ids, samples, rows = [], None, []
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if line.startswith("#OTU ID"):
            samples = f[1:]
        elif not line.startswith("#"):
            ids.append(f[0])
            rows.append([float(x) for x in f[1:]])
    return ids, samples, np.array(rows).T  # (samples, otus)


def pseudonym(key, raw):
    return "s_" + hmac.new(key, raw.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def sample_set(values, ids, vectors, max_otus):
    """OTUs > 0 with a vector, in table order; past max_otus the most abundant (ties: first)."""
    cand = [j for j in range(len(ids)) if values[j] > 0 and ids[j] in vectors]
    if len(cand) > max_otus:
        cand = sorted(sorted(cand, key=lambda j: (-values[j], j))[:max_otus])
    return cand


def cmd_checkpoint(out):
    torch.manual_seed(11)
    m = MicrobiomeTransformer(D_IN, D_MODEL, N_HEADS, N_LAYERS, D_FF, dropout=0.1)
    with torch.no_grad():  # LayerNorms away from their 1/0 init so that they are tested too
        for name, p in m.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.2 * torch.randn_like(p))
    torch.save({"model_state_dict": m.state_dict(), "epoch": 3}, out)


def cmd_h5(vec_path, out):
    vecs = read_safetensors(vec_path)
    with h5py.File(out, "w") as f:
        g = f.create_group("embeddings")
        for name, v in vecs.items():
            g.create_dataset(name, data=v.astype(np.float32))


def cmd_check(ckpt, table, vec_path, emb_path, key_hex, max_otus):
    max_otus = int(max_otus)
    key = bytes.fromhex(key_hex)
    m = MicrobiomeTransformer(D_IN, D_MODEL, N_HEADS, N_LAYERS, D_FF, dropout=0.1)
    m.load_state_dict(torch.load(ckpt, weights_only=True)["model_state_dict"], strict=True)
    m = m.double().eval()
    vectors = read_safetensors(vec_path)
    ids, samples, counts = read_table(table)
    sets = [sample_set(counts[i], ids, vectors, max_otus) for i in range(len(samples))]
    keep = [i for i in range(len(samples)) if sets[i]]
    longest = max(len(sets[i]) for i in keep)
    x = torch.zeros(len(keep), longest, D_IN, dtype=torch.float64)
    mask = torch.zeros(len(keep), longest, dtype=torch.bool)
    for r, i in enumerate(keep):
        for k, j in enumerate(sets[i]):
            x[r, k] = torch.from_numpy(vectors[ids[j]].astype(np.float64))
            mask[r, k] = True
    with torch.no_grad():
        h = m(x, mask)
        emb = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    want = {pseudonym(key, samples[i]): emb[r].numpy() for r, i in enumerate(keep)}

    lines = open(emb_path).read().splitlines()
    header = lines[0].split("\t")
    assert header == ["sample"] + [f"e{j}" for j in range(D_MODEL)], header[:3]
    got_ids = [l.split("\t")[0] for l in lines[1:]]
    assert got_ids == [pseudonym(key, samples[i]) for i in keep], "rows or their order differ"
    worst = 0.0
    for l in lines[1:]:
        f = l.split("\t")
        c, t = np.array([float(v) for v in f[1:]]), want[f[0]]
        excess = np.abs(c - t) - (RTOL * np.abs(t) + ATOL_REL * np.abs(t).max())
        worst = max(worst, float(np.abs(c - t).max()))
        if (excess > 0).any():
            print(f"FAIL: {f[0]}: max |diff| {np.abs(c - t).max():.3g} over tolerance")
            return 1
    print(f"{len(keep)} embeddings match torch (max |diff| {worst:.3g}; "
          f"{len(samples) - len(keep)} samples without vectors; longest set {longest})")
    return 0


if __name__ == "__main__":
    cmds = {"checkpoint": cmd_checkpoint, "h5": cmd_h5, "check": cmd_check}
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]) or 0)
