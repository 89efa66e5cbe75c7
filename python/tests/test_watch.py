"""watch(): every, the manual clip calls, non-finite values (stop and log), activations."""
import copy
import json
import math
import os
import subprocess
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import layerwise_torch
from layerwise_torch import _layers
from fixtures import compare, read_events


def net(act=None):
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(4, 8), act or nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.3), nn.Linear(8, 2))


def batches(n=7, scale=1.0):
    g = torch.Generator().manual_seed(2)
    return [(torch.randn(16, 4, generator=g) * scale, torch.randint(0, 2, (16,), generator=g)) for _ in range(n)]


def loop(model, run, opt, data, before_step=None):
    for x, y in data:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if before_step:
            before_step(run)
        run.step(loss)


def test_every_k_writes_steps_divisible_by_k_and_arms_no_hook_between(tmp_path):
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "a.layerwise.jsonl"
    armed = []
    with layerwise_torch.watch(model, opt, path, every=3) as run:
        loop(model, run, opt, batches(8), before_step=lambda r: armed.append(len(r.taps.handles)))
    steps = [e["step"] for e in read_events(path) if e["type"] == "step"]
    assert steps == [0, 3, 6]
    # hooks are registered for the forward of logged steps only
    assert [a > 0 for a in armed] == [k % 3 == 0 for k in range(8)]
    assert not any(len(m._forward_hooks) for m in model)
    end = read_events(path)[-1]
    assert end["type"] == "end" and end["steps"] == 8 and end["reason"] == "completed"


def test_every_k_statistics_equal_those_of_every_step(tmp_path):
    logs = []
    for every in (1, 2):
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        path = tmp_path / f"e{every}.layerwise.jsonl"
        with layerwise_torch.watch(model, opt, path, every=every, clip={"mode": "value", "max": 0.05}) as run:
            loop(model, run, opt, batches(6))
        logs.append([e for e in read_events(path) if e["type"] == "step"])
    assert compare(logs[1], [e for e in logs[0] if e["step"] % 2 == 0], 1e-12, 0) == []


@pytest.mark.parametrize("mode,limit", [("norm", 0.05), ("value", 0.02)])
def test_manual_clip_calls_equal_the_configured_clip(tmp_path, mode, limit):
    logs, returns = [], []
    for manual in (False, True):
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"{mode}{manual}.layerwise.jsonl"
        if manual:
            def clip(run):
                r = run.clip_grad_norm_(limit) if mode == "norm" else run.clip_grad_value_(limit)
                returns.append(r)
            with layerwise_torch.watch(model, opt, path) as run:
                loop(model, run, opt, batches(5), before_step=clip)
        else:
            with layerwise_torch.watch(model, opt, path, clip={"mode": mode, "max": limit}) as run:
                loop(model, run, opt, batches(5))
        logs.append([e for e in read_events(path) if e["type"] == "step"])
    assert all(e["clipped"] for e in logs[0]), "the test must clip"
    assert compare(logs[1], logs[0], 1e-6, 1e-12) == []  # torch returns a float32 norm
    for e in logs[1]:
        assert e["gradNormClipped"] < e["gradNorm"]
        if mode == "norm":
            assert e["gradNormClipped"] == pytest.approx(limit, rel=1e-5)
    if mode == "norm":  # what torch returns: the norm before clipping
        assert [float(r) for r in returns] == pytest.approx([e["gradNorm"] for e in logs[1]], rel=1e-6)
    else:
        assert returns == [None] * 5


def blowing_up():
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=1e3)
    return model, opt, batches(12, scale=30.0)


def test_non_finite_stops_at_the_layer_and_step(tmp_path):
    model, opt, data = blowing_up()
    path = tmp_path / "nan.layerwise.jsonl"
    run = layerwise_torch.watch(model, opt, path)
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        loop(model, run, opt, data)
    events = read_events(path)
    w = [e for e in events if e["type"] == "warning"]
    assert len(w) == 1 and w[0]["code"] == "non_finite" and w[0]["severity"] == "error"
    k = w[0]["step"]
    assert (err.value.step, err.value.layer) == (k, w[0]["layer"])
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(k))
    assert events[-1]["type"] == "end" and events[-1]["reason"] == "non_finite" and events[-1]["steps"] == k
    # the same net by hand: the first non-finite pre-activation in forward order at step k
    model2, opt2, data2 = blowing_up()
    for x, y in data2[:k]:
        opt2.zero_grad()
        F.cross_entropy(model2(x), y).backward()
        opt2.step()
    h, first = data2[k][0], None
    for i, m in enumerate(model2):
        h = m(h)
        if first is None and not torch.isfinite(h).all():
            first = i // 2
    assert w[0]["layer"] == (first if first is not None else 2)
    # the exception and the warning name the layer's module as the user reaches it (model[4])
    assert f"layer {w[0]['layer']} (model[{2 * w[0]['layer']}])" in str(err.value)
    assert f"layer {w[0]['layer']} (model[{2 * w[0]['layer']}])" in w[0]["message"]
    run.close()  # idempotent after the end
    assert read_events(path)[-1] == events[-1]


def test_a_nan_in_the_batch_is_named_as_the_data_not_the_learning_rate(tmp_path):
    """A NaN in the inputs (a bad sample, a missing value) is where the non-finite values first
    are: the warning says the step's batch, and its fix is about the data, not the learning rate."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = batches(5)
    data[3][0][2, 1] = float("nan")
    path = tmp_path / "data.layerwise.jsonl"
    run = layerwise_torch.watch(model, opt, path)
    with pytest.raises(layerwise_torch.NonFiniteError, match="inputs") as err:
        loop(model, run, opt, data)
    w = [e for e in read_events(path) if e["type"] == "warning"]
    assert (err.value.step, err.value.layer) == (3, 0)
    assert len(w) == 1 and (w[0]["step"], w[0]["layer"]) == (3, 0)
    assert "inputs" in w[0]["message"] and "batch" in w[0]["message"]
    assert "torch.isfinite" in w[0]["fix"] and "learning rate" not in w[0]["fix"].lower()


def test_a_nan_in_a_batch_not_logged_has_the_data_in_its_fix(tmp_path):
    """On a step that is not logged only the loss and the parameters are at hand: with every weight
    finite, the batch may be the cause, and the fix says to check it before the learning rate."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = batches(5)
    data[3][0][2, 1] = float("nan")
    path = tmp_path / "unlogged.layerwise.jsonl"
    run = layerwise_torch.watch(model, opt, path, every=100)
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        loop(model, run, opt, data)
    w = [e for e in read_events(path) if e["type"] == "warning"]
    assert err.value.step == 3 and len(w) == 1 and w[0]["step"] == 3
    assert w[0]["fix"].startswith("If this batch holds NaN or Inf") and "learning rate" in w[0]["fix"]


def test_a_nan_target_is_named_as_the_loss_with_a_fix_about_the_targets(tmp_path):
    """A NaN in the targets of an MSE loss: every layer's outputs are finite, the loss is not; the
    warning names the loss, and its fix says to check the targets first."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)) for _ in range(4)]
    data[2][1][5, 0] = float("nan")
    path = tmp_path / "target.layerwise.jsonl"
    with pytest.raises(layerwise_torch.NonFiniteError, match="loss"):
        with layerwise_torch.watch(model, opt, path) as run:
            for x, y in data:
                opt.zero_grad()
                loss = F.mse_loss(model(x), y)
                loss.backward()
                run.step(loss)
    w = [e for e in read_events(path) if e["type"] == "warning"]
    assert len(w) == 1 and (w[0]["step"], w[0]["layer"]) == (2, 1)
    assert w[0]["fix"].startswith("Check this batch's targets") and "torch.isfinite(y)" in w[0]["fix"]


def test_non_finite_log_goes_on_with_nulls(tmp_path):
    model, opt, data = blowing_up()
    path = tmp_path / "log.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path, on_non_finite="log") as run:
        loop(model, run, opt, data)
    events = read_events(path)
    assert len([e for e in events if e["type"] == "warning"]) == 1
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 12 and events[-1]["reason"] == "completed" and events[-1]["steps"] == 12
    assert any(e["loss"] is None for e in steps)  # NaN and Inf are written as null
    assert all(isinstance(e["loss"], float) or e["loss"] is None for e in steps)


@pytest.mark.parametrize("device", ["cpu", "waiting"])
@pytest.mark.parametrize("nan_at", [None, 4])
def test_unlogged_steps_short_path_writes_what_the_full_path_writes(tmp_path, nan_at, device, monkeypatch):
    """Unlogged steps with nothing to clip take step()'s short path (the loss read, or on a device
    whose reads wait the loss kept for the next logged step; the update): the log, the weights and
    the error at a NaN (step 4, between logged steps 3 and 6) are those of the full path, taken
    when the short one is turned off."""
    if device == "waiting":
        from layerwise_torch import _device
        monkeypatch.setattr(_device, "reads_wait", lambda t: True)
    logs, weights, errors, paths_taken = [], [], [], []
    for lean in (True, False):
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        data = batches(9)
        if nan_at is not None:
            data[nan_at][0][0, 0] = math.nan
        path = tmp_path / f"lean{lean}.layerwise.jsonl"
        run = layerwise_torch.watch(model, opt, path, every=3)
        run.lean = lean
        full = run._plain_step
        taken = []
        run._plain_step = lambda k, loss: (taken.append(k), full(k, loss))
        try:
            loop(model, run, opt, data)
            run.close()
        except layerwise_torch.NonFiniteError as e:
            errors.append((e.step, e.layer, str(e)))
        events = read_events(path)
        for e in events:
            e.pop("elapsedMs", None)
        logs.append(events)
        weights.append([p.detach().clone() for p in model.parameters()])
        paths_taken.append(taken)
    assert logs[0] == logs[1]
    assert all(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True) for a, b in zip(*weights))
    assert errors[0:1] == errors[1:2]
    # the short path served steps 1, 4 and 7, whose next steps are not logged either (on the CPU
    # but step 4's NaN, which the full path then names; where reads wait it is read at step 6)
    if device == "cpu":
        assert paths_taken[1] == ([1, 2, 4] if nan_at else [1, 2, 4, 5, 7, 8])
        assert paths_taken[0] == ([2, 4] if nan_at else [2, 5, 8])
    else:
        assert paths_taken[1] == ([1, 2, 4, 5] if nan_at else [1, 2, 4, 5, 7, 8])
        assert paths_taken[0] == ([2, 5] if nan_at else [2, 5, 8])
    if nan_at is not None:
        assert errors[0][0] == nan_at and logs[0][-1]["reason"] == "non_finite"
        assert [e["step"] for e in logs[0] if e["type"] == "step"] == [0, 3]


def test_non_finite_on_an_unlogged_step(tmp_path):
    model, opt, data = blowing_up()
    path = tmp_path / "u.layerwise.jsonl"
    run = layerwise_torch.watch(model, opt, path, every=1000)
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        loop(model, run, opt, data)
    events = read_events(path)
    assert events[0]["type"] == "start"
    w = [e for e in events if e["type"] == "warning"][0]
    assert w["step"] == err.value.step > 0 and events[-1]["reason"] == "non_finite"


class _NoHostReads:
    """Fails every read of a tensor's value on the host (what waits for a CUDA device to finish)."""
    NAMES = ("item", "tolist", "__float__", "__int__", "__bool__")

    def __init__(self, monkeypatch):
        self.mp = monkeypatch
        self.armed = False
        for name in self.NAMES:
            inner = getattr(torch.Tensor, name)

            def guard(t, *a, _inner=inner, _name=name, **k):
                if self.armed:
                    raise AssertionError(f"an unlogged step read a tensor on the host ({_name})")
                return _inner(t, *a, **k)
            monkeypatch.setattr(torch.Tensor, name, guard)


