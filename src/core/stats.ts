/**
 * Tensor statistics, accumulated in double precision. Variances are population variances (÷N),
 * computed in one pass shifted by the first element to avoid cancellation:
 * Var = (Σ(x−s)² − (Σ(x−s))²/N) / N.
 */
import type { FArray } from './kernels';
import type { MeanVar } from '../protocol/events';

/**
 * Two parts' (n, mean, population variance) as one, by Chan's formula: n = nₐ + n_b,
 * δ = μ_b − μₐ, μ = μₐ + δ·n_b/n, σ² = (σₐ²nₐ + σ_b²n_b + δ²nₐn_b/n)/n.
 */
export function mergeMoments(na: number, ma: number, va: number, nb: number, mb: number, vb: number): MeanVar {
  const n = na + nb;
  if (nb === 0) return { mean: ma, var: va };
  if (na === 0) return { mean: mb, var: vb };
  const d = mb - ma;
  return { mean: ma + (d * nb) / n, var: (va * na + vb * nb + (d * d * na * nb) / n) / n };
}

/** A variance from a one-pass formula: tiny negative round-off becomes 0, NaN stays NaN. */
export function clampVar(v: number): number {
  return v > 0 ? v : 0 * v;
}

/** The mean second moment E[x²] of the first n values of x. */
export function meanSquare(x: ArrayLike<number>, n = x.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  return n > 0 ? s / n : 0;
}

/** Mean and population variance of the first n values of x. */
export function meanVar(x: FArray | Float64Array, n = x.length): MeanVar {
  if (n === 0) return { mean: 0, var: 0 };
  const shift = x[0]!;
  let s = 0,
    ss = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i]! - shift;
    s += d;
    ss += d * d;
  }
  const v = (ss - (s * s) / n) / n;
  return { mean: shift + s / n, var: clampVar(v) };
}

/** L2 norm and population variance of the first n values of g (one pass). */
export function normVar(g: FArray, n = g.length): { norm: number; var: number; sumSq: number } {
  let s = 0,
    ss = 0;
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    s += x;
    ss += x * x;
  }
  if (n === 0) return { norm: 0, var: 0, sumSq: 0 };
  const m = s / n;
  // Σ(x−m)² = Σx² − n·m²; gradients are near zero-mean, so this does not cancel badly.
  const v = ss / n - m * m;
  return { norm: Math.sqrt(ss), var: clampVar(v), sumSq: ss };
}

/** Whether every value of `a` is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}
