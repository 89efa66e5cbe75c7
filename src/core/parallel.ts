/**
 * Data parallelism over two threads, on the same memory (the network's arena is a shared
 * WebAssembly memory, or for the TS kernels a SharedArrayBuffer), so the helper thread reads the
 * weights and the batch in place and writes its rows of Z, A and dZ where the main thread's loss
 * and the next step expect them.
 *
 * The work is dealt out in chunks (chunks.ts): guided chunks, in pairs of a quarter of what is
 * left each, down to ~2M multiply-adds a GEMM call (or two halves of what is left), this
 * thread taking them from the front and the helper from the back, so a thread slowed by this
 * machine's other work takes fewer chunks instead of holding the other up, and two of equal pace
 * keep the same rows and units step after step (the lines they write stay in their own cache).
 * Forward: chunks of rows, each run through every layer. Backward: chunks of rows, each through every layer from the
 * output's f' down (dA = dZ·W, then f' of the layer below: rows are independent), then, once both
 * threads are done with them (one barrier), chunks of units of ∂W = dZᵀ·A over all B rows, layer
 * after layer (so there is no second gradient buffer and no reduction, and each GEMM keeps the
 * whole batch as its depth). Optimiser: each thread updates the units whose ∂W it computed (rows
 * of W, entries of b: chunks.updateOwned), from the gradients in its own cache. Where the first
 * layer holds most weights (network.ownsFirstLayer), each thread instead computes half of its
 * units over all rows in the forward pass (then a barrier), their ∂W and their update: each
 * thread then reads and writes only its half of W₁ (a line of W that both cores hold is slow to
 * write).
 *
 * Per step, over an Int32Array of a SharedArrayBuffer with Atomics:
 *   main: FORWARD(B) → chunks of rows, each with its rows' terms of the loss and ∂L/∂Y → wait
 *           → merge statistics → the loss from the rows' terms, in row order
 *         → BACKWARD → chunks of rows of every layer's dZ (f', dA) → barrier → chunks of units
 *           of every layer's ∂W
 *         → wait → merge → clip → UPDATE(t) → copy the next batch (each thread into its own
 *           input), then the units whose ∂W this thread computed → wait → add sums.
 * The optimiser's parts run with each thread's own view of the optimiser state (laid out in
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
import type { Network } from './network';
import type { ForwardPass, NextBatch, StepBatch, StepEngine } from './step-engine';
import type { BatchLoss } from './losses';
import { lossOfTerms } from './losses';
import type { SharedBatches } from './data';
import type { ForwardStats, GradStats } from './layer-stats';
import { ForwardMoments, GradMoments } from './layer-stats';
import type { KernelSharing, ParamState } from './kernels';
import { UPDATE_SUMS } from './kernels';
import { Updater } from './optimizers';
import type { SplitChunks } from './chunks';
import type { ChunkTaker } from './chunks';
import { CHUNK_MIN_MACS, chunkTaker, ForwardTally, forwardChunks, updateOwned } from './chunks';
import type { SpawnHelper, ThreadPart } from './split-protocol';
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
  FILL_AT,
  FILL_TO,
  TAKEN,
  FORWARD,
  BACKWARD,
  UPDATE,
  EXIT,
  SHARPNESS,
  ERROR_BYTES,
  spinWhile,
  SPIN_MAIN,
  CONTROL_BYTES,
  ticketBytes,
  ticketsOf,
  PER_LAYER,
  STATS_PER_LAYER,
  HELPER_STATS as H,
  arrive,
  backwardShare,
  backwardDealer,
  threadPart,
  layout,
} from './split-protocol';
import { firstLayerUnits, ownsFirstLayer } from './network';
import type { LossName } from './spec';
import type { RemoteSharpness, SharpnessResult } from './split-sharpness';
import { SHARPNESS_AT, sharpnessBuffer } from './split-sharpness';
import { mapPacked } from './packed';

/**
 * The main thread's side of a batch split: starts the helper, deals chunks of the batch to both
 * threads, merges their statistics; and hands λmax evaluations to the helper (split-sharpness.ts).
 */