def nan_run(tmp_path, name, n, at, every, **kw):
    """A net, its SGD, its log's path, n batches with a NaN in batch `at`, and a watch(every=) run."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / f"{name}.layerwise.jsonl"
    data = batches(n)
    data[at][0][0, 0] = math.nan
    return model, opt, path, data, layerwise_torch.watch(model, opt, path, every=every, **kw)


@pytest.fixture
def waiting_device(monkeypatch):
    """As on a CUDA device: reading a value waits for the device, so unlogged steps read none (the
    package's device test forced true on the CPU); every host read while `armed` fails."""
    from layerwise_torch import _device
    monkeypatch.setattr(_device, "reads_wait", lambda t: True)
    return _NoHostReads(monkeypatch)


def test_on_a_waiting_device_an_unlogged_step_reads_nothing_and_a_nan_is_named_at_its_step(tmp_path, waiting_device):
    """An unlogged step read the loss (and the clip norm) on the host to stop at a NaN at once: on a
    GPU a read every step keeps the host from queueing the next step while the device runs this
    one. There the checks stay on the device; the next logged step reads them with its transfer and
    names the step where the NaN appeared."""
    # step 7's batch, not logged at every=5
    model, opt, path, data, run = nan_run(tmp_path, "d", 12, 7, 5, clip={"mode": "norm", "max": 0.2})
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        for k, (x, y) in enumerate(data):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            waiting_device.armed = k % 5 != 0
            try:
                run.step(loss)
            finally:
                waiting_device.armed = False
            assert k < 10, "the logged step after the NaN stops the run"
    assert err.value.step == 7 and k == 10
    events = read_events(path)
    assert [e["step"] for e in events if e["type"] == "step"] == [0, 5]
    w = [e for e in events if e["type"] == "warning" and e["code"] == "non_finite"]
    assert len(w) == 1 and w[0]["step"] == 7 and "not logged, read at a later step" in w[0]["message"]
    assert events[-1]["type"] == "end" and events[-1]["reason"] == "non_finite"


def test_on_a_waiting_device_clipped_steps_and_events_are_those_read_at_once(tmp_path, monkeypatch):
    """The steps clipping changed, counted on the device between logged steps, are the count read
    at every step; the step events are the same; a NaN found only as the run closes is written."""
    def run_once(waits, nan_at=None):
        from layerwise_torch import _device
        monkeypatch.setattr(_device, "reads_wait", lambda t: waits)
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"c-{waits}-{nan_at}.layerwise.jsonl"
        data = batches(12)
        if nan_at is not None:
            data[nan_at][0][0, 0] = math.nan
        run = layerwise_torch.watch(model, opt, path, every=4, clip={"mode": "norm", "max": 0.2},
                                    on_non_finite="log")
        loop(model, run, opt, data[:11] if nan_at is None else data[:nan_at + 1])
        run.close()
        return read_events(path)
    at_once, deferred = run_once(False), run_once(True)
    assert 0 < at_once[-1]["clippedSteps"] < 11
    assert deferred[-1]["clippedSteps"] == at_once[-1]["clippedSteps"]
    strip = lambda es: [{k: v for k, v in e.items() if k != "elapsedMs"} for e in es]
    assert strip(deferred) == strip(at_once)
    # a NaN at step 10, after the last logged step (8): read as the run closes
    late = run_once(True, nan_at=10)
    w = [e for e in late if e["type"] == "warning" and e["code"] == "non_finite"]
    assert len(w) == 1 and w[0]["step"] == 10 and w[0]["message"].endswith("found as the run ended.")
    assert "read as the run ended" in w[0]["message"]
    assert late[-1]["reason"] == "completed"  # (on_non_finite="log": it went on, as on the CPU)


def test_on_a_waiting_device_a_loss_given_as_a_number_is_checked_too(tmp_path, waiting_device):
    """run.step(loss.item()) with a clip by norm: the number is the host's, the norm the device's;
    a NaN number on an unlogged step is named at its step when the next logged step reads."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "f.layerwise.jsonl"
    run = layerwise_torch.watch(model, opt, path, every=3, clip={"mode": "norm", "max": 1.0}, on_non_finite="log")
    for k, (x, y) in enumerate(batches(6)):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        given = math.nan if k == 4 else float(loss)
        waiting_device.armed = k % 3 != 0
        try:
            run.step(given)
        finally:
            waiting_device.armed = False
    run.close()
    events = read_events(path)
    w = [e for e in events if e["type"] == "warning" and e["code"] == "non_finite"]
    assert [e["step"] for e in w] == [4]
    assert events[-1]["reason"] == "completed"


def test_on_a_waiting_device_a_long_every_reads_the_kept_checks_in_bounded_batches(tmp_path, waiting_device,
                                                                                  monkeypatch):
    """At every=100 the checks of up to DEFER_MAX unlogged steps are kept (references, no device
    work), then read in one transfer: memory stays bounded, and a NaN is named at its step."""
    from layerwise_torch import _run
    monkeypatch.setattr(_run, "DEFER_MAX", 4)
    model, opt, path, data, run = nan_run(tmp_path, "long", 12, 6, 100)
    with pytest.raises(layerwise_torch.NonFiniteError) as err:
        for k, (x, y) in enumerate(data):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            waiting_device.armed = k not in (0, 4, 8)  # step 0 logged; steps 1-4 and 5-8 read at 4 and 8
            try:
                run.step(loss)
            finally:
                waiting_device.armed = False
            assert len(run.deferred) == k % 4
    assert err.value.step == 6 and k == 8
    assert read_events(path)[-1]["reason"] == "non_finite"


def test_on_a_waiting_device_a_nan_read_at_close_ends_the_run_as_non_finite_under_stop(tmp_path, waiting_device):
    """on_non_finite="stop" (the default), a NaN at an unlogged step after the last logged one: the
    run would have stopped there, so close() writes the warning and ends `non_finite` (no error
    from close)."""
    model, opt, path, data, run = nan_run(tmp_path, "close", 4, 2, 10)
    loop(model, run, opt, data)
    run.close()
    events = read_events(path)
    w = [e for e in events if e["type"] == "warning" and e["code"] == "non_finite"]
    assert [e["step"] for e in w] == [2] and events[-1]["reason"] == "non_finite"


def watched(model, tmp_path, steps):
    """The events of `steps` SGD steps of the model under watch."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "w.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path) as run:
        loop(model, run, opt, batches(steps))
    return read_events(path)


def test_activations_modules_inplace_and_functional(tmp_path):
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3, self.l4 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            h = F.relu(self.l1(x), inplace=True)
            h = torch.sigmoid(self.l2(h))
            h = F.elu(self.l3(h), 0.5)
            return self.l4(h)

    torch.manual_seed(1)
    events = watched(Functional(), tmp_path, 3)
    layers = events[0]["layers"]
    assert [l["activation"] for l in layers] == ["relu", "sigmoid", "elu", "linear"]
    assert layers[2]["alpha"] == pytest.approx(0.5)
    s = events[1]
    # a relu layer's activations from the next input: their mean is that of relu(z) >= 0, dead counted
    assert s["layers"][0]["act"]["mean"] > 0 and s["layers"][0]["dead"] is not None
    assert 0 <= s["layers"][1]["saturated"] <= 1 and s["layers"][2]["dead"] is None
    # the same numbers by hand for step 0
    torch.manual_seed(1)
    ref = Functional()
    x, _ = batches(3)[0]
    z1 = ref.l1(x)
    a1 = F.relu(z1)
    assert s["layers"][0]["preact"]["var"] == pytest.approx(z1.double().var(unbiased=False).item(), rel=1e-6)
    assert s["layers"][0]["act"]["var"] == pytest.approx(a1.double().var(unbiased=False).item(), rel=1e-6)
    assert s["layers"][0]["dead"] == int((z1 <= 0).all(0).sum())
    assert s["inputVar"] == pytest.approx((x.double() ** 2).mean().item(), rel=1e-6)


def test_functional_slopes_are_the_ones_written(tmp_path):
    class Slopes(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3, self.l4 = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 2)

        def forward(self, x):
            h = F.leaky_relu(self.l1(x), 0.2)
            h = F.leaky_relu(self.l2(h), 0.0123457)
            h = F.elu(self.l3(h), 0.7)
            return self.l4(h)

    torch.manual_seed(2)
    layers = watched(Slopes(), tmp_path, 2)[0]["layers"]
    assert [l["activation"] for l in layers[:3]] == ["leaky_relu", "leaky_relu", "elu"]
    # estimated from float32 values (0.2000000031683869), written as the model has them
    assert [l["alpha"] for l in layers[:3]] == [0.2, 0.0123457, 0.7]


