"""Mixed precision: ``watch(..., scaler=GradScaler)`` with ``scaler.scale(loss).backward()``.

torch 1.13's GradScaler runs on CUDA only (on a CPU it disables itself), so its contract is
played here by FakeScaler: scale() multiplies, unscale_() divides the gradients once a step (a
second call raises, as GradScaler's does) and notes an overflow, step() skips the update on one,
update() lowers the scale after one. A power-of-two scale is exact in floating point, so a scaled
run's events equal the unscaled run's.
"""
import warnings

import pytest
import torch
from torch.nn import functional as F

import layerwise_torch
from fixtures import compare, read_events
from test_watch import batches, net


class FakeScaler:
    def __init__(self, scale=1024.0, backoff=None):
        self.s, self.backoff = scale, backoff
        self.stage, self.found, self.skipped = "ready", False, 0

    def is_enabled(self):
        return True

    def get_scale(self):
        return self.s

    def scale(self, t):
        return t * self.s

    def unscale_(self, opt):
        if self.stage == "unscaled":
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        with torch.no_grad():
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.found |= not bool(torch.isfinite(p.grad).all())
                        p.grad.mul_(1.0 / self.s)
        self.stage = "unscaled"

    def step(self, opt):
        if self.stage != "unscaled":
            self.unscale_(opt)
        if self.found:
            self.skipped += 1
        else:
            opt.step()
        self.stage = "stepped"

    def update(self):
        if self.found and self.backoff is not None:
            self.s = self.backoff
        self.stage, self.found = "ready", False


def train(path, scaler=None, every=1, unscale_first=False, steps=6):
    torch.manual_seed(3)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run = layerwise_torch.watch(model, opt, path, every=every, clip={"mode": "norm", "max": 0.5}, scaler=scaler)
    for x, y in batches(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        (loss if scaler is None else scaler.scale(loss)).backward()
        if unscale_first:
            scaler.unscale_(opt)  # the loop's own unscale, as for its own clipping
        run.step(loss)
    run.close()
    return model, [e for e in read_events(path) if e["type"] in ("step", "histogram")]


@pytest.mark.parametrize("every", [1, 2])
def test_a_scaled_run_writes_the_unscaled_runs_events(tmp_path, every):
    plain_model, plain = train(tmp_path / "plain.jsonl", every=every)
    scaler = FakeScaler(1024.0)
    amp_model, amp = train(tmp_path / "amp.jsonl", scaler=scaler, every=every)
    assert scaler.skipped == 0 and len(amp) == len(plain) > 0
    assert compare(amp, plain, 1e-6, 1e-12)[:10] == []
    for a, b in zip(amp_model.parameters(), plain_model.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)  # the same updates were applied


def test_the_loops_own_unscale_is_not_repeated(tmp_path):
    _, plain = train(tmp_path / "plain.jsonl")
    _, amp = train(tmp_path / "amp.jsonl", scaler=FakeScaler(256.0), unscale_first=True)
    assert compare(amp, plain, 1e-6, 1e-12)[:10] == []


def test_an_overflow_is_a_skipped_step_not_a_failure(tmp_path):
    # 1e39 is inf in float32: the first backward pass overflows, then the scale drops to 1024
    scaler = FakeScaler(1e39, backoff=1024.0)
    path = tmp_path / "overflow.jsonl"
    model, _ = train(path, scaler=scaler, steps=4)
    assert scaler.skipped == 1
    events = read_events(path)
    assert not [e for e in events if e["type"] == "warning" and e["code"] == "non_finite"]
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [0, 1, 2, 3] and events[-1]["reason"] == "completed"
    assert all(l["updateRatio"] == 0 for l in steps[0]["layers"])  # skipped: the weights unchanged
    assert steps[0]["gradNorm"] is None  # the overflowed gradients, written as null
    assert all(l["updateRatio"] > 0 for s in steps[1:] for l in s["layers"])


def test_torch_gradscaler_disabled_on_a_cpu_changes_nothing(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available. Disabling."
        scaler = torch.cuda.amp.GradScaler()
    _, plain = train(tmp_path / "plain.jsonl")
    _, amp = train(tmp_path / "amp.jsonl", scaler=scaler)
    assert compare(amp, plain, 0, 0)[:10] == []


def test_a_scaler_must_be_one(tmp_path):
    model = net()
    with pytest.raises(TypeError, match="GradScaler"):
        layerwise_torch.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), tmp_path / "x.jsonl",
                              scaler=object())


def test_lambda_max_of_a_scaled_run_equals_the_unscaled_runs(tmp_path):
    """sharpness_every=K without a closure under a GradScaler: the output's gradient that the step's
    backward pass gave is the scaled loss's; lambda_max is the unscaled loss's, as without it."""
    got = {}
    for name, scaler in (("plain", None), ("amp", FakeScaler(1024.0))):
        torch.manual_seed(3)
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"{name}.jsonl"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with layerwise_torch.watch(model, opt, path, sharpness_every=2, scaler=scaler) as run:
                for x, y in batches(4):
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    (loss if scaler is None else scaler.scale(loss)).backward()
                    run.step(loss)
        assert [str(w.message) for w in caught if "lambda_max" in str(w.message)] == []
        got[name] = [e["lambdaMax"] for e in read_events(path) if e["type"] == "sharpness"]
    assert len(got["plain"]) == 2
    assert got["amp"] == pytest.approx(got["plain"], rel=1e-6)


def test_on_a_device_whose_reads_wait_a_scaled_run_still_stops_at_the_nan_step(tmp_path, monkeypatch):
    """Where reads wait for the device (CUDA) an unlogged step reads nothing, except under a
    GradScaler, whose step reads the device every step anyway: there a NaN loss still stops the
    run at its own step, before its update."""
    from layerwise_torch import _device
    monkeypatch.setattr(_device, "reads_wait", lambda t: True)
    torch.manual_seed(3)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = FakeScaler(256.0)
    path = tmp_path / "nan.jsonl"
    run = layerwise_torch.watch(model, opt, path, every=5, clip={"mode": "norm", "max": 0.5}, scaler=scaler)
    data = batches(6)
    data[3][0][0, 0] = float("nan")
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        for k, (x, y) in enumerate(data):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            run.step(loss)
    assert err.value.step == 3 and k == 3
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())  # the NaN step did not update