export class BatchSplit implements StepEngine, RemoteSharpness {
  private readonly ctl: Int32Array;
  /** This thread's end of the chunks dealt (the front). */
  private readonly taker: ChunkTaker;
  private readonly stats: Float64Array;
  /** The helper's forward moments, read from its record (the live flags in place). */
  private readonly theirs: ForwardMoments[];
  private readonly grads: GradMoments[];
  private readonly error: Uint16Array;
  private readonly thread: { terminate(): void };
  private readonly tally: ForwardTally;
  private readonly updater: Updater;
  private seq = 0;
  private closed = false;
  /** The step whose batch the helper's own input holds (−1: none yet). */
  private helperBatch = -1;
  /**
   * This thread's own part of a backward pass: its moments of dZ, the units whose ∂W it computed
   * in the last one (it updates them), and its half of the first layer's units where they are
   * split (network.ownsFirstLayer).
   */
  private readonly part: ThreadPart;
  /** λmax's buffer (split-sharpness.ts), where the run measures it. */
  private readonly sharpness: Float64Array | null = null;
  private readonly targetSize: number = 0;
  /** Whether the helper is evaluating λmax (or has, and its result is not read yet). */
  private pending = false;
  /** Whether the helper has copied the pending evaluation's state (TAKEN). */
  private taken = false;

