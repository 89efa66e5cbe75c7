/**
 * Data: the synthetic generator and the batcher.
 *
 * Synthetic data is learnable: inputs x ~ N(0, inputStd²) of the model's input size, labelled by
 * a fixed random teacher network t(x) = W₂·tanh(W₁·x/inputStd) with 32 hidden units
 * (W₁ ~ N(0, 1/in), W₂ ~ N(0, 1/32)): classification takes argmax t(x), regression t(x) itself.
 *
 * Batches follow PyTorch's DataLoader (drop_last = False): an epoch is ⌈n/B⌉ batches of
 * consecutive indices of a permutation (new each epoch when shuffling, identity otherwise); the
 * last batch of an epoch may be smaller.
 */
import type { DenseKernels, FArray } from './kernels';
import type { Rng } from './rng';
import type { Dataset, SyntheticDataSpec } from './spec';
import { meanSquare } from './stats';

const TEACHER_HIDDEN = 32;

/** Thrown when generating data was asked to stop (the host's stop flag). */
export class Stopped extends Error {}

/** `shouldStop` is asked every 1024 samples: a stop during a long generation ends it at once. */
export function syntheticDataset(
  spec: SyntheticDataSpec,
  inputSize: number,
  outputs: number,
  rng: Rng,
  shouldStop?: () => boolean,
): Dataset {
  const n = spec.samples,
    d = inputSize,
    h = TEACHER_HIDDEN;
  const k = spec.task === 'classification' ? spec.classes : outputs;
  const W1 = new Float64Array(h * d),
    W2 = new Float64Array(k * h);
  for (let i = 0; i < W1.length; i++) W1[i] = rng.normal() / Math.sqrt(d);
  for (let i = 0; i < W2.length; i++) W2[i] = rng.normal() / Math.sqrt(h);
  const x = new Float64Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = spec.inputStd * rng.normal();
  const targetSize = spec.task === 'classification' ? 1 : k;
  const y = new Float64Array(n * targetSize);
  const hid = new Float64Array(h),
    out = new Float64Array(k);
  const inv = spec.inputStd > 0 ? 1 / spec.inputStd : 0;
  for (let s = 0; s < n; s++) {
    if ((s & 1023) === 0 && shouldStop?.()) throw new Stopped('stopped while generating the data');
    for (let j = 0; j < h; j++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += W1[j * d + i]! * x[s * d + i]! * inv;
      hid[j] = Math.tanh(acc);
    }
    for (let c = 0; c < k; c++) {
      let acc = 0;
      for (let j = 0; j < h; j++) acc += W2[c * h + j]! * hid[j]!;
      out[c] = acc;
    }
    if (spec.task === 'classification') {
      let best = 0;
      for (let c = 1; c < k; c++) if (out[c]! > out[best]!) best = c;
      y[s] = best;
    } else {
      for (let c = 0; c < k; c++) y[s * k + c] = out[c]!;
    }
  }
  return { samples: n, inputSize: d, x, y, targetSize };
}

/** The mean second moment E[x²] over every input value: q₀ of the mean-field analysis. */
export function inputSecondMoment(ds: Dataset): number {
  return meanSquare(ds.x, ds.samples * ds.inputSize);
}

/**
 * The mean and variance over the samples of a sample's sum of its inputs, S = Σ_k x_k: with
 * weights of mean m the first layer gives every unit m·S (mean-field.ts).
 */
export function inputSumMoments(ds: Dataset): { mean: number; var: number } {
  const n = ds.inputSize,
    N = ds.samples;
  let s1 = 0,
    s2 = 0;
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += ds.x[i * n + k]!;
    s1 += s;
    s2 += s * s;
  }
  const mean = N > 0 ? s1 / N : 0;
  return { mean, var: N > 0 ? Math.max(0, s2 / N - mean * mean) : 0 };
}

/** Data sets up to this many values get a float32 copy for float32 networks (64 MiB). */
const MAX_F32_COPY = 16 * 1024 * 1024;

/**
 * A float32 data set and the order its rows are taken in, on shared memory, for a helper thread to
 * copy its share of a batch (parallel.ts): the main thread reshuffles the order between batches only.
 */
export interface SharedBatches {
  /** samples × inputSize values. */
  x: Float32Array;
  order: Uint32Array;
  inputSize: number;
}

/** Where a batch's rows are: its first index into the order, and how many rows it has. */
export interface BatchRows {
  start: number;
  rows: number;
}

