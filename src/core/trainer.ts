/**
 * The training loop. One step k: take batch k, forward (with statistics), loss and ∂L/∂Y,
 * backward, gradient statistics, clipping over all parameters, optimiser update. The step-k event
 * describes the forward/backward of step k with the parameters as they were before its update;
 * only `updateRatio` looks at the update itself.
 *
 * Non-finite values end the run: the first layer and phase (forward: pre-activations, activations;
 * loss; backward: gradients from the output layer down) where NaN/Inf appeared is reported in a
 * `non_finite` error warning and the run ends with reason `non_finite`.
 */
import type { EndEvent, EndReason, LayerwiseEvent } from '../protocol/events';
import { parameterStats, startEvent, stepEvent } from './run-events';
import { StepDiagnostics } from './step-diagnostics';
import type { EngineOptions } from './model-setup';
import { batchSizeOf, datasetOf, kernelsOf, trainingEngines } from './model-setup';
import { HeldOutEvaluator, splitHeldOut } from './held-out';
import { clipGradients, sumSquares } from './clip';
import { Batcher } from './data';
import type { FArray } from './kernels';
import { UPDATE_SUMS } from './kernels';
import type { Thresholds } from './detectors';
import { DEFAULT_THRESHOLDS, Detectors } from './detectors';
import { initMismatchWarnings, nonFiniteWarning } from './warnings';
import type { Network } from './network';
import type { SplitPolicy } from './split-governor';
import type { BatchSplit } from './parallel';
import type { OneThread, StepBatch, StepEngine } from './step-engine';
import type { GradStats } from './layer-stats';
import { Rng } from './rng';
import type { Dataset, ModelSpec } from './spec';
import { allFinite, normVar } from './stats';
import { mapPacked } from './packed';

interface TrainerOptions extends EngineOptions {
  /** Overrides training.steps. */
  steps?: number;
  /** Emit every K-th step event (steps with step % K = 0). Default 1. */
  every?: number;
  /** Also emit the final step's event when `every` skips it. */
  emitLast?: boolean;
  thresholds?: Partial<Thresholds>;
  /**
   * false: train only (the benchmark's baseline) — no weight/gradient statistics, detectors or
   * step events; clipping still computes the gradient norm it needs.
   */
  stats?: boolean;
  /** Asked while the data is generated: true ends it (data.Stopped is thrown). */
  shouldStop?: () => boolean;
  /** Overrides diagnostics.histogramsEvery: histogram events every K steps; 0 none. */
  histogramsEvery?: number;
  /** Overrides diagnostics.sharpnessEvery: λmax of the Hessian every K steps; 0 none. */
  sharpnessEvery?: number;
}

type Emit = (e: LayerwiseEvent) => void;

interface Failure {
  layer: number;
  where: string;
}

export class Trainer {
  readonly net: Network;
  /** The samples trained on (the data set less the held-out ones). */
  readonly dataset: Dataset;
  /** The held-out samples (data.validation), never trained on; null when none. */
  readonly heldOut: Dataset | null;
  /** Histograms, λmax and the held-out loss, on the steps they are due. */
  private readonly diagnostics: StepDiagnostics;
  readonly steps: number;
  private readonly batcher: Batcher;
  private readonly X: FArray;
  private readonly T: Float64Array;
  private readonly detectors: Detectors;
  private readonly every: number;
  private readonly emitLast: boolean;
  private readonly stats: boolean;
  private readonly now: () => number;
  private readonly cpuNow: (() => number) | undefined;
  private readonly grads: FArray[];
  /** The passes on this thread, and (where a helper is given and the net is big enough) over two. */
  private readonly oneThread: OneThread;
  private readonly split: BatchSplit | null;
  /** Whether each step is split, when the split is adaptive. */
  private readonly governor: SplitPolicy | null;
  /** The engine of the step in progress. */
  private engine: StepEngine;
  private abort: (() => boolean) | undefined;
  private step = 0;
  /** The step whose batch is in X (copied as it starts, or by the split during the update before it), and where its rows are. */
  private filled: StepBatch = { step: -1, start: 0, rows: 0 };
  /** The step whose targets are in T (and q₀ in filledQ0): filled, or the next one while the split copies it. */
  private prepared: StepBatch = this.filled;
  private filledQ0 = 0;
  private endReason: EndReason | null = null;
  private t0 = 0;
  /** Whether the step in progress computed histograms, λmax or the held-out loss too. */
  private extraWork = false;
  /** Steps whose gradients clipping changed (every step, reported or not). */
  private clippedSteps = 0;

