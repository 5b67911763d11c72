#!/usr/bin/python3
"""train_step_torch.py - the PyTorch side of bench/train-step.sh: median milliseconds of one
training step (zero_grad, forward, loss, backward, AdamW step) on random data, CPU, float32.

  train_step_torch.py st THREADS SECONDS    LoRA fine-tune of the large upstream
        MicrobiomeTransformer (d_in 384, d_model 100, 5 layers, 5 heads, ff 400; dropout 0 as
        microlens has none), LoRA r=8 alpha=16 on q and v as a parametrization of the packed
        in_proj_weight (the way PEFT handles nn.MultiheadAttention), a Linear(100, 2)
        classifier on the masked mean, cross-entropy; 16 sets of 256 OTUs
  train_step_torch.py mlp THREADS SECONDS   the MLP 2000-256-64-2 (ReLU), batch 64

Prints one number."""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.parametrize as parametrize

D_IN, D_MODEL, N_LAYERS, N_HEADS, D_FF = 384, 100, 5, 5, 400
SETS, N = 16, 256
RANK, ALPHA = 8, 16.0


class MicrobiomeTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_projection_type1 = nn.Linear(D_IN, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.0,
                                           batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=N_LAYERS)
        self.output_projection = nn.Linear(D_MODEL, 1)
        self.classifier = nn.Linear(D_MODEL, 2)

    def forward(self, x, pad):
        h = self.transformer(self.input_projection_type1(x), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.classifier((h * keep).sum(1) / keep.sum(1))


class QVLora(nn.Module):
    """in_proj_weight + scale * [B_q A_q; 0; B_v A_v]."""

    def __init__(self, d):
        super().__init__()
        self.scale = ALPHA / RANK
        bound = 1.0 / d ** 0.5
        self.a_q = nn.Parameter(torch.empty(RANK, d).uniform_(-bound, bound))
        self.b_q = nn.Parameter(torch.zeros(d, RANK))
        self.a_v = nn.Parameter(torch.empty(RANK, d).uniform_(-bound, bound))
        self.b_v = nn.Parameter(torch.zeros(d, RANK))

    def forward(self, w):
        d = w.shape[1]
        zero = w.new_zeros(d, d)
        return w + self.scale * torch.cat([self.b_q @ self.a_q, zero, self.b_v @ self.a_v], 0)


def median_ms(step, seconds):
    step()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_st(seconds):
    model = MicrobiomeTransformer()
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.transformer.layers:
        parametrize.register_parametrization(layer.self_attn, "in_proj_weight", QVLora(D_MODEL))
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    x = torch.rand(SETS, N, D_IN) * 2 - 1
    pad = torch.zeros(SETS, N, dtype=torch.bool)
    labels = torch.arange(SETS) % 2

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x, pad), labels).backward()
        opt.step()
    return median_ms(step, seconds)


def bench_mlp(seconds):
    model = nn.Sequential(nn.Linear(2000, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                          nn.Linear(64, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(64, 2000) * 2 - 1
    labels = torch.arange(64) % 2

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()
    return median_ms(step, seconds)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("st", "mlp"):
        print("usage: train_step_torch.py st|mlp THREADS SECONDS", file=sys.stderr)
        return 2
    torch.set_num_threads(int(sys.argv[2]))
    torch.manual_seed(0)
    seconds = float(sys.argv[3])
    ms = bench_st(seconds) if sys.argv[1] == "st" else bench_mlp(seconds)
    print(f"{ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
