/**
 * Data parallelism over two threads, on the same memory (the network's arena is a shared
 * WebAssembly memory, or for the TS kernels a SharedArrayBuffer), so the helper thread reads the
 * weights and the batch in place and writes its rows of Z, A and dZ where the main thread's loss
 * and the next step expect them.
 *
 * The work is dealt out in chunks from a shared ticket counter (chunks.ts): guided chunks,
 * in pairs of a quarter of what is left each, down to ~8 rows or units, so a thread slowed by this
 * machine's other work takes fewer chunks instead of holding the other up. Forward: chunks of
 * rows, each run through every layer. Backward, layer after layer once both threads are there (a
 * barrier): chunks of units of ∂W = dZᵀ·A over all B rows (so there is no second gradient buffer
 * and no reduction, and each GEMM keeps the whole batch as its depth), then chunks of rows of
 * dA = dZ·W, each followed by f' of the layer below on the same rows. Optimiser: chunks of values
 * of every tensor. Only the output layer's f' keeps a fixed split: rows [0, B₀) here
 * (B₀ = mainRows(B)), the rest there.
 *
 * Per step, over an Int32Array of a SharedArrayBuffer with Atomics:
 *   main: FORWARD(B) → chunks of rows → wait → merge statistics → loss, ∂L/∂Y
 *         → BACKWARD → own rows of the output's dZ, then per layer: barrier, chunks of units of ∂W,
 *           chunks of rows of dA and f'
 *         → wait → merge → clip → UPDATE(t) → fill the next batch, then chunks of the tensors
 *         → wait → add sums.
 * The optimiser's chunks run with each thread's own view of the optimiser state (laid out in
 * the same order, optimizers.newLayerStates); the update's sums are plain sums and add.
 * Chunk sizes depend only on the shapes, so both threads deal the same chunks.
 * Statistics merge exactly: per-thread means and population variances combine by Chan's formula
 *   n = nₐ + n_b, δ = μ_b − μₐ, μ = μₐ + δ·n_b/n, M₂ = σₐ²nₐ + σ_b²n_b + δ²nₐn_b/n, σ² = M₂/n,
 * dead units are the units alive in neither half, saturated counts add.
 *
 * Only ECMAScript here (Atomics, SharedArrayBuffer): the host injects how a helper thread is
 * started (`SpawnHelper`), and that thread calls `runHelper` with the `HelperInit` it was given.
 */
import type { DType, LayerSpec, TrainingSpec } from './spec';
import type { ForwardStats, Layer } from './network';
import type { GradStats, StepEngine } from './step-engine';
import { gradStats } from './step-engine';
import { applyDerivative, Network, rowsOf } from './network';
import { SharedTsKernels } from './dense';
import type { FArray, KernelSharing, ParamState, WasmVariant } from './kernels';
import { UPDATE_SUMS } from './kernels';
import { newLayerStates, stateCopies, Updater } from './optimizers';
import type { SplitChunks } from './chunks';
import {
  CHUNK_MIN_MACS,
  chunkCount,
  chunkRange,
  claim,
  ForwardTally,
  forwardChunks,
  rowChunkMin,
  TICKET,
  unitChunkMin,
  UPDATE_CHUNK_MIN,
  updateChunks,
} from './chunks';
import { WasmKernels } from './wasm-kernels';
import { mergeMoments } from './stats';

export { mergeMoments };

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
  dtype: DType;
  /** How small chunks get (both threads must deal the same chunks). */
  chunks: SplitChunks;
}

/** Starts a thread that calls runHelper(init); terminate() ends it. */
export type SpawnHelper = (init: HelperInit) => { terminate(): void };

// Control words.
const CMD = 0,
  OP = 1,
  ROW0 = 2,
  ROWS = 3,
  DONE = 4,
  STATUS = 5,
  READY = 6,
  BAR = 7,
  CANCEL = 8; // TICKET = 9: chunks.ts
const FORWARD = 1,
  BACKWARD = 2,
  UPDATE = 3,
  EXIT = 4;
