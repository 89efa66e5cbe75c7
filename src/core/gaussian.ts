/**
 * Expectations of an activation under a Gaussian pre-activation z ~ N(μ, σ²):
 * E[f(z)], E[f(z)²] and E[f'(z)²].
 *
 * Closed forms (t = μ/σ, Φ/φ the standard normal cdf/pdf):
 * - linear: E f = μ, E f² = μ² + σ², E f'² = 1
 * - relu:   E f = μΦ(t) + σφ(t), E f² = (μ²+σ²)Φ(t) + μσφ(t), E f'² = Φ(t)
 *           (at μ = 0: E f² = σ²/2)
 * - leaky_relu(α): f = relu(z) − α·relu(−z), so E f² = E relu(z)² + α²·E relu(−z)²,
 *           E f'² = Φ(t) + α²(1 − Φ(t))  (at μ = 0: E f² = (1+α²)σ²/2)
 * Otherwise n-point Gauss–Hermite quadrature: E g(z) ≈ π^{−1/2} Σ w_i g(μ + √2·σ·x_i).
 */
import type { Activation } from './activations';
import { activate, derivative } from './activations';
import { normCdf, normPdf } from './erf';

export interface GaussMoments {
  /** E[f(z)] */
  mean: number;
  /** E[f(z)²] */
  second: number;
  /** E[f'(z)²] */
  deriv2: number;
}

function reluMoments(mu: number, s: number): { m1: number; m2: number; p: number } {
  const t = mu / s;
  const P = normCdf(t), d = normPdf(t);
  return { m1: mu * P + s * d, m2: (mu * mu + s * s) * P + mu * s * d, p: P };
}

/** E f, E f², E f'² for z ~ N(mu, variance). */
export function gaussMoments(act: Activation, mu: number, variance: number): GaussMoments {
  const s = Math.sqrt(Math.max(variance, 0));
  if (!(s > 0) || !Number.isFinite(s)) {
    if (!Number.isFinite(s)) return { mean: NaN, second: Infinity, deriv2: NaN };
    const f = activate(act, mu), d = derivative(act, mu);
    return { mean: f, second: f * f, deriv2: d * d };
  }
  switch (act.name) {
    case 'linear':
      return { mean: mu, second: mu * mu + s * s, deriv2: 1 };
    case 'relu': {
      const r = reluMoments(mu, s);
      return { mean: r.m1, second: r.m2, deriv2: r.p };
    }
    case 'leaky_relu': {
      const a = act.alpha;
      const pos = reluMoments(mu, s), neg = reluMoments(-mu, s);
      return { mean: pos.m1 - a * neg.m1, second: pos.m2 + a * a * neg.m2, deriv2: pos.p + a * a * (1 - pos.p) };
    }
    default: {
      const { x, w } = hermite();
      let m1 = 0, m2 = 0, d2 = 0;
      for (let i = 0; i < x.length; i++) {
        const z = mu + Math.SQRT2 * s * x[i]!;
        const f = activate(act, z), d = derivative(act, z);
        m1 += w[i]! * f;
        m2 += w[i]! * f * f;
        d2 += w[i]! * d * d;
      }
      const c = 1 / Math.sqrt(Math.PI);
      return { mean: m1 * c, second: m2 * c, deriv2: d2 * c };
    }
  }
}

export const HERMITE_POINTS = 96;
let cached: { x: Float64Array; w: Float64Array } | null = null;

/**
 * Nodes and weights of n-point Gauss–Hermite quadrature (weight e^{−x²}), by Newton's method on
 * the orthonormal Hermite recurrence (Numerical Recipes' gauher).
 */
export function gaussHermite(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n), w = new Float64Array(n);
  const PIM4 = 0.7511255444649425; // π^(−1/4)
  const m = Math.floor((n + 1) / 2);
  let z = 0;
  for (let i = 0; i < m; i++) {
    if (i === 0) z = Math.sqrt(2 * n + 1) - 1.85575 * Math.pow(2 * n + 1, -0.16667);
    else if (i === 1) z -= (1.14 * Math.pow(n, 0.426)) / z;
    else if (i === 2) z = 1.86 * z - 0.86 * x[0]!;
    else if (i === 3) z = 1.91 * z - 0.91 * x[1]!;
    else z = 2 * z - x[i - 2]!;
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = PIM4, p2 = 0;
      for (let j = 0; j < n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / (j + 1)) * p2 - Math.sqrt(j / (j + 1)) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-15 * Math.max(1, Math.abs(z))) break;
    }
    x[i] = z;
    x[n - 1 - i] = -z;
    w[i] = 2 / (pp * pp);
    w[n - 1 - i] = w[i]!;
  }
  return { x, w };
}

function hermite(): { x: Float64Array; w: Float64Array } {
  if (cached === null) cached = gaussHermite(HERMITE_POINTS);
  return cached;
}
