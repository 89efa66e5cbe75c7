/**
 * The validated, typed form of a model description file. Produced by src/modelfile from the
 * user's `*.mlp.json` (with positions for errors); consumed by the core. Data and loaded weights
 * arrive here already as arrays: the core never reads files.
 */
import type { ActivationName } from '../protocol/events';

export type InitScheme =
  | 'xavier_uniform'
  | 'xavier_normal'
  | 'he_normal'
  | 'he_uniform'
  | 'lecun_normal'
  | 'lecun_uniform'
  | 'orthogonal'
  | 'pytorch'
  | 'zeros'
  | 'ones'
  | 'constant'
  | 'normal'
  | 'trunc_normal'
  | 'uniform';

export const INIT_SCHEMES: readonly InitScheme[] = [
  'xavier_uniform',
  'xavier_normal',
  'he_normal',
  'he_uniform',
  'lecun_normal',
  'lecun_uniform',
  'orthogonal',
  'pytorch',
  'zeros',
  'ones',
  'constant',
  'normal',
  'trunc_normal',
  'uniform',
];

export type FanMode = 'fan_in' | 'fan_out';

export interface InitSpec {
  scheme: InitScheme;
  /** For he_* and lecun_*: which fan scales the variance. Default fan_in. */
  mode: FanMode;
  /** Explicit gain; when absent the scheme's default (see init.ts). */
  gain?: number;
  /** normal and trunc_normal: mean and std (defaults 0, 1). */
  mean?: number;
  std?: number;
  /** trunc_normal: the cut-offs, as values of W, not in units of std (defaults −2, 2). */
  a?: number;
  b?: number;
  /** uniform: U(low, high) (defaults 0, 1). */
  low?: number;
  high?: number;
  /** constant: the value. */
  value?: number;
}

export interface LayerSpec {
  units: number;
  activation: ActivationName;
  /** α of leaky_relu / elu (defaults 0.01 / 1). */
  alpha: number;
  init: InitSpec;
  /** Constant initial bias. */
  bias: number;
  /**
   * The bias is drawn from U(±1/√fan_in) instead, as nn.Linear's default (the pytorch scheme, in a
   * layer that sets no "bias").
   */
  randomBias?: boolean;
  /** The model file sets "bias" (a constant the pytorch scheme keeps, 0 included). */
  biasSet?: boolean;
}

/** Weights and biases of a stack of layers on `inputSize` inputs: Σ (units·fanIn + units). */
export function parameterCount(inputSize: number, layers: readonly { units: number }[]): number {
  let p = 0,
    fanIn = inputSize;
  for (const l of layers) {
    p += l.units * fanIn + l.units;
    fanIn = l.units;
  }
  return p;
}

export type LossName = 'cross_entropy' | 'mse';
export type OptimizerName = 'sgd' | 'momentum' | 'adam';
export type ClipMode = 'norm' | 'value';
export type DType = 'float32' | 'float64';

export interface ClipSpec {
  mode: ClipMode;
  max: number;
}

export interface TrainingSpec {
  optimizer: OptimizerName;
  learningRate: number;
  /** μ of the momentum optimiser (default 0.9). */
  momentum: number;
  /** Adam's β₁, β₂, ε (defaults 0.9, 0.999, 1e-8). */
  beta1: number;
  beta2: number;
  eps: number;
  /** Samples per batch; 'full' means the whole data set. */
  batchSize: number | 'full';
  shuffle: boolean;
  steps: number;
  clip: ClipSpec | null;
}

export type Task = 'classification' | 'regression';

export interface SyntheticDataSpec {
  source: 'synthetic';
  samples: number;
  inputStd: number;
  task: Task;
  /** Number of classes for classification (= output units). */
  classes: number;
}

/** A data set in memory: x is samples × inputSize row-major; y is class indices or samples × outputs. */
export interface Dataset {
  samples: number;
  inputSize: number;
  x: Float64Array;
  /** Classification: class index per sample. Regression: samples × targetSize row-major. */
  y: Float64Array;
  targetSize: number;
}

/** Parameters loaded from a file, one entry per layer: W is units × fanIn row-major. */
export interface LoadedLayerWeights {
  weight: Float64Array;
  bias: Float64Array;
  /** Tensor names, for messages. */
  weightName: string;
  biasName: string;
}

export interface ModelSpec {
  name: string;
  seed: number;
  dtype: DType;
  inputSize: number;
  layers: LayerSpec[];
  loss: LossName;
  training: TrainingSpec;
  /** The data set: either given (CSV) or the parameters of the synthetic generator. */
  data: SyntheticDataSpec | { source: 'csv'; dataset: Dataset };
  weights: LoadedLayerWeights[] | null;
  /** What the run measures beyond the step statistics. */
  diagnostics?: DiagnosticsSpec;
}

export interface DiagnosticsSpec {
  /** Histograms of Z, f(Z) and ∂L/∂Z every K steps (steps with step % K = 0); 0: none. Default 10. */
  histogramsEvery?: number;
  /** λmax of the Hessian every K steps; 0: none (the default in runs; analyze always reports it at init). */
  sharpnessEvery?: number;
  /**
   * The fraction of the data held out from training (held-out.ts; the model file's
   * data.validation), 0 ≤ f < 1; 0 (the default): none.
   */
  validation?: number;
  /** The held-out loss every K steps (steps with step % K = 0) and at the last step. Default 50. */
  validationEvery?: number;
}

/**
 * The model with every layer initialised by `scheme` instead of its own init (Compare
 * Initializations): fan_in mode, no loaded weights, and the bias the scheme implies — under
 * pytorch nn.Linear's random U(±1/√fan_in) unless the layer sets "bias", under the other schemes
 * the layer's constant (0 unless it sets one).
 */
export function withInitScheme(spec: ModelSpec, scheme: InitScheme): ModelSpec {
  return {
    ...spec,
    weights: null,
    layers: spec.layers.map((l) => ({
      ...l,
      init: { scheme, mode: 'fan_in' as const },
      randomBias: scheme === 'pytorch' && l.biasSet !== true,
    })),
  };
}
