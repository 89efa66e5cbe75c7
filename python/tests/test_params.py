"""The per-layer sums of _params.LayerSums against plain sums, on every path: tensors of one shape
stacked, large ones alone, missing ones, shapes interleaved (a permutation back to layer order),
mixed dtypes, and the update against the snapshot, step after step with the buffers reused."""
import torch

from layerwise_torch import _params


def plain(ts):
    s = [0.0 if t is None else t.double().sum().item() for t in ts]
    q = [0.0 if t is None else (t.double() ** 2).sum().item() for t in ts]
    return s, q


def close(got, want, rel=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert abs(g - w) <= rel * max(1.0, abs(w)), (got, want)


def test_sums_on_every_path():
    g = torch.Generator().manual_seed(0)
    big = _params.SMALL + 1
    ts = [torch.randn(8, 5, generator=g), torch.randn(3, 7, generator=g), torch.randn(8, 5, generator=g), None,
          torch.randn(big, generator=g), torch.randn(3, 7, generator=g), torch.randn(8, 5, generator=g),
          torch.randn(4, generator=g, dtype=torch.float64)]
    sums = _params.LayerSums()
    for _ in range(2):  # plans and buffers reused
        s, q = sums.sums(ts)
        assert s.dtype == torch.float64  # float32 and float64 tensors: float64
        ws, wq = plain(ts)
        close(s.tolist(), ws)
        close(q.tolist(), wq)
    # tensors of at most TINY values are summed in float64 (their variance: the next test)
    same = [t.float() if t is not None else None for t in ts]
    s, q = sums.sums(same)
    assert s.dtype == torch.float64
    close(q.tolist(), plain(same)[1])
    # one dtype, larger tensors: results in it, in layer order
    large = [torch.randn(40, 40, generator=g), torch.randn(33, 33, generator=g), torch.randn(40, 40, generator=g)]
    s, q = sums.sums(large)
    assert s.dtype == torch.float32
    close(q.tolist(), plain(large)[1])


def test_a_tiny_tensors_variance_holds_where_its_mean_outweighs_its_spread():
    """The variance sum(t^2)/n - mean^2 of a tensor of a few values whose mean outweighs their
    spread: a 1 x 1 layer's one weight has variance 0 (in float32 sums it came out ~1e-7 of its
    square), two values 1e-4 apart have (5e-5)^2, on every path (alone, stacked, the snapshot)."""
    def var(s, q, n):
        return q / n - (s / n) ** 2
    one = torch.tensor([[1.7300002]])
    two = torch.tensor([[3.0, 3.0001]])
    exact_two = ((two.double() - two.double().mean()) ** 2).mean().item()
    sums = _params.LayerSums()
    for ts in ([one, two], [one, one.clone(), two, two.clone()]):  # alone; stacked by shape
        for s, q in (sums.sums(ts), sums.snapshot(ts)):
            s, q = s.tolist(), q.tolist()
            for i, t in enumerate(ts):
                want = 0.0 if t.numel() == 1 else exact_two
                assert abs(var(s[i], q[i], t.numel()) - want) <= 1e-6 * exact_two, (i, var(s[i], q[i], t.numel()))


def test_update_measures_the_change_since_the_snapshot():
    g = torch.Generator().manual_seed(1)
    ws = [torch.randn(16, 16, generator=g) for _ in range(5)] + [torch.randn(300, 300, generator=g),
                                                                 torch.randn(3, 16, generator=g)]
    sums = _params.LayerSums()
    for step in range(3):
        before = [w.clone() for w in ws]
        s, q = sums.snapshot(ws)
        close(s.tolist(), plain(ws)[0])
        close(q.tolist(), plain(ws)[1])
        with torch.no_grad():
            for i, w in enumerate(ws):
                w.add_(torch.randn(w.shape, generator=g) * 1e-3 * (i + 1 + step))
        u = sums.update(ws).tolist()
        close(u, [((w.double() - b.double()) ** 2).sum().item() for w, b in zip(ws, before)], rel=1e-4)



def test_large_snapshots_beyond_keep_are_let_go_after_the_update(monkeypatch):
    """The larger weights' snapshots are kept between logged steps up to KEEP values in all; the
    rest are made for the step and let go at update (no second copy of a large model's weights on
    its device between logged steps), with the same measure of the update."""
    monkeypatch.setattr(_params, "KEEP", 300 * 300 + 100)
    g = torch.Generator().manual_seed(3)
    ws = [torch.randn(400, 300, generator=g), torch.randn(300, 300, generator=g), torch.randn(16, 16, generator=g),
          torch.randn(16, 16, generator=g), torch.randn(500, 200, generator=g)]
    sums = _params.LayerSums()
    for step in range(3):
        before = [w.clone() for w in ws]
        sums.snapshot(ws)
        with torch.no_grad():
            for i, w in enumerate(ws):
                w.add_(torch.randn(w.shape, generator=g) * 1e-3 * (i + 1 + step))
        u = sums.update(ws).tolist()
        close(u, [((w.double() - b.double()) ** 2).sum().item() for w, b in zip(ws, before)], rel=1e-4)
        # kept: the 300 x 300 (the 400 x 300 alone is over KEEP, and the 500 x 200 with it)
        assert {i: tuple(b.shape) for i, b in sums._snap_single.items()} == {1: (300, 300)}
        assert sums._snap_now == {}

def test_half_precision_is_summed_in_float32():
    """bfloat16 and float16 weights (a model cast to half precision): sums and squares in float32,
    not rounded to 8 or 11 bits on the way; the update from a float32 snapshot."""
    g = torch.Generator().manual_seed(2)
    for dt in (torch.bfloat16, torch.float16):
        ws = [(torch.randn(40, 40, generator=g) * 0.1).to(dt) for _ in range(4)] + [torch.randn(3, 400, generator=g).to(dt)]
        sums = _params.LayerSums()
        s, q = sums.snapshot(ws)
        assert s.dtype == torch.float32
        close(s.tolist(), plain(ws)[0], rel=1e-6)
        close(q.tolist(), plain(ws)[1], rel=1e-6)
        before = [w.clone() for w in ws]
        for w in ws:
            w.add_(torch.full(w.shape, 0.01, dtype=dt))
        close(sums.update(ws).tolist(), [((w.double() - b.double()) ** 2).sum().item() for w, b in zip(ws, before)],
              rel=1e-6)


def test_sums_of_squares_hold_float32_precision_whatever_blas_torch_runs_on():
    """sum(t^2) of a large float32 tensor (a 4096 x 4096 layer's weights or gradients, a 1024 x 4096
    activation) within 1e-6 of the float64 sum, on the reference BLAS as on OpenBLAS. A BLAS dot
    accumulates in float32: the reference one in one running sum (3e-2 off on 16M values, 5e-5 on
    200k: what Debian's python3-torch gets unless another libblas.so.3 is installed), OpenBLAS in
    a few lanes (2e-4 off on 16M)."""
    g = torch.Generator().manual_seed(3)
    ts = [torch.randn(n, generator=g) * 0.05 + 0.01 for n in (4096 * 4096, 1024 * 4096 + 7, 784 * 256, 256 * 256 + 3,
                                                              _params.SHORT + 1, 1000)]
    measured = _params._dot_limit(ts[0].device)
    try:
        for limit in (measured, _params.SHORT):  # this BLAS's dots where it measured them accurate; rows
            _params._dot_max[ts[0].device.type] = limit
            for t in ts:
                want = (t.double() ** 2).sum().item()
                got = _params.sumsq(t).item()
                assert abs(got - want) <= 1e-6 * want, (limit, t.numel(), got, want)
    finally:
        _params._dot_max[ts[0].device.type] = measured
    # the moments the hooks take: m2 = sum((t - mean)^2) by the same rule
    from layerwise_torch._taps import moments
    t = (torch.randn(4096 * 4096, generator=g) * 0.5 + 3.0).reshape(4096, 4096)
    n, mean, m2 = moments(t)
    d = t.double() - t.double().mean()
    assert n == t.numel() and abs(mean.item() - 3.0) < 1e-3
    assert abs(m2.item() - (d * d).sum().item()) <= 1e-6 * (d * d).sum().item()
