"""lambda_max of the loss's Hessian by torch.autograd double backward, and the optimiser's
divergence threshold, as Layerwise's core/sharpness.ts defines them.

Hv = d/dtheta (g . v) with g = dL/dtheta taken with create_graph=True (one forward and backward
of the closure per evaluation; then one extra backward a product). Lanczos with full
reorthogonalisation from the previous evaluation's Ritz vector with a random part of weight 0.3
(from the run's own generator: the user's random state is not touched); after at least 12
products it stops when the largest Ritz pair (theta, y) has |Hy - theta y| = beta_m |s_m| <=
1e-3 |theta| (some eigenvalue then lies within 1e-3 |theta| of theta; the core's rule and guard,
docs/math.md), or after 20 products. The guard: where the top two eigenvalues trade places between
evaluations, the kept Ritz vector is the new second eigenvector, with no weight on the top one.

Without a closure, the step's own loss serves where its autograd graph shows cross-entropy
(``F.cross_entropy``, or ``nll_loss`` of ``log_softmax``, without class weights, over the output's
last dimension), ``F.mse_loss`` or ``F.binary_cross_entropy_with_logits`` (without weights) of the
model's output, mean or sum; also of the output rearranged (views, reshapes, squeezes, transposes:
its elements only moved). The Hessian of L(theta) = l(z(theta)) at theta is that of the
quadratic model of l around the step's output o = z(theta):

    L~(theta) = g . (z(theta) - o) + 1/2 (z(theta) - o)' H_l (z(theta) - o),

g = dL/dz (kept by a tensor hook in the step's backward pass) and H_l = d2l/dz2 at o, which these
losses fix without their targets: cross-entropy (diag(p_i) - p_i p_i')/N on each row i that counts
(p_i = softmax(o_i); N the rows the mean is over, found from g: g_ic = p_ic/N for every class c
but the target; rows whose g is 0, ignore_index, contribute nothing; each row's target, p_i - N g_i,
checked to be one class), mse 2/n (mean over n values) or 2 (sum), binary cross-entropy with
logits diag(s (1 - s))/n, s = sigmoid(o) (targets s - n g checked to lie in [0, 1]). z(theta) is
the model's forward pass on the step's arguments, with the random generators' states of that step
(the same dropout masks), checked against o.
"""
import contextlib
import math
import weakref

import torch


def threshold(optimizer):
    """The largest lambda_max of the loss's Hessian at which torch.optim.SGD's steps stay stable on
    the loss's quadratic model (docs/math.md): with weight decay wd a step sees curvature
    lambda + wd, and stays stable while lr' * (lambda + wd) < c, where c = 2 (plain), 2 + 2 beta
    (heavy-ball momentum beta) or (2 + 2 beta)/(1 + 2 beta) (Nesterov), and lr' = lr * (1 - dampening)
    (lr without momentum). So the threshold is c/lr' - wd. None for other optimizers (Adam's steps
    are preconditioned: the raw Hessian has no threshold of its own), for maximize=True, and where
    the parameter groups step with different settings (a preconditioned step too).
    Returns (threshold, the sharpness event's fields that say what it is for: "momentum",
    "weightDecay", "nesterov", "dampening", each where it is not 0)."""
    if type(optimizer).__name__ != "SGD" or not optimizer.param_groups:
        return None, {}
    g = optimizer.param_groups[0]
    rule = lambda h: (float(h["lr"]), float(h.get("momentum", 0.0) or 0.0), bool(h.get("nesterov")),
                      float(h.get("dampening", 0.0) or 0.0), float(h.get("weight_decay", 0.0) or 0.0),
                      bool(h.get("maximize")))
    lr, mom, nesterov, dampening, wd, maximize = rule(g)
    if any(rule(h) != rule(g) for h in optimizer.param_groups[1:]):
        return None, {}
    if not mom:
        nesterov, dampening = False, 0.0  # (both act on the momentum buffer only)
    # (maximize: gradient ascent, which no curvature makes stable)
    if lr <= 0 or wd < 0 or not 0 <= dampening < 1 or not 0 <= mom < 1 or maximize:
        return None, {}
    c = 2.0 if not mom else (2 + 2 * mom) / (1 + 2 * mom) if nesterov else 2 + 2 * mom
    fields = {k: v for k, v in (("momentum", mom), ("weightDecay", wd), ("nesterov", nesterov),
                                ("dampening", dampening)) if v}
    return c / (lr * (1 - dampening)) - wd, fields


MIN_PRODUCTS = 12
RANDOM_SHARE = 0.3


