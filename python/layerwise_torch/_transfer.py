"""A logged step's numbers on their way to the host: 0-d and 1-d device tensors in one transfer
(stacked in their dtype where they share one, else in float64), several forward calls' moments of
a layer merged on the device, and the one ``all_gather`` under torch.distributed."""
import torch

from . import _stats


def distributed():
    """torch.distributed where a process group is initialized, else None."""
    d = torch.distributed
    return d if d.is_available() and d.is_initialized() else None

def stack64(ts):
    """0-d tensors of any float dtype stacked into one float64 vector: one stack and one conversion
    per dtype (a float32 model's moments and a float64 loss: two), then one gather into order."""
    dt = ts[0].dtype
    if all(t.dtype == dt for t in ts):
        return torch.stack(ts).to(torch.float64)
    groups = {}
    for i, t in enumerate(ts):
        groups.setdefault(t.dtype, []).append(i)
    flat = torch.cat([torch.stack([ts[i] for i in idx]).to(torch.float64) for idx in groups.values()])
    where = [0] * len(ts)
    for pos, i in enumerate(i for idx in groups.values() for i in idx):
        where[i] = pos
    return flat[torch.tensor(where, device=flat.device)]


def host(scalars, vectors):
    """Python floats of 0-d device tensors, then of 1-d ones, in one transfer: stacked in their dtype
    where they share one, else in float64."""
    dt = scalars[0].dtype
    if all(t.dtype == dt for t in scalars) and all(v.dtype == dt for v in vectors):
        return torch.cat([torch.stack(scalars)] + vectors).tolist()
    return torch.cat([stack64(scalars)] + [v.to(torch.float64) for v in vectors]).tolist()


def _zero(dev):
    return torch.zeros((), dtype=torch.float64, device=dev)


def merge_device(parts, dev):
    """Merges (count, mean, m2, ...) parts whose mean and m2 are device tensors (several forward
    calls of one layer in a step) by the same formula as _stats.merge, in float64 on the device;
    one part is returned as it is (stack64 converts it with the others)."""
    live = [p for p in parts if p[0] > 0]
    if len(live) == 1:
        return live[0][0], live[0][1], live[0][2]
    parts = [(p[0], p[1].to(torch.float64), p[2].to(torch.float64)) for p in live]
    if not parts:
        return 0, _zero(dev), _zero(dev)
    return parts[0] if len(parts) == 1 else _stats.merge(parts)


def all_gather(dist, vec, group):
    out = [torch.empty_like(vec) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, vec, group=group)
    return torch.stack(out).tolist()