const ERROR_BYTES = 1024;
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
  TICKET,
  FORWARD,
  BACKWARD,
  UPDATE,
  EXIT,
  ERROR_AT: 64,
} as const;
/**
 * Atomics.load polls (~10–30 ns each here) before sleeping on a futex, whose wake-up takes tens of
 * µs on a VM: both threads poll ~1–3 ms, which covers the other's part of a step (the main
 * thread's loss, clipping and events in between included), then sleep.
 */
const SPIN_MAIN = 100_000,
  SPIN_HELPER = 100_000;
const CONTROL_BYTES = 64 + ERROR_BYTES;
/**
 * The helper's statistics per layer in the stats buffer (float64), then its update sums
 * (UPDATE_SUMS.PER_LAYER a layer), then per layer its alive flags (bytes).
 */
const HELPER_STATS = {
  PREACT_MEAN: 0,
  PREACT_VAR: 1,
  ACT_MEAN: 2,
  ACT_VAR: 3,
  SATURATED: 4,
  GRAD_MEAN: 5,
  GRAD_VAR: 6,
  /** How many values of dZ the gradient statistics cover. */
  GRAD_COUNT: 7,
  PER_LAYER: 8,
} as const;
const PER_LAYER = HELPER_STATS.PER_LAYER;
/** Float64 values per layer in the stats buffer: the statistics and the update sums. */
const STATS_PER_LAYER = PER_LAYER + UPDATE_SUMS.PER_LAYER;
const H = HELPER_STATS;

/** A step's rows for the main thread: a multiple of 4 (the GEMMs' row block), about half. */
export function mainRows(B: number): number {
  return Math.min(B, 4 * Math.ceil(B / 8));
}

/**
 * One party's arrival at the backward pass's per-layer barrier: both threads add 1 to `BAR`, the
 * n-th barrier is passed when it reaches 2n. Polls, then sleeps in 50 ms slices, asking `stop`.
 */
