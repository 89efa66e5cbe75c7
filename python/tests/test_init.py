"""Our init schemes against torch.nn.init: for each scheme, the exact Var(W) our core uses (as
`layerwise analyze --json` reports it, the mean-field analysis' weightVar) against the variance of
PyTorch's own draws on a weight of the same shape (pooled over many draws), and PyTorch's values
inside the cut-offs of trunc_normal."""
import json
import re
import os
import subprocess

import pytest
import torch
from torch import nn

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAN_IN = 200  # the model's inputs; its layers alternate 300 and 200 units (fan_out ≠ fan_in)


def _kaiming(fn, **kw):
    return lambda w: fn(w, **kw)


# (our layer's activation, its init, PyTorch's init of a [units, fan_in] weight)
CASES = [
    ("relu", "xavier_uniform", nn.init.xavier_uniform_),
    ("tanh", {"scheme": "xavier_normal", "gain": 5 / 3}, lambda w: nn.init.xavier_normal_(w, gain=5 / 3)),
    ("relu", "he_normal", _kaiming(nn.init.kaiming_normal_, nonlinearity="relu")),
    ("relu", {"scheme": "he_normal", "mode": "fan_out"},
     _kaiming(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")),
    ({"activation": "leaky_relu", "alpha": 0.2}, "he_uniform",
     _kaiming(nn.init.kaiming_uniform_, a=0.2, nonlinearity="leaky_relu")),
    ("tanh", "he_normal", _kaiming(nn.init.kaiming_normal_, nonlinearity="tanh")),
    ("linear", "lecun_normal", _kaiming(nn.init.kaiming_normal_, nonlinearity="linear")),
    ("sigmoid", {"scheme": "lecun_uniform", "mode": "fan_out"},
     _kaiming(nn.init.kaiming_uniform_, mode="fan_out", nonlinearity="sigmoid")),
    ("tanh", {"scheme": "orthogonal", "gain": 1.5}, lambda w: nn.init.orthogonal_(w, gain=1.5)),
    ("relu", "pytorch", lambda w: w.copy_(nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype).weight.data)),
    ("relu", {"scheme": "normal", "std": 0.05}, lambda w: nn.init.normal_(w, std=0.05)),
    ("relu", {"scheme": "uniform", "low": -0.2, "high": 0.6}, lambda w: nn.init.uniform_(w, -0.2, 0.6)),
    ("relu", "trunc_normal", nn.init.trunc_normal_),
    ("relu", {"scheme": "trunc_normal", "mean": 0.01, "std": 0.1, "a": -0.15, "b": 0.2},
     lambda w: nn.init.trunc_normal_(w, mean=0.01, std=0.1, a=-0.15, b=0.2)),
    ("relu", {"scheme": "trunc_normal", "std": 0.02}, lambda w: nn.init.trunc_normal_(w, std=0.02)),
    ("tanh", {"scheme": "trunc_normal", "mean": 0.3, "std": 0.5, "a": 0.5, "b": 2},
     lambda w: nn.init.trunc_normal_(w, mean=0.3, std=0.5, a=0.5, b=2.0)),
]


_layers = [{"units": 300 if i % 2 == 0 else 200, **(act if isinstance(act, dict) else {"activation": act}),
            "init": init} for i, (act, init, _) in enumerate(CASES)]


def _analysis(tmp_path):
    model = {"input": {"size": FAN_IN}, "layers": _layers + [{"units": 10}], "loss": "cross_entropy",
             "data": {"source": "synthetic", "samples": 64}, "training": {"batchSize": 64},
             "diagnostics": {"sharpnessEvery": 0}}
    path = tmp_path / "inits.mlp.json"
    path.write_text(json.dumps(model))
    r = subprocess.run(["node", os.path.join(REPO, "dist", "cli.js"), "analyze", str(path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    return next(e for e in events if e["type"] == "analysis")


def test_every_scheme_has_the_variance_of_pytorchs_draws(tmp_path):
    analysis = _analysis(tmp_path)
    torch.manual_seed(0)
    fan_in = FAN_IN
    for i, (_act, init, torch_init) in enumerate(CASES):
        units = _layers[i]["units"]
        layer = analysis["layers"][i]
        assert (layer["fanIn"], layer["fanOut"]) == (fan_in, units)
        w = torch.empty(units, fan_in, dtype=torch.float64)
        draws = []
        for _ in range(20):  # 1.2M values: the variance's standard error is ~0.15 %
            torch_init(w)
            draws.append(w.clone().flatten())
        x = torch.cat(draws)
        what = f"layer {i}: {json.dumps(init)}"
        if isinstance(init, dict) and init["scheme"] == "trunc_normal":
            assert x.min() >= init.get("a", -2) and x.max() <= init.get("b", 2), what
        got = layer["weightVar"]
        want = x.var(unbiased=False).item()
        assert got == pytest.approx(want, rel=0.01), f"{what}: ours {got}, PyTorch's draws {want}"
        fan_in = units


def test_the_cut_offs_are_values_not_stds():
    """The reason the file's a and b are values: PyTorch cuts nothing of trunc_normal_(std=0.02)."""
    w = torch.empty(1000, 1000)
    nn.init.trunc_normal_(w, std=0.02)
    assert w.abs().max() < 0.2 and w.std().item() == pytest.approx(0.02, rel=0.01)


def test_a_pytorch_run_initialised_with_uniform_gets_the_init_warning(tmp_path):
    """nn.init.uniform_'s U(0, 1) on the hidden layers: `layerwise watch` names them from step 0's
    weights, with a zero-mean PyTorch init as the fix; PyTorch's default init gets no such warning."""
    import layerwise_torch

    def events(uniform):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 5))
        if uniform:
            for i in (0, 2):
                nn.init.uniform_(model[i].weight)
        opt = torch.optim.SGD(model.parameters(), lr=1e-6)
        path = tmp_path / f"u{int(uniform)}.layerwise.jsonl"
        x, y = torch.randn(32, 20), torch.randint(0, 5, (32,))
        with layerwise_torch.watch(model, opt, str(path), on_non_finite="log") as run:
            for _ in range(2):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                run.step(loss)
        r = subprocess.run(["node", os.path.join(REPO, "dist", "cli.js"), "watch", str(path), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines()]

    init = [e for e in events(True) if e["type"] == "warning" and e["code"] == "init_mismatch"]
    assert len(init) == 1, init
    w = init[0]
    assert w["layer"] == 0 and w["layers"] == [0, 1] and w["step"] is None
    assert w["message"].startswith("Layers 0–1: weights with mean 0.5")
    assert "each unit sums them over its 20 inputs" in w["message"]
    assert w["fix"] == ('Initialise each nn.Linear of layers 0–1 with '
                        'nn.init.kaiming_normal_(linear.weight, nonlinearity="relu") (zero mean).')
    assert not [e for e in events(False) if e["type"] == "warning" and e["code"] == "init_mismatch"]


# (the activation module, its name in model files, its alpha)
FIX_ACTS = [(nn.ReLU(), "relu", None), (nn.LeakyReLU(0.2), "leaky_relu", 0.2), (nn.Tanh(), "tanh", None),
            (nn.Sigmoid(), "sigmoid", None), (nn.ELU(), "elu", None), (nn.GELU(), "gelu", None),
            (nn.SiLU(), "silu", None), (nn.SELU(), "selu", None), (None, "linear", None)]
CALL = re.compile(r"(nn\.init\.\w+_\()([\w.\[\]]+)((?:, [^()]*)?\))")


def _drawn_var(call, units, fan_in):
    """Var of 1.2M weights drawn by a fix's torch.nn.init call on [units, fan_in] weights."""
    w = torch.empty(units, fan_in, dtype=torch.float64)
    draws = []
    for _ in range(20):
        eval(CALL.sub(r"\1w\3", call), {"nn": nn, "w": w})
        draws.append(w.clone().flatten())
    return torch.cat(draws).var(unbiased=False).item()


def _cli(*args):
    r = subprocess.run(["node", os.path.join(REPO, "dist", "cli.js"), *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _init_var(tmp_path, act, alpha, init=None):
    """Var(W) our core draws for a [300, 40] layer of this activation, under `init` (None: the
    file's default for the activation), as `layerwise analyze --json` reports it."""
    layer = {"units": 300, "activation": act, **({"alpha": alpha} if alpha is not None else {}),
             **({"init": init} if init else {})}
    analysis = next(e for e in _cli("analyze", _model_file(tmp_path, [layer]), "--json") if e["type"] == "analysis")
    return analysis["layers"][0]["weightVar"]


def _model_file(tmp_path, layers):
    model = {"input": {"size": 40}, "layers": layers + [{"units": 5}], "loss": "cross_entropy",
             "data": {"source": "synthetic", "samples": 64}, "training": {"batchSize": 64},
             "diagnostics": {"sharpnessEvery": 0}}
    path = tmp_path / "fix.mlp.json"
    path.write_text(json.dumps(model))
    return str(path)


@pytest.mark.parametrize("module,act,alpha", FIX_ACTS, ids=[a for _, a, _ in FIX_ACTS])
def test_the_init_a_pytorch_fix_names_draws_the_files_default_init(module, act, alpha, tmp_path):
    """A PyTorch run's init warning (nn.init.uniform_ weights) names a torch.nn.init call; run in
    PyTorch, that call draws the Var(W) of the init a model file gets for the same activation by
    default (the scheme the model-file fixes name), e.g. Glorot's gain 1 under tanh, a = alpha under
    leaky_relu. The model-file warning of "init": "pytorch" names a scheme and its PyTorch call: the
    two draw the same Var(W)."""
    import layerwise_torch

    torch.manual_seed(0)
    parts = [nn.Linear(40, 300)] + ([module] if module is not None else []) + [nn.Linear(300, 5)]
    model = nn.Sequential(*parts)
    nn.init.uniform_(model[0].weight)
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)
    path = tmp_path / "fix.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, str(path), on_non_finite="log") as run:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(torch.randn(32, 40)), torch.randint(0, 5, (32,)))
        loss.backward()
        run.step(loss)
    warns = [e for e in _cli("watch", str(path), "--json") if e["type"] == "warning" and e["code"] == "init_mismatch"]
    assert len(warns) == 1, warns
    call = CALL.search(warns[0]["fix"]).group(0)
    want = _init_var(tmp_path, act, alpha)
    assert _drawn_var(call, 300, 40) == pytest.approx(want, rel=0.01), (call, want)

    # the model file's warning on PyTorch's default init: the call in the fix's "in PyTorch ..."
    layer = {"units": 300, "activation": act, "init": "pytorch", **({"alpha": alpha} if alpha is not None else {})}
    warns = [e for e in _cli("analyze", _model_file(tmp_path, [layer]), "--json")
             if e["type"] == "warning" and e["code"] == "init_mismatch"]
    assert len(warns) == 1, warns
    fix = warns[0]["fix"]
    scheme = re.match(r'Set "init": "(\w+)"', fix).group(1)
    call = CALL.search(fix.split("in PyTorch", 1)[1]).group(0)
    assert scheme.endswith("_uniform") and "uniform_" in call, fix
    want = _init_var(tmp_path, act, alpha, scheme)
    assert _drawn_var(call, 300, 40) == pytest.approx(want, rel=0.01), (call, want)
