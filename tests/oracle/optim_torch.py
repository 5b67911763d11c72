#!/usr/bin/python3
"""optim_torch.py - the PyTorch oracle of tests/nn/test_optim_torch.c.

Each argument is a safetensors file the C test wrote; its __metadata__ "case" says what to
replay, in float64, from the initial parameters ("param.<name>") and data it holds:
  mlp_grad    a ModuleList of nn.Linear with F.relu between them and F.cross_entropy: the
              logits, the loss and every gradient ("grad.<name>") are compared;
  mlp_optim   the same MLP trained for "steps" full-batch steps with torch.optim.AdamW or
              torch.optim.SGD, torch.nn.utils.clip_grad_norm_ (when max_norm > 0) and a
              LambdaLR with transformers' schedule formulas: the parameters afterwards
              ("final.<name>"), the pre-clip norms and losses of each step and the optimizer
              state ("state.exp_avg.<name>", ..., "state.step") are compared;
  lora_optim  the same loop on the LoRA adapters (+ classifier) of the set transformer, built
              with tests/oracle/settransformer_torch.py's module and LoRA parametrization.

Exit status: 0 all within tolerance, 1 a mismatch (each tensor's max |diff| is printed),
77 torch cannot be imported."""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import settransformer_torch as st  # noqa: E402  (exits 77 itself when torch is missing)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# Gradients: 1e-4 relative as issue 3 asks. Parameters after optimizer steps: 1e-5 relative.
# Both with a floor of 1e-5 x (resp. 1e-6 x) the tensor's largest |value|, so that entries
# that are nearly cancelled sums are judged by float32's absolute accuracy.
GRAD_RTOL, GRAD_ATOL_REL = 1e-4, 1e-5
PARAM_RTOL, PARAM_ATOL_REL = 1e-5, 1e-6


def compare(label, c, t, rtol, atol_rel):
    c = np.asarray(c, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if c.shape != t.shape:
        print(f"FAIL {label}: shape {c.shape} vs torch {t.shape}")
        return False
    diff = np.abs(c - t)
    scale = float(np.max(np.abs(t))) if t.size else 0.0
    ok = bool(np.all(diff <= rtol * np.abs(t) + atol_rel * scale))
    worst = float(diff.max()) if t.size else 0.0
    print(f"{'ok  ' if ok else 'FAIL'} {label}: max|diff| {worst:.3g}, max|torch| {scale:.3g} "
          f"(rtol {rtol:g})")
    return ok


def lr_lambda(meta):
    """transformers' get_{constant,linear,cosine}_schedule_with_warmup lambdas."""
    kind = meta["schedule"]
    warmup = int(float(meta["warmup_steps"]))
    total = int(float(meta["total_steps"]))
    cycles = float(meta["num_cycles"])

    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return max(0.0, float(total - step) / float(max(1, total - warmup)))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress)))
    return f


def make_optimizer(meta, params):
    lr = float(meta["lr"])
    wd = float(meta["weight_decay"])
    if meta["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(float(meta["beta1"]), float(meta["beta2"])),
                                 eps=float(meta["eps"]), weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=float(meta["momentum"]), weight_decay=wd,
                           nesterov=bool(int(float(meta["nesterov"]))))


def train(meta, named, loss_fn):
    """The loop of the C test: zero, backward, clip, step, schedule. Returns norms, losses and
    the optimizer."""
    opt = make_optimizer(meta, [p for _, p in named])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(meta))
    max_norm = float(meta["max_norm"])
    norms, losses = [], []
    for _ in range(int(float(meta["steps"]))):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        norm = 0.0
        if max_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_([p for _, p in named], max_norm))
        opt.step()
        sched.step()
        norms.append(norm)
        losses.append(float(loss))
    return norms, losses, opt


def check_training(t, meta, named, loss_fn):
    norms, losses, opt = train(meta, named, loss_fn)
    ok = compare("losses", t["losses"], losses, PARAM_RTOL, PARAM_ATOL_REL)
    ok &= compare("pre-clip norms", t["norms"], norms, PARAM_RTOL, PARAM_ATOL_REL)
    c_final = sorted(k[len("final."):] for k in t if k.startswith("final."))
    if c_final != sorted(n for n, _ in named):
        print(f"FAIL trained tensors differ: C {c_final}, torch {sorted(n for n, _ in named)}")
        return False
    adamw = meta["optimizer"] == "adamw"
    for name, p in named:
        ok &= compare("final " + name, t["final." + name], p.detach().numpy(), PARAM_RTOL,
                      PARAM_ATOL_REL)
        state = opt.state[p]
        bufs = ["exp_avg", "exp_avg_sq"] if adamw else (
            ["momentum_buffer"] if float(meta["momentum"]) != 0 else [])
        for b in bufs:
            ok &= compare(f"state {b}.{name}", t[f"state.{b}.{name}"], state[b].numpy(),
                          PARAM_RTOL, PARAM_ATOL_REL)
    expected_state = {"state.step"} | {f"state.{b}.{n}" for n, _ in named for b in (
        ["exp_avg", "exp_avg_sq"] if adamw else (
            ["momentum_buffer"] if float(meta["momentum"]) != 0 else []))}
    got_state = {k for k in t if k.startswith("state.")}
    if got_state != expected_state:
        print(f"FAIL state names: only in C {sorted(got_state - expected_state)}, "
              f"missing {sorted(expected_state - got_state)}")
        ok = False
    if int(t["state.step"]) != int(float(meta["steps"])):
        print(f"FAIL state.step {int(t['state.step'])} (expected {meta['steps']})")
        ok = False
    return ok


