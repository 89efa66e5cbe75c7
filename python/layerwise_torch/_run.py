"""``watch``: the Layerwise event stream from a PyTorch training loop.

A logged step k (``k % every == 0``) arms forward hooks on every ``nn.Linear`` and activation
module before its forward pass (_taps.py). They keep, per layer and as device tensors, the count,
mean and variance of the pre-activations Z, the activations f(Z) and (through a tensor hook on Z)
of dL/dZ, each unit's largest pre-activation (dead units) and the saturated outputs.
``run.step(loss)`` then adds the parameters' and gradients' moments (_params.py), clips, and moves
everything to the host in one transfer (_transfer.py; under ``torch.distributed``: one
``all_gather`` over the data-parallel group, so that each rank's part is merged exactly, see
_stats.py), builds the step event (_events.py), decides about non-finite values on the same numbers
on every rank (_non_finite.py), calls ``optimizer.step()`` and writes the event (rank 0 only,
_writer.py); histograms (_hist.py) and lambda_max (_sharpness_probe.py) on their steps. Unlogged
steps arm nothing.

The events follow docs/events.md of the Layerwise repository: step k describes the forward and
backward pass of step k with the parameters before its update.
"""
import functools
import inspect
import math
import numbers
import os
import time
import warnings
import weakref

import torch
from torch import nn

from . import _device, _stats
from ._events import step_event
from ._hist import Work, histogram_event
from ._params import LayerSums, sumsq as _sumsq
from ._writer import LogBusy, Writer
from ._layers import (RELU_LIKE, current_weight, is_activation_module, is_compiled, is_fsdp, is_pass_through,
                      module_names, module_path, unwrap)
from ._taps import Taps
from ._non_finite import NonFiniteError, describe
from ._sharpness_probe import SharpnessProbe
from ._transfer import all_gather, distributed, host, merge_device, stack64

# an unlogged step on a device whose reads wait (CUDA) keeps its checks' values; at most this many
# are kept before they are read (one wait in DEFER_MAX steps, and bounded memory at a large every)
DEFER_MAX = 256

def _check_optimizer(optimizer):
    """The optimizer, where run.step can call its step() once on the step's gradients; LBFGS's
    step needs a closure that evaluates the loss again (several times a step): refused."""
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError("watch() needs the optimizer second (a torch.optim.Optimizer, whose step() run.step "
                        f"calls), not {type(optimizer).__name__}: watch(model, optimizer, path)")
    try:
        closure = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):  # no signature to read: let it be
        return optimizer
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(f"{type(optimizer).__name__}.step() needs a closure that evaluates the loss again (several "
                         "times a step), and run.step(loss) calls optimizer.step() once on the step's gradients: "
                         "use an optimizer that steps on them (SGD, Adam, AdamW, RMSprop, ...)")
    return optimizer


def _check_loss(call, loss):
    """A loss is a tensor, a number or None (none known)."""
    if loss is not None and not isinstance(loss, torch.Tensor) and (isinstance(loss, bool)
                                                                     or not isinstance(loss, numbers.Real)):
        raise TypeError(f"{call}: the loss (the tensor you called backward() on, or a number), not "
                        f"{type(loss).__name__}")


def _check_bound(call, c):
    """A clipping bound: a number (or one-element tensor) > 0; inf clips nothing, as in torch."""
    try:
        v = float(c) if not isinstance(c, bool) else math.nan
    except (TypeError, ValueError, RuntimeError):
        v = math.nan
    if not v > 0:
        raise ValueError(f"{call}: a number > 0 (inf to measure without clipping), not {c!r}")


def _check_clip(clip):
    if clip is None:
        return None
    if not isinstance(clip, dict) or set(clip) - {"mode", "max"} or clip.get("mode") not in ("norm", "value"):
        raise ValueError('clip must be None or {"mode": "norm" | "value", "max": c}')
    c = clip.get("max")
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
        raise ValueError(f"clip max must be a finite number > 0, not {c!r}")
    return {"mode": clip["mode"], "max": float(c)}


_LIVE = weakref.WeakKeyDictionary()  # a watched module -> its run (weakly), while it is not ended


