"""Layerwise's Hessian against PyTorch's on the repository's fixtures: Hessian-vector products
against torch.autograd.functional.hvp, and lambda_max (Lanczos in our core, and as `layerwise
analyze` reports it) against the largest eigenvalue of the whole Hessian torch assembles."""
import inspect
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
            "float64_adam_leaky", "mse_adam_tanh_clipvalue", "ce_adam_silu_clipnorm",
            "mse_momentum_selu_lecun"]


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


def tanh_problem(seed):
    """A small float64 tanh net, a batch of 24, and lambda_max of its cross-entropy's full Hessian."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    x = torch.randn(24, 5, dtype=torch.float64) * 2
    y = torch.randint(0, 3, (24,))
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of(model, x, y, F.cross_entropy), theta)).max().item()
    return model, x, y, top


def test_watch_sharpness_every_with_a_closure_equals_the_full_hessian_and_warns_through_the_detectors(tmp_path):
    import layerwise_torch
    model, x, y, top = tanh_problem(2)
    path = str(tmp_path / "s.layerwise.jsonl")
    lr = 3.0 / top  # lr * lambda_max = 3 > 2: past the threshold at step 0
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with layerwise_torch.watch(model, opt, path, sharpness_every=2, histograms_every=0) as run:
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss, closure=lambda: F.cross_entropy(model(x), y))
    ev = [json.loads(line) for line in open(path, encoding="utf-8")]
    sh = [e for e in ev if e["type"] == "sharpness"]
    assert [e["step"] for e in sh] == [0, 2, 4]
    assert sh[0]["lambdaMax"] == pytest.approx(top, rel=1e-4)
    assert sh[0]["threshold"] == pytest.approx(2 / lr)
    assert "momentum" not in sh[0]
    # the step events are those of a run without the closure (its forward pass is not counted)
    steps = [e for e in ev if e["type"] == "step"]
    assert len(steps) == 5 and all(len(e["layers"]) == 2 for e in steps)
    # the detectors over the log (layerwise watch) warn once, naming lr ~ 1.8 / lambda_max
    out = subprocess.run(["node", "dist/cli.js", "watch", path, "--json"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    warns = [json.loads(line) for line in out.stdout.splitlines() if '"sharpness"' in line and '"warning"' in line]
    assert len(warns) == 1 and warns[0]["step"] == 0, out.stdout[-2000:]
    assert "lr" in warns[0]["fix"] and f"{1.8 / top:.3g}" in warns[0]["fix"], warns[0]["fix"]


@pytest.mark.parametrize("case", ["weight_decay", "nesterov", "dampening"])
def test_weight_decay_nesterov_and_dampening_set_the_threshold_and_the_rate_named(tmp_path, case):
    """SGD's weight decay wd adds wd * theta to every gradient (its steps see curvature lambda + wd),
    Nesterov's look-ahead lowers the bound 2 + 2 beta to (2 + 2 beta)/(1 + 2 beta), dampening d moves
    the buffer at lr * (1 - d): a run past the threshold each makes is warned of, through the
    detectors, which read back the learning rate the threshold is for."""
    import layerwise_torch
    model, x, y, top = tanh_problem(5)
    if case == "weight_decay":  # lr * (lambda_max + wd) = 2.4 > 2, while lr * lambda_max = 1.6 < 2
        wd = top / 2
        sgd, bound, seen, product = dict(lr=2.4 / (top + wd), weight_decay=wd), 2.0, top + wd, "η·(λmax + wd) = 2.4 > 2 "
    elif case == "nesterov":  # bound (2 + 1)/(1 + 1) = 1.5; lr * lambda_max = 1.8
        sgd, bound, seen = dict(lr=1.8 / top, momentum=0.5, nesterov=True), 1.5, top
        product = "η·λmax = 1.8 > (2 + 2β)/(1 + 2β) = 1.5 "
    else:  # bound 3; lr * (1 - d) * lambda_max = 3.6
        sgd, bound, seen = dict(lr=7.2 / top, momentum=0.5, dampening=0.5), 3.0, top / 2
        product = "η·(1 − d)·λmax = 3.6 > 2 + 2β = 3 "
    path = str(tmp_path / "wd.layerwise.jsonl")
    opt = torch.optim.SGD(model.parameters(), **sgd)
    with layerwise_torch.watch(model, opt, path, sharpness_every=1, histograms_every=0) as run:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        run.step(loss)
    sh = [e for e in map(json.loads, open(path, encoding="utf-8")) if e["type"] == "sharpness"]
    assert sh[0]["lambdaMax"] == pytest.approx(top, rel=1e-4)
    assert sh[0]["threshold"] == pytest.approx(bound / (sgd["lr"] * (1 - sgd.get("dampening", 0))) - sgd.get("weight_decay", 0))
    out = subprocess.run(["node", "dist/cli.js", "watch", path, "--json"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    warns = [json.loads(line) for line in out.stdout.splitlines() if '"sharpness"' in line and '"warning"' in line]
    assert len(warns) == 1, out.stdout[-2000:]
    assert warns[0]["message"].startswith(product), warns[0]["message"]
    assert f"for η = {sgd['lr']:.3g}" in warns[0]["message"], warns[0]["message"]
    assert f"lr to {0.9 * bound / seen:.3g}," in warns[0]["fix"], warns[0]["fix"]


def sharpness_run(path, model, x, y, loss_fn, closure=False, steps=3, validate=False, call=None):
    """lambda_max of each step of a run with sharpness_every=1, and the warnings it gave (validate:
    a forward pass of other samples with gradients enabled, and no backward, before each step's;
    call(model, x): how the model is called, model(x) where None)."""
    import warnings
    import layerwise_torch
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with layerwise_torch.watch(model, opt, path, sharpness_every=1, histograms_every=0) as run:
            for _ in range(steps):
                if validate:
                    loss_fn(model(x[:7] * 3 - 1), y[:7])
                opt.zero_grad()
                loss = loss_fn(call(model, x) if call else model(x), y)
                loss.backward()
                run.step(loss, closure=(lambda: loss_fn(model(x), y)) if closure else None)
    ev = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert [e["step"] for e in ev if e["type"] == "step"] == list(range(steps))
    return [e["lambdaMax"] for e in ev if e["type"] == "sharpness"], [str(w.message) for w in caught]


LOSSES = {
    "cross_entropy": (F.cross_entropy, "classes"),
    "cross_entropy_sum": (lambda o, t: F.cross_entropy(o, t, reduction="sum"), "classes"),
    "nll_of_log_softmax": (lambda o, t: F.nll_loss(F.log_softmax(o, 1), t), "classes"),
    "cross_entropy_ignore_index": (lambda o, t: F.cross_entropy(o, t, ignore_index=1), "classes"),
    "mse": (F.mse_loss, "values"),
    "mse_sum": (lambda o, t: F.mse_loss(o, t, reduction="sum"), "values"),
    # of the output rearranged (a regression's out.squeeze(1), a sequence model's view(-1, C))
    "mse_of_a_view": (lambda o, t: F.mse_loss(o.reshape(-1), t.reshape(-1)), "values"),
    "mse_of_transposed": (lambda o, t: F.mse_loss(o.t(), t.t()), "values"),
    "cross_entropy_of_a_view": (lambda o, t: F.cross_entropy(o.view(-1, 3), t), "classes"),
    "bce_with_logits": (lambda o, t: F.binary_cross_entropy_with_logits(o, torch.sigmoid(t)), "values"),
    "bce_with_logits_sum": (lambda o, t: F.binary_cross_entropy_with_logits(o, (t > 0).double(), reduction="sum"),
                            "values"),
}


def tanh_net():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).double()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_watch_sharpness_without_a_closure_takes_the_steps_own_loss(name, tmp_path):
    """Where the step's loss is cross-entropy or MSE of the model's output, run.step(loss) alone gives
    lambda_max: the full Hessian's at step 0, and what a closure gives at every step."""
    loss_fn, targets = LOSSES[name]
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 3, (24,), generator=g) if targets == "classes" else torch.randn(24, 3, generator=g, dtype=torch.float64)
    m = tanh_net()
    theta = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of(m, x, y, loss_fn), theta)).max().item()
    own, warned = sharpness_run(str(tmp_path / "own.jsonl"), tanh_net(), x, y, loss_fn)
    given, _ = sharpness_run(str(tmp_path / "given.jsonl"), tanh_net(), x, y, loss_fn, closure=True)
    assert warned == []
    assert len(own) == len(given) == 3
    assert own[0] == pytest.approx(top, rel=1e-4)
    assert own == pytest.approx(given, rel=1e-9)


