/**
 * The helper thread's side of the batch split (parallel.ts has the main thread's): it builds the
 * same network over the shared arena (the same allocation order, so the same addresses) and serves
 * forward, backward and update passes, and λmax evaluations (split-sharpness.ts), until told to exit.
 */
import type { NativeKernels } from './kernels';
import type { HelperInit } from './split-protocol';
import {
  CMD,
  OP,
  ROW0,
  ROWS,
  DONE,
  STATUS,
  READY,
  CANCEL,
  FILL_AT,
  FILL_TO,
  TAKEN,
  FORWARD,
  UPDATE,
  EXIT,
  SHARPNESS,
  ERROR_BYTES,
  ticketsOf,
  ticketBytes,
  SPIN_HELPER,
  spinWhile,
  PER_LAYER,
  STATS_PER_LAYER,
  HELPER_STATS as H,
  arrive,
  backwardShare,
  backwardDealer,
  threadPart,
  layout,
} from './split-protocol';
import { firstLayerUnits, Network, ownsFirstLayer } from './network';
import { SharedTsKernels } from './dense';
import { Updater } from './optimizers';
import { chunkTaker, ForwardTally, forwardChunks, updateOwned } from './chunks';
import { copyBatchRows } from './data';
import { WasmKernels } from './wasm-kernels';
import { NativeWasmKernels } from './native-wasm-kernels';
import { HelperSharpness } from './split-sharpness';

/**
 * The helper thread's loop: builds the same network over the shared arena and serves passes until
 * EXIT. `native`: the host's native products, which a split of native kernels needs (init.native).
 */
