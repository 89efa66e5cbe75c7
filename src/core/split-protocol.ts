/**
 * What both threads of the batch split (parallel.ts: the main thread's side, split-helper.ts: the
 * helper's) agree on: the control block's words, the stats buffer's layout, how long a wait polls
 * before it sleeps, the barrier of the backward pass, and a thread's share of that pass.
 */
import type { DType, LayerSpec, LossName, TrainingSpec } from './spec';
import type { Layer, Network } from './network';
import { rowsOf } from './network';
import { applyDerivative } from './layer-passes';
import type { Ahead, FArray, GradPlan, WasmVariant } from './kernels';
import { UPDATE_SUMS } from './kernels';
import type { SplitChunks } from './chunks';
import type { SharedBatches } from './data';
import type { BatchLoss } from './losses';
import type { ChunkTaker } from './chunks';
import { OwnedUnits, rowChunkMin, take, unitChunkMin } from './chunks';
import { GradMoments } from './layer-stats';

/** What the helper thread is started with (structured-cloneable: shared buffers and plain data). */
export interface HelperInit {
  /** The network's arena: the WebAssembly kernels' memory, or the TS kernels' buffer. */
  memory: WebAssembly.Memory | SharedArrayBuffer;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  layers: LayerSpec[];
  inputSize: number;
  maxBatch: number;
  training: TrainingSpec;
  /** The kernels: a WebAssembly build, or 'ts' (dense.SharedTsKernels). */
  variant: WasmVariant | 'ts';
  /** The main thread's compiled WebAssembly kernels (KernelSharing.module). */
  module?: WebAssembly.Module;
  /** Whether the dense products are native (KernelSharing.native): runHelper must be given them. */
  native?: boolean;
  dtype: DType;
  /** How small chunks get (both threads must deal the same chunks). */
  chunks: SplitChunks;
  /** The data set and row order the helper copies its share of each next batch from (else the main thread copies it all). */
  batches?: SharedBatches;
  /** Where the run measures λmax: the helper evaluates it on its own core (split-sharpness.ts). */
  sharpness?: SharpnessInit;
  /** The run's loss, its targets and terms on shared memory: the helper computes its rows' (chunks.forwardChunks). */
  loss: BatchLoss;
}

/** What the helper needs to evaluate λmax as the main thread would (split-sharpness.ts). */
export interface SharpnessInit {
  /** Float64: λmax, the products it took, then the step's targets [maxBatch × targetSize]. */
  buffer: SharedArrayBuffer;
  targetSize: number;
  loss: LossName;
  /** The run's seed: the evaluations' random parts come from its 'sharpness' stream. */
  seed: number;
}

/** Starts a thread that calls runHelper(init); terminate() ends it. */
export type SpawnHelper = (init: HelperInit) => { terminate(): void };

// Control words.
export const CMD = 0,
  OP = 1,
  ROW0 = 2,
  ROWS = 3,
  DONE = 4,
  STATUS = 5,
  READY = 6,
  BAR = 7,
  CANCEL = 8,
  /** A batch for the helper to copy into its own input before a pass: FILL_TO rows of the batch at FILL_AT (0: none). */
  FILL_AT = 10,
  FILL_TO = 11,
  /** The command whose state the helper has copied (SHARPNESS): the main thread may change it from then on. */
  TAKEN = 12;
export const FORWARD = 1,
  BACKWARD = 2,
  UPDATE = 3,
  EXIT = 4,
  /** λmax of the step's batch loss (ROWS rows), evaluated while the main thread trains on alone. */
  SHARPNESS = 5;
