"""torch.distributed: two gloo processes, each given half of every batch under DDP, write the log
that one process writes on the whole batch (within 1e-6, float64); and parameters sharded by hand
over two ranks (as FSDP shards them) give the statistics of the whole tensors."""
import json
import os
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn import functional as F

import layerwise_torch
from fixtures import compare, read_events

STEPS = 6


class Net(nn.Module):
    """Module activations, an in-place one and a functional one (its statistics come from the next input)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 16)
        self.b = nn.Linear(16, 16)
        self.c = nn.Linear(16, 12)
        self.d = nn.Linear(12, 3)
        self.tanh = nn.Tanh()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.relu(self.a(x))
        h = self.tanh(self.b(h))
        h = F.leaky_relu(self.c(h), 0.2)
        return self.d(h)


def data():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(STEPS, 32, 6, generator=g, dtype=torch.float64) * 1.5
    y = torch.randint(0, 3, (STEPS, 32), generator=g)
    return x, y


def make():
    torch.manual_seed(11)
    model = Net().double()
    with torch.no_grad():
        model.a.bias.fill_(-0.6)  # some dead ReLU units
    return model


def held_out():
    g = torch.Generator().manual_seed(4)
    return torch.randn(20, 6, generator=g, dtype=torch.float64) * 1.5, torch.randint(0, 3, (20,), generator=g)


def train(model, path, xs, ys, val=None, **kw):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with layerwise_torch.watch(model, opt, path, **kw) as run:
        for k, (x, y) in enumerate(zip(xs, ys)):
            if val is not None and k % 2 == 0:
                # this process's share of the held-out samples, at the parameters before step k's update
                with torch.no_grad():
                    out = model(val[0])
                    run.validation(F.cross_entropy(out, val[1]), len(val[1]), int((out.argmax(1) == val[1]).sum()))
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)


def ddp_start(rank, world, init):
    """This rank in a gloo group of `world`, on one thread: the test's model under DDP."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.set_num_threads(1)
    return nn.parallel.DistributedDataParallel(make())


def ddp_worker(rank, world, init, path):
    model = ddp_start(rank, world, init)
    x, y = data()
    half = x.shape[1] // world
    vx, vy = held_out()
    vh = len(vy) // world
    train(model, path, x[:, rank * half:(rank + 1) * half], y[:, rank * half:(rank + 1) * half],
          val=(vx[rank * vh:(rank + 1) * vh], vy[rank * vh:(rank + 1) * vh]),
          clip={"mode": "norm", "max": 0.5}, histograms_every=2, sharpness_every=3)
    del model  # DDP's reducer must go before its process group (else its destructor can hang)
    dist.barrier()
    dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    one = str(tmp_path / "one.layerwise.jsonl")
    x, y = data()
    train(make(), one, x, y, val=held_out(), clip={"mode": "norm", "max": 0.5}, histograms_every=2,
          sharpness_every=3)
    two = str(tmp_path / "two.layerwise.jsonl")
    mp.spawn(ddp_worker, args=(2, f"file://{tmp_path}/rdzv", two), nprocs=2, join=True)
    a, b = read_events(one), read_events(two)
    assert b[0]["worldSize"] == 2 and a[0]["worldSize"] == 1
    sa = [e for e in a if e["type"] == "step"]
    sb = [e for e in b if e["type"] == "step"]
    assert len(sa) == len(sb) == STEPS
    assert compare(sb, sa, 1e-6, 1e-12)[:10] == []
    assert any(l["dead"] for e in sa for l in e["layers"][:1]), "the test must have dead units"
    assert [l["activation"] for l in b[0]["layers"]] == ["relu", "tanh", "leaky_relu", "linear"]
    assert b[0]["layers"][2]["alpha"] == pytest.approx(0.2)
    # the user's names, not DDP's "module.a"
    assert [m["name"] for m in b[0]["modules"]] == [m["name"] for m in a[0]["modules"]] == ["a", "b", "c", "d"]
    assert b[-1] == {**b[-1], "type": "end", "reason": "completed", "steps": STEPS}
    # histograms of the global batch: the same counts (edges from the merged moments, within 1e-9)
    ha = [e for e in a if e["type"] == "histogram"]
    hb = [e for e in b if e["type"] == "histogram"]
    assert [e["step"] for e in ha] == [e["step"] for e in hb] == [0, 2, 4]
    for ea, eb in zip(ha, hb):
        for la, lb in zip(ea["layers"], eb["layers"]):
            for q in ("preact", "act", "grad"):
                ka, kb = la[q], lb[q]
                assert {k: v for k, v in kb.items() if k != "edges"} == {k: v for k, v in ka.items() if k != "edges"}, (ea["step"], la["index"], q)
                assert kb["edges"] == pytest.approx(ka["edges"], rel=1e-9, abs=1e-15)
                assert sum(ka["counts"]) + ka["zeros"] + ka["below"] + ka["above"] + ka["nonFinite"] == 32 * [16, 16, 12, 3][la["index"]]
    assert ha[0]["layers"][0]["act"]["zeros"] > 0, "the ReLU layer's zeros are counted apart"
    # lambda_max of the global batch's loss (each rank's products weighted by its share and summed),
    # not rank 0's half: the one process's, product for product
    pa = [e for e in a if e["type"] == "sharpness"]
    pb = [e for e in b if e["type"] == "sharpness"]
    assert [e["step"] for e in pa] == [e["step"] for e in pb] == [0, 3]
    for ea, eb in zip(pa, pb):
        assert eb["lambdaMax"] == pytest.approx(ea["lambdaMax"], rel=1e-9)
        assert eb["iterations"] == ea["iterations"] and eb["threshold"] == ea["threshold"]
    # the held-out loss over both ranks' halves is the one process's over all 20 samples; the one
    # given before the first step is written after `start`
    va = [e for e in a if e["type"] == "validation"]
    vb = [e for e in b if e["type"] == "validation"]
    assert a[0]["type"] == b[0]["type"] == "start" and a[1]["type"] == b[1]["type"] == "validation"
    assert [e["step"] for e in va] == [e["step"] for e in vb] == list(range(0, STEPS, 2))
    for ea, eb in zip(va, vb):
        assert eb["loss"] == pytest.approx(ea["loss"], rel=1e-12)
        assert eb["accuracy"] == ea["accuracy"] and eb["samples"] == ea["samples"] == 20
    vx, vy = held_out()
    with torch.no_grad():
        m = make()
        ref = F.cross_entropy(m(vx), vy).item()
    assert va[0]["loss"] == pytest.approx(ref, rel=1e-12), "step 0's is the initial parameters'"
    assert va[-1]["loss"] != va[0]["loss"]