@pytest.mark.parametrize("how", ["view", "transpose", "squeezed_mse", "selected_mse"])
def test_watch_sharpness_without_a_closure_of_a_sequence_or_one_column_output(how, tmp_path):
    """Losses of the output rearranged: a sequence model's (batch, time, classes) output seen as
    (batch * time, classes) or transposed to (batch, classes, time) for cross-entropy, and a
    one-column regression output squeezed or selected for MSE. lambda_max used to be skipped
    ("not of log_softmax over the model's output", "not of the model's output"); it is the full
    Hessian's now."""
    g = torch.Generator().manual_seed(5)
    if how in ("view", "transpose"):
        x = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
        y = torch.randint(0, 3, (4, 6), generator=g)
        loss_fn = (lambda o, t: F.cross_entropy(o.reshape(-1, 3), t.reshape(-1))) if how == "view" else \
            (lambda o, t: F.cross_entropy(o.transpose(1, 2), t))
        make = tanh_net
    else:
        x = torch.randn(24, 5, generator=g, dtype=torch.float64)
        y = torch.randn(24, generator=g, dtype=torch.float64)
        loss_fn = (lambda o, t: F.mse_loss(o.squeeze(1), t)) if how == "squeezed_mse" else \
            (lambda o, t: F.mse_loss(o[:, 0], t))

        def make():
            torch.manual_seed(3)
            return nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 1)).double()
    m = make()
    theta = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of(m, x, y, loss_fn), theta)).max().item()
    own, warned = sharpness_run(str(tmp_path / "own.jsonl"), make(), x, y, loss_fn)
    assert warned == [] and len(own) == 3
    assert own[0] == pytest.approx(top, rel=1e-4)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_watch_sharpness_is_skipped_where_a_rearranged_output_hides_the_classes(tmp_path, reduction):
    """Cross-entropy over an output transposed so that its classes are not the last dimension: the
    step's gradient is not cross-entropy's over rows of the last dimension (its mean's row count,
    or, summed, each row's one target class, say so), so lambda_max is skipped with a warning, not
    computed wrong."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (3,), generator=g)
    loss_fn = lambda o, t: F.cross_entropy(o.t(), t, reduction=reduction)  # noqa: E731 (rows: the output's columns)
    own, warned = sharpness_run(str(tmp_path / "t.jsonl"), tanh_net(), x, y, loss_fn)
    assert own == [] and len(warned) == 1 and "a gradient that is not cross-entropy's" in warned[0]


@pytest.mark.parametrize("returns", ["tuple", "dict"])
def test_watch_sharpness_without_a_closure_of_a_model_that_returns_several_tensors(returns, tmp_path):
    """A model that returns (logits, hidden) or {"logits": ..., "hidden": ...} (HF-style outputs):
    lambda_max was skipped ("the model's output is a tuple, not one tensor"). The output the loss
    is cross-entropy of is found (the hidden one gets a gradient too, through the logits), and
    lambda_max is the full Hessian's; a loss of both outputs is skipped with a warning."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 12), nn.Linear(12, 3)

        def forward(self, x):
            h = torch.tanh(self.a(x))
            o = self.b(h)
            return (o, h) if returns == "tuple" else {"logits": o, "hidden": h}

    def make():
        torch.manual_seed(3)
        return Net().double()
    key = 0 if returns == "tuple" else "logits"
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=g)
    loss_fn = lambda out, t: F.cross_entropy(out[key], t)  # noqa: E731
    m = make()
    shapes = [p.shape for p in m.parameters()]

    def f(theta):
        w1, b1 = theta[:60].view(shapes[0]), theta[60:72]
        w2, b2 = theta[72:108].view(shapes[2]), theta[108:111]
        return F.cross_entropy(F.linear(torch.tanh(F.linear(x, w1, b1)), w2, b2), y)
    theta = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta)).max().item()
    own, warned = sharpness_run(str(tmp_path / "own.jsonl"), make(), x, y, loss_fn)
    assert warned == [] and len(own) == 3
    assert own[0] == pytest.approx(top, rel=1e-4)
    other = 1 if returns == "tuple" else "hidden"
    both = lambda out, t: F.cross_entropy(out[key], t) + out[other].pow(2).mean()  # noqa: E731
    own, warned = sharpness_run(str(tmp_path / "both.jsonl"), make(), x, y, both)
    assert own == [] and len(warned) == 1 and "AddBackward0" in warned[0]


