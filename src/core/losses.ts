/**
 * Losses on the output layer's activations Y [B×C] (for cross-entropy, the logits: softmax belongs
 * to the loss).
 *
 * - cross_entropy: L = (1/B) Σ_i −log softmax(Y_i)[t_i], targets t_i class indices;
 *   ∂L/∂Y_i = (softmax(Y_i) − onehot(t_i)) / B.
 * - mse: L = (1/(B·C)) Σ_{i,c} (Y_ic − T_ic)²; ∂L/∂Y = 2(Y − T)/(B·C).
 *
 * Sums run in double precision; for float32 networks the loss overflows to ∞ where float32
 * arithmetic (PyTorch's) would: a squared error or a running sum beyond the float32 maximum.
 */
import type { FArray } from './kernels';
import type { LossName } from './spec';

const F32_MAX = 3.4028234663852886e38;

/**
 * Computes the loss and writes ∂L/∂Y into dY. `targets` holds class indices (cross_entropy) or a
 * B×C matrix (mse), starting at offset 0.
 */
export function lossAndGrad(
  loss: LossName,
  Y: FArray,
  targets: Float64Array,
  dY: FArray,
  B: number,
  C: number,
): number {
  const f32 = Y instanceof Float32Array;
  return loss === 'cross_entropy' ? crossEntropy(Y, targets, dY, B, C, f32) : mse(Y, targets, dY, B, C, f32);
}

/**
 * Per row i, with m = max_c Y_ic and e_c = exp(Y_ic − m) (≤ 1: no overflow), S = Σ_c e_c:
 * −log softmax(Y_i)[t] = m + log S − Y_it, and softmax(Y_i)_c = e_c / S. Each e_c is taken once
 * (in a float64 row of its own) for both the sum and the gradient: one exp a logit, not two.
 */
function crossEntropy(Y: FArray, t: Float64Array, dY: FArray, B: number, C: number, f32: boolean): number {
  let total = 0,
    overflow = false;
  const invB = 1 / B,
    e = new Float64Array(C);
  for (let i = 0; i < B; i++) {
    const o = i * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) if (Y[o + c]! > max) max = Y[o + c]!;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const v = Math.exp(Y[o + c]! - max);
      e[c] = v;
      sum += v;
    }
    const target = t[i]!;
    total += max + Math.log(sum) - Y[o + target]!;
    if (f32 && total > F32_MAX) overflow = true;
    const inv = 1 / sum;
    for (let c = 0; c < C; c++) dY[o + c] = (e[c]! * inv - (c === target ? 1 : 0)) * invB;
  }
  return overflow ? Infinity : total * invB;
}

function mse(Y: FArray, T: Float64Array, dY: FArray, B: number, C: number, f32: boolean): number {
  const n = B * C;
  let total = 0,
    overflow = false;
  const scale = 2 / n;
  for (let j = 0; j < n; j++) {
    const d = Y[j]! - T[j]!;
    const sq = d * d;
    total += sq;
    if (f32 && total > F32_MAX) overflow = true; // total ≥ every square: it overflows first
    dY[j] = scale * d;
  }
  return overflow ? Infinity : total / n;
}
