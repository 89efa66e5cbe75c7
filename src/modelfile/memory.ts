/**
 * Memory a run will need, estimated before anything is allocated, so that a model asking for
 * 10⁹ parameters or a batch of 10⁸ is refused in milliseconds:
 *   parameters P = Σ (units·fanIn + units), each stored with its gradient and the optimiser's
 *   state (momentum: 1 buffer, adam: 2): P·(2 + s)·bytes
 *   activations: per layer Z, A (not for linear layers), dZ for the batch: 3·B·units·bytes
 *   data: samples·(inputSize + targets)·8 (float64), plus the batch copy.
 */
import type { DType, LayerSpec, TrainingSpec } from '../core/spec';
import { parameterCount } from '../core/spec';

export interface MemoryEstimate {
  total: number;
  detail: string;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function estimateMemory(
  m: { inputSize: number; layers: readonly LayerSpec[]; dtype: DType; training: TrainingSpec },
  samples: number, targetSize: number,
): MemoryEstimate {
  const bytes = m.dtype === 'float64' ? 8 : 4;
  const B = m.training.batchSize === 'full' ? samples : Math.min(m.training.batchSize, samples);
  const P = parameterCount(m.inputSize, m.layers);
  let act = 0;
  for (const l of m.layers) act += (l.activation === 'linear' ? 2 : 3) * B * l.units;
  const states = m.training.optimizer === 'adam' ? 2 : m.training.optimizer === 'momentum' ? 1 : 0;
  const params = P * (2 + states) * bytes;
  const activations = act * bytes + B * m.inputSize * bytes;
  const data = samples * (m.inputSize + targetSize) * 8;
  return {
    total: params + activations + data,
    detail: `${P.toExponential(2)} parameters: ${formatBytes(params)}; activations for batch ${B}: ${formatBytes(activations)}; data: ${formatBytes(data)}`,
  };
}
