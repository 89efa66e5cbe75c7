#!/usr/bin/python3
"""One workload on PyTorch (CPU, one thread): prints one JSON line. W3 computes the same
per-layer statistics with forward hooks and after backward. Usage: torch_bench.py W1"""
import json, math, os, resource, sys, time

# One thread means one core: torch.set_num_threads(1) bounds PyTorch's own pool, but Debian's
# OpenBLAS (libopenblas0-pthread) starts a thread per core for every large enough GEMM unless
# told otherwise before it loads. The JSON line reports CPU time over wall time to show it.
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_v] = '1'
import torch  # noqa: E402

W = {
    'W1': dict(input=784, hidden=[256, 256], classes=10, batch=64, stats=False),
    'W2': dict(input=64, hidden=[64] * 50, classes=10, batch=128, stats=False),
    'W3': dict(input=784, hidden=[256, 256], classes=10, batch=64, stats=True),
    'W4': dict(input=1024, hidden=[1024, 1024], classes=10, batch=256, stats=False),
    # as ours runs it, less the statistics: the plain PyTorch loop a user would write
    'W5': dict(input=64, hidden=[64] * 30, classes=10, batch=256, stats=False, momentum=0.9, clip=1.0),
}

def flops(w):
    s = [w['input']] + w['hidden'] + [w['classes']]
    return sum(2 * w['batch'] * s[l] * s[l + 1] * (2 if l == 0 else 3) for l in range(len(s) - 1))

def main(name):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    w = W[name]
    s = [w['input']] + w['hidden'] + [w['classes']]
    mods = []
    for l in range(len(s) - 1):
        mods.append(torch.nn.Linear(s[l], s[l + 1]))
        if l < len(s) - 2:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    x = torch.randn(w['batch'], w['input'])
    y = torch.randint(0, w['classes'], (w['batch'],))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=w.get('momentum', 0))
    stats = []
    if w['stats']:
        def hook(m, inp, out):
            z = out.detach()
            stats.append((z.mean().item(), z.var(unbiased=False).item(), int((z <= 0).all(0).sum())))
        for m in net:
            m.register_forward_hook(hook)

    def step():
        stats.clear()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if w['stats']:
            total = 0.0
            for p in net.parameters():
                g = p.grad.detach()
                sq = float((g * g).sum())
                total += sq
                stats.append((math.sqrt(sq), g.var(unbiased=False).item()))
            stats.append(math.sqrt(total))
        if w.get('clip'):
            torch.nn.utils.clip_grad_norm_(net.parameters(), w['clip'])
        opt.step()

    t = time.perf_counter()
    while time.perf_counter() - t < 1.5:  # as long as bench/workloads.mjs warms up
        step()
    rates = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.5:
            step()
            n += 1
        rates.append(n / (time.perf_counter() - t0))
    cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    r = sorted(rates)[1]
    print(json.dumps({'workload': name, 'engine': 'pytorch', 'stepsPerSec': r, 'gflops': r * flops(w) / 1e9,
                      'cpuPerWall': cores,
                      'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

if __name__ == '__main__':
    main(sys.argv[1])
