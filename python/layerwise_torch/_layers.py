"""Which modules are layers, and what their activation is.

A layer is an ``nn.Linear``, in the order the forward pass calls them. Its activation is the
activation module applied to its output (in place or not), or after normalization or dropout
modules applied to it (Linear -> BatchNorm1d -> ReLU); where the model applies the activation
functionally (``F.relu`` inside ``forward``), it is the op the autograd graph shows taking the
Linear's output, where that is one we know; else the next Linear's input is compared, on the first
logged step, with each candidate function of what the activation was applied to.
"""
import collections
import inspect
import math
import os
import re

import torch
from torch import nn

# the activations whose layers have dead units (a unit whose pre-activation is never positive)
RELU_LIKE = ("relu", "leaky_relu")

ACTIVATION_MODULES = (
    (nn.LeakyReLU, "leaky_relu"),
    (nn.ReLU, "relu"),
    (nn.Tanh, "tanh"),
    (nn.Sigmoid, "sigmoid"),
    (nn.ELU, "elu"),
    (nn.GELU, "gelu"),
    (nn.SiLU, "silu"),
    (nn.SELU, "selu"),
)


def activation_of_module(module):
    """(name, alpha) for an activation module, or None when it is not one we know."""
    for cls, name in ACTIVATION_MODULES:
        if isinstance(module, cls):
            if name == "leaky_relu":
                return name, float(module.negative_slope)
            if name == "elu":
                return name, float(module.alpha)
            return name, None
    return None


def is_activation_module(module):
    return activation_of_module(module) is not None


# normalization, dropout and identity modules: between a Linear and its activation (Linear ->
# BatchNorm1d -> ReLU, the usual block) they leave the layer the activation applied after them
_PASS_BASES = tuple(c for c in (getattr(nn.modules.batchnorm, "_NormBase", None),
                                getattr(nn.modules.dropout, "_DropoutNd", None),
                                nn.LayerNorm, nn.GroupNorm, nn.Identity) if isinstance(c, type))
_PASS_NAMES = {"RMSNorm"}


def is_pass_through(module):
    """Whether the module passes a layer's output on to its activation (see _PASS_BASES)."""
    return isinstance(module, _PASS_BASES) or type(module).__name__ in _PASS_NAMES


def infer_activation(z, a, dropped=False):
    """The activation f with a = f(z) elementwise, from the candidates we know, or None.

    z: a layer's pre-activations (a copy taken before anything modified them), a: the next
    Linear's input. Used once, on the first logged step, for activations applied functionally.
    dropped: a is f(z) after dropout (entries 0, the rest scaled by 1/(1 - p) for one p in (0, 1)):
    f is found on the entries dropout kept.
    """
    if z.numel() != a.numel():
        return None
    z = z.reshape(a.shape)  # a reshape between (a flatten) commutes with an elementwise f
    eps = torch.finfo(a.dtype).eps if a.dtype.is_floating_point else torch.finfo(torch.float32).eps
    z = z.double()
    a = a.double()
    if dropped:
        kept = a != 0
        if not bool(kept.any()) or bool(kept.all()):
            return None
        z, a = z[kept], a[kept]
        pos = z > 0  # f(z) = z there for relu, leaky_relu, elu and linear: the scale 1 - p
        scale = float((z[pos] / a[pos]).median()) if bool(pos.any()) else float("nan")
        if not 0 < scale < 1:
            scale = None
    else:
        scale = 1.0

    def close(b):
        if scale is not None and torch.allclose(a * scale, b, rtol=1e-4, atol=1e-6):
            return True
        if not dropped:
            return False
        # tanh, sigmoid, gelu, silu, selu: the scale from f(z) itself
        nz = b != 0
        s = float((b[nz] / a[nz]).median()) if bool(nz.any()) else float("nan")
        return 0 < s < 1 and bool(torch.allclose(a * s, b, rtol=1e-4, atol=1e-6))

    # Without dropout, the identity first: where no pre-activation is < 0, relu(z) = z too, and a
    # Linear fed straight into the next one (no module between) is far likelier than F.relu on
    # such a batch. After dropout relu first: the entries kept are relu's z > 0 only.
    if not dropped and close(z):
        return "linear", None
    if close(torch.relu(z)):
        return "relu", None
    if dropped and close(z):
        return "linear", None
    neg = z < 0
    if bool(neg.any()) and scale is not None:
        slope = shortest_decimal(float((a[neg] * scale / z[neg]).median()), eps)
        if 0 < slope < 1 and close(torch.nn.functional.leaky_relu(z, slope)):
            return "leaky_relu", slope
        alpha = shortest_decimal(float((a[neg] * scale / torch.expm1(z[neg])).median()), eps)
        if math.isfinite(alpha) and alpha > 0 and close(torch.nn.functional.elu(z, alpha)):
            return "elu", alpha
    if close(torch.tanh(z)):
        return "tanh", None
    if close(torch.sigmoid(z)):
        return "sigmoid", None
    if close(torch.nn.functional.gelu(z)) or close(torch.nn.functional.gelu(z, approximate="tanh")):
        return "gelu", None  # (the tanh approximation too, as nn.GELU(approximate="tanh") is gelu)
    if close(torch.nn.functional.silu(z)):
        return "silu", None
    if close(torch.nn.functional.selu(z)):
        return "selu", None
    return None


