"""Histograms of a layer's Z, f(Z) and dL/dZ, by the rule of Layerwise's core/histogram.ts.

Over the finite values that are not exactly 0 (n of them, mean mu, standard deviation sd, least m,
largest M): 32 equal bins over [lo, hi] = [max(m, mu - 4 sd), min(M, mu + 4 sd)] (a value v in
[lo, hi] falls in bin floor(32 (v - lo) / (hi - lo)), the last bin closed); zeros, the values
below lo and above hi, and NaN/Inf are counted apart, so that everything counted sums to the
values. Values that agree to rounding (max - min < h/32 with h = max(|mean| 2^10 eps, 1e-30), eps
2^-52 for float64 tensors and 2^-23 for the others: within 32 ulps): edges [mean - 33h/32,
mean + 31h/32], all of them in bin 16.

The plain per-tensor rule (_local_moments, _local_counts) serves rows with NaN or Inf; the others
go in groups of equal length as one matrix each (a deep net's hidden layers are one group; in
chunks of at most CHUNK values, so that a histogram step's memory stays bounded and its work in
the cache), with
few whole-matrix ops: sums, the count of non-zeros, one bincount of every value's bucket
floor((v - lo) * 32 / (hi - lo)) clamped to [-1, 32], and corrections in Python for what that
bucket cannot tell (a value above hi, the zeros), so that the counts are the rule's exactly.

Under torch.distributed the histogram is the global batch's: the moments and extremes of every
rank's values are gathered and merged first (one all_gather: the same edges on every rank), then
the counts are summed (one all_reduce). dL/dZ is scaled by the rank's share of the global batch,
as the step event's gradient statistics are (the gradient of the global-batch mean loss).
"""
import math

import torch

from . import _device, _stats

BINS = 32
SIGMAS = 4.0
QUANTITIES = ("preact", "act", "grad")
FRACTIONS = tuple(b / BINS for b in range(BINS))


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


def _edges(n, mean, m2, lo_v, hi_v, eps):
    if n <= 0:
        return None
    sd = math.sqrt(max(m2, 0.0) / n)
    lo, hi = max(lo_v, mean - SIGMAS * sd), min(hi_v, mean + SIGMAS * sd)
    h = max(abs(mean) * 2.0 ** 10 * eps, 1e-30)
    if hi_v - lo_v < h / 32 or not hi > lo:  # equal to rounding: mean in the middle of bin 16
        lo, hi = mean - 33 * h / 32, mean + 31 * h / 32
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


def _segments(layers):
    """Per layer and quantity, its values flattened (several forward calls concatenated), or None."""
    out = []
    for l in layers:
        for q in QUANTITIES:
            ts = [t.detach().reshape(-1) for t in l[q]]
            out.append(None if not ts else ts[0] if len(ts) == 1 else torch.cat(ts))
    return out


# the memory a histogram step takes, and its speed: a chunk's float64 matrix holds at most CHUNK
# values (a segment longer is a chunk alone), with a float64 and an int32 scratch of its shape. In
# one process each chunk is filled once, and its moments, edges and counts taken while it is in the
# cache; under torch.distributed (the edges wait for every rank's moments) each chunk is filled for
# the moments and again for the counts, unless all of them fit one CHUNK. One chunk's matrices are
# alive at a time (a 4-layer 2048-wide MLP at batch 1024 took +475 MB when all segments were one set
# of matrices). 2^17 values, 1 MB a float64 matrix, keep a chunk's work in a core's L2 cache: a
# 30-layer 64-wide net at batch 256 (93 segments of 16,384 values) took 57-58 ms a histogram event
# in chunks of 2^22 and takes 30-35 in these (torch_overhead.py W5), W1's 3.1-3.3 ms either way.
# Matrices of up to KEEP values are kept between steps.
CHUNK = 1 << 17
KEEP = 1 << 20


class Work:
    """Matrices kept from one histogram step to the next, per chunk shape: allocating ~1 MB anew
    for every temporary costs more than the arithmetic where the allocator maps fresh pages for it
    (10x here: glibc maps large blocks and gives them back). Larger ones (over KEEP values) are made
    for each use, where the arithmetic outweighs the pages, and not held between steps."""

    def __init__(self):
        self.bufs = {}

    def get(self, shape, device):
        """(M, T, B): float64, float64 and int32 matrices of this shape."""
        key = (shape, str(device))
        b = self.bufs.get(key)
        if b is None:
            b = (torch.empty(shape, dtype=torch.float64, device=device),
                 torch.empty(shape, dtype=torch.float64, device=device),
                 torch.empty(shape, dtype=torch.int32, device=device))  # buckets: int32 halves the traffic
            if shape[0] * shape[1] <= KEEP:
                self.bufs[key] = b
        return b


