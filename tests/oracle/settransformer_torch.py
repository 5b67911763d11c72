#!/usr/bin/python3
"""settransformer_torch.py - the PyTorch oracle of tests/nn/test_settransformer_torch.c.

Reads the safetensors file the C test wrote (weights, a ragged batch, C's outputs, loss and
gradients), rebuilds the upstream MicrobiomeTransformer structure (input_projection_type1,
nn.TransformerEncoder of post-LayerNorm nn.TransformerEncoderLayer with batch_first=True,
output_projection) plus a linear classifier, in float64, runs the batch PADDED with
src_key_padding_mask, and compares every output and every gradient. LoRA (when lora_rank > 0)
is a hand-written parametrization W + (alpha/r) B A on in_proj_weight's q/k/v row slices,
out_proj, linear1 and linear2, with the base frozen. With lora_dropout > 0 the adapters are
PEFT's LoRA Linear instead, base(x) + (alpha/r) B A dropout(x), with dropout replayed from the
masks C drew (mask.* tensors, values 0 or 1/(1-p)): forward hooks on linear1/linear2, and for
self_attn a written-out attention (nn.MultiheadAttention applies in_proj_weight and out_proj
itself, so its inputs cannot be reached otherwise).

Exit status: 0 all within tolerance, 1 a mismatch (each tensor's max |diff| is printed),
77 torch cannot be imported."""
import json
import math
import re
import types
import struct
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.nn.utils.parametrize as parametrize
except ImportError:
    print("SKIP: torch is not importable")
    sys.exit(77)

# A C value c passes against PyTorch's t when |c - t| <= RTOL * |t| + ATOL_REL * max|T|, T the
# whole tensor: 1e-4 relative as the issue asks, with a floor tied to the tensor's scale so that
# entries that are nearly cancelled sums are judged by float32's absolute accuracy.
RTOL = 1e-4
ATOL_REL = 1e-5

DTYPES = {"F64": "<f8", "F32": "<f4", "I64": "<i8"}
TARGETS = {"q_proj": 0, "k_proj": 1, "v_proj": 2}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out, meta


class MicrobiomeTransformer(nn.Module):
    """The upstream module's structure, plus the classifier head on the mean-pooled embedding."""

    def __init__(self, d_in, d_model, nhead, num_layers, dim_ff, n_classes):
        super().__init__()
        self.input_projection_type1 = nn.Linear(d_in, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout=0.0,
                                           batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers)
        self.output_projection = nn.Linear(d_model, 1)
        self.classifier = nn.Linear(d_model, n_classes)

    def forward(self, x, padding_mask):
        h = self.transformer(self.input_projection_type1(x), src_key_padding_mask=padding_mask)
        keep = (~padding_mask).unsqueeze(-1).to(h.dtype)
        emb = (h * keep).sum(1) / keep.sum(1)
        return emb, self.classifier(emb), self.output_projection(h).squeeze(-1)


class LoraDelta(nn.Module):
    """W -> W + scale * B A on row blocks of W (three blocks q, k, v for in_proj_weight)."""

    def __init__(self, blocks, scale):
        super().__init__()
        self.blocks = [n_rows for n_rows, _ in blocks]
        self.scale = scale
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        for k, (_, ab) in enumerate(blocks):
            if ab is not None:
                self.A[str(k)] = nn.Parameter(ab[0])
                self.B[str(k)] = nn.Parameter(ab[1])

    def forward(self, w):
        rows = []
        for k, n_rows in enumerate(self.blocks):
            if str(k) in self.A:
                rows.append(self.scale * self.B[str(k)] @ self.A[str(k)])
            else:
                rows.append(w.new_zeros(n_rows, w.shape[1]))
        return w + torch.cat(rows, 0)


def add_lora(model, t, rank, alpha):
    """Registers the adapters found in t; returns {C name: torch parameter}."""
    names = {}
    d = model.input_projection_type1.out_features
    for i, layer in enumerate(model.transformer.layers):
        prefix = f"base_model.model.transformer.layers.{i}."

        def pair(target):
            a = t.get(f"param.{prefix}{target}.lora_A.weight")
            if a is None:
                return None
            b = t[f"param.{prefix}{target}.lora_B.weight"]
            return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)

        qkv = [pair("self_attn." + k) for k in ("q_proj", "k_proj", "v_proj")]
        plan = [(layer.self_attn, "in_proj_weight", [(d, ab) for ab in qkv],
                 ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]),
                (layer.self_attn.out_proj, "weight",
                 [(d, pair("self_attn.out_proj"))], ["self_attn.out_proj"]),
                (layer.linear1, "weight", [(layer.linear1.out_features, pair("linear1"))],
                 ["linear1"]),
                (layer.linear2, "weight", [(d, pair("linear2"))], ["linear2"])]
        for module, attr, blocks, targets in plan:
            if all(ab is None for _, ab in blocks):
                continue
            delta = LoraDelta(blocks, alpha / rank)
            parametrize.register_parametrization(module, attr, delta)
            for k, target in enumerate(targets):
                if str(k) in delta.A:
                    names[f"{prefix}{target}.lora_A.weight"] = delta.A[str(k)]
                    names[f"{prefix}{target}.lora_B.weight"] = delta.B[str(k)]
    return names