def is_function_of(z, a):
    """Whether a can be g(z) elementwise for some function g (a known activation or not: softplus,
    mish), rather than z mixed with other values (h + z, a norm over the features). In the order of
    z, a function's values go up and down a few times (a monotone one's total variation is its
    range; mish's dip adds less than twice it), a mixture's with nearly every step. Few or
    non-finite values are taken as a function (the caller keeps its reading then)."""
    z = z.reshape(-1).double()
    a = a.reshape(-1).double()
    if z.numel() < 16 or not bool(torch.isfinite(z).all() & torch.isfinite(a).all()):
        return True
    v = a[torch.argsort(z)]
    spread = float(v.max() - v.min())
    return float((v[1:] - v[:-1]).abs().sum()) <= 4 * spread


# the autograd nodes of the activations we know (in place too: LeakyReluBackward1), by class name
_NODE_ACTIVATIONS = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Tanh": "tanh", "Sigmoid": "sigmoid",
                     "Elu": "elu", "Gelu": "gelu", "Silu": "silu"}
_SELU = (1.6732632423543772, 1.0507009873554805)  # PyTorch's SELU alpha and scale
# the autograd nodes of the normalizations that may come between a Linear and its activation
_NORM_NODES = re.compile(r"(Native|Cudnn|Miopen)(LayerNorm|BatchNorm|GroupNorm)Backward\d+")


def _node_activation(node):
    """(name, alpha) for the autograd node of an activation we know, or None."""
    m = re.fullmatch(r"(\w+?)Backward\d+", type(node).__name__)
    name = _NODE_ACTIVATIONS.get(m.group(1)) if m else None
    try:
        if name == "leaky_relu":
            return name, float(node._saved_negative_slope)
        if name == "elu":  # F.elu and F.selu, told apart by their saved scales
            alpha, scale, input_scale = (float(node._saved_alpha), float(node._saved_scale),
                                         float(node._saved_input_scale))
            if input_scale != 1:
                return None
            if scale == 1:
                return name, alpha
            return ("selu", None) if math.isclose(alpha, _SELU[0]) and math.isclose(scale, _SELU[1]) else None
    except (AttributeError, RuntimeError, TypeError, ValueError):  # a torch that names them otherwise
        return None
    return (name, None) if name else None