  constructor(
    readonly spec: ModelSpec,
    private readonly emit: Emit,
    opts: TrainerOptions = {},
  ) {
    const parts = splitHeldOut(
      datasetOf(spec, opts.shouldStop),
      spec.diagnostics?.validation ?? 0,
      new Rng(spec.seed, 'validation'),
    );
    this.dataset = parts.train;
    this.heldOut = parts.heldOut;
    const k = opts.kernels;
    // its own kernels (and arena): given ones with an arena serve the training network only
    const evaluator = parts.heldOut
      ? new HeldOutEvaluator(parts.heldOut, spec, () => kernelsOf(typeof k === 'object' && k.createArena ? 'auto' : k))
      : null;
    const B = Math.min(batchSizeOf(spec), this.dataset.samples);
    const sharpnessEvery = Math.max(0, Math.floor(opts.sharpnessEvery ?? spec.diagnostics?.sharpnessEvery ?? 0));
    this.batcher = new Batcher(this.dataset, B, spec.training.shuffle, new Rng(spec.seed, 'shuffle'));
    // the step's targets, and a term of the loss a row: on shared memory, where a helper thread
    // computes its rows' (parallel.ts)
    const shared = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(8 * n));
    this.T = shared(B * this.dataset.targetSize);
    const engines = trainingEngines(
      spec,
      B,
      sharpnessEvery > 0 ? { targetSize: this.dataset.targetSize } : null,
      opts,
      { name: spec.loss, targets: this.T, terms: shared(B) },
      opts.spawnHelper && spec.dtype !== 'float64' ? this.batcher.shared() : null,
    );
    const net = (this.net = engines.net);
    this.oneThread = this.engine = engines.oneThread;
    this.split = engines.split;
    this.governor = engines.governor;
    this.X = this.net.input;
    this.grads = this.net.layers.flatMap((l) => [l.dW, l.db]);
    this.steps = opts.steps ?? spec.training.steps;
    this.every = Math.max(1, Math.floor(opts.every ?? 1));
    this.detectors = new Detectors(
      spec.layers,
      { ...DEFAULT_THRESHOLDS, ...opts.thresholds },
      spec.training.learningRate,
    );
    this.diagnostics = new StepDiagnostics(
      spec,
      net,
      this.T,
      evaluator,
      {
        histograms: Math.max(0, Math.floor(opts.histogramsEvery ?? spec.diagnostics?.histogramsEvery ?? 10)),
        sharpness: sharpnessEvery,
        validation: Math.max(1, Math.floor(spec.diagnostics?.validationEvery ?? 50)),
      },
      this.steps - 1,
      this.detectors,
      this.emit,
      sharpnessEvery > 0 ? this.split : null,
    );
    this.emitLast = opts.emitLast ?? false;
    this.stats = opts.stats ?? true;
    this.now = opts.now ?? (() => 0);
    this.cpuNow = opts.cpuNow;
  }

  /** Whether steps are split over two threads. */
  get threads(): number {
    return this.split ? 2 : 1;
  }

  /** Emits `start` and the static warnings. */
  begin(): void {
    this.emit({
      ...startEvent(this.spec, this.net, this.steps),
      threads: this.threads,
      kernels: this.net.kernels.name,
    });
    for (const w of this.detectors.once(
      initMismatchWarnings(this.spec.layers, this.spec.weights !== null, this.spec.inputSize),
    ))
      this.emit(w);
    this.t0 = this.now();
  }

  /** Updates applied so far (what `end.steps` will say). */
  get stepsDone(): number {
    return this.step;
  }

  /** Time in the training loop so far, ms (what `end.elapsedMs` will say; 0 before `begin`). */
  get elapsedMs(): number {
    return this.t0 > 0 ? Math.max(0, this.now() - this.t0) : 0;
  }

  get done(): boolean {
    return this.endReason !== null || this.step >= this.steps;
  }

  /** Runs one training step. Returns false once the run cannot go on (non-finite values). */
  runStep(): boolean {
    if (this.done) return false;
    // λmax from the helper, if it is in
    this.diagnostics.settle(false);
    const g = this.governor;
    // (no split while the helper evaluates λmax: this thread trains alone meanwhile)
    const free = this.split !== null && !this.split.sharpnessPending;
    this.engine = free && (!g || g.next()) ? this.split! : this.oneThread;
    if (!g || !free) return this.oneStep();
    // (the process's CPU time only where the policy asks for it: a read is costly beside the helper)
    const cpuNow = this.cpuNow && (g.wantsCpu?.() ?? true) ? this.cpuNow : undefined;
    const c0 = cpuNow?.() ?? 0,
      t0 = this.now();
    this.extraWork = false;
    const ok = this.oneStep();
    // a step that also took histograms, λmax or the held-out loss says nothing of the split
    if (this.extraWork) g.record(null);
    else g.record(this.now() - t0, cpuNow ? cpuNow() - c0 : undefined);
    return ok;
  }

  /** Step k: forward, loss, backward, clip and update, on the engine chosen for this step. */
  private oneStep(): boolean {
    const k = this.step;
    const spec = this.spec,
      net = this.net,
      out = net.output;
    if (k === 0) {
      // parameters that are not finite before any update: the init overflowed the dtype
      const bad = net.layers.findIndex((l) => !allFinite(l.W) || !allFinite(l.b));
      if (bad >= 0) return this.fail(0, { layer: bad, where: 'initial weights (before any update)' });
    }
    if (this.filled.step !== k) this.fillBatch(k);
    const B = this.filled.rows,
      q0 = this.filledQ0;
    // a batch of fewer than 8 rows is not worth a second thread
    const engine = B >= 8 ? this.engine : this.oneThread;
    this.engine = engine;
    const fwd = engine.forward(B, this.abort, this.filled);
    if (!fwd) return this.abandon();
    let fail: Failure | null = null;
    for (let i = 0; i < fwd.layers.length && !fail; i++) {
      const f = fwd.layers[i]!;
      if (!Number.isFinite(f.preactMean + f.preactVar)) fail = { layer: i, where: 'pre-activations (forward pass)' };
      else if (!Number.isFinite(f.actMean + f.actVar)) fail = { layer: i, where: 'activations (forward pass)' };
    }
    const loss = fail ? NaN : fwd.loss;
    if (!fail && !Number.isFinite(loss)) fail = { layer: out.index, where: 'loss' };
    let grads: readonly GradStats[] = [];
    if (!fail) {
      const g = engine.backward(B, this.abort);
      if (!g) return this.abandon();
      grads = g;
      if (!this.stats) return this.trainOnly(k);
      for (let i = grads.length - 1; i >= 0 && !fail; i--) {
        if (!Number.isFinite(grads[i]!.var)) fail = { layer: i, where: 'gradients (backward pass)' };
      }
    }
    if (fail) return this.fail(k, fail);
    // histograms, λmax and the held-out loss where due, at the parameters before the update
    const extras = this.diagnostics.take(k, B, this.abort);
    if (!extras) return this.abandon();
    this.extraWork ||= extras.hist !== null || extras.sharp !== null || extras.val !== null;
    // the helper took λmax over: the update on this thread alone
    if (this.split?.sharpnessPending) {
      this.engine = this.oneThread;
      this.extraWork = true;
    }

    // Gradient statistics before clipping: their own pass only when clipping needs the norm first;
    // otherwise they, and the weights' statistics, come from the optimiser's pass.
    const L = net.layers.length;
    const clipSpec = spec.training.clip;
    const kernels = net.kernels;
    const bGrad = mapPacked(net.layers, (l) => normVar(l.db, l.db.length, kernels));
    const wGrad = clipSpec ? mapPacked(net.layers, (l) => normVar(l.dW, l.dW.length, kernels)) : null;
    let sumSq = 0;
    if (wGrad) for (let i = 0; i < L; i++) sumSq += wGrad[i]!.sumSq + bGrad[i]!.sumSq;
    const clip = clipGradients(clipSpec, this.grads, sumSq, kernels);
    const t = k + 1;
    // (the helper copies W for λmax meanwhile: the update waits for that)
    this.split?.sharpnessTaken();
    const params = parameterStats(net.layers, this.updateParameters(t), wGrad);
    if (!wGrad) {
      for (let i = 0; i < L; i++) sumSq += params.weightGrad[i]!.sumSq + bGrad[i]!.sumSq;
      clip.gradNorm = clip.gradNormClipped = Math.sqrt(sumSq);
    }
    const bad = params.notFinite;
    if (bad >= 0) {
      const where = Number.isFinite(params.weightGrad[bad]!.sumSq)
        ? 'weights (the update overflowed)'
        : 'gradients (backward pass)';
      // what the step measured before its update is kept (λmax may say why the update blew up)
      this.diagnostics.emit(extras, k, loss);
      return this.fail(k, { layer: bad, where }, t);
    }
    this.step = t;
    if (clip.clipped) this.clippedSteps++;

    if (k % this.every === 0 || (this.emitLast && t === this.steps))
      this.emit(
        stepEvent(k, { loss, inputVar: q0, clip, fwd: fwd.layers, grads, params, biasGrad: bGrad, samples: B }),
      );
    this.diagnostics.emit(extras, k, loss);
    const warnings = this.detectors.observe({
      step: k,
      q0,
      preactVar: mapPacked(fwd.layers, (f) => f.preactVar),
      gradVar: mapPacked(grads, (g) => g.var),
      dead: mapPacked(fwd.layers, (f) => f.dead),
      saturated: mapPacked(fwd.layers, (f) => f.saturated),
      updateRatio: params.updateRatio,
      clipped: clip.clipped,
      clipActive: spec.training.clip !== null,
      loss,
      samples: B,
    });
    for (const w of warnings) this.emit(w);
    return true;
  }

  /** Copies step k's batch into X and T. */
  private fillBatch(k: number): void {
    if (this.prepared.step !== k) this.prepare(k);
    const at = this.prepared;
    this.batcher.copyRows(at, 0, at.rows, this.X, this.net.kernels);
    this.filled = at;
  }

  /** Step k's targets into T, its q₀, and where its rows are (X is copied apart: fillBatch, or the split's update). */
  private prepare(k: number): void {
    const at = this.batcher.prepare(k, this.T, this.X instanceof Float32Array);
    this.filledQ0 = this.batcher.secondMoment;
    this.prepared = { ...at, step: k };
  }

  /**
   * Optimiser step t on this step's engine. The split copies the next batch into X meanwhile (X and
   * T are free once the backward pass is done), the helper into its own input; on one thread the
   * next step copies it, just before it reads it.
   */
  private updateParameters(t: number): Float64Array {
    if (t >= this.steps || this.engine !== this.split) return this.engine.update(t);
    this.prepare(t);
    const at = this.prepared;
    const out = this.engine.update(t, {
      ...at,
      copy: (r0, r1) => this.batcher.copyRows(at, r0, r1, this.X, this.net.kernels),
    });
    this.filled = at;
    return out;
  }

  /** The rest of a step without statistics: clip (norm from one pass if needed) and update. */
  private trainOnly(k: number): boolean {
    const spec = this.spec,
      t = k + 1;
    if (spec.training.clip) {
      const kernels = this.net.kernels;
      clipGradients(
        spec.training.clip,
        this.grads,
        this.grads.reduce((s, g) => s + sumSquares(g, g.length, kernels), 0),
        kernels,
      );
    }
    let bad = -1;
    const sums = this.updateParameters(t);
    this.net.layers.forEach((_, i) => {
      const S = UPDATE_SUMS;
      if (bad < 0 && !Number.isFinite(sums[S.at(i, 0) + S.DELTA_SQ]! + sums[S.at(i, 1) + S.DELTA_SQ]!)) bad = i;
    });
    this.step = t;
    return bad >= 0 ? this.fail(k, { layer: bad, where: 'weights (the update overflowed)' }, t) : true;
  }

  /** Ends the run: emits `end` (and returns it). */
  finish(reason?: EndReason): EndEvent {
    const r = this.endReason ?? reason ?? (this.step >= this.steps ? 'completed' : 'stopped');
    this.endReason = r;
    // λmax still on the helper: waited for, but by a stopped run (then only if it is in)
    this.diagnostics.settle(r !== 'stopped');
    this.close();
    const end: EndEvent = { type: 'end', steps: this.step, reason: r, elapsedMs: Math.max(0, this.now() - this.t0) };
    if (this.spec.training.clip) end.clippedSteps = this.clippedSteps;
    if (this.governor) end.splitSteps = this.governor.splitSteps;
    this.emit(end);
    return end;
  }

  /**
   * Runs to the end, or until `shouldStop` answers true: asked before every step and after every
   * layer's forward and backward pass, so a stop on a wide net does not wait for a whole step
   * (the step in progress is abandoned: its update is not applied).
   */
  run(shouldStop: () => boolean = () => false): EndEvent {
    this.abort = shouldStop;
    this.begin();
    while (!this.done) {
      if (shouldStop()) return this.finish('stopped');
      this.runStep();
    }
    return this.finish();
  }

  /** Ends the helper thread, if any (finish does it; for callers that stop stepping without finishing). */
  close(): void {
    this.split?.close();
  }

  private abandon(): false {
    this.endReason = 'stopped';
    return false;
  }

  private fail(k: number, f: Failure, stepsDone = k): false {
    // an earlier step's λmax first (it may say why the values blew up)
    this.diagnostics.settle(true);
    const w = nonFiniteWarning(
      k,
      f.layer,
      f.where,
      this.spec.dtype,
      this.detectors.rate() ?? this.spec.training.learningRate / 10,
    );
    this.emit(w);
    this.step = stepsDone;
    this.endReason = 'non_finite';
    return false;
  }
}
