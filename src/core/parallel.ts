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
import type { LayerSpec, TrainingSpec } from './spec';
import type { ForwardStats, Network } from './network';
import type { GradStats, StepEngine } from './step-engine';
import { gradStats } from './step-engine';
import type { KernelSharing, ParamState } from './kernels';
import { UPDATE_SUMS } from './kernels';
import { Updater } from './optimizers';
import type { SplitChunks } from './chunks';
import { CHUNK_MIN_MACS, ForwardTally, forwardChunks, TICKET, UPDATE_CHUNK_MIN, updateChunks } from './chunks';
import { mergeMoments } from './stats';
import type { SpawnHelper } from './split-protocol';
import {
  CMD,
  OP,
  ROW0,
  ROWS,
  DONE,
  STATUS,
  READY,
  BAR,
  CANCEL,
  FORWARD,
  BACKWARD,
  UPDATE,
  EXIT,
  ERROR_BYTES,
  SPIN_MAIN,
  CONTROL_BYTES,
  PER_LAYER,
  STATS_PER_LAYER,
  HELPER_STATS as H,
  mainRows,
  backwardShare,
  backwardDealer,
  layout,
} from './split-protocol';

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