class DropoutLora(nn.Module):
    """PEFT's LoRA branch, scale * B A (x * mask), with a fixed (padded) dropout mask."""

    def __init__(self, ab, scale, mask):
        super().__init__()
        self.A = nn.Parameter(ab[0])
        self.B = nn.Parameter(ab[1])
        self.scale = scale
        self.mask = mask

    def forward(self, x):
        return self.scale * (x * self.mask) @ self.A.t() @ self.B.t()


def attention_with_lora(self, query, key, value, key_padding_mask=None, need_weights=False,
                        attn_mask=None, **unused):
    """Self-attention as nn.MultiheadAttention computes it (batch_first, no dropout), with the
    LoRA branches of q/k/v and out_proj added to the projections."""
    assert attn_mask is None and query is key and key is value
    n_b, n, d = query.shape
    h = self.num_heads
    hd = d // h
    parts = []
    for k, target in enumerate(("q_proj", "k_proj", "v_proj")):
        y = F.linear(query, self.in_proj_weight[k * d:(k + 1) * d],
                     self.in_proj_bias[k * d:(k + 1) * d])
        if hasattr(self, "lora_" + target):
            y = y + getattr(self, "lora_" + target)(query)
        parts.append(y.view(n_b, n, h, hd).transpose(1, 2))
    q, k_, v = parts
    scores = q @ k_.transpose(-1, -2) / math.sqrt(hd)
    scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    att = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(n_b, n, d)
    out = F.linear(att, self.out_proj.weight, self.out_proj.bias)
    if hasattr(self, "lora_out_proj"):
        out = out + self.lora_out_proj(att)
    return out, None


def add_dropout_lora(model, t, rank, alpha, pad):
    """Registers PEFT-style adapters with the C masks (pad: (T, k) -> (sets, n_max, k));
    returns {C name: torch parameter}."""
    names = {}
    for i, layer in enumerate(model.transformer.layers):
        prefix = f"base_model.model.transformer.layers.{i}."
        sa = layer.self_attn
        for target, owner, attr in (("self_attn.q_proj", sa, "lora_q_proj"),
                                    ("self_attn.k_proj", sa, "lora_k_proj"),
                                    ("self_attn.v_proj", sa, "lora_v_proj"),
                                    ("self_attn.out_proj", sa, "lora_out_proj"),
                                    ("linear1", layer, "lora_linear1"),
                                    ("linear2", layer, "lora_linear2")):
            a = t.get(f"param.{prefix}{target}.lora_A.weight")
            if a is None:
                continue
            b = t[f"param.{prefix}{target}.lora_B.weight"]
            mask = pad(t[f"mask.{prefix}{target}"])
            lora = DropoutLora((torch.tensor(a, dtype=torch.float64),
                                torch.tensor(b, dtype=torch.float64)), alpha / rank, mask)
            owner.add_module(attr, lora)
            names[f"{prefix}{target}.lora_A.weight"] = lora.A
            names[f"{prefix}{target}.lora_B.weight"] = lora.B
        sa.forward = types.MethodType(attention_with_lora, sa)
        for name in ("linear1", "linear2"):
            if hasattr(layer, "lora_" + name):
                lora = getattr(layer, "lora_" + name)
                getattr(layer, name).register_forward_hook(
                    lambda mod, inp, out, lora=lora: out + lora(inp[0]))
    return names