def test_watch_sharpness_without_a_closure_passes_over_a_validation_forward_pass(tmp_path):
    """A forward pass with gradients enabled that no backward pass goes through (a validation pass
    without torch.no_grad()) is not the step's: its lambda_max is still the step's own."""
    loss_fn = F.cross_entropy
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 3, (24,), generator=g)
    plain, _ = sharpness_run(str(tmp_path / "plain.jsonl"), tanh_net(), x, y, loss_fn)
    validated, warned = sharpness_run(str(tmp_path / "val.jsonl"), tanh_net(), x, y, loss_fn, validate=True)
    assert warned == []
    assert len(validated) == 3 and validated == pytest.approx(plain, rel=1e-9)


def test_watch_sharpness_without_a_closure_keeps_the_steps_dropout_masks_and_buffers(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4)).double()
    x = torch.randn(32, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (32,))
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    mods = list(model)
    mean0 = model[1].running_mean.clone()
    state = torch.get_rng_state()

    def f(t):  # the step's loss with the step's dropout mask (the generator's state before its forward)
        saved = torch.get_rng_state()
        torch.set_rng_state(state)
        h = F.linear(x, t[:96].view(16, 6), t[96:112])
        h = F.batch_norm(h, None, None, t[112:128], t[128:144], training=True)
        h = mods[3](torch.relu(h))
        torch.set_rng_state(saved)
        return F.cross_entropy(F.linear(h, t[144:208].view(4, 16), t[208:212]), y)
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta)).max().item()
    torch.set_rng_state(state)
    own, warned = sharpness_run(str(tmp_path / "d.jsonl"), model, x, y, F.cross_entropy, steps=1)
    assert warned == [] and own[0] == pytest.approx(top, rel=1e-4)
    # BatchNorm saw one forward pass (the step's), not the closure's too
    assert int(model[1].num_batches_tracked) == 1
    assert not torch.equal(model[1].running_mean, mean0)