export function runHelper(init: HelperInit, native: NativeKernels | null = null): void {
  const ctl = new Int32Array(init.control, 0, 16);
  // this thread takes its chunks from the back
  const taker = chunkTaker(ticketsOf(init.control, init.layers.length), 1);
  const error = new Uint16Array(init.control, 64, ERROR_BYTES / 2);
  let stats: Float64Array = new Float64Array(0);
  let alive: Uint8Array[] = [];
  let net: Network | null = null;
  let updater: Updater | null = null;
  let tally: ForwardTally | null = null;
  // λmax's own network and state, where the run measures it
  let sharpness: HelperSharpness | null = null;
  let failure: string | null = null;
  try {
    stats = new Float64Array(init.stats, 0, init.layers.length * STATS_PER_LAYER);
    const { aliveAt } = layout(init.layers);
    alive = init.layers.map((l, i) => new Uint8Array(init.stats, aliveAt[i]!, l.units));
    let kernels: WasmKernels | SharedTsKernels;
    if (init.native && !native) throw new Error('the native kernels are not available in the helper thread');
    if (init.variant === 'ts') {
      const ts = new SharedTsKernels();
      ts.attach(init.memory as SharedArrayBuffer);
      kernels = ts;
    } else {
      const wasm = wasmKernels(init, init.native ? native : null);
      wasm.attach(init.memory as WebAssembly.Memory);
      kernels = wasm;
    }
    // its own copy of each batch where the main thread lays one out (Network's secondInput)
    net = new Network(
      init.layers,
      init.inputSize,
      init.dtype,
      init.maxBatch,
      kernels,
      init.training.optimizer,
      false,
      init.batches ? 'use' : null,
    );
    if (net.kernels !== kernels) throw new Error('the kernels are not available in the helper thread');
    const n = net;
    updater = new Updater(init.training, n.kernels, n.layers, n.states, stats, init.layers.length * PER_LAYER);
    tally = new ForwardTally(n);
    warmUp(init, native);
    if (init.sharpness) sharpness = new HelperSharpness(init, init.sharpness, n, privateKernels(init, native));
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  Atomics.store(ctl, READY, 1);
  // this thread's half of the first layer's units, where they are split
  const first = ownsFirstLayer(init.layers, init.inputSize) ? firstLayerUnits(init.layers[0]!.units, 1) : null;
  // the units whose ∂W this thread computed in the last backward pass: it updates them
  const part = threadPart(init.layers.length, first),
    owned = part.owned;
  let seen = 0;
  for (;;) {
    while (spinWhile(ctl, CMD, seen, SPIN_HELPER) === seen) Atomics.wait(ctl, CMD, seen, 1000);
    seen = Atomics.load(ctl, CMD);
    const op = Atomics.load(ctl, OP),
      row0 = Atomics.load(ctl, ROW0),
      B = Atomics.load(ctl, ROWS);
    if (op === EXIT) return;
    try {
      if (failure || !net || !tally || !updater) throw new Error(failure ?? 'no network');
      const cancelled = (): boolean => Atomics.load(ctl, CANCEL) === seen;
      // a batch to copy into this thread's own input first (with an update: the next step's)
      const rows = Atomics.load(ctl, FILL_TO);
      if (init.batches && rows > 0)
        copyBatchRows(init.batches, { start: Atomics.load(ctl, FILL_AT), rows }, 0, rows, net.input, net.kernels);
      if (op === SHARPNESS) {
        if (!sharpness) throw new Error('no λmax buffer');
        const cmd = seen;
        sharpness.evaluate(B, () => {
          Atomics.store(ctl, TAKEN, cmd);
          Atomics.notify(ctl, TAKEN);
        });
      } else if (op === UPDATE) {
        // chunks of every tensor; row0 carries the step t
        updater.t = row0;
        updateOwned(updater, owned);
      } else if (op === FORWARD) {
        const share = first ? { units: first, barrier: () => arrive(ctl, 1, SPIN_HELPER, cancelled) } : undefined;
        forwardChunks(net, taker, B, tally, init.chunks.macs, undefined, share, init.loss);
        tally.moments.forEach((m, i) => {
          const o = i * PER_LAYER;
          stats[o + H.COUNT] = m.n;
          stats[o + H.PREACT_MEAN] = m.zMean;
          stats[o + H.PREACT_VAR] = m.zVar;
          stats[o + H.ACT_MEAN] = m.aMean;
          stats[o + H.ACT_VAR] = m.aVar;
          stats[o + H.SATURATED] = m.saturated;
          alive[i]!.set(m.alive);
        });
      } else {
        backwardShare(
          net,
          backwardDealer(ctl, taker, net.input, B, net.layers, init.chunks.macs, SPIN_HELPER, cancelled, part),
        );
        part.grad.forEach((g, i) => {
          const o = i * PER_LAYER;
          stats[o + H.GRAD_MEAN] = g.mean;
          stats[o + H.GRAD_VAR] = g.var;
          stats[o + H.GRAD_COUNT] = g.n;
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

/** How long the helper warms its code up before serving (ms), and at most how many passes. */
const WARM_MS = 150;
const WARM_PASSES = 400;

/** The WebAssembly kernels of the helper's init, with the native code where given. */
function wasmKernels(init: HelperInit, native: NativeKernels | null): WasmKernels {
  const variant = init.variant === 'ts' ? undefined : init.variant;
  return native ? new NativeWasmKernels(native, variant, init.module) : new WasmKernels(variant, init.module);
}

/** Kernels of the run's build over memory of their own (not the shared arena). */
function privateKernels(init: HelperInit, native: NativeKernels | null): SharedTsKernels | WasmKernels {
  return init.variant === 'ts' ? new SharedTsKernels() : wasmKernels(init, init.native ? native : null);
}

/**
 * Runs this thread's passes (forward chunks, a solo share of the backward pass, optimiser chunks)
 * on a small private network of the same activations and optimiser, before the first real pass:
 * a helper that serves only the split's occasional probe steps would otherwise run them in V8's
 * interpreter and baseline code (its first split steps measured 2-7× one thread's on a 30-layer
 * net, and the split governor judged the split by them). Its own arrays and control block: the
 * main thread's run is not touched.
 */
function warmUp(init: HelperInit, native: NativeKernels | null): void {
  const kernels = privateKernels(init, native);
  // the same activations in the same order (at most 6 layers), 16 units wide, 16 rows
  const layers = init.layers.slice(0, 6).map((l) => ({ ...l, units: 16 }));
  const B = 16;
  const net = new Network(layers, 16, init.dtype, B, kernels, init.training.optimizer);
  for (const l of net.layers) {
    for (let i = 0; i < l.W.length; i++) l.W[i] = Math.sin(7 * i + l.index) * 0.3;
  }
  for (let i = 0; i < net.input.length; i++) net.input[i] = Math.cos(3 * i);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const taker = chunkTaker(new Int32Array(ticketBytes(layers.length) / 4), 0);
  const sums = new Float64Array(layers.length * STATS_PER_LAYER);
  const updater = new Updater({ ...init.training, learningRate: 0 }, net.kernels, net.layers, net.states, sums);
  const tally = new ForwardTally(net);
  const part = threadPart(layers.length, null),
    owned = part.owned;
  const t0 = Date.now();
  for (let pass = 0; pass < WARM_PASSES && Date.now() - t0 < WARM_MS; pass++) {
    taker.tickets.fill(0);
    forwardChunks(net, taker, B, tally, 0);
    const out = net.output;
    for (let i = 0; i < B * out.units; i++) out.dZ[i] = ((i % 5) - 2) * 0.01;
    taker.tickets.fill(0);
    // (no other thread: the barrier passes at once; one share of the same shape as a step's)
    backwardShare(
      net,
      backwardDealer(
        ctl,
        taker,
        net.input,
        B,
        net.layers,
        0,
        0,
        () => true,
        part,
        () => true,
      ),
    );
    updater.t = pass + 1;
    updateOwned(updater, owned);
  }
}
