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
 * A run's loss as the engines compute it: its name, the step's targets (class indices, or B×C
 * values), filled before each forward pass, and a float64 a row for the rows' terms of its sum
 * (lossRows). On shared memory where a helper thread computes its rows' (parallel.ts).
 */
export interface BatchLoss {
  readonly name: LossName;
  readonly targets: Float64Array;
  readonly terms: Float64Array;
}

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
  const l: BatchLoss = { name: loss, targets, terms: new Float64Array(B) };
  lossRows(l, Y, dY, B, C, 0, B);
  return lossOfTerms(l, B, C, Y instanceof Float32Array);
}

/**
 * Rows [r0, r1) of lossAndGrad over a batch of B rows: ∂L/∂Y of those rows into dY, and each
 * row's term of the loss's sum into l.terms[i] (cross_entropy: −log softmax(Y_i)[t_i]; mse:
 * Σ_c (Y_ic − T_ic)², summed over c in order). Rows are independent: the threads of a batch
 * split each take their rows' (parallel.ts), and lossOfTerms adds them up as one thread does.
 */
export function lossRows(l: BatchLoss, Y: FArray, dY: FArray, B: number, C: number, r0: number, r1: number): void {
  if (l.name === 'cross_entropy') crossEntropyRows(l, Y, dY, B, C, r0, r1);
  else mseRows(l, Y, dY, B, C, r0, r1);
}

/**
 * The loss from the terms of all B rows (lossRows), summed in row order: ×1/B (cross_entropy) or
 * ×1/(B·C) (mse). For float32 networks (`f32`) ∞ once the running sum passes the float32 maximum
 * (every term is ≥ 0, so it does where a float32 sum would).
 */
export function lossOfTerms(l: BatchLoss, B: number, C: number, f32: boolean): number {
  const terms = l.terms;
  let total = 0,
    overflow = false;
  for (let i = 0; i < B; i++) {
    total += terms[i]!;
    if (f32 && total > F32_MAX) overflow = true;
  }
  if (overflow) return Infinity;
  return l.name === 'cross_entropy' ? total * (1 / B) : total / (B * C);
}

/**
 * Per row i, with m = max_c Y_ic and e_c = exp(Y_ic − m) (≤ 1: no overflow), S = Σ_c e_c:
 * −log softmax(Y_i)[t] = m + log S − Y_it, and softmax(Y_i)_c = e_c / S. Each e_c is taken once
 * (in a float64 row of its own) for both the sum and the gradient: one exp a logit, not two.
 */
function crossEntropyRows(l: BatchLoss, Y: FArray, dY: FArray, B: number, C: number, r0: number, r1: number): void {
  const t = l.targets,
    terms = l.terms,
    invB = 1 / B,
    e = new Float64Array(C);
  for (let i = r0; i < r1; i++) {
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
    terms[i] = max + Math.log(sum) - Y[o + target]!;
    const inv = 1 / sum;
    for (let c = 0; c < C; c++) dY[o + c] = (e[c]! * inv - (c === target ? 1 : 0)) * invB;
  }
}

/** Per row i: Σ_c (Y_ic − T_ic)², and ∂L/∂Y_ic = 2(Y_ic − T_ic)/(B·C). */
function mseRows(l: BatchLoss, Y: FArray, dY: FArray, B: number, C: number, r0: number, r1: number): void {
  const T = l.targets,
    terms = l.terms,
    scale = 2 / (B * C);
  for (let i = r0; i < r1; i++) {
    let sq = 0;
    for (let j = i * C; j < (i + 1) * C; j++) {
      const d = Y[j]! - T[j]!;
      sq += d * d;
      dY[j] = scale * d;
    }
    terms[i] = sq;
  }
}