def test_watch_sharpness_and_updates_of_a_spectral_norm_layer(tmp_path):
    """torch.nn.utils.spectral_norm (GANs' discriminators): its forward pre-hook moves the singular
    vectors u, v one power iteration, then applies W = W_orig / (u . W_orig v). run.step used to
    raise a TypeError (the hook's compute_weight takes one more argument), and lambda_max without
    a closure was skipped (its forward pass, run again, moved u and v once more). Now lambda_max
    is the full Hessian's with the step's u and v, the model's u and v are those of one forward
    pass, and the update ratio is measured on W_orig / sigma at the step's u and v."""
    import copy
    torch.manual_seed(2)
    model = nn.Sequential(nn.utils.spectral_norm(nn.Linear(5, 12)), nn.Tanh(), nn.Linear(12, 3)).double()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 3, (24,), generator=g)
    ref = copy.deepcopy(model)
    ref(x)  # the step's power iteration, on a copy
    u, v = ref[0].weight_u.clone(), ref[0].weight_v.clone()
    w0 = model[0].weight_orig.detach().clone()

    def f(t):
        w = t[12:72].view(12, 5)
        h = torch.tanh(F.linear(x, w / torch.dot(u, torch.mv(w, v)), t[:12]))
        return F.cross_entropy(F.linear(h, t[72:108].view(3, 12), t[108:111]), y)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])  # bias, weight_orig, W2, b2
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta)).max().item()
    own, warned = sharpness_run(str(tmp_path / "sn.jsonl"), model, x, y, F.cross_entropy, steps=1)
    assert warned == [] and own[0] == pytest.approx(top, rel=1e-4)
    assert torch.equal(model[0].weight_u, u) and torch.equal(model[0].weight_v, v)
    step = next(json.loads(line) for line in open(tmp_path / "sn.jsonl") if json.loads(line)["type"] == "step")
    before = w0 / torch.dot(u, torch.mv(w0, v))
    w1 = model[0].weight_orig.detach()
    after = w1 / torch.dot(u, torch.mv(w1, v))
    assert step["layers"][0]["updateRatio"] == pytest.approx(float((after - before).norm() / before.norm()), rel=1e-9)


