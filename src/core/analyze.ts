/**
 * `analyze`: the mean-field prediction of every layer's variances, the static warnings, and the
 * same variances measured on one forward/backward pass over the first batch (at most 64 samples).
 */
import type { AnalysisEvent, LayerwiseEvent } from '../protocol/events';
import { WarmStart } from './hessian-operator';
import { hessianOfBatch, sharpnessEvent, sharpnessWarm } from './sharpness';
import { LanczosWork } from './lanczos';
import { Rng } from './rng';
import { layerPriors, meanFieldAnalysis } from './mean-field';
import { inputSecondMoment, inputSumMoments } from './data';
import type { Thresholds } from './detectors';
import { DEFAULT_THRESHOLDS, Detectors } from './detectors';
import { analysisWarnings, initMismatchWarnings } from './warnings';
import { lossAndGrad } from './losses';
import type { ModelSpec } from './spec';
import { parameterCount } from './spec';
import { batchSizeOf, buildNetwork, datasetOf, initialParameters } from './model-setup';
import type { Network } from './network';

interface AnalyzeOptions {
  thresholds?: Partial<Thresholds>;
  /** Also run one forward/backward pass and report measured values (default true). */
  measure?: boolean;
}

/** q₀: inputStd² for synthetic data, the mean second moment of the inputs for a data file. */
function inputVarOf(spec: ModelSpec): number {
  return spec.data.source === 'synthetic'
    ? spec.data.inputStd * spec.data.inputStd
    : inputSecondMoment(spec.data.dataset);
}

/** Samples in the measured pass: the training batch, at most this many (analysis runs as you type). */
const MEASURE_SAMPLES = 64;

/**
 * λmax at init is reported where a Hessian-vector product costs at most this many parameter·rows
 * (about 12 multiply-adds each in float64 TS: ~60 ms a product at this budget, ~10 products);
 * bigger nets get it in runs (diagnostics.sharpnessEvery).
 */
const SHARPNESS_BUDGET = 1e7;

/**
 * The network of the last measured pass, kept for the next analysis of the same shapes: edits as
 * you type rarely change them, and a fresh arena costs more than the pass (its pages are faulted in
 * by the first pass over them: W2's analysis measured ~19 ms fresh). Up to KEEP_PARAMETERS.
 */
let kept: { key: string; net: Network } | null = null;
const KEEP_PARAMETERS = 1e6;

/** A network of the spec's shapes with its initial parameters (a kept one re-initialised). */
function measuredNetwork(spec: ModelSpec, B: number): Network {
  const key = JSON.stringify([
    spec.inputSize,
    spec.dtype,
    B,
    spec.training.optimizer,
    spec.layers.map((l) => [l.units, l.activation, l.alpha]),
  ]);
  if (kept?.key === key) {
    initialParameters(kept.net, spec);
    return kept.net;
  }
  const net = buildNetwork(spec, B);
  kept = parameterCount(spec.inputSize, spec.layers) <= KEEP_PARAMETERS ? { key, net } : null;
  return net;
}

export function analyze(spec: ModelSpec, opts: AnalyzeOptions = {}): LayerwiseEvent[] {
  const t = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const q0 = inputVarOf(spec);
  const priors = layerPriors(spec.layers, spec.inputSize, spec.weights);
  // the data's per-sample input sums matter only where the first layer's weights have a mean (a
  // second pass over a data file, as you type, otherwise for nothing)
  const inputSum =
    spec.data.source !== 'synthetic' && priors[0] !== undefined && priors[0].weightMean !== 0
      ? inputSumMoments(spec.data.dataset)
      : undefined;
  const layers = meanFieldAnalysis(priors, q0, inputSum);
  if (opts.measure !== false) {
    // the first batch (for synthetic data only that batch is drawn: analysis runs as you type)
    const B = Math.min(MEASURE_SAMPLES, batchSizeOf(spec));
    const ds = datasetOf(spec, undefined, B);
    const net = measuredNetwork(spec, B);
    const X = net.input;
    for (let i = 0; i < B * spec.inputSize; i++) X[i] = ds.x[i]!;
    const fwd = net.forward(X, B)!.map((m) => m.stats());
    const out = net.output;
    lossAndGrad(spec.loss, out.A, ds.y.subarray(0, B * ds.targetSize), out.dZ, B, out.units);
    const grad = net.backward(X, B)!;
    const gOut = grad[out.index]!.var;
    for (const l of net.layers) {
      const f = fwd[l.index]!;
      layers[l.index]!.measured = { preactVar: f.preactVar, actVar: f.actVar, gradVar: grad[l.index]!.var / gOut };
    }
  }
  const ev: AnalysisEvent = { type: 'analysis', inputVar: q0, layers };
  return [
    ev,
    ...initMismatchWarnings(spec.layers, spec.weights !== null, spec.inputSize),
    ...analysisWarnings(spec.layers, layers, q0, t),
  ];
}

/**
 * λmax of the Hessian at init, on the batch `analyze` measures (at most 64 samples), with the
 * sharpness warning when it exceeds the optimiser's threshold; nothing where a Hessian-vector
 * product would cost more than SHARPNESS_BUDGET. Apart from `analyze` so that a host can show
 * the analysis first (this takes ~3 steps' time a product, ~10 products).
 */
export function initialSharpness(spec: ModelSpec, thresholds: Partial<Thresholds> = {}): LayerwiseEvent[] {
  const B = Math.min(MEASURE_SAMPLES, batchSizeOf(spec));
  if (parameterCount(spec.inputSize, spec.layers) * B > SHARPNESS_BUDGET) return [];
  const ds = datasetOf(spec, undefined, B);
  const net = buildNetwork(spec, B, 'auto', true);
  net.input.set(ds.x.subarray(0, B * spec.inputSize));
  const tr = spec.training;
  const op = hessianOfBatch(net, ds.y.subarray(0, B * ds.targetSize), spec.loss, B, true);
  const r = sharpnessWarm(
    op,
    new WarmStart(),
    new Rng(spec.seed, 'sharpness'),
    40,
    1e-3,
    new LanczosWork(net.kernels.vectors?.() ?? undefined),
  );
  const sharp = sharpnessEvent(0, r, tr);
  const d = new Detectors(spec.layers, { ...DEFAULT_THRESHOLDS, ...thresholds }, tr.learningRate);
  return [sharp, ...d.sharpness(0, r.lambdaMax, sharp.threshold, tr.optimizer === 'momentum' ? tr.momentum : null)];
}
