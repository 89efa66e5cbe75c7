"""Histogram events of ``watch``: the rule of docs/events.md (as core/histogram.ts computes it),
checked against the layer tensors computed directly by autograd, and ``histograms_every``."""
import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import layerwise_torch


def reference(values, eps=2.0 ** -52):
    """The rule written out plainly: moments of the finite non-zero values, 4 sd limits, 32 bins
    (eps: the machine epsilon of the values' dtype, for "all equal to rounding")."""
    vals = [float(v) for v in values]
    fin = [v for v in vals if v != 0 and math.isfinite(v)]
    zeros = sum(1 for v in vals if v == 0)
    nonf = sum(1 for v in vals if not math.isfinite(v))
    if not fin:
        return {"edges": [], "counts": [], "zeros": zeros, "below": 0, "above": 0, "nonFinite": nonf}
    mean = sum(fin) / len(fin)
    sd = math.sqrt(sum((v - mean) ** 2 for v in fin) / len(fin))
    lo, hi = max(min(fin), mean - 4 * sd), min(max(fin), mean + 4 * sd)
    h = max(abs(mean) * 2.0 ** 10 * eps, 1e-30)
    if max(fin) - min(fin) < h / 32 or not hi > lo:
        lo, hi = mean - 33 * h / 32, mean + 31 * h / 32
    edges = [hi if j == 32 else lo + (hi - lo) * j / 32 for j in range(33)]
    counts, below, above = [0] * 32, 0, 0
    for v in fin:
        if v < lo:
            below += 1
        elif v > hi:
            above += 1
        else:
            counts[min(31, math.floor((v - lo) * (32 / (hi - lo))))] += 1
    return {"edges": edges, "counts": counts, "zeros": zeros, "below": below, "above": above, "nonFinite": nonf}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(5, 24), nn.Linear(24, 16), nn.Linear(16, 3)
        self.relu, self.tanh = nn.ReLU(), nn.Tanh()

    def forward(self, x):
        return self.c(self.tanh(self.b(self.relu(self.a(x)))))


