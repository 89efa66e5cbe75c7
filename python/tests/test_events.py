"""_events.step_event on rows written by hand: two ranks' samples rows and two shards' parameter
rows give the statistics of all the values together (computed here directly, in float64)."""
import math

import torch

from layerwise_torch._events import step_event


def moments(t):
    t = t.double().reshape(-1)
    return t.numel(), float(t.mean()), float(((t - t.mean()) ** 2).sum())


def samples_row(x, zs, acts, gs, loss, relu_layers):
    """One rank's row: x its inputs, zs/acts/gs per layer its Z, f(Z) and dL/dZ (of its own mean loss)."""
    counts = [float(x.shape[0]), float(x.numel())]
    stats = [loss] + list(moments(x)[1:])
    vectors = []
    for i, (z, a, g) in enumerate(zip(zs, acts, gs)):
        counts += [float(z.numel()), float(a.numel()), float(g.numel())]
        for t in (z, a, g):
            stats += list(moments(t)[1:])
        stats.append(0.0)  # saturated count (none: relu)
        if i in relu_layers:
            vectors += z.amax(0).tolist()
    return counts + stats + vectors


def param_row(ws, gws, gbs, others_sq=0.0):
    L = len(ws)
    row = []
    for w, g in zip(ws, gws):
        row += [float(w.numel()), float(g.numel())]
    row += [float(w.double().sum()) for w in ws] + [float((w.double() ** 2).sum()) for w in ws]
    row += [float(g.double().sum()) for g in gws] + [float((g.double() ** 2).sum()) for g in gws]
    row += [float((b.double() ** 2).sum()) for b in gbs]
    assert len(row) == 7 * L
    return row + [others_sq, 0.0, 0.0, 0.0]


def test_two_ranks_and_two_shards_merge_to_the_whole():
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    # rank 0 holds 3 rows, rank 1 holds 5 (unequal shares)
    x = [r(3, 4) + 2.0, r(5, 4) - 1.0]
    z0 = [r(3, 6), r(5, 6)]
    z0[1][:, 2] = -1.0 - z0[1][:, 2].abs()   # unit 2 dead on rank 1 only
    z0[0][:, 4] = -z0[0][:, 4].abs()
    z0[1][:, 4] = -z0[1][:, 4].abs()          # unit 4 dead on both ranks
    a0 = [z.clamp(min=0) for z in z0]
    z1 = [r(3, 2), r(5, 2)]
    # dL/dZ of each rank's own mean loss; the global-batch mean loss's is that times the share
    g0 = [r(3, 6) * 10, r(5, 6)]
    g1 = [r(3, 2), r(5, 2) * 0.1]
    losses = [0.7, 1.3]
    rows = [samples_row(x[k], [z0[k], z1[k]], [a0[k], z1[k]], [g0[k], g1[k]], losses[k], {0}) for k in range(2)]
    # the weights split over two shards by rows
    W0, W1, G0, G1, b0, b1 = r(6, 4), r(2, 6), r(6, 4), r(2, 6), r(6), r(2)
    prow = [param_row([W0[:3], W1[:1]], [G0[:3], G1[:1]], [b0[:3], b1[:1]]),
            param_row([W0[3:], W1[1:]], [G0[3:], G1[1:]], [b0[3:], b1[1:]], others_sq=0.25)]
    acts = [("relu", None), ("linear", None)]
    event, failure, weight_sq = step_event(4, rows, prow, acts, [6, 2], (None, None))
    assert failure is None
    assert event["step"] == 4
    assert math.isclose(event["loss"], (3 * 0.7 + 5 * 1.3) / 8, rel_tol=1e-12)
    X = torch.cat(x)
    assert math.isclose(event["inputVar"], float((X ** 2).mean()), rel_tol=1e-12)
    l0, l1 = event["layers"]
    for got, whole in ((l0["preact"], torch.cat(z0)), (l0["act"], torch.cat(a0)), (l1["preact"], torch.cat(z1))):
        assert math.isclose(got["mean"], float(whole.mean()), rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(got["var"], float(whole.var(unbiased=False)), rel_tol=1e-12)
    G = torch.cat([g0[0] * 3 / 8, g0[1] * 5 / 8])
    assert math.isclose(l0["grad"]["var"], float(G.var(unbiased=False)), rel_tol=1e-12)
    assert math.isclose(l0["grad"]["mean"], float(G.mean()), rel_tol=1e-12)
    # dead = dead on every rank: unit 4 is, unit 2 only on rank 1
    dead = (torch.cat(z0).amax(0) <= 0).tolist()
    assert dead[4] and not dead[2] and l0["dead"] == sum(dead) and l1["dead"] is None
    assert math.isclose(l0["weight"]["var"], float(W0.var(unbiased=False)), rel_tol=1e-12)
    assert math.isclose(l1["weightGrad"]["norm"], float(G1.norm()), rel_tol=1e-12)
    assert math.isclose(l1["weightGrad"]["var"], float(G1.var(unbiased=False)), rel_tol=1e-12)
    assert math.isclose(l0["biasGrad"]["norm"], float(b0.norm()), rel_tol=1e-12)
    total = float(G0.norm() ** 2 + G1.norm() ** 2 + b0.norm() ** 2 + b1.norm() ** 2) + 0.25
    assert math.isclose(event["gradNorm"], math.sqrt(total), rel_tol=1e-12)
    assert event["gradNormClipped"] == event["gradNorm"] and event["clipped"] is False
    assert math.isclose(weight_sq[1], float((W1 ** 2).sum()), rel_tol=1e-12)


def test_the_first_non_finite_value_is_found_forward_first_then_backward():
    ones = lambda *s: torch.ones(*s, dtype=torch.float64)
    x, z, gz = ones(2, 3), [ones(2, 3), ones(2, 2)], [ones(2, 3), ones(2, 2)]
    prow = [param_row([ones(3, 3), ones(2, 3)], [ones(3, 3), ones(2, 3)], [ones(3), ones(2)])]
    acts = [("tanh", None), ("linear", None)]
    bad_grad = [gz[0], gz[1].clone()]
    bad_grad[1][0, 0] = math.nan
    row = samples_row(x, z, z, bad_grad, 0.5, set())
    _, failure, _ = step_event(0, [row], prow, acts, [3, 2], (None, None))
    assert failure == (1, "gradients (backward pass)")
    _, failure, _ = step_event(0, [row], prow, acts, [3, 2], (None, None), check_grads=False)
    assert failure is None  # a GradScaler's overflow
    bad_z = [z[0].clone(), z[1]]
    bad_z[0][1, 1] = math.inf
    _, failure, _ = step_event(0, [samples_row(x, bad_z, bad_z, bad_grad, 0.5, set())], prow, acts, [3, 2],
                               (None, None))
    assert failure == (0, "pre-activations (forward pass)")
    _, failure, _ = step_event(0, [samples_row(x, z, z, gz, math.nan, set())], prow, acts, [3, 2], (None, None))
    assert failure == (1, "loss")