class MLP(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x


def build_mlp(t):
    n_layers = len([k for k in t if k.startswith("param.layers.") and k.endswith(".weight")])
    widths = [t["param.layers.0.weight"].shape[1]] + [
        t[f"param.layers.{i}.weight"].shape[0] for i in range(n_layers)]
    model = MLP(widths).double()
    state = {k[len("param."):]: torch.tensor(v, dtype=torch.float64)
             for k, v in t.items() if k.startswith("param.")}
    model.load_state_dict(state, strict=True)
    x = torch.tensor(t["x"], dtype=torch.float64)
    labels = torch.tensor(t["labels"], dtype=torch.long)
    return model, x, labels


def case_mlp_grad(t, meta):
    model, x, labels = build_mlp(t)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    ok = compare("logits", t["out.logits"], logits.detach().numpy(), GRAD_RTOL, GRAD_ATOL_REL)
    ok &= compare("loss", t["out.loss"], loss.detach().numpy(), GRAD_RTOL, GRAD_ATOL_REL)
    for name, p in model.named_parameters():
        ok &= compare("grad " + name, t["grad." + name], p.grad.numpy(), GRAD_RTOL, GRAD_ATOL_REL)
    return ok


def case_mlp_optim(t, meta):
    model, x, labels = build_mlp(t)
    return check_training(t, meta, list(model.named_parameters()),
                          lambda: F.cross_entropy(model(x), labels))


def case_lora_optim(t, meta):
    rank = int(float(meta["lora_rank"]))
    alpha = float(meta["lora_alpha"])
    w_in = t["param.input_projection_type1.weight"]
    d_model, d_in = w_in.shape
    n_layers = len({k.split(".")[3] for k in t if k.startswith("param.transformer.layers.")})
    dim_ff = t["param.transformer.layers.0.linear1.weight"].shape[0]
    n_classes = t["param.classifier.weight"].shape[0]
    model = st.MicrobiomeTransformer(d_in, d_model, int(meta["nhead"]), n_layers, dim_ff,
                                     n_classes).double()
    state = {k[len("param."):]: torch.tensor(v, dtype=torch.float64)
             for k, v in t.items() if k.startswith("param.") and "lora_" not in k}
    model.load_state_dict(state, strict=True)
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = st.add_lora(model, t, rank, alpha)
    for name in ("classifier.weight", "classifier.bias"):
        p = model.get_parameter(name)
        p.requires_grad_(True)
        trainable[name] = p
    offsets = t["offsets"]
    sizes = np.diff(offsets)
    n_sets, n_max = len(sizes), int(sizes.max())
    x = torch.zeros(n_sets, n_max, d_in, dtype=torch.float64)
    mask = torch.ones(n_sets, n_max, dtype=torch.bool)
    for s in range(n_sets):
        x[s, :sizes[s]] = torch.tensor(t["x"][offsets[s]:offsets[s + 1]], dtype=torch.float64)
        mask[s, :sizes[s]] = False
    labels = torch.tensor(t["labels"], dtype=torch.long)

    def loss_fn():
        _, class_logits, _ = model(x, mask)
        return F.cross_entropy(class_logits, labels)
    return check_training(t, meta, sorted(trainable.items()), loss_fn)


CASES = {"mlp_grad": case_mlp_grad, "mlp_optim": case_mlp_optim, "lora_optim": case_lora_optim}


def main(paths):
    ok = True
    for path in paths:
        t, meta = st.read_safetensors(path)
        print(f"== {os.path.basename(path)} ({meta['case']})")
        torch.manual_seed(0)
        case_ok = CASES[meta["case"]](t, meta)
        print(f"{os.path.basename(path)}: {'ok' if case_ok else 'MISMATCH'}")
        ok &= case_ok
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: optim_torch.py CASE.safetensors...", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
