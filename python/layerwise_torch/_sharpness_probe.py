"""A run's lambda_max on its sharpness steps (``sharpness_every=K``, logged steps whose step is a
multiple of K): hooks on the whole model that keep the step's forward call (for a closure of our
own where ``run.step`` gets none), the closure, under DDP the products' all_reduce over the
data-parallel group, the model's buffers kept across the closure's passes, and the sharpness
event. The math is _sharpness.py's."""
import warnings

import torch

from . import _sharpness, _stats
from ._hooks import Hook
from ._layers import unwrap
from ._transfer import distributed


class SharpnessProbe:
    """lambda_max for a run, every ``every`` steps (0: never), warm-started from the last one's vector."""

    def __init__(self, every):
        self.every = every
        self.vec = None          # the last evaluation's Ritz vector: the next one's start
        self.gen = torch.Generator().manual_seed(0)  # lambda_max's random vectors: not the user's
        self.warned = False
        self.capture = None      # the sharpness step's forward call of the whole model (no closure given)
        self.handles = []

    def due(self, step):
        """Whether step (if logged) is a sharpness step."""
        return self.every > 0 and step % self.every == 0

    def arm(self, model, due):
        """Before a step: where it is a sharpness step (due), hooks on the whole model keep its
        forward call; on the other steps none."""
        if not due:
            self.disarm()
            return
        if self.handles:
            return
        cap = self.capture = _sharpness.Capture()
        inner = unwrap(model)
        try:
            pre = inner.register_forward_pre_hook(Hook(cap.pre_hook), with_kwargs=True)  # torch >= 2.0
        except TypeError:
            cap.args_only = True
            pre = inner.register_forward_pre_hook(Hook(cap.pre_hook))
        self.handles = [pre, inner.register_forward_hook(Hook(cap.hook))]

    def disarm(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def close(self):
        self.disarm()
        self.capture = None

    def drop_answered(self):
        """At a zero_grad: the forward calls whose backward pass ran are not the next step's."""
        if self.capture is not None:
            self.capture.drop_answered()

    def event(self, run, k):
        """The sharpness event of the run's logged step k (before the update), or None: not a
        sharpness step, or no closure and none of our own (then a warning, once)."""
        if not self.due(k):
            return None
        cap, self.capture = self.capture, None
        self.disarm()
        closure, why = run.step_closure, None
        if closure is None:
            closure, why = self._own_closure(run, cap)
        params = run.params
        # under DDP, lambda_max of the global batch: each rank's Hessian-vector products weighted by
        # its share of the samples and summed (one all_reduce a product); every rank agrees first
        reduce = agree = None
        dist = distributed()
        if dist is not None and run.world > 1 and not run.sharded and params:
            share, group, dev = run.sample_share, run.group, params[0].device

            def reduce(h):
                h.mul_(share)
                dist.all_reduce(h, group=group)
                return h

            def agree(ok):
                t = torch.tensor([1.0 if ok else 0.0], dtype=torch.float64, device=dev)
                dist.all_reduce(t, op=dist.ReduceOp.MIN, group=group)
                return bool(t.item() > 0)
            if not agree(closure is not None):
                self._skipped(k, why or "on another rank, no closure could be made of the step's loss")
                return None
        if closure is None:
            self._skipped(k, why)
            return None
        armed = bool(run.taps.handles)
        run.taps.disarm()  # the closure's forward pass must not count as this step's statistics
        inner = unwrap(run.model)
        buffers = [b.detach().clone() for b in inner.buffers()]  # e.g. BatchNorm's running statistics
        try:
            with torch.enable_grad():
                lam, its, vec = _sharpness.lambda_max(closure, params, self.vec, generator=self.gen,
                                                      min_products=_sharpness.MIN_PRODUCTS,
                                                      random_share=_sharpness.RANDOM_SHARE, reduce=reduce,
                                                      agree=agree)
        except _sharpness.NotReproduced as e:
            self._skipped(k, str(e))
            return None
        except Exception as e:  # noqa: BLE001 (an optional diagnostic: never the user's training stopped)
            if run.step_closure is not None or (dist is not None and run.world > 1):
                raise  # the user's own closure's error; under DDP every rank must stop alike
            self._skipped(k, f"computing it failed ({type(e).__name__}: {e})")
            return None
        finally:
            with torch.no_grad():
                for b, saved in zip(inner.buffers(), buffers):
                    b.copy_(saved)
            if armed:
                run.taps.arm()
        self.vec = vec.detach()
        thr, what = _sharpness.threshold(run.optimizer)
        ev = {"type": "sharpness", "step": k, "lambdaMax": _stats.finite(lam), "threshold": thr, "iterations": its,
              **what}
        return ev

    def _own_closure(self, run, cap):
        """(closure, None) from the step's own loss and forward call, or (None, why not)."""
        if cap is None:
            return None, "the model's forward pass was not seen this step"
        cap, why = cap.step_call()
        if cap is None:
            return None, why
        kind, why = _sharpness.pick_output(run.step_loss, cap)
        if kind is None:
            return None, why
        # under a GradScaler the backward pass gave the scaled loss's gradient
        grad = cap.grad if run.grad_scale == 1.0 else cap.grad / run.grad_scale
        of, why = _sharpness.surrogate(kind, cap.out, grad)
        if of is None:
            return None, why
        return _sharpness.auto_closure(unwrap(run.model), cap, of), None

    def _skipped(self, k, why):
        """Once a run: why step k has no lambda_max, and how to give it one."""
        if self.warned:
            return
        self.warned = True
        warnings.warn(f"layerwise_torch: no lambda_max at step {k}: {why}. Pass run.step(loss, closure=lambda: "
                      "loss_fn(model(x), y)), a function that recomputes the step's loss on its batch.",
                      stacklevel=4)
