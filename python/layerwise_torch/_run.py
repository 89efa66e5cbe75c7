"""``watch``: the Layerwise event stream from a PyTorch training loop.

A logged step k (``k % every == 0``) arms forward hooks on every ``nn.Linear`` and activation
module before its forward pass. They keep, per layer and as device tensors, the count, mean and
variance of the pre-activations Z, the activations f(Z) and (through a tensor hook on Z) of dL/dZ,
the units that were ever alive and the saturated outputs. ``run.step(loss)`` then adds the
parameters' and gradients' moments, clips, and moves everything to the host in one transfer (under
``torch.distributed``: one ``all_gather`` over the data-parallel group, so that each rank's part is
merged exactly, see _stats.py), decides about non-finite values on the same numbers on every rank,
calls ``optimizer.step()`` and writes the step event (rank 0 only). Unlogged steps arm nothing.

The events follow docs/events.md of the Layerwise repository: step k describes the forward and
backward pass of step k with the parameters before its update.
"""
import json
import math
import os
import time

import torch
from torch import nn

from . import _stats
from ._layers import activation_of_module, infer_activation, is_activation_module, is_fsdp, saturated_count, unwrap

NON_FINITE_FIX = ("Lower the learning rate (e.g. to {lr}), clip the gradients "
                  "(layerwise_torch.watch(..., clip={{\"mode\": \"norm\", \"max\": 1.0}})), and check the init scale.")


class NonFiniteError(RuntimeError):
    """Raised by ``run.step`` when NaN or Inf appeared (``on_non_finite="stop"``)."""

    def __init__(self, message, step, layer):
        super().__init__(message)
        self.step = step
        self.layer = layer


def _dist():
    d = torch.distributed
    return d if d.is_available() and d.is_initialized() else None


def _check_clip(clip):
    if clip is None:
        return None
    if not isinstance(clip, dict) or set(clip) - {"mode", "max"} or clip.get("mode") not in ("norm", "value"):
        raise ValueError('clip must be None or {"mode": "norm" | "value", "max": c}')
    c = clip.get("max")
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
        raise ValueError(f"clip max must be a finite number > 0, not {c!r}")
    return {"mode": clip["mode"], "max": float(c)}


