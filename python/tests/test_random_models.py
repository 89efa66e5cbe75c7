"""Randomized models against PyTorch. A seeded generator draws model files the committed fixtures
do not hold (1 to 5 hidden layers of every activation, both losses, sgd, momentum and adam with
random hyper-parameters, clipping by norm and by value, partial last batches, float32 and float64,
the target in any CSV column); scripts/make_fixtures.py computes each one's events with torch
autograd and torch.optim; the CLI (our TypeScript core) on the model file and watch() on the same
net in PyTorch must both write them: every field of every step within 1e-4, the end, and a
non-finite failure's layer and step."""
import contextlib
import importlib.util
import io
import json
import os
import random
import subprocess

import pytest

from fixtures import compare, load
from test_fixtures import train

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(REPO, "scripts", "make_fixtures.py"))
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)

ACTIVATIONS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu"]


def draw(r, i):
    """One random case, in make_fixtures.CASES' form. Half the gelu layers are silu and half the elu
    layers selu, by a stream of their own (so that the other draws stay those the cases were first
    checked with: a tiny net under Adam at a rate near 0.3 is chaotic, and some draws would part
    from PyTorch by more than 1e-4 after a few steps whatever the activation)."""
    loss = r.choice(["cross_entropy", "mse"])
    layers = []
    swap = random.Random(7000 + i)
    for _ in range(r.randint(1, 5)):
        a = r.choice(ACTIVATIONS)
        if a == "gelu" and swap.random() < 0.5:
            a = "silu"
        layer = dict(units=r.randint(1, 20), activation=a)
        if a in ("leaky_relu", "elu") and r.random() < 0.6:
            layer["alpha"] = round(r.uniform(0.01, 1.5), 3)
        if a == "elu" and swap.random() < 0.5:
            layer = dict(units=layer["units"], activation="selu")
        if r.random() < 0.2:
            layer["bias"] = round(r.uniform(-1, 1), 2)
        layers.append(layer)
    layers.append(dict(units=r.randint(2, 6) if loss == "cross_entropy" else 1,
                       activation=r.choice(["linear", "linear", "tanh", "sigmoid"])))
    opt = r.choice(["sgd", "momentum", "adam"])
    tr = dict(optimizer=opt, learningRate=round(10 ** r.uniform(-3, -0.5), 5), steps=r.randint(1, 12))
    if opt == "momentum" and r.random() < 0.7:
        tr["momentum"] = round(r.uniform(0, 0.99), 3)
    if opt == "adam" and r.random() < 0.5:
        tr.update(beta1=round(r.uniform(0.5, 0.95), 3), beta2=round(r.uniform(0.9, 0.9999), 4), eps=10 ** r.randint(-9, -4))
    samples = r.randint(3, 70)
    tr["batchSize"] = "full" if r.random() < 0.2 else r.randint(1, samples + 5)
    if r.random() < 0.4:
        tr["clip"] = dict(mode=r.choice(["norm", "value"]), max=round(10 ** r.uniform(-3, 0.5), 4))
    c = dict(seed=100 + i, samples=samples, input=r.randint(1, 15), loss=loss, layers=layers, training=tr)
    if r.random() < 0.25:
        c["dtype"] = "float64"
    if r.random() < 0.2:
        c["targetColumn"] = r.randint(0, c["input"])
    if r.random() < 0.2:
        c["inputStd"] = round(10 ** r.uniform(-1, 1), 3)
    return c


CASES = [draw(random.Random(2026 + i), i) for i in range(30)]


@pytest.mark.parametrize("i", range(len(CASES)), ids=lambda i: f"case{i}")
def test_a_random_model_gives_pytorchs_events_in_the_cli_and_in_watch(i, tmp_path, monkeypatch):
    monkeypatch.setattr(make_fixtures, "ROOT", str(tmp_path))
    with contextlib.redirect_stdout(io.StringIO()):
        make_fixtures.run_case("m", CASES[i])
    folder = tmp_path / "m"
    expected = [json.loads(line) for line in open(folder / "expected.jsonl")]
    exp_steps = [e for e in expected if e["type"] == "step"]
    exp_end = next(e for e in expected if e["type"] == "end")
    exp_fail = [(e["layer"], e["step"]) for e in expected if e["type"] == "warning"]

    r = subprocess.run(["node", os.path.join(REPO, "dist", "cli.js"), "run", str(folder / "model.mlp.json"), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == (3 if exp_end["reason"] == "non_finite" else 0), r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == len(exp_steps) and compare(steps, exp_steps, 1e-4, 1e-7)[:5] == [], CASES[i]
    end = events[-1]
    assert (end["reason"], end["steps"]) == (exp_end["reason"], exp_end["steps"])
    got_fail = [(e["layer"], e["step"]) for e in events if e["type"] == "warning" and e["code"] == "non_finite"]
    assert got_fail == exp_fail

    case = load("m", root=str(tmp_path))
    logged, _ = train(case, str(tmp_path / "watch.layerwise.jsonl"))
    steps = [e for e in logged if e["type"] == "step"]
    assert len(steps) == len(exp_steps) and compare(steps, exp_steps, 1e-4, 1e-7)[:5] == [], CASES[i]
    assert (logged[-1]["reason"], logged[-1]["steps"]) == (exp_end["reason"], exp_end["steps"])
    got_fail = [(e["layer"], e["step"]) for e in logged if e["type"] == "warning" and e["code"] == "non_finite"]
    assert got_fail == exp_fail
