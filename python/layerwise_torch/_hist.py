"""Histograms of a layer's Z, f(Z) and dL/dZ, by the rule of Layerwise's core/histogram.ts.

Over the finite values that are not exactly 0 (n of them, mean mu, standard deviation sd, least m,
largest M): 32 equal bins over [lo, hi] = [max(m, mu - 4 sd), min(M, mu + 4 sd)] (a value v in
[lo, hi] falls in bin floor(32 (v - lo) / (hi - lo)), the last bin closed); zeros, the values
below lo and above hi, and NaN/Inf are counted apart, so that everything counted sums to the
values. All values equal: one bin of width 2 max(|v| 1e-6, 1e-30) around v.

Under torch.distributed the histogram is the global batch's: the moments and extremes of every
rank's values are gathered and merged first (one all_gather: the same edges on every rank), then
the counts are summed (one all_reduce). dL/dZ is scaled by the rank's share of the global batch,
as the step event's gradient statistics are (the gradient of the global-batch mean loss).
"""
import math

import torch

from . import _stats

BINS = 32
SIGMAS = 4.0
QUANTITIES = ("preact", "act", "grad")


def _flat64(ts, scale=1.0):
    x = torch.cat([t.detach().reshape(-1) for t in ts]).to(torch.float64)
    return x * scale if scale != 1.0 else x


def _local_moments(x):
    """[n, mean, m2, min, max] of the finite non-zero values of x (n = 0: zeros elsewhere)."""
    v = x[torch.isfinite(x) & (x != 0)]
    n = v.numel()
    if n == 0:
        return torch.tensor([0.0, 0.0, 0.0, math.inf, -math.inf], dtype=torch.float64, device=x.device)
    mean = v.mean()
    d = v - mean
    return torch.stack([torch.tensor(float(n), dtype=torch.float64, device=x.device), mean, torch.dot(d, d),
                        v.min(), v.max()])


def _edges(n, mean, m2, lo_v, hi_v):
    if n <= 0:
        return None
    sd = math.sqrt(max(m2, 0.0) / n)
    lo, hi = max(lo_v, mean - SIGMAS * sd), min(hi_v, mean + SIGMAS * sd)
    if not hi > lo:
        h = max(abs(mean) * 1e-6, 1e-30)
        lo, hi = mean - h, mean + h
    return lo, hi


def _local_counts(x, lohi):
    """[32 counts, zeros, below, above, nonFinite] of x for the edges lo, hi (None: no bins)."""
    zeros = (x == 0).sum()
    finite = torch.isfinite(x)
    non_finite = x.numel() - finite.sum()
    v = x[finite & (x != 0)]
    out = torch.zeros(BINS + 4, dtype=torch.float64, device=x.device)
    out[BINS] = zeros.to(torch.float64)
    out[BINS + 3] = non_finite.to(torch.float64) if isinstance(non_finite, torch.Tensor) else float(non_finite)
    if lohi is not None and v.numel() > 0:
        lo, hi = lohi
        inside = v[(v >= lo) & (v <= hi)]
        idx = torch.floor((inside - lo) * (BINS / (hi - lo))).clamp_(0, BINS - 1).to(torch.long)
        out[:BINS] = torch.bincount(idx, minlength=BINS).to(torch.float64)
        out[BINS + 1] = (v < lo).sum().to(torch.float64)
        out[BINS + 2] = (v > hi).sum().to(torch.float64)
    return out


def histogram_event(k, layers, share, dist=None, group=None, world=1):
    """The histogram event of step k. layers: per layer {"preact": [tensors], "act": [...],
    "grad": [...]} (a layer's forward calls this step); share: this rank's share of the global batch."""
    xs = [[_flat64(l[q], share if q == "grad" else 1.0) if l[q] else None for q in QUANTITIES] for l in layers]
    dev = next((x.device for row in xs for x in row if x is not None), torch.device("cpu"))
    empty = torch.zeros(0, dtype=torch.float64, device=dev)
    xs = [[x if x is not None else empty for x in row] for row in xs]
    mom = torch.stack([_local_moments(x) for row in xs for x in row]) if xs else torch.zeros((0, 5), dtype=torch.float64)
    if dist is not None and world > 1:
        parts = [torch.empty_like(mom) for _ in range(world)]
        dist.all_gather(parts, mom, group=group)
        rows = [p.tolist() for p in parts]
    else:
        rows = [mom.tolist()]
    edges = []
    for j in range(mom.shape[0]):
        n, mean, m2 = _stats.merge([(r[j][0], r[j][1], r[j][2]) for r in rows])
        lo_v = min(r[j][3] for r in rows)
        hi_v = max(r[j][4] for r in rows)
        edges.append(_edges(n, mean, m2, lo_v, hi_v))
    counts = torch.stack([_local_counts(x, edges[j]) for j, x in enumerate(x for row in xs for x in row)]) \
        if edges else torch.zeros((0, BINS + 4), dtype=torch.float64)
    if dist is not None and world > 1:
        dist.all_reduce(counts, group=group)
    c = counts.tolist()
    out = []
    for i in range(len(layers)):
        entry = {"index": i}
        for qi, q in enumerate(QUANTITIES):
            j = 3 * i + qi
            row = [int(round(v)) for v in c[j]]
            lohi = edges[j]
            if lohi is None:
                h = {"edges": [], "counts": [], "zeros": row[BINS], "below": 0, "above": 0, "nonFinite": row[BINS + 3]}
            else:
                lo, hi = lohi
                h = {"edges": [hi if b == BINS else lo + (hi - lo) * b / BINS for b in range(BINS + 1)],
                     "counts": row[:BINS], "zeros": row[BINS], "below": row[BINS + 1], "above": row[BINS + 2],
                     "nonFinite": row[BINS + 3]}
            entry[q] = h
        out.append(entry)
    return {"type": "histogram", "step": k, "layers": out}