/** Copies rows [r0, r1) of the batch at `at` (rows of x in `order`) into X: by the kernels where they serve it. */
export function copyBatchRows(
  src: { x: FArray; order: Uint32Array; inputSize: number },
  at: BatchRows,
  r0: number,
  r1: number,
  X: FArray,
  kernels?: DenseKernels,
): void {
  const d = src.inputSize;
  if (kernels?.gatherRows?.(src.x, src.order, at.start, r0, r1, d, X)) return;
  for (let r = r0; r < r1; r++) {
    const i = src.order[at.start + r]!;
    X.set(src.x.subarray(i * d, i * d + d), r * d);
  }
}

export class Batcher {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private order: Uint32Array;
  private epoch = -1;
  /** Σx² of each sample as stored in X (float32-rounded for float32 networks), computed once. */
  private rowSq: Float64Array | null = null;
  /** The inputs rounded to float32 once, for float32 networks (a batch is then a plain copy). */
  private x32: Float32Array | null = null;
  /** E[x²] over the last batch filled: q₀ of the mean-field analysis, for the detectors. */
  secondMoment = 0;

  constructor(
    private readonly ds: Dataset,
    batchSize: number,
    private readonly shuffle: boolean,
    private readonly rng: Rng,
  ) {
    this.batchSize = Math.max(1, Math.min(batchSize, ds.samples));
    this.batchesPerEpoch = Math.ceil(ds.samples / this.batchSize);
    this.order = new Uint32Array(ds.samples);
    for (let i = 0; i < ds.samples; i++) this.order[i] = i;
  }

  /** The inputs as float32, copied once (on shared memory), or null where the data set is too big for a copy. */
  private floats(): Float32Array | null {
    if (this.ds.x.length > MAX_F32_COPY) return null;
    return (this.x32 ??= Float32Array.from(this.ds.x));
  }

  /**
   * The float32 inputs and the row order, moved to shared memory, for a helper thread of a float32
   * network to copy rows from (plain arrays otherwise: a run on one thread is not touched); null
   * where the engine has no shared memory or the data set is too big for a float32 copy.
   */
  shared(): SharedBatches | null {
    const x = this.floats();
    if (!x || typeof SharedArrayBuffer !== 'function') return null;
    if (!(x.buffer instanceof SharedArrayBuffer)) {
      this.x32 = new Float32Array(new SharedArrayBuffer(x.byteLength));
      this.x32.set(x);
    }
    if (!(this.order.buffer instanceof SharedArrayBuffer)) {
      const order = new Uint32Array(new SharedArrayBuffer(this.order.byteLength));
      order.set(this.order);
      this.order = order;
    }
    return { x: this.x32!, order: this.order, inputSize: this.ds.inputSize };
  }

  /**
   * The batch of `step` (steps are taken in order; an epoch's first reshuffles the order): its
   * targets into T, its E[x²] into `secondMoment`, and where its rows are, for copyRows (X is not
   * touched here, so that two threads can copy its rows). `f32`: X is float32.
   */
  prepare(step: number, T: Float64Array, f32: boolean): BatchRows {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    while (this.epoch < epoch) {
      this.epoch++;
      if (this.shuffle) this.rng.shuffle(this.order);
    }
    const j = step - epoch * this.batchesPerEpoch;
    const start = j * this.batchSize;
    const end = Math.min(start + this.batchSize, this.ds.samples);
    const t = this.ds.targetSize,
      y = this.ds.y;
    const rowSq = this.rowSq ?? (this.rowSq = sampleSquares(this.ds, f32));
    let sq = 0;
    for (let r = 0; r < end - start; r++) {
      const src = this.order[start + r]!;
      for (let c = 0; c < t; c++) T[r * t + c] = y[src * t + c]!;
      sq += rowSq[src]!;
    }
    this.secondMoment = end > start ? sq / ((end - start) * this.ds.inputSize) : 0;
    return { start, rows: end - start };
  }

  /** Copies rows [r0, r1) of the batch at `at` (prepare's) into X. */
  copyRows(at: BatchRows, r0: number, r1: number, X: FArray, kernels?: DenseKernels): void {
    const x = (X instanceof Float32Array ? this.floats() : null) ?? this.ds.x;
    copyBatchRows({ x, order: this.order, inputSize: this.ds.inputSize }, at, r0, r1, X, kernels);
  }
}

/** Σ_c x[i,c]² of every sample i, over the values rounded to float32 when `f32`. */
function sampleSquares(ds: Dataset, f32: boolean): Float64Array {
  const d = ds.inputSize,
    out = new Float64Array(ds.samples);
  for (let i = 0; i < ds.samples; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) {
      const v = f32 ? Math.fround(ds.x[i * d + c]!) : ds.x[i * d + c]!;
      s += v * v;
    }
    out[i] = s;
  }
  return out;
}
