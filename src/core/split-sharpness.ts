/**
 * λmax on the batch split's helper thread. An evaluation costs ~10–20 Hessian-vector products
 * (sharpness.ts), each about half a training step's multiply-adds on W1's shapes: on the training
 * thread it would stop the run for as long. Where a run splits its steps, the main thread instead
 * hands step k's state to the helper (SHARPNESS, split-protocol.ts) as soon as its backward pass
 * is done: the helper copies what the Hessian at step k depends on — every W_l, the batch's X,
 * targets and each layer's Z_l, A_l and δ_l = ∂L/∂Z_l — into a network of its own, says so
 * (TAKEN), and runs Lanczos there while the main thread goes on alone (its steps are not split
 * until the result is in).
 * The helper then holds the run's warm start and its 'sharpness' random stream, so a run's λmax
 * are those the main thread would have computed, value for value: the same operator on copies of
 * the same arrays, in kernels of the same build.
 */
import type { DenseKernels } from './kernels';
import { HessianOperator, WarmStart } from './hessian-operator';
import { LanczosWork } from './lanczos';
import { Network } from './network';
import { Rng } from './rng';
import { RUN_PRODUCTS, RUN_TOL, sharpnessWarm } from './sharpness';
import type { HelperInit, SharpnessInit } from './split-protocol';

/** Where the sharpness buffer holds λmax, the products it took, and the step's targets. */
export const SHARPNESS_AT = { LAMBDA: 0, ITERATIONS: 1, TARGETS: 2 } as const;

/** The sharpness buffer of a run whose batches have up to `maxBatch` rows of `targetSize` targets. */
export function sharpnessBuffer(maxBatch: number, targetSize: number): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * (SHARPNESS_AT.TARGETS + maxBatch * targetSize));
}

/** An evaluation's result, as the main thread reads it back. */
export interface SharpnessResult {
  lambdaMax: number;
  iterations: number;
}

/** The main thread's side (parallel.BatchSplit): hands an evaluation over and takes its result. */
export interface RemoteSharpness {
  /** Whether an evaluation is under way (the helper serves nothing else until it is read). */
  readonly sharpnessPending: boolean;
  /**
   * Hands λmax of the batch loss over B rows at the network's present state to the helper, with
   * the batch's targets; the helper copies that state first (`sharpnessTaken`).
   */
  startSharpness(B: number, targets: Float64Array): void;
  /** Returns once the helper has copied the state an evaluation started from: W, X, Z, A and δ may change from then on. */
  sharpnessTaken(): void;
  /**
   * The evaluation's result once it is in (waiting for it where `block`, until `abort` answers
   * true); null where none is pending, or it is not in yet.
   */
  sharpnessResult(block: boolean, abort?: () => boolean): SharpnessResult | null;
}

/** The helper's side: its own network with the Hessian's work arrays, warm start, Lanczos work and random stream. */
export class HelperSharpness {
  private readonly net: Network;
  private readonly warm = new WarmStart();
  private readonly work: LanczosWork;
  private readonly rng: Rng;
  private readonly buffer: Float64Array;
  private readonly targets: Float64Array;

  /** `shared`: the helper's view of the main thread's network; `kernels`: fresh ones of the run's build. */
  constructor(
    init: HelperInit,
    private readonly sharp: SharpnessInit,
    private readonly shared: Network,
    kernels: DenseKernels,
  ) {
    this.net = new Network(init.layers, init.inputSize, init.dtype, init.maxBatch, kernels, null, true);
    this.work = new LanczosWork(this.net.kernels.vectors?.() ?? undefined);
    this.rng = new Rng(sharp.seed, 'sharpness');
    this.buffer = new Float64Array(sharp.buffer);
    this.targets = new Float64Array(init.maxBatch * sharp.targetSize);
  }

  /**
   * λmax of the batch loss over B rows at the state the main thread's network holds: copies it,
   * calls `taken` (the main thread may then change it), evaluates, and writes the result.
   */
  evaluate(B: number, taken: () => void): void {
    const src = this.shared,
      dst = this.net,
      n0 = src.inputSize;
    dst.input.set(src.batchInput.subarray(0, B * n0));
    src.layers.forEach((s, i) => {
      const d = dst.layers[i]!,
        n = B * s.units;
      d.W.set(s.W);
      d.Z.set(s.Z.subarray(0, n));
      if (d.A !== d.Z) d.A.set(s.A.subarray(0, n));
      d.dZ.set(s.dZ.subarray(0, n));
    });
    const T = B * this.sharp.targetSize;
    this.targets.set(this.buffer.subarray(SHARPNESS_AT.TARGETS, SHARPNESS_AT.TARGETS + T));
    taken();
    const op = new HessianOperator(dst, this.targets, this.sharp.loss, B, true);
    const r = sharpnessWarm(op, this.warm, this.rng, RUN_PRODUCTS, RUN_TOL, this.work);
    this.buffer[SHARPNESS_AT.LAMBDA] = r.lambdaMax;
    this.buffer[SHARPNESS_AT.ITERATIONS] = r.iterations;
  }
}