def lambda_max(closure, params, start=None, max_iter=20, tol=1e-3, generator=None, min_products=1,
               random_share=0.0, reduce=None, agree=None):
    """(lambda_max, products, Ritz vector) of the Hessian of closure()'s loss over params: Lanczos
    from start (random where None) plus a random part of relative weight random_share, stopped by
    the residual test from min_products products on. Random vectors come from generator (CPU).

    Over the ranks of a data-parallel group (each with its own share of the batch): ``reduce(hv)``
    turns this rank's Hessian-vector product into the global batch's (weighted by the share and
    summed over the ranks: the same vector on every rank, so every rank runs the same iteration and
    stops at the same product), and ``agree(ok)`` tells whether every rank could evaluate its loss
    (if one could not, none goes on: no rank is left waiting in a collective)."""
    failed = None
    try:
        loss = closure()
        grads = torch.autograd.grad(loss, params, create_graph=True)
    except NotReproduced as e:
        if agree is None:
            raise
        failed = e
    if agree is not None and not agree(failed is None):
        raise failed or NotReproduced("on another rank, the model's forward pass on the step's arguments did not "
                                      "give the step's output")
    flat_g = torch.cat([g.reshape(-1) for g in grads])
    n = flat_g.numel()
    dev, dt = flat_g.device, torch.float64

    def hvp(v):
        vv = v.to(flat_g.dtype)
        hv = torch.autograd.grad(flat_g, params, grad_outputs=vv, retain_graph=True)
        h = torch.cat([h.reshape(-1) for h in hv]).to(dt)
        return h if reduce is None else reduce(h)

    if start is not None and start.numel() == n and math.isfinite(float(start.norm())) and float(start.norm()) > 0:
        q = start.to(dev, dt).clone()
        q /= q.norm()
        if random_share > 0:
            r = (torch.rand(n, generator=generator, dtype=dt) * 2 - 1).to(dev)
            q += random_share / r.norm() * r
    else:
        q = torch.randn(n, generator=generator, dtype=dt).to(dev)
    q /= q.norm()
    Q, alpha, beta = [q], [], []
    best, y_best, it = float("nan"), None, 0
    while it < min(max_iter, n):
        w = hvp(Q[-1])
        a = float(torch.dot(Q[-1], w))
        if not math.isfinite(a):
            return float("nan"), it + 1, Q[0]
        alpha.append(a)
        for _ in range(2):
            for qj in Q:
                w -= torch.dot(qj, w) * qj
        m = len(alpha)
        T = torch.zeros(m, m, dtype=dt)
        for i in range(m):
            T[i, i] = alpha[i]
            if i + 1 < m:
                T[i, i + 1] = T[i + 1, i] = beta[i]
        vals, vecs = torch.linalg.eigh(T)
        best, y_best = float(vals[-1]), vecs[:, -1]
        b = float(w.norm())
        it += 1
        done = (it >= min_products and b * abs(float(y_best[-1])) <= tol * abs(best)) or \
            b <= 1e-12 * max(1.0, abs(best))
        if done or it >= min(max_iter, n):
            break
        beta.append(b)
        Q.append(w / b)
    vec = sum(float(y) * qj for y, qj in zip(y_best, Q))
    return best, it, vec


class ForwardCall:
    """One forward call of the whole model: its positional and keyword arguments, the random
    generators' states and the model's buffers before it (spectral_norm's singular vectors, which
    its forward pass moves first), the autocast regions it ran in, its output and, after
    backward, dL/d(output). Where the model returns a tuple, list or dict of tensors, each of them
    (``parts``) and the gradients that came to them (``part_grads``); the one the loss took is
    ``pick``, and then ``out`` and ``grad``."""
    __slots__ = ("args", "kwargs", "args_only", "rng", "cuda_rng", "out", "grad", "other", "autocast", "buffers",
                 "parts", "part_grads", "pick", "__weakref__")

    def __init__(self, module, args, kwargs, args_only=False):
        self.args, self.kwargs = tuple(args), dict(kwargs or {})
        self.args_only = args_only  # the hook could not see keyword arguments (torch < 2.0)
        self.buffers = [b.detach().clone() for b in module.buffers()]
        self.rng = torch.get_rng_state()
        self.cuda_rng = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self.cuda_rng = torch.cuda.get_rng_state_all()
        self.autocast = _autocast_regions()  # (device type, dtype) of each region
        self.out = self.grad = None
        self.parts, self.part_grads, self.pick = {}, {}, None
        self.other = None  # the type of an output that is neither a tensor nor a tuple, list or dict of them