  constructor(
    private readonly net: Network,
    layers: readonly LayerSpec[],
    training: TrainingSpec,
    /** The optimiser state, allocated after the network from its arena (the helper lays out the same). */
    states: readonly { W: ParamState; b: ParamState }[],
    /**
     * The run's loss (its targets and terms on shared memory): each thread computes its rows' terms
     * and ∂L/∂Y in the forward pass, this one adds the terms up.
     */
    private readonly loss: BatchLoss,
    /** Where the network's arrays live, and how the helper builds its kernels over them. */
    sharing: KernelSharing,
    spawn: SpawnHelper,
    private readonly chunks: SplitChunks = { macs: CHUNK_MIN_MACS },
    /**
     * Where the helper copies each batch into its own input from (the network lays that input out:
     * Network's `secondInput`); without it the helper reads this thread's X.
     */
    private readonly batches: SharedBatches | null = null,
    /** Where the run measures λmax: the helper evaluates it (startSharpness), with these targets, loss and seed. */
    sharpness: { targetSize: number; loss: LossName; seed: number } | null = null,
  ) {
    const { memory, variant, module, native } = sharing;
    const sharp = sharpness ? { ...sharpness, buffer: sharpnessBuffer(net.maxBatch, sharpness.targetSize) } : null;
    if (sharp) {
      this.sharpness = new Float64Array(sharp.buffer);
      this.targetSize = sharp.targetSize;
    }
    const control = new SharedArrayBuffer(CONTROL_BYTES + ticketBytes(layers.length));
    const { aliveAt, bytes } = layout(layers);
    const stats = new SharedArrayBuffer(bytes);
    this.ctl = new Int32Array(control, 0, 16);
    this.taker = chunkTaker(ticketsOf(control, layers.length), 0);
    this.error = new Uint16Array(control, 64, ERROR_BYTES / 2);
    this.stats = new Float64Array(stats, 0, layers.length * STATS_PER_LAYER);
    this.theirs = layers.map(
      (l, i) => new ForwardMoments(l.activation, l.units, new Uint8Array(stats, aliveAt[i]!, l.units)),
    );
    this.grads = layers.map(() => new GradMoments());
    this.tally = new ForwardTally(net);
    this.part = threadPart(
      layers.length,
      ownsFirstLayer(layers, net.inputSize) ? firstLayerUnits(layers[0]!.units, 0) : null,
    );
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
      ...(module ? { module } : {}),
      ...(native ? { native } : {}),
      chunks,
      ...(batches ? { batches } : {}),
      ...(sharp ? { sharpness: sharp } : {}),
      loss,
    });
  }

  /**
   * Starts the helper on a pass: forward or backward (row0 = 0, rows = B: chunks of the batch),
   * or update (chunks of every tensor for optimiser step row0 = t).
   */
  private start(op: 'forward' | 'backward' | 'update' | 'sharpness', row0: number, rows: number): void {
    const c = this.ctl;
    if (this.pending) throw new Error('the helper thread is still evaluating λmax');
    if (op !== 'update') Atomics.store(c, BAR, 0);
    this.taker.tickets.fill(0);
    Atomics.store(
      c,
      OP,
      op === 'forward' ? FORWARD : op === 'backward' ? BACKWARD : op === 'update' ? UPDATE : SHARPNESS,
    );
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
    let v = Atomics.load(c, DONE),
      slept = 0;
    if (v !== seq) v = spinWhile(c, DONE, v, SPIN_MAIN);
    for (; v !== seq; v = Atomics.load(c, DONE)) {
      Atomics.wait(c, DONE, v, 50);
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
   * The forward pass of B rows over both threads: chunks of rows from both ends until none is
   * left, then the helper's statistics merged into ours. Null when `abort` answered true.
   */
  forward(B: number, abort?: () => boolean, batch?: StepBatch): ForwardPass | null {
    const ctl = this.ctl;
    // a step after one on this thread alone: the helper copies its batch first
    this.helperCopies(batch && batch.step !== this.helperBatch ? batch : undefined);
    this.start('forward', 0, B);
    // the first layer's halves meet at a barrier
    const ended = this.stopWaiting(abort);
    const units = this.part.first,
      first = units ? { units, barrier: () => arrive(ctl, 1, SPIN_MAIN, ended) } : undefined;
    const loss = this.loss;
    const done = forwardChunks(this.net, this.taker, B, this.tally, this.chunks.macs, abort, first, loss) >= 0;
    return this.settle(done, abort, () => ({
      layers: this.mergeForward(),
      loss: lossOfTerms(loss, B, this.net.output.units, this.net.dtype === 'float32'),
    }));
  }

  /**
   * When a barrier stops waiting for the helper: `abort` answered true, or the helper's pass ended
   * (an error: it never arrives).
   */
  private stopWaiting(abort?: () => boolean): () => boolean {
    return () => (abort?.() ?? false) || Atomics.load(this.ctl, DONE) === this.seq;
  }

  /**
   * The end of a pass with a barrier: this thread's part abandoned (the helper is told to leave
   * the barrier, and its error thrown), or the helper waited for and its part merged.
   */
  private settle<T>(done: boolean, abort: (() => boolean) | undefined, merge: () => T): T | null {
    if (!done) {
      this.cancel();
      this.throwIfFailed();
      return null;
    }
    if (!this.wait(abort)) {
      this.cancel();
      return null;
    }
    return merge();
  }

  /**
   * The backward pass of B rows over both threads: chunks of rows through every layer (f', dA),
   * then, once both are done, chunks of ∂W's units layer after layer; the helper's gradient
   * statistics merged into ours. Null when `abort` answered true.
   */
  backward(B: number, abort?: () => boolean): readonly GradStats[] | null {
    this.start('backward', 0, B);
    const net = this.net,
      ended = this.stopWaiting(abort);
    const share = backwardDealer(
      this.ctl,
      this.taker,
      net.input,
      B,
      net.layers,
      this.chunks.macs,
      SPIN_MAIN,
      ended,
      this.part,
    );
    return this.settle(backwardShare(net, share, abort), abort, () => this.mergeBackward(share.grad));
  }

  /**
   * Optimiser step t over both threads: each copies the next batch into its input (this thread
   * into X, the helper into its own from the shared data set, where it has one: a line that one
   * core writes and the other reads costs both), then takes chunks of the tensors until none is
   * left; the helper's sums add to ours. Waited for without `abort`: an update is applied whole.
   */
  update(t: number, next?: NextBatch): Float64Array {
    const out = this.updater.out;
    this.helperCopies(next);
    this.start('update', t, 0);
    next?.copy(0, next.rows);
    this.updater.t = t;
    updateOwned(this.updater, this.part.owned);
    this.wait();
    const at = this.net.layers.length * PER_LAYER;
    for (let j = 0; j < out.length; j++) out[j] = out[j]! + this.stats[at + j]!;
    return out;
  }

  /** Tells the helper to copy `batch` into its own input with the next pass (none: nothing to copy). */
  private helperCopies(batch: StepBatch | undefined): void {
    const c = this.ctl,
      copy = batch !== undefined && this.batches !== null;
    Atomics.store(c, FILL_AT, copy ? batch.start : 0);
    Atomics.store(c, FILL_TO, copy ? batch.rows : 0);
    if (copy) this.helperBatch = batch.step;
  }

  /** This thread's forward moments with the helper's folded in, as a step reports them. */
  private mergeForward(): ForwardStats[] {
    const s = this.stats;
    return mapPacked(this.tally.moments, (mine, i) => {
      const o = i * PER_LAYER,
        t = this.theirs[i]!;
      t.n = s[o + H.COUNT]!;
      t.zMean = s[o + H.PREACT_MEAN]!;
      t.zVar = s[o + H.PREACT_VAR]!;
      t.aMean = s[o + H.ACT_MEAN]!;
      t.aVar = s[o + H.ACT_VAR]!;
      t.saturated = s[o + H.SATURATED]!;
      mine.add(t);
      return mine.stats();
    });
  }

  /** Tells the helper that the main thread abandoned the pass (it leaves any barrier). */
  private cancel(): void {
    Atomics.store(this.ctl, CANCEL, this.seq);
    Atomics.notify(this.ctl, BAR);
  }

  /** This thread's moments of dZ with the helper's folded in. */
  private mergeBackward(mine: readonly GradMoments[]): GradStats[] {
    const s = this.stats;
    return mapPacked(mine, (m, i) => {
      const o = i * PER_LAYER,
        g = this.grads[i]!;
      g.clear();
      g.add(m.n, m.mean, m.var);
      g.add(s[o + H.GRAD_COUNT]!, s[o + H.GRAD_MEAN]!, s[o + H.GRAD_VAR]!);
      return g;
    });
  }

  get sharpnessPending(): boolean {
    return this.pending;
  }

  /**
   * Hands λmax of the batch loss over B rows, at the parameters and passes the network holds, to
   * the helper (with the batch's targets). The helper first copies them: W, X, Z, A and δ stay
   * as they are until `sharpnessTaken` returns. Until its result is read (sharpnessResult), the
   * helper serves no pass: the steps meanwhile run on this thread alone.
   */
  startSharpness(B: number, targets: Float64Array): void {
    const buf = this.sharpness;
    if (!buf) throw new Error('this split was made without a λmax buffer');
    buf.set(targets.subarray(0, B * this.targetSize), SHARPNESS_AT.TARGETS);
    this.helperCopies(undefined);
    this.start('sharpness', 0, B);
    this.pending = true;
    this.taken = false;
  }

  /** Waits until the helper has copied what the pending evaluation needs (TAKEN), or ended it in an error (thrown). */
  sharpnessTaken(): void {
    if (!this.pending || this.taken) return;
    const c = this.ctl,
      seq = this.seq;
    // (a helper that fails sets DONE, not TAKEN: the spin then runs out, and DONE ends the wait)
    let t = Atomics.load(c, TAKEN),
      slept = 0;
    if (t !== seq && Atomics.load(c, DONE) !== seq) t = spinWhile(c, TAKEN, t, SPIN_MAIN);
    for (; t !== seq && Atomics.load(c, DONE) !== seq; t = Atomics.load(c, TAKEN)) {
      Atomics.wait(c, TAKEN, t, 50);
      slept += 50;
      if (slept >= 30000 && Atomics.load(c, READY) === 0)
        throw new Error('the helper thread did not start within 30 s');
    }
    this.taken = true;
    if (Atomics.load(c, DONE) === seq && Atomics.load(c, STATUS) !== 0) {
      this.pending = false;
      this.throwIfFailed();
    }
  }

  /**
   * λmax and the products it took, once the helper is done (waited for where `block`, in slices
   * that ask `abort`); null when none is pending, or it is not in yet (still pending then).
   */
  sharpnessResult(block: boolean, abort?: () => boolean): SharpnessResult | null {
    const buf = this.sharpness;
    if (!this.pending || !buf) return null;
    if (!block && Atomics.load(this.ctl, DONE) !== this.seq) return null;
    try {
      if (!this.wait(abort)) return null;
    } finally {
      // (a helper error ends the evaluation: it is thrown, once)
      if (Atomics.load(this.ctl, DONE) === this.seq) this.pending = false;
    }
    return { lambdaMax: buf[SHARPNESS_AT.LAMBDA]!, iterations: buf[SHARPNESS_AT.ITERATIONS]! };
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