def test_gelus_tanh_approximation_is_gelu_as_a_module_and_functional(tmp_path):
    """nn.GELU(approximate="tanh") and F.gelu(x, approximate="tanh") (GPT-style blocks): gelu, with
    the statistics of what the model computed (before, the functional one was an unknown activation,
    written as linear with a warning)."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 2)
            self.act = nn.GELU(approximate="tanh")

        def forward(self, x):
            h = self.act(self.l1(x))
            h = F.gelu(self.l2(h), approximate="tanh")
            return self.l3(h)

    torch.manual_seed(6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "none that Layerwise knows")
        events = watched(Block(), tmp_path, 2)
    assert [l["activation"] for l in events[0]["layers"]] == ["gelu", "gelu", "linear"]
    torch.manual_seed(6)
    ref = Block()
    x, _ = batches(2)[0]
    a1 = F.gelu(ref.l1(x), approximate="tanh")
    a2 = F.gelu(ref.l2(a1), approximate="tanh")
    for got, a in zip(events[1]["layers"], (a1, a2)):
        assert got["act"]["var"] == pytest.approx(a.double().var(unbiased=False).item(), rel=1e-6)


class Residual(nn.Module):
    """An input layer, two residual blocks h + f(Linear(h)) and a head; the blocks' activations are
    modules or (`functional`) their functions inside forward."""

    def __init__(self, functional, act=nn.ReLU, f=F.relu, act2=nn.Tanh, f2=torch.tanh):
        super().__init__()
        self.inp, self.b1, self.b2, self.out = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 2)
        self.functional, self.f, self.f2 = functional, f, f2
        self.relu, self.act, self.act2 = nn.ReLU(), act(), act2()

    def forward(self, x):
        h = F.relu(self.inp(x)) if self.functional else self.relu(self.inp(x))
        h = h + (self.f(self.b1(h)) if self.functional else self.act(self.b1(h)))
        h = h + (self.f2(self.b2(h)) if self.functional else self.act2(self.b2(h)))
        return self.out(h)


@pytest.mark.parametrize("acts", [(nn.ReLU, F.relu, nn.Tanh, torch.tanh),
                                  (nn.GELU, F.gelu, nn.LeakyReLU, lambda z: F.leaky_relu(z, 0.1)),
                                  (nn.ELU, lambda z: F.elu(z, inplace=True), nn.LeakyReLU,
                                   lambda z: F.leaky_relu(z, 0.1, inplace=True))],
                          ids=["relu,tanh", "gelu,leaky", "in place: elu,leaky"])
def test_a_residual_blocks_functional_activation_is_found_under_the_sum(acts, tmp_path):
    """h = h + F.relu(self.fc(h)): the next Linear's input is the sum, not f(Z); f is found as
    input-plus-f(Z), and the layer's statistics are f(Z)'s, dead and saturated units counted, as
    with the activation module (every field equal). Before, such layers were written linear with
    the sum as their statistics and a warning; and an activation applied in place
    (F.leaky_relu(z, 0.1, inplace=True)) was applied to Z a second time for f(Z)."""
    act, f, act2, f2 = acts
    # (in place, PyTorch's float32 backward formulas differ in the last bits: the runs part by ~1e-8;
    # f applied twice moved the leaky layer's act mean by ~1e-2)
    rtol, atol = (1e-5, 1e-7) if act is nn.ELU else (1e-9, 1e-12)
    if act2 is nn.LeakyReLU:
        act2 = lambda: nn.LeakyReLU(0.1)  # noqa: E731
    logs = []
    for functional in (False, True):
        torch.manual_seed(8)
        model = Residual(functional, act, f, act2, f2)
        with torch.no_grad():
            model.b1.bias.fill_(-0.4)  # dead units in the first block
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (no "none that Layerwise knows")
            logs.append(watched(model, tmp_path / str(functional), 3))
    modules, funcs = logs
    names = [l["activation"] for l in funcs[0]["layers"]]
    assert names == [l["activation"] for l in modules[0]["layers"]]
    assert names[3] == "linear" and names[1] != "linear" and names[2] != "linear"
    assert compare([e for e in funcs if e["type"] != "end"], [e for e in modules if e["type"] != "end"], rtol, atol) == []
    if act is nn.ReLU:
        assert funcs[1]["layers"][1]["dead"] > 0, "the test must have dead units"
        assert funcs[1]["layers"][2]["saturated"] is not None


def test_a_residual_blocks_unknown_activation_is_named_as_such(tmp_path):
    """h + F.softplus(fc(h)): the next input minus fc's input is softplus(Z), a function of Z but
    none Layerwise knows: the layer gets the unknown-activation warning, not the one for a sum."""
    torch.manual_seed(8)
    model = Residual(True, f=F.softplus, f2=torch.tanh)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        events = watched(model, tmp_path, 2)
    assert [l["activation"] for l in events[0]["layers"]] == ["relu", "linear", "tanh", "linear"]
    assert [str(w.message).split(" none")[0] for w in said] == ["layerwise_torch: layer 1's activation is"]


class PreNorm(nn.Module):
    """An input layer and three pre-norm residual blocks h + f(Linear(norm(h))), then a head; the
    activations are modules, functions inside forward, or (`inplace`) functions applied in place."""

    ACTS = ((nn.ReLU, lambda z, inplace: F.relu(z, inplace=inplace)),
            (lambda: nn.LeakyReLU(0.2), lambda z, inplace: F.leaky_relu(z, 0.2, inplace=inplace)),
            (nn.GELU, lambda z, inplace: F.gelu(z)),
            (nn.SELU, lambda z, inplace: F.selu(z, inplace=inplace)))

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.fcs = nn.ModuleList([nn.Linear(4, 16)] + [nn.Linear(16, 16) for _ in range(3)])
        self.norms = nn.ModuleList([nn.LayerNorm(16) for _ in range(3)])
        self.mods = nn.ModuleList([m() for m, _ in self.ACTS])
        self.out = nn.Linear(16, 2)

    def f(self, i, z):
        if self.how == "modules":
            return self.mods[i](z)
        return self.ACTS[i][1](z, self.how == "inplace")

    def forward(self, x):
        h = self.f(0, self.fcs[0](x))
        for i in range(1, 4):
            h = h + self.f(i, self.fcs[i](self.norms[i - 1](h)))
        return self.out(h)


def test_an_activation_applied_functionally_before_a_sum_is_read_off_the_graph(tmp_path):
    """h = h + F.gelu(fc(norm(h))): the next Linear's input is a norm of a sum, no function of Z,
    so the values cannot tell f; the autograd graph names the op that took Z. Every layer then has
    its activation and f(Z)'s statistics, dead units counted, as with modules (every field equal);
    applied in place (F.leaky_relu(z, 0.2, inplace=True)), f(Z) is not applied twice. Before, the
    input layer and the blocks were written linear with a warning, and an in-place function under a
    residual sum had f applied twice."""
    logs = {}
    for how in ("modules", "functions", "inplace"):
        torch.manual_seed(6)
        model = PreNorm(how)
        with torch.no_grad():
            model.fcs[1].bias.fill_(-1.0)  # dead units in the first block
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning: every activation is known
            logs[how] = watched(model, tmp_path / how, 3)
    names = [l["activation"] for l in logs["modules"][0]["layers"]]
    assert names == ["relu", "leaky_relu", "gelu", "selu", "linear"]
    assert logs["modules"][0]["layers"][1]["alpha"] == 0.2
    # (in place, PyTorch's float32 backward formulas differ in the last bits: the runs part by ~1e-8;
    # f applied twice moved the leaky layer's act mean by ~1e-2)
    for how, rtol, atol in (("functions", 1e-9, 1e-12), ("inplace", 1e-5, 1e-7)):
        assert compare([e for e in logs[how] if e["type"] != "end"],
                       [e for e in logs["modules"] if e["type"] != "end"], rtol, atol) == [], how
    assert logs["inplace"][1]["layers"][1]["dead"] > 0, "the test must have dead units"


def test_a_functional_activation_concatenated_with_other_features_is_read(tmp_path):
    """Dense connections, torch.cat([F.relu(a(x)), x]): the next Linear's input has more values
    than Z, so it was not read as the activation at all; the layer was written linear with Z as
    its f(Z), and no warning. The autograd graph names F.relu taking Z: relu, f(Z) from Z, as with
    the modules (every field equal)."""
    class Dense(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.functional = functional
            self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(12, 8), nn.Linear(20, 2)
            self.relu, self.tanh = nn.ReLU(), nn.Tanh()

        def forward(self, x):
            h = torch.cat([F.relu(self.a(x)) if self.functional else self.relu(self.a(x)), x], 1)
            h = torch.cat([torch.tanh(self.b(h)) if self.functional else self.tanh(self.b(h)), h], 1)
            return self.c(h)

    logs = []
    for functional in (False, True):
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            logs.append(watched(Dense(functional), tmp_path / str(functional), 3))
    modules, funcs = logs
    assert [l["activation"] for l in funcs[0]["layers"]] == ["relu", "tanh", "linear"]
    assert compare([e for e in funcs if e["type"] != "end"], [e for e in modules if e["type"] != "end"], 1e-9, 1e-12) == []


@pytest.mark.parametrize("gate_first", [False, True], ids=["up first", "gate first"])
def test_a_swiglu_blocks_functional_activation_is_read_across_the_gate(gate_first, tmp_path):
    """h + fc2(F.silu(fc1(h)) * fc3(h)), LLaMA's MLP: after fc1 the forward pass calls fc3, whose
    input is h, not f(Z1), so fc1's activation was never read: written linear with Z as its f(Z),
    and no warning. The layers still sought on the first logged step are looked for in each later
    Linear's input through the autograd graph: fc1 is silu, with f(Z) from Z, as with nn.SiLU()
    (every field equal), whichever of fc1 and fc3 the block calls first."""
    class SwiGlu(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.functional = functional
            self.inp, self.fc1, self.fc3 = nn.Linear(4, 8), nn.Linear(8, 16), nn.Linear(8, 16)
            self.fc2, self.out, self.silu = nn.Linear(16, 8), nn.Linear(8, 2), nn.SiLU()

        def forward(self, x):
            h = torch.relu(self.inp(x))
            f = F.silu if self.functional else self.silu
            if gate_first:
                g = self.fc3(h)
                u = f(self.fc1(h))
            else:
                u = f(self.fc1(h))
                g = self.fc3(h)
            return self.out(h + self.fc2(u * g))

    logs, said = [], []
    for functional in (False, True):
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            logs.append(watched(SwiGlu(functional), tmp_path / str(functional), 3))
        said.append([str(x.message).split(" go into")[0] for x in w])
    modules, funcs = logs
    names = [l["activation"] for l in funcs[0]["layers"]]
    assert names == (["relu", "linear", "silu", "linear", "linear"] if gate_first
                     else ["relu", "silu", "linear", "linear", "linear"])
    # the gate (a product) and fc2 (a sum) are named, whichever order the block calls fc1 and fc3 in
    gate = 1 if gate_first else 2
    assert said[0] == said[1] == [f"layerwise_torch: the outputs of layers {gate}, 3"]
    assert compare([e for e in funcs if e["type"] != "end"], [e for e in modules if e["type"] != "end"], 1e-9, 1e-12) == []


@pytest.mark.parametrize("out", ["sigmoid", "tanh"])
def test_an_output_layers_functional_activation_is_read_in_the_loss(out, tmp_path):
    """torch.sigmoid(self.out(h)) fed to the loss: no later Linear takes the output layer's f(Z),
    so it was written linear with Z as f(Z) (an output sigmoid's saturation never counted). On the
    first logged step the loss's autograd graph names it; f(Z) comes from Z on every logged step,
    histograms too, as with nn.Sigmoid() (every field equal)."""
    class Out(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.functional = functional
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)
            self.relu, self.f = nn.ReLU(), nn.Sigmoid() if out == "sigmoid" else nn.Tanh()

        def forward(self, x):
            h = torch.relu(self.a(x)) if self.functional else self.relu(self.a(x))
            z = self.b(h)
            return getattr(torch, out)(z) if self.functional else self.f(z)

    logs = []
    for functional in (False, True):
        torch.manual_seed(0)
        model = Out(functional)
        with torch.no_grad():
            model.b.bias.fill_(5.0)  # saturated outputs
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"{functional}.layerwise.jsonl"
        g = torch.Generator().manual_seed(1)
        with layerwise_torch.watch(model, opt, path, histograms_every=2) as run:
            for _ in range(4):
                x, y = torch.randn(16, 4, generator=g), torch.rand(16, 3, generator=g)
                opt.zero_grad()
                loss = F.mse_loss(model(x), y)
                loss.backward()
                run.step(loss)
        logs.append(read_events(path))
    modules, funcs = logs
    assert [l["activation"] for l in funcs[0]["layers"]] == ["relu", out]
    assert funcs[1]["layers"][1]["saturated"] > 0, "the test must have saturated outputs"
    assert compare([e for e in funcs if e["type"] != "end"], [e for e in modules if e["type"] != "end"], 1e-9, 1e-12) == []


def test_a_functional_relu_on_a_batch_with_no_negative_z_is_relu(tmp_path):
    """Z > 0 everywhere: relu(Z) = Z, so the values read F.relu as linear (and under DDP a rank
    whose share had no Z < 0 read it so while another read relu). The autograd graph names it:
    relu, with its dead units counted (none here); a clamp(min=0), which the graph does not
    name, is still read from the values."""
    class Net(nn.Module):
        def __init__(self, f):
            super().__init__()
            self.f, self.a, self.b = f, nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(self.f(self.a(x)))

    for f, want in ((F.relu, "relu"), (lambda z: F.leaky_relu(z, 0.2), "leaky_relu"),
                    (lambda z: z.clamp(min=0), "linear")):
        torch.manual_seed(0)
        model = Net(f)
        with torch.no_grad():
            model.a.weight.mul_(0.01)
            model.a.bias.fill_(1.0)
        events = watched(model, tmp_path / want, 2)
        assert [l["activation"] for l in events[0]["layers"]] == [want, "linear"]
        assert (events[1]["layers"][0]["dead"] == 0) if want != "linear" else events[1]["layers"][0]["dead"] is None


def test_a_pre_norm_blocks_tanh_gelu_is_applied_as_the_model_applies_it(tmp_path):
    """GPT's GELU, F.gelu(z, approximate="tanh"), in pre-norm blocks: its f(Z) is taken of Z with the
    tanh approximation the graph shows (the erf form differs by up to ~2e-4 a value), as with
    nn.GELU(approximate="tanh") (every field equal)."""
    class TanhGelu(PreNorm):
        ACTS = ((nn.ReLU, lambda z, inplace: F.relu(z)),
                (lambda: nn.GELU(approximate="tanh"), lambda z, inplace: F.gelu(z, approximate="tanh")),
                (lambda: nn.GELU(approximate="tanh"), lambda z, inplace: F.gelu(z, approximate="tanh")),
                (nn.Tanh, lambda z, inplace: torch.tanh(z)))

    logs = []
    for how in ("modules", "functions"):
        torch.manual_seed(6)
        logs.append(watched(TanhGelu(how), tmp_path / how, 3))
    assert [l["activation"] for l in logs[1][0]["layers"]] == ["relu", "gelu", "gelu", "tanh", "linear"]
    assert compare([e for e in logs[1] if e["type"] != "end"], [e for e in logs[0] if e["type"] != "end"], 1e-9, 1e-12) == []


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_an_activation_after_a_functional_norm_is_read_as_after_a_norm_module(norm, tmp_path):
    """F.relu(F.layer_norm(fc(x), ...)): the next input is no function of Z, so fc was linear with a
    warning. The graph shows the norm taking Z and the activation taking the norm's output: the
    layer has that activation, its statistics are the next input's, and its dead units are counted
    on what f took, as with nn.LayerNorm (nn.BatchNorm1d) and nn.ReLU modules (every field equal)."""
    class Normed(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.functional = functional
            self.a, self.b, self.c = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 2)
            self.norms = nn.ModuleList([
                nn.LayerNorm(16, elementwise_affine=False) if norm == "layer"
                else nn.BatchNorm1d(16, affine=False, track_running_stats=False) for _ in range(2)])
            self.relu, self.leaky = nn.ReLU(), nn.LeakyReLU(0.1)

        def n(self, i, z):
            if not self.functional:
                return self.norms[i](z)
            return F.layer_norm(z, (16,)) if norm == "layer" else F.batch_norm(z, None, None, training=True)

        def forward(self, x):
            h = F.relu(self.n(0, self.a(x))) if self.functional else self.relu(self.n(0, self.a(x)))
            h = F.leaky_relu(self.n(1, self.b(h)), 0.1) if self.functional else self.leaky(self.n(1, self.b(h)))
            return self.c(h)

    logs = []
    for functional in (False, True):
        torch.manual_seed(3)
        model = Normed(functional)
        with torch.no_grad():
            model.a.bias[:4] = -6.0  # units below the others on every sample: dead after the norm
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            logs.append(watched(model, tmp_path / str(functional), 3))
    modules, funcs = logs
    assert [l["activation"] for l in funcs[0]["layers"]] == ["relu", "leaky_relu", "linear"]
    if norm == "layer":
        assert funcs[1]["layers"][0]["dead"] > 0, "the test must have dead units"
    assert compare([e for e in funcs if e["type"] != "end"], [e for e in modules if e["type"] != "end"], 1e-9, 1e-12) == []


def test_activation_in_graph_names_the_op_that_took_z():
    """_layers.activation_in_graph against the functions PyTorch applies, in place too, with their
    slopes; none where two ops took Z, where a sum did, or an activation Layerwise does not know."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 8, generator=g, requires_grad=True)
    h = torch.randn(5, 8, generator=g)
    cases = [(lambda z: F.relu(z), ("relu", None)), (lambda z: F.relu(z, inplace=True), ("relu", None)),
             (lambda z: F.leaky_relu(z, 0.3), ("leaky_relu", 0.3)),
             (lambda z: F.leaky_relu(z, 0.05, inplace=True), ("leaky_relu", 0.05)),
             (torch.tanh, ("tanh", None)), (lambda z: z.sigmoid(), ("sigmoid", None)),
             (lambda z: F.elu(z, 0.7), ("elu", 0.7)), (F.selu, ("selu", None)), (F.gelu, ("gelu", None)),
             (F.silu, ("silu", None)), (F.softplus, None), (F.mish, None), (lambda z: F.celu(z, 0.5), None),
             (lambda z: z + h, None), (lambda z: torch.relu(z) * torch.sigmoid(z), None)]
    for f, want in cases:
        z = h @ w
        node = z.grad_fn
        x = F.layer_norm(h + f(z), (8,))
        found = _layers.activation_in_graph(node, x)
        assert (found and found[0]) == want, want
        if found:  # the node that applied it
            assert found[1].next_functions[0][0] is node and not found[2]
        assert _layers.activation_in_graph(None, x) is None


class Mlp(nn.Module):
    """A transformer's MLP block, h + fc2(F.gelu(fc1(norm(h)))), twice between an input layer and a
    head; `inner` replaces F.gelu (softplus: an activation Layerwise does not know)."""

    def __init__(self, norm=True, inner=F.gelu):
        super().__init__()
        self.inp, self.head, self.inner = nn.Linear(4, 8), nn.Linear(8, 2), inner
        self.norms = nn.ModuleList([nn.LayerNorm(8) if norm else nn.Identity() for _ in range(2)])
        self.fc1 = nn.ModuleList([nn.Linear(8, 32) for _ in range(2)])
        self.fc2 = nn.ModuleList([nn.Linear(32, 8) for _ in range(2)])

    def forward(self, x):
        h = self.inp(x)
        for norm, fc1, fc2 in zip(self.norms, self.fc1, self.fc2):
            h = h + fc2(self.inner(fc1(norm(h))))
        return self.head(h)


@pytest.mark.parametrize("norm", [True, False], ids=["layernorm", "no norm"])
def test_a_linear_whose_output_goes_into_a_sum_is_linear_and_said_so(norm, tmp_path):
    """A transformer MLP block's fc2 has no activation: its output is added to the residual stream
    (then normalized), which is no function of its Z, and the autograd graph shows the sum taking Z.
    It is written linear with f(Z) = Z, and a warning names it; before, it got the "none that
    Layerwise knows" warning and the next block's input as its statistics. An activation we do not
    know (softplus) still gets that warning."""
    torch.manual_seed(4)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        events = watched(Mlp(norm), tmp_path, 2)
    # one warning: the layers whose output goes into the sum with no activation
    assert [str(w.message).split(" before")[0] for w in said] == [
        "layerwise_torch: the outputs of layers 2, 4 go into a sum, a product, a norm or a reordering (a "
        "residual stream h + fc(x), a gate, a transpose)"]
    assert [l["activation"] for l in events[0]["layers"]] == ["linear", "gelu", "linear", "gelu", "linear", "linear"]
    for l in events[1]["layers"][2:5:2] + events[1]["layers"][5:]:
        assert l["act"] == l["preact"], l["index"]
    torch.manual_seed(4)
    with pytest.warns(UserWarning, match=r"activations of layers 1, 3 are none that Layerwise knows"):
        watched(Mlp(norm, F.softplus), tmp_path / "s", 2)


def test_a_residual_block_with_no_activation_is_linear(tmp_path):
    """h = h + fc(h), no activation: the next input minus fc's input is Z itself; fc is linear,
    f(Z) = Z, named by the sum's warning, not as an activation Layerwise does not know."""
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.b, self.out = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 2)

        def forward(self, x):
            h = torch.relu(self.inp(x))
            return self.out(h + self.b(h))

    torch.manual_seed(2)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        events = watched(Plain(), tmp_path, 2)
    assert [l["activation"] for l in events[0]["layers"]] == ["relu", "linear", "linear"]
    assert events[1]["layers"][1]["act"] == events[1]["layers"][1]["preact"]
    assert [str(w.message).split(" into")[0] for w in said] == ["layerwise_torch: layer 1's output goes"]


