/**
 * Data parallelism over two threads. A step's batch rows are split: the main thread runs rows
 * [0, B₀), a helper thread rows [B₀, B), both on the same WebAssembly memory (the network's arena
 * is shared), so the helper reads the weights and the batch in place and writes its rows of Z, A
 * and dZ where the main thread's loss and the next step expect them.
 *
 * The weight gradients are split by units instead: once both threads have their rows of a
 * layer's dZ (a barrier), each computes its units' rows of ∂W = dZᵀ·A over all B rows. So there
 * is no second gradient buffer and no reduction, and each GEMM keeps the whole batch as its depth.
 *
 * Per step, over an Int32Array of a SharedArrayBuffer with Atomics:
 *   main: fill batch → FORWARD(B₀, B₁) → own rows → wait → merge statistics → loss, ∂L/∂Y
 *         → BACKWARD → per layer: own rows of dZ, barrier, own units of ∂W, own rows of dA
 *         → wait → merge → clip → UPDATE(t) → the lower part of every tensor → wait → add sums.
 * The helper steps the upper part of each tensor with its own view of the optimiser state (laid
 * out in the same order, optimizers.newLayerStates); the update's sums are plain sums and add.
 * Statistics merge exactly: per-thread means and population variances combine by Chan's formula
 *   n = nₐ + n_b, δ = μ_b − μₐ, μ = μₐ + δ·n_b/n, M₂ = σₐ²nₐ + σ_b²n_b + δ²nₐn_b/n, σ² = M₂/n,
 * dead units are the units alive in neither half, saturated counts add.
 *
 * Only ECMAScript here (Atomics, SharedArrayBuffer): the host injects how a helper thread is
 * started (`SpawnHelper`), and that thread calls `runHelper` with the `HelperInit` it was given.
 */
import type { LayerSpec, TrainingSpec } from './spec';
import type { BackwardSplit } from './network';
import { Network } from './network';
import type { FArray } from './dense';
import { newLayerStates, stateCopies, updateTensors, UpdateSums } from './optimizers';
import type { WasmVariant } from './wasm-kernels';
import { WasmKernels } from './wasm-kernels';

/** What the helper thread is started with (structured-cloneable: shared buffers and plain data). */
export interface HelperInit {
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  layers: LayerSpec[];
  inputSize: number;
  maxBatch: number;
  training: TrainingSpec;
  variant: WasmVariant;
}

/** Starts a thread that calls runHelper(init); terminate() ends it. */
export type SpawnHelper = (init: HelperInit) => { terminate(): void };

// Control words.
const CMD = 0, OP = 1, ROW0 = 2, ROWS = 3, DONE = 4, STATUS = 5, READY = 6, BAR = 7, CANCEL = 8;
const FORWARD = 1, BACKWARD = 2, UPDATE = 3, EXIT = 4;
const ERROR_BYTES = 1024;
/** The control block's layout (Int32 indices; the helper's error text, UTF-16, from byte 64). */
export const HELPER_PROTOCOL = { CMD, OP, ROW0, ROWS, DONE, STATUS, READY, BAR, CANCEL, FORWARD, BACKWARD, UPDATE, EXIT, ERROR_AT: 64 } as const;
/**
 * Atomics.load polls (~10–30 ns each here) before sleeping on a futex, whose wake-up takes tens of
 * µs on a VM: both threads poll ~1–3 ms, which covers the other's part of a step (the main
 * thread's loss, clipping and events in between included), then sleep.
 */
const SPIN_MAIN = 100_000, SPIN_HELPER = 100_000;
const CONTROL_BYTES = 64 + ERROR_BYTES;
// Per layer in the stats buffer (float64): preactMean, preactVar, actMean, actVar, saturated, gradMean, gradVar.
const PER_LAYER = 7;

/** A step's rows for the main thread: a multiple of 4 (the GEMMs' row block), about half. */
export function mainRows(B: number): number {
  return Math.min(B, 4 * Math.ceil(B / 8));
}

