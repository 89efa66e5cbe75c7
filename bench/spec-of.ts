// The model spec of a benchmark workload: He-normal ReLU layers, a linear output, SGD or momentum
// (lr 0.01), clipping by norm where the workload says.
import type { LayerSpec, ModelSpec } from '../src/core/spec';
import { WORKLOADS } from './workloads.mjs';

export function specOf(name: keyof typeof WORKLOADS): ModelSpec {
  const w = WORKLOADS[name];
  const layer = (units: number, activation: LayerSpec['activation']): LayerSpec => ({
    units,
    activation,
    alpha: 0,
    init: { scheme: 'he_normal', mode: 'fan_in' },
    bias: 0,
  });
  return {
    name,
    seed: 1,
    dtype: 'float32',
    inputSize: w.input,
    layers: [...w.hidden.map((h: number) => layer(h, 'relu')), layer(w.classes, 'linear')],
    loss: 'cross_entropy',
    training: {
      optimizer: w.optimizer ?? 'sgd',
      learningRate: 0.01,
      momentum: 0.9,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      batchSize: w.batch,
      shuffle: false,
      steps: 1e9,
      clip: w.clip ? { mode: 'norm', max: w.clip } : null,
    },
    data: { source: 'synthetic', samples: w.batch * 8, inputStd: 1, task: 'classification', classes: w.classes },
    weights: null,
  };
}
