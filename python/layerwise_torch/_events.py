"""A logged step's event from its numbers on the host: plain Python over the rows of the one
transfer (one process) or the one ``all_gather`` (one row per rank), no tensors.

The rows (written by _run.Run._logged_step, in this order):

- a samples row per rank: the counts ``[rows, n(input), then per layer n(Z), n(f(Z)), n(dL/dZ)]``
  (2 + 3L), then ``[loss, mean(input), m2(input)]`` and per layer ``[mean(Z), m2(Z), mean(f(Z)),
  m2(f(Z)), mean(dL/dZ), m2(dL/dZ), saturated count]`` (3 + 7L), then for each relu or leaky_relu
  layer its units' largest activation input (Z, or what normalization or dropout made of it);
- a parameters row per shard (the replica's own row where nothing is sharded): per layer
  ``numel(W), numel(dW)`` (2L); then ``sum(W)``, ``sum(W^2)``, ``sum(dW)``, ``sum(dW^2)``,
  ``sum(db^2)``, each for every layer (5L); then the other parameters' sum of squared gradients,
  clip_grad_norm_'s total, whether some |g| exceeded the clip value, and the sum of squares after
  a clip by value (4).

Each rank's moments merge exactly (_stats.py); a rank's dL/dZ is scaled by its share of the
global batch (the gradient of the global-batch mean loss) and by 1/scale under a GradScaler; the
shards' sums add up.
"""
import math

from . import _stats
from ._layers import RELU_LIKE


def _sums_part(n, s1, s2):
    """(n, mean, m2) from a count, a sum and a sum of squares."""
    mean = s1 / n if n > 0 else 0.0
    m2 = s2 - s1 * mean
    return n, mean, max(0.0, m2) if math.isfinite(m2) else m2