export const ERROR_BYTES = 1024;
/** The control block's layout (Int32 indices; the helper's error text, UTF-16, from byte 64). */
export const HELPER_PROTOCOL = {
  CMD,
  OP,
  ROW0,
  ROWS,
  DONE,
  STATUS,
  READY,
  BAR,
  CANCEL,
  FILL_AT,
  FILL_TO,
  TAKEN,
  FORWARD,
  BACKWARD,
  UPDATE,
  EXIT,
  SHARPNESS,
  ERROR_AT: 64,
} as const;
/**
 * Atomics.load polls (~10–30 ns each here) before sleeping on a futex, whose wake-up takes tens of
 * µs on a VM: both threads poll ~1–3 ms, which covers the other's part of a step (the main
 * thread's loss, clipping and events in between included), then sleep.
 */
export const SPIN_MAIN = 100_000,
  SPIN_HELPER = 100_000;
export const CONTROL_BYTES = 64 + ERROR_BYTES;
/**
 * After the control block, the chunks' tickets (chunks.takeChunk): a word for the rows of a pass
 * and one for each layer's units of ∂W.
 */
export const ticketBytes = (layers: number): number => 4 * (layers + 1);
/** The tickets' words in a control block laid out for `layers` layers (both threads' view). */
export const ticketsOf = (control: SharedArrayBuffer, layers: number): Int32Array =>
  new Int32Array(control, CONTROL_BYTES, ticketBytes(layers) / 4);
/**
 * The helper's statistics per layer in the stats buffer (float64), then its update sums
 * (UPDATE_SUMS.PER_LAYER a layer), then per layer its alive flags (bytes).
 */
export const HELPER_STATS = {
  PREACT_MEAN: 0,
  PREACT_VAR: 1,
  ACT_MEAN: 2,
  ACT_VAR: 3,
  SATURATED: 4,
  GRAD_MEAN: 5,
  GRAD_VAR: 6,
  /** How many values of dZ the gradient statistics cover. */
  GRAD_COUNT: 7,
  /** How many values of Z the forward statistics cover. */
  COUNT: 8,
  PER_LAYER: 9,
} as const;
export const PER_LAYER = HELPER_STATS.PER_LAYER;
/** Float64 values per layer in the stats buffer: the statistics and the update sums. */
export const STATS_PER_LAYER = PER_LAYER + UPDATE_SUMS.PER_LAYER;

/**
 * Polls `ctl[at]` while it holds `value`, at most `spin` times; returns the last value read. A
 * function of its own, and every load in it is run on its first call: V8 compiles a hot loop on
 * the stack (OSR) with the feedback it has, and a call site after the loop that had never run
 * made that code deoptimise on every later call while it stayed cached (`arrive`, whose poll loop
 * was inline: ~700 deoptimisations in a W3 run's first two seconds, each split step slower).
 */
export function spinWhile(ctl: Int32Array, at: number, value: number, spin: number): number {
  let v = Atomics.load(ctl, at);
  for (let i = 0; i < spin && v === value; i++) v = Atomics.load(ctl, at);
  return v;
}

/**
 * One party's arrival at a pass's barrier (backward; forward where the first layer is split by
 * units): both threads add 1 to `BAR`, the n-th barrier is passed when it reaches 2n. Polls, then
 * sleeps in 50 ms slices, asking `stop`.
 */
export function arrive(ctl: Int32Array, n: number, spin: number, stop: () => boolean): boolean {
  const arrived = Atomics.add(ctl, BAR, 1) + 1;
  Atomics.notify(ctl, BAR);
  const target = 2 * n;
  if (arrived >= target) return true;
  for (let v = spinWhile(ctl, BAR, arrived, spin); ; v = Atomics.load(ctl, BAR)) {
    if (v >= target) return true;
    // `stop` may turn true just after the other thread arrived (the helper then soon ends its
    // pass): the barrier was passed all the same, so look again before giving up.
    if (stop()) return Atomics.load(ctl, BAR) >= target;
    Atomics.wait(ctl, BAR, v, 50);
  }
}