def events(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_histograms_equal_the_rule_on_the_tensors_autograd_computes(tmp_path):
    torch.manual_seed(0)
    model = Net().double()
    with torch.no_grad():
        model.a.bias.fill_(-0.3)
    x = torch.randn(40, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    # the tensors, directly
    z1 = model.a(x)
    a1 = torch.relu(z1)
    z2 = model.b(a1)
    a2 = torch.tanh(z2)
    z3 = model.c(a2)
    for t in (z1, z2, z3):
        t.retain_grad()
    F.cross_entropy(z3, y).backward()
    want = [(z1, a1, z1.grad), (z2, a2, z2.grad), (z3, z3, z3.grad)]
    model.zero_grad()
    path = str(tmp_path / "h.layerwise.jsonl")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with layerwise_torch.watch(model, opt, path, histograms_every=1) as run:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        run.step(loss)
    ev = events(path)
    types = [e["type"] for e in ev]
    assert types[:3] == ["start", "step", "histogram"], types
    h = ev[2]
    assert h["step"] == 0
    for i, (z, a, g) in enumerate(want):
        for q, t in (("preact", z), ("act", a), ("grad", g)):
            got, ref = h["layers"][i][q], reference(t.detach().reshape(-1).tolist())
            assert {k: v for k, v in got.items() if k != "edges"} == {k: v for k, v in ref.items() if k != "edges"}, (i, q)
            assert got["edges"] == pytest.approx(ref["edges"], rel=1e-12, abs=1e-300)
    assert h["layers"][0]["act"]["zeros"] > 0


def test_histograms_every_k_logged_steps_and_off(tmp_path):
    def run(path, **kw):
        torch.manual_seed(1)
        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        with layerwise_torch.watch(model, opt, path, **kw) as r:
            for _ in range(12):
                opt.zero_grad()
                loss = F.cross_entropy(model(torch.randn(8, 5)), torch.randint(0, 3, (8,)))
                loss.backward()
                r.step(loss)
        return [e["step"] for e in events(path) if e["type"] == "histogram"]

    assert run(str(tmp_path / "a.jsonl")) == [0, 10]  # default every 10
    assert run(str(tmp_path / "b.jsonl"), histograms_every=4) == [0, 4, 8]
    assert run(str(tmp_path / "c.jsonl"), histograms_every=4, every=3) == [0]  # logged steps only: 0, 3, 6, 9
    assert run(str(tmp_path / "d.jsonl"), histograms_every=0) == []
    with pytest.raises(ValueError):
        layerwise_torch.watch(Net(), torch.optim.SGD(Net().parameters(), lr=0.1), str(tmp_path / "e.jsonl"),
                              histograms_every=-1)


@pytest.mark.parametrize("waits", [False, True])
@pytest.mark.parametrize("chunk", [None, 100, 48, 10])
def test_histogram_event_equals_the_rule_on_awkward_values(chunk, waits, monkeypatch):
    """Every path of the grouped computation against the plain rule: zeros inside the range and
    below it, only negative values with zeros, NaN and Inf, all zeros, one value repeated, values on
    the edges, a layer seen in two forward calls, and the gradient scaled by the rank's share; with
    the segments in one set of matrices, and (chunk: bounded memory) in chunks of two segments, of
    one, and of one segment longer than a chunk, each filled again for the counts. waits: as on a
    device whose reads wait (CUDA), the rows' non-zero extremes in one transfer, none row by row."""
    from layerwise_torch import _device, _hist
    if chunk is not None:
        monkeypatch.setattr(_hist, "CHUNK", chunk)
        monkeypatch.setattr(_hist, "KEEP", chunk // 2)  # the larger chunks' matrices made per use
    monkeypatch.setattr(_device, "reads_wait", lambda t: waits)
    scalar_reads = []
    to_float = torch.Tensor.__float__
    monkeypatch.setattr(torch.Tensor, "__float__", lambda t: scalar_reads.append(1) or to_float(t))

    g = torch.Generator().manual_seed(3)
    n = 48
    mixed = torch.randn(n, generator=g, dtype=torch.float64)
    mixed[::5] = 0
    relu = mixed.clamp(min=0)
    neg = -relu
    bad = torch.randn(n, generator=g, dtype=torch.float64)
    bad[3], bad[7], bad[9], bad[11] = math.nan, math.inf, -math.inf, 0.0
    zeros = torch.zeros(n, dtype=torch.float64)
    same = torch.full((n,), 2.5, dtype=torch.float64)
    heavy = torch.randn(n, generator=g, dtype=torch.float64)
    heavy[0], heavy[1] = 40.0, -35.0  # beyond 4 sd: below and above
    two_calls = [torch.randn(n // 2, generator=g), torch.randn(n // 2, generator=g)]  # float32
    layers = [
        {"preact": [mixed], "act": [relu], "grad": [neg]},
        {"preact": [bad], "act": [zeros], "grad": [same]},
        {"preact": [heavy], "act": two_calls, "grad": [mixed.float()]},
        {"preact": [relu[:10]], "act": [], "grad": [bad[:10]]},
    ]
    share = 0.375
    for work in (None, _hist.Work()):
        for _ in range(2):  # the work matrices reused
            ev = _hist.histogram_event(7, layers, share, work=work)
            assert ev["type"] == "histogram" and ev["step"] == 7
            for i, l in enumerate(layers):
                for q in ("preact", "act", "grad"):
                    vals = torch.cat([t.reshape(-1).to(torch.float64) for t in l[q]]) if l[q] else torch.zeros(0)
                    if q == "grad":
                        vals = vals * share
                    got, ref = ev["layers"][i][q], reference(vals.tolist())
                    assert {k: v for k, v in got.items() if k != "edges"} == \
                        {k: v for k, v in ref.items() if k != "edges"}, (i, q, got, ref)
                    assert got["edges"] == pytest.approx(ref["edges"], rel=1e-12, abs=1e-300), (i, q)
                    total = sum(got["counts"]) + got["zeros"] + got["below"] + got["above"] + got["nonFinite"]
                    assert total == vals.numel()
    assert (len(scalar_reads) == 0) == waits  # (the rows with zeros at an extreme: read one by one on the CPU)
    h = ev["layers"]
    assert h[1]["preact"]["nonFinite"] == 3 and h[1]["act"]["zeros"] == n
    assert h[2]["preact"]["below"] == 1 and h[2]["preact"]["above"] == 1
    assert h[0]["act"]["zeros"] > 0 and h[0]["grad"]["zeros"] > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_values_equal_but_for_rounding_fall_in_the_middle_bin(dtype):
    """A dead unit's constant output computed by another batch split (a second process) is the same
    value to a few ulps. Bins over [min, max] put such values at both ends, and each split in other
    bins: a two-rank run's histogram differed from one process's. They are one bin now, the 16th,
    however their last bits fall (one call, and the same values shifted by a few ulps)."""
    from layerwise_torch import _hist
    base = torch.tensor(-10.190118380640493, dtype=dtype)
    ulp = float(torch.finfo(dtype).eps) * 8  # at |v| in [8, 16)
    for shift in (0, 7, -5):
        vals = base + torch.tensor([0.0, 2, -3, 1, 5], dtype=dtype) * ulp + shift * ulp
        ev = _hist.histogram_event(0, [{"preact": [vals], "act": [vals], "grad": [vals]}], 1.0)
        for q in ("preact", "act", "grad"):
            got = ev["layers"][0][q]
            assert [j for j, c in enumerate(got["counts"]) if c] == [16], (shift, q, got)
            ref = reference(vals.tolist(), float(torch.finfo(dtype).eps) if dtype == torch.float64 else 2.0 ** -23)
            assert got["counts"] == ref["counts"] and got["edges"] == pytest.approx(ref["edges"], rel=1e-12)


class _TwinRanks:
    """torch.distributed as two ranks holding the same values would see it: all_gather gives this
    rank's tensor twice, all_reduce doubles."""

    @staticmethod
    def all_gather(parts, local, group=None):
        for p in parts:
            p.copy_(local)

    @staticmethod
    def all_reduce(t, group=None):
        t.mul_(2)


@pytest.mark.parametrize("chunk", [None, 48, 10])
def test_distributed_histogram_equals_the_rule_on_both_ranks_values(chunk, monkeypatch):
    """Under torch.distributed the edges wait for every rank's moments: each chunk is filled for the
    moments and again for the counts (one process fills it once). Two ranks with the same values:
    the rule over the values twice, on every path."""
    from layerwise_torch import _hist
    if chunk is not None:
        monkeypatch.setattr(_hist, "CHUNK", chunk)
        monkeypatch.setattr(_hist, "KEEP", chunk // 2)
    g = torch.Generator().manual_seed(5)
    n = 24
    mixed = torch.randn(n, generator=g, dtype=torch.float64)
    mixed[::4] = 0
    bad = torch.randn(n, generator=g, dtype=torch.float64)
    bad[2], bad[5] = math.nan, math.inf
    layers = [{"preact": [mixed], "act": [mixed.clamp(min=0)], "grad": [bad]},
              {"preact": [torch.randn(n, generator=g)], "act": [torch.zeros(n)], "grad": [mixed[:12]]}]
    ev = _hist.histogram_event(3, layers, 0.5, dist=_TwinRanks, world=2, work=_hist.Work())
    for i, l in enumerate(layers):
        for q in ("preact", "act", "grad"):
            vals = l[q][0].to(torch.float64) * (0.5 if q == "grad" else 1.0)
            got, ref = ev["layers"][i][q], reference(torch.cat([vals, vals]).tolist())
            assert {k: v for k, v in got.items() if k != "edges"} == \
                {k: v for k, v in ref.items() if k != "edges"}, (i, q, got, ref)
            assert got["edges"] == pytest.approx(ref["edges"], rel=1e-12, abs=1e-300), (i, q)
