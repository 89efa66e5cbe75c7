/**
 * Gradient clipping over all weights and biases together, after the backward pass and before the
 * optimiser.
 *
 * - norm:  ‖g‖ = √(Σ g_i²) over every parameter; with PyTorch's clip_grad_norm_ coefficient
 *   k = c/(‖g‖ + 1e-6), g ← g·k where k < 1 (direction kept; ‖g‖ becomes c·‖g‖/(‖g‖ + 1e-6))
 * - value: g_i ← clamp(g_i, −c, c)
 */
import type { FArray } from './kernels';
import type { ClipSpec } from './spec';

interface ClipResult {
  /** ‖g‖ before clipping. */
  gradNorm: number;
  /** ‖g‖ after clipping. */
  gradNormClipped: number;
  /** Whether clipping changed any gradient. */
  clipped: boolean;
}

/** Sum of squares of a gradient tensor. */
export function sumSquares(g: FArray, n = g.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += g[i]! * g[i]!;
  return s;
}

/**
 * Clips the gradient tensors in place. `sumSq` is Σ g_i² over all of them (already known from the
 * statistics pass). Returns the norms before and after.
 */
export function clipGradients(clip: ClipSpec | null, grads: readonly FArray[], sumSq: number): ClipResult {
  const gradNorm = Math.sqrt(sumSq);
  if (clip === null) return { gradNorm, gradNormClipped: gradNorm, clipped: false };
  const c = clip.max;
  if (clip.mode === 'norm') {
    const scale = c / (gradNorm + 1e-6); // torch.nn.utils.clip_grad_norm_'s coefficient
    if (!(scale < 1)) return { gradNorm, gradNormClipped: gradNorm, clipped: false };
    let after = 0;
    for (const g of grads) {
      for (let i = 0; i < g.length; i++) {
        g[i] = g[i]! * scale;
        after += g[i]! * g[i]!;
      }
    }
    return { gradNorm, gradNormClipped: Math.sqrt(after), clipped: true };
  }
  let changed = false;
  let after = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const x = g[i]!;
      if (x > c) {
        g[i] = c;
        changed = true;
      } else if (x < -c) {
        g[i] = -c;
        changed = true;
      }
      after += g[i]! * g[i]!;
    }
  }
  return { gradNorm, gradNormClipped: changed ? Math.sqrt(after) : gradNorm, clipped: changed };
}
