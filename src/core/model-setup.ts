/**
 * From a model description to what a run or an analysis starts from: its data set, the rows a
 * step takes, the kernels, and the network with its initial parameters (loaded, or drawn from the
 * init schemes and the seed).
 */
import type { DenseKernels } from './kernels';
import { tsKernels } from './dense';
import { WasmKernels, wasmAvailable } from './wasm-kernels';
import { syntheticDataset } from './data';
import { Network } from './network';
import { Rng } from './rng';
import type { Dataset, ModelSpec } from './spec';

/**
 * The data set of a spec: the CSV's, or the synthetic one drawn from the seed (only its first
 * `samples` rows when given: the same rows the full draw starts with).
 */
export function datasetOf(spec: ModelSpec, shouldStop?: () => boolean, samples?: number): Dataset {
  if (spec.data.source === 'csv') return spec.data.dataset;
  const outputs = spec.layers[spec.layers.length - 1]!.units;
  const data = samples === undefined ? spec.data : { ...spec.data, samples };
  return syntheticDataset(data, spec.inputSize, outputs, new Rng(spec.seed, 'data'), shouldStop);
}

/** Rows a step trains on: the batch size, or every sample for 'full' (never more than there are). */
export function batchSizeOf(spec: ModelSpec): number {
  const n = spec.data.source === 'csv' ? spec.data.dataset.samples : spec.data.samples;
  const b = spec.training.batchSize;
  return b === 'full' ? n : Math.min(b, n);
}

/** 'auto': the fastest WebAssembly build available (else TS); 'simd': plain SIMD (no fused multiply-add); 'ts': the reference. */
export type KernelChoice = 'auto' | 'simd' | 'ts';

/** The kernels of a choice (given ones as they are). */
export function kernelsOf(k: DenseKernels | KernelChoice = 'auto'): DenseKernels {
  if (typeof k === 'object') return k;
  if (k === 'simd') return wasmAvailable('simd') ? new WasmKernels('simd') : tsKernels;
  return k === 'auto' && wasmAvailable() ? new WasmKernels() : tsKernels;
}

/** A network with its initial parameters: loaded ones, or drawn from the init schemes and seed. */
export function buildNetwork(
  spec: ModelSpec,
  maxBatch: number,
  kernels: DenseKernels | KernelChoice = 'auto',
  /** Whether the arena holds the work arrays of Hessian-vector products (core/hessian-operator.ts). */
  hessian = false,
): Network {
  const net = new Network(
    spec.layers,
    spec.inputSize,
    spec.dtype,
    maxBatch,
    kernelsOf(kernels),
    spec.training.optimizer,
    hessian,
  );
  initialParameters(net, spec);
  return net;
}

/** Sets a network's parameters to the spec's initial ones: loaded weights, or drawn from the init schemes and seed. */
export function initialParameters(net: Network, spec: ModelSpec): void {
  if (spec.weights) net.load(spec.weights);
  else net.initialize(spec.layers, new Rng(spec.seed, 'init'));
}