class HandSharded:
    """FSDP's sharding by hand: after backward each rank keeps its rows of every parameter and
    gradient; step() updates the shard (SGD); unshard() gathers the shards for the next forward."""

    def __init__(self, model, lr, rank, world):
        self.model, self.lr, self.rank, self.world = model, lr, rank, world
        self.param_groups = [{"lr": lr}]

    def shard(self):
        for lin in (m for m in self.model.modules() if isinstance(m, nn.Linear)):
            for name in ("weight", "bias"):
                p = getattr(lin, name)
                rows = torch.tensor_split(torch.arange(p.shape[0]), self.world)[self.rank]
                sp = nn.Parameter(p.detach()[rows].clone())
                sp.grad = p.grad[rows].clone()
                setattr(lin, name, sp)

    def step(self):
        for p in self.model.parameters():
            with torch.no_grad():
                p -= self.lr * p.grad

    def unshard(self):
        for lin in (m for m in self.model.modules() if isinstance(m, nn.Linear)):
            for name in ("weight", "bias"):
                p = getattr(lin, name)
                parts = [None] * self.world
                dist.all_gather_object(parts, p.detach())
                setattr(lin, name, nn.Parameter(torch.cat(parts)))


def shard_worker(rank, world, init, paths):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = make()
    opt = HandSharded(model, 0.1, rank, world)
    x, y = data()
    # every rank sees the whole batch: the data-parallel group is this rank alone
    solo = [dist.new_group([r]) for r in range(world)][rank]
    # (each rank is rank 0 of its data-parallel group, so each writes a log: one path each)
    with layerwise_torch.watch(model, opt, paths[rank], group=solo, shard_group=dist.group.WORLD) as run:
        for k, (xb, yb) in enumerate(zip(x, y)):
            if k:
                opt.unshard()
            for p in model.parameters():
                p.grad = None
            F.cross_entropy(model(xb), yb).backward()
            opt.shard()
            run.step()
    # as the other workers: both ranks past every collective before either tears its groups down
    # (without it one CI run saw rank 0 abort in gloo's teardown, "terminate called without an
    # active exception"; 1 in 15 runs with a busy process on one core, here)
    del model, opt
    dist.barrier()
    dist.destroy_process_group()


