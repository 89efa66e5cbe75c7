"""Per-layer sums over the layers' weights and gradients, in few tensor ops.

A logged step needs, for every layer, sum(t) and sum(t^2) of its weight, weight gradient and bias
gradient, and after the update sum((W_after - W_before)^2). On a deep net of small layers (30
layers of 64 x 64) one op per layer and quantity costs far more in dispatch than in arithmetic, so
tensors of one shape, dtype and device with at most SMALL values are stacked into one matrix and
summed row by row (a stack, a sum, a square, a sum: four ops for the group); the others are
summed one by one (a sum and ``sumsq`` each), as their arithmetic dominates. The stacked weights
are the snapshot the update is measured against; the larger weights' snapshots are copies made at
``snapshot``, kept for the next logged step up to KEEP values in all and the rest let go at
``update``: between logged steps a large model's device holds no second copy of its weights.
Results come back as 1-d tensors in the layers' order (0 for a missing tensor), in the tensors'
dtype (float64 where they differ). Half-precision tensors (bfloat16, float16) are summed one by
one in float32, their snapshot taken in float32.

Tensors of at most TINY values whose variance is wanted (weights and their gradients; not the
biases' gradients, whose norm alone is) are summed in float64, their snapshot kept in float64:
the variance the step event gives, sum(t^2)/n - mean^2, cancels where the mean outweighs the
spread, and a float32 sum of squares carries ~1e-7 of mean^2 into it. A layer of one unit after
one unit has a single weight, of variance 0: from float32 sums it came out ~1e-7 of its square. On
larger tensors the mean rarely outweighs the spread so much, and float64 sums cost ~10x more.
"""
import torch

SMALL = 1 << 16
TINY = 1 << 10
KEEP = 1 << 22   # values of the larger weights' snapshots kept from one logged step to the next
WIDE = (torch.float32, torch.float64)


def _wide(t):
    """t itself in float32 or float64, else (half precision, integers) converted to float32."""
    return t if t.dtype in WIDE else t.float()


def _dtype(t, exact):
    """The dtype t is summed in: float64 for tensors of at most TINY values whose variance is
    wanted (``exact``), else _wide's."""
    if t.dtype == torch.float64 or (exact and t.numel() <= TINY):
        return torch.float64
    return t.dtype if t.dtype in WIDE else torch.float32


def _summed(t, exact):
    """t in the dtype it is summed in (_dtype)."""
    dt = _dtype(t, exact)
    return t if t.dtype == dt else t.to(dt)


ROW = 1024
SHORT = 1 << 14   # a BLAS dot of this many float32 values is within ~1e-6 on any BLAS
PROBE = 1 << 18
_dot_max = {}     # device type -> the most values a float32 dot serves there (measured once)


def _dot_limit(device):
    """SHORT, or PROBE where this process's BLAS sums PROBE squares of normal values within 1e-6
    (OpenBLAS and MKL: ~3e-7 with their several accumulators; the reference BLAS's one running
    float32 sum: ~7e-5). Measured once per device type, ~3 ms."""
    lim = _dot_max.get(device.type)
    if lim is None:
        p = torch.randn(PROBE, generator=torch.Generator().manual_seed(0))
        exact = float(torch.dot(p.double(), p.double()))
        try:
            q = p.to(device)
            good = abs(float(torch.dot(q, q)) - exact) <= 1e-6 * exact
        except (RuntimeError, TypeError):  # a device without a float32 dot: rows
            good = False
        lim = _dot_max[device.type] = PROBE if good else SHORT
    return lim


def sumsq(t):
    """sum(t^2) as a 0-d device tensor in t's precision (float32 at least), within ~1e-6 of the
    exact sum whatever BLAS torch runs on (Debian's torch runs on whichever libblas.so.3 is
    installed). A BLAS dot accumulates float32 in float32: the reference BLAS in one running sum,
    5e-5 off on 200k values and 3e-2 on 16M; OpenBLAS in several lanes, 2e-4 off on 16M. So a
    dot serves float64, float32 up to SHORT values, and up to PROBE where _dot_limit measured this
    BLAS accurate there (it is 2-3x faster than torch's own norm on OpenBLAS); larger tensors go in
    rows of ROW values, a norm per row by torch's kernel, then the rows' squares summed."""
    flat = _wide(t.detach()).reshape(-1)
    n = flat.numel()
    if n <= SHORT or flat.dtype == torch.float64 or n <= _dot_limit(flat.device):
        return torch.dot(flat, flat)
    k = n // ROW
    s = torch.linalg.vector_norm(flat[: k * ROW].view(k, ROW), dim=1).square().sum()
    return s if k * ROW == n else s + torch.linalg.vector_norm(flat[k * ROW:]).square()