class Run:
    """A watched training run: call ``step(loss)`` after ``loss.backward()``, ``close()`` at the end."""

    def __init__(self, model, optimizer, path, every=1, clip=None, name=None, group=None,
                 on_non_finite="stop", shard_group=None, histograms_every=10, sharpness_every=0, scaler=None):
        if not isinstance(model, nn.Module):
            raise TypeError("watch() needs the model (an nn.Module) first")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a whole number >= 1, not {every!r}")
        if isinstance(histograms_every, bool) or not isinstance(histograms_every, int) or histograms_every < 0:
            raise ValueError(f"histograms_every must be a whole number >= 0, not {histograms_every!r}")
        self.hist_every = histograms_every
        self.hist_work = Work()
        if isinstance(sharpness_every, bool) or not isinstance(sharpness_every, int) or sharpness_every < 0:
            raise ValueError(f"sharpness_every must be a whole number >= 0, not {sharpness_every!r}")
        self.sharp = SharpnessProbe(sharpness_every)
        self.step_loss = self.step_closure = None  # what run.step was given, while it runs (the probe reads them)
        if on_non_finite not in ("stop", "log"):
            raise ValueError('on_non_finite must be "stop" or "log"')
        self.model = model
        self.optimizer = _check_optimizer(optimizer)
        self.path = os.fspath(path)
        self.every = every
        self.clip = _check_clip(clip)
        self.on_non_finite = on_non_finite
        self.group = group
        inner = unwrap(model)
        self.name = name or type(inner).__name__
        dist = distributed()
        self.world = dist.get_world_size(group) if dist else 1
        self.rank = dist.get_rank(group) if dist else 0
        fsdp = dist is not None and is_fsdp(model)
        self.shard_group = shard_group if shard_group is not None else (group if fsdp else None)
        self.sharded = dist is not None and (shard_group is not None or fsdp)
        linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
        if not linears:
            if isinstance(inner, torch.jit.ScriptModule):
                raise ValueError("the model is a TorchScript module (torch.jit.script or torch.jit.trace), whose "
                                 "compiled forward pass runs no Python hooks: call watch() on the nn.Module, and "
                                 "script or trace it for deployment after training")
            raise ValueError("the model has no nn.Linear layer to watch")
        # the layers and what the armed hooks keep of a logged step's passes
        self.taps = Taps(linears, [m for m in inner.modules() if is_activation_module(m)],
                         [m for m in inner.modules() if is_pass_through(m)], self._hist_step, lambda: self.started)
        self.step_index = 0
        self.applied = 0
        self.ended = False
        self.reported_non_finite = False
        self.module_names = None  # (layers, their modules' names or None): _modules, once the layers are fixed
        self.manual = None       # (gradNorm, gradNormClipped, clipped, mode, max) of a manual clip this step
        # mixed precision: the GradScaler the loop scales its loss with (None where it is disabled)
        for attr in ("unscale_", "step", "update", "get_scale", "is_enabled"):
            if scaler is not None and not callable(getattr(scaler, attr, None)):
                raise TypeError(f"scaler must be a torch GradScaler (it has no {attr}()), not {type(scaler).__name__}")
        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None
        # unlogged steps take step()'s short path where there is nothing to clip or unscale
        self.lean = self.clip is None and self.scaler is None
        self.unscaled = False    # whether this step's gradients were unscaled yet
        self.grad_scale = 1.0    # the scale this step's backward pass ran with
        self.sample_share = 1.0  # this rank's share of the logged step's global batch
        self.grad_parts = None   # per-layer gradient moments taken before a manual clip
        self.t0 = time.perf_counter()
        # a run of this model that was never closed (a notebook cell run again): ended first, so
        # that one set of hooks records, and this run's zero_grad stand-in is the one installed
        earlier = _LIVE.get(inner)
        earlier = earlier() if earlier is not None else None
        if earlier is not None and not earlier.ended:
            warnings.warn("layerwise_torch: an earlier run watching this model was never closed; it is closed now "
                          "(its log ends with reason 'stopped')", stacklevel=3)
            earlier.close("stopped")
        _LIVE[inner] = weakref.ref(self)
        self.writer = None
        if self.rank == 0:
            try:
                self.writer = Writer(self.path)
            except LogBusy:
                warnings.warn(f"layerwise_torch: another run is writing {self.path}; this one writes no log "
                              "(give each run, or each data-parallel group, a path of its own)", stacklevel=3)
        self.started = False
        self.no_backward_warned = False
        self.separate_warned = False
        self.pending = []        # events given before `start` could be written
        self.in_step = False
        self.outside_steps = 0
        self.sums = LayerSums()  # per-layer sums of weights and gradients, and the weights' snapshot
        self.idle, self.idle_key, self.idle_warned = set(), None, False  # layers no parameter group holds
        self.clipped_steps = 0   # steps whose gradients clipping changed, for `end`
        self.clip_known = True   # False once an unlogged step's clip by value could not be told
        # where reading a value waits for the device (CUDA): the values unlogged steps' checks need,
        # kept until the next logged step's transfer reads them (_defer_checks, _read_deferred)
        self.deferred = []  # (step, clip max, loss, clip norm) of unlogged steps, not yet read
        # torch >= 2.0: notice an optimizer.step() that bypasses run.step (its update would go unlogged)
        self.step_hook = None
        if hasattr(optimizer, "register_step_post_hook"):
            self.step_hook = optimizer.register_step_post_hook(self._optimizer_stepped)
        self.zero_grads = [_ZeroGrad.install(o, self) for o in (optimizer, model, inner)]
        self.taps.arm()
        self.sharp.arm(self.model, self._sharp_step())

    # ----- hooks ---------------------------------------------------------------------------

    def _zeroing(self):
        """Before the optimizer's or the model's zero_grad: forget the calls whose gradients it
        zeroes (their backward pass ran), which are not the next step's."""
        self.taps.drop_answered()
        self.sharp.drop_answered()

    def _optimizer_stepped(self, *_):
        if self.in_step:
            return
        self.outside_steps += 1
        if self.outside_steps == 1:
            warnings.warn("layerwise_torch: optimizer.step() was called outside run.step(loss); call run.step(loss) "
                          "instead, so that the step is clipped, counted and logged", stacklevel=3)

    def _warn_separate_passes(self, k, calls):
        """Once, on rank 0: a layer's dL/dZ came from more than one backward pass through one forward
        call (loss1.backward(retain_graph=True); loss2.backward()): its statistics are the last
        pass's, not those of the sum that the parameters' gradients hold. (A gradient penalty's
        autograd.grad(..., create_graph=True) before the backward pass accumulates nothing, and is
        not that: the backward pass's dL/dZ is the step's.)"""
        if self.separate_warned or self.rank != 0:
            return
        for i, cs in enumerate(calls):
            if any(c.separate for c in cs):
                self.separate_warned = True
                warnings.warn(f"layerwise_torch: at step {k}, layer {i}'s dL/dZ came from more than one backward pass "
                              "(losses back-propagated one at a time): its statistics are the last pass's. "
                              "Back-propagate their sum once, e.g. (loss1 + loss2).backward(), for the step's "
                              "exact statistics", stacklevel=4)
                return

    def _warn_updated_before(self, k, calls):
        """Once: a layer's weight changed in place between the step's forward pass and run.step,
        which is what an optimizer.step() left in the loop beside run.step does (every step then
        updates twice). Torch >= 2.0 says so from an optimizer hook; 1.13 has none, so the weights'
        version counters tell (read on logged steps, where the hooks saw the forward pass)."""
        if self.outside_steps or self.sharded or self.rank != 0:
            return
        for i, (m, cs) in enumerate(zip(self.order, calls)):
            w = m.weight
            if any(c.weight is not None and c.weight[0] == id(w) and c.weight[1] != w._version for c in cs):
                self.outside_steps += 1
                warnings.warn(f"layerwise_torch: layer {i}'s weights changed between the forward pass "
                              f"and run.step(loss) at step {k}: is optimizer.step() still called in the loop? "
                              "run.step(loss) calls it (each step would update twice); remove the other call",
                              stacklevel=4)
                return

    @property
    def order(self):
        """The layers: nn.Linear modules in forward order (fixed after the first logged step)."""
        return self.taps.order

    @property
    def act(self):
        """(name, alpha) of each layer's activation, None until known."""
        return self.taps.act

    # ----- clipping ------------------------------------------------------------------------

    @property
    def params(self):
        """The parameters to clip and measure, read anew each step (sharding may replace them)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def _grads(self):
        return [p.grad for p in self.params if p.grad is not None]

    def _logged(self):
        return self.step_index % self.every == 0

    def _sharp_step(self):
        """lambda_max on the logged steps whose step is a multiple of sharpness_every."""
        return self.sharp.due(self.step_index) and self._logged()

    def _hist_step(self):
        """Histograms on the logged steps whose step is a multiple of histograms_every."""
        return self.hist_every > 0 and self.step_index % self.hist_every == 0 and self._logged()

    def _take_grad_parts(self):
        """Before any clipping: each layer's sum(dL/dW), sum(dL/dW^2) and sum(dL/db^2) as 1-d device
        tensors in layer order, and the sums of squares of the model's other gradients."""
        if self.grad_parts is None:
            gws = [_grad(m.weight) for m in self.order]
            gbs = [m.bias.grad if m.bias is not None else None for m in self.order]
            mine = {id(m.weight) for m in self.order} | {id(m.bias) for m in self.order if m.bias is not None}
            others = [p.grad for p in self.params if id(p) not in mine and p.grad is not None]
            gw_sum, gw_sq = self.sums.sums(gws)
            gb_sq = self.sums.sums(gbs, exact=False)[1]
            self.grad_parts = (gw_sum, gw_sq, gb_sq, [_sumsq(g) for g in others])
        return self.grad_parts

    def clip_grad_norm_(self, max_norm, norm_type=2.0, error_if_nonfinite=False):
        """``torch.nn.utils.clip_grad_norm_`` over the model's parameters (FSDP's own where the model
        has one); returns what it returns, and the step event records the norms before and after.
        Under a GradScaler the gradients are unscaled first (as ``scaler.unscale_`` would)."""
        _check_bound("run.clip_grad_norm_(max_norm)", max_norm)
        self._unscale()
        if self._logged():
            self._take_grad_parts()
        if hasattr(self.model, "clip_grad_norm_"):  # FSDP: the norm over all shards
            total = self.model.clip_grad_norm_(max_norm, norm_type=norm_type)
        else:
            total = torch.nn.utils.clip_grad_norm_(self.params, max_norm, norm_type=norm_type,
                                                   error_if_nonfinite=error_if_nonfinite)
        self.manual = ("norm", float(max_norm), total, None)
        return total

    def clip_grad_value_(self, clip_value):
        """``torch.nn.utils.clip_grad_value_`` over the model's parameters; returns what it returns
        (None), and the step event records the norms before and after. Under a GradScaler the
        gradients are unscaled first."""
        _check_bound("run.clip_grad_value_(clip_value)", clip_value)
        self._unscale()
        over = None
        if self._logged():
            self._take_grad_parts()
            grads = self._grads()
            over = torch.stack([g.detach().abs().max() for g in grads]).max() > float(clip_value) if grads else None
        result = torch.nn.utils.clip_grad_value_(self.params, clip_value)
        self.manual = ("value", float(clip_value), None, over)
        return result

    def _unscale(self):
        """Under a GradScaler: the gradients divided by its scale, once a step (where the loop called
        ``scaler.unscale_`` itself already, as for its own clipping, nothing more)."""
        if self.scaler is None or self.unscaled:
            return
        self.unscaled = True
        try:
            self.scaler.unscale_(self.optimizer)
        except RuntimeError as e:
            if "already been called" not in str(e):
                raise

    def _optimizer_step(self):
        """optimizer.step(), or under a GradScaler its step (skipped on an overflow) and update."""
        if self.scaler is None:
            self.optimizer.step()
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _clip(self, logged):
        """Applies the configured clip unless the user clipped by hand this step.

        Returns (mode, max, total, over): mode None without clipping; total the norm torch's
        clip_grad_norm_ returned (norm mode); over whether any |g| exceeded the value (value mode,
        logged steps only).
        """
        if self.manual is not None:
            return self.manual
        if self.clip is None:
            return None, None, None, None
        c = self.clip["max"]
        if self.clip["mode"] == "norm":
            if hasattr(self.model, "clip_grad_norm_"):  # FSDP: the norm over all shards
                total = self.model.clip_grad_norm_(c)
            else:
                total = torch.nn.utils.clip_grad_norm_(self.params, c)
            return "norm", c, total, None
        grads = self._grads()
        over = torch.stack([g.detach().abs().max() for g in grads]).max() > c if logged and grads else None
        torch.nn.utils.clip_grad_value_(self.params, c)
        return "value", c, None, over

    # ----- the step ------------------------------------------------------------------------

    def step(self, loss=None, closure=None):
        """Clips (if ``clip`` was given), calls ``optimizer.step()`` and writes step k's event.

        ``closure``: with ``sharpness_every=K``, a function that recomputes this step's loss (the
        forward pass on the same batch, as for ``torch.optim.LBFGS``); on the logged steps whose step
        is a multiple of K it gives lambda_max of the loss's Hessian before the update."""
        k = self.step_index
        if (self.lean and k % self.every and (k + 1) % self.every and closure is None and self.manual is None
                and isinstance(loss, torch.Tensor) and loss.numel() == 1 and not self.ended):
            # an unlogged step between unlogged steps, with nothing to clip or unscale: what
            # _plain_step does then, in as few operations as it takes (the time after the backward
            # pass, whose caches it emptied, counts each one). One process reads its loss, or where
            # reads wait for the device keeps it for a later transfer; under torch.distributed
            # nothing is read. A non-finite loss takes the full path, which names it.
            short = True
            if _device.reads_wait(loss):
                self._defer_checks(k, None, None, None, loss)
            elif self.world == 1:
                v = float(loss)
                short = v - v == 0  # (finite)
            if short:
                self.in_step = True
                try:
                    self.optimizer.step()
                finally:
                    self.in_step = False
                self.applied += 1
                self.step_index = k + 1
                return
        if self.ended:
            raise RuntimeError("this run has ended (close() was called or non-finite values stopped it)")
        _check_loss("run.step(loss)", loss)
        if closure is not None and not callable(closure):
            raise TypeError(f"run.step(loss, closure=...): a function that recomputes this step's loss, not "
                            f"{type(closure).__name__}")
        if isinstance(loss, torch.Tensor) and loss.numel() != 1:
            raise ValueError(f"run.step(loss): the loss must be one value, not a tensor of shape {tuple(loss.shape)} "
                             "(per-sample losses?): give the one you call backward() on, e.g. loss.mean()")
        self.step_closure = closure
        self.step_loss = loss
        self.in_step = True
        try:
            if self._logged():
                self._logged_step(k, loss)
            else:
                self._plain_step(k, loss)
        finally:
            self.in_step = False
            self.manual = None
            self.unscaled = False
            self.grad_parts = None
            self.step_loss = self.step_closure = None
        self.step_index = k + 1
        if self.ended:
            return
        if self._logged():
            self.taps.arm()
        else:
            self.taps.disarm()
        self.sharp.arm(self.model, self._sharp_step())

    def _plain_step(self, k, loss):
        """An unlogged step: clip, a non-finite check on what is already at hand, the update.

        The check reads the loss (one process) and the norm that clipping computes anyway. Under
        torch.distributed a rank's own loss could disagree with the others' and stop it alone, so
        there only the clip norm (the same on every rank after the all-reduce) is read, and the next
        logged step, whose statistics every rank shares, catches the rest. Where reading a value
        waits for the device (CUDA) nothing is read: _defer_checks keeps the values for later.
        """
        if self.clip is not None and self.manual is None:
            self._unscale()  # clipping works on the true gradients
        mode, c, total, _ = self._clip(False)
        probe = total if isinstance(total, torch.Tensor) else loss if isinstance(loss, torch.Tensor) else None
        # (a GradScaler's step reads the device every step anyway: there a read here adds no wait)
        if probe is not None and self.scaler is None and _device.reads_wait(probe):
            self._defer_checks(k, mode, c, total, loss)
            self._optimizer_step()
            self.applied += 1
            return
        # (under a GradScaler an overflow is its business: it skips the update and lowers the scale)
        bad = self.scaler is None and mode == "norm" and total is not None and not bool(torch.isfinite(total))
        if mode == "norm" and total is not None and float(total) > c:
            self.clipped_steps += 1
        elif mode == "value":
            self.clip_known = False
        if not bad and loss is not None and self.world == 1:
            bad = not math.isfinite(float(loss))
        if bad:
            layer, weights_finite = self._first_bad_parameter()
            self._non_finite(k, layer, "gradients (found at a step that was not logged; the layer is the first "
                                       "whose gradients or weights are not finite)", data_first=weights_finite)
            if self.on_non_finite == "stop":
                return
        self._optimizer_step()
        self.applied += 1

    def _defer_checks(self, k, mode, c, total, loss):
        """_plain_step's checks where reading a value would wait for the device (CUDA): a read on
        every unlogged step would keep the host from queueing the next step while the device runs
        this one. Nothing runs on the device either: the step's loss (detached, a 0-d tensor, or a
        number given) and clip norm are kept, and read in one transfer by the next logged step, by
        close, or after DEFER_MAX unlogged steps (one wait in that many)."""
        if mode == "value":
            self.clip_known = False
        lo = None
        if self.world == 1 and isinstance(loss, torch.Tensor):
            lo = loss.detach().reshape(())
        elif self.world == 1 and isinstance(loss, (int, float)):
            lo = float(loss)
        norm = total.detach().reshape(()) if mode == "norm" and isinstance(total, torch.Tensor) else None
        if lo is None and norm is None:
            return
        self.deferred.append((k, c, lo, norm))
        if len(self.deferred) >= DEFER_MAX:
            self._report_deferred()

    def _read_deferred(self):
        """What _defer_checks kept, read in one transfer: the steps clipping changed are counted;
        returns the first step whose loss or clip norm was not finite, or None."""
        items, self.deferred = self.deferred, []
        ts = [t for _, _, lo, norm in items for t in (lo, norm) if isinstance(t, torch.Tensor)]
        if ts:  # (in a dtype that holds each exactly: converting only where dtypes differ)
            dev, dt = ts[0].device, functools.reduce(torch.promote_types, {t.dtype for t in ts})
            vals = iter(torch.stack([t.to(device=dev, dtype=dt) for t in ts]).tolist())
        first = None
        for k, c, lo, norm in items:
            lv = next(vals) if isinstance(lo, torch.Tensor) else lo
            nv = next(vals) if norm is not None else None
            if nv is not None and nv > c:
                self.clipped_steps += 1
            bad = (lv is not None and not math.isfinite(lv)) or (nv is not None and not math.isfinite(nv))
            if bad and first is None:
                first = k
        return first

    def _report_deferred(self, final=False):
        """A non-finite unlogged step that _defer_checks found, reported as _plain_step would have
        (the step, the first layer whose gradients or weights are not finite now), when read."""
        j = self._read_deferred()
        if j is None or self.reported_non_finite:
            return
        layer, weights_finite = self._first_bad_parameter()
        when = "as the run ended" if final else "at a later step"
        self._non_finite(j, layer, f"gradients (found at a step that was not logged, read {when}: on this device "
                                   "an unlogged step does not wait for its values; the layer is the first whose "
                                   "gradients or weights are not finite)", data_first=weights_finite, final=final)

    def _first_bad_parameter(self):
        """(the first layer whose weights or gradients are not finite, whether every weight is)."""
        layers = self.order or self.taps.linears
        first = None
        for i, m in enumerate(layers):
            for p in (m.weight, m.bias):
                if p is None:
                    continue
                if not bool(torch.isfinite(p).all()):
                    return (i if first is None else first), False
                g = _grad(p)
                if first is None and g is not None and not bool(torch.isfinite(g).all()):
                    first = i
        return (len(layers) - 1 if first is None else first), True

    def _logged_step(self, k, loss):
        if self.deferred:
            self._report_deferred()  # (raises under on_non_finite="stop")
        first = not self.started
        if first:
            self.taps.read_at_loss(loss)
            self.taps.prune()
        L = len(self.order)
        if L == 0:
            if is_compiled(self.model):
                raise RuntimeError("run.step() on a logged step, but the torch.compile'd model's code ran none "
                                   "of the hooks Layerwise put on its nn.Linear modules: call "
                                   "layerwise_torch.watch(model, ...) before compiling the model (hooks present "
                                   "when it compiles are traced), or watch the uncompiled model")
            raise RuntimeError("run.step() on a logged step, but no nn.Linear ran in the forward pass "
                               "since the last step (call the model before run.step)")
        self.started = True
        self.taps.settle()
        if self.scaler is not None:
            self.grad_scale = float(self.scaler.get_scale())  # before update(): this backward pass's
            self._unscale()
        gw_sum, gw_sq, gb_sq, other_sq = self._take_grad_parts()
        clip_mode, clip_max, clip_total, clip_over = self._clip(True)
        self.clip_used = (clip_mode, clip_max)
        dev = self.order[0].weight.device
        dt = self.order[0].weight.dtype if self.order[0].weight.dtype.is_floating_point else torch.float32

        # --- the samples' part, gathered over the data-parallel group (its layout: _events.py)
        self.loss_given = loss is not None
        calls, input_part, rows = self.taps.take()
        self._warn_no_backward(k, calls)
        self._warn_separate_passes(k, calls)
        self._warn_updated_before(k, calls)
        # the statistics stay in the model's dtype (float32 values are exact as Python floats): one
        # stack and one transfer, no conversions
        zero = torch.zeros((), dtype=dt, device=dev)
        dist = distributed()
        # the first logged step under torch.distributed also gathers each rank's reading of the
        # activations, and every layer's units' maxima, so the ranks agree on them (Taps.agree)
        agreeing = first and dist is not None and self.world > 1
        counts, stats, vectors = [float(rows)], [], []
        stats.append(loss.detach().reshape(()) if isinstance(loss, torch.Tensor)
                     else torch.tensor(float("nan") if loss is None else float(loss), dtype=torch.float64, device=dev))
        ip = merge_device(input_part, dev)
        counts.append(float(ip[0]))
        stats += [ip[1], ip[2]]
        for i in range(L):
            cs = calls[i]
            for key in ("pre", "act", "grad"):
                # (a call whose activation was not seen has f(Z) = Z: its act part is its pre part)
                parts = [getattr(c, key) if getattr(c, key) is not None else c.pre if key == "act" else None
                         for c in cs]
                parts = [p for p in parts if p is not None]
                m = merge_device(parts, dev)
                counts.append(float(m[0]))
                stats += [m[1], m[2]]
            sat = [c.sat for c in cs if c.sat is not None]
            stats.append(torch.stack(sat).sum().to(dt) if sat else zero)
            name = self.act[i][0]
            if name in RELU_LIKE or agreeing:
                vs = [c.zmax for c in cs if c.zmax is not None]
                units = self.order[i].out_features
                vectors.append(torch.stack(vs).amax(0) if vs else torch.full((units,), -1.0, dtype=dt, device=dev))
        # --- the parameters' part (replicas under DDP; shards where parameters are sharded), laid
        # out as _events.py reads it. The weights are copied here for the update's measure (the
        # optimiser has not run).
        ws = [m.weight.detach() for m in self.order]
        pcounts = []
        for m, w in zip(self.order, ws):
            g = _grad(m.weight)
            pcounts += [float(w.numel()), float(g.numel() if g is not None else 0)]
        w_sum, w_sq = self.sums.snapshot(ws)
        pcols = [w_sum, w_sq, gw_sum, gw_sq, gb_sq]
        extras = [stack64(other_sq).sum() if other_sq else zero,
                  clip_total if isinstance(clip_total, torch.Tensor) else zero,
                  clip_over if isinstance(clip_over, torch.Tensor) else zero]
        after = [g for g in self._grads()] if clip_mode == "value" else []
        extras.append(stack64([_sumsq(g) for g in after]).sum() if after else zero)
        if dist is None or (self.world == 1 and not self.sharded):
            vals = host(stats + extras, pcols + vectors)
            a, b = len(stats), len(stats) + len(extras)
            c = b + 5 * L
            rows_all, prow = [counts + vals[:a] + vals[c:]], [pcounts + vals[b:c] + vals[a:b]]
        else:
            reading = [torch.tensor(self.taps.reading(), dtype=torch.float64, device=dev)] if agreeing else []
            sample_vec = torch.cat([torch.tensor(counts, dtype=torch.float64, device=dev), stack64(stats)]
                                   + reading + [v.to(torch.float64) for v in vectors])
            param_vec = torch.cat([torch.tensor(pcounts, dtype=torch.float64, device=dev)]
                                  + [c.to(torch.float64) for c in pcols] + [stack64(extras)])
            if not self.sharded:
                gathered = all_gather(dist, torch.cat([sample_vec, param_vec]), self.group)
                n = sample_vec.numel()
                rows_all = [r[:n] for r in gathered]
                prow = [gathered[self.rank][n:]]
            else:
                rows_all = all_gather(dist, sample_vec, self.group) if self.world > 1 else [sample_vec.tolist()]
                prow = all_gather(dist, param_vec, self.shard_group)
            if agreeing:
                rows_all = self.taps.agree(rows_all, len(counts) + len(stats),
                                           [m.out_features for m in self.order])
        total_rows = sum(r[0] for r in rows_all)
        self.sample_share = rows / total_rows if total_rows > 0 else 1.0 / max(1, len(rows_all))
        sharp_event = self.sharp.event(self, k)
        hist_event = None
        if self._hist_step():
            share = (rows / total_rows if total_rows > 0 else 1.0) / self.grad_scale
            per_layer = []
            for cs in calls:
                pre = [c.z_t for c in cs if c.z_t is not None]
                act = [c.a_t if c.a_t is not None else c.z_t for c in cs if c.a_t is not None or c.z_t is not None]
                per_layer.append({"preact": pre, "act": act, "grad": [c.g_t for c in cs if c.g_t is not None]})
            many = dist is not None and self.world > 1
            hist_event = histogram_event(k, per_layer, share, dist if many else None, self.group, self.world,
                                         self.hist_work)
        # (under a GradScaler non-finite gradients are an overflow of the scaled loss's: the scaler
        # skips the update and lowers the scale; the event shows the step, its update ratios 0)
        event, failure, self._weight_sq = step_event(
            k, rows_all, prow, self.act, [m.out_features for m in self.order], self.clip_used, self.grad_scale,
            self.loss_given, check_grads=self.scaler is None,
            trained=[_trained(m) for m in self.order],
            bias_grads=[m.bias is None or m.bias.grad is not None for m in self.order])
        if first:
            self._write_start()
            self._warn_unknown_activations()
        if event["clipped"]:
            self.clipped_steps += 1

        if failure is None:
            self._optimizer_step()
            self.applied += 1
            sq = self.sums.update([current_weight(m) for m in self.order])
            if self.sharded and dist is not None:
                sq = sq.to(torch.float64)
                dist.all_reduce(sq, group=self.shard_group)
            sq = sq.tolist()
            bad_update = None
            idle = self._not_optimized()
            for i, lay in enumerate(event["layers"]):
                w_sq = self._weight_sq[i]
                if w_sq is None or i in idle:  # a frozen layer; one the optimizer does not step
                    continue
                ratio = math.sqrt(sq[i]) / math.sqrt(w_sq) if w_sq > 0 else float("nan")
                lay["updateRatio"] = _stats.finite(ratio)
                if bad_update is None and not math.isfinite(sq[i]):
                    bad_update = i
            if bad_update is not None:
                self._non_finite(k, bad_update, "weights (the update overflowed)")
                if self.on_non_finite == "stop":
                    return
            self._write(event)
            if hist_event is not None:
                self._write(hist_event)
            if sharp_event is not None:
                self._write(sharp_event)
            return
        for lay in event["layers"]:
            lay["updateRatio"] = None
        layer, where = failure
        self._non_finite(k, layer, where, event if self.on_non_finite == "log" else None)
        if self.on_non_finite == "log":
            self._optimizer_step()
            self.applied += 1

    def _warn_no_backward(self, k, calls):
        """Once, on rank 0: a logged step whose forward pass waited for gradients and got none
        (run.step(loss) without loss.backward())."""
        if self.no_backward_warned or self.rank != 0:
            return
        hooked = False
        for c in (c for cs in calls for c in cs if c.hooked):
            if c.grad is not None:
                return  # (a step with its backward pass: the first hooked call says so)
            hooked = True
        if hooked:
            self.no_backward_warned = True
            warnings.warn(f"layerwise_torch: no backward pass reached the model before run.step() at step {k}: "
                          "call loss.backward() before run.step(loss) (the optimizer steps on the gradients the "
                          "parameters hold, none or stale ones)", stacklevel=4)

    def _not_optimized(self):
        """The layers whose weight trains (a leaf that requires grad) but is in no parameter group of
        the optimizer: it never changes (the optimizer was made of some modules only, or before a
        module was added). Their updateRatio is not measured; a warning (once, rank 0) says what to
        do. Not judged where parameters are sharded (the optimizer holds flat shards)."""
        groups = getattr(self.optimizer, "param_groups", None)
        if self.sharded or not isinstance(groups, list):
            return ()
        key = tuple(len(g.get("params", ())) for g in groups)
        if key != self.idle_key:
            held = {id(p) for g in groups for p in g.get("params", ())}
            self.idle_key = key
            self.idle = {i for i, m in enumerate(self.order)
                         if m.weight.is_leaf and m.weight.requires_grad and id(m.weight) not in held}
            if self.idle and not self.idle_warned and self.rank == 0:
                self.idle_warned = True
                which = ", ".join(self._layer_label(i)[len("layer "):] for i in sorted(self.idle))
                which = f"layer {which} requires" if len(self.idle) == 1 else f"layers {which} require"
                warnings.warn(f"layerwise_torch: the weight of {which} grad but is in no parameter group of the "
                              "optimizer given to watch(), so its update is not measured (updateRatio null). "
                              "Unless another optimizer steps it, it never changes: give the optimizer all the "
                              "model's parameters (e.g. torch.optim.SGD(model.parameters(), ...)), or freeze it "
                              "with requires_grad_(False)", stacklevel=4)
        return self.idle

    def _warn_unknown_activations(self):
        """Once, on rank 0: the layers whose activation is none we know (shown as linear), and those
        whose output is mixed with other values or reordered before the next layer (shown as linear,
        f(Z) = Z)."""
        if self.rank != 0:
            return
        mixed = sorted(self.taps.mixed)
        if mixed:
            which = ", ".join(str(i) for i in mixed)
            which = f"layer {which}'s output goes" if len(mixed) == 1 else f"the outputs of layers {which} go"
            warnings.warn(f"layerwise_torch: {which} into a sum, a product, a norm or a reordering (a "
                          "residual stream h + fc(x), a gate, a transpose) before the next layer, with no "
                          "activation applied to it first that Layerwise sees: shown as linear, with f(Z) = Z",
                          stacklevel=4)
        unknown = self.taps.unknown
        if not unknown:
            return
        which = ", ".join(str(i) for i in unknown)
        which = f"layer {which}'s activation is" if len(unknown) == 1 else f"the activations of layers {which} are"
        warnings.warn(f"layerwise_torch: {which} none that Layerwise knows (ReLU, LeakyReLU, Tanh, Sigmoid, ELU, "
                      "GELU, SiLU, SELU; Softplus or Mish, say): shown as linear, with the next layer's input "
                      "as the activation statistics and no dead or saturated units counted", stacklevel=4)

    # ----- events --------------------------------------------------------------------------

    def _write(self, event):
        if self.writer is None:
            return
        if not self.started and event["type"] == "validation":
            self.pending.append(event)  # before the first step: written after `start`
            return
        self.writer.write(event)
        if event["type"] in ("start", "end"):
            for e in self.pending:
                self.writer.write(e)
            self.pending = []

    def validation(self, loss, samples, correct=None):
        """Writes the held-out loss at the parameters now, i.e. before the next step's update (as that
        step's training loss is): ``loss`` the mean loss over this process's ``samples`` held-out
        samples (a float or a one-element tensor), ``correct`` (optional) how many of them the model
        classified right. Under torch.distributed every rank of the group calls it (a collective): the
        event holds the mean over all ranks' samples, exactly (sums are all-reduced in float64)."""
        if self.ended:
            raise RuntimeError("this run has ended (close() was called or non-finite values stopped it)")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a whole number >= 1, not {samples!r}")
        if correct is not None and (isinstance(correct, bool) or not isinstance(correct, int)
                                    or not 0 <= correct <= samples):
            raise ValueError(f"correct must be a whole number from 0 to samples, not {correct!r}")
        _check_loss("run.validation(loss, samples)", loss)
        if loss is None or isinstance(loss, torch.Tensor) and loss.numel() != 1:
            raise ValueError("run.validation(loss, samples): the mean held-out loss, one value")
        value = float(loss.detach().reshape(()).item()) if isinstance(loss, torch.Tensor) else float(loss)
        sums = torch.tensor([value * samples, float(samples), float(correct or 0), 0.0 if correct is None else 1.0],
                            dtype=torch.float64)
        dist = distributed()
        if dist is not None and self.world > 1:
            dist.all_reduce(sums, group=self.group)
        total, n, hits, with_acc = sums.tolist()
        if 0 < with_acc < self.world:
            raise ValueError("run.validation(): some ranks gave correct= and others did not")
        self._write({"type": "validation", "step": self.step_index, "loss": _stats.finite(total / n),
                     "accuracy": hits / n if with_acc else None, "samples": int(n)})

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
            **({"modules": names} if (names := self._modules()) is not None else {}),
        })

    def _modules(self):
        """The layers' modules' names (and lines), read once the layers are fixed; None where they
        cannot be read (then the log names none: a wrong name is worse than none)."""
        if self.module_names is None or self.module_names[0] != len(self.order):
            try:
                names = module_names(unwrap(self.model), self.order)
            except Exception:  # noqa: BLE001 (a model whose named_modules() fails: names are not worth a failure)
                names = None
            self.module_names = (len(self.order), names)  # (read once for these layers, even when None)
        return self.module_names[1]

    def _layer_label(self, i):
        """"layer 2 (model.encoder.fc2)", as the CLI and the panel say it."""
        try:
            names = self._modules()
            return f"layer {i} ({module_path(names[i]['name'])})" if names else f"layer {i}"
        except Exception:  # noqa: BLE001 (a label is never worth a failure)
            return f"layer {i}"

    def _non_finite(self, k, layer, where, event=None, data_first=False, final=False):
        """The non_finite warning (once), and under on_non_finite="stop" the end and the error.
        data_first: the weights were finite (a step not logged): this step's batch may be the cause.
        final: found as the run ends (close): the warning only."""
        lr = None
        try:
            lr = self.optimizer.param_groups[0]["lr"]
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        if not self.started:
            self.started = True
            self.taps.settle()
            self._write_start()
        stop = self.on_non_finite == "stop" and not final
        text, message, fix = describe(k, self._layer_label(layer), where, lr, stop, final, data_first)
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
        if self.deferred and self.model is not None:
            before = self.reported_non_finite
            self._report_deferred(final=True)
            # (the run would have stopped there; under "log" it went on, and ends as on the CPU)
            if not before and self.reported_non_finite and reason == "completed" and self.on_non_finite == "stop":
                reason = "non_finite"
        self.ended = True
        self.taps.disarm()
        self.sharp.close()
        if not self.started and self.writer is not None and self.order:
            self.started = True
            self.taps.settle()
            self._write_start()
        end = {"type": "end", "steps": self.applied, "reason": reason,
               "elapsedMs": (time.perf_counter() - self.t0) * 1000.0}
        if self.clip_known and (self.clip is not None or self.clipped_steps > 0):
            end["clippedSteps"] = self.clipped_steps
        self._write(end)
        if self.writer is not None:
            self.writer.close()
        if self.step_hook is not None:
            self.step_hook.remove()
            self.step_hook = None
        for z in self.zero_grads:
            if z is not None:
                z.remove()
        self.zero_grads = []
        inner = unwrap(self.model)
        if _LIVE.get(inner) is not None and _LIVE[inner]() is self:
            del _LIVE[inner]
        # let go of the model: a DDP reducer kept alive past destroy_process_group() can hang
        self.model = self.optimizer = None
        self.taps = Taps([], [], [], self._hist_step, lambda: True)
        self.sums = None

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


