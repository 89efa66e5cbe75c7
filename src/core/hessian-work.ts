/**
 * The arrays a Hessian-vector product works in (core/hessian-operator.ts), laid out in the network's arena
 * after its own arrays (network.ts), so that the kernels serve the products as they serve a step:
 * the vector v and the product H·v in θ's order (per layer W [units×fanIn], then b), and per layer
 * R{Z_l}, R{A_l}, R{∂L/∂A_l}, f'(Z_l) and, where f'' is not 0 (not relu, leaky_relu or linear),
 * ∂L/∂A_l ⊙ f''(Z_l); scratch for a weight matrix, for a layer's rows and for a bias; the
 * first layer's inputs in an orthonormal basis of their rows' span (hessian-operator.ts), and the inputs
 * of the batch the last Ritz vector came from.
 */
import type { ActivationName } from '../protocol/events';
import type { FArray } from './kernels';
import type { LayerSpec } from './spec';

export interface HessianLayerWork {
  /** R{Z_l}, [maxBatch × units]. */
  rZ: FArray;
  /** R{A_l} = f'(Z_l) ⊙ R{Z_l}. */
  rA: FArray;
  /** R{∂L/∂A_l}, turned into R{δ_l} in place. */
  rG: FArray;
  /** f'(Z_l) of the batch. */
  d1: FArray;
  /** ∂L/∂A_l ⊙ f''(Z_l); null where f'' = 0. */
  c2: FArray | null;
}

export interface HessianWork {
  v: FArray;
  hv: FArray;
  /** Scratch of the largest weight matrix, of the largest layer's rows (or its input's), of a bias. */
  tmpW: FArray;
  tmpRows: FArray;
  db: FArray;
  /** Zeros, the bias of R{A_{l−1}}·W_lᵀ (and of V₁·Xᵀ: as long as the largest layer or the batch). */
  zeroBias: FArray;
  /** The batch's inputs in an orthonormal basis of their span, [maxBatch × min(maxBatch, inputSize)]. */
  basis: FArray;
  /** The inputs of the last evaluation's batch, [maxBatch × inputSize]. */
  lastInput: FArray;
  layers: HessianLayerWork[];
}

/** Whether f'' is 0 wherever f' is defined (so ∂L/∂A ⊙ f'' drops out of R{δ}). */
function flatDerivative(name: ActivationName): boolean {
  return name === 'relu' || name === 'leaky_relu' || name === 'linear';
}

/** Allocates the work arrays of a network of these layers, in the one order of its arena. */
export function hessianWork(
  specs: readonly LayerSpec[],
  inputSize: number,
  maxBatch: number,
  alloc: (n: number) => FArray,
): HessianWork {
  let size = 0,
    maxW = 0,
    maxRows = 0,
    maxU = 0,
    fanIn = inputSize;
  for (const s of specs) {
    size += s.units * (fanIn + 1);
    maxW = Math.max(maxW, s.units * fanIn);
    maxRows = Math.max(maxRows, maxBatch * Math.max(s.units, fanIn));
    maxU = Math.max(maxU, s.units);
    fanIn = s.units;
  }
  return {
    v: alloc(size),
    hv: alloc(size),
    tmpW: alloc(maxW),
    tmpRows: alloc(maxRows),
    db: alloc(maxU),
    zeroBias: alloc(Math.max(maxU, maxBatch)),
    basis: alloc(maxBatch * Math.min(maxBatch, inputSize)),
    // (whatever the sizes: an epoch's short last batch can use the span where a whole one cannot)
    lastInput: alloc(maxBatch * inputSize),
    layers: specs.map((s) => ({
      rZ: alloc(maxBatch * s.units),
      rA: alloc(maxBatch * s.units),
      rG: alloc(maxBatch * s.units),
      d1: alloc(maxBatch * s.units),
      c2: flatDerivative(s.activation) ? null : alloc(maxBatch * s.units),
    })),
  };
}
