"""The hooks of a logged step: which ``nn.Linear`` is layer i, and what each forward call of it left.

Armed before a logged step's forward pass (and removed after it), a forward hook on every Linear
keeps, as device tensors, the count, mean and m2 of its output Z and a tensor hook on Z those of
dL/dZ; a forward hook on every activation module applied to a Linear's output keeps those of f(Z)
and the saturated outputs. Normalization and dropout modules applied in between (Linear ->
BatchNorm1d -> ReLU) pass the layer on to the activation after them; the units' largest value is
taken of what the activation is applied to. Where no module applies the activation (``F.relu``
inside ``forward``), it is read on the first logged step (_read_activation): the op the autograd
graph shows taking Z, where it is one we know, else the function of Z the next Linear's input is
(_layers.infer_activation; also through dropout after f, and in a residual block, where the next
input is the Linear's input plus f(Z)). Its moments are taken of the next Linear's input where
that is f(Z) itself, else of f(Z) computed from Z (after dropout, a sum, a norm); where the next
input is no elementwise function of Z and no activation took it (a transformer block's
h + fc2(...)), the layer is linear and takes Z. Under torch.distributed the ranks agree on it
(agree). The layers are the Linears the first logged step calls with gradients enabled, in the
order the forward pass first reaches them (prune). A call whose dL/dZ never comes (a validation
pass with gradients enabled) is not the step's (take). Nothing is moved to the host here: run.step
reads it all in one transfer.
"""
import math

import torch

from ._hooks import Hook
from ._layers import (RELU_LIKE, activation_in_graph, activation_of_module, apply_activation, graph_takers,
                      infer_activation, is_function_of, saturated_count)
from ._params import sumsq

# the activations' names, by a code that a float vector can carry between ranks (Taps.agree)
_NAMES = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "silu", "selu")


class Call:
    """What one forward call of one Linear left: device tensors, read at run.step."""
    __slots__ = ("pre", "act", "grad", "zmax", "sat", "act_from_next", "z_copy", "x_copy", "z_node", "ver", "target",
                 "z_t", "a_t", "g_t", "hooked", "inp", "rows", "weight", "wgrad", "separate")

    def __init__(self):
        self.weight = None      # (id, _version) of the weight the call applied
        self.wgrad = None       # the weight's gradient (id, _version) when dL/dZ last came
        self.separate = False   # dL/dZ came again after a backward pass that accumulated into it
        self.hooked = False     # a tensor hook waits for dL/dZ (Z required grad)
        self.inp = None         # the first layer's calls: the moments of their input, and its rows
        self.rows = 0
        self.pre = None
        self.act = None
        self.grad = None
        self.zmax = None
        self.sat = None
        self.act_from_next = False
        self.z_copy = None
        self.x_copy = None      # the call's input, while a residual block x + f(Z) may be what follows
        self.z_node = None      # Z's autograd node, while the activation is sought (_layers.activation_in_graph)
        self.ver = 0            # the version counter of what the activation is applied to, when it was made
        self.target = None      # what the activation is applied to, while it is sought (first logged step)
        self.z_t = self.a_t = self.g_t = None  # the tensors themselves, on histogram steps


def moments(t):
    """(count, mean, m2) of every element of t, m2 = sum((t - mean)^2), by two passes in t's own
    precision (float32 or float64: a one-pass sum of squares cancels where the mean is large against
    the spread; torch.var_mean's Welford loop costs ~50x more on a CPU). The mean and m2 stay device
    tensors. NaN or Inf in t show in the mean (they propagate into it; a float32 m2 overflows where
    the values are still finite, so it is not the test)."""
    flat = t.detach().reshape(-1)
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    n = flat.numel()
    if n == 0:
        z = torch.zeros((), dtype=flat.dtype, device=flat.device)
        return 0, z, z
    mean = flat.mean()
    d = flat - mean
    return n, mean, sumsq(d)