/** The main thread's units of a layer of U (the helper takes the rest): all of a narrow one. */
export function unitSplit(U: number): number {
  return U < 16 ? U : mainRows(U);
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

/** A thread's part in a backward pass of the split, for Network.backward. */
function backwardSplit(ctl: Int32Array, X: FArray, rows: number, main: boolean, spin: number, stop: () => boolean): BackwardSplit {
  let n = 0;
  return {
    rows, X,
    units: (U) => { const u = unitSplit(U); return main ? [0, u] : [u, U]; },
    barrier: () => arrive(ctl, ++n, spin, stop),
  };
}

/** How many values of a tensor of n the main thread updates (the helper the rest): all of a small one. */
export function updateSplit(n: number): number {
  return n < 64 ? n : mainRows(n);
}

/** The main thread's part of a tensor of n values in the update, and the helper's. */
export const lowerPart = (n: number): readonly [number, number] => [0, updateSplit(n)];
export const upperPart = (n: number): readonly [number, number] => [updateSplit(n), n];


/** Both halves' (n, mean, population variance) as one. */
export function mergeMoments(na: number, ma: number, va: number, nb: number, mb: number, vb: number): { mean: number; var: number } {
  const n = na + nb;
  if (nb === 0) return { mean: ma, var: va };
  if (na === 0) return { mean: mb, var: vb };
  const d = mb - ma;
  return { mean: ma + (d * nb) / n, var: (va * na + vb * nb + (d * d * na * nb) / n) / n };
}

/** The stats buffer: per-layer statistics, then 10 update sums a layer (W, b), then alive flags. */
function layout(layers: readonly LayerSpec[]): { aliveAt: number[]; bytes: number } {
  let at = layers.length * (PER_LAYER + 10) * 8;
  const aliveAt = layers.map((l) => { const a = at; at += l.units; return a; });
  return { aliveAt, bytes: at };
}

/** The main thread's side: starts the helper, hands it rows, merges what it computed. */
export class RowSplit {
  private readonly ctl: Int32Array;
  private readonly stats: Float64Array;
  private readonly alive: Uint8Array[];
  private readonly error: Uint16Array;
  private readonly thread: { terminate(): void };
  private seq = 0;
  private closed = false;

  constructor(private readonly net: Network, layers: readonly LayerSpec[], training: TrainingSpec, kernels: WasmKernels, variant: WasmVariant, spawn: SpawnHelper) {
    const memory = kernels.sharedMemory;
    if (!memory) throw new Error('RowSplit needs a network in a shared WebAssembly arena');
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const { aliveAt, bytes } = layout(layers);
    const stats = new SharedArrayBuffer(bytes);
    this.ctl = new Int32Array(control, 0, 16);
    this.error = new Uint16Array(control, 64, ERROR_BYTES / 2);
    this.stats = new Float64Array(stats, 0, layers.length * (PER_LAYER + 10));
    this.alive = layers.map((l, i) => new Uint8Array(stats, aliveAt[i]!, l.units));
    this.thread = spawn({ memory, control, stats, layers: [...layers], inputSize: net.inputSize, maxBatch: net.maxBatch, training, variant });
  }

  /**
   * Hands the helper rows [row0, row0 + rows) of the current batch for a forward or backward
   * pass, or (update) the upper part of every tensor for optimiser step row0 = t.
   */
  start(op: 'forward' | 'backward' | 'update', row0: number, rows: number): void {
    const c = this.ctl;
    if (op === 'backward') Atomics.store(c, BAR, 0);
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
  wait(shouldStop?: () => boolean): boolean {
    const c = this.ctl, seq = this.seq;
    for (let i = 0; i < SPIN_MAIN && Atomics.load(c, DONE) !== seq; i++);
    let slept = 0;
    while (Atomics.load(c, DONE) !== seq) {
      Atomics.wait(c, DONE, Atomics.load(c, DONE), 50);
      slept += 50;
      if (shouldStop?.()) return false;
      if (slept >= 30000 && Atomics.load(c, READY) === 0) throw new Error('the helper thread did not start within 30 s');
    }
    this.throwIfFailed();
    return true;
  }

  /** Throws the helper's error when its current pass ended in one. */
  throwIfFailed(): void {
    if (Atomics.load(this.ctl, DONE) === this.seq && Atomics.load(this.ctl, STATUS) !== 0) {
      const n = this.error.indexOf(0);
      throw new Error(`helper thread: ${String.fromCharCode(...this.error.subarray(0, n < 0 ? this.error.length : n))}`);
    }
  }

  /** Folds the helper's forward statistics (rows1 rows) into the main thread's (rows0 rows). */
  mergeForward(rows0: number, rows1: number): void {
    const s = this.stats;
    this.net.layers.forEach((l, i) => {
      const o = i * PER_LAYER, na = rows0 * l.units, nb = rows1 * l.units, f = l.fwd;
      const z = mergeMoments(na, f.preactMean, f.preactVar, nb, s[o]!, s[o + 1]!);
      const a = mergeMoments(na, f.actMean, f.actVar, nb, s[o + 2]!, s[o + 3]!);
      let dead: number | null = null;
      if (f.dead !== null) {
        dead = 0;
        const other = this.alive[i]!;
        for (let u = 0; u < l.units; u++) if (l.alive[u] === 0 && other[u] === 0) dead++;
      }
      l.fwd = {
        preactMean: z.mean, preactVar: z.var, actMean: a.mean, actVar: a.var, dead,
        saturated: f.saturated === null ? null : (l.saturatedCount + s[o + 4]!) / (na + nb),
      };
    });
  }

  /** The main thread's part in the backward pass of a batch of `rows` rows. */
  backwardSplit(rows: number, stop: () => boolean = () => false): BackwardSplit {
    // A helper whose pass ended (an error) never arrives: stop waiting for it then.
    const ended = (): boolean => stop() || Atomics.load(this.ctl, DONE) === this.seq;
    return backwardSplit(this.ctl, this.net.input, rows, true, SPIN_MAIN, ended);
  }

  /** Tells the helper that the main thread abandoned the pass (it leaves any barrier). */
  cancel(): void {
    Atomics.store(this.ctl, CANCEL, this.seq);
    Atomics.notify(this.ctl, BAR);
  }

  /** Folds the helper's gradient statistics (over its rows of dZ) into the main thread's. */
  mergeBackward(rows0: number, rows1: number): void {
    const s = this.stats;
    this.net.layers.forEach((l, i) => {
      const o = i * PER_LAYER;
      const g = mergeMoments(rows0 * l.units, l.gradMean, l.gradVar, rows1 * l.units, s[o + 5]!, s[o + 6]!);
      l.gradMean = g.mean;
      l.gradVar = g.var;
    });
  }

  /** Adds the helper's update sums (per tensor: Σ(Δθ)², Σθ, Σθ², Σg, Σg²) to `out`. */
  addUpdateSums(out: Float64Array): void {
    const at = this.net.layers.length * PER_LAYER;
    for (let j = 0; j < out.length; j++) out[j] = out[j]! + this.stats[at + j]!;
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
  let states: ReturnType<typeof newLayerStates> = [];
  const acc = new UpdateSums();
  let failure: string | null = null;
  try {
    stats = new Float64Array(init.stats, 0, init.layers.length * (PER_LAYER + 10));
    const { aliveAt } = layout(init.layers);
    alive = init.layers.map((l, i) => new Uint8Array(init.stats, aliveAt[i]!, l.units));
    const kernels = new WasmKernels(init.variant);
    kernels.attach(init.memory);
    net = new Network(init.layers, init.inputSize, 'float32', init.maxBatch, kernels, stateCopies(init.training.optimizer));
    if (net.kernels !== kernels) throw new Error('the WebAssembly kernels are not available in the helper thread');
    const n = net;
    states = newLayerStates(n.layers, init.training.optimizer, (k) => n.alloc(k));
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  Atomics.store(ctl, READY, 1);
  let seen = 0;
  for (;;) {
    for (let i = 0; i < SPIN_HELPER && Atomics.load(ctl, CMD) === seen; i++);
    while (Atomics.load(ctl, CMD) === seen) Atomics.wait(ctl, CMD, seen, 1000);
    seen = Atomics.load(ctl, CMD);
    const op = Atomics.load(ctl, OP), row0 = Atomics.load(ctl, ROW0), B = Atomics.load(ctl, ROWS);
    if (op === EXIT) return;
    try {
      if (failure || !net) throw new Error(failure ?? 'no network');
      const X = net.input.subarray(row0 * init.inputSize, (row0 + B) * init.inputSize);
      if (op === UPDATE) {
        // the upper part of every tensor; row0 carries the step t
        updateTensors(init.training, net.kernels, net.layers, states, row0, upperPart, stats, init.layers.length * PER_LAYER, acc);
      } else if (op === FORWARD) {
        net.forward(X, B, undefined, row0);
        net.layers.forEach((l, i) => {
          const o = i * PER_LAYER, f = l.fwd;
          stats[o] = f.preactMean; stats[o + 1] = f.preactVar; stats[o + 2] = f.actMean; stats[o + 3] = f.actVar;
          stats[o + 4] = l.saturatedCount;
          alive[i]!.set(l.alive);
        });
      } else {
        const cancelled = (): boolean => Atomics.load(ctl, CANCEL) === seen;
        net.backward(X, B, undefined, row0, backwardSplit(ctl, net.input, row0 + B, false, SPIN_HELPER, cancelled));
        net.layers.forEach((l, i) => { stats[i * PER_LAYER + 5] = l.gradMean; stats[i * PER_LAYER + 6] = l.gradVar; });
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