def graph_takers(z_node, x, limit=4096):
    """The autograd nodes that took Z (z_node: its grad_fn) on the way to x, found breadth first
    back from x over at most `limit` nodes: none where x does not depend on Z (or is Z)."""
    start = getattr(x, "grad_fn", None)
    if z_node is None or start is None or start is z_node:
        return []
    seen, queue, takers = {start}, collections.deque([start]), []
    while queue and len(seen) < limit:
        node = queue.popleft()
        for child, _ in node.next_functions:
            if child is None:
                continue
            if child is z_node:
                if not any(t is node for t in takers):
                    takers.append(node)
            elif child not in seen:
                seen.add(child)
                queue.append(child)
    return takers


def activation_in_graph(z_node, x, limit=4096, takers=None):
    """((name, alpha), node, normed) for the activation applied to Z on its way to x (the next
    Linear's input), read off the autograd graph, with the node that applied it; or None. The graph
    names f where the values cannot: Z mixed with other values before the next layer (a pre-norm
    block's h + F.gelu(fc(norm(h))), whose next input is a norm of a sum), or F.relu on a batch with
    no Z < 0. z_node: Z's grad_fn, taken when Z was made. Found only where exactly one op on the way
    from Z to x took Z and it is an activation we know, or a normalization applied functionally
    (F.layer_norm, F.batch_norm) that exactly one such activation took (normed: f was applied to
    the norm's output, not to Z). The search goes back from x, breadth first, over at most `limit`
    nodes (once, on the first logged step); takers: graph_takers(z_node, x), where the caller has
    them already."""
    if takers is None:
        takers = graph_takers(z_node, x, limit)
    if len(takers) != 1:
        return None
    if _NORM_NODES.fullmatch(type(takers[0]).__name__):
        inner = activation_in_graph(takers[0], x, limit)
        return None if inner is None or inner[2] else (inner[0], inner[1], True)
    found = _node_activation(takers[0])
    return None if found is None else (found, takers[0], False)


def apply_activation(kind, z, approximate=None):
    """f(z) for kind = (name, alpha) as infer_activation gives it; approximate="tanh": GELU's
    tanh approximation."""
    name, alpha = kind
    F = torch.nn.functional
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return F.leaky_relu(z, alpha)
    if name == "elu":
        return F.elu(z, alpha)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "gelu":
        return F.gelu(z, approximate="tanh") if approximate == "tanh" else F.gelu(z)
    if name == "silu":
        return F.silu(z)
    if name == "selu":
        return F.selu(z)
    return z


def shortest_decimal(x, eps):
    """The decimal with the fewest significant digits within 8 eps of x (relative): a slope
    estimated from float32 values, 0.2000000031683869, is the 0.2 the model was written with."""
    if not math.isfinite(x) or x == 0:
        return x
    for digits in range(1, 18):
        c = float(f"{x:.{digits}g}")
        if abs(c - x) <= 8 * eps * abs(x):
            return c
    return x


def saturated_count(name, a):
    """Saturated outputs (tanh |a| > 0.99; sigmoid a < 0.01 or a > 0.99) as a 0-d tensor, or None."""
    if name == "tanh":
        return (a.abs() > 0.99).sum()
    if name == "sigmoid":
        return ((a < 0.01) | (a > 0.99)).sum()
    return None


def current_weight(linear):
    """The weight the Linear's next forward pass applies, detached: ``weight`` itself (a
    ``torch.nn.utils.parametrize`` property computes it anew), or where a forward pre-hook of the
    old ``torch.nn.utils.weight_norm`` or ``spectral_norm`` recomputes it (after an update the
    attribute still holds the previous weight), that computation: weight_norm's from weight_g and
    weight_v; spectral_norm's from weight_orig and the current singular vectors, without the power
    iteration the next forward pass makes first (which would change its buffers)."""
    for hook in linear._forward_pre_hooks.values():
        compute = getattr(hook, "compute_weight", None)
        if getattr(hook, "name", None) != "weight" or not callable(compute):
            continue
        try:
            if "do_power_iteration" in inspect.signature(compute).parameters:
                with torch.no_grad():
                    return compute(linear, do_power_iteration=False).detach()
            with torch.no_grad():
                return compute(linear).detach()
        except (TypeError, RuntimeError, AttributeError):  # a hook of another shape: the attribute
            break
    return linear.weight.detach()