class LayerSums:
    """Buffers and plans kept from one logged step to the next (fresh buffers cost page faults)."""

    def __init__(self):
        self._plans = {}
        self._bufs = {}
        self._snap_single = {}   # layer -> its weight's snapshot buffer, kept between logged steps
        self._snap_now = {}      # layer -> the snapshot of this step (kept or made for it)

    def _plan(self, ts, exact):
        sig = (exact,) + tuple(None if t is None else (t.shape, t.dtype, t.device) for t in ts)
        plan = self._plans.get(sig)
        if plan is not None:
            return plan
        by, singles, missing = {}, [], []
        for i, t in enumerate(ts):
            if t is None:
                missing.append(i)
            elif t.numel() <= SMALL and t.dtype in WIDE:
                by.setdefault((t.shape, _dtype(t, exact), t.device), []).append(i)
            else:
                singles.append(i)
        groups = []
        for key, idx in by.items():
            if len(idx) >= 2:
                groups.append((key, idx))
            else:
                singles += idx
        singles.sort()
        order = [i for _, idx in groups for i in idx] + singles + missing
        present = [t for t in ts if t is not None]
        dtypes = {_dtype(t, exact) for t in present}
        dt = dtypes.pop() if len(dtypes) == 1 else torch.float64
        dev = present[0].device if present else torch.device("cpu")
        pos = [0] * len(ts)
        for p, i in enumerate(order):
            pos[i] = p
        perm = None if pos == list(range(len(ts))) else torch.tensor(pos, device=dev)
        plan = (groups, singles, missing, perm, dt, dev, exact)
        if len(self._plans) > 16:
            self._plans.clear()
        self._plans[sig] = plan
        return plan

    def _buf(self, role, key, n):
        shape, dtype, device = key
        b = self._bufs.get((role, key, n))
        if b is None:
            b = self._bufs[(role, key, n)] = torch.empty((n,) + tuple(shape), dtype=dtype, device=device)
        return b

    @staticmethod
    def _out(parts, plan):
        groups, singles, missing, perm, dt, dev, _ = plan
        if missing:
            parts.append(torch.zeros(len(missing), dtype=dt, device=dev))
        parts = [p if p.dtype == dt else p.to(dt) for p in parts]
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        return out if perm is None else out[perm]

    def _sums(self, ts, role, plan):
        """(sum, sum of squares) per tensor, the groups stacked into the ``role`` buffers."""
        groups, singles, _, _, _, _, exact = plan
        s, q = [], []
        for key, idx in groups:
            m = self._buf(role, key, len(idx))
            torch.stack([ts[i].detach() for i in idx], out=m)
            flat = m.reshape(len(idx), -1)
            s.append(flat.sum(1))
            tmp = self._buf("tmp", key, len(idx)).reshape(len(idx), -1)  # (m itself where role is "tmp")
            q.append(torch.mul(flat, flat, out=tmp).sum(1))
        if singles:
            ss, qq = [], []
            for i in singles:  # (converted once, one at a time: a half-precision model's copies are not all alive)
                x = _summed(ts[i].detach(), exact)
                ss.append(x.sum())
                qq.append(sumsq(x))
            s.append(torch.stack(ss))
            q.append(torch.stack(qq))
        return self._out(s, plan), self._out(q, plan)

    def sums(self, ts, exact=True):
        """(sum(t), sum(t^2)) of each tensor as two 1-d tensors (the tensors are left as they are).
        ``exact=False``: only the sums of squares are wanted (no variance), tiny tensors too in
        their own precision."""
        return self._sums(ts, "tmp", self._plan(ts, exact))

    def snapshot(self, ws):
        """The weights' sums as ``sums`` gives them, keeping a copy of the weights for ``update``."""
        plan = self._plan(ws, True)
        out = self._sums(ws, "snap", plan)
        self._snap_now, kept = {}, 0
        for i in plan[1]:
            w = ws[i].detach()
            b = self._snap_single.pop(i, None)
            dt = _dtype(w, True)
            if b is None or b.shape != w.shape or b.dtype != dt or b.device != w.device:
                b = torch.empty_like(w, dtype=dt)
            if kept + w.numel() <= KEEP:
                kept += w.numel()
                self._snap_single[i] = b
            self._snap_now[i] = b.copy_(w)
        return out

    def update(self, ws):
        """sum((W_now - W_snapshot)^2) of each weight, as a 1-d tensor (the snapshot is used up)."""
        plan = self._plan(ws, True)
        groups, singles, _, _, _, _, _ = plan
        q = []
        for key, idx in groups:
            tmp = self._buf("tmp", key, len(idx))
            torch.stack([ws[i].detach() for i in idx], out=tmp)
            flat = tmp.reshape(len(idx), -1).sub_(self._buf("snap", key, len(idx)).reshape(len(idx), -1))
            q.append(flat.mul_(flat).sum(1))
        if singles:
            before = [self._snap_now[i] for i in singles]
            now = [ws[i].detach() for i in singles]
            if all(b.dtype == w.dtype for b, w in zip(before, now)):
                torch._foreach_sub_(before, now)
            else:  # half-precision weights against their float32 snapshot
                for b, w in zip(before, now):
                    b.sub_(w)
            q.append(torch.stack([sumsq(b) for b in before]))
        self._snap_now = {}  # (the snapshots beyond KEEP values go with it)
        return self._out(q, plan)