def _keep_grad(call, t, key):
    """A tensor hook on t that keeps dL/dt in the call (key None: call.grad; else part_grads[key]).
    It reaches the call weakly: t -> its grad_fn's hook -> call -> t would be a cycle through
    autograd's C++ graph, which Python's gc cannot see (each sharpness step's output, graph and
    calls would stay alive for good)."""
    ref = weakref.ref(call)

    def keep(g):
        c = ref()
        if c is not None:
            if key is None:
                c.grad = g
            else:
                c.part_grads[key] = g
    t.register_hook(keep)


class Capture:
    """The forward calls of the whole model on a sharpness step (with gradients enabled). The
    step's own is the one its backward pass reached: a validation pass run with gradients enabled
    and no backward is not it."""
    __slots__ = ("calls", "args_only")

    def __init__(self):
        self.calls = []
        self.args_only = False  # set where the pre-hook could not be registered with_kwargs

    def pre_hook(self, module, args, kwargs=None):
        if torch.is_grad_enabled():
            self.calls.append(ForwardCall(module, args, kwargs, self.args_only))
        return None

    def hook(self, module, args, output, *rest):
        if not self.calls or self.calls[-1].out is not None or self.calls[-1].parts or not torch.is_grad_enabled():
            return None
        call = self.calls[-1]
        if isinstance(output, torch.Tensor):
            if output.requires_grad:
                call.out = output
                _keep_grad(call, output, None)
            return None
        items = output.items() if isinstance(output, dict) else \
            enumerate(output) if isinstance(output, (tuple, list)) else ()
        for key, t in items:
            if isinstance(t, torch.Tensor) and t.requires_grad:
                call.parts[key] = t
                _keep_grad(call, t, key)
        if not call.parts:
            call.other = type(output).__name__
        return None

    def drop_answered(self):
        """At a zero_grad: the calls whose backward pass already ran are not the next step's."""
        self.calls = [c for c in self.calls if c.grad is None and not c.part_grads]

    def step_call(self):
        """(the forward call the step's backward pass reached, None) or (None, why there is none)."""
        if not self.calls:
            return None, "the model's forward pass was not seen this step"
        reached = [c for c in self.calls if c.grad is not None or c.part_grads]
        if len(reached) > 1:
            return None, "the model was called more than once this step"
        if reached:
            return reached[0], None
        other = next((c.other for c in self.calls if c.other is not None), None)
        if other is not None:
            return None, f"the model's output is a {other}, not a tensor (nor a tuple, list or dict of them)"
        if all(c.out is None for c in self.calls):
            return None, "the model's forward pass was not seen this step"
        return None, "the backward pass did not reach the model's output"


def _autocast_regions():
    """[(device type, dtype)] of the autocast regions active now (mixed precision), to run the
    forward pass again as the step ran it."""
    out = []
    for dev, dtype_of in (("cpu", "get_autocast_cpu_dtype"), ("cuda", "get_autocast_gpu_dtype")):
        try:
            on = torch.is_autocast_enabled(dev)  # torch >= 2.4
        except TypeError:
            on = torch.is_autocast_cpu_enabled() if dev == "cpu" else torch.is_autocast_enabled()
        if on:
            try:
                dtype = torch.get_autocast_dtype(dev)  # torch >= 2.4
            except AttributeError:
                dtype = getattr(torch, dtype_of)()
            out.append((dev, dtype))
    return out


class NotReproduced(RuntimeError):
    """The model's forward pass on the step's arguments did not give the step's output."""


# autograd nodes that only rearrange their input's elements (or cast them): a loss of their result
# is the same loss of the model's output, its Hessian rearranged alike
_REARRANGING = {"ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0", "SqueezeBackward0",
                "SqueezeBackward1", "UnsqueezeBackward0", "TransposeBackward0", "TBackward0", "PermuteBackward0",
                "CloneBackward0", "AliasBackward0", "ToCopyBackward0"}


def _reaches(node, target):
    """Whether node is target, or reaches it through ops that only rearrange or cast elements:
    views, reshapes, squeezes, transposes (``out.squeeze(1)``, ``out.view(-1, C)``), and a select
    along a dimension of size 1 after a slice of a whole one (``out[:, 0]`` of a one-column
    output)."""
    while node is not None:
        if node is target:
            return True
        name = type(node).__name__
        if name in ("SelectBackward0", "SliceBackward0"):
            try:  # (the saved sizes' names and types differ between torch versions)
                sizes = getattr(node, "_saved_self_sym_sizes", None) or getattr(node, "_saved_self_sizes", None)
                size = int(sizes[node._saved_dim])
                if name == "SelectBackward0" and size != 1:
                    return False
                end = node._saved_end if name == "SliceBackward0" else None
                if name == "SliceBackward0" and (node._saved_start not in (0, None) or node._saved_step not in (1, None)
                                                 or (end is not None and int(end) < size)):
                    return False  # out[:, ...] only: the whole dimension
            except (AttributeError, IndexError, TypeError, ValueError, RuntimeError):
                return False
        elif name not in _REARRANGING:
            return False
        node = node.next_functions[0][0]
    return False


