/**
 * Model specs for tests: the fields a test names, and for the rest plain defaults (sgd at 0.05,
 * batches of 16 in order, no clipping, synthetic classification data with one class an output
 * unit, no loaded weights). One place, so each test says only what it is about.
 */
import type { InitScheme, LayerSpec, ModelSpec, TrainingSpec } from '../../src/core/spec';

/** A layer: He normal under ReLU-like activations and Xavier uniform otherwise, unless `scheme`. */
export function layer(units: number, activation: LayerSpec['activation'], scheme?: InitScheme): LayerSpec {
  const reluLike = activation === 'relu' || activation === 'leaky_relu';
  return {
    units,
    activation,
    alpha: 0.01,
    init: { scheme: scheme ?? (reluLike ? 'he_normal' : 'xavier_uniform'), mode: 'fan_in' },
    bias: 0,
  };
}

export function testSpec(o: {
  layers: LayerSpec[];
  inputSize: number;
  seed?: number;
  dtype?: ModelSpec['dtype'];
  loss?: ModelSpec['loss'];
  training?: Partial<TrainingSpec>;
  /** Synthetic data: its samples, inputStd and task (classes: the output units). */
  data?: { samples?: number; inputStd?: number; task?: 'classification' | 'regression' };
  diagnostics?: ModelSpec['diagnostics'];
}): ModelSpec {
  const task = o.data?.task ?? (o.loss === 'mse' ? 'regression' : 'classification');
  return {
    name: 't',
    seed: o.seed ?? 3,
    dtype: o.dtype ?? 'float64',
    inputSize: o.inputSize,
    layers: o.layers,
    loss: o.loss ?? 'cross_entropy',
    training: {
      optimizer: 'sgd',
      learningRate: 0.05,
      momentum: 0.9,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      batchSize: 16,
      shuffle: false,
      steps: 20,
      clip: null,
      ...o.training,
    },
    data: {
      source: 'synthetic',
      samples: o.data?.samples ?? 64,
      inputStd: o.data?.inputStd ?? 1,
      task,
      classes: task === 'classification' ? o.layers.at(-1)!.units : 0,
    },
    weights: null,
    ...(o.diagnostics ? { diagnostics: o.diagnostics } : {}),
  };
}
