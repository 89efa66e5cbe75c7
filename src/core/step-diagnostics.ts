/**
 * What a training step may measure besides its statistics, each every K steps, at the parameters
 * before its update (those its training loss was taken at) and, but for the held-out loss, on its
 * batch: the layers' histograms of Z, f(Z) and ∂L/∂Z (histogram.ts), λmax of the batch loss's
 * Hessian, warm-started from the last evaluation's Ritz vector (sharpness.ts), and the loss on the
 * held-out samples (held-out.ts); then their events, with the detectors' warnings on them.
 *
 * Where the run splits its steps, λmax is evaluated on the split's helper thread while training
 * goes on (split-sharpness.ts): step k's sharpness event then comes when the result is in, after
 * later steps' events (`settle`), and always before the next evaluation's, a non-finite warning
 * or the end of the run.
 */
import type { HistogramEvent, LayerwiseEvent, SharpnessEvent, ValidationEvent } from '../protocol/events';
import type { Detectors } from './detectors';
import type { RemoteSharpness, SharpnessResult } from './split-sharpness';
import type { HeldOutEvaluator } from './held-out';
import { HessianOperator, WarmStart } from './hessian-operator';
import { histogramEvent } from './histogram';
import { LanczosWork } from './lanczos';
import type { Network } from './network';
import { Rng } from './rng';
import { RUN_PRODUCTS, RUN_TOL, sharpnessEvent, sharpnessWarm } from './sharpness';
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
  /** The last λmax evaluation's Ritz vector: the next one starts from it (on this thread). */
  private readonly warm = new WarmStart();
  private work: LanczosWork | null = null;
  private readonly rng: Rng;
  /** The step whose λmax the helper is evaluating (−1: none). */
  private pendingStep = -1;

  /**
   * `targets`: the array the trainer fills with each step's batch targets; `remote`: the split's
   * helper, which evaluates λmax where given.
   */
  constructor(
    private readonly spec: ModelSpec,
    private readonly net: Network,
    private readonly targets: Float64Array,
    private readonly evaluator: HeldOutEvaluator | null,
    private readonly every: DiagnosticsEvery,
    private readonly lastStep: number,
    private readonly detectors: Detectors,
    private readonly out: (e: LayerwiseEvent) => void,
    private readonly remote: RemoteSharpness | null = null,
  ) {
    this.rng = new Rng(spec.seed, 'sharpness');
  }

  /**
   * Step k's measures that are due, on its batch of B rows, before its update. λmax on the helper
   * is only started here (the one before it settled first): its event comes with `settle`. Null
   * when `abort` answered true while the one before was waited for (the step is abandoned).
   */
  take(k: number, B: number, abort?: () => boolean): StepExtras | null {
    const { histograms: KH, sharpness: KS, validation: V } = this.every;
    const net = this.net;
    // the distributions of this step's Z, f(Z) and ∂L/∂Z (the update leaves them be)
    const hist = KH > 0 && k % KH === 0 ? histogramEvent(net.layers, k, B, net.kernels) : null;
    let sharp: SharpnessEvent | null = null;
    if (KS > 0 && k % KS === 0) {
      if (this.remote) {
        if (!this.settle(true, abort)) return null;
        this.remote.startSharpness(B, this.targets);
        this.pendingStep = k;
      } else sharp = this.sharpness(k, B);
    }
    const val = this.evaluator && (k % V === 0 || k === this.lastStep) ? this.evaluator.event(k, net.layers) : null;
    return { hist, sharp, val };
  }

  /** Emits step k's measures, each followed by the detectors' warnings on it (`loss`: the step's training loss). */
  emit(x: StepExtras, k: number, loss: number): void {
    const emit = this.out;
    if (x.hist) emit(x.hist);
    if (x.val) {
      emit(x.val);
      for (const w of this.detectors.validation(k, x.val.loss, loss)) emit(w);
    }
    if (x.sharp) this.emitSharpness(x.sharp);
  }

  /**
   * Emits the helper's λmax (its event and the detectors' warnings on it) once it is in: waiting
   * for it where `block` (until `abort` answers true), else only if it is in already. Returns
   * whether none is pending any more.
   */
  settle(block: boolean, abort?: () => boolean): boolean {
    if (this.pendingStep < 0 || !this.remote) return true;
    const r: SharpnessResult | null = this.remote.sharpnessResult(block, abort);
    if (!r) return false;
    const k = this.pendingStep;
    this.pendingStep = -1;
    this.emitSharpness(sharpnessEvent(k, r, this.spec.training));
    return true;
  }

  private emitSharpness(e: SharpnessEvent): void {
    this.out(e);
    const tr = this.spec.training;
    const momentum = tr.optimizer === 'momentum' ? tr.momentum : null;
    for (const w of this.detectors.sharpness(e.step, e.lambdaMax, e.threshold, momentum)) this.out(w);
  }

  /** λmax of the Hessian of this batch's loss at the current parameters (warm-started), on this thread. */
  private sharpness(k: number, B: number): SharpnessEvent {
    const op = new HessianOperator(this.net, this.targets, this.spec.loss, B, true);
    this.work ??= new LanczosWork(this.net.kernels.vectors?.() ?? undefined);
    const r = sharpnessWarm(op, this.warm, this.rng, RUN_PRODUCTS, RUN_TOL, this.work);
    return sharpnessEvent(k, r, this.spec.training);
  }
}
