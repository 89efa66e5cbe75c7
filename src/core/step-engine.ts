/**
 * The step engine: a training step's three passes, each returning its statistics merged over the
 * whole batch (the trainer reads nothing else of them).
 *
 *   forward(B)  Z_l = A_{l−1}·W_lᵀ + b_l, A_l = f_l(Z_l) for the batch's B rows (X in net.input);
 *               per layer: mean and population variance of Z_l and A_l, dead units, saturation;
 *               then the loss of the batch's targets, ∂L/∂Y into the output layer's dZ (losses.ts).
 *   backward(B) from ∂L/∂Y in the output layer's dZ: dZ_l = dA_l ⊙ f_l'(Z_l), ∂W_l = dZ_lᵀ·A_{l−1},
 *               ∂b_l = Σ_i dZ_l[i,·], dA_{l−1} = dZ_l·W_l; per layer: mean and variance of dZ_l.
 *   update(t)   optimiser step t on every W and b; per tensor [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] in the
 *               UPDATE_SUMS layout (θ before the step, g the gradient applied).
 *
 * Two implementations: OneThread (here) runs the passes on this thread; parallel.BatchSplit deals
 * each out over two threads and merges the statistics exactly (Chan's formula; dead = dead on
 * both). Both leave the same values in the network's arrays, so they can take turns step by step.
 * A pass returns null when `abort` answered true (the step is abandoned, its update not applied).
 */
import type { ParamState } from './kernels';
import { UPDATE_SUMS } from './kernels';
import type { ForwardStats, GradStats } from './layer-stats';
import type { Network } from './network';
import { Updater } from './optimizers';
import type { TrainingSpec } from './spec';
import type { BatchLoss } from './losses';
import { lossOfTerms, lossRows } from './losses';
import type { BatchRows } from './data';
import { mapPacked } from './packed';

/** Which step's batch, and where its rows are in the data set's order. */
export interface StepBatch extends BatchRows {
  step: number;
}

/**
 * The next step's batch, for the engine to copy into X during the update (X is free once the
 * backward pass is done): `copy(r0, r1)` copies rows [r0, r1) of it on this thread; a helper thread
 * copies the batch into its own input from the shared data set (parallel.ts).
 */
export interface NextBatch extends StepBatch {
  copy(r0: number, r1: number): void;
}

/** What a forward pass returns: each layer's statistics, and the batch's loss. */
export interface ForwardPass {
  readonly layers: readonly ForwardStats[];
  readonly loss: number;
}

export interface StepEngine {
  /** `batch`: the step's batch in X (for a helper thread that keeps its own copy). */
  forward(B: number, abort?: () => boolean, batch?: StepBatch): ForwardPass | null;
  backward(B: number, abort?: () => boolean): readonly GradStats[] | null;
  /**
   * `next`: the next step's batch, in X when this returns (copied while another thread updates,
   * where there is one). The returned array is reused.
   */
  update(t: number, next?: NextBatch): Float64Array;
}

/** The three passes on this thread. */
export class OneThread implements StepEngine {
  private readonly updater: Updater;

  constructor(
    private readonly net: Network,
    training: TrainingSpec,
    states: readonly { W: ParamState; b: ParamState }[],
    private readonly loss: BatchLoss,
  ) {
    const sums = new Float64Array(net.layers.length * UPDATE_SUMS.PER_LAYER);
    this.updater = new Updater(training, net.kernels, net.layers, states, sums);
  }

  forward(B: number, abort?: () => boolean): ForwardPass | null {
    const net = this.net,
      out = net.output,
      l = this.loss;
    const moments = net.forward(net.input, B, abort);
    if (!moments) return null;
    lossRows(l, out.A, out.dZ, B, out.units, 0, B);
    return {
      layers: mapPacked(moments, (m) => m.stats()),
      loss: lossOfTerms(l, B, out.units, net.dtype === 'float32'),
    };
  }

  backward(B: number, abort?: () => boolean): readonly GradStats[] | null {
    return this.net.backward(this.net.input, B, abort);
  }

  update(t: number, next?: NextBatch): Float64Array {
    this.updater.t = t;
    this.updater.all();
    next?.copy(0, next.rows);
    return this.updater.out;
  }
}