def test_is_function_of_tells_an_elementwise_function_from_a_mixture():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 32, generator=g)
    for f in (torch.relu, torch.tanh, F.softplus, F.mish, F.hardswish, lambda t: -t, torch.sin):
        assert _layers.is_function_of(z, f(z))
    for mixed in (z + torch.randn(64, 32, generator=g), F.layer_norm(z, (32,)), z[torch.randperm(64, generator=g)],
                  torch.relu(z + 0.5 * torch.randn(64, 32, generator=g))):
        assert not _layers.is_function_of(z, mixed)
    assert _layers.is_function_of(z[:2, :4], torch.randn(2, 4, generator=g)), "a few values: taken as a function"


class ThreeWays(nn.Module):
    """Three hidden Linears whose activation is applied three ways, as a module, as the module in
    place and as its functional form, then a linear head; LeCun's init with `lecun`."""

    def __init__(self, module, functional, widths=(4, 16, 16, 16, 2), lecun=False):
        super().__init__()
        self.l1, self.l2, self.l3, self.l4 = (nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        if lecun:
            for l in (self.l1, self.l2, self.l3):
                nn.init.kaiming_normal_(l.weight, nonlinearity="linear")
                nn.init.zeros_(l.bias)
        self.act, self.inplace, self.f = module(), module(inplace=True), functional

    def forward(self, x):
        h = self.act(self.l1(x))
        h = self.inplace(self.l2(h))
        h = self.f(self.l3(h))
        return self.l4(h)

    def hidden(self, x):
        """The three hidden layers' Z, by hand."""
        z1 = self.l1(x)
        z2 = self.l2(self.f(z1))
        return z1, z2, self.l3(self.f(z2))


def test_silu_as_a_module_in_place_and_functional(tmp_path):
    """SiLU (swish), as nn.SiLU, nn.SiLU(inplace=True) and F.silu: written as silu, its statistics
    those of z * sigmoid(z), no dead or saturated units counted."""
    torch.manual_seed(3)
    events = watched(ThreeWays(nn.SiLU, F.silu), tmp_path, 2)
    assert [l["activation"] for l in events[0]["layers"]] == ["silu", "silu", "silu", "linear"]
    s = events[1]["layers"]
    assert all(l["dead"] is None and l["saturated"] is None for l in s[:3])
    torch.manual_seed(3)
    x, _ = batches(2)[0]
    for got, z in zip(s, ThreeWays(nn.SiLU, F.silu).hidden(x)):
        a = (z * torch.sigmoid(z)).double()
        assert got["preact"]["var"] == pytest.approx(z.double().var(unbiased=False).item(), rel=1e-6)
        assert got["act"]["mean"] == pytest.approx(a.mean().item(), rel=1e-6)
        assert got["act"]["var"] == pytest.approx(a.var(unbiased=False).item(), rel=1e-6)


def test_selu_as_a_module_in_place_and_functional(tmp_path):
    """SELU, as nn.SELU, nn.SELU(inplace=True) and F.selu: written as selu, its statistics those of
    selu(z); under LeCun's init (Var(W) = 1/fan_in) on unit-variance inputs Var(a) stays near 1."""
    torch.manual_seed(3)
    model = ThreeWays(nn.SELU, F.selu, (64, 256, 256, 256, 2), lecun=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    path = tmp_path / "selu.layerwise.jsonl"
    x, y = torch.randn(128, 64), torch.randint(0, 2, (128,))
    with layerwise_torch.watch(model, opt, path) as run:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        run.step(loss)
    events = read_events(path)
    assert [l["activation"] for l in events[0]["layers"]] == ["selu", "selu", "selu", "linear"]
    s = events[1]["layers"]
    assert all(l["dead"] is None and l["saturated"] is None for l in s[:3])
    for got, z in zip(s, model.hidden(x)):
        a = F.selu(z).double()
        assert got["act"]["mean"] == pytest.approx(a.mean().item(), rel=1e-5, abs=1e-7)
        assert got["act"]["var"] == pytest.approx(a.var(unbiased=False).item(), rel=1e-6)
        assert 0.8 < got["act"]["var"] < 1.2 and 0.8 < got["preact"]["var"] < 1.2  # self-normalizing


def test_a_layer_of_one_weight_has_variance_zero(tmp_path):
    """Linear(1, 1) after a one-unit layer: one weight and one gradient, each of variance 0 (they
    came out ~1e-7 of their squares from float32 sums), the others as float64 has them."""
    torch.manual_seed(4)
    m = nn.Sequential(nn.Linear(4, 1), nn.LeakyReLU(0.5), nn.Linear(1, 1))
    with torch.no_grad():
        m[2].weight.fill_(1.7)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    path = tmp_path / "one.layerwise.jsonl"
    x, y = torch.randn(16, 4) * 3, torch.randn(16, 1) * 5
    with layerwise_torch.watch(m, opt, path) as run:
        opt.zero_grad()
        loss = F.mse_loss(m(x), y)
        loss.backward()
        grads = [l.weight.grad.double().clone() for l in (m[0], m[2])]
        run.step(loss)
    s = next(e for e in read_events(path) if e["type"] == "step")["layers"]
    assert abs(m[2].weight.grad.item()) > 1  # (its square's rounding would show)
    assert s[1]["weight"]["var"] == 0.0 and s[1]["weightGrad"]["var"] == 0.0
    assert s[0]["weightGrad"]["var"] == pytest.approx(grads[0].var(unbiased=False).item(), rel=1e-9)


def test_a_log_another_process_writes_is_left_to_it(tmp_path):
    """Two processes given one path (each rank 0 of its own group, a script started twice): the
    first keeps the log whole, the second warns and writes nothing."""
    import subprocess
    import sys

    path = tmp_path / "same.layerwise.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, torch; sys.path.insert(0, sys.argv[2]); import layerwise_torch\n"
            "m = torch.nn.Linear(3, 2); o = torch.optim.SGD(m.parameters(), lr=0.1)\n"
            "run = layerwise_torch.watch(m, o, sys.argv[1]); print('ready', flush=True); sys.stdin.readline()\n"
            "loss = m(torch.randn(4, 3)).pow(2).mean(); loss.backward(); run.step(loss); run.close()\n"),
         str(path), os.path.dirname(os.path.dirname(layerwise_torch.__file__))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with pytest.warns(UserWarning, match="another run is writing"):
            run = layerwise_torch.watch(model, opt, path)
        loop(model, run, opt, batches(3))
        run.close()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
    events = [e for e in read_events(path) if e["type"] != "histogram"]
    assert [e["type"] for e in events] == ["start", "step", "end"]
    assert events[0]["layers"][0]["fanIn"] == 3  # the child's model


def test_a_run_again_in_one_process_takes_the_log_over(tmp_path):
    """A notebook cell run again while its last run was never closed: the new run writes the log,
    the earlier one (still stepping here) writes no more."""
    path = tmp_path / "cell.layerwise.jsonl"
    a, b = net(), net()
    oa, ob = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    ra = layerwise_torch.watch(a, oa, path)
    loop(a, ra, oa, batches(2))
    with pytest.warns(UserWarning, match="earlier run in this process"):
        rb = layerwise_torch.watch(b, ob, path)
    for x, y in batches(4):
        for model, opt, run in ((a, oa, ra), (b, ob, rb)):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)
    ra.close()
    rb.close()
    events = [e for e in read_events(path) if e["type"] != "histogram"]
    assert [e["type"] for e in events] == ["start"] + ["step"] * 4 + ["end"]
    assert [e["step"] for e in events[1:-1]] == [0, 1, 2, 3]
    # once it has ended the path is free again
    rc = layerwise_torch.watch(net(), torch.optim.SGD(net().parameters(), lr=0.1), path)
    rc.close()
    assert [e["type"] for e in read_events(path)] == ["end"]


def test_a_file_system_without_locks_still_gets_the_log(tmp_path, monkeypatch):
    """flock failing for another reason than a lock held (ENOLCK on some NFS mounts): written."""
    import errno
    from layerwise_torch import _writer

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_writer.fcntl, "flock", no_locks)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "nfs.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path) as run:
        loop(model, run, opt, batches(2))
    assert [e["type"] for e in read_events(path) if e["type"] == "step"] == ["step", "step"]


def test_a_log_that_cannot_be_written_does_not_stop_training(tmp_path):
    """A full disk (ENOSPC) while the log is written: one warning, the training goes on."""
    class Full:
        name = "full.layerwise.jsonl"
        closed = False

        def write(self, s):
            raise OSError(28, "No space left on device")

        def flush(self):
            raise OSError(28, "No space left on device")

        def close(self):
            self.closed = True

    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = layerwise_torch.watch(model, opt, tmp_path / "full.layerwise.jsonl")
    real = run.writer.f
    run.writer.f = Full()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(UserWarning, match="No space left on device"):
        for x, y in batches(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)
    run.close()
    real.close()
    assert run.step_index == 3 and run.applied == 3  # every step's update was applied
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_gradient_accumulation_describes_the_whole_batch(tmp_path):
    """Micro-batches (each loss / k, backward each, run.step with their sum) write the events of
    one step on the whole batch: the layers' statistics merge over the forward calls."""
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(32, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (32,), generator=g))
            for _ in range(4)]

    def run(k):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        path = tmp_path / f"acc{k}.layerwise.jsonl"
        with layerwise_torch.watch(model, opt, path, clip={"mode": "norm", "max": 1.0}) as r:
            for x, y in data:
                opt.zero_grad()
                total = 0.0
                for xs, ys in zip(x.chunk(k), y.chunk(k)):
                    loss = F.cross_entropy(model(xs), ys) / k
                    loss.backward()
                    total += loss.detach()
                r.step(total)
        return [e for e in read_events(path) if e["type"] in ("step", "histogram")]

    whole, micro = run(1), run(4)
    assert len(whole) == 5 and compare(micro, whole, 1e-9, 1e-15)[:10] == []  # 4 steps, 1 histogram


