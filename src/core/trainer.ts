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
import type { EndEvent, EndReason, LayerStepStats, LayerwiseEvent, StartEvent, StepEvent, WarningEvent } from '../protocol/events';
import { clipGradients } from './clip';
import { Batcher, syntheticDataset } from './data';
import type { DenseKernels, FArray } from './dense';
import { tsKernels } from './dense';
import type { Thresholds } from './detectors';
import { DEFAULT_THRESHOLDS, Detectors, initMismatchWarnings, warning } from './detectors';
import { lossAndGrad } from './losses';
import { makeArray, Network } from './network';
import type { ParamState } from './optimizers';
import { newParamState, update } from './optimizers';
import { Rng } from './rng';
import type { Dataset, ModelSpec } from './spec';
import { meanVar, normVar } from './stats';

export interface TrainerOptions {
  /** Overrides training.steps. */
  steps?: number;
  /** Emit every K-th step event (steps with step % K = 0). Default 1. */
  every?: number;
  /** Also emit the final step's event when `every` skips it. */
  emitLast?: boolean;
  thresholds?: Partial<Thresholds>;
  kernels?: DenseKernels;
  /** Milliseconds clock for end.elapsedMs (injected: the core uses no host API). */
  now?: () => number;
}

export type Emit = (e: LayerwiseEvent) => void;

/** The data set of a spec: the CSV's, or the synthetic one drawn from the seed. */
export function datasetOf(spec: ModelSpec): Dataset {
  if (spec.data.source === 'csv') return spec.data.dataset;
  const outputs = spec.layers[spec.layers.length - 1]!.units;
  return syntheticDataset(spec.data, spec.inputSize, outputs, new Rng(spec.seed, 'data'));
}

export function batchSizeOf(spec: ModelSpec, ds: Dataset): number {
  const b = spec.training.batchSize;
  return b === 'full' ? ds.samples : Math.min(b, ds.samples);
}

/** A network with its initial parameters: loaded ones, or drawn from the init schemes and seed. */
export function buildNetwork(spec: ModelSpec, maxBatch: number, kernels: DenseKernels = tsKernels): Network {
  const net = new Network(spec.layers, spec.inputSize, spec.dtype, maxBatch, kernels);
  if (spec.weights) net.load(spec.weights);
  else net.initialize(spec.layers, new Rng(spec.seed, 'init'));
  return net;
}

export function startEvent(spec: ModelSpec, net: Network, steps: number): StartEvent {
  return {
    type: 'start', model: spec.name, parameters: net.parameters, steps,
    layers: net.layers.map((l) => ({
      index: l.index, units: l.units, activation: l.act.name,
      init: spec.weights ? 'weights' : spec.layers[l.index]!.init.scheme,
      fanIn: l.fanIn, fanOut: l.units,
    })),
    clip: spec.training.clip,
  };
}

interface Failure {
  layer: number;
  where: string;
}

export class Trainer {
  readonly net: Network;
  readonly dataset: Dataset;
  readonly steps: number;
  private readonly batcher: Batcher;
  private readonly X: FArray;
  private readonly T: Float64Array;
  private readonly states: { W: ParamState; b: ParamState }[];
  private readonly detectors: Detectors;
  private readonly every: number;
  private readonly emitLast: boolean;
  private readonly now: () => number;
  private readonly grads: FArray[];
  private step = 0;
  private endReason: EndReason | null = null;
  private t0 = 0;

  constructor(readonly spec: ModelSpec, private readonly emit: Emit, opts: TrainerOptions = {}) {
    this.dataset = datasetOf(spec);
    const B = batchSizeOf(spec, this.dataset);
    this.net = buildNetwork(spec, B, opts.kernels);
    this.batcher = new Batcher(this.dataset, B, spec.training.shuffle, new Rng(spec.seed, 'shuffle'));
    this.X = makeArray(spec.dtype, B * spec.inputSize);
    this.T = new Float64Array(B * this.dataset.targetSize);
    const make = (n: number): FArray => makeArray(spec.dtype, n);
    this.states = this.net.layers.map((l) => ({
      W: newParamState(spec.training.optimizer, l.W.length, make),
      b: newParamState(spec.training.optimizer, l.b.length, make),
    }));
    this.grads = this.net.layers.flatMap((l) => [l.dW, l.db]);
    this.steps = opts.steps ?? spec.training.steps;
    this.every = Math.max(1, Math.floor(opts.every ?? 1));
    this.emitLast = opts.emitLast ?? false;
    this.detectors = new Detectors(spec.layers, { ...DEFAULT_THRESHOLDS, ...opts.thresholds });
    this.now = opts.now ?? (() => 0);
  }

  /** Emits `start` and the static warnings. */
  begin(): void {
    this.emit(startEvent(this.spec, this.net, this.steps));
    for (const w of this.detectors.once(initMismatchWarnings(this.spec.layers, this.spec.weights !== null))) this.emit(w);
    this.t0 = this.now();
  }

  get stepsDone(): number {
    return this.step;
  }

  get done(): boolean {
    return this.endReason !== null || this.step >= this.steps;
  }