def test_watch_sharpness_without_a_closure_warns_once_where_the_loss_is_not_known(tmp_path):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64)
    y = torch.randn(24, 3, generator=g, dtype=torch.float64)
    own, warned = sharpness_run(str(tmp_path / "l1.jsonl"), tanh_net(), x, y, F.l1_loss)
    assert own == [] and len(warned) == 1
    assert "step 0" in warned[0] and "MeanBackward0" in warned[0] and "closure=" in warned[0]
    classes = torch.randint(0, 3, (24,), generator=g)
    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    own, warned = sharpness_run(str(tmp_path / "w.jsonl"), tanh_net(), x, classes,
                                lambda o, t: F.cross_entropy(o, t, weight=weights))
    assert own == [] and len(warned) == 1 and "class weights" in warned[0]
    # a model whose output is neither a tensor nor a tuple, list or dict of them
    import types

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tanh_net()

        def forward(self, x):
            return types.SimpleNamespace(logits=self.net(x))

    own, warned = sharpness_run(str(tmp_path / "p.jsonl"), Wrapped(), x, classes,
                                lambda o, t: F.cross_entropy(o.logits, t))
    assert own == [] and len(warned) == 1 and "output is a SimpleNamespace" in warned[0], warned
    # a closure serves every loss
    given, warned = sharpness_run(str(tmp_path / "c.jsonl"), tanh_net(), x, y, F.l1_loss, closure=True)
    assert len(given) == 3 and warned == []


def test_lambda_max_where_the_top_two_eigenvalues_traded_places():
    """The last evaluation's Ritz vector is now the second eigenvector: from it alone Lanczos never
    leaves it (an invariant subspace at once); the run's guard (a random part, at least 12
    products) finds the top one."""
    from layerwise_torch import _sharpness
    d = torch.cat([torch.tensor([1.0, 0.95]), torch.linspace(0, 0.5, 198)]).double()
    theta = torch.zeros(200, dtype=torch.float64, requires_grad=True)

    def closure():
        return 0.5 * (d * theta * theta).sum()
    start = torch.zeros(200, dtype=torch.float64)
    start[1] = 1
    lam, its, _ = _sharpness.lambda_max(closure, [theta], start, generator=torch.Generator().manual_seed(0),
                                        min_products=_sharpness.MIN_PRODUCTS, random_share=_sharpness.RANDOM_SHARE)
    assert lam == pytest.approx(1.0, rel=1e-3), (lam, its)
    assert its >= _sharpness.MIN_PRODUCTS


def test_watch_sharpness_leaves_the_users_random_state_alone(tmp_path):
    """lambda_max's random start and random part come from the run's own generator: the training's
    random numbers (dropout, shuffling) are those of a run without sharpness."""
    import layerwise_torch
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 2, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with layerwise_torch.watch(model, opt, str(tmp_path / "r.layerwise.jsonl"), sharpness_every=1,
                               histograms_every=0) as run:
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            state = torch.get_rng_state()
            run.step(loss, closure=lambda: F.cross_entropy(model(x), y))
            assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", ["cross_entropy", "mse"])
