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
    # one dtype: results in it, in layer order
    same = [t.float() if t is not None else None for t in ts]
    s, q = sums.sums(same)
    assert s.dtype == torch.float32
    close(q.tolist(), plain(same)[1])


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


def test_half_precision_is_summed_in_float32():
    """bfloat16 and float16 weights (a model cast to half precision): sums and squares in float32,
    not rounded to 8 or 11 bits on the way; the update from a float32 snapshot."""
    g = torch.Generator().manual_seed(2)
    for dt in (torch.bfloat16, torch.float16):
        ws = [(torch.randn(16, 16, generator=g) * 0.1).to(dt) for _ in range(4)] + [torch.randn(3, 16, generator=g).to(dt)]
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