def compare(label, c, t):
    c = np.asarray(c, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if c.shape != t.shape:
        print(f"FAIL {label}: shape {c.shape} vs torch {t.shape}")
        return False
    diff = np.abs(c - t)
    scale = float(np.max(np.abs(t))) if t.size else 0.0
    bound = RTOL * np.abs(t) + ATOL_REL * scale
    ok = bool(np.all(diff <= bound))
    rel = float(np.max(diff / (np.abs(t) + ATOL_REL / RTOL * scale + 1e-300))) if t.size else 0.0
    print(f"{'ok  ' if ok else 'FAIL'} {label}: max|diff| {float(diff.max()):.3g}, "
          f"max|torch| {scale:.3g}, max diff/(|t|+{ATOL_REL / RTOL:g}·max|t|) {rel:.3g} "
          f"(tol {RTOL:g})")
    return ok


def main(path):
    t, meta = read_safetensors(path)
    nhead = int(meta["nhead"])
    rank = int(meta.get("lora_rank", "0"))
    alpha = float(meta.get("lora_alpha", "0"))
    dropout = float(meta.get("lora_dropout", "0"))
    w_in = t["param.input_projection_type1.weight"]
    d_model, d_in = w_in.shape
    n_layers = len({m.group(1) for k in t
                    if (m := re.match(r"param\.transformer\.layers\.(\d+)\.", k))})
    dim_ff = t["param.transformer.layers.0.linear1.weight"].shape[0]
    n_classes = t["param.classifier.weight"].shape[0]

    torch.manual_seed(0)
    model = MicrobiomeTransformer(d_in, d_model, nhead, n_layers, dim_ff, n_classes).double()
    state = {k[len("param."):]: torch.tensor(v, dtype=torch.float64)
             for k, v in t.items() if k.startswith("param.") and "lora_" not in k}
    model.load_state_dict(state, strict=True)
    model.train()  # dropout is 0; train mode keeps PyTorch off its inference fast path

    offsets = t["offsets"]
    n_sets = len(offsets) - 1
    sizes = np.diff(offsets)
    n_max = int(sizes.max())
    x = torch.zeros(n_sets, n_max, d_in, dtype=torch.float64)
    mask = torch.ones(n_sets, n_max, dtype=torch.bool)
    for s in range(n_sets):
        x[s, :sizes[s]] = torch.tensor(t["x"][offsets[s]:offsets[s + 1]], dtype=torch.float64)
        mask[s, :sizes[s]] = False

    def pad(packed):
        out = torch.zeros(n_sets, n_max, packed.shape[1], dtype=torch.float64)
        for s in range(n_sets):
            out[s, :sizes[s]] = torch.tensor(packed[offsets[s]:offsets[s + 1]],
                                             dtype=torch.float64)
        return out

    trainable = {}
    if rank > 0:
        for p in model.parameters():
            p.requires_grad_(False)
        if dropout > 0:
            trainable = add_dropout_lora(model, t, rank, alpha, pad)
        else:
            trainable = add_lora(model, t, rank, alpha)
        for name in ("classifier.weight", "classifier.bias"):
            p = model.get_parameter(name)
            p.requires_grad_(True)
            trainable[name] = p
    else:
        trainable = dict(model.named_parameters())

    emb, class_logits, token_logits = model(x, mask)
    token_logits = token_logits[~mask]  # set by set, token by token: C's packed order
    labels = torch.tensor(t["labels"], dtype=torch.long)
    targets = torch.tensor(t["token_targets"], dtype=torch.float64)
    loss = (F.cross_entropy(class_logits, labels) +
            F.binary_cross_entropy_with_logits(token_logits, targets))
    g_emb = torch.tensor(t["d_embeddings"], dtype=torch.float64)
    (loss + (emb * g_emb).sum()).backward()

    ok = compare("embeddings", t["out.embeddings"], emb.detach().numpy())
    ok &= compare("class_logits", t["out.class_logits"], class_logits.detach().numpy())
    ok &= compare("token_logits", t["out.token_logits"], token_logits.detach().numpy())
    ok &= compare("loss", t["out.loss"], loss.detach().numpy())

    c_grads = {k[len("grad."):] for k in t if k.startswith("grad.")}
    torch_grads = set(trainable)
    if c_grads != torch_grads:
        print(f"FAIL gradient sets differ: only in C {sorted(c_grads - torch_grads)}, "
              f"only in torch {sorted(torch_grads - c_grads)}")
        ok = False
    for name in sorted(c_grads & torch_grads):
        g = trainable[name].grad
        ok &= compare("grad " + name, t["grad." + name],
                      np.zeros(t["grad." + name].shape) if g is None else g.numpy())
    frozen_with_grad = [n for n, p in model.named_parameters()
                        if p.grad is not None and not any(p is q for q in trainable.values())]
    if frozen_with_grad:
        print(f"FAIL frozen parameters received gradients in torch: {frozen_with_grad}")
        ok = False
    print(f"{len(c_grads & torch_grads)} gradients compared, lora_rank {rank}, "
          f"lora_dropout {dropout:g}: "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: settransformer_torch.py CASE.safetensors", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