/** How a thread of the batch split takes its share of a backward pass (backwardShare). */
interface BackwardShare {
  /** All rows of the batch: the weight gradients run over all of them. */
  rows: number;
  /** The whole batch input [rows × inputSize]. */
  X: FArray;
  /** The next chunk of rows [r0, r1) this thread takes through every layer, or null when all are taken. */
  nextRows(): readonly [number, number] | null;
  /** Starts a layer's ∂W (U units over K inputs): its chunks of units are dealt from here on. */
  beginUnits(U: number, K: number): void;
  /** The next chunk of units [u0, u1) this thread computes, or null when the layer's are all taken. */
  nextUnits(): readonly [number, number] | null;
  /** Per layer, the moments of this thread's values of dZ. */
  readonly grad: GradMoments[];
  /** The first layer's units whose ∂W this thread computes, where its units are split (not dealt then). */
  readonly first: readonly [number, number] | null;
  /** Where the pass records the units whose ∂W this thread computed (it updates them: updateOwned). */
  readonly owned: OwnedUnits;
  /** Waits until both threads have their rows of every layer's dZ; false when the pass is abandoned. */
  barrier(): boolean;
}

/**
 * A thread's share of a backward pass split over two threads, in two phases with one barrier
 * between them. First, chunks of rows, each through every layer (rows are independent, so no
 * thread waits for the other): f' of the output layer on the chunk's rows of ∂L/∂Y, then layer
 * after layer dA = dZ·W and f' of the layer below. Then, once both threads have every layer's dZ
 * (the barrier), chunks of units of ∂W = dZᵀ·A over all rows, layer after layer. Each layer's
 * moments of dZ over this thread's rows go to share.grad. Returns false when abandoned.
 */
export function backwardShare(net: Network, share: BackwardShare, abort?: () => boolean): boolean {
  const k = net.kernels,
    layers = net.layers,
    L = layers.length;
  const view = (l: Layer, r0: number, n: number): [FArray, FArray, FArray] => {
    const Z = rowsOf(l.Z, r0, n, l.units);
    return [Z, l.A === l.Z ? Z : rowsOf(l.A, r0, n, l.units), rowsOf(l.dZ, r0, n, l.units)];
  };
  // zeros of each layer's dZ in this thread's rows: a product's plan (the share in the rows it
  // runs over, or in this thread's rows standing for all rows')
  const zeros = new Float64Array(L);
  let rows = 0;
  for (const g of share.grad) g.clear();
  share.owned.clear();
  for (let r = share.nextRows(); r; r = share.nextRows()) {
    const r0 = r[0],
      m = r[1] - r[0];
    rows += m;
    let z = applyDerivative(layers[L - 1]!, ...view(layers[L - 1]!, r0, m), m, k, share.grad[L - 1]!);
    zeros[L - 1]! += z;
    for (let i = L - 1; i > 0; i--) {
      const l = layers[i]!,
        prev = layers[i - 1]!;
      const [Z, A, dA] = view(prev, r0, m);
      k.inputGrad(rowsOf(l.dZ, r0, m, l.units), l.W, dA, m, l.fanIn, l.units, { zeroShare: z / (m * l.units) });
      z = applyDerivative(prev, Z, A, dA, m, k, share.grad[i - 1]!);
      zeros[i - 1]! += z;
    }
    if (abort?.()) return false;
  }
  if (!share.barrier()) return false;
  for (let i = L - 1; i >= 0; i--) {
    const l = layers[i]!,
      A = i > 0 ? layers[i - 1]!.A : share.X;
    const plan: GradPlan = { zeroShare: rows > 0 ? zeros[i]! / (rows * l.units) : 0 };
    if (i === 0 && share.first) {
      const [u0, u1] = share.first;
      // (the rows of the second layer's W this thread updates next, which the other thread read
      // in this step, are asked for to write meanwhile)
      if (L > 1) plan.ahead = ownedRows(layers[1]!.W, share.owned.of(1), layers[1]!.fanIn);
      if (u1 > u0 && !k.weightGradUnits?.(l.dZ, A, l.dW, l.db, share.rows, l.fanIn, l.units, u0, u1, plan))
        throw new Error('the batch split needs kernels that compute a range of units');
      share.owned.add(0, u0, u1);
      continue;
    }
    share.beginUnits(l.units, l.fanIn);
    for (let r = share.nextUnits(); r; r = share.nextUnits()) {
      if (!k.weightGradUnits?.(l.dZ, A, l.dW, l.db, share.rows, l.fanIn, l.units, r[0], r[1], plan))
        throw new Error('the batch split needs kernels that compute a range of units');
      share.owned.add(i, r[0], r[1]);
    }
  }
  return true;
}

