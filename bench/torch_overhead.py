#!/usr/bin/python3
"""The cost of layerwise_torch.watch on a plain PyTorch loop (CPU, one thread), measured in one
process: plain, every=1 and every=10 loops on the same shapes take turns in short windows, so that
a slow spell of the machine falls on all three. Prints one JSON line per variant and one with the
overheads and where the time of a logged step goes. Usage: torch_overhead.py W1 [seconds]"""
import json
import os
import sys
import tempfile
import time

# one core, as torch_bench.py: OpenBLAS's own threads are bounded before it loads
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import layerwise_torch  # noqa: E402

W = {
    "W1": dict(input=784, hidden=[256, 256], classes=10, batch=64),
    "W2": dict(input=64, hidden=[64] * 50, classes=10, batch=128),
    "W3": dict(input=784, hidden=[256, 256], classes=10, batch=64),
    "W4": dict(input=1024, hidden=[1024, 1024], classes=10, batch=256),
    "W5": dict(input=64, hidden=[64] * 30, classes=10, batch=256),
}


def make(w):
    torch.manual_seed(0)
    s = [w["input"]] + w["hidden"] + [w["classes"]]
    mods = []
    for i in range(len(s) - 1):
        mods.append(nn.Linear(s[i], s[i + 1]))
        if i < len(s) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def main(name, seconds):
    torch.set_num_threads(1)
    w = W[name]
    x = torch.randn(w["batch"], w["input"])
    y = torch.randint(0, w["classes"], (w["batch"],))
    tmp = tempfile.mkdtemp()
    variants = {}
    for label, every in (("plain", None), ("every1", 1), ("every10", 10)):
        model = make(w)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        run = None if every is None else layerwise_torch.watch(model, opt, os.path.join(tmp, f"{label}.jsonl"), every=every)

        def step(model=model, opt=opt, run=run):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if run is None:
                opt.step()
            else:
                run.step(loss)
        variants[label] = step
    for step in variants.values():  # warm-up
        t = time.perf_counter()
        while time.perf_counter() - t < 0.5:
            step()
    rates = {k: [] for k in variants}
    window = 0.25
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        for k, step in variants.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < window:
                step()
                n += 1
            rates[k].append(n / (time.perf_counter() - t0))
    med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
    for k, v in med.items():
        print(json.dumps({"workload": name, "engine": {"plain": "pytorch-plain", "every1": "pytorch+layerwise",
                                                        "every10": "pytorch+layerwise@10"}[k],
                          "stepsPerSec": v, "windows": len(rates[k])}))
    # per window pair ratios: the overhead with the machine's state as even as it gets
    pair = lambda a: sorted(p / q for p, q in zip(rates["plain"], rates[a]))[len(rates[a]) // 2] - 1
    print(json.dumps({"workload": name, "metric": "torchWatchOverhead", "every1": pair("every1"), "every10": pair("every10"),
                      "stepsPerSec": med}))
    print(json.dumps({"workload": name, "metric": "torchWatchBreakdown", **breakdown(w, x, y, tmp)}))
    print(json.dumps({"workload": name, "metric": "torchWatchEvery10", **every10(w, x, y, tmp)}))
    print(json.dumps({"workload": name, "metric": "torchWatchFloor", **floor(w, x, y, tmp)}))


def breakdown(w, x, y, tmp, blocks=8, block=40):
    """Where a logged step's extra time goes (microseconds a step, medians over blocks of
    consecutive steps, plain and watched blocks in turn): the forward and backward passes with the
    hooks armed, and run.step against optimizer.step."""
    import statistics
    plain, watched = make(w), make(w)
    opt_p = torch.optim.SGD(plain.parameters(), lr=0.01)
    opt_w = torch.optim.SGD(watched.parameters(), lr=0.01)
    run = layerwise_torch.watch(watched, opt_w, os.path.join(tmp, "breakdown.jsonl"))
    t = {"fb_plain": [], "fb_hooks": [], "step_plain": [], "step_watch": []}
    for b in range(blocks + 1):
        for model, opt, r, fb, st in ((plain, opt_p, None, "fb_plain", "step_plain"), (watched, opt_w, run, "fb_hooks", "step_watch")):
            for i in range(block):
                t0 = time.perf_counter()
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                t1 = time.perf_counter()
                if r is None:
                    opt.step()
                else:
                    r.step(loss)
                t2 = time.perf_counter()
                if b > 0:  # (the first blocks warm up)
                    t[fb].append(t1 - t0)
                    t[st].append(t2 - t1)
    m = {k: statistics.median(v) * 1e6 for k, v in t.items()}
    return {"stepUs": m["fb_plain"] + m["step_plain"], "hooksUs": m["fb_hooks"] - m["fb_plain"],
            "runStepUs": m["step_watch"] - m["step_plain"]}


def every10(w, x, y, tmp, cycles=80):
    """Where watch(every=10)'s time goes (microseconds over the plain loop, medians per position in
    the cycle of ten steps, ten plain and ten watched steps in turn): the logged step (which also
    writes the histograms, every 10 steps by default), the step after it, and the other eight; and
    the histogram event's own time."""
    import statistics
    from layerwise_torch import _run
    spent = []
    inner = _run.histogram_event

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = inner(*a, **k)
        spent.append(time.perf_counter() - t0)
        return out
    _run.histogram_event = timed
    try:
        plain, watched = make(w), make(w)
        opt_p = torch.optim.SGD(plain.parameters(), lr=0.01)
        opt_w = torch.optim.SGD(watched.parameters(), lr=0.01)
        run = layerwise_torch.watch(watched, opt_w, os.path.join(tmp, "cycle10.jsonl"), every=10)
        extra = [[] for _ in range(10)]
        for c in range(cycles + 5):
            t = {}
            for model, opt, r in ((plain, opt_p, None), (watched, opt_w, run)):  # ten steps each
                for p in range(10):
                    t0 = time.perf_counter()
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step() if r is None else r.step(loss)
                    t[r is not None, p] = time.perf_counter() - t0
            if c >= 5:
                for p in range(10):
                    extra[p].append((t[True, p] - t[False, p]) * 1e6)
        run.close()
    finally:
        _run.histogram_event = inner
    med = [statistics.median(e) for e in extra]
    return {"loggedUs": med[0], "nextUs": med[1], "othersUs": statistics.mean(med[2:]),
            "histogramEventUs": statistics.median(spent[5:]) * 1e6 if len(spent) > 5 else None}


class Bare:
    """The least a logged step's statistics take in eager PyTorch, with none of watch()'s
    generality (a plain Sequential of Linear and ReLU, one forward call a layer, one process): per
    layer the two-pass moments of Z, f(Z) and dL/dZ (a mean, a difference, a dot: three ops each),
    Z's largest value per unit, a tensor hook for dL/dZ; sum and sum of squares of W and dL/dW, the
    sum of squares of dL/db, a copy of W before the update and sum((W_after - W_before)^2) after;
    one host transfer before the update and one after, one JSON line. `parts` leaves out the
    samples' part or the parameters' part, to see what each costs alone."""

    def __init__(self, model, opt, path, parts=("samples", "params")):
        self.lin = [m for m in model if isinstance(m, nn.Linear)]
        self.opt, self.st, self.f = opt, [], open(path, "w")
        self.samples, self.params = "samples" in parts, "params" in parts
        self.snaps = [torch.empty_like(m.weight) for m in self.lin]
        if self.samples:
            for m in model:
                m.register_forward_hook(self.linear if isinstance(m, nn.Linear) else self.act)

    def moments(self, t):
        f = t.detach().reshape(-1)
        m = f.mean()
        d = f - m
        self.st += [m, torch.dot(d, d)]

    def linear(self, mod, inputs, out):
        if mod is self.lin[0]:
            self.moments(inputs[0])
        self.moments(out)
        self.st.append(out.detach().amax(0).max())  # (the units' maxima, one number here)
        out.register_hook(self.moments)

    def act(self, mod, inputs, out):
        self.moments(out)

    def step(self, loss):
        ws = [m.weight.detach() for m in self.lin]
        p = []
        if self.params:
            for m, w, s in zip(self.lin, ws, self.snaps):
                wf, gf, b = w.reshape(-1), m.weight.grad.reshape(-1), m.bias.grad
                p += [wf.sum(), torch.dot(wf, wf), gf.sum(), torch.dot(gf, gf), torch.dot(b, b)]
                s.copy_(w)
        vals = torch.stack(self.st + p + [loss.detach()]).tolist()
        self.st.clear()
        self.opt.step()
        u = []
        if self.params:
            torch._foreach_sub_(self.snaps, ws)
            u = torch.stack([torch.dot(s.reshape(-1), s.reshape(-1)) for s in self.snaps]).tolist()
        self.f.write(json.dumps({"type": "step", "values": vals, "update": u}) + "\n")
        self.f.flush()


def floor(w, x, y, tmp, pairs=12, window=0.15):
    """The overhead of Bare at every step over the plain loop: the floor under any watch() with
    these statistics on this machine, whole and by part. Measured as the headline overhead is, in
    windows of consecutive steps (plain and Bare in turn, the median of the window pairs' ratios):
    alternating single steps reads lower (W1: +60 % against +84 %, watch +100 % against +160 %),
    as each step then runs in the caches the other model's step left, not in its own."""
    import statistics
    out = {}
    for label, parts in (("all", ("samples", "params")), ("samples", ("samples",)), ("params", ("params",))):
        plain, bare = make(w), make(w)
        opt_p = torch.optim.SGD(plain.parameters(), lr=0.01)
        opt_b = torch.optim.SGD(bare.parameters(), lr=0.01)
        b = Bare(bare, opt_b, os.path.join(tmp, f"bare-{label}.jsonl"), parts)

        def step_p():
            opt_p.zero_grad()
            F.cross_entropy(plain(x), y).backward()
            opt_p.step()

        def step_b():
            opt_b.zero_grad()
            loss = F.cross_entropy(bare(x), y)
            loss.backward()
            b.step(loss)

        def rate(step):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < window:
                step()
                n += 1
            return n / (time.perf_counter() - t0)
        for _ in range(20):  # warm-up
            step_p()
            step_b()
        out[label] = statistics.median(rate(step_p) / rate(step_b) for _ in range(pairs)) - 1
    return out


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