class _ZeroGrad:
    """Stands in for ``owner.zero_grad`` (an instance attribute over the class's method, removed at
    close): tells the run, then zeroes as the class does. Pickling or copying the owner meanwhile
    keeps the class's plain method in its place (Optimizer's __getstate__ leaves it out anyway)."""

    def __init__(self, owner, run):
        self.owner = owner
        self.run = weakref.ref(run)

    @classmethod
    def install(cls, owner, run):
        try:
            own = vars(owner)
        except TypeError:  # no instance dictionary
            return None
        if "zero_grad" in own or not callable(getattr(owner, "zero_grad", None)):
            return None  # already ours (the model is its own inner module), or one of the user's
        z = cls(owner, run)
        object.__setattr__(owner, "zero_grad", z)
        return z

    def __call__(self, *args, **kwargs):
        run = self.run()
        if run is not None and not run.ended:
            run._zeroing()
        return type(self.owner).zero_grad(self.owner, *args, **kwargs)

    def remove(self):
        if vars(self.owner).get("zero_grad") is self:
            del self.owner.__dict__["zero_grad"]

    def __reduce__(self):
        return getattr, (self.owner, "zero_grad")


def _trained(linear):
    """Whether the layer trains: its weight or bias requires grad (a frozen layer's do not; a computed
    weight, weight_norm's or FSDP's view of its flat parameter, does)."""
    return linear.weight.requires_grad or (linear.bias is not None and linear.bias.requires_grad)