def _below_rearranging(node):
    """The first autograd node from node on that is not a view, reshape or cast."""
    while node is not None and type(node).__name__ in _REARRANGING:
        node = node.next_functions[0][0]
    return node


def _unweighted(fn, *names):
    """Whether the loss node saved none of these weight tensors (one that backward freed counts)."""
    for n in names:
        try:
            if getattr(fn, n, None) is not None:
                return False
        except RuntimeError:  # a weight tensor that backward freed
            return False
    return True


def pick_output(loss, call):
    """((kind, reduction), None) for the step's forward call, where the loss is one that loss_kind
    knows of its output, or of one tensor of a tuple, list or dict output (then ``call.pick``,
    ``call.out`` and ``call.grad`` are set to it); else (None, why not). A loss that depends on
    the output through other operations too (a sum of two outputs' losses) is none loss_kind
    knows."""
    if not call.parts:
        return loss_kind(loss, call.out)
    why = "the loss is not one of the model's outputs"
    for key, g in call.part_grads.items():
        kind, why = loss_kind(loss, call.parts[key])
        if kind is not None:
            call.pick, call.out, call.grad = key, call.parts[key], g
            return kind, None
    return None, why


def loss_kind(loss, out):
    """(("ce" | "mse" | "bce", reduction), None) where loss is cross-entropy, MSE or binary
    cross-entropy with logits of out, or of out rearranged (reduction 1: mean, 2: sum), else
    (None, why not). Cross-entropy's classes are out's last dimension (surrogate checks that the
    gradient says so)."""
    fn = getattr(loss, "grad_fn", None) if isinstance(loss, torch.Tensor) else None
    if fn is None or out is None or out.grad_fn is None:
        return None, "no loss tensor with its autograd graph, or no output of the model's forward pass"
    name = type(fn).__name__
    red = int(getattr(fn, "_saved_reduction", 0))
    if name in ("NllLossBackward0", "NllLoss2DBackward0"):
        if not _unweighted(fn, "_saved_weight"):
            return None, "cross-entropy with class weights"
        ls = _below_rearranging(fn.next_functions[0][0])
        if (type(ls).__name__ != "LogSoftmaxBackward0" or not _reaches(ls.next_functions[0][0], out.grad_fn)
                or out.dim() < 2 or (name == "NllLossBackward0" and ls._saved_dim not in (1, -1))
                or (name == "NllLoss2DBackward0" and ls._saved_dim != 1)):
            return None, "a negative log-likelihood that is not of log_softmax over the model's output's classes"
        return (("ce", red), None) if red in (1, 2) else (None, "an unreduced loss")
    if name in ("MseLossBackward0", "BinaryCrossEntropyWithLogitsBackward0"):
        nxt = fn.next_functions
        what = "an MSE" if name == "MseLossBackward0" else "a binary cross-entropy"
        if not _reaches(nxt[0][0], out.grad_fn) or (len(nxt) > 1 and nxt[1][0] is not None):
            return None, f"{what} that is not of the model's output against fixed targets"
        if name != "MseLossBackward0" and not _unweighted(fn, "_saved_weight", "_saved_pos_weight"):
            return None, "a binary cross-entropy with weights"
        kind = "mse" if name == "MseLossBackward0" else "bce"
        return ((kind, red), None) if red in (1, 2) else (None, "an unreduced loss")
    return None, (f"a loss whose last operation is {name} (cross-entropy, MSE and binary cross-entropy with logits "
                  "of the model's output are recognised)")