def _chunks(xs):
    """The non-empty segments by length, in chunks of at most CHUNK values (one segment at least):
    [[segment index, ...], ...]."""
    by_len = {}
    for j, x in enumerate(xs):
        if x is not None and x.numel() > 0:
            by_len.setdefault(x.numel(), []).append(j)
    out = []
    for n, rows in by_len.items():
        per = max(1, CHUNK // n)
        out += [rows[i:i + per] for i in range(0, len(rows), per)]
    return out


def _fill(rows, xs, share, work):
    """A chunk's segments as one float64 matrix (grad rows scaled by share): (rows, M, T, B) with T
    and B scratch of M's shape."""
    first = xs[rows[0]]
    M, T, B = work.get((len(rows), first.numel()), first.device)
    for r, j in enumerate(rows):
        M[r].copy_(xs[j])
        if share != 1.0 and j % 3 == 2:
            M[r].mul_(share)
    return rows, M, T, B


def _group_moments(M, T):
    """Per row of M: [n, mean, m2, min, max] of its non-zero values (valid for rows of finite values),
    and a number that is finite when the row is (T: scratch)."""
    L = M.shape[1]
    s = M.sum(1)
    # the non-zero values as a float 0/1 matrix summed: 3x faster than count_nonzero here
    nnz = torch.ne(M, 0, out=T).sum(1)
    mean = s / nnz.clamp(min=1)
    torch.sub(M, mean.reshape(-1, 1), out=T)
    sq = T.mul_(T).sum(1)
    # the zeros' (0 - mean)^2 are not the non-zero values' deviations
    m2 = sq - (L - nnz) * mean * mean
    return torch.stack([nnz, mean, m2, M.amin(1), M.amax(1), s + sq], 1)


def _moments(groups, xs, S):
    """[n, mean, m2, min, max] per segment as lists, and the segments the plain rule serves."""
    mom = [[0.0, 0.0, 0.0, math.inf, -math.inf] for _ in range(S)]
    plain = set()
    for rows, M, T, _ in groups:
        fix = []  # (row, segment, least wanted, largest wanted): a zero was the least or the largest
        for r, (j, v) in enumerate(zip(rows, _group_moments(M, T).tolist())):
            n, mean, m2, lo, hi, check = v
            if not math.isfinite(check):
                plain.add(j)
                mom[j] = _local_moments(M[r]).tolist()
                continue
            if n == 0:
                continue
            zeros = M.shape[1] - n
            mom[j] = [n, mean, max(m2, 0.0), lo, hi]
            if zeros and (lo == 0 or hi == 0):
                fix.append((r, j, lo == 0, hi == 0))
        if fix:
            _nonzero_extremes(M, T, fix, mom)
    return mom, plain


def _nonzero_extremes(M, T, fix, mom):
    """The least and largest non-zero values of the rows where a zero was one of them. On the CPU
    row by row in the scratch T (a batched copy of the rows allocates, and fresh pages cost 10x);
    where reading waits for the device, all of them in one transfer (a read a row would wait each
    time)."""
    if not _device.reads_wait(M):
        for r, j, want_lo, want_hi in fix:
            if want_lo:
                mom[j][3] = float(T[r].copy_(M[r] == 0).mul_(1e300).add_(M[r]).min())
            if want_hi:
                mom[j][4] = float(T[r].copy_(M[r] == 0).mul_(-1e300).add_(M[r]).max())
        return
    sub = M[torch.tensor([f[0] for f in fix], device=M.device)]
    zero = sub == 0
    both = torch.stack([sub.masked_fill(zero, math.inf).amin(1), sub.masked_fill(zero, -math.inf).amax(1)], 1).tolist()
    for (r, j, want_lo, want_hi), (least, largest) in zip(fix, both):
        if want_lo:
            mom[j][3] = least
        if want_hi:
            mom[j][4] = largest


def _counts(groups, edges, plain, mom, S):
    """[32 counts, zeros, below, above, nonFinite] per segment as lists, the rule's exactly (mom:
    this rank's moments, whose counts of non-zero values give the zeros)."""
    out = [[0] * (BINS + 4) for _ in range(S)]
    for rows, M, t, bucket in groups:
        G, L = M.shape
        dev = M.device
        lo = torch.tensor([edges[j][0] if edges[j] else 0.0 for j in rows], dtype=torch.float64, device=dev)
        hi = torch.tensor([edges[j][1] if edges[j] else 0.0 for j in rows], dtype=torch.float64, device=dev)
        sc = [BINS / (edges[j][1] - edges[j][0]) if edges[j] else 0.0 for j in rows]
        torch.sub(M, lo.reshape(-1, 1), out=t)
        t.mul_(torch.tensor(sc, dtype=torch.float64, device=dev).reshape(-1, 1)).floor_().clamp_(-1, BINS)
        for r, j in enumerate(rows):
            if j in plain:  # NaN has no bucket; the plain rule counts these rows
                t[r].zero_()
        bucket.copy_(t).add_((torch.arange(G, device=dev, dtype=torch.int32) * (BINS + 2) + 1).reshape(-1, 1))
        c = torch.bincount(bucket.reshape(-1), minlength=G * (BINS + 2)).reshape(G, BINS + 2).tolist()
        above = torch.gt(M, hi.reshape(-1, 1), out=t).sum(1).tolist()  # (t is free again)
        for r, j in enumerate(rows):
            if j in plain:
                out[j] = [int(v) for v in _local_counts(M[r], edges[j]).tolist()]
                continue
            z = L - int(mom[j][0])
            if edges[j] is None:  # no non-zero value: all zeros
                out[j][BINS] = z
                continue
            row = c[r]  # bucket -1 (below lo), 0..31, 32 (floor(t) >= 32)
            bins = row[1:BINS + 1]
            below, top, up = row[0], row[BINS + 1], int(above[r])
            # a value above hi lands in bucket 31 or 32; a value in [lo, hi] there belongs in bin 31
            bins[BINS - 1] += top - up
            if z:  # the zeros landed where 0 does; they are counted apart
                e_lo, e_hi = edges[j]
                if 0.0 < e_lo:
                    below -= z
                elif 0.0 > e_hi:
                    up -= z
                else:
                    bins[min(BINS - 1, math.floor((0.0 - e_lo) * sc[r]))] -= z
            out[j] = bins + [z, below, up, 0]
    return out


def histogram_event(k, layers, share, dist=None, group=None, world=1, work=None):
    """The histogram event of step k. layers: per layer {"preact": [tensors], "act": [...],
    "grad": [...]} (a layer's forward calls this step); share: this rank's share of the global batch;
    work: the run's Work (kept between steps)."""
    xs = _segments(layers)
    S = len(xs)
    dev = next((x.device for x in xs if x is not None), torch.device("cpu"))
    work = work or Work()
    chunks = _chunks(xs)
    # rounding's scale for "all values equal": the model's dtype (the same on every rank)
    eps = 2.0 ** -52 if any(x is not None and x.dtype == torch.float64 for x in xs) else 2.0 ** -23
    many = dist is not None and world > 1
    if not many:
        # one process: each chunk's edges are its own rows', so its counts follow its moments while
        # its matrices are in the cache, filled once
        mom, plain = [[0.0, 0.0, 0.0, math.inf, -math.inf] for _ in range(S)], set()
        edges, counts = [None] * S, [[0] * (BINS + 4) for _ in range(S)]
        for rows in chunks:
            g = [_fill(rows, xs, share, work)]
            m, p = _moments(g, xs, S)
            for j in rows:
                mom[j] = m[j]
                edges[j] = _edges(*m[j], eps)
            plain |= p
            c = _counts(g, edges, plain, mom, S)
            for j in rows:
                counts[j] = c[j]
        return _event(k, layers, edges, counts)
    if sum(len(rows) * xs[rows[0]].numel() for rows in chunks) <= CHUNK:
        groups = [_fill(rows, xs, share, work) for rows in chunks]  # filled once for both passes
    else:
        # one chunk at a time, filled for each pass; a chunk's matrices are dropped when its call
        # returns (a generator of filled chunks would keep the last one alive beside the next)
        groups = None
    if groups is not None:
        mom, plain = _moments(groups, xs, S)
    else:
        mom, plain = [[0.0, 0.0, 0.0, math.inf, -math.inf] for _ in range(S)], set()
        for rows in chunks:
            m, p = _moments([_fill(rows, xs, share, work)], xs, S)
            for j in rows:
                mom[j] = m[j]
            plain |= p
    local = torch.tensor(mom, dtype=torch.float64, device=dev).reshape(S, 5)
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local, group=group)
    rows = [p.tolist() for p in parts]
    edges = []
    for j in range(S):
        n, mean, m2 = _stats.merge([(r[j][0], r[j][1], r[j][2]) for r in rows])
        lo_v = min(r[j][3] for r in rows)
        hi_v = max(r[j][4] for r in rows)
        edges.append(_edges(n, mean, m2, lo_v, hi_v, eps))
    if groups is not None:
        counts = _counts(groups, edges, plain, mom, S)
    else:
        counts = [[0] * (BINS + 4) for _ in range(S)]
        for rows in chunks:
            c = _counts([_fill(rows, xs, share, work)], edges, plain, mom, S)
            for j in rows:
                counts[j] = c[j]
    t = torch.tensor(counts, dtype=torch.float64, device=dev).reshape(S, BINS + 4)
    dist.all_reduce(t, group=group)
    return _event(k, layers, edges, [[int(round(v)) for v in row] for row in t.tolist()])


def _event(k, layers, edges, c):
    """The histogram event from each segment's edges (None: no non-zero value) and counts."""
    out = []
    for i in range(len(layers)):
        entry = {"index": i}
        for qi, q in enumerate(QUANTITIES):
            j = 3 * i + qi
            row = c[j]
            lohi = edges[j]
            if lohi is None:
                h = {"edges": [], "counts": [], "zeros": row[BINS], "below": 0, "above": 0, "nonFinite": row[BINS + 3]}
            else:
                lo, hi = lohi
                w = hi - lo  # lo + w * (b / 32) is lo + w * b / 32 bit for bit (a power of two)
                h = {"edges": [lo + w * f for f in FRACTIONS] + [hi],
                     "counts": row[:BINS], "zeros": row[BINS], "below": row[BINS + 1], "above": row[BINS + 2],
                     "nonFinite": row[BINS + 3]}
            entry[q] = h
        out.append(entry)
    return {"type": "histogram", "step": k, "layers": out}
