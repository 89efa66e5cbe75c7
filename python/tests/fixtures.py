"""Builds, from one of the repository's PyTorch fixtures (test/fixtures/torch/NAME: model.mlp.json,
data.csv, init.safetensors, expected.jsonl), the same net as an nn.Sequential with activation
modules, its batches and its optimizer, so that a plain PyTorch loop under ``watch`` can be compared
with the expected events."""
import csv
import json
import math
import os
import struct

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "torch")
NAMES = sorted(os.listdir(ROOT))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": torch.float32, "F64": torch.float64}[info["dtype"]]
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=dt).reshape(info["shape"]).clone()
    return out


def natural_key(s):
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def activation_module(layer, inplace=False):
    a = layer["activation"]
    if a == "relu":
        return nn.ReLU(inplace=inplace)
    if a == "leaky_relu":
        return nn.LeakyReLU(layer.get("alpha", 0.01), inplace=inplace)
    if a == "tanh":
        return nn.Tanh()
    if a == "sigmoid":
        return nn.Sigmoid()
    if a == "elu":
        return nn.ELU(layer.get("alpha", 1.0))
    if a == "gelu":
        return nn.GELU()
    if a == "silu":
        return nn.SiLU(inplace=inplace)
    if a == "selu":
        return nn.SELU(inplace=inplace)
    return None


def load(name, inplace=False, root=ROOT):
    folder = os.path.join(root, name)
    with open(os.path.join(folder, "model.mlp.json")) as f:
        spec = json.load(f)
    dtype = torch.float64 if spec.get("dtype") == "float64" else torch.float32
    with open(os.path.join(folder, "data.csv")) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    target = spec["data"].get("target")
    t = header.index(target) if target else len(header) - 1
    xs = [[float(v) for j, v in enumerate(r) if j != t] for r in body]
    ys = [r[t] for r in body]
    x = torch.tensor(xs, dtype=torch.float64).to(dtype)
    if spec["loss"] == "cross_entropy":
        y = torch.tensor([int(float(v)) for v in ys])
    else:
        y = torch.tensor([float(v) for v in ys], dtype=torch.float64).to(dtype).view(-1, 1)
    weights = read_safetensors(os.path.join(folder, spec["weights"]))
    names = sorted({k.rsplit(".", 1)[0] for k in weights}, key=natural_key)
    mods, fan_in = [], spec["input"]["size"]
    for layer, prefix in zip(spec["layers"], names):
        lin = nn.Linear(fan_in, layer["units"]).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(weights[prefix + ".weight"].to(dtype))
            lin.bias.copy_(weights[prefix + ".bias"].to(dtype))
        mods.append(lin)
        act = activation_module(layer, inplace)
        if act is not None:
            mods.append(act)
        fan_in = layer["units"]
    model = nn.Sequential(*mods)
    tr = spec["training"]
    params = list(model.parameters())
    if tr["optimizer"] == "sgd":
        opt = torch.optim.SGD(params, lr=tr["learningRate"])
    elif tr["optimizer"] == "momentum":
        opt = torch.optim.SGD(params, lr=tr["learningRate"], momentum=tr.get("momentum", 0.9))
    else:
        opt = torch.optim.Adam(params, lr=tr["learningRate"], betas=(tr.get("beta1", 0.9), tr.get("beta2", 0.999)),
                               eps=tr.get("eps", 1e-8))
    n = x.shape[0]
    bs = n if tr["batchSize"] == "full" else min(tr["batchSize"], n)
    nb = math.ceil(n / bs)
    batches = [(x[(k % nb) * bs:min((k % nb + 1) * bs, n)], y[(k % nb) * bs:min((k % nb + 1) * bs, n)])
               for k in range(tr["steps"])]
    if spec["loss"] == "cross_entropy":
        loss_fn = nn.functional.cross_entropy
    else:
        loss_fn = nn.functional.mse_loss
    with open(os.path.join(folder, "expected.jsonl")) as f:
        expected = [json.loads(line) for line in f if line.strip()]
    return dict(spec=spec, model=model, optimizer=opt, batches=batches, loss_fn=loss_fn, clip=tr.get("clip"),
                expected=expected)


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(actual, expected, rtol, atol, path="$", out=None, scale=0.0):
    """Numbers within rtol * max(|a|, |b|, scale) + atol; the rest exact; only the expected keys.

    A moment's mean is compared on the scale of its spread (scale = √var): a float32 mean of
    values of size σ is known to a relative error of σ, not of itself, so a mean near 0 of values
    of size 1 (two kernels summing in different orders) differs by ~1e-7·σ, not ~1e-7·|mean|.
    """
    out = [] if out is None else out
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if actual != expected:
            out.append((path, actual, expected))
    elif isinstance(expected, (int, float)):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and \
            abs(actual - expected) <= rtol * max(abs(actual), abs(expected), scale) + atol
        if not ok:
            out.append((path, actual, expected))
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            out.append((path, actual, expected))
        else:
            for i, (a, e) in enumerate(zip(actual, expected)):
                compare(a, e, rtol, atol, f"{path}[{i}]", out)
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append((path, actual, expected))
        else:
            var = expected.get("var")
            spread = var ** 0.5 if isinstance(var, (int, float)) and not isinstance(var, bool) and var > 0 else 0.0
            for k, v in expected.items():
                compare(actual.get(k), v, rtol, atol, f"{path}.{k}", out, spread if k == "mean" else 0.0)
    return out