def surrogate(kind, out, g):
    """(L~ as a function of the output z, None), or (None, why not): the quadratic model above."""
    name, red = kind
    o = out.detach()
    half = o.dtype in (torch.float16, torch.bfloat16)
    if half:  # a mixed-precision output: the quadratic model in float32
        o = o.float()
    g = g.detach().to(o.dtype)
    if name == "mse":
        scale = 1.0 / o.numel() if red == 1 else 1.0

        def of(z):
            d = z - o
            return (g * d).sum() + scale * (d * d).sum()
        return of, None
    if name == "bce":
        # l = mean or sum of -(y log s + (1 - y) log(1 - s)), s = sigmoid(z): dl/dz = (s - y)/n,
        # d2l/dz2 = s (1 - s)/n, element by element. The targets y = s - n g must lie in [0, 1].
        sig = torch.sigmoid(o)
        n = float(o.numel()) if red == 1 else 1.0
        y = sig - g * n
        tol = 2e-2 if half else 1e-4
        if not bool(((y >= -tol) & (y <= 1 + tol)).all()):
            return None, "a gradient that is not binary cross-entropy's of the model's output"
        curv = sig * (1 - sig) / n

        def of(z):
            d = z - o
            return (g * d).sum() + 0.5 * (curv * d * d).sum()
        return of, None
    # cross-entropy over the last dimension: rows of C classes (out (batch, C), or (batch, time, C)
    # viewed as (batch * time, C) or transposed to (batch, C, time) for the loss)
    C = o.shape[-1]
    o, g = o.reshape(-1, C), g.reshape(-1, C)
    p = torch.softmax(o, 1)
    mask = (g != 0).any(1).to(o.dtype)
    n = 1.0
    if red == 1 and bool(mask.any()):
        # g_ic = p_ic / N on every class but the target (where it is (p_ic - 1) / N < 0): N from
        # the sums over all those entries (a mixed-precision g, rounded to 8 bits, averages out)
        pos = g > 0
        if not bool(pos.any()):
            return None, "a gradient that is not cross-entropy's"
        n_est = float(p[pos].double().sum()) / float(g[pos].double().sum())
        n = float(round(n_est))
        if half and not abs(n_est - n) <= 1e-3 * n:
            # a half-precision loss (its softmax and gradient to ~3 digits): the rows with a
            # gradient, where the estimate agrees with them as closely as that allows
            rows = float(mask.sum())
            n = rows if abs(n_est - rows) <= 2e-2 * rows else n
        if not (1 <= n <= o.shape[0] and abs(n_est - n) <= (2e-2 if half else 1e-3) * n):
            return None, "a gradient that is not cross-entropy's mean over rows"
    # every counted row's target, p - n g, is one class: the rows are the loss's (a rearranged
    # output whose classes are not its last dimension fails here)
    y = (p - g * n)[mask > 0]
    tol = 2e-2 if half else 1e-3
    if y.numel() and not (bool(((y - y.round()).abs() <= tol).all()) and bool(((y.sum(1) - 1).abs() <= tol).all())):
        return None, "a gradient that is not cross-entropy's over the output's last dimension"

    def of(z):
        d = z.reshape(-1, C) - o
        pd = p * d
        quad = ((pd * d).sum(1) - pd.sum(1) ** 2) * mask
        return (g * d).sum() + 0.5 * quad.sum() / n
    return of, None


def auto_closure(module, cap, of):
    """A closure for lambda_max: the model's forward pass on the captured arguments (the captured
    random states restored around it, so that dropout draws the same masks, and the buffers as
    they were before the step's forward pass: the caller puts them back after), through L~."""
    checked = []

    def closure():
        with torch.no_grad():
            for b, saved in zip(module.buffers(), cap.buffers):
                b.copy_(saved)
        devices = list(range(torch.cuda.device_count())) if cap.cuda_rng is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cap.rng)
            if cap.cuda_rng is not None:
                torch.cuda.set_rng_state_all(cap.cuda_rng)
            with contextlib.ExitStack() as regions:
                for dev, dtype in cap.autocast:
                    regions.enter_context(torch.autocast(device_type=dev, dtype=dtype))
                try:
                    z = module(*cap.args, **cap.kwargs)
                    if cap.pick is not None:
                        z = z[cap.pick]
                except Exception as e:  # noqa: BLE001 (the user's forward pass, on what its hook saw)
                    hint = "" if cap.kwargs or not cap.args_only else (
                        "; before torch 2.0 a hook does not see keyword arguments (call the model with "
                        "positional ones)")
                    raise NotReproduced(f"the model's forward pass could not be run again on the step's arguments "
                                        f"({type(e).__name__}: {e}){hint}") from None
        if not checked:
            o = cap.out.detach()
            if not isinstance(z, torch.Tensor) or z.shape != o.shape or not torch.allclose(
                    z.detach(), o, rtol=1e-5, atol=1e-6 * max(float(o.abs().max()), 1e-30)):
                raise NotReproduced("the model's forward pass on the step's arguments did not give the step's output")
            checked.append(True)
        return of(z)
    return closure
