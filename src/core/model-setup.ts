/**
 * From a model description to what a run or an analysis starts from: its data set, the rows a
 * step takes, the kernels, the network with its initial parameters (loaded, or drawn from the
 * init schemes and the seed), and the engines a run's steps take.
 */
import type { DenseKernels } from './kernels';
import { SharedTsKernels, tsKernels } from './dense';
import type { SplitChunks } from './chunks';
import { BatchSplit } from './parallel';
import type { GovernorClocks, SplitPolicy } from './split-governor';
import { SplitGovernor } from './split-governor';
import type { SpawnHelper } from './split-protocol';
import type { BatchLoss } from './losses';
import { OneThread } from './step-engine';
import { WasmKernels } from './wasm-kernels';
import { wasmAvailable } from './wasm-module';
import { syntheticDataset } from './data';
import type { SharedBatches } from './data';
import { Network } from './network';
import { Rng } from './rng';
import type { Dataset, ModelSpec } from './spec';
import { parameterCount } from './spec';

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
  /** Whether it lays out a helper thread's own copy of the input (Network's `secondInput`). */
  secondInput = false,
): Network {
  const net = new Network(
    spec.layers,
    spec.inputSize,
    spec.dtype,
    maxBatch,
    kernelsOf(kernels),
    spec.training.optimizer,
    hessian,
    secondInput ? 'lay out' : null,
  );
  initialParameters(net, spec);
  return net;
}

/** Sets a network's parameters to the spec's initial ones: loaded weights, or drawn from the init schemes and seed. */
export function initialParameters(net: Network, spec: ModelSpec): void {
  if (spec.weights) net.load(spec.weights);
  else net.initialize(spec.layers, new Rng(spec.seed, 'init'));
}

/** Forward and backward multiply-adds ×2 a step below which a second thread does not pay for its hand-offs. */
const SPLIT_MIN_FLOPS = 8e6;

/** How a run's steps may use a second thread. */
export interface EngineOptions {
  /** 'auto' (default): WebAssembly SIMD where available for float32, else the TS reference. */
  kernels?: DenseKernels | KernelChoice;
  /**
   * Starts a helper thread (injected: the core starts none itself). Given, each step's batch is
   * split over two threads (core/parallel.ts) where it pays: at least 8 rows and SPLIT_MIN_FLOPS
   * of work a step, on WebAssembly kernels or the TS ones (in a shared arena either way).
   */
  spawnHelper?: SpawnHelper;
  /** Overrides SPLIT_MIN_FLOPS (tests split small networks with 0). */
  splitMinFlops?: number;
  /**
   * With a helper and a clock (`now`): split only while it pays, as measured (split-governor.ts).
   * Without: every step that can be split is.
   */
  adaptiveSplit?: boolean;
  /** Milliseconds clock (injected: the core uses no host API). */
  now?: () => number;
  /**
   * The CPU time (ms) the whole process has used, all its threads (injected): lets the adaptive
   * split tell its own background work (V8 compiling it) from another process's (split-governor.ts).
   */
  cpuNow?: () => number;
  /**
   * The machine's idle CPU time (ms, summed over its cores; injected): lets the adaptive split
   * see that another process holds the core it would need without probing (split-governor.ts).
   */
  idleNow?: () => number;
  /** The policy an adaptive split follows (default: a SplitGovernor; tests script one). */
  splitPolicy?: SplitPolicy;
  /** Overrides how small the split's chunks get (tests deal small networks out in many chunks). */
  splitChunks?: SplitChunks;
}

/**
 * The network a run trains (batches of up to B rows) and the engines its steps take: one thread,
 * and the split over two where a helper is given and a step is big enough, with the policy that
 * decides step by step where the split is adaptive. Where the run measures λmax (`sharpness`: the
 * size of a sample's targets), the split's helper evaluates it (split-sharpness.ts), else this
 * thread, in Hessian work arrays laid out in the network's arena. Kernels whose arrays cannot be shared with a helper thread (the
 * plain TS ones; WebAssembly for float64, which it does not serve) give way to the TS kernels over
 * a shared buffer.
 */
export function trainingEngines(
  spec: ModelSpec,
  B: number,
  sharpness: { targetSize: number } | null,
  opts: EngineOptions,
  /** The run's loss; its targets and terms on shared memory where a helper may share the forward pass. */
  loss: BatchLoss,
  /** The data set and row order a helper thread copies its half of each batch from (data.Batcher.shared). */
  batches: SharedBatches | null = null,
): { net: Network; oneThread: OneThread; split: BatchSplit | null; governor: SplitPolicy | null } {
  const splits =
    opts.spawnHelper !== undefined &&
    B >= 8 &&
    6 * B * parameterCount(spec.inputSize, spec.layers) >= (opts.splitMinFlops ?? SPLIT_MIN_FLOPS);
  // the helper copies each batch into an input of its own, from the data set on shared memory
  const own = splits && batches !== null && spec.dtype !== 'float64';
  // (the split's helper measures λmax where there is one: the TS kernels on a shared buffer always make one)
  const hessian = sharpness !== null && !splits;
  let net = buildNetwork(spec, B, opts.kernels, hessian, own);
  if (splits && !net.kernels.sharing?.()) net = buildNetwork(spec, B, new SharedTsKernels(), hessian, own);
  const sharing = splits ? net.kernels.sharing?.() : null;
  if (!sharing || !opts.spawnHelper) {
    if (sharpness && !net.hessian) net = buildNetwork(spec, B, opts.kernels, true);
    return { net, oneThread: new OneThread(net, spec.training, net.states, loss), split: null, governor: null };
  }
  const oneThread = new OneThread(net, spec.training, net.states, loss);
  const split = new BatchSplit(
    net,
    spec.layers,
    spec.training,
    net.states,
    loss,
    sharing,
    opts.spawnHelper,
    opts.splitChunks,
    own ? batches : null,
    sharpness ? { targetSize: sharpness.targetSize, loss: spec.loss, seed: spec.seed } : null,
  );
  const governor =
    opts.adaptiveSplit && opts.now ? (opts.splitPolicy ?? new SplitGovernor(governorClocks(opts))) : null;
  return { net, oneThread, split, governor };
}

/** The clocks an adaptive split reads, where the host gives the machine's idle time. */
function governorClocks(opts: EngineOptions): GovernorClocks | undefined {
  const { now, cpuNow, idleNow } = opts;
  return now && idleNow ? { now, cpuNow, idleNow } : undefined;
}