def _wrapped(model):
    """The model and the modules its wrappers hold, outermost first: DistributedDataParallel's (or
    DataParallel's) ``module``, torch.compile's ``_orig_mod``."""
    yield model
    for _ in range(4):
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return
        model = inner
        yield model


def unwrap(model):
    """The user's module inside DistributedDataParallel (or DataParallel) and torch.compile's
    wrapper (torch >= 2.0: hooks go on the original modules)."""
    *_, inner = _wrapped(model)
    return inner


def is_compiled(model):
    """Whether torch.compile wrapped the model (or the module DDP wraps)."""
    return any(isinstance(getattr(m, "_orig_mod", None), nn.Module) for m in _wrapped(model))


def is_fsdp(model):
    return any(type(m).__name__ == "FullyShardedDataParallel" for m in model.modules())


# attributes that wrappers put between a module and the one they wrap (FSDP's, checkpoint_wrapper's,
# torch.compile's): not part of the name the user gave the layer
_WRAPPER_ATTRS = {"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod", "_fpw_module"}


def module_names(root, linears):
    """Per layer, what names it in the user's code: ``{"name": "encoder.fc2"}`` (its qualified name in
    ``root``; the first of a module reached by two; "" for ``root`` itself, as ``named_modules()``
    names it), with ``"file"`` and ``"line"`` where the user's code assigns it: the
    ``self.<attr> = ...`` (or ``add_module("<attr>", ...)``) line in the innermost class on its path
    that is the user's, not torch's. An ``nn.Sequential`` built in a script or a notebook has no such
    line, nor has a class whose source cannot be read. None where a layer is not in ``root``."""
    first = {}
    for name, m in root.named_modules():
        first.setdefault(id(m), name)
    out = []
    for lin in linears:
        name = first.get(id(lin))
        if name is None:
            return None
        parts = name.split(".") if name else []
        entry = {"name": ".".join(p for p in parts if p not in _WRAPPER_ATTRS)}
        try:
            where = _assigned_at(root, parts)
        except Exception:  # noqa: BLE001 (source not readable: a frozen app, an odd loader)
            where = None
        if where is not None:
            entry["file"], entry["line"] = where
        out.append(entry)
    return out


def module_path(name):
    """A qualified name as the Python that reaches the module on a model called ``model``:
    "encoder.fc2" -> "model.encoder.fc2", "blocks.0" -> "model.blocks[0]", "14" -> "model[14]",
    "" (the model itself) -> "model"."""
    if not name:
        return "model"
    return "model" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in name.split("."))


def _assigned_at(root, parts):
    chain = [root]
    for p in parts:
        chain.append(chain[-1]._modules[p])
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in _WRAPPER_ATTRS:
            continue
        for cls in type(chain[i]).__mro__:
            if cls.__module__.split(".")[0] in ("torch", "builtins"):
                continue
            found = _assignment(cls, parts[i])
            if found is not None:
                return found
    return None


def _assignment(cls, attr):
    """(file, line) of the first line in cls's source that assigns self.<attr>, or None."""
    try:
        path = inspect.getsourcefile(cls)
        lines, first = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    if not path or not os.path.isfile(path):
        return None
    a = re.escape(attr)
    pat = re.compile(rf"\bself\.{a}\s*(?::[^=]*)?=(?!=)|add_module\(\s*[\"']{a}[\"']|register_module\(\s*[\"']{a}[\"']")
    for off, text in enumerate(lines):
        if pat.search(text.split("#", 1)[0]):
            return os.path.abspath(path), first + off
    return None