def _grad(t):
    """t.grad of a parameter; None for a computed weight (weight_norm's), which has none (and whose
    .grad torch warns about)."""
    return t.grad if t.is_leaf else None


def watch(model, optimizer, path, every=1, clip=None, name=None, group=None, on_non_finite="stop",
          histograms_every=10, sharpness_every=0, scaler=None, **kwargs):
    """Starts writing the Layerwise event stream of this training run to ``path``.

    model: the ``nn.Module`` (possibly wrapped in DistributedDataParallel); its ``nn.Linear``
    modules are the layers, in forward order. optimizer: stepped by ``run.step``. every: step
    events for ``step % every == 0``. clip: ``{"mode": "norm" | "value", "max": c}`` or None.
    name: the run's name (default: the model's class). group: the data-parallel process group
    (default: the whole world). on_non_finite: "stop" (write ``end`` and raise NonFiniteError) or
    "log" (go on). ``shard_group=`` (keyword): the group whose ranks hold shards of the parameters,
    where they are sharded (FSDP's group is found by itself). histograms_every: on the logged steps
    whose step is a multiple of it, a histogram event (Z, f(Z) and dL/dZ per layer; 0: none).
    sharpness_every: on the logged steps whose step is a multiple of it, lambda_max of the loss's
    Hessian (0: none; under torch.distributed, of the global batch): from the step's own loss where it
    is cross-entropy, MSE or binary cross-entropy with logits of the model's output (or of it
    rearranged), else ``run.step(loss, closure=...)`` gives it.
    scaler: mixed precision's ``GradScaler`` where the loop runs ``scaler.scale(loss).backward()``:
    ``run.step(loss)`` (given the unscaled loss) then unscales the gradients, clips, and calls
    ``scaler.step(optimizer)`` and ``scaler.update()``; the statistics are of the true gradients,
    and an overflow (the scaler skips the update) is not a non-finite failure.
    """
    unknown = set(kwargs) - {"shard_group"}
    if unknown:
        raise TypeError(f"watch() got unexpected keyword arguments {sorted(unknown)}")
    return Run(model, optimizer, path, every=every, clip=clip, name=name, group=group,
               on_non_finite=on_non_finite, shard_group=kwargs.get("shard_group"),
               histograms_every=histograms_every, sharpness_every=sharpness_every, scaler=scaler)
