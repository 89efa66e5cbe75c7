"""lambda_max of the loss's Hessian by torch.autograd double backward, and the optimiser's
divergence threshold, as Layerwise's core/sharpness.ts defines them.

Hv = d/dtheta (g . v) with g = dL/dtheta taken with create_graph=True (one forward and backward
of the closure per evaluation; then one extra backward a product). Lanczos with full
reorthogonalisation from the previous evaluation's Ritz vector; it stops when the largest Ritz
value moves less than 1e-4 relatively, or after 20 products.
"""
import math

import torch


def threshold(optimizer):
    """2/lr for plain SGD, (2 + 2 momentum)/lr for heavy-ball SGD (no Nesterov, no dampening);
    None otherwise (Adam's steps are preconditioned: the raw Hessian has no threshold of its own).
    Returns (threshold, momentum or None, lr or None)."""
    if type(optimizer).__name__ != "SGD" or not optimizer.param_groups:
        return None, None, None
    g = optimizer.param_groups[0]
    lr, mom = float(g["lr"]), float(g.get("momentum", 0.0) or 0.0)
    if g.get("nesterov") or (mom and g.get("dampening", 0)) or lr <= 0:
        return None, None, lr
    return ((2 + 2 * mom) / lr if mom else 2 / lr), (mom if mom else None), lr


def lambda_max(closure, params, start=None, max_iter=20, tol=1e-4, generator=None):
    """(lambda_max, products, Ritz vector) of the Hessian of closure()'s loss over params."""
    loss = closure()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_g = torch.cat([g.reshape(-1) for g in grads])
    n = flat_g.numel()
    dev, dt = flat_g.device, torch.float64

    def hvp(v):
        vv = v.to(flat_g.dtype)
        hv = torch.autograd.grad(flat_g, params, grad_outputs=vv, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).to(dt)

    q = start.to(dev, dt).clone() if start is not None and start.numel() == n else \
        torch.randn(n, generator=generator, dtype=dt).to(dev)
    q /= q.norm()
    Q, alpha, beta = [q], [], []
    best, prev, y_best, it = float("nan"), float("nan"), None, 0
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
        done = abs(best - prev) <= tol * abs(best) or b <= 1e-12 * max(1.0, abs(best))
        prev = best
        if done or it >= min(max_iter, n):
            break
        beta.append(b)
        Q.append(w / b)
    vec = sum(float(y) * qj for y, qj in zip(y_best, Q))
    return best, it, vec