class _Writer:
    """One JSON object a line, flushed after each event so that a tail sees whole lines."""

    def __init__(self, path):
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self.f = open(path, "w", encoding="utf-8", newline="\n")

    def write(self, event):
        self.f.write(json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n")
        self.f.flush()

    def close(self):
        if not self.f.closed:
            self.f.close()


class _Call:
    """What one forward call of one Linear left: device tensors, read at run.step."""
    __slots__ = ("pre", "act", "grad", "alive", "alive_leaky", "sat", "act_from_next", "z_copy")

    def __init__(self):
        self.pre = None
        self.act = None
        self.grad = None
        self.alive = None
        self.alive_leaky = None
        self.sat = None
        self.act_from_next = False
        self.z_copy = None


def _moments(t):
    """(count, mean, variance) of every element of t, in float64 (a float32 variance overflows where
    the values are still finite); the two statistics stay on the device."""
    t = t.detach().to(torch.float64)
    var, mean = torch.var_mean(t, unbiased=False)
    return t.numel(), mean, var


class Run:
    """A watched training run: call ``step(loss)`` after ``loss.backward()``, ``close()`` at the end."""

    def __init__(self, model, optimizer, path, every=1, clip=None, name=None, group=None,
                 on_non_finite="stop", shard_group=None):
        if not isinstance(model, nn.Module):
            raise TypeError("watch() needs the model (an nn.Module) first")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a whole number >= 1, not {every!r}")
        if on_non_finite not in ("stop", "log"):
            raise ValueError('on_non_finite must be "stop" or "log"')
        self.model = model
        self.optimizer = optimizer
        self.path = os.fspath(path)
        self.every = every
        self.clip = _check_clip(clip)
        self.on_non_finite = on_non_finite
        self.group = group
        inner = unwrap(model)
        self.name = name or type(inner).__name__
        dist = _dist()
        self.world = dist.get_world_size(group) if dist else 1
        self.rank = dist.get_rank(group) if dist else 0
        fsdp = dist is not None and is_fsdp(model)
        self.shard_group = shard_group if shard_group is not None else (group if fsdp else None)
        self.sharded = dist is not None and (shard_group is not None or fsdp)
        self.linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
        if not self.linears:
            raise ValueError("the model has no nn.Linear layer to watch")
        self.activations = [m for m in inner.modules() if is_activation_module(m)]
        self.order = []          # Linear modules in forward order (fixed after the first logged step)
        self.index = {}
        self.act = []            # (name, alpha) per layer, once known
        self.calls = {}          # layer -> [_Call]
        self.input_part = []     # moments of the first layer's inputs per call
        self.rows = 0
        self.last = None         # (layer, output tensor, call) of the latest Linear call
        self.handles = []
        self.step_index = 0
        self.applied = 0
        self.ended = False
        self.reported_non_finite = False
        self.manual = None       # (gradNorm, gradNormClipped, clipped, mode, max) of a manual clip this step
        self.grad_parts = None   # per-layer gradient moments taken before a manual clip
        self.t0 = time.perf_counter()
        self.writer = _Writer(self.path) if self.rank == 0 else None
        self.started = False
        self._arm()

    # ----- hooks ---------------------------------------------------------------------------

    def _arm(self):
        if self.handles:
            return
        for m in self.linears:
            self.handles.append(m.register_forward_hook(self._linear_hook))
        for m in self.activations:
            self.handles.append(m.register_forward_hook(self._activation_hook))

    def _disarm(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def _linear_hook(self, module, inputs, output):
        if not torch.is_grad_enabled() or not isinstance(output, torch.Tensor):
            return
        i = self.index.get(module)
        if i is None:
            if self.started:
                return  # a Linear the first logged step did not call
            i = self.index[module] = len(self.order)
            self.order.append(module)
            self.act.append(None)
        x = inputs[0] if inputs else None
        # a functional activation of the previous layer: its statistics are this layer's input
        if self.last is not None and x is not None and self.last[0] == i - 1 and self.last[2].act is None:
            prev = self.last[2]
            prev.act = _moments(x)
            prev.act_from_next = True
            if self.act[i - 1] is None and prev.z_copy is not None:
                self.act[i - 1] = infer_activation(prev.z_copy, x.detach()) or ("linear", None)
            prev.z_copy = None
            name = (self.act[i - 1] or ("linear", None))[0]
            prev.sat = saturated_count(name, x.detach())
        if i == 0 and x is not None:
            self.input_part.append(_moments(x))
            self.rows += x.numel() // max(1, module.in_features)
        call = _Call()
        z = output.detach()
        call.pre = _moments(z)
        known = self.act[i]
        flat = z.reshape(-1, z.shape[-1]) if z.dim() > 0 else z.reshape(1, 1)
        if known is None or known[0] == "relu":
            call.alive = (flat > 0).any(0)
        if known is None or known[0] == "leaky_relu":
            call.alive_leaky = (flat >= 0).any(0)
        if known is None and not self.started:
            call.z_copy = z.clone()
        if output.requires_grad:
            output.register_hook(lambda g, c=call: setattr(c, "grad", _moments(g)))
        self.calls.setdefault(i, []).append(call)
        self.last = (i, output, call)

    def _activation_hook(self, module, inputs, output):
        if self.last is None or not inputs or inputs[0] is not self.last[1] or not isinstance(output, torch.Tensor):
            return
        i, _, call = self.last
        if call.act is not None:
            return
        kind = activation_of_module(module)
        if self.act[i] is None:
            self.act[i] = kind
        a = output.detach()
        call.act = _moments(a)
        call.sat = saturated_count(kind[0], a)
        call.z_copy = None

    # ----- clipping ------------------------------------------------------------------------

    @property
    def params(self):
        """The parameters to clip and measure, read anew each step (sharding may replace them)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def _grads(self):
        return [p.grad for p in self.params if p.grad is not None]

    def _logged(self):
        return self.step_index % self.every == 0

    def _take_grad_parts(self):
        """Moments of each layer's weight and bias gradients, before any clipping."""
        if self.grad_parts is None:
            parts = []
            for m in self.order:
                gw = m.weight.grad
                gb = m.bias.grad if m.bias is not None else None
                parts.append((_moments(gw) if gw is not None else None, _moments(gb) if gb is not None else None))
            self.grad_parts = parts
        return self.grad_parts

    def clip_grad_norm_(self, max_norm, norm_type=2.0, error_if_nonfinite=False):
        """``torch.nn.utils.clip_grad_norm_`` over the model's parameters; records the norms before and after."""
        if self._logged():
            self._take_grad_parts()
        if hasattr(self.model, "clip_grad_norm_"):  # FSDP: the norm over all shards
            total = self.model.clip_grad_norm_(max_norm, norm_type=norm_type)
        else:
            total = torch.nn.utils.clip_grad_norm_(self.params, max_norm, norm_type=norm_type,
                                                   error_if_nonfinite=error_if_nonfinite)
        self.manual = ("norm", float(max_norm), total)
        return total

    def clip_grad_value_(self, clip_value):
        """``torch.nn.utils.clip_grad_value_`` over the model's parameters; records the norms before and after."""
        if self._logged():
            self._take_grad_parts()
        grads = self._grads()
        before = _total_norm(grads)
        over = torch.stack([g.detach().abs().max() for g in grads]).max() > float(clip_value) if grads else None
        result = torch.nn.utils.clip_grad_value_(self.params, clip_value)
        self.manual = ("value", float(clip_value), before, over)
        return result

    def _clip(self):
        """Applies the configured clip unless the user clipped by hand this step.

        Returns (gradNorm before, gradNorm after, clipped) as device tensors (or None).
        """
        grads = self._grads()
        if self.manual is not None:
            m = self.manual
            if m[0] == "norm":
                before = m[2]
                return before, _total_norm(grads), before > m[1]
            return m[2], _total_norm(grads), m[3]
        before = _total_norm(grads)
        if self.clip is None:
            return before, before, None
        c = self.clip["max"]
        if self.clip["mode"] == "norm":
            if hasattr(self.model, "clip_grad_norm_"):  # FSDP: the norm over all shards
                before = self.model.clip_grad_norm_(c).to(torch.float64)
            else:
                torch.nn.utils.clip_grad_norm_(self.params, c)
            return before, _total_norm(grads), before > c
        over = torch.stack([g.detach().abs().max() for g in grads]).max() > c if grads else None
        torch.nn.utils.clip_grad_value_(self.params, c)
        return before, _total_norm(grads), over

    # ----- the step ------------------------------------------------------------------------

    def step(self, loss=None):
        """Clips (if ``clip`` was given), calls ``optimizer.step()`` and writes step k's event."""
        if self.ended:
            raise RuntimeError("this run has ended (close() was called or non-finite values stopped it)")
        k = self.step_index
        try:
            if self._logged():
                self._logged_step(k, loss)
            else:
                self._plain_step(k, loss)
        finally:
            self.manual = None
            self.grad_parts = None
        self.step_index = k + 1
        if self._logged():
            self._arm()
        else:
            self._disarm()

    def _plain_step(self, k, loss):
        before, _, _ = self._clip()
        bad = before is not None and not bool(torch.isfinite(before))
        if not bad and loss is not None and self.world == 1:
            bad = not math.isfinite(float(loss))
        if bad:
            layer = self._first_bad_parameter()
            self._non_finite(k, layer, "gradients (found at a step that was not logged; the layer is the first "
                                       "whose gradients or weights are not finite)")
            if self.on_non_finite == "stop":
                return
        self.optimizer.step()
        self.applied += 1

    def _first_bad_parameter(self):
        layers = self.order or self.linears
        for i, m in enumerate(layers):
            for p in (m.weight, m.bias):
                if p is None:
                    continue
                if not bool(torch.isfinite(p).all()) or (p.grad is not None and not bool(torch.isfinite(p.grad).all())):
                    return i
        return len(layers) - 1

    def _logged_step(self, k, loss):
        L = len(self.order)
        if L == 0:
            raise RuntimeError("run.step() on a logged step, but no nn.Linear ran in the forward pass "
                               "since the last step (call the model before run.step)")
        first = not self.started
        self.started = True
        for i in range(L):
            if self.act[i] is None:
                self.act[i] = ("linear", None)
        grad_parts = self._take_grad_parts()
        gn_before, gn_after, clipped = self._clip()
        dev = self.order[0].weight.device

        # --- the samples' part: gathered over the data-parallel group
        self.loss_given = loss is not None
        calls = [self.calls.get(i, []) for i in range(L)]
        counts, stats, vectors = [float(self.rows)], [], []
        stats.append(loss.detach().reshape(()).to(torch.float64) if isinstance(loss, torch.Tensor)
                     else torch.tensor(float("nan") if loss is None else float(loss), dtype=torch.float64, device=dev))
        ip = _merge_device(self.input_part, dev)
        counts.append(float(ip[0]))
        stats += [ip[1], ip[2]]
        for i in range(L):
            cs = calls[i]
            for key in ("pre", "act", "grad"):
                parts = [getattr(c, key) if getattr(c, key) is not None else (c.pre if key == "act" else None) for c in cs]
                m = _merge_device([p for p in parts if p is not None], dev)
                counts.append(float(m[0]))
                stats += [m[1], m[2]]
            sat = [c.sat for c in cs if c.sat is not None]
            stats.append(torch.stack([s.to(torch.float64) for s in sat]).sum() if sat else _zero(dev))
            name = self.act[i][0]
            if name in ("relu", "leaky_relu"):
                key = "alive" if name == "relu" else "alive_leaky"
                vs = [getattr(c, key) for c in cs if getattr(c, key) is not None]
                units = self.order[i].out_features
                alive = torch.stack(vs).any(0).to(torch.float64) if vs else torch.zeros(units, dtype=torch.float64, device=dev)
                vectors.append(alive)
        # --- the parameters' part (replicas under DDP; shards where parameters are sharded)
        params = []
        for i, m in enumerate(self.order):
            params.append(_moments(m.weight))
            params.append(grad_parts[i][0] or (0, _zero(dev), _zero(dev)))
            params.append(grad_parts[i][1] or (0, _zero(dev), _zero(dev)))
        pvals = [float(p[0]) for p in params]
        ptensors = []
        for p in params:
            ptensors += [p[1], p[2]]
        ptensors += [gn_before if gn_before is not None else _zero(dev), gn_after if gn_after is not None else _zero(dev),
                     clipped.to(torch.float64) if isinstance(clipped, torch.Tensor) else _zero(dev)]
        sample_vec = torch.cat([torch.tensor(counts, dtype=torch.float64, device=dev),
                                torch.stack([s.to(torch.float64) for s in stats])] + vectors)
        param_vec = torch.cat([torch.tensor(pvals, dtype=torch.float64, device=dev),
                               torch.stack([t.to(torch.float64).reshape(()) for t in ptensors])])
        dist = _dist()
        if dist is not None and self.world > 1 and not self.sharded:
            gathered = _all_gather(dist, torch.cat([sample_vec, param_vec]), self.group)
            n = sample_vec.numel()
            rows_all = [r[:n] for r in gathered]
            prow = [gathered[self.rank][n:]]
        elif dist is not None and self.sharded:
            rows_all = _all_gather(dist, sample_vec, self.group) if self.world > 1 else [sample_vec.tolist()]
            prow = _all_gather(dist, param_vec, self.shard_group)
        else:
            both = torch.cat([sample_vec, param_vec]).tolist()
            n = sample_vec.numel()
            rows_all, prow = [both[:n]], [both[n:]]
        self.calls = {}
        self.input_part = []
        self.rows = 0
        self.last = None
        event, failure = self._assemble(k, rows_all, prow, first)

        if failure is None:
            before_w = [m.weight.detach().clone() for m in self.order]
            self.optimizer.step()
            self.applied += 1
            sq = _update_sums(self.order, before_w)
            if self.sharded and dist is not None:
                dist.all_reduce(sq, group=self.shard_group)
            sq = sq.tolist()
            bad_update = None
            for i, lay in enumerate(event["layers"]):
                w_sq = self._weight_sq[i]
                ratio = math.sqrt(sq[i]) / math.sqrt(w_sq) if w_sq > 0 else float("nan")
                lay["updateRatio"] = _stats.finite(ratio)
                if bad_update is None and not math.isfinite(sq[i]):
                    bad_update = i
            if bad_update is not None:
                self._non_finite(k, bad_update, "weights (the update overflowed)")
                if self.on_non_finite == "stop":
                    return
            self._write(event)
            return
        for lay in event["layers"]:
            lay["updateRatio"] = None
        layer, where = failure
        self._non_finite(k, layer, where, event if self.on_non_finite == "log" else None)
        if self.on_non_finite == "log":
            self.optimizer.step()
            self.applied += 1

    def _assemble(self, k, rows_all, prow, first):
        """The step event from the gathered rows (one per rank) and the parameters' rows."""
        L = len(self.order)
        total_rows = sum(r[0] for r in rows_all)
        # per rank: counts first (1 + 1 + 3L values), then the statistics, then alive vectors
        nc = 2 + 3 * L
        loss_sum = 0.0
        input_parts = []
        layer_parts = [[[], [], []] for _ in range(L)]
        sat = [0.0] * L
        alive = [None] * L
        for r in rows_all:
            counts, s = r[:nc], r[nc:]
            rows = counts[0]
            share = rows / total_rows if total_rows > 0 else 1.0
            loss_sum += s[0] * share
            input_parts.append((counts[1], s[1], s[2] * counts[1]))
            o = 3
            vec = nc + 3 + 7 * L
            for i in range(L):
                for q in range(3):
                    n_ = counts[2 + 3 * i + q]
                    part = (n_, s[o], s[o + 1] * n_)
                    if q == 2:
                        part = _stats.scaled(part, share)  # dL/dZ of the global-batch mean loss
                    layer_parts[i][q].append(part)
                    o += 2
                sat[i] += s[o]
                o += 1
                if self.act[i][0] in ("relu", "leaky_relu"):
                    u = self.order[i].out_features
                    v = r[vec:vec + u]
                    alive[i] = v if alive[i] is None else [a + b for a, b in zip(alive[i], v)]
                    vec += u
        loss = loss_sum if total_rows > 0 else rows_all[0][nc]
        q0 = _stats.merge(input_parts)
        # parameters: one row per shard (or the replica's own row)
        pw = []
        for i in range(3 * L):
            parts = [(p[i], p[3 * L + 2 * i], p[3 * L + 2 * i + 1] * p[i]) for p in prow]
            pw.append(_stats.merge(parts))
        tail = 3 * L + 6 * L
        gn_sq = sum(p[tail] ** 2 for p in prow) if self.sharded else prow[0][tail] ** 2
        gc_sq = sum(p[tail + 1] ** 2 for p in prow) if self.sharded else prow[0][tail + 1] ** 2
        clipped = any(p[tail + 2] > 0 for p in prow)
        self._weight_sq = [_stats.sum_squares(pw[3 * i]) for i in range(L)]
        layers = []
        merged = []
        for i in range(L):
            pre = _stats.merge(layer_parts[i][0])
            act = _stats.merge(layer_parts[i][1])
            grad = _stats.merge(layer_parts[i][2])
            merged.append((pre, act, grad))
            name = self.act[i][0]
            dead = None
            if name in ("relu", "leaky_relu") and alive[i] is not None:
                dead = sum(1 for a in alive[i] if a <= 0)
            w, gw, gb = pw[3 * i], pw[3 * i + 1], pw[3 * i + 2]
            layers.append({
                "index": i,
                "preact": _stats.mean_var(pre),
                "act": _stats.mean_var(act),
                "grad": _stats.mean_var(grad),
                "dead": dead,
                "saturated": _stats.finite(sat[i] / act[0]) if name in ("tanh", "sigmoid") and act[0] > 0 else None,
                "weight": _stats.mean_var(w),
                "weightGrad": {"norm": _stats.finite(math.sqrt(_stats.sum_squares(gw))) if gw[0] > 0 else None,
                               "var": _stats.mean_var(gw)["var"]},
                "biasGrad": {"norm": _stats.finite(math.sqrt(_stats.sum_squares(gb))) if gb[0] > 0 else 0.0},
                "updateRatio": None,
            })
        event = {
            "type": "step", "step": k, "loss": _stats.finite(loss),
            "inputVar": _stats.finite(_stats.sum_squares(q0) / q0[0]) if q0[0] > 0 else None,
            "gradNorm": _stats.finite(math.sqrt(gn_sq)), "gradNormClipped": _stats.finite(math.sqrt(gc_sq)),
            "clipped": bool(clipped), "layers": layers,
        }
        if first:
            self._write_start()
        # where non-finite values first appeared: forward in layer order, the loss, then backward
        failure = None
        for i in range(L):
            if not _stats.is_finite_part(merged[i][0]):
                failure = (i, "pre-activations (forward pass)")
                break
            if not _stats.is_finite_part(merged[i][1]):
                failure = (i, "activations (forward pass)")
                break
        if failure is None and self.loss_given and not math.isfinite(loss):
            failure = (L - 1, "loss")
        if failure is None:
            for i in reversed(range(L)):
                if not _stats.is_finite_part(merged[i][2]):
                    failure = (i, "gradients (backward pass)")
                    break
        if failure is None:
            for i in reversed(range(L)):
                if not (_stats.is_finite_part(pw[3 * i + 1]) and _stats.is_finite_part(pw[3 * i + 2])):
                    failure = (i, "gradients (backward pass)")
                    break
        return event, failure

    # ----- events --------------------------------------------------------------------------

    def _write(self, event):
        if self.writer is not None:
            self.writer.write(event)

    def _write_start(self):
        layers = []
        for i, m in enumerate(self.order):
            info = {"index": i, "units": m.out_features, "activation": self.act[i][0], "init": "pytorch",
                    "fanIn": m.in_features, "fanOut": m.out_features}
            if self.act[i][1] is not None:
                info["alpha"] = self.act[i][1]
            layers.append(info)
        self._write({
            "type": "start", "model": self.name, "parameters": sum(p.numel() for p in unwrap(self.model).parameters()),
            "steps": 0, "layers": layers, "clip": self.clip, "source": "pytorch", "worldSize": self.world,
        })

    def _non_finite(self, k, layer, where, event=None):
        lr = None
        try:
            lr = self.optimizer.param_groups[0]["lr"]
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        if not self.started:
            self.started = True
            for i in range(len(self.order)):
                if self.act[i] is None:
                    self.act[i] = ("linear", None)
            self._write_start()
        text = (f"Non-finite values (NaN or Inf) first appeared in the loss of output layer {layer} at step {k}"
                if where == "loss" else
                f"Non-finite values (NaN or Inf) first appeared in layer {layer}'s {where} at step {k}")
        stop = self.on_non_finite == "stop"
        message = text + ("; the run stopped." if stop else "; training goes on (on_non_finite=\"log\").")
        fix = NON_FINITE_FIX.format(lr=_fmt(lr / 10) if isinstance(lr, (int, float)) else "a tenth")
        if event is not None:
            self._write(event)
        if not self.reported_non_finite:
            self.reported_non_finite = True
            self._write({"type": "warning", "code": "non_finite", "severity": "error", "layer": layer, "step": k,
                         "message": message, "fix": fix})
        if stop:
            self._end("non_finite")
            raise NonFiniteError(text + ".", k, layer)

    def _end(self, reason):
        if self.ended:
            return
        self.ended = True
        self._disarm()
        if not self.started and self.writer is not None and self.order:
            self.started = True
            for i in range(len(self.order)):
                if self.act[i] is None:
                    self.act[i] = ("linear", None)
            self._write_start()
        self._write({"type": "end", "steps": self.applied, "reason": reason,
                     "elapsedMs": (time.perf_counter() - self.t0) * 1000.0})
        if self.writer is not None:
            self.writer.close()

    def close(self, reason="completed"):
        """Writes ``end`` (idempotent) and removes the hooks."""
        self._end(reason)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif not isinstance(exc, NonFiniteError):
            self.close("stopped")
        return False

    def __del__(self):
        try:
            if not self.ended:
                self.close("stopped")
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass


def _zero(dev):
    return torch.zeros((), dtype=torch.float64, device=dev)


def _total_norm(grads):
    """The L2 norm over every gradient tensor (a float64 0-d tensor), or None without gradients."""
    if not grads:
        return None
    return torch.norm(torch.stack([torch.norm(g.detach() if g.dtype in (torch.float32, torch.float64) else g.detach().float()).to(torch.float64) for g in grads]))


def _merge_device(parts, dev):
    """Merges (count, mean, var) parts with device tensors into one (count, mean, var)."""
    if not parts:
        return 0, _zero(dev), _zero(dev)
    if len(parts) == 1:
        return parts[0]
    n, mean, m2 = 0, None, None
    for nb, mb, vb in parts:
        mb = mb.to(torch.float64)
        m2b = vb.to(torch.float64) * nb
        if mean is None:
            n, mean, m2 = nb, mb, m2b
            continue
        total = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + delta * delta * (n * nb / total)
        n = total
    return n, mean, m2 / n


def _update_sums(layers, before):
    """sum((W_after - W_before)^2) per layer, as one float64 tensor."""
    return torch.stack([(m.weight.detach() - b).to(torch.float64).pow(2).sum() for m, b in zip(layers, before)])


def _all_gather(dist, vec, group):
    out = [torch.empty_like(vec) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, vec, group=group)
    return torch.stack(out).tolist()


def _fmt(x):
    return f"{x:.3g}"


def watch(model, optimizer, path, every=1, clip=None, name=None, group=None, on_non_finite="stop", **kwargs):
    """Starts writing the Layerwise event stream of this training run to ``path``.

    model: the ``nn.Module`` (possibly wrapped in DistributedDataParallel); its ``nn.Linear``
    modules are the layers, in forward order. optimizer: stepped by ``run.step``. every: step
    events for ``step % every == 0``. clip: ``{"mode": "norm" | "value", "max": c}`` or None.
    name: the run's name (default: the model's class). group: the data-parallel process group
    (default: the whole world). on_non_finite: "stop" (write ``end`` and raise NonFiniteError) or
    "log" (go on). ``shard_group=`` (keyword): the group whose ranks hold shards of the parameters,
    where they are sharded (FSDP's group is found by itself).
    """
    unknown = set(kwargs) - {"shard_group"}
    if unknown:
        raise TypeError(f"watch() got unexpected keyword arguments {sorted(unknown)}")
    return Run(model, optimizer, path, every=every, clip=clip, name=name, group=group,
               on_non_finite=on_non_finite, shard_group=kwargs.get("shard_group"))
