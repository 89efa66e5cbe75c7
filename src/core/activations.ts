/**
 * Activation functions f and their derivatives f', elementwise.
 *
 * - linear: f(z) = z, f' = 1
 * - relu: f(z) = max(0, z), f'(z) = 1 for z > 0, 0 for z ≤ 0
 * - leaky_relu: f(z) = z for z ≥ 0, αz for z < 0; f'(z) = 1 for z > 0, α otherwise (PyTorch's
 *   convention at exactly 0)
 * - tanh: f' = 1 − tanh²(z)
 * - sigmoid: σ(z) = 1/(1+e^{−z}), f' = σ(1−σ)
 * - elu: f(z) = z for z > 0, α(e^z − 1) otherwise (α default 1); f' = 1 for z > 0, αe^z otherwise
 * - gelu: f(z) = z·Φ(z) (exact, erf form, as PyTorch's default); f' = Φ(z) + z·φ(z)
 * - silu (swish): f(z) = z·σ(z); f' = σ(z)·(1 + z·(1 − σ(z)))
 * - selu: f(z) = λz for z > 0, λα(e^z − 1) otherwise, PyTorch's λ = 1.0507…, α = 1.6732… (the
 *   self-normalizing constants: with Var(W) = 1/fan_in, N(0, 1) pre-activations stay N(0, 1));
 *   f' = λ for z > 0, λαe^z otherwise
 */
import type { ActivationName } from '../protocol/events';
import { normCdf, normPdf } from './erf';

export interface Activation {
  name: ActivationName;
  /** α for leaky_relu (default 0.01) and elu (default 1); unused otherwise. */
  alpha: number;
}

/** SELU's constants, as PyTorch has them (Klambauer et al. 2017). */
const SELU_LAMBDA = 1.0507009873554805;
const SELU_ALPHA = 1.6732632423543772;

export const DEFAULT_ALPHA: Record<ActivationName, number> = {
  linear: 0,
  relu: 0,
  leaky_relu: 0.01,
  tanh: 0,
  sigmoid: 0,
  elu: 1,
  gelu: 0,
  silu: 0,
  selu: 0,
};

/** f(z) for one value. */
export function activate(act: Activation, z: number): number {
  switch (act.name) {
    case 'linear':
      return z;
    case 'relu':
      return z > 0 ? z : 0;
    case 'leaky_relu':
      return z >= 0 ? z : act.alpha * z;
    case 'tanh':
      return Math.tanh(z);
    case 'sigmoid':
      return sigmoid(z);
    case 'elu':
      return z > 0 ? z : act.alpha * Math.expm1(z);
    case 'gelu':
      return z * normCdf(z);
    case 'silu':
      return z * sigmoid(z);
    case 'selu':
      return z > 0 ? SELU_LAMBDA * z : SELU_LAMBDA * SELU_ALPHA * Math.expm1(z);
  }
}

/** f'(z) for one value. */
export function derivative(act: Activation, z: number): number {
  switch (act.name) {
    case 'linear':
      return 1;
    case 'relu':
      return z > 0 ? 1 : 0;
    case 'leaky_relu':
      return z > 0 ? 1 : act.alpha;
    case 'tanh': {
      const t = Math.tanh(z);
      return 1 - t * t;
    }
    case 'sigmoid': {
      const s = sigmoid(z);
      return s * (1 - s);
    }
    case 'elu':
      return z > 0 ? 1 : act.alpha * Math.exp(z);
    case 'gelu':
      return normCdf(z) + z * normPdf(z);
    case 'silu': {
      const s = sigmoid(z);
      return s * (1 + z * (1 - s));
    }
    case 'selu':
      return z > 0 ? SELU_LAMBDA : SELU_LAMBDA * SELU_ALPHA * Math.exp(z);
  }
}

/**
 * out[j] = f'(Z[j]) for the first n values: the same values as `derivative`, with the piecewise
 * linear activations' loops free of the per-value call (a Hessian operator's f′(Z), 33k values a
 * W1-shaped batch).
 */
export function derivativeInto(
  act: Activation,
  Z: Float32Array | Float64Array,
  out: Float32Array | Float64Array,
  n: number,
): void {
  switch (act.name) {
    case 'linear':
      out.fill(1, 0, n);
      return;
    case 'relu':
      // (no branch: half a layer's signs are a coin toss to the branch predictor, 2–3× slower)
      for (let j = 0; j < n; j++) out[j] = +(Z[j]! > 0);
      return;
    case 'leaky_relu': {
      const alpha = act.alpha;
      for (let j = 0; j < n; j++) out[j] = Z[j]! > 0 ? 1 : alpha;
      return;
    }
    default:
      for (let j = 0; j < n; j++) out[j] = derivative(act, Z[j]!);
  }
}

/**
 * f''(z) for one value (the Hessian's curvature term): 0 for linear, relu and leaky_relu (away from
 * their kink, as autograd has it), −2t(1 − t²) for tanh (t = tanh z), s(1 − s)(1 − 2s) for sigmoid,
 * αe^z below 0 for elu, φ(z)(2 − z²) for gelu = zΦ(z), s(1 − s)(2 + z(1 − 2s)) for silu = z·s
 * (s = σ(z)), λαe^z below 0 for selu.
 */
export function derivative2(act: Activation, z: number): number {
  switch (act.name) {
    case 'linear':
    case 'relu':
    case 'leaky_relu':
      return 0;
    case 'tanh': {
      const t = Math.tanh(z);
      return -2 * t * (1 - t * t);
    }
    case 'sigmoid': {
      const s = sigmoid(z);
      return s * (1 - s) * (1 - 2 * s);
    }
    case 'elu':
      return z > 0 ? 0 : act.alpha * Math.exp(z);
    case 'gelu':
      return normPdf(z) * (2 - z * z);
    case 'silu': {
      const s = sigmoid(z);
      return s * (1 - s) * (2 + z * (1 - 2 * s));
    }
    case 'selu':
      return z > 0 ? 0 : SELU_LAMBDA * SELU_ALPHA * Math.exp(z);
  }
}

/** Numerically stable logistic function. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * Whether a unit counts as dead for this activation: relu units with z ≤ 0 for every sample,
 * leaky_relu units with z < 0 for every sample. Other activations have no dead units.
 */
export function hasDeadUnits(name: ActivationName): boolean {
  return name === 'relu' || name === 'leaky_relu';
}

/**
 * PyTorch's `calculate_gain` for the activation: √2 relu, √(2/(1+α²)) leaky_relu, 5/3 tanh,
 * 3/4 selu, 1 linear and sigmoid. PyTorch defines none for elu, gelu and silu; Layerwise uses √2
 * (they are ReLU-like: about half of a zero-mean input is passed).
 */
export function calculateGain(act: Activation): number {
  switch (act.name) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'relu':
    case 'elu':
    case 'gelu':
    case 'silu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + act.alpha * act.alpha));
    case 'tanh':
      return 5 / 3;
    case 'selu':
      return 3 / 4;
  }
}