/**
 * The rows of W (K values a row) from the first to the last of these units' ranges (flat u0, u1,
 * …: a thread's chunks of a layer are dealt from its end of it, so they form one block), to be
 * written next; undefined for none.
 */
function ownedRows(W: FArray, ranges: readonly number[], K: number): Ahead | undefined {
  let lo = Infinity,
    hi = -Infinity;
  for (let j = 0; j + 1 < ranges.length; j += 2) {
    lo = Math.min(lo, ranges[j]!);
    hi = Math.max(hi, ranges[j + 1]!);
  }
  return hi > lo ? { array: W, from: lo * K, to: hi * K, write: true } : undefined;
}

/**
 * What of a backward pass is a thread's own from one step to the next: its moments of dZ (the
 * pass clears them), the units whose ∂W it computed, and its half of the first layer's units
 * where they are split. Made once per thread: a step allocates none of it, and the code that
 * reads it meets one array's and one object's map (V8's optimising tier builds an inlined
 * Array.prototype.map's result holey where the builtin builds it packed, so an array made per
 * call that way deoptimised the code indexing it once that code was optimised).
 */
export interface ThreadPart {
  readonly grad: GradMoments[];
  readonly owned: OwnedUnits;
  readonly first: readonly [number, number] | null;
}

/** A thread's ThreadPart for a net of L layers. */
export function threadPart(L: number, first: readonly [number, number] | null): ThreadPart {
  const grad: GradMoments[] = [];
  for (let i = 0; i < L; i++) grad.push(new GradMoments());
  return { grad, owned: new OwnedUnits(L), first };
}

/**
 * Deals a thread's share of a backward pass over `layers` (for backwardShare), from its end of
 * the shared tickets (reset to 0 when the pass starts): the chunks of rows (from the same end as
 * in the forward pass, so a thread mostly keeps the rows it ran forward), then layer after layer
 * the chunks of units of ∂W, each range counted in its own word.
 */
export function backwardDealer(
  ctl: Int32Array,
  taker: ChunkTaker,
  X: FArray,
  rows: number,
  layers: readonly { fanIn: number; units: number }[],
  minMacs: number,
  spin: number,
  stop: () => boolean,
  mine: ThreadPart,
  barrier: () => boolean = () => arrive(ctl, 1, spin, stop),
): BackwardShare {
  const deal = taker.deal;
  let phase = 0;
  const range: [number, number] = [0, 0];
  deal.layout(rows, rowChunkMin(layers, minMacs));
  return {
    rows,
    X,
    grad: mine.grad,
    first: mine.first,
    owned: mine.owned,
    barrier,
    nextRows: () => {
      const c = take(taker, 0);
      return c < 0 ? null : deal.range(c, range);
    },
    beginUnits: (U, K) => {
      deal.layout(U, unitChunkMin(K, rows, minMacs));
      phase++;
    },
    nextUnits: () => {
      const c = take(taker, phase);
      return c < 0 ? null : deal.range(c, range);
    },
  };
}

/** The stats buffer: per-layer statistics, then 10 update sums a layer (W, b), then alive flags. */
export function layout(layers: readonly LayerSpec[]): { aliveAt: number[]; bytes: number } {
  let at = layers.length * STATS_PER_LAYER * Float64Array.BYTES_PER_ELEMENT;
  const aliveAt = layers.map((l) => {
    const a = at;
    at += l.units;
    return a;
  });
  return { aliveAt, bytes: at };
}
