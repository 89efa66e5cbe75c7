"""Exact merges of moments, on plain Python floats (after the one host transfer of a logged step).

A part is a triple (n, mean, m2): its element count, mean and sum of squared deviations from that
mean, m2 = sum((x - mean)^2). Two parts merge exactly (Chan, Golub and LeVeque):

    n = na + nb,  delta = mean_b - mean_a,
    mean = mean_a + delta * nb / n,
    m2 = m2_a + m2_b + delta^2 * na * nb / n

so the mean and population variance (m2 / n) of all ranks' samples together are the same numbers as
one process computes on the whole batch, up to rounding; never an average of per-rank variances.
"""
import math


def merge(parts):
    """Merges (n, mean, m2) triples; parts with n = 0 are ignored. Returns (n, mean, m2). The
    means and m2 may be floats or 0-d tensors (n is a number)."""
    n, mean, m2 = 0.0, 0.0, 0.0
    for nb, mb, m2b in parts:
        if nb <= 0:
            continue
        if n == 0:
            n, mean, m2 = nb, mb, m2b
            continue
        total = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + delta * delta * (n * nb / total)
        n = total
    return n, mean, m2


def scaled(part, s):
    """The moments of s*x from those of x."""
    n, mean, m2 = part
    return n, mean * s, m2 * s * s


def mean_var(part):
    """{"mean", "var"} (population variance) of a merged part; non-finite values become None."""
    n, mean, m2 = part
    if n <= 0:
        return {"mean": None, "var": None}
    var = m2 / n
    if math.isfinite(var) and var < 0:
        var = 0.0
    return {"mean": finite(mean), "var": finite(var)}


def sum_squares(part):
    """sum(x^2) of a part: m2 + n * mean^2 (both terms >= 0: no cancellation)."""
    n, mean, m2 = part
    return m2 + n * mean * mean


def finite(x):
    """x when it is a finite number, else None (JSON has no NaN or Infinity)."""
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def is_finite_part(part):
    n, mean, m2 = part
    return n <= 0 or (math.isfinite(mean) and math.isfinite(m2))