def test_bad_arguments_are_clear(tmp_path):
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="clip"):
        layerwise_torch.watch(model, opt, tmp_path / "x.jsonl", clip={"mode": "norm"})
    with pytest.raises(ValueError, match="every"):
        layerwise_torch.watch(model, opt, tmp_path / "x.jsonl", every=0)
    with pytest.raises(ValueError, match="on_non_finite"):
        layerwise_torch.watch(model, opt, tmp_path / "x.jsonl", on_non_finite="ignore")
    with pytest.raises(TypeError):
        layerwise_torch.watch(model, opt, tmp_path / "x.jsonl", evry=2)
    # no optimizer, or the path and the optimizer swapped: refused before anything is written
    for args in ((model, None, tmp_path / "x.jsonl"), (model, tmp_path / "x.jsonl", opt)):
        with pytest.raises(TypeError, match=r"watch\(\) needs the optimizer second .* not (NoneType|PosixPath)"):
            layerwise_torch.watch(*args)
    assert not (tmp_path / "x.jsonl").exists()


def test_bad_arguments_mid_run_are_refused_before_they_change_anything(tmp_path):
    """A wrong argument to run.step, the manual clips or run.validation is refused with what the call
    needs, before the step, the gradients or the log change: the loop goes on as if it never came."""
    path, ref = tmp_path / "a.layerwise.jsonl", tmp_path / "b.layerwise.jsonl"
    model, twin = net(), net()
    opt, opt2 = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(twin.parameters(), lr=0.1)
    data = batches(3)
    with layerwise_torch.watch(model, opt, path, histograms_every=0) as run, \
            layerwise_torch.watch(twin, opt2, ref, histograms_every=0) as plain:
        for x, y in data:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            before = [p.grad.clone() for p in model.parameters()]
            with pytest.raises(TypeError, match=r"run\.step\(loss\): the loss .* not str"):
                run.step("0.5")
            with pytest.raises(TypeError, match=r"closure=.*a function that recomputes .* not int"):
                run.step(loss, closure=5)
            for bad in (-1, 0, "a", True, float("nan"), torch.ones(2)):
                with pytest.raises(ValueError, match=r"run\.clip_grad_norm_\(max_norm\): a number > 0"):
                    run.clip_grad_norm_(bad)
                with pytest.raises(ValueError, match=r"run\.clip_grad_value_\(clip_value\): a number > 0"):
                    run.clip_grad_value_(bad)
            with pytest.raises(TypeError, match=r"run\.validation\(loss, samples\): the loss .* not str"):
                run.validation("x", 3)
            assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters()))
            run.clip_grad_norm_(float("inf"))  # measures, clips nothing (as torch does)
            run.step(loss)
            opt2.zero_grad()
            loss2 = F.cross_entropy(twin(x), y)
            loss2.backward()
            plain.clip_grad_norm_(float("inf"))
            plain.step(loss2)
    def events(p):
        return [{k: v for k, v in json.loads(line).items() if k != "elapsedMs"} for line in p.read_text().splitlines()]

    assert events(path) == events(ref)
    assert [e["type"] for e in events(path)].count("step") == 3


def test_no_nan_or_infinity_tokens_in_the_log(tmp_path):
    model, opt, data = blowing_up()
    path = tmp_path / "j.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path, on_non_finite="log") as run:
        loop(model, run, opt, data)
    def refuse(token):
        raise AssertionError(f"{token} is not JSON")

    lines = path.read_text().splitlines()
    assert len(lines) > 10
    for line in lines:
        json.loads(line, parse_constant=refuse)


def test_optimizer_step_hooks_used_where_present(tmp_path):
    """torch >= 2.0 has Optimizer.register_step_post_hook: a step that bypasses run.step is noticed."""
    model = net()
    base = torch.optim.SGD(model.parameters(), lr=0.1)

    class WithHooks:
        """The optimizer of a newer torch: step() calls the registered post hooks."""

        def __init__(self, opt):
            self.opt, self.hooks, self.param_groups = opt, [], opt.param_groups

        def register_step_post_hook(self, h):
            self.hooks.append(h)

            class Handle:
                def remove(_):
                    self.hooks.remove(h)
            return Handle()

        def step(self):
            self.opt.step()
            for h in list(self.hooks):
                h(self, (), {})

        def zero_grad(self):
            self.opt.zero_grad()

    opt = WithHooks(base)
    path = tmp_path / "h.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path) as run:
        loop(model, run, opt, batches(2))
        assert run.outside_steps == 0
        x, y = batches(1)[0]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with pytest.warns(UserWarning, match="outside run.step"):
            opt.step()
        assert run.outside_steps == 1
    assert opt.hooks == []  # removed at the end


def test_several_forward_calls_in_a_step_merge_exactly(tmp_path):
    """Gradient accumulation: two half batches, then one run.step, describe the whole batch."""
    logs = []
    for halves in (1, 2):
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"acc{halves}.layerwise.jsonl"
        with layerwise_torch.watch(model, opt, path) as run:
            for x, y in batches(3):
                opt.zero_grad()
                for xs, ys in zip(x.chunk(halves), y.chunk(halves)):
                    (F.cross_entropy(model(xs), ys) / halves).backward()
                run.step()
        logs.append([e for e in read_events(path) if e["type"] == "step"])
    keep = lambda es: [[{k: l[k] for k in ("preact", "act", "dead", "weight", "weightGrad")} for l in e["layers"]] for e in es]
    assert compare(keep(logs[1]), keep(logs[0]), 1e-5, 1e-9) == []


def test_end_counts_clipped_steps_over_every_step(tmp_path):
    """The clip rate is over all steps, logged or not (norm clipping; the loop's own count agrees)."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "c.layerwise.jsonl"
    norms = []
    with layerwise_torch.watch(model, opt, path, every=4, clip={"mode": "norm", "max": 0.2}) as run:
        for x, y in batches(12):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            norms.append(math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters())))
            run.step(loss)
    end = read_events(path)[-1]
    want = sum(1 for n in norms if n > 0.2)
    assert 0 < want < 12, norms
    assert end["clippedSteps"] == want


def test_validation_writes_the_held_out_loss_and_refuses_bad_counts(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    path = tmp_path / "v.layerwise.jsonl"
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    vx, vy = torch.randn(10, 4), torch.randn(10, 1)
    with layerwise_torch.watch(model, opt, path) as run:
        for _ in range(3):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            run.step(loss)
            with torch.no_grad():
                held = F.mse_loss(model(vx), vy)
            run.validation(held, 10)  # a regression: no accuracy
        with pytest.raises(ValueError, match="samples"):
            run.validation(1.0, 0)
        with pytest.raises(ValueError, match="correct"):
            run.validation(1.0, 10, correct=11)
    ev = [e for e in read_events(path) if e["type"] == "validation"]
    # after step k's update: the parameters step k + 1's loss is taken at
    assert [e["step"] for e in ev] == [1, 2, 3]
    assert ev[-1]["loss"] == pytest.approx(held.item(), rel=1e-6)
    assert all(e["accuracy"] is None and e["samples"] == 10 for e in ev)


def test_a_linear_without_bias_has_zero_bias_gradient_and_exact_weight_statistics(tmp_path):
    """nn.Linear(bias=False): biasGrad.norm 0, the weight and its gradient as torch computes them,
    gradNorm over the parameters there are, the update measured on W alone."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Tanh(), nn.Linear(8, 3)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "nb.layerwise.jsonl"
    want = []
    with layerwise_torch.watch(model, opt, path) as run:
        for x, y in batches(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x.double()), y)
            loss.backward()
            w0 = model[0].weight.detach().clone()
            g0 = model[0].weight.grad.detach().clone()
            total = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters()))
            run.step(loss)
            dw = model[0].weight.detach() - w0
            want.append((float(w0.mean()), float(w0.var(unbiased=False)), float(g0.norm()),
                         float(g0.var(unbiased=False)), total, float(dw.norm() / w0.norm())))
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert len(steps) == 3
    for e, (mean, var, gnorm, gvar, total, ratio) in zip(steps, want):
        lay = e["layers"][0]
        assert lay["biasGrad"]["norm"] == 0
        assert lay["weight"]["mean"] == pytest.approx(mean, rel=1e-9, abs=1e-15)
        assert lay["weight"]["var"] == pytest.approx(var, rel=1e-9)
        assert lay["weightGrad"]["norm"] == pytest.approx(gnorm, rel=1e-9)
        assert lay["weightGrad"]["var"] == pytest.approx(gvar, rel=1e-9)
        assert lay["updateRatio"] == pytest.approx(ratio, rel=1e-9)
        assert e["gradNorm"] == pytest.approx(total, rel=1e-9)
        assert e["layers"][1]["biasGrad"]["norm"] > 0


def test_inplace_relu_on_sequence_inputs_keeps_the_gradient_statistics(tmp_path):
    """A Linear on (batch, time, features) inputs returns a view of its 2-d result; an in-place ReLU
    then rebases the view's autograd history, and a hook on it never fired: dL/dZ was null and its
    histogram empty. The events equal those of the same model without in-place, and dL/dZ by hand."""
    def model(inplace):
        torch.manual_seed(4)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=inplace), nn.Linear(8, 8), nn.LeakyReLU(0.2, inplace),
                             nn.Linear(8, 2))

    g = torch.Generator().manual_seed(6)
    data = [(torch.randn(3, 5, 4, generator=g), torch.randint(0, 2, (3, 5), generator=g)) for _ in range(3)]
    logs = []
    for inplace in (False, True):
        m = model(inplace)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        path = tmp_path / f"seq-{inplace}.layerwise.jsonl"
        with layerwise_torch.watch(m, opt, path) as run:
            for x, y in data:
                opt.zero_grad()
                loss = F.cross_entropy(m(x).reshape(-1, 2), y.reshape(-1))
                loss.backward()
                run.step(loss)
        logs.append(read_events(path))
    plain, inplace = logs
    assert [e["type"] for e in plain] == [e["type"] for e in inplace]
    for a, b in zip(plain, inplace):
        if a["type"] in ("step", "histogram"):
            assert compare(b, a, 1e-9, 0) == [], a["type"]
    # dL/dZ of the first layer at step 0, by hand
    ref = model(False)
    x, y = data[0]
    z = ref[0](x)
    z.retain_grad()
    F.cross_entropy(ref[4](ref[3](ref[2](ref[1](z)))).reshape(-1, 2), y.reshape(-1)).backward()
    step0 = next(e for e in inplace if e["type"] == "step")
    assert step0["layers"][0]["grad"]["var"] == pytest.approx(z.grad.double().var(unbiased=False).item(), rel=1e-6)
    hist0 = next(e for e in inplace if e["type"] == "histogram")
    h = hist0["layers"][0]["grad"]
    assert sum(h["counts"]) + h["zeros"] + h["below"] + h["above"] + h["nonFinite"] == 3 * 5 * 8