def test_watch_sharpness_without_a_closure_under_mixed_precision(name, tmp_path):
    """A loop under torch.autocast (bfloat16 on the CPU): the loss is float32 of a bfloat16 output
    (a cast between them in the graph). run.step(loss) alone gives lambda_max, the forward pass run
    again in the step's autocast region, as a closure that enters the same region gives it; before,
    no lambda_max and a warning that the loss was not cross-entropy's."""
    import warnings
    import layerwise_torch
    loss_fn, targets = LOSSES[name]
    g = torch.Generator().manual_seed(4)
    x = torch.randn(48, 5, generator=g)
    y = torch.randint(0, 3, (48,), generator=g) if targets == "classes" else torch.randn(48, 3, generator=g)

    def loss_of(model):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        return loss_fn(out.float() if name == "mse" else out, y)

    got = {}
    for how in ("own", "closure"):
        torch.manual_seed(3)
        m = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 3))
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        path = tmp_path / f"{how}.jsonl"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with layerwise_torch.watch(m, opt, path, sharpness_every=1, histograms_every=0) as run:
                for _ in range(2):
                    opt.zero_grad()
                    loss = loss_of(m)
                    loss.backward()
                    run.step(loss, closure=(lambda: loss_of(m)) if how == "closure" else None)
        assert [str(w.message) for w in caught if "lambda_max" in str(w.message)] == []
        got[how] = [e["lambdaMax"] for e in map(json.loads, open(path, encoding="utf-8")) if e["type"] == "sharpness"]
    assert len(got["own"]) == 2 and all(v > 0 for v in got["own"])
    # the same curvature: the quadratic model's is exact at the output, each in bfloat16 products
    assert got["own"] == pytest.approx(got["closure"], rel=1e-2)  # cross-entropy: 9e-4 and 2.3e-3


def test_the_threshold_is_that_of_every_parameter_group_or_none():
    """With one learning rate and momentum over all parameter groups, 2/lr or (2 + 2 beta)/lr; where
    the groups step with different ones, the raw Hessian's lambda_max has no threshold (the step is
    preconditioned, as Adam's), so none is given rather than the first group's."""
    from layerwise_torch import _sharpness
    m = tanh_net()
    first, last = list(m[0].parameters()), list(m[2].parameters())
    same = torch.optim.SGD([{"params": first}, {"params": last}], lr=0.1, momentum=0.5)
    assert _sharpness.threshold(same) == (pytest.approx(3 / 0.1), {"momentum": 0.5})
    lrs = torch.optim.SGD([{"params": first, "lr": 0.01}, {"params": last}], lr=0.1)
    assert _sharpness.threshold(lrs)[0] is None
    moms = torch.optim.SGD([{"params": first, "momentum": 0.9}, {"params": last}], lr=0.1)
    assert _sharpness.threshold(moms)[0] is None
    plain = torch.optim.SGD(m.parameters(), lr=0.2)
    assert _sharpness.threshold(plain) == (pytest.approx(10.0), {})
    decay = torch.optim.SGD([{"params": first, "weight_decay": 0.1}, {"params": last}], lr=0.2)
    assert _sharpness.threshold(decay)[0] is None
    if "maximize" in inspect.signature(torch.optim.SGD).parameters:  # gradient ascent: no threshold
        assert _sharpness.threshold(torch.optim.SGD(m.parameters(), lr=0.2, maximize=True)) == (None, {})


def _stable(lam, **sgd):
    """Whether torch.optim.SGD(**sgd) converges on the loss lam/2 * p^2 (float64, 4000 steps)."""
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], **sgd)
    for _ in range(4000):
        opt.zero_grad()
        (0.5 * lam * p * p).sum().backward()
        opt.step()
    return abs(p.item()) < 1.0


@pytest.mark.parametrize("sgd", [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.1, weight_decay=0.5),
                                 dict(lr=0.02, momentum=0.5, weight_decay=3.0),
                                 dict(lr=0.1, momentum=0.9, nesterov=True),
                                 dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=2.0),
                                 dict(lr=0.1, momentum=0.9, dampening=0.5),
                                 dict(lr=0.03, momentum=0.8, dampening=0.2, weight_decay=1.0)])
