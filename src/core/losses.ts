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

function crossEntropy(Y: FArray, t: Float64Array, dY: FArray, B: number, C: number, f32: boolean): number {
  let total = 0,
    overflow = false;
  const invB = 1 / B;
  for (let i = 0; i < B; i++) {
    const o = i * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) if (Y[o + c]! > max) max = Y[o + c]!;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(Y[o + c]! - max);
    const lse = max + Math.log(sum);
    const target = t[i]!;
    total += lse - Y[o + target]!;
    if (f32 && total > F32_MAX) overflow = true;
    for (let c = 0; c < C; c++) {
      const p = Math.exp(Y[o + c]! - lse);
      dY[o + c] = (p - (c === target ? 1 : 0)) * invB;
    }
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