def test_sharded_parameters_sum_over_the_shard_group(tmp_path):
    one = str(tmp_path / "one.layerwise.jsonl")
    x, y = data()
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with layerwise_torch.watch(model, opt, one) as run:
        for xb, yb in zip(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            run.step()
    paths = [str(tmp_path / f"rank{r}.layerwise.jsonl") for r in range(2)]
    mp.spawn(shard_worker, args=(2, f"file://{tmp_path}/rdzv", paths), nprocs=2, join=True)
    a = [e for e in read_events(one) if e["type"] == "step"]
    keep = ("weight", "weightGrad", "biasGrad", "updateRatio", "preact", "grad")
    strip = lambda es: [{"gradNorm": e["gradNorm"], "layers": [{k: l[k] for k in keep} for l in e["layers"]]} for e in es]
    for path in paths:  # each rank's log: its shard's sums and the other's
        b = [e for e in read_events(path) if e["type"] == "step"]
        assert len(a) == len(b) == STEPS
        assert compare(strip(b), strip(a), 1e-6, 1e-12)[:10] == []



def sparse_worker(rank, world, init, path):
    model = ddp_start(rank, world, init)
    x, y = data()
    half = x.shape[1] // world
    train(model, path, x[:, rank * half:(rank + 1) * half], y[:, rank * half:(rank + 1) * half], every=4)
    del model
    dist.barrier()
    dist.destroy_process_group()


def test_two_ranks_logging_every_fourth_step_equal_one_process(tmp_path):
    """every=4, no clipping: steps 1 and 2 take run.step's short path (no collective, nothing read)
    on both ranks; the logged steps 0 and 4 are the whole batch's, as one process writes them."""
    x, y = data()
    one = str(tmp_path / "one.layerwise.jsonl")
    train(make(), one, x, y, every=4)
    two = str(tmp_path / "two.layerwise.jsonl")
    mp.spawn(sparse_worker, args=(2, f"file://{tmp_path}/rdzv", two), nprocs=2, join=True)
    a, b = read_events(one), read_events(two)
    sa = [e for e in a if e["type"] == "step"]
    sb = [e for e in b if e["type"] == "step"]
    assert [e["step"] for e in sa] == [e["step"] for e in sb] == [0, 4]
    assert compare(sb, sa, 1e-6, 1e-12)[:10] == []
    assert b[-1] == {**b[-1], "type": "end", "reason": "completed", "steps": STEPS}

UNEVEN = 20  # rank 0's rows of a 32-row batch; rank 1 has the other 12


def uneven_worker(rank, world, init, path):
    model = ddp_start(rank, world, init)
    x, y = data()
    rows = slice(0, UNEVEN) if rank == 0 else slice(UNEVEN, None)
    train(model, path, x[:1, rows], y[:1, rows], histograms_every=1, sharpness_every=1)
    del model
    dist.barrier()
    dist.destroy_process_group()


def test_unequal_shares_describe_the_global_batch(tmp_path):
    """Ranks given 20 and 12 of a batch's 32 rows: the samples' statistics (loss, Z, f(Z), dL/dZ,
    dead units, histograms) are the whole batch's; the gradients are the ones DDP applies, its
    average of the ranks' mean-loss gradients, which is not the whole batch's where the shares differ."""
    x, y = data()
    one = str(tmp_path / "one.layerwise.jsonl")
    train(make(), one, x[:1], y[:1], histograms_every=1, sharpness_every=1)
    two = str(tmp_path / "two.layerwise.jsonl")
    mp.spawn(uneven_worker, args=(2, f"file://{tmp_path}/rdzv", two), nprocs=2, join=True)
    a, b = read_events(one), read_events(two)
    sa = [e for e in a if e["type"] == "step"]
    sb = [e for e in b if e["type"] == "step"]
    grads = ("gradNorm", "gradNormClipped", "weightGrad", "biasGrad", "updateRatio")
    samples = lambda es: [{k: v for k, v in e.items() if k not in grads and k != "layers"}
                          | {"layers": [{k: v for k, v in l.items() if k not in grads} for l in e["layers"]]}
                          for e in es]
    assert compare(samples(sb), samples(sa), 1e-6, 1e-12)[:10] == []
    # lambda_max: the shares (20/32, 12/32) weight the ranks' Hessian-vector products
    (pa,), (pb,) = [e for e in a if e["type"] == "sharpness"], [e for e in b if e["type"] == "sharpness"]
    assert pb["lambdaMax"] == pytest.approx(pa["lambdaMax"], rel=1e-9) and pb["iterations"] == pa["iterations"]
    ha = [e for e in a if e["type"] == "histogram"]
    hb = [e for e in b if e["type"] == "histogram"]
    for la, lb in zip(ha[0]["layers"], hb[0]["layers"]):
        for q in ("preact", "act", "grad"):
            assert {k: v for k, v in lb[q].items() if k != "edges"} == {k: v for k, v in la[q].items() if k != "edges"}
    # what DDP applies: the mean of the two ranks' mean-loss gradients
    model = make()
    parts = []
    for rows in (slice(0, UNEVEN), slice(UNEVEN, None)):
        model.zero_grad()
        F.cross_entropy(model(x[0, rows]), y[0, rows]).backward()
        parts.append([p.grad.clone() for p in model.parameters()])
    applied = [(g0 + g1) / 2 for g0, g1 in zip(*parts)]
    norm = torch.sqrt(sum((g * g).sum() for g in applied)).item()
    assert sb[0]["gradNorm"] == pytest.approx(norm, rel=1e-9)
    assert abs(sa[0]["gradNorm"] - norm) > 1e-3 * norm, "the shares must differ enough to tell"
    for i, lin in enumerate(m for m in model.modules() if isinstance(m, nn.Linear)):
        gw = applied[2 * i]
        assert sb[0]["layers"][i]["weightGrad"]["norm"] == pytest.approx(gw.norm().item(), rel=1e-9)
        assert sb[0]["layers"][i]["biasGrad"]["norm"] == pytest.approx(applied[2 * i + 1].norm().item(), rel=1e-9)


def spawn_within(worker, args, hang, seconds=120):
    """Two processes of worker(rank, *args); fails the test with `hang` (and kills them) where they
    have not ended within `seconds`: a rank waiting in a collective the other never enters."""
    ctx = mp.spawn(worker, args=args, nprocs=2, join=False)
    deadline = time.monotonic() + seconds
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(hang)


def one_rank_without_closure_worker(rank, world, init, path):
    model = ddp_start(rank, world, init)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data()
    half = x.shape[1] // world
    with layerwise_torch.watch(model, opt, path, sharpness_every=1) as run:
        for k in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(model(x[k, rank * half:(rank + 1) * half]), y[k, rank * half:(rank + 1) * half])
            if rank == 1:
                loss = loss * 1.0  # a loss whose last op is not cross-entropy's: no closure of its own here
            loss.backward()
            run.step(loss)
    del model
    dist.barrier()
    dist.destroy_process_group()


def test_a_rank_without_lambda_max_is_agreed_on_not_waited_for(tmp_path):
    """Where one rank cannot make lambda_max's closure and the other can, both skip it (the other
    would wait in its first all_reduce for ever): the run ends, with no sharpness event."""
    path = str(tmp_path / "two.layerwise.jsonl")
    spawn_within(one_rank_without_closure_worker, (2, f"file://{tmp_path}/rdzv", path),
                 "the ranks waited for each other (a collective one of them never entered)")
    events = read_events(path)
    assert [e["type"] for e in events].count("step") == 2 and events[-1]["type"] == "end"
    assert not [e for e in events if e["type"] == "sharpness"]


def nan_on_one_rank_worker(rank, world, init, path, mode, out):
    model = ddp_start(rank, world, init)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data()
    half = x.shape[1] // world
    said = None
    try:
        with layerwise_torch.watch(model, opt, path, on_non_finite=mode) as run:
            for k in range(4):
                xb = x[k, rank * half:(rank + 1) * half].clone()
                if k == 2 and rank == 1:
                    xb[3, 1] = float("nan")  # one value of one sample, on rank 1 only
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), y[k, rank * half:(rank + 1) * half])
                loss.backward()
                run.step(loss)
    except layerwise_torch.NonFiniteError as e:
        said = [k, str(e)]
    with open(f"{out}.{rank}", "w") as f:
        json.dump(said, f)
    del model
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.parametrize("mode", ["stop", "log"])
def test_a_nan_in_one_ranks_batch_stops_every_rank_at_that_step(mode, tmp_path):
    """A NaN in one sample of rank 1's share: the global batch has it, so rank 0 writes the
    non_finite warning (layer 0, step 2) and, with "stop", `end` (non_finite), and both ranks raise
    NonFiniteError at step 2 (a rank that went on alone would wait in DDP's all-reduce for ever);
    with "log" both go on to the end."""
    path = str(tmp_path / "two.layerwise.jsonl")
    out = str(tmp_path / "said")
    spawn_within(nan_on_one_rank_worker, (2, f"file://{tmp_path}/rdzv", path, mode, out), "a rank waited for the other")
    said = [json.load(open(f"{out}.{r}")) for r in range(2)]
    events = read_events(path)
    (w,) = [e for e in events if e["type"] == "warning"]
    assert (w["code"], w["layer"], w["step"]) == ("non_finite", 0, 2)
    assert "inputs of step 2's batch" in w["message"]
    steps = [e["step"] for e in events if e["type"] == "step"]
    if mode == "stop":
        assert [s[0] for s in said] == [2, 2], said
        assert steps == [0, 1]
        assert events[-1] == {**events[-1], "type": "end", "reason": "non_finite", "steps": 2}
    else:
        assert said == [None, None]
        assert steps == [0, 1, 2, 3]
        assert events[-1] == {**events[-1], "type": "end", "reason": "completed", "steps": 4}