export function arrive(ctl: Int32Array, n: number, spin: number, stop: () => boolean): boolean {
  Atomics.add(ctl, BAR, 1);
  Atomics.notify(ctl, BAR);
  const target = 2 * n;
  for (let i = 0; i < spin && Atomics.load(ctl, BAR) < target; i++);
  for (;;) {
    const v = Atomics.load(ctl, BAR);
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
  /** Starts a layer's ∂W (U units over K inputs): its chunks of units are dealt from here on. */
  beginUnits(U: number, K: number): void;
  /** The next chunk of units [u0, u1) this thread computes, or null when the layer's are all taken. */
  nextUnits(U: number): readonly [number, number] | null;
  /** Starts a layer's dA (U units back to K, all rows): its chunks of rows are dealt from here on. */
  beginRows(K: number, U: number): void;
  /** The next chunk of rows [r0, r1) of dA this thread computes, or null when they are all taken. */
  nextRows(): readonly [number, number] | null;
  /** Per layer, the values of dZ this thread's gradMean/gradVar cover. */
  readonly gradCount: Float64Array;
  /** Waits until both threads have their rows of this layer's dZ; false when the pass is abandoned. */
  barrier(): boolean;
}

/**
 * A thread's share of a backward pass split over two threads: f' over its rows [row0, row0 + B0)
 * of the output layer; then, layer after layer, once both threads are there (a barrier), chunks
 * of units of ∂W = dZᵀ·A over all rows, and chunks of rows of dA = dZ·W, each followed by f' of
 * the layer below on the same rows. Each layer's gradMean/gradVar are over this thread's chunks,
 * their count in share.gradCount. Returns false when abandoned.
 */
function backwardShare(net: Network, B0: number, row0: number, share: BackwardShare, abort?: () => boolean): boolean {
  const k = net.kernels,
    L = net.layers.length,
    out = net.layers[L - 1]!;
  const view = (l: Layer, r0: number, n: number): [FArray, FArray, FArray] => {
    const Z = rowsOf(l.Z, r0, n, l.units);
    return [Z, l.A === l.Z ? Z : rowsOf(l.A, r0, n, l.units), rowsOf(l.dZ, r0, n, l.units)];
  };
  applyDerivative(out, ...view(out, row0, B0), B0, k);
  share.gradCount[L - 1] = B0 * out.units;
  for (let i = L - 1; i >= 0; i--) {
    const l = net.layers[i]!,
      prev = i > 0 ? net.layers[i - 1]! : null;
    if (!share.barrier()) return false;
    share.beginUnits(l.units, l.fanIn);
    for (let r = share.nextUnits(l.units); r; r = share.nextUnits(l.units)) {
      if (!k.weightGradUnits?.(l.dZ, prev ? prev.A : share.X, l.dW, l.db, share.rows, l.fanIn, l.units, r[0], r[1])) {
        throw new Error('the batch split needs kernels that compute a range of units');
      }
    }
    if (!prev) break;
    let n = 0,
      mean = 0,
      v = 0;
    share.beginRows(l.fanIn, l.units);
    for (let r = share.nextRows(); r; r = share.nextRows()) {
      const r0 = r[0],
        m = r[1] - r[0];
      const [Z, A, dA] = view(prev, r0, m);
      k.inputGrad(rowsOf(l.dZ, r0, m, l.units), l.W, dA, m, l.fanIn, l.units);
      applyDerivative(prev, Z, A, dA, m, k);
      const g = mergeMoments(n, mean, v, m * prev.units, prev.gradMean, prev.gradVar);
      n += m * prev.units;
      mean = g.mean;
      v = g.var;
    }
    prev.gradMean = mean;
    prev.gradVar = v;
    share.gradCount[i - 1] = n;
    if (abort?.()) return false;
  }
  return true;
}

/**
 * Deals a thread's share of a backward pass (for backwardShare). Layer after layer, the chunks of
 * units of ∂W, then the chunks of rows of dA, are the tickets [begin, end) of the counter (reset
 * to 0 when the pass starts), `end` adding up the chunks in the same order on both threads.
 */
function backwardDealer(
  ctl: Int32Array,
  X: FArray,
  rows: number,
  layers: number,
  minMacs: number,
  spin: number,
  stop: () => boolean,
): BackwardShare {
  let n = 0,
    begin = 0,
    end = 0,
    min = 8;
  const range: [number, number] = [0, 0];
  const next = (items: number): readonly [number, number] | null => {
    const c = claim(ctl, end);
    return c < 0 ? null : chunkRange(items, min, c - begin, range);
  };
  return {
    rows,
    X,
    gradCount: new Float64Array(layers),
    barrier: () => arrive(ctl, ++n, spin, stop),
    beginUnits: (U, K) => {
      min = unitChunkMin(K, rows, minMacs);
      begin = end;
      end += chunkCount(U, min);
    },
    nextUnits: (U) => next(U),
    beginRows: (K, U) => {
      min = rowChunkMin(K, U, minMacs);
      begin = end;
      end += chunkCount(rows, min);
    },
    nextRows: () => next(rows),
  };
}

/** The stats buffer: per-layer statistics, then 10 update sums a layer (W, b), then alive flags. */
function layout(layers: readonly LayerSpec[]): { aliveAt: number[]; bytes: number } {
  let at = layers.length * STATS_PER_LAYER * Float64Array.BYTES_PER_ELEMENT;
  const aliveAt = layers.map((l) => {
    const a = at;
    at += l.units;
    return a;
  });
  return { aliveAt, bytes: at };
}

/** The main thread's side of a batch split: starts the helper, deals chunks of the batch to both threads, merges their statistics. */
export class BatchSplit implements StepEngine {
  private readonly ctl: Int32Array;
  private readonly stats: Float64Array;
  private readonly alive: Uint8Array[];
  private readonly error: Uint16Array;
  private readonly thread: { terminate(): void };
  private readonly tally: ForwardTally;
  private readonly updater: Updater;
  private seq = 0;
  private closed = false;

  constructor(
    private readonly net: Network,
    layers: readonly LayerSpec[],
    training: TrainingSpec,
    /** The optimiser state, allocated after the network from its arena (the helper lays out the same). */
    states: readonly { W: ParamState; b: ParamState }[],
    /** Where the network's arrays live, and how the helper builds its kernels over them. */
    sharing: KernelSharing,
    spawn: SpawnHelper,
    private readonly chunks: SplitChunks = { macs: CHUNK_MIN_MACS, values: UPDATE_CHUNK_MIN },
  ) {
    const { memory, variant } = sharing;
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const { aliveAt, bytes } = layout(layers);
    const stats = new SharedArrayBuffer(bytes);
    this.ctl = new Int32Array(control, 0, 16);
    this.error = new Uint16Array(control, 64, ERROR_BYTES / 2);
    this.stats = new Float64Array(stats, 0, layers.length * STATS_PER_LAYER);
    this.alive = layers.map((l, i) => new Uint8Array(stats, aliveAt[i]!, l.units));
    this.tally = new ForwardTally(net);
    const sums = new Float64Array(layers.length * UPDATE_SUMS.PER_LAYER);
    this.updater = new Updater(training, net.kernels, net.layers, states, sums);
    this.thread = spawn({
      memory,
      control,
      stats,
      layers: [...layers],
      inputSize: net.inputSize,
      maxBatch: net.maxBatch,
      dtype: net.dtype,
      training,
      variant,
      chunks,
    });
  }

  /**
   * Starts the helper on a pass: forward (row0 = 0, rows = B: chunks of the batch), backward (its
   * rows [row0, row0 + rows), chunks of units of ∂W over all row0 + rows), or update (the upper
   * part of every tensor for optimiser step row0 = t).
   */
  private start(op: 'forward' | 'backward' | 'update', row0: number, rows: number): void {
    const c = this.ctl;
    if (op === 'backward') Atomics.store(c, BAR, 0);
    Atomics.store(c, TICKET, 0);
    Atomics.store(c, OP, op === 'forward' ? FORWARD : op === 'backward' ? BACKWARD : UPDATE);
    Atomics.store(c, ROW0, row0);
    Atomics.store(c, ROWS, rows);
    Atomics.store(c, CMD, ++this.seq);
    Atomics.notify(c, CMD);
  }

  /**
   * Waits for the helper's pass: spins briefly, then sleeps in slices, asking `shouldStop`
   * between them. Returns false when stopped. Throws the helper's error, or when it never started.
   */
  private wait(shouldStop?: () => boolean): boolean {
    const c = this.ctl,
      seq = this.seq;
    for (let i = 0; i < SPIN_MAIN && Atomics.load(c, DONE) !== seq; i++);
    let slept = 0;
    while (Atomics.load(c, DONE) !== seq) {
      Atomics.wait(c, DONE, Atomics.load(c, DONE), 50);
      slept += 50;
      if (shouldStop?.()) return false;
      if (slept >= 30000 && Atomics.load(c, READY) === 0)
        throw new Error('the helper thread did not start within 30 s');
    }
    this.throwIfFailed();
    return true;
  }

  /** Throws the helper's error when its current pass ended in one. */
  private throwIfFailed(): void {
    if (Atomics.load(this.ctl, DONE) === this.seq && Atomics.load(this.ctl, STATUS) !== 0) {
      const n = this.error.indexOf(0);
      throw new Error(
        `helper thread: ${String.fromCharCode(...this.error.subarray(0, n < 0 ? this.error.length : n))}`,
      );
    }
  }

  /**
   * The forward pass of B rows over both threads: chunks of rows from the counter until none is
   * left, then the helper's statistics merged into ours. Null when `abort` answered true.
   */
  forward(B: number, abort?: () => boolean): readonly ForwardStats[] | null {
    this.start('forward', 0, B);
    const rows0 = forwardChunks(this.net, this.ctl, B, this.tally, this.chunks.macs, abort);
    if (rows0 < 0 || !this.wait(abort)) return null;
    this.mergeForward(rows0, B - rows0);
    return this.net.layers.map((l) => l.fwd);
  }

  /**
   * The backward pass of B rows over both threads: f' of the output layer on rows [0, B₀) here
   * (B₀ = mainRows(B)) and the rest there, then layer after layer chunks of ∂W's units and of
   * dA's rows; the helper's gradient statistics merged into ours. Null when `abort` answered true.
   */
  backward(B: number, abort?: () => boolean): readonly GradStats[] | null {
    const B0 = mainRows(B),
      ctl = this.ctl;
    this.start('backward', B0, B - B0);
    // A helper whose pass ended (an error) never arrives at a barrier: stop waiting for it then.
    const ended = (): boolean => (abort?.() ?? false) || Atomics.load(ctl, DONE) === this.seq;
    const share = backwardDealer(ctl, this.net.input, B, this.net.layers.length, this.chunks.macs, SPIN_MAIN, ended);
    if (!backwardShare(this.net, B0, 0, share, abort)) {
      this.cancel();
      this.throwIfFailed();
      return null;
    }
    if (!this.wait(abort)) {
      this.cancel();
      return null;
    }
    this.mergeBackward(share.gradCount);
    return gradStats(this.net);
  }

  /**
   * Optimiser step t over both threads: the helper starts on its chunks of the tensors, `meanwhile`
   * runs here (the next batch is filled), then this thread takes chunks until none is left; the
   * helper's sums add to ours. Waited for without `abort`: an update is applied whole.
   */
  update(t: number, meanwhile?: () => void): Float64Array {
    const out = this.updater.out;
    this.start('update', t, 0);
    meanwhile?.();
    this.updater.t = t;
    updateChunks(this.updater, this.ctl, this.chunks.values);
    this.wait();
    const at = this.net.layers.length * PER_LAYER;
    for (let j = 0; j < out.length; j++) out[j] = out[j]! + this.stats[at + j]!;
    return out;
  }

  /** Folds the helper's forward statistics (rows1 rows) into the main thread's (rows0 rows). */
  private mergeForward(rows0: number, rows1: number): void {
    const s = this.stats;
    this.net.layers.forEach((l, i) => {
      const o = i * PER_LAYER,
        na = rows0 * l.units,
        nb = rows1 * l.units,
        f = l.fwd;
      const z = mergeMoments(na, f.preactMean, f.preactVar, nb, s[o + H.PREACT_MEAN]!, s[o + H.PREACT_VAR]!);
      const a = mergeMoments(na, f.actMean, f.actVar, nb, s[o + H.ACT_MEAN]!, s[o + H.ACT_VAR]!);
      let dead: number | null = null;
      if (f.dead !== null) {
        dead = 0;
        const other = this.alive[i]!;
        for (let u = 0; u < l.units; u++) if (l.alive[u] === 0 && other[u] === 0) dead++;
      }
      l.fwd = {
        preactMean: z.mean,
        preactVar: z.var,
        actMean: a.mean,
        actVar: a.var,
        dead,
        saturated: f.saturated === null ? null : (l.saturatedCount + s[o + H.SATURATED]!) / (na + nb),
      };
    });
  }

  /** Tells the helper that the main thread abandoned the pass (it leaves any barrier). */
  private cancel(): void {
    Atomics.store(this.ctl, CANCEL, this.seq);
    Atomics.notify(this.ctl, BAR);
  }

  /** Folds the helper's gradient statistics (over its values of dZ) into the main thread's. */
  private mergeBackward(mine: Float64Array): void {
    const s = this.stats;
    this.net.layers.forEach((l, i) => {
      const o = i * PER_LAYER;
      const g = mergeMoments(
        mine[i]!,
        l.gradMean,
        l.gradVar,
        s[o + H.GRAD_COUNT]!,
        s[o + H.GRAD_MEAN]!,
        s[o + H.GRAD_VAR]!,
      );
      l.gradMean = g.mean;
      l.gradVar = g.var;
    });
  }

  /** Ends the helper thread. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, OP, EXIT);
    Atomics.store(this.ctl, CMD, ++this.seq);
    Atomics.notify(this.ctl, CMD);
    this.thread.terminate();
  }
}

/** The helper thread's loop: builds the same network over the shared arena and serves passes until EXIT. */
export function runHelper(init: HelperInit): void {
  const ctl = new Int32Array(init.control, 0, 16);
  const error = new Uint16Array(init.control, 64, ERROR_BYTES / 2);
  let stats: Float64Array = new Float64Array(0);
  let alive: Uint8Array[] = [];
  let net: Network | null = null;
  let updater: Updater | null = null;
  let tally: ForwardTally | null = null;
  let failure: string | null = null;
  try {
    stats = new Float64Array(init.stats, 0, init.layers.length * STATS_PER_LAYER);
    const { aliveAt } = layout(init.layers);
    alive = init.layers.map((l, i) => new Uint8Array(init.stats, aliveAt[i]!, l.units));
    let kernels: WasmKernels | SharedTsKernels;
    if (init.variant === 'ts') {
      const ts = new SharedTsKernels();
      ts.attach(init.memory as SharedArrayBuffer);
      kernels = ts;
    } else {
      const wasm = new WasmKernels(init.variant);
      wasm.attach(init.memory as WebAssembly.Memory);
      kernels = wasm;
    }
    net = new Network(
      init.layers,
      init.inputSize,
      init.dtype,
      init.maxBatch,
      kernels,
      stateCopies(init.training.optimizer),
    );
    if (net.kernels !== kernels) throw new Error('the kernels are not available in the helper thread');
    const n = net;
    const states = newLayerStates(n.layers, init.training.optimizer, (k) => n.alloc(k));
    updater = new Updater(init.training, n.kernels, n.layers, states, stats, init.layers.length * PER_LAYER);
    tally = new ForwardTally(n);
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  Atomics.store(ctl, READY, 1);
  let seen = 0;
  for (;;) {
    for (let i = 0; i < SPIN_HELPER && Atomics.load(ctl, CMD) === seen; i++);
    while (Atomics.load(ctl, CMD) === seen) Atomics.wait(ctl, CMD, seen, 1000);
    seen = Atomics.load(ctl, CMD);
    const op = Atomics.load(ctl, OP),
      row0 = Atomics.load(ctl, ROW0),
      B = Atomics.load(ctl, ROWS);
    if (op === EXIT) return;
    try {
      if (failure || !net || !tally || !updater) throw new Error(failure ?? 'no network');
      if (op === UPDATE) {
        // the upper part of every tensor; row0 carries the step t
        updater.t = row0;
        updateChunks(updater, ctl, init.chunks.values);
      } else if (op === FORWARD) {
        forwardChunks(net, ctl, B, tally, init.chunks.macs);
        net.layers.forEach((l, i) => {
          const o = i * PER_LAYER,
            f = l.fwd;
          stats[o + H.PREACT_MEAN] = f.preactMean;
          stats[o + H.PREACT_VAR] = f.preactVar;
          stats[o + H.ACT_MEAN] = f.actMean;
          stats[o + H.ACT_VAR] = f.actVar;
          stats[o + H.SATURATED] = l.saturatedCount;
          alive[i]!.set(l.alive);
        });
      } else {
        const cancelled = (): boolean => Atomics.load(ctl, CANCEL) === seen;
        const part = backwardDealer(
          ctl,
          net.input,
          row0 + B,
          init.layers.length,
          init.chunks.macs,
          SPIN_HELPER,
          cancelled,
        );
        backwardShare(net, B, row0, part);
        net.layers.forEach((l, i) => {
          const o = i * PER_LAYER;
          stats[o + H.GRAD_MEAN] = l.gradMean;
          stats[o + H.GRAD_VAR] = l.gradVar;
          stats[o + H.GRAD_COUNT] = part.gradCount[i]!;
        });
      }
      Atomics.store(ctl, STATUS, 0);
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).slice(0, error.length - 1);
      error.fill(0);
      for (let i = 0; i < msg.length; i++) error[i] = msg.charCodeAt(i);
      Atomics.store(ctl, STATUS, 1);
    }
    Atomics.store(ctl, DONE, seen);
    Atomics.notify(ctl, DONE);
  }
}