def _grad_hook(call, keep, weight):
    """The tensor hook on a Linear's output: dL/dZ's moments (and, on histogram steps, dL/dZ). Where
    it comes again for the same call after the weight's gradient changed, a backward pass that
    accumulated went through it before (losses back-propagated one by one), not an autograd.grad
    (a gradient penalty): the call is marked separate; the last dL/dZ is kept either way."""
    def hook(g):
        wg = weight.grad if isinstance(weight, torch.Tensor) and weight.is_leaf else None
        state = None if wg is None else (id(wg), wg._version)
        if call.grad is not None and state != call.wgrad:
            call.separate = True
        call.wgrad = state
        call.grad = moments(g)
        if keep:
            call.g_t = g.detach()
    return hook


def _unit_max(t):
    """Each unit's (last dimension's) largest value over the batch: a unit is dead when it is <= 0
    (relu) or < 0 (leaky_relu)."""
    rows = t.reshape(-1, t.shape[-1]) if t.dim() > 0 else t.reshape(1, 1)
    if rows.shape[0] == 0:  # an empty batch: no sample, no evidence (amax of nothing is an error)
        return torch.full((rows.shape[1],), -math.inf, dtype=rows.dtype, device=rows.device)
    return rows.amax(0)


def _grad_target(z):
    """The tensor whose hook gets dL/dZ: Z itself, or where Z is a view of a tensor of its size (a
    Linear on (batch, time, features) inputs returns a view of its 2-d result) that tensor: an
    in-place activation (``ReLU(inplace=True)``) rebases a view's autograd history, and a hook on
    the view then never fires. Both hooks get dL/dZ (before the in-place op), in the base's shape."""
    base = z._base if z._is_view() else None
    if base is not None and base.requires_grad and base.numel() == z.numel():
        return base
    return z