def step_event(k, rows_all, prow, acts, units, clip_used, grad_scale=1.0, loss_given=True, check_grads=True,
               trained=None, bias_grads=None):
    """The step event of step k, where non-finite values first appeared, and each layer's sum(W^2)
    (None for a frozen layer).

    acts: per layer (activation name, alpha); units: per layer out_features; clip_used: (mode,
    max) of the clip applied this step (mode None: none); loss_given: whether run.step had a loss;
    check_grads: whether non-finite gradients are a failure (not under a GradScaler, whose overflow
    skips the update); trained: per layer whether its weight or bias requires grad (None: all),
    a frozen layer's gradient fields are None; bias_grads: per layer whether its bias (if any) has
    a gradient (None: all), biasGrad is None where it has none (no backward pass reached it).
    Returns (event, failure, weight_sq) with failure None or (layer, where) and event's updateRatio
    still None (measured after the update)."""
    L = len(acts)
    total_rows = sum(r[0] for r in rows_all)
    nc = 2 + 3 * L
    loss_sum = 0.0
    input_parts = []
    layer_parts = [[[], [], []] for _ in range(L)]
    sat = [0.0] * L
    finite_fwd = [[True, True] for _ in range(L)]
    alive = [None] * L
    for r in rows_all:
        counts, s = r[:nc], r[nc:]
        share = counts[0] / total_rows if total_rows > 0 else 1.0
        loss_sum += s[0] * share
        input_parts.append((counts[1], s[1], s[2]))
        o = 3
        vec = nc + 3 + 7 * L
        for i in range(L):
            for q in range(3):
                part = (counts[2 + 3 * i + q], s[o], s[o + 1])
                if q == 2:
                    part = _stats.scaled(part, share / grad_scale)  # dL/dZ of the global-batch mean loss
                layer_parts[i][q].append(part)
                o += 2
            sat[i] += s[o]
            finite_fwd[i][0] = finite_fwd[i][0] and math.isfinite(s[o - 6])
            finite_fwd[i][1] = finite_fwd[i][1] and math.isfinite(s[o - 4])
            o += 1
            if acts[i][0] in RELU_LIKE:
                v = r[vec:vec + units[i]]
                alive[i] = v if alive[i] is None else [max(a, b) for a, b in zip(alive[i], v)]
                vec += units[i]
    loss = loss_sum if total_rows > 0 else rows_all[0][nc]
    q0 = _stats.merge(input_parts)

    # parameters: the shards' sums add up
    P = [[0.0] * 7 for _ in range(L)]  # nW, nG, sum W, sum W^2, sum dW, sum dW^2, sum db^2
    others_sq = after_sq = 0.0
    total = None
    over = False
    for p in prow:
        for i in range(L):
            q = P[i]
            q[0] += p[2 * i]
            q[1] += p[2 * i + 1]
            for c in range(2, 7):
                q[c] += p[c * L + i]
        o = 7 * L
        others_sq += p[o]
        total = p[o + 1] if total is None else max(total, p[o + 1])
        over = over or p[o + 2] > 0
        after_sq += p[o + 3]
    before_sq = sum(q[5] + q[6] for q in P) + others_sq
    mode, c = clip_used
    if mode == "norm":
        # what clip_grad_norm_ multiplied every gradient by
        coef = min(1.0, c / (total + 1e-6)) if math.isfinite(total) else float("nan")
        after_sq, clipped = before_sq * coef * coef, not coef >= 1.0
    elif mode == "value":
        clipped = over
    else:
        after_sq, clipped = before_sq, False

    pw = []
    for q in P:
        pw += [_sums_part(q[0], q[2], q[3]), _sums_part(q[1], q[4], q[5]), (1.0, 0.0, q[6])]
    trained = [True] * L if trained is None else trained
    bias_grads = [True] * L if bias_grads is None else bias_grads
    weight_sq = [_stats.sum_squares(pw[3 * i]) if trained[i] else None for i in range(L)]
    layers = []
    merged = []
    for i in range(L):
        pre = _stats.merge(layer_parts[i][0])
        act = _stats.merge(layer_parts[i][1])
        grad = _stats.merge(layer_parts[i][2])
        merged.append((pre, act, grad))
        name = acts[i][0]
        dead = None
        if name in RELU_LIKE and alive[i] is not None and pre[0] > 0:  # no sample: no verdict
            # relu: z <= 0 for every sample; leaky_relu: z < 0 for every sample (NaN: not dead)
            dead = sum(map((0.0).__ge__ if name == "relu" else (0.0).__gt__, alive[i]))  # (0 >= NaN is False)
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
            # (a Linear without bias: 0; a frozen layer, or a bias no gradient reached: None)
            "biasGrad": {"norm": _stats.finite(math.sqrt(gb[2])) if trained[i] and bias_grads[i] else None},
            "updateRatio": None,
        })
        # (a sequence model pooled before its head: Z below the pooling has batch x time rows, the
        # head's batch; the detectors compare dL/dZ between layers over the same rows only)
        if pre[0] > 0 and units[i] > 0 and pre[0] != total_rows * units[i]:
            layers[-1]["rows"] = int(round(pre[0] / units[i]))
    event = {
        "type": "step", "step": k, "loss": _stats.finite(loss),
        "inputVar": _stats.finite(_stats.sum_squares(q0) / q0[0]) if q0[0] > 0 else None,
        "gradNorm": _stats.finite(math.sqrt(before_sq)), "gradNormClipped": _stats.finite(math.sqrt(after_sq)),
        "clipped": bool(clipped), "samples": int(total_rows), "layers": layers,
    }

    # where non-finite values first appeared: the batch, forward in layer order, the loss, then
    # backward
    failure = None
    if not all(math.isfinite(r[nc + 1]) for r in rows_all if r[1] > 0):
        failure = (0, "inputs")
    for i in range(L if failure is None else 0):
        if not finite_fwd[i][0]:
            failure = (i, "pre-activations (forward pass)")
            break
        if not finite_fwd[i][1]:
            failure = (i, "activations (forward pass)")
            break
    if failure is None and loss_given and not math.isfinite(loss):
        failure = (L - 1, "loss")
    if failure is None and check_grads:
        for i in reversed(range(L)):
            if not _stats.is_finite_part(merged[i][2]):
                failure = (i, "gradients (backward pass)")
                break
    if failure is None and check_grads:
        for i in reversed(range(L)):
            if not (_stats.is_finite_part(pw[3 * i + 1]) and _stats.is_finite_part(pw[3 * i + 2])):
                failure = (i, "gradients (backward pass)")
                break
    return event, failure, weight_sq
