/**
 * Gradient clipping over all weights and biases together, after the backward pass and before the
 * optimiser.
 *
 * - norm:  ‖g‖ = √(Σ g_i²) over every parameter; with PyTorch's clip_grad_norm_ coefficient
 *   k = c/(‖g‖ + 1e-6), g ← g·k where k < 1 (direction kept; ‖g‖ becomes c·‖g‖/(‖g‖ + 1e-6))
 * - value: g_i ← clamp(g_i, −c, c)
 */
import type { DenseKernels, FArray } from './kernels';
import type { ClipSpec } from './spec';
import { gradientSums } from './stats';

interface ClipResult {
  /** ‖g‖ before clipping. */
  gradNorm: number;
  /** ‖g‖ after clipping. */
  gradNormClipped: number;
  /** Whether clipping changed any gradient. */
  clipped: boolean;
}

/** Sum of squares of a gradient tensor (stats.gradientSums' order). */
export function sumSquares(g: FArray, n = g.length, kernels?: Pick<DenseKernels, 'gradientSums'>): number {
  if (!kernels?.gradientSums?.(g, n, out)) gradientSums(g, n, out);
  return out[1]!;
}

/** [Σ(g·c)²] at out[0] after g ← g·c (each product rounded once to g's dtype): DenseKernels.scaleGradient's reference. */
export function scaleGradient(g: FArray, n: number, c: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) g[i] = g[i]! * c;
  gradientSums(g, n, out);
  out[0] = out[1]!;
}

/**
 * g ← clamp(g, −c, c), compared in float64 (NaN stays); [Σg², how many were beyond ±c] of the new
 * g at `out`: DenseKernels.clampGradient's reference.
 */
export function clampGradient(g: FArray, n: number, c: number, out: Float64Array): void {
  let beyond = 0;
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    if (x > c) {
      g[i] = c;
      beyond++;
    } else if (x < -c) {
      g[i] = -c;
      beyond++;
    }
  }
  gradientSums(g, n, out);
  out[0] = out[1]!;
  out[1] = beyond;
}

const out = new Float64Array(2);

/**
 * Clips the gradient tensors in place (by `kernels` where they serve them). `sumSq` is Σ g_i² over
 * all of them (already known from the statistics pass). Returns the norms before and after.
 */
export function clipGradients(
  clip: ClipSpec | null,
  grads: readonly FArray[],
  sumSq: number,
  kernels?: Pick<DenseKernels, 'scaleGradient' | 'clampGradient'>,
): ClipResult {
  const gradNorm = Math.sqrt(sumSq);
  if (clip === null) return { gradNorm, gradNormClipped: gradNorm, clipped: false };
  const c = clip.max;
  if (clip.mode === 'norm') {
    const scale = c / (gradNorm + 1e-6); // torch.nn.utils.clip_grad_norm_'s coefficient
    if (!(scale < 1)) return { gradNorm, gradNormClipped: gradNorm, clipped: false };
    let after = 0;
    for (const g of grads) {
      if (!kernels?.scaleGradient?.(g, g.length, scale, out)) scaleGradient(g, g.length, scale, out);
      after += out[0]!;
    }
    return { gradNorm, gradNormClipped: Math.sqrt(after), clipped: true };
  }
  let beyond = 0;
  let after = 0;
  for (const g of grads) {
    if (!kernels?.clampGradient?.(g, g.length, c, out)) clampGradient(g, g.length, c, out);
    after += out[0]!;
    beyond += out[1]!;
  }
  return { gradNorm, gradNormClipped: beyond > 0 ? Math.sqrt(after) : gradNorm, clipped: beyond > 0 };
}