def test_the_threshold_is_where_torch_sgd_starts_to_diverge(sgd):
    """The threshold on the loss's lambda_max against PyTorch's own SGD on a quadratic with that
    curvature: it converges just below and diverges just above (weight decay adds to the curvature
    the step sees, so it lowers the threshold on the loss's own; Nesterov's look-ahead lowers it to
    (2 + 2 beta)/(1 + 2 beta)/lr; dampening scales the rate the buffer moves at)."""
    from layerwise_torch import _sharpness
    t, what = _sharpness.threshold(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], **sgd))
    names = {"momentum": "momentum", "weight_decay": "weightDecay", "nesterov": "nesterov", "dampening": "dampening"}
    assert what == {names[k]: v for k, v in sgd.items() if k != "lr"}
    assert _stable(t * 0.99, **sgd) and not _stable(t * 1.01, **sgd)


def test_sharpness_steps_leave_nothing_behind(tmp_path):
    """Each sharpness step's captured forward call hooked the model's output with a closure over
    the call, which holds the output: a cycle through autograd's C++ graph that Python's gc cannot
    collect. Every sharpness step's output, graph and hooked calls stayed alive (3.4 MB over 140
    evaluations of a small MLP). After many such steps, none of them is left."""
    import gc
    import layerwise_torch
    from layerwise_torch import _sharpness, _taps
    torch.manual_seed(0)
    model = tanh_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(24, 5, dtype=torch.float64), torch.randint(0, 3, (24,))

    def alive(cls):
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is cls)
    with layerwise_torch.watch(model, opt, tmp_path / "s.jsonl", sharpness_every=1, histograms_every=0) as run:
        for k in range(12):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)
            if k == 1:
                calls, forward_calls = alive(_taps.Call), alive(_sharpness.ForwardCall)
        del loss
        assert alive(_sharpness.ForwardCall) <= forward_calls and alive(_taps.Call) <= calls


def test_watch_sharpness_of_a_model_called_with_keyword_arguments(tmp_path):
    """model(x=x): before torch 2.0 a forward pre-hook sees no keyword arguments, and run.step died
    with the model's TypeError when λmax ran the forward pass again. Now λmax is computed where
    the hook sees them (torch >= 2.0); else a warning says why there is none, and training goes on."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 12), nn.Linear(12, 3)

        def forward(self, x, scale=1.0):
            return self.b(torch.tanh(self.a(x * scale)))
    torch.manual_seed(0)
    x, y = torch.randn(24, 5, dtype=torch.float64), torch.randint(0, 3, (24,))
    sharp, said = sharpness_run(str(tmp_path / "kw.jsonl"), Net().double(), x, y, F.cross_entropy,
                                call=lambda m, x: m(x=x, scale=2.0))
    if "with_kwargs" in inspect.signature(nn.Module.register_forward_pre_hook).parameters:
        assert len(sharp) == 3 and said == []
    else:
        assert sharp == [] and len(said) == 1
        assert "does not see keyword arguments (call the model with positional ones)" in said[0]


def test_watch_sharpness_that_fails_inside_never_stops_training(tmp_path, monkeypatch):
    """λmax is an optional diagnostic: an error inside it (here forced) is a warning, once, and
    training goes on with every step written; a closure the user gave raises its own error."""
    import layerwise_torch
    from layerwise_torch import _sharpness

    def broken(*args, **kwargs):
        raise RuntimeError("forced")
    monkeypatch.setattr(_sharpness, "lambda_max", broken)
    torch.manual_seed(0)
    model = tanh_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(24, 5, dtype=torch.float64), torch.randint(0, 3, (24,))
    sharp, said = sharpness_run(str(tmp_path / "broken.jsonl"), model, x, y, F.cross_entropy)  # (every step written)
    assert sharp == [] and len(said) == 1 and "computing it failed (RuntimeError: forced)" in said[0]
    with layerwise_torch.watch(model, opt, tmp_path / "own.jsonl", sharpness_every=1) as run:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with pytest.raises(RuntimeError, match="forced"):
            run.step(loss, closure=lambda: F.cross_entropy(model(x), y))