  /** Runs one training step. Returns false once the run cannot go on (non-finite values). */
  runStep(): boolean {
    if (this.done) return false;
    const k = this.step;
    const spec = this.spec, net = this.net, out = net.output;
    const B = this.batcher.fill(k, this.X, this.T);
    net.forward(this.X, B);
    let fail: Failure | null = null;
    for (const l of net.layers) {
      const f = l.fwd;
      if (!Number.isFinite(f.preactMean + f.preactVar)) { fail = { layer: l.index, where: 'pre-activations (forward pass)' }; break; }
      if (!Number.isFinite(f.actMean + f.actVar)) { fail = { layer: l.index, where: 'activations (forward pass)' }; break; }
    }
    const loss = fail ? NaN : lossAndGrad(spec.loss, out.A, this.T, out.dZ, B, out.units);
    if (!fail && !Number.isFinite(loss)) fail = { layer: out.index, where: 'loss' };
    const wGrad: { norm: number; var: number; sumSq: number }[] = [];
    const bGrad: { norm: number; sumSq: number }[] = [];
    if (!fail) {
      net.backward(this.X, B);
      for (let i = net.layers.length - 1; i >= 0; i--) {
        const l = net.layers[i]!;
        const g = normVar(l.dW), gb = normVar(l.db);
        wGrad[i] = g;
        bGrad[i] = gb;
        if (!fail && !Number.isFinite(g.sumSq + gb.sumSq + l.gradVar)) fail = { layer: i, where: 'gradients (backward pass)' };
      }
    }
    if (fail) return this.fail(k, fail);

    const weight = net.layers.map((l) => {
      const mv = meanVar(l.W);
      return { ...mv, sumSq: l.W.length * (mv.var + mv.mean * mv.mean) };
    });
    let sumSq = 0;
    for (let i = 0; i < net.layers.length; i++) sumSq += wGrad[i]!.sumSq + bGrad[i]!.sumSq;
    const clip = clipGradients(spec.training.clip, this.grads, sumSq);
    const t = k + 1;
    let updateFail = -1;
    const updateRatio = net.layers.map((l, i) => {
      const dSq = update(spec.training, l.W, l.dW, this.states[i]!.W, t, l.W.length);
      const dbSq = update(spec.training, l.b, l.db, this.states[i]!.b, t, l.b.length);
      if (updateFail < 0 && !Number.isFinite(dSq + dbSq)) updateFail = i;
      return Math.sqrt(dSq) / Math.sqrt(weight[i]!.sumSq);
    });
    this.step = t;

    if (k % this.every === 0 || (this.emitLast && t === this.steps)) {
      const layers: LayerStepStats[] = net.layers.map((l, i) => ({
        index: i,
        preact: { mean: l.fwd.preactMean, var: l.fwd.preactVar },
        act: { mean: l.fwd.actMean, var: l.fwd.actVar },
        dead: l.fwd.dead,
        weight: { mean: weight[i]!.mean, var: weight[i]!.var },
        weightGrad: { norm: wGrad[i]!.norm, var: wGrad[i]!.var },
        biasGrad: { norm: bGrad[i]!.norm },
        updateRatio: updateRatio[i]!,
      }));
      const ev: StepEvent = {
        type: 'step', step: k, loss,
        gradNorm: clip.gradNorm, gradNormClipped: clip.gradNormClipped, clipped: clip.clipped, layers,
      };
      this.emit(ev);
    }
    const warnings = this.detectors.observe({
      step: k,
      q0: this.batchInputMoment(B),
      preactVar: net.layers.map((l) => l.fwd.preactVar),
      gradVar: net.layers.map((l) => l.gradVar),
      dead: net.layers.map((l) => l.fwd.dead),
      saturated: net.layers.map((l) => l.fwd.saturated),
      updateRatio,
      clipped: clip.clipped,
      clipActive: spec.training.clip !== null,
    });
    for (const w of warnings) this.emit(w);
    if (updateFail >= 0) return this.fail(k, { layer: updateFail, where: 'weights (the update overflowed)' }, t);
    return true;
  }

  /** Ends the run: emits `end` (and returns it). */
  finish(reason?: EndReason): EndEvent {
    const r = this.endReason ?? reason ?? (this.step >= this.steps ? 'completed' : 'stopped');
    this.endReason = r;
    const end: EndEvent = { type: 'end', steps: this.step, reason: r, elapsedMs: Math.max(0, this.now() - this.t0) };
    this.emit(end);
    return end;
  }

  /** Runs to the end, or until `shouldStop` answers true (checked before every step). */
  run(shouldStop: () => boolean = () => false): EndEvent {
    this.begin();
    while (!this.done) {
      if (shouldStop()) return this.finish('stopped');
      this.runStep();
    }
    return this.finish();
  }

  private batchInputMoment(B: number): number {
    const n = B * this.spec.inputSize;
    let s = 0;
    for (let i = 0; i < n; i++) s += this.X[i]! * this.X[i]!;
    return n > 0 ? s / n : 0;
  }

  private fail(k: number, f: Failure, stepsDone = k): false {
    const w: WarningEvent = warning('non_finite', 'error', f.layer, k,
      `Non-finite values (NaN or Inf) first appeared in layer ${f.layer}'s ${f.where} at step ${k}; the run stopped.`,
      `Lower training.learningRate (e.g. to ${this.spec.training.learningRate / 10}), add "clip": {"mode": "norm", "max": 1.0} to training, and check the init scale.`);
    this.emit(w);
    this.step = stepsDone;
    this.endReason = 'non_finite';
    return false;
  }
}

