"""Layerwise's Hessian against PyTorch's on the repository's fixtures: Hessian-vector products
against torch.autograd.functional.hvp, and lambda_max (Lanczos in our core, and as `layerwise
analyze` reports it) against the largest eigenvalue of the whole Hessian torch assembles."""
import json
import os
import subprocess

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fixtures import load

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = ["ce_sgd_relu_partial_batch", "mse_elu_gelu_momentum", "ce_adam_sigmoid_full_batch",
            "float64_adam_leaky", "mse_adam_tanh_clipvalue"]


def loss_of(model, x, y, loss_fn):
    """The batch loss as a function of one flat float64 parameter vector (PyTorch's order)."""
    mods = list(model)
    shapes = [p.shape for p in model.parameters()]

    def f(theta):
        h, o, i = x, 0, 0
        for m in mods:
            if isinstance(m, nn.Linear):
                w_n, b_n = shapes[i].numel(), shapes[i + 1].numel()
                w = theta[o:o + w_n].view(shapes[i])
                b = theta[o + w_n:o + w_n + b_n]
                h = F.linear(h, w, b)
                o += w_n + b_n
                i += 2
            else:
                h = m(h)
        return loss_fn(h, y)
    return f


def node(*args):
    r = subprocess.run(["node", "--import", "tsx", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("name", FIXTURES)
def test_hessian_vector_products_and_lambda_max_equal_pytorchs(name, tmp_path):
    fx = load(name)
    model = fx["model"].double()
    spec = fx["spec"]
    bs = fx["batches"][0][0].shape[0]
    rows = min(64, bs)
    x, y = fx["batches"][0]
    x = x[:rows].double()
    y = y[:rows].double() if y.dtype.is_floating_point else y[:rows]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    f = loss_of(model, x, y, fx["loss_fn"])
    g = torch.Generator().manual_seed(5)
    vs = [torch.randn(theta.numel(), generator=g, dtype=torch.float64) for _ in range(3)]
    vec_file = tmp_path / "v.json"
    vec_file.write_text(json.dumps([v.tolist() for v in vs]))
    ours = json.loads(node("scripts/hvp.ts", os.path.join(REPO, "test", "fixtures", "torch", name, "model.mlp.json"),
                           str(vec_file)))
    assert ours["size"] == theta.numel() and ours["rows"] == rows
    # the loss at these parameters (float32 fixtures: our float64 copy of the same weights)
    assert ours["loss"] == pytest.approx(f(theta).item(), rel=1e-9)
    for v, hv in zip(vs, ours["hv"]):
        _, want = torch.autograd.functional.hvp(f, theta, v)
        got = torch.tensor(hv, dtype=torch.float64)
        assert torch.allclose(got, want, rtol=1e-8, atol=1e-10 * want.abs().max().item()), (name, (got - want).abs().max())
    H = torch.autograd.functional.hessian(f, theta)
    top = torch.linalg.eigvalsh((H + H.T) / 2).max().item()
    assert ours["lambdaMax"] == pytest.approx(top, rel=1e-6)
    # as `layerwise analyze` reports it (20 products at most, to 1e-4)
    out = subprocess.run(["node", "dist/cli.js", "analyze", os.path.join("test", "fixtures", "torch", name, "model.mlp.json"),
                          "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    ev = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    sharp = [e for e in ev if e["type"] == "sharpness"]
    assert len(sharp) == 1 and sharp[0]["step"] == 0
    assert sharp[0]["lambdaMax"] == pytest.approx(top, rel=1e-3)
    tr = spec["training"]
    if tr["optimizer"] == "sgd":
        assert sharp[0]["threshold"] == pytest.approx(2 / tr["learningRate"])
    elif tr["optimizer"] == "momentum":
        assert sharp[0]["threshold"] == pytest.approx((2 + 2 * tr.get("momentum", 0.9)) / tr["learningRate"])
    else:
        assert sharp[0]["threshold"] is None