def test_normalization_and_dropout_between_a_linear_and_its_activation(tmp_path):
    """Linear -> BatchNorm1d -> ReLU (the usual MLP block), Linear -> Dropout -> ReLU(inplace),
    Linear -> LayerNorm -> Tanh, and F.relu(bn(fc(x))) applied functionally: each layer's activation
    is the one applied after the normalization or dropout; its statistics are the activation's
    output, dead and saturated units are counted on the activation's input. Step 0 by hand."""
    import copy

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU())
            self.b2 = nn.Sequential(nn.Linear(12, 12), nn.Dropout(0.3), nn.ReLU(inplace=True))
            self.b3 = nn.Sequential(nn.Linear(12, 12), nn.LayerNorm(12), nn.Tanh())
            self.fc4, self.bn4, self.out = nn.Linear(12, 12), nn.BatchNorm1d(12), nn.Linear(12, 3)

        def forward(self, x):
            return self.out(F.relu(self.bn4(self.fc4(self.b3(self.b2(self.b1(x)))))))

    torch.manual_seed(7)
    m = Net()
    with torch.no_grad():  # units 0-2 of the first and fourth layers dead: their BN shifts them below 0
        m.b1[1].bias[:3] = -20.0
        m.bn4.bias[:3] = -20.0
        m.b3[1].weight.fill_(3.0)  # a saturating tanh layer
    ref = copy.deepcopy(m)
    g = torch.Generator().manual_seed(8)
    data = [(torch.randn(24, 6, generator=g), torch.randint(0, 3, (24,), generator=g)) for _ in range(2)]
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    path = tmp_path / "norm.layerwise.jsonl"
    with layerwise_torch.watch(m, opt, path) as run:
        for x, y in data:
            torch.manual_seed(9)  # the same dropout mask by hand below
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            run.step(loss)
    events = read_events(path)
    assert [l["activation"] for l in events[0]["layers"]] == ["relu", "relu", "tanh", "relu", "linear"]
    s = next(e for e in events if e["type"] == "step")
    x, _ = data[0]
    torch.manual_seed(9)
    with torch.no_grad():
        z1 = ref.b1[0](x)
        n1 = ref.b1[1](z1)
        a1 = torch.relu(n1)
        z2 = ref.b2[0](a1)
        d2 = ref.b2[1](z2)
        a2 = torch.relu(d2)
        z3 = ref.b3[0](a2)
        a3 = torch.tanh(ref.b3[1](z3))
        z4 = ref.fc4(a3)
        n4 = ref.bn4(z4)
        a4 = torch.relu(n4)

    def var(t):
        return t.double().var(unbiased=False).item()

    L = s["layers"]
    for i, (z, a) in enumerate(((z1, a1), (z2, a2), (z3, a3), (z4, a4))):
        assert L[i]["preact"]["var"] == pytest.approx(var(z), rel=1e-5), i
        assert L[i]["act"]["var"] == pytest.approx(var(a), rel=1e-5), i
    assert L[0]["dead"] == int((n1 <= 0).all(0).sum()) >= 3
    assert L[1]["dead"] == int((d2 <= 0).all(0).sum())
    assert L[3]["dead"] == int((n4 <= 0).all(0).sum()) >= 3
    assert L[2]["saturated"] == pytest.approx(float((a3.abs() > 0.99).double().mean()), abs=1e-9)
    assert L[2]["saturated"] > 0


def test_a_frozen_layer_has_no_gradient_statistics_and_no_update_ratio(tmp_path):
    """The first layer frozen (fine-tuning the rest): its weightGrad, biasGrad and updateRatio are
    null (not 0, which would read as a layer that barely learns), dL/dZ is null where autograd does
    not compute it (no trainable layer below), and the trained layers' numbers are as before."""
    torch.manual_seed(5)
    m = net()
    for p in m[0].parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    path = tmp_path / "frozen.layerwise.jsonl"
    with layerwise_torch.watch(m, opt, path) as run:
        loop(m, run, opt, batches(3))
    s = [e for e in read_events(path) if e["type"] == "step"]
    for e in s:
        first, second = e["layers"][0], e["layers"][1]
        assert first["weightGrad"] == {"norm": None, "var": None} and first["biasGrad"] == {"norm": None}
        assert first["updateRatio"] is None and first["grad"] == {"mean": None, "var": None}
        assert first["preact"]["var"] > 0 and first["weight"]["var"] > 0
        assert second["weightGrad"]["norm"] > 0 and second["biasGrad"]["norm"] > 0 and second["updateRatio"] > 0
    # gradNorm over the parameters that have gradients
    torch.manual_seed(5)
    ref = net()
    x, y = batches(3)[0]
    F.cross_entropy(ref(x), y).backward()
    want = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in list(ref.parameters())[2:]))
    assert s[0]["gradNorm"] == pytest.approx(want, rel=1e-6)


def test_a_weight_normed_layer_trains_and_has_its_bias_gradient_and_update_ratio(tmp_path):
    """torch.nn.utils.weight_norm: the Linear's ``weight`` is recomputed from weight_g and weight_v
    each forward pass and has no .grad of its own. The layer is not frozen: its bias gradient and the
    update ratio of the weight it applies are written (weightGrad, of a tensor without a gradient, is
    null)."""
    torch.manual_seed(5)
    m = net()
    m[2] = torch.nn.utils.weight_norm(m[2])
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    path = tmp_path / "wn.layerwise.jsonl"
    x, y = batches(1)[0]
    with layerwise_torch.watch(m, opt, path) as run:
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        bias_norm = float(m[2].bias.grad.double().norm())
        w_before = m[2].weight.detach().double().clone()
        run.step(loss)
        with torch.no_grad():
            m(x)  # weight_norm recomputes .weight in its forward pre-hook
        change = float((m[2].weight.detach().double() - w_before).norm() / w_before.norm())
    s = next(e for e in read_events(path) if e["type"] == "step")
    layer = s["layers"][1]
    assert layer["weightGrad"]["norm"] is None
    assert layer["biasGrad"]["norm"] == pytest.approx(bias_norm, rel=1e-6)
    assert layer["updateRatio"] == pytest.approx(change, rel=1e-5)


def test_an_activation_layerwise_does_not_know_is_said_once(tmp_path):
    """Mish after layer 0: written as linear (docs/events.md), with one warning that names the layer,
    not silently."""
    torch.manual_seed(5)
    m = nn.Sequential(nn.Linear(4, 8), nn.Mish(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    path = tmp_path / "mish.layerwise.jsonl"
    with pytest.warns(UserWarning, match=r"layer 0's activation is none that Layerwise knows") as caught:
        with layerwise_torch.watch(m, opt, path) as run:
            loop(m, run, opt, batches(3))
    assert len([w for w in caught if "that Layerwise knows" in str(w.message)]) == 1
    layers = read_events(path)[0]["layers"]
    assert [l["activation"] for l in layers] == ["linear", "relu", "linear"]


def test_a_forward_pass_outside_the_step_is_not_in_its_statistics(tmp_path):
    """A validation pass with gradients enabled (model.eval() without torch.no_grad()) between two
    steps runs the armed hooks, but no backward pass goes through it: the next step's event is the
    same as without it (its batch's rows, its moments), functional activations too."""
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.c(torch.tanh(self.b(F.relu(self.a(x)))))

    for make in (net, Functional):
        logs = []
        for validate in (False, True):
            torch.manual_seed(5)
            model = make()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            path = tmp_path / f"{make.__name__}{validate}.layerwise.jsonl"
            with layerwise_torch.watch(model, opt, path) as run:
                for x, y in batches(4):
                    model.train()
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    run.step(loss)
                    if validate:
                        model.eval()
                        F.cross_entropy(model(x[:5] * 10 + 3), y[:5])  # no backward
            logs.append([e for e in read_events(path) if e["type"] in ("step", "histogram")])
        assert len(logs[1]) == 5 and compare(logs[1], logs[0], 1e-12, 1e-15) == []


def one_watched_step(model, tmp_path, loss_of):
    """One step of the model under watch (Python warnings are errors): the activations of its
    `start` and its step event's layers. loss_of(model) runs the forward pass and gives the loss."""
    import warnings
    path = tmp_path / "one.layerwise.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with layerwise_torch.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), path) as run:
            loss_of(model).backward()
            run.step()
    events = read_events(path)
    start = next(e for e in events if e["type"] == "start")
    return [lay["activation"] for lay in start["layers"]], next(e for e in events if e["type"] == "step")["layers"]


def test_a_layer_applied_again_to_its_own_activation_merges_both_calls(tmp_path):
    """A Linear called twice in one forward pass (a(relu(a(x)))): one layer, its statistics over
    both calls; the activation of the first call is the second call's input (relu: never < 0)."""
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.o = nn.Linear(6, 6), nn.Linear(6, 3)

        def forward(self, x):
            return self.o(F.relu(self.a(F.relu(self.a(x)))))

    torch.manual_seed(0)
    model = Twice().double()
    x, y = torch.randn(32, 6, dtype=torch.float64), torch.randint(0, 3, (32,))
    with torch.no_grad():
        z1 = model.a(x)
        z2 = model.a(F.relu(z1))
    acts, layers = one_watched_step(model, tmp_path, lambda m: F.cross_entropy(m(x), y))
    assert acts == ["relu", "linear"]
    layer = layers[0]
    both = torch.cat([z1.detach().reshape(-1), z2.detach().reshape(-1)])
    acts = F.relu(both)
    assert layer["preact"]["mean"] == pytest.approx(float(both.mean()), rel=1e-12)
    assert layer["act"]["mean"] == pytest.approx(float(acts.mean()), rel=1e-12)
    assert layer["act"]["var"] == pytest.approx(float(acts.var(unbiased=False)), rel=1e-12)
    dead = ((z1.detach() <= 0).all(0) & (z2.detach() <= 0).all(0)).sum()
    assert layer["dead"] == int(dead)


def test_a_layer_shared_by_two_inputs_is_not_read_as_its_own_activation(tmp_path):
    """a(x1) and a(x2) in one forward pass (a siamese pair): the second call's input is not the
    first call's activation; the layer's activation is the module applied to each output."""
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.act, self.o = nn.Linear(6, 6), nn.Tanh(), nn.Linear(12, 3)

        def forward(self, x):
            h1, h2 = self.act(self.a(x[:, :6])), self.act(self.a(x[:, 6:]))
            return self.o(torch.cat([h1, h2], 1))

    torch.manual_seed(0)
    model = Pair().double()
    x = torch.randn(16, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    with torch.no_grad():
        a = torch.tanh(torch.cat([model.a(x[:, :6]), model.a(x[:, 6:])]))
    acts, layers = one_watched_step(model, tmp_path, lambda m: F.cross_entropy(m(x), y))
    assert acts == ["tanh", "linear"]
    assert layers[0]["act"]["mean"] == pytest.approx(float(a.mean()), rel=1e-9)
    assert layers[0]["act"]["var"] == pytest.approx(float(a.var(unbiased=False)), rel=1e-9)


def test_two_heads_on_one_hidden_layer_keep_their_own_outputs(tmp_path):
    """h = relu(fc(x)); head1(h), head2(h): head2's input is h, not an activation of head1's output
    (their shapes differ); head1 is a linear output layer with its own Z as its statistics, and no
    warning says its activation is unknown."""
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.h1, self.h2 = nn.Linear(8, 16), nn.Linear(16, 3), nn.Linear(16, 1)

        def forward(self, x):
            h = F.relu(self.fc(x))
            return self.h1(h), self.h2(h)

    torch.manual_seed(0)
    model = Heads().double()
    x, y, t = torch.randn(32, 8, dtype=torch.float64), torch.randint(0, 3, (32,)), torch.randn(32, 1, dtype=torch.float64)
    with torch.no_grad():
        h = F.relu(model.fc(x))
        z1 = model.h1(h)

    def loss_of(m):
        a, b = m(x)
        return F.cross_entropy(a, y) + F.mse_loss(b, t)
    acts, layers = one_watched_step(model, tmp_path, loss_of)
    assert acts == ["relu", "linear", "linear"]
    assert layers[0]["act"]["mean"] == pytest.approx(float(h.mean()), rel=1e-12)
    assert layers[1]["act"] == layers[1]["preact"]
    assert layers[1]["act"]["mean"] == pytest.approx(float(z1.mean()), rel=1e-12)


def test_a_functional_activation_then_a_flatten_is_still_found(tmp_path):
    """fc1 on (batch, 4, 6) inputs, F.relu, a flatten, fc2: the flattened input has as many values
    as fc1's Z, and relu is found (no warning), its statistics those of relu(Z)."""
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 5), nn.Linear(20, 3)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)).reshape(x.shape[0], -1))

    torch.manual_seed(0)
    model = Flat().double()
    x, y = torch.randn(16, 4, 6, dtype=torch.float64), torch.randint(0, 3, (16,))
    with torch.no_grad():
        a = F.relu(model.fc1(x))
    acts, layers = one_watched_step(model, tmp_path, lambda m: F.cross_entropy(m(x), y))
    assert acts == ["relu", "linear"]
    assert layers[0]["act"]["mean"] == pytest.approx(float(a.mean()), rel=1e-12)
    assert layers[0]["act"]["var"] == pytest.approx(float(a.var(unbiased=False)), rel=1e-12)