class Taps:
    """The layers of a model and what the armed hooks keep of a step's forward and backward passes.

    ``hist_step()`` says whether this step keeps the tensors for histograms; ``fixed()`` whether the
    layers are fixed (after the first logged step a Linear it did not call is not a layer)."""

    def __init__(self, linears, activations, passes, hist_step, fixed):
        self.linears = linears
        self.activations = activations
        self.passes = passes     # normalization and dropout modules (_layers.is_pass_through)
        self.hist_step = hist_step
        self.fixed = fixed
        self.order = []          # Linear modules in forward order (fixed after the first logged step)
        self.index = {}
        self.act = []            # (name, alpha) per layer, once known
        self.unknown = []        # layers whose next input is no activation we know of their Z
        self.mixed = []          # layers whose next input is no function of their Z (a sum, a norm,
        #                          a transpose)
        self.fed_back = set()    # layers applied again to their own activation (_fed_back)
        self.normed = set()      # layers whose functional activation takes a functional norm of Z
        #                          (F.relu(F.layer_norm(z, ...))): dead units counted on f's output
        self.approx = {}         # layers whose GELU is the tanh approximation (F.gelu(z, approximate="tanh"))
        self.from_z = set()      # layers whose next input is not f(Z) itself (dropout after f, a
        #                          residual block's sum, a sum or norm after the layer), f(Z) taken of Z
        self.grad_seen = []      # before the layers are fixed: the layers in the order of their
        #                          first call with gradients enabled
        self.handles = []
        self.live = False        # armed: the hooks record (see disarm)
        self._reset()

    def _reset(self):
        self.calls = {}          # layer -> [Call]
        self.pending = []        # (layer, Call) of the first logged step whose activation is still sought
        self.last = None         # (layer, the tensor its activation is applied to, call) of the latest
        #                          Linear call: its output Z, or the output of a normalization or
        #                          dropout module applied to Z (_pass_hook)

    def arm(self):
        self.live = True
        if self.handles:
            return
        for m in self.linears:
            self.handles.append(m.register_forward_hook(Hook(self._linear_hook)))
        for m in self.activations:
            self.handles.append(m.register_forward_hook(Hook(self._activation_hook)))
        for m in self.passes:
            self.handles.append(m.register_forward_hook(Hook(self._pass_hook)))

    def disarm(self):
        # compiled code (torch.compile) may go on calling hooks it inlined: they record nothing now
        self.live = False
        for h in self.handles:
            h.remove()
        self.handles = []

    def prune(self):
        """Before the first logged step is read: the layers are the Linears it called with gradients
        enabled, in the order they were first seen. A forward pass without gradients gives that
        order too (a reentrant torch.utils.checkpoint runs its segment without them, then again in
        the backward pass, after the layers that follow it), but no layer of its own."""
        keep = [i for i in range(len(self.order)) if self.calls.get(i)]
        if len(keep) == len(self.order):
            return
        new = {old: n for n, old in enumerate(keep)}
        self.order = [self.order[i] for i in keep]
        self.act = [self.act[i] for i in keep]
        self.index = {m: new[i] for m, i in self.index.items() if i in new}
        self.calls = {new[i]: cs for i, cs in self.calls.items() if i in new}
        self.unknown = [new[i] for i in self.unknown if i in new]
        self.mixed = [new[i] for i in self.mixed if i in new]
        self.fed_back = {new[i] for i in self.fed_back if i in new}
        self.from_z = {new[i] for i in self.from_z if i in new}
        self.approx = {new[i]: a for i, a in self.approx.items() if i in new}
        self.normed = {new[i] for i in self.normed if i in new}
        self.last = None

    def reading(self):
        """This rank's reading of the activations, 5 numbers a layer (Taps.agree)."""
        codes = {n: c for c, n in enumerate(_NAMES)}
        out = []
        for j, found in enumerate(self.act):
            code = -1 if found is None else codes.get(found[0], -1)
            alpha = math.nan if found is None or found[1] is None else float(found[1])
            out += [code, alpha, j in self.from_z, j in self.mixed, j in self.unknown]
        return out

    def agree(self, rows, at, units):
        """Under torch.distributed, on the first logged step: each rank read the activations found
        from values on its own share (the autograd graph reads the same everywhere), and a share
        with no Z < 0 reads clamp(min=0) as linear; the statistics' layout follows the reading
        (ReLU-like layers send their units' maxima). So that step's gathered rows hold, after the
        first `at` numbers, every rank's reading and every layer's maxima: every rank takes, layer
        by layer, the reading of the first rank (in rank order) that found an activation other than
        linear, else rank 0's. Returns the rows as the other steps lay them out."""
        L = len(self.act)
        linear = _NAMES.index("linear")
        mixed, unknown = [], []
        for j in range(L):
            r = next((r for r in rows if r[at + 5 * j] > linear), rows[0])
            code, alpha, is_from_z, is_mixed, is_unknown = r[at + 5 * j:at + 5 * j + 5]
            self.act[j] = ("linear", None) if code < 0 else (_NAMES[int(code)], None if math.isnan(alpha) else alpha)
            self.from_z.discard(j)
            if is_from_z:
                self.from_z.add(j)
            if is_mixed:
                mixed.append(j)
            if is_unknown:
                unknown.append(j)
        self.mixed, self.unknown = mixed, unknown
        out = []
        for r in rows:
            row, pos = r[:at], at + 5 * L
            for j in range(L):
                if self.act[j][0] in RELU_LIKE:
                    row += r[pos:pos + units[j]]
                pos += units[j]
            out.append(row)
        return out

    def settle(self):
        """The layers' activations from here on: those not found are linear."""
        for i in range(len(self.order)):
            if self.act[i] is None:
                self.act[i] = ("linear", None)

    def drop_answered(self):
        """At a zero_grad of the optimizer or the model: the calls whose dL/dZ already came had
        their gradients zeroed; they are no part of the next step (a GAN's D(fake) in G's step,
        an actor-critic's critic in the actor's loss, after the critic's own step)."""
        for i, cs in self.calls.items():
            self.calls[i] = [c for c in cs if c.grad is None]
        if self.last is not None and self.last[2].grad is not None:
            self.last = None

    def take(self):
        """(per layer the list of its Calls, the first layer's input moments per call, rows): what
        this step's passes left, handed over and forgotten here.

        A call whose output waited for dL/dZ and never got it took no part in the step's backward
        pass (a validation pass run with gradients enabled, ``model.eval()`` without
        ``torch.no_grad()``, between two steps): where other calls of its layer got theirs, it is
        left out, with its input's rows."""
        hist = self.hist_step()
        for i in self.from_z:  # f(Z) of the calls no later Linear took it for (the output layer's)
            for c in self.calls.get(i, []):
                if c.act is None and c.target is not None:
                    self._take_act(i, c.target, c, None, hist)
        calls = []
        for i in range(len(self.order)):
            cs = self.calls.get(i, [])
            if any(c.grad is not None for c in cs):
                cs = [c for c in cs if c.grad is not None or not c.hooked]
            calls.append(cs)
        first = calls[0] if calls else []
        out = (calls, [c.inp for c in first if c.inp is not None], sum(c.rows for c in first))
        self._reset()
        return out

    def _linear_hook(self, module, inputs, output):
        if not self.live or not isinstance(output, torch.Tensor):
            return
        i = self.index.get(module)
        if i is None:
            if self.fixed():
                return  # a Linear the first logged step did not call
            i = self.index[module] = len(self.order)
            self.order.append(module)
            self.act.append(None)
        if not torch.is_grad_enabled():
            return  # (its place in the order is kept until prune())
        if self.fixed():
            before = i - 1
        else:  # the order may still lose layers called without gradients: the one called before
            if i not in self.grad_seen:
                self.grad_seen.append(i)
            at = self.grad_seen.index(i)
            before = self.grad_seen[at - 1] if at > 0 else None
        x = inputs[0] if inputs else None
        hist = self.hist_step()
        # a functional activation of the previous layer (or of this one's previous call, a layer
        # applied again to its own activation)
        j = self.last[0] if self.last is not None else None
        if (j is not None and x is not None and self.last[2].act is None
                and (j == before or (j == i and self._fed_back(i, x)))):
            self._functional_activation(j, x, hist)
        if self.pending and x is not None:
            self._read_pending(x, hist)
        call = Call()
        w = module.weight
        call.weight = (id(w), w._version) if isinstance(w, torch.Tensor) else None
        if i == 0 and x is not None:
            call.inp = moments(x)
            call.rows = x.numel() // max(1, module.in_features)
        z = output.detach()
        call.pre = moments(z)
        if hist:
            call.z_t = z.clone()  # an in-place activation overwrites the output
        known = self.act[i]
        if known is None or known[0] in RELU_LIKE:
            call.zmax = _unit_max(z)
        call.ver = output._version
        if known is None and not self.fixed():
            call.z_copy = z.clone()
            call.z_node = output.grad_fn
            call.target = output
            self.pending.append((i, call))
            if x is not None and x.shape == z.shape:  # (cloned: `h += F.relu(...)` adds in place)
                call.x_copy = x.detach().clone()
        elif i in self.from_z:  # f(Z) is taken of what the activation is applied to
            call.target = output
        if output.requires_grad:
            _grad_target(output).register_hook(_grad_hook(call, hist, module.weight))
            call.hooked = True
        self.calls.setdefault(i, []).append(call)
        self.last = (i, output, call)

    def _functional_activation(self, j, x, hist):
        """The statistics of layer j's functional activation at the next Linear's call (input x):
        that input's where it is f(Z) itself, else f(Z)'s, computed from Z (from_z). An input with
        as many values as Z is read on the first logged step (_read_activation); one with another
        size only where the autograd graph shows an activation we know taking Z on its way there
        (a concatenation [f(Z), h]): otherwise it is not j's activation (two heads on one hidden
        layer: the second head's input is not the first head's activation)."""
        prev = self.last[2]
        same = x.numel() == self.last[1].numel()
        if self.act[j] is None and prev.z_copy is not None:
            if same:
                self.act[j] = self._read_activation(j, prev, x, x.detach())
            else:
                found = self._in_graph(j, prev.z_node, x)
                if found is not None and not found[2]:  # (normed: f of what, the norm's output?)
                    self.act[j] = found[0]
                    self.from_z.add(j)
        if not same and j not in self.from_z:
            return
        self._take_act(j, self.last[1], prev, x, hist)

    def _take_act(self, j, t, call, x, hist):
        """Layer j's f(Z) statistics into its call: the next Linear's input x itself, or where that
        is not f(Z) itself (from_z: dropout, a sum, a norm or a concatenation came between) f of t,
        what the activation is applied to."""
        a = self._f_of_z(self.act[j], t, call, self.approx.get(j)) if j in self.from_z else x.detach()
        call.act = moments(a)
        if j in self.normed and call.zmax is not None:  # what f took is the norm's output: its
            call.zmax = _unit_max(a)                     # sign is f(·)'s under relu and leaky_relu
        call.act_from_next = True
        if hist:
            call.a_t = a
        call.z_copy = call.x_copy = call.z_node = call.target = None
        name = (self.act[j] or ("linear", None))[0]
        call.sat = saturated_count(name, a)

    def read_at_loss(self, loss):
        """First logged step, at run.step (before prune): the layers whose activation is still
        sought, read in the loss's autograd graph: an output layer's functional activation
        (torch.sigmoid(self.out(h)) fed to the loss) has no later Linear to be found in."""
        if self.pending and isinstance(loss, torch.Tensor):
            self._read_pending(loss, self.hist_step(), at_loss=True)

    def _read_pending(self, x, hist, at_loss=False):
        """First logged step: the layers whose activation is still sought and that the autograd
        graph shows going through an activation we know into this call's input x, though another
        Linear came between (a SwiGLU block, fc2(F.silu(fc1(x)) * fc3(x)), calls fc3 after fc1).
        They take it, with f(Z) from Z. Those whose Z reaches x through no activation (the gate fc3,
        where the block calls it before fc1) are linear, f(Z) = Z, and named by the warning for
        outputs mixed before the next layer, as when the next Linear comes right after them; in the
        loss's graph (at_loss) that is an output layer, and says nothing. The others wait."""
        waiting = []
        for j, call in self.pending:
            if call.z_copy is None or call.act is not None or self.act[j] is not None:
                continue  # read meanwhile
            takers = graph_takers(call.z_node, x)
            found = self._in_graph(j, call.z_node, x, takers)
            if found is None and not at_loss and takers:
                self.act[j] = ("linear", None)
                self.from_z.add(j)
                self.mixed.append(j)
                self._take_act(j, call.target, call, x, hist)
                continue
            if found is None or found[2]:
                waiting.append((j, call))
                continue
            self.act[j] = found[0]
            self.from_z.add(j)
            self._take_act(j, call.target, call, x, hist)
        self.pending = waiting

    def _read_activation(self, j, prev, x, a):
        """Layer j's activation, read on the first logged step at the next Linear's call (input x,
        detached a): the op the autograd graph shows taking Z, where that is one we know (the same
        on every rank, whatever its share's values: F.relu where no Z was < 0); where that op did
        not make x itself (dropout, a sum or a norm came between) f(Z) is then taken of Z. Else
        from the values: the function of Z that a is, also through dropout or under a residual
        block's sum; a that is no elementwise function of Z is a sum or a norm with no activation
        (linear, named by a warning); a function none of ours is unknown (linear, warned)."""
        z = prev.z_copy
        in_graph = self._in_graph(j, prev.z_node, x)
        if in_graph is not None:
            found, node, normed = in_graph
            if node is x.grad_fn:  # x is f(Z) itself (normed: f of a norm of Z)
                if normed:
                    self.normed.add(j)
                return found
            if not normed:
                self.from_z.add(j)
                return found
        found = infer_activation(z, a)
        if found is None:  # f(Z), then dropout (F.relu, then nn.Dropout: the MNIST example)
            found = infer_activation(z, a, dropped=True)
            if found is not None:
                self.from_z.add(j)
        other = False  # an activation we do not know, under a residual block's sum
        if found is None and prev.x_copy is not None:  # a residual block: h + f(Linear(h))
            rest = a - prev.x_copy.reshape(a.shape)
            found = infer_activation(z, rest)
            if found is None:
                other = is_function_of(z, rest)
            elif found[0] != "linear":
                self.from_z.add(j)
            else:  # h + Z: no activation to name; the sum's rule below takes it
                found = None
        if found is None and not other and not is_function_of(z, a):
            # not an elementwise f(Z) at all: Z goes into a sum or a norm (a transformer block's
            # second Linear, h + fc2(...)), with no activation of its own
            self.from_z.add(j)
            self.mixed.append(j)
            return "linear", None
        if found is None:
            self.unknown.append(j)
        return found or ("linear", None)

    def _fed_back(self, i, x):
        """Whether this call of layer i takes f(Z) of its previous call (a(relu(a(x)))) rather
        than an input of its own (a layer shared by two inputs, a(x1) and a(x2)): found on the first
        logged step by comparing x with f(Z), and kept."""
        if i in self.fed_back:
            return True
        prev = self.last[2]
        if self.fixed() or prev.z_copy is None:
            return False
        found = infer_activation(prev.z_copy, x.detach())
        if found is None:
            return False
        self.fed_back.add(i)
        if self.act[i] is None:
            self.act[i] = found
        return True

    def _in_graph(self, j, z_node, x, takers=None):
        """_layers.activation_in_graph for layer j; a GELU's tanh approximation (GPT's) is noted,
        so that f(Z) taken of Z is the one the model applies."""
        found = activation_in_graph(z_node, x, takers=takers)
        if found is not None and found[0][0] == "gelu" and getattr(found[1], "_saved_approximate", None) == "tanh":
            self.approx[j] = "tanh"
        return found

    @staticmethod
    def _f_of_z(kind, t, call, approximate=None):
        """f(Z) from t, what the activation is applied to (Z, or a norm's output): where t was changed
        in place since it was made, f was (``F.leaky_relu(z, 0.1, inplace=True)`` in a residual
        block): t holds f(Z) itself."""
        t = t.detach()
        return t if t._version != call.ver else apply_activation(kind, t, approximate)

    def _applied_to_last(self, inputs, output):
        """Whether a module's (armed) call took what the latest layer's activation is applied to."""
        return (self.live and self.last is not None and bool(inputs) and inputs[0] is self.last[1]
                and isinstance(output, torch.Tensor))

    def _pass_hook(self, module, inputs, output):
        """A normalization or dropout module applied to the latest layer's output: the activation
        is applied to what it returns, so dead units are counted there and a functional activation
        is found against it."""
        if not self._applied_to_last(inputs, output):
            return
        i, _, call = self.last
        if call.act is not None or inputs[0]._version != call.ver:
            return  # (changed in place since it was made: an activation applied in place came first)
        o = output.detach()
        if call.zmax is not None:
            call.zmax = _unit_max(o)
        if call.z_copy is not None:
            call.z_copy = o.clone()
            call.z_node = output.grad_fn
        if call.target is not None:
            call.target = output
        call.ver = output._version
        self.last = (i, output, call)

    def _activation_hook(self, module, inputs, output):
        if not self._applied_to_last(inputs, output):
            return
        i, _, call = self.last
        if call.act is not None:
            return
        kind = activation_of_module(module)
        if self.act[i] is None:
            self.act[i] = kind
        a = output.detach()
        call.act = moments(a)
        if self.hist_step():
            call.a_t = a
        call.sat = saturated_count(kind[0], a)
        call.z_copy = call.x_copy = call.z_node = call.target = None