class Clamped(nn.Module):
    """Layer a's activation applied functionally: F.relu (the autograd graph names it) or
    clamp(min=0) (a ReLU read from the values only)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        z = self.a(x)
        return self.b(F.relu(z) if self.graph else z.clamp(min=0))


def clamped():
    torch.manual_seed(1)
    model = Clamped(True).double()
    with torch.no_grad():
        model.a.weight.mul_(0.1)
        model.a.bias.fill_(1.0)  # Z > 0 for inputs near 0
    return model


def clamped_batches():
    """Rank 0's half of every batch near 0 (its Z all > 0: relu(Z) = Z), rank 1's spread wide."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 16, 4, generator=g, dtype=torch.float64)
    x[:, :8] *= 0.1
    x[:, 8:] *= 30
    return x, torch.randint(0, 2, (3, 16), generator=g)


def clamped_worker(rank, world, init, path, graph):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.set_num_threads(1)
    inner = clamped()
    inner.graph = graph
    model = nn.parallel.DistributedDataParallel(inner)
    x, y = clamped_batches()
    # the collectives layerwise_torch calls (DDP's own reducer runs in C++, not through these)
    calls = []
    for name in ("all_gather", "all_gather_object", "all_reduce", "broadcast", "broadcast_object_list"):
        def counted(*a, _real=getattr(dist, name), _name=name, **k):
            calls.append(_name)
            return _real(*a, **k)
        setattr(dist, name, counted)
    train(model, path, x[:, rank * 8:(rank + 1) * 8], y[:, rank * 8:(rank + 1) * 8], histograms_every=0)
    with open(f"{path}.calls{rank}", "w") as f:
        json.dump(calls, f)
    del model
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.parametrize("graph", [True, False], ids=["F.relu", "clamp(min=0)"])
def test_ranks_that_read_an_activation_differently_agree(graph, tmp_path):
    """Rank 0's share has no Z < 0, so its values read the functional ReLU as linear, and rank 1's
    as relu: ReLU-like layers gather their units' maxima, so the two ranks sent vectors of different
    lengths and gloo aborted the run. F.relu is now read off the autograd graph (the same on every
    rank), and what the values alone tell (clamp(min=0)) is agreed on at the first logged step: the
    log equals one process's on the whole batch, layer 0 relu; the ranks agree within the first
    step's one all_gather (no collective of its own)."""
    x, y = clamped_batches()
    one = str(tmp_path / "one.layerwise.jsonl")
    model = clamped()
    model.graph = graph
    train(model, one, x, y, histograms_every=0)
    two = str(tmp_path / "two.layerwise.jsonl")
    spawn_within(clamped_worker, (2, f"file://{tmp_path}/rdzv", two, graph), "a rank waited for the other")
    a, b = read_events(one), read_events(two)
    assert [l["activation"] for l in b[0]["layers"]] == ["relu", "linear"]
    assert b[1]["layers"][0]["dead"] is not None
    skip = {"worldSize", "time", "wallTime", "elapsed", "source"}
    drop = lambda e: {k: v for k, v in e.items() if k not in skip}  # noqa: E731
    assert compare([drop(e) for e in b if e["type"] != "end"], [drop(e) for e in a if e["type"] != "end"], 1e-6, 1e-9) == []
    for rank in range(2):  # one all_gather a logged step, the first too
        assert json.load(open(f"{two}.calls{rank}")) == ["all_gather"] * 3
