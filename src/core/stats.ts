/**
 * Tensor statistics, accumulated in double precision. Variances are population variances (÷N),
 * computed in one pass shifted by the first element to avoid cancellation:
 * Var = (Σ(x−s)² − (Σ(x−s))²/N) / N.
 */
import type { FArray } from './dense';
import type { MeanVar } from '../protocol/events';

/** Running sums of one shifted one-pass mean/variance. */
export class Moments {
  n = 0;
  private shift = 0;
  private s = 0;
  private ss = 0;

  reset(): void {
    this.n = 0; this.shift = 0; this.s = 0; this.ss = 0;
  }

  add(x: number): void {
    if (this.n === 0) this.shift = x;
    const d = x - this.shift;
    this.s += d;
    this.ss += d * d;
    this.n++;
  }

  get mean(): number {
    return this.n === 0 ? 0 : this.shift + this.s / this.n;
  }

  get variance(): number {
    if (this.n === 0) return 0;
    const v = (this.ss - (this.s * this.s) / this.n) / this.n;
    return v > 0 ? v : 0 * v; // keep NaN, clamp tiny negative round-off to 0
  }

  /** Σx² over the values added. */
  get sumSquares(): number {
    const m = this.mean;
    return this.n * (this.variance + m * m);
  }

  toMeanVar(): MeanVar {
    return { mean: this.mean, var: this.variance };
  }
}

/** Mean and population variance of the first n values of x. */
export function meanVar(x: FArray | Float64Array, n = x.length): MeanVar {
  if (n === 0) return { mean: 0, var: 0 };
  const shift = x[0]!;
  let s = 0, ss = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i]! - shift;
    s += d;
    ss += d * d;
  }
  const v = (ss - (s * s) / n) / n;
  return { mean: shift + s / n, var: v > 0 ? v : 0 * v };
}

/** L2 norm and population variance of the first n values of g (one pass). */
export function normVar(g: FArray, n = g.length): { norm: number; var: number; sumSq: number } {
  let s = 0, ss = 0;
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    s += x;
    ss += x * x;
  }
  if (n === 0) return { norm: 0, var: 0, sumSq: 0 };
  const m = s / n;
  // Σ(x−m)² = Σx² − n·m²; gradients are near zero-mean, so this does not cancel badly.
  const v = ss / n - m * m;
  return { norm: Math.sqrt(ss), var: v > 0 ? v : 0 * v, sumSq: ss };
}
