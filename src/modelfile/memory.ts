/**
 * Memory a run will need, estimated before anything is allocated, so that a model asking for
 * 10⁹ parameters or a batch of 10⁸ is refused in milliseconds. Every buffer a run makes counts:
 *   the network's arrays, as its arena lays them out (core/network.ts networkFootprint): the
 *   parameters P = Σ (units·fanIn + units) with their gradients and the optimiser's state
 *   (momentum: 1 buffer, adam: 2), the batch's inputs and each layer's Z, A (not for linear
 *   layers) and dZ, the first layer's halves' scratch where two threads split it, the
 *   Hessian-vector products' work arrays where λmax is asked for (diagnostics.sharpnessEvery), and
 *   the kernels' scratch (two threads' worth); with λmax, Lanczos's vectors too (core/lanczos.ts:
 *   five float64 and up to 20 float32 vectors of the operator's size), and on two threads the
 *   second thread's own copy of the network's arrays, where it evaluates λmax
 *   the init's draw: the largest layer's weights in float64 while they are drawn (twice that for
 *   orthogonal, which also holds the factor it orthogonalises), unless weights are loaded
 *   data: samples·(inputSize + targets)·8 (float64), plus a float32 copy of the inputs for float32
 *   networks (up to 16 M values), plus what the CSV reader holds (the file and its text)
 *   the runtime: Node and the worker thread, RUNTIME_BYTES (and HELPER_BYTES for a second thread)
 * Measured against peak RSS in test/modelfile/memory-estimate.test.ts.
 */
import type { DType, LayerSpec, TrainingSpec } from '../core/spec';
import { parameterCount } from '../core/spec';
import { networkFootprint } from '../core/network';
import { operatorSizeBound } from '../core/hessian-operator';
import { lanczosBytes } from '../core/lanczos';
import { RUN_PRODUCTS } from '../core/sharpness';

/**
 * What Node, the CLI and the training worker take beyond the model's buffers: a tiny run peaks at
 * ~70 MiB, and the heap grows some with the model (a run of 300,000 samples peaked 77 MiB over its
 * data).
 */
const RUNTIME_BYTES = 84 * 1024 * 1024;
/** What a second (helper) thread adds beyond the arrays: 18–27 MiB measured, 1000–6000 wide. */
const HELPER_BYTES = 28 * 1024 * 1024;
/** Data sets up to this many values get a float32 copy (core/data.ts). */
const MAX_F32_COPY = 16 * 1024 * 1024;

interface MemoryEstimate {
  total: number;
  detail: string;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

interface EstimateOptions {
  /** Parameters come from a weights file: no init draw. */
  weightsLoaded?: boolean;
  /** Bytes of the CSV file the reader held (its text takes about twice that). */
  csvBytes?: number;
  threads?: number;
  /** λmax every K steps (overrides the model's diagnostics.sharpnessEvery): its work arrays count. */
  sharpnessEvery?: number;
}

export function estimateMemory(
  m: {
    inputSize: number;
    layers: readonly LayerSpec[];
    dtype: DType;
    training: TrainingSpec;
    diagnostics?: { sharpnessEvery?: number };
  },
  samples: number,
  targetSize: number,
  o: EstimateOptions = {},
): MemoryEstimate {
  const bytes = m.dtype === 'float64' ? 8 : 4;
  const B = m.training.batchSize === 'full' ? samples : Math.min(m.training.batchSize, samples);
  const P = parameterCount(m.inputSize, m.layers);
  let draw = 0,
    fanIn = m.inputSize;
  for (const l of m.layers) {
    draw = Math.max(draw, l.units * fanIn * 8 * (l.init.scheme === 'orthogonal' ? 2 : 1));
    fanIn = l.units;
  }
  if (o.weightsLoaded) draw = 0;
  const hessian = (o.sharpnessEvery ?? m.diagnostics?.sharpnessEvery ?? 0) > 0;
  const net = networkFootprint(m.layers, m.inputSize, m.dtype, B, m.training.optimizer, hessian);
  const lanczos = hessian
    ? lanczosBytes(
        operatorSizeBound(
          m.layers.map((l) => l.units),
          m.inputSize,
          B,
        ),
        RUN_PRODUCTS,
      )
    : 0;
  // two threads measure λmax on the second, in a network of its own (core/split-sharpness.ts): the
  // arrays again, but for the optimiser's state and the Hessian's work (which moves there), and its
  // kernels' scratch; its gradients are laid out but never written, so their pages never count
  const own = hessian && (o.threads ?? 1) > 1 ? networkFootprint(m.layers, m.inputSize, m.dtype, B, null, false) : null;
  const ownBytes = own ? own.bytes - P * bytes + 3 * own.scratch * bytes : 0;
  const arrays = net.bytes + 2 * 3 * net.scratch * bytes + lanczos + ownBytes;
  const values = samples * m.inputSize;
  const data =
    samples * (m.inputSize + targetSize) * 8 +
    (m.dtype === 'float32' && values <= MAX_F32_COPY ? values * 4 : 0) +
    3 * (o.csvBytes ?? 0);
  const runtime = RUNTIME_BYTES + ((o.threads ?? 1) > 1 ? HELPER_BYTES : 0);
  return {
    total: arrays + draw + data + runtime,
    detail: `${P.toExponential(2)} parameters, their gradients${hessian ? ', λmax work' : ''} and the activations of batch ${B}: ${formatBytes(arrays)}${draw ? `; the init's draw: ${formatBytes(draw)}` : ''}; data: ${formatBytes(data)}; runtime: ${formatBytes(runtime)}`,
  };
}
