/**
 * The helper thread's side of the batch split (parallel.ts has the main thread's): it builds the
 * same network over the shared arena (the same allocation order, so the same addresses) and serves
 * forward, backward and update passes until told to exit.
 */
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
  FORWARD,
  UPDATE,
  EXIT,
  ERROR_BYTES,
  SPIN_HELPER,
  PER_LAYER,
  STATS_PER_LAYER,
  HELPER_STATS as H,
  backwardShare,
  backwardDealer,
  layout,
} from './split-protocol';
import { Network } from './network';
import { SharedTsKernels } from './dense';
import { Updater } from './optimizers';
import { ForwardTally, forwardChunks, updateChunks } from './chunks';
import { WasmKernels } from './wasm-kernels';

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
    net = new Network(init.layers, init.inputSize, init.dtype, init.maxBatch, kernels, init.training.optimizer);
    if (net.kernels !== kernels) throw new Error('the kernels are not available in the helper thread');
    const n = net;
    updater = new Updater(init.training, n.kernels, n.layers, n.states, stats, init.layers.length * PER_LAYER);
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
