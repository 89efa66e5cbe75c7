/**
 * What a training step may measure besides its statistics, each every K steps, at the parameters
 * before its update (those its training loss was taken at) and, but for the held-out loss, on its
 * batch: the layers' histograms of Z, f(Z) and ∂L/∂Z (histogram.ts), λmax of the batch loss's
 * Hessian, warm-started from the last evaluation's Ritz vector (sharpness.ts), and the loss on the
 * held-out samples (held-out.ts); then their events, with the detectors' warnings on them.
 */
import type { HistogramEvent, LayerwiseEvent, SharpnessEvent, ValidationEvent } from '../protocol/events';
import type { Detectors } from './detectors';
import type { HeldOutEvaluator } from './held-out';
import { HessianOperator, WarmStart } from './hessian-operator';
import { histogramEvent } from './histogram';
import { LanczosWork } from './lanczos';
import type { Network } from './network';
import { Rng } from './rng';
import { RUN_PRODUCTS, sharpnessEvent, sharpnessWarm } from './sharpness';
import type { ModelSpec } from './spec';

/** A step's measures besides its statistics (null: not due this step). */
interface StepExtras {
  hist: HistogramEvent | null;
  sharp: SharpnessEvent | null;
  val: ValidationEvent | null;
}

/** How often each measure is taken: every K steps (0: never); the held-out loss also at the last step. */
interface DiagnosticsEvery {
  histograms: number;
  sharpness: number;
  validation: number;
}

export class StepDiagnostics {
  /** The last λmax evaluation's Ritz vector: the next one starts from it. */
  private readonly warm = new WarmStart();
  private readonly work: LanczosWork;
  private readonly rng: Rng;

  /** `targets`: the array the trainer fills with each step's batch targets. */
  constructor(
    private readonly spec: ModelSpec,
    private readonly net: Network,
    private readonly targets: Float64Array,
    private readonly evaluator: HeldOutEvaluator | null,
    private readonly every: DiagnosticsEvery,
    private readonly lastStep: number,
  ) {
    this.rng = new Rng(spec.seed, 'sharpness');
    this.work = new LanczosWork(net.kernels.vectors?.() ?? undefined);
  }

  /** Step k's measures that are due, on its batch of B rows, before its update. */
  take(k: number, B: number): StepExtras {
    const { histograms: KH, sharpness: KS, validation: V } = this.every;
    const net = this.net;
    // the distributions of this step's Z, f(Z) and ∂L/∂Z (the update leaves them be)
    const hist = KH > 0 && k % KH === 0 ? histogramEvent(net.layers, k, B, net.kernels) : null;
    const sharp = KS > 0 && k % KS === 0 ? this.sharpness(k, B) : null;
    const val = this.evaluator && (k % V === 0 || k === this.lastStep) ? this.evaluator.event(k, net.layers) : null;
    return { hist, sharp, val };
  }

  /** Emits step k's measures, each followed by the detectors' warnings on it (`loss`: the step's training loss). */
  emit(x: StepExtras, k: number, loss: number, detectors: Detectors, emit: (e: LayerwiseEvent) => void): void {
    if (x.hist) emit(x.hist);
    if (x.val) {
      emit(x.val);
      for (const w of detectors.validation(k, x.val.loss, loss)) emit(w);
    }
    if (x.sharp) {
      emit(x.sharp);
      const tr = this.spec.training;
      const momentum = tr.optimizer === 'momentum' ? tr.momentum : null;
      for (const w of detectors.sharpness(k, x.sharp.lambdaMax, x.sharp.threshold, momentum)) emit(w);
    }
  }

  /** λmax of the Hessian of this batch's loss at the current parameters (warm-started). */
  private sharpness(k: number, B: number): SharpnessEvent {
    const op = new HessianOperator(this.net, this.targets, this.spec.loss, B, true);
    const r = sharpnessWarm(op, this.warm, this.rng, RUN_PRODUCTS, 1e-3, this.work);
    return sharpnessEvent(k, r, this.spec.training);
  }
}