def test_a_linear_straight_into_a_linear_is_linear_even_where_z_is_positive(tmp_path):
    """Linear -> Linear (no activation between, a low-rank bottleneck): the next input is Z itself.
    Where every pre-activation of the first logged step is > 0, relu(Z) = Z too; the layer is
    `linear` (no dead units), not relu, since nothing but the identity is applied there."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    with torch.no_grad():
        model[0].weight.mul_(0.1)
        model[0].bias.fill_(2.0)  # Z > 0 everywhere
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 3, (8,))
    with torch.no_grad():
        assert bool((model[0](x) > 0).all())
    acts, layers = one_watched_step(model, tmp_path, lambda m: F.cross_entropy(m(x), y))
    assert acts == ["linear", "relu", "linear"]
    assert layers[0]["dead"] is None


@pytest.mark.parametrize("reentrant", [False, True])
def test_activation_checkpointing_gives_the_plain_models_events(tmp_path, reentrant):
    """torch.utils.checkpoint over a block: its forward pass runs again in the backward pass (with
    use_reentrant=True the first one runs without gradients, after which the output layer is called
    before the block's layers are seen again). The events equal the plain model's: the layers in
    forward order, each call counted once."""
    from torch.utils.checkpoint import checkpoint

    class Net(nn.Module):
        def __init__(self, mode):
            super().__init__()
            self.mode = mode
            self.block = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh())
            self.out = nn.Linear(16, 3)

        def forward(self, x):
            h = self.block(x) if self.mode is None else checkpoint(self.block, x, use_reentrant=self.mode)
            return self.out(h)

    def events(mode):
        torch.manual_seed(0)
        model = Net(mode).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(1)
        path = tmp_path / f"ckpt{mode}.layerwise.jsonl"
        with layerwise_torch.watch(model, opt, path) as run:
            for _ in range(3):
                # (a reentrant checkpoint passes gradients on only where its input requires them)
                x = torch.randn(16, 8, generator=g, dtype=torch.float64).requires_grad_(mode is True)
                y = torch.randint(0, 3, (16,), generator=g)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                run.step(loss)
        return [e for e in read_events(path) if e["type"] in ("start", "step", "histogram")]

    plain, checkpointed = events(None), events(reentrant)
    strip = lambda es: [{k: v for k, v in e.items() if k not in ("model", "time", "elapsed")} for e in es]
    assert len(plain) == 5 and compare(strip(checkpointed), strip(plain), 1e-12, 1e-15) == []


def test_a_linear_called_only_without_gradients_is_no_layer(tmp_path):
    """An evaluation head run under torch.no_grad() before training is not a layer: the layers are
    the Linears the first logged step called with gradients enabled."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out, self.probe = nn.Linear(4, 8), nn.Linear(8, 2), nn.Linear(8, 1)

        def forward(self, x):
            return self.out(torch.relu(self.fc(x)))

    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "probe.layerwise.jsonl"
    x, y = batches(1)[0]
    with layerwise_torch.watch(model, opt, path) as run:
        with torch.no_grad():
            model.probe(torch.relu(model.fc(x)))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        run.step()
    start = next(e for e in read_events(path) if e["type"] == "start")
    assert [(lay["fanIn"], lay["units"], lay["activation"]) for lay in start["layers"]] == [(4, 8, "relu"), (8, 2, "linear")]


def test_a_compiled_model_whose_code_skips_the_hooks_is_said_plainly(tmp_path):
    """torch.compile (torch >= 2.0) wraps the model (``_orig_mod``); the hooks go on the original
    modules, and compiled code that does not run them leaves a logged step with no layer: the
    error says so and what to do, instead of only that no nn.Linear ran."""
    inner = net()

    class Compiled(nn.Module):  # what torch.compile returns, as far as watch() can see
        def __init__(self, mod):
            super().__init__()
            self._orig_mod = mod

        def forward(self, x):  # the same function, without the modules' hooks
            h = x
            for m in self._orig_mod:
                h = F.linear(h, m.weight, m.bias) if isinstance(m, nn.Linear) else m.forward(h)
            return h

    model = Compiled(inner)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = layerwise_torch.watch(model, opt, tmp_path / "compiled.layerwise.jsonl")
    x, y = batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    with pytest.raises(RuntimeError, match=r"torch\.compile.*before compiling"):
        run.step()
    run.close()


def test_hooks_that_outlive_their_removal_record_nothing_between_logged_steps(tmp_path):
    """Compiled code (torch.compile with its default skip_nnmodule_hook_guards) keeps calling the
    module hooks present when it compiled, after watch() removed them for the unlogged steps: such
    calls record nothing, so every=2 still describes only the logged steps' passes."""
    logs = []
    for kept in (False, True):
        model = net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"kept{kept}.layerwise.jsonl"
        with layerwise_torch.watch(model, opt, path, every=2) as run:
            if kept:  # the hooks as compiled code inlined them: never removed, never added again
                taps = run.taps
                taps.disarm()
                for m in taps.linears:
                    m.register_forward_hook(taps._linear_hook)
                for m in taps.activations:
                    m.register_forward_hook(taps._activation_hook)
                taps.linears, taps.activations, taps.passes = [], [], []
                taps.arm()
            loop(model, run, opt, batches(5))
        logs.append([e for e in read_events(path) if e["type"] in ("step", "histogram")])
    assert [e["step"] for e in logs[0] if e["type"] == "step"] == [0, 2, 4]
    assert compare(logs[1], logs[0], 1e-12, 1e-15) == []


@pytest.mark.parametrize("kind", ["module", "functional"])
def test_dropout_after_a_functional_activation(tmp_path, kind):
    """x = F.relu(fc1(x)); x = dropout(x); fc2(x) (the MLP part of PyTorch's MNIST example; here
    leaky_relu for the functional dropout): fc2's input is f(Z) with units dropped and the rest
    scaled by 1/(1 - p). The activation is still found (no warning), and its statistics and the
    dead units are those of f(Z) itself, before dropout, as with an activation module."""
    slope = 0.1

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.drop, self.fc2 = nn.Linear(12, 40), nn.Dropout(0.4), nn.Linear(40, 3)

        def act(self, z):
            return F.relu(z) if kind == "module" else F.leaky_relu(z, slope)

        def forward(self, x):
            h = self.act(self.fc1(x))
            return self.fc2(self.drop(h) if kind == "module" else F.dropout(h, 0.4, self.training))

    torch.manual_seed(0)
    model = Net().double()
    x, y = torch.randn(64, 12, dtype=torch.float64), torch.randint(0, 3, (64,))
    with torch.no_grad():
        a = model.act(model.fc1(x))
    acts, layers = one_watched_step(model, tmp_path, lambda m: F.cross_entropy(m(x), y))
    assert acts == ["relu" if kind == "module" else "leaky_relu", "linear"]
    assert layers[0]["act"]["mean"] == pytest.approx(float(a.mean()), rel=1e-12)
    assert layers[0]["act"]["var"] == pytest.approx(float(a.var(unbiased=False)), rel=1e-12)
    assert layers[0]["dead"] == int((a <= 0).all(0).sum() if kind == "module" else (a < 0).all(0).sum())


def test_a_step_without_backward_is_said_once(tmp_path):
    """run.step(loss) without loss.backward() (a classic slip): no gradient reached the model, and
    the optimizer steps on none. A warning says so once, naming the call to add; the events show
    no gradient (weightGrad and biasGrad null, not a bias gradient of 0)."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "nobackward.layerwise.jsonl"
    with pytest.warns(UserWarning, match=r"no backward pass.*loss\.backward\(\) before run\.step") as caught:
        with layerwise_torch.watch(model, opt, path) as run:
            for x, y in batches(3):
                opt.zero_grad()
                run.step(F.cross_entropy(model(x), y))
    assert len([w for w in caught if "backward" in str(w.message)]) == 1
    first = next(e for e in read_events(path) if e["type"] == "step")["layers"][0]
    assert first["weightGrad"]["norm"] is None and first["biasGrad"]["norm"] is None


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_torchscript_model_is_refused_with_what_to_do(tmp_path, how):
    """A TorchScript module runs no Python hooks (and lists no nn.Linear): watch says it is
    TorchScript and what to do, not "no nn.Linear layer", and writes no log."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    compiled = torch.jit.script(model) if how == "script" else torch.jit.trace(model, torch.randn(3, 4))
    path = tmp_path / "ts.layerwise.jsonl"
    with pytest.raises(ValueError, match=r"TorchScript module .* call watch\(\) on the nn\.Module"):
        layerwise_torch.watch(compiled, torch.optim.SGD(compiled.parameters(), lr=0.1), path)
    assert not path.exists()


def test_an_optimizer_whose_step_needs_a_closure_is_refused_up_front(tmp_path):
    """LBFGS.step(closure) evaluates the loss several times a step; run.step calls step() once on
    the step's gradients. watch says so at once (before, run.step died with a TypeError from
    inside torch after the loop's first backward pass); no log is written."""
    model = net()
    path = tmp_path / "lbfgs.layerwise.jsonl"
    with pytest.raises(ValueError, match=r"LBFGS\.step\(\) needs a closure .* use an optimizer that steps on them"):
        layerwise_torch.watch(model, torch.optim.LBFGS(model.parameters()), path)
    assert not path.exists()


def test_an_empty_batch_is_a_step_with_no_samples_not_a_crash(tmp_path):
    """A batch of 0 rows (a filter that kept nothing; sum-reduced loss 0, gradients 0): run.step
    died in torch's amax over no rows. Its step event has no sample statistics and no dead-unit
    verdict; the steps around it are as usual."""
    torch.manual_seed(0)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "empty.layerwise.jsonl"
    sizes = [8, 0, 8]
    with layerwise_torch.watch(model, opt, path) as run:
        for n in sizes:
            opt.zero_grad()
            loss = F.cross_entropy(model(torch.randn(n, 4)), torch.randint(0, 2, (n,)), reduction="sum")
            loss.backward()
            run.step(loss)
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert [e["step"] for e in steps] == [0, 1, 2]
    empty = steps[1]
    assert empty["loss"] == 0 and empty["gradNorm"] == 0 and empty["inputVar"] is None
    for lay in empty["layers"]:
        assert lay["preact"] == {"mean": None, "var": None} and lay["dead"] is None
    assert steps[2]["layers"][0]["dead"] is not None and steps[2]["layers"][0]["preact"]["mean"] is not None


@pytest.mark.parametrize("zeroing", ["optimizer", "model"])
def test_a_call_whose_gradient_was_zeroed_is_not_the_next_steps(tmp_path, zeroing):
    """A GAN: D is stepped on real and fake samples, then called again in G's step, whose backward
    pass runs through it; D's gradients from that are zeroed before D's next step (by D's
    optimizer, or by D.zero_grad() as in PyTorch's DCGAN example). That call counted in D's next
    step (its Z and dL/dZ merged in). D's events now equal its own steps' tensors, and D and its
    optimizer can be pickled and copied meanwhile; close() leaves no attribute behind."""
    import pickle
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 6)).double()
    D = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)).double()
    oD, oG = torch.optim.SGD(D.parameters(), lr=0.05), torch.optim.SGD(G.parameters(), lr=0.05)
    real, noise = torch.randn(4, 32, 6, dtype=torch.float64), torch.randn(4, 32, 4, dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(32, 1, dtype=torch.float64), torch.zeros(32, 1, dtype=torch.float64)
    path = tmp_path / "d.layerwise.jsonl"
    expected = []
    with layerwise_torch.watch(D, oD, path, histograms_every=0) as run:
        for k in range(4):
            fake = G(noise[k])
            (oD if zeroing == "optimizer" else D).zero_grad()
            z0 = D[0](torch.cat([real[k], fake.detach()]))
            z0.retain_grad()
            out = D[2](D[1](z0))
            d_loss = bce(out[:32], ones) + bce(out[32:], zeros)
            d_loss.backward()
            expected.append((float(z0.mean()), float(z0.var(unbiased=False)), float(z0.grad.var(unbiased=False))))
            run.step(d_loss)
            oG.zero_grad()
            bce(D(fake), ones).backward()  # D's layers called again, gradients and all
            oG.step()
            if k == 1:  # the stand-in zero_grad survives copies
                pickle.loads(pickle.dumps(D)).zero_grad()
                copy.deepcopy(oD).zero_grad()
    assert "zero_grad" not in vars(D) and "zero_grad" not in vars(oD)
    steps = [e for e in read_events(path) if e["type"] == "step"]
    for e, (mean, var, gvar) in zip(steps, expected):
        lay = e["layers"][0]
        assert lay["preact"]["mean"] == pytest.approx(mean, rel=1e-12)
        assert lay["preact"]["var"] == pytest.approx(var, rel=1e-12)
        assert lay["grad"]["var"] == pytest.approx(gvar, rel=1e-12)
    assert len(steps) == 4


def test_a_watched_model_can_be_copied_and_saved_whole(tmp_path):
    """copy.deepcopy(model) (a best-model snapshot, an EMA teacher) and torch.save(model) during a
    run raised "cannot pickle 'torch._C.Generator'": the modules' forward hooks took the run along.
    Now the copy and the loaded model carry inert hooks: they run, and their calls (with
    gradients, a backward pass and all) change none of the run's events."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 2, (16,))

    def train(path, snapshot):
        torch.manual_seed(0)
        model = net().double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with layerwise_torch.watch(model, opt, path) as run:
            for _ in range(3):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                if snapshot:
                    best = copy.deepcopy(model)
                    torch.save(model, tmp_path / "model.pt")
                    loaded = torch.load(tmp_path / "model.pt")
                    for other in (best, loaded):
                        F.cross_entropy(other(x * 2), y).backward()
                run.step(loss)
        return [e for e in read_events(path) if e["type"] in ("step", "histogram")]

    plain = train(tmp_path / "plain.jsonl", False)
    copied = train(tmp_path / "copied.jsonl", True)
    assert compare(copied, plain, 0, 0) == []


def test_a_layer_the_optimizer_does_not_hold_is_said_not_told_to_raise_the_rate(tmp_path):
    """An optimizer made of some modules' parameters only (or before a module was added): a layer
    whose weight requires grad but is in no parameter group never changes. Its updateRatio was 0,
    and the update_ratio detector said "barely learns: raise the optimizer's lr". Now its
    updateRatio is null (not measured: the detector skips it) and a warning names the layer, its
    module and the fix."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(list(model[0].parameters()) + list(model[4].parameters()), lr=0.1)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    path = tmp_path / "idle.layerwise.jsonl"
    with pytest.warns(UserWarning, match=r"weight of layer 1 \(model\[2\]\) requires grad but is in no parameter "
                                         r"group of the optimizer given to watch\(\).*never changes.*"
                                         r"model\.parameters\(\)") as caught:
        with layerwise_torch.watch(model, opt, path) as run:
            loop(model, run, opt, [(x, y)] * 25)
    assert sum("no parameter group" in str(w.message) for w in caught) == 1
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert all(e["layers"][1]["updateRatio"] is None for e in steps)
    assert all(e["layers"][i]["updateRatio"] > 0 for e in steps for i in (0, 2))
    assert steps[0]["layers"][1]["weightGrad"]["norm"] > 0  # it has gradients all the same
    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run(["node", os.path.join(repo, "dist", "cli.js"), "watch", str(path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    codes = [(e["code"], e.get("layer")) for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "warning"]
    assert ("update_ratio", 1) not in codes


def test_run_step_with_per_sample_losses_says_what_to_pass(tmp_path):
    """run.step(loss) with a loss of reduction="none" died with "shape '[1]' is invalid for input of
    size 16" from inside the package; it now says the loss must be one value. The run goes on: the
    same step, given loss.mean(), is logged as step 0."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    path = tmp_path / "vec.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path) as run:
        losses = F.cross_entropy(model(x), y, reduction="none")
        losses.mean().backward()
        with pytest.raises(ValueError, match=r"one value, not a tensor of shape \(16,\).*loss\.mean\(\)"):
            run.step(losses)
        run.step(losses.mean())
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert [e["step"] for e in steps] == [0]
    assert steps[0]["loss"] == pytest.approx(float(losses.mean()), rel=1e-6)


def test_an_optimizer_step_left_in_the_loop_is_said_once(tmp_path):
    """loss.backward(); optimizer.step(); run.step(loss): the optimizer steps twice a step (a slip
    when moving a loop to run.step). Torch >= 2.0 has optimizer hooks to notice; on 1.13 nothing
    said so. A warning, once, now names the layer and the step and what to remove."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "twice.layerwise.jsonl"
    with pytest.warns(UserWarning, match=r"(optimizer\.step\(\) was called outside run\.step)|"
                                         r"(layer 0's weights changed between the forward pass and run\.step\(loss\) "
                                         r"at step 0: is optimizer\.step\(\) still called in the loop)") as caught:
        with layerwise_torch.watch(model, opt, path) as run:
            for x, y in batches(3):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                run.step(loss)
    assert sum("optimizer.step()" in str(w.message) for w in caught) == 1


def test_a_plain_loop_and_gradient_accumulation_do_not_warn_of_a_second_update(tmp_path):
    """The version check of the previous test: no warning for the plain loop, nor for micro-batches
    whose backward passes all come before run.step, nor for a weight clipped after the step."""
    import warnings
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with layerwise_torch.watch(model, opt, tmp_path / "ok.layerwise.jsonl", every=2) as run:
            for x, y in batches(4):
                opt.zero_grad()
                for part in (slice(0, 8), slice(8, None)):
                    (F.cross_entropy(model(x[part]), y[part]) / 2).backward()
                run.step()
                with torch.no_grad():
                    model[0].weight.clamp_(-1, 1)


def test_a_step_event_says_its_batch_rows_and_the_detectors_use_them(tmp_path):
    """`samples`: the rows of the step's batch (Z's rows: batch x time for a sequence). An epoch's
    last batch of one row had half of a healthy ReLU layer 'dead', and `layerwise watch` warned
    dying_relu on it (the core judges dead units on 8 rows or more; a log did not say its rows)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path / "rows.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, path) as run:
        for n in (16, 1, 16):
            opt.zero_grad()
            loss = F.cross_entropy(model(torch.randn(n, 4)), torch.randint(0, 2, (n,)))
            loss.backward()
            run.step(loss)
        opt.zero_grad()
        seq = model(torch.randn(3, 5, 4))  # a (batch, time, features) input: 15 rows of Z
        F.cross_entropy(seq.reshape(-1, 2), torch.randint(0, 2, (15,))).backward()
        run.step()
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert [e["samples"] for e in steps] == [16, 1, 16, 15]
    assert steps[1]["layers"][0]["dead"] > 16  # about half of 64 units on one row
    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run(["node", os.path.join(repo, "dist", "cli.js"), "watch", str(path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [e for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "warning" and e["code"] == "dying_relu"] == []


def test_a_sequence_model_pooled_before_its_head_says_its_rows_and_warns_of_nothing(tmp_path):
    """Token layers on (batch, time, features) inputs, the mean over time, then a head: Z has
    batch x time rows below the pooling and batch rows in the head, and each token's dL/dZ is 1/T
    of the pooled one. `layerwise watch` compared every layer's Var(dL/dZ) with the head's and
    warned vanishing_gradient (1e-5 at T = 32) on a He-initialised net; the head now says its rows
    (`rows`, where they differ from `samples`), and dL/dZ is compared over the same rows only."""
    B, T = 16, 32

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.head = nn.Linear(8, 32), nn.Linear(32, 32), nn.Linear(32, 4)
            for m in (self.a, self.b):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

        def forward(self, x):
            return self.head(F.relu(self.b(F.relu(self.a(x)))).mean(1))

    torch.manual_seed(0)
    model = Pooled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    path = tmp_path / "pooled.layerwise.jsonl"
    g = torch.Generator().manual_seed(1)
    with layerwise_torch.watch(model, opt, path) as run:
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(torch.randn(B, T, 8, generator=g)), torch.randint(0, 4, (B,), generator=g))
            loss.backward()
            run.step(loss)
    steps = [e for e in read_events(path) if e["type"] == "step"]
    assert [e["samples"] for e in steps] == [B * T] * 5
    assert [[l.get("rows") for l in e["layers"]] for e in steps] == [[None, None, B]] * 5
    # the token layers' dL/dZ is ~1/T of the head's per row: across the pooling the ratio is T^-2-ish
    assert steps[0]["layers"][1]["grad"]["var"] < 1e-3 * steps[0]["layers"][2]["grad"]["var"]
    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run(["node", os.path.join(repo, "dist", "cli.js"), "watch", str(path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    codes = [e["code"] for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "warning"]
    assert "vanishing_gradient" not in codes and "exploding_gradient" not in codes, codes


def test_losses_back_propagated_one_by_one_are_said_a_gradient_penalty_is_not(tmp_path):
    """Two losses of one forward pass back-propagated one at a time: each layer's dL/dZ hook fires
    twice and the statistics are the last pass's (the parameters' gradients hold the sum): a
    warning says so, once. A gradient penalty (autograd.grad with create_graph=True, then the
    backward pass) fires twice too, but there the backward pass's dL/dZ is the step's: no warning,
    and the statistics equal dL/dZ taken by hand."""
    import warnings
    torch.manual_seed(0)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 2, (16,))
    model = net().double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=r"at step 0, layer 0's dL/dZ came from more than one backward pass") as caught:
        with layerwise_torch.watch(model, opt, tmp_path / "two.layerwise.jsonl") as run:
            for _ in range(2):
                opt.zero_grad()
                out = model(x)
                F.cross_entropy(out, y).backward(retain_graph=True)
                (out ** 2).mean().backward()
                run.step()
    assert sum("more than one backward pass" in str(w.message) for w in caught) == 1

    model = net().double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "gp.layerwise.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with layerwise_torch.watch(model, opt, path) as run:
            opt.zero_grad()
            xi = x.clone().requires_grad_(True)
            z0 = model[0](xi)
            out = model[4](model[3](model[2](model[1](z0))))
            g, = torch.autograd.grad(out.sum(), xi, create_graph=True)
            loss = F.cross_entropy(out, y) + ((g.norm(dim=1) - 1) ** 2).mean()
            dz0, = torch.autograd.grad(loss, z0, retain_graph=True)  # the step's dL/dZ, by hand
            loss.backward()
            run.step()
    layer0 = next(e for e in read_events(path) if e["type"] == "step")["layers"][0]
    assert layer0["grad"]["var"] == pytest.approx(float(dz0.var(unbiased=False)), rel=1e-9)


def test_watching_a_model_again_closes_the_run_never_closed(tmp_path):
    """A notebook cell run again: run = watch(model, ...) a second time, the first run never closed.
    Its hooks went on recording beside the new run's (every forward pass paid twice, its calls
    kept), and its zero_grad stand-in stayed the model's. Now the earlier run is closed first, with
    a warning: its log ends 'stopped', one set of hooks records, and the new run's events are those
    of a run alone."""
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

    def steps(run, model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first = layerwise_torch.watch(model, opt, tmp_path / "a.layerwise.jsonl")
    steps(first, model, opt, 2)
    hooks = len(model[0]._forward_hooks)
    with pytest.warns(UserWarning, match="an earlier run watching this model was never closed"):
        second = layerwise_torch.watch(model, opt, tmp_path / "b.layerwise.jsonl")
    assert len(model[0]._forward_hooks) == hooks
    alone = copy.deepcopy(model)  # the same state, watched alone below
    steps(second, model, opt, 2)
    second.close()
    a = read_events(tmp_path / "a.layerwise.jsonl")
    assert a[-1]["type"] == "end" and a[-1]["reason"] == "stopped" and a[-1]["steps"] == 2
    assert "zero_grad" not in vars(model) and "zero_grad" not in vars(opt)
    alone_opt = torch.optim.SGD(alone.parameters(), lr=0.1)
    with layerwise_torch.watch(alone, alone_opt, tmp_path / "c.layerwise.jsonl") as run:
        steps(run, alone, alone_opt, 2)
    b = [e for e in read_events(tmp_path / "b.layerwise.jsonl") if e["type"] == "step"]
    c = [e for e in read_events(tmp_path / "c.layerwise.jsonl") if e["type"] == "step"]
    assert len(b) == 2 and compare(b, c, 0, 0) == []


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])

    def forward(self, x):
        x = self.act(self.fc1(x))
        for b in self.blocks:
            x = torch.tanh(b(x))
        return x


class _Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = _Encoder()
        self.add_module("head", nn.Linear(8, 2))

    def forward(self, x):
        return self.head(self.encoder(x))


def test_start_names_each_layers_module_and_the_line_that_assigns_it(tmp_path):
    # the layers of a custom model, by their names in it and the line of this file that creates them
    model = _Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "a.layerwise.jsonl"
    with layerwise_torch.watch(model, opt, str(path)) as run:
        loop(model, run, opt, batches(1))
    start = read_events(path)[0]
    src = open(__file__).read().splitlines()

    def line_of(text):
        hits = [i + 1 for i, t in enumerate(src) if t.strip().startswith(text)]
        assert len(hits) == 1, text
        return hits[0]
    here = os.path.abspath(__file__)
    assert start["modules"] == [
        {"name": "encoder.fc1", "file": here, "line": line_of("self.fc1 = nn.Linear(4, 8)")},
        {"name": "encoder.blocks.0", "file": here, "line": line_of("self.blocks = nn.ModuleList(")},
        {"name": "encoder.blocks.1", "file": here, "line": line_of("self.blocks = nn.ModuleList(")},
        {"name": "head", "file": here, "line": line_of('self.add_module("head"')},
    ]
    assert [layer["activation"] for layer in start["layers"]] == ["relu", "tanh", "tanh", "linear"]
    # an nn.Sequential built here: its names, and no line of torch's own code
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with layerwise_torch.watch(model, opt, str(path)) as run:
        loop(model, run, opt, batches(1))
    assert read_events(path)[0]["modules"] == [{"name": "0"}, {"name": "2"}, {"name": "4"}]
    # a wrapper's own attribute is no part of the name (checkpoint_wrapper, as FSDP and compile wrap)
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), checkpoint_wrapper(nn.Linear(8, 8)), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with layerwise_torch.watch(model, opt, str(path)) as run:
        loop(model, run, opt, batches(1))
    assert read_events(path)[0]["modules"] == [{"name": "0"}, {"name": "2"}, {"name": "4"}]
    # the model is the Linear: the model itself, "" as named_modules() names it (its class name
    # would read "model.Linear" in every label and fix)
    lin = nn.Linear(4, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    with layerwise_torch.watch(lin, opt, str(path)) as run:
        loop(lin, run, opt, batches(1))
    assert read_events(path)[0]["modules"] == [{"name": ""}]
    with layerwise_torch.watch(lin, opt, str(path)) as run:
        opt.zero_grad()
        lin(torch.full((3, 4), float("nan"))).sum().backward()
        with pytest.raises(layerwise_torch.NonFiniteError, match=r"given to layer 0 \(model\)\)"):
            run.step()
