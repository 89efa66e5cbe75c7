/**
 * Tensor statistics, accumulated in double precision. Variances are population variances (÷N),
 * computed in one pass shifted by the first element to avoid cancellation:
 * Var = (Σ(x−s)² − (Σ(x−s))²/N) / N.
 */
import type { DenseKernels, FArray } from './kernels';
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

/**
 * [Σg, Σg²] of the first n values of g at `out`, in four running sums s₀…s₃ (value i in s_(i mod 4),
 * the last n mod 4 values into s₀), then (s₀ + s₁) + (s₂ + s₃): the order DenseKernels.gradientSums
 * follows bit for bit.
 */
export function gradientSums(g: FArray, n: number, out: Float64Array): void {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    q0 = 0,
    q1 = 0,
    q2 = 0,
    q3 = 0,
    i = 0;
  for (; i + 3 < n; i += 4) {
    const a = g[i]!,
      b = g[i + 1]!,
      c = g[i + 2]!,
      d = g[i + 3]!;
    s0 += a;
    s1 += b;
    s2 += c;
    s3 += d;
    q0 += a * a;
    q1 += b * b;
    q2 += c * c;
    q3 += d * d;
  }
  for (; i < n; i++) {
    const x = g[i]!;
    s0 += x;
    q0 += x * x;
  }
  out[0] = s0 + s1 + (s2 + s3);
  out[1] = q0 + q1 + (q2 + q3);
}

const sums = new Float64Array(2);

/**
 * L2 norm and population variance of the first n values of g (one pass: gradientSums, by `kernels`
 * where they serve g).
 */
export function normVar(
  g: FArray,
  n = g.length,
  kernels?: Pick<DenseKernels, 'gradientSums'>,
): { norm: number; var: number; sumSq: number } {
  if (n === 0) return { norm: 0, var: 0, sumSq: 0 };
  if (!kernels?.gradientSums?.(g, n, sums)) gradientSums(g, n, sums);
  const s = sums[0]!,
    ss = sums[1]!;
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
