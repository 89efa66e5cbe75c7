/**
 * How the batch split (parallel.ts) deals its work out: guided chunks of rows, units or values,
 * each taken from a shared ticket counter by compare-and-swap, so a thread slowed by the
 * machine's other work takes fewer instead of holding the other up. Chunk sizes depend only on
 * shapes, so both threads deal the same chunks. Also here: a thread's part of the forward pass
 * (chunks of rows, their statistics merged) and of the optimiser step (chunks of values).
 */
import { ForwardMoments } from './layer-stats';
import type { Network } from './network';
import type { Updater } from './optimizers';

/** The control block's word (Int32 index) the tickets are counted in; split-protocol.ts lays out the others. */
export const TICKET = 9;

/** How small the split's chunks get: multiply-adds of a GEMM call, values of an optimiser call. */
export interface SplitChunks {
  macs: number;
  values: number;
}
/** Multiply-adds a GEMM call of a chunk should have at least, so calls and merges stay cheap. */
export const CHUNK_MIN_MACS = 250_000;
const ceil4 = (x: number): number => 4 * Math.ceil(x / 4);

/**
 * Guided chunks of n items, in pairs of equal size: a pair's chunks are each a quarter of what is
 * left, rounded up to a multiple of 4 (the GEMMs' row block), at least `min`; the last takes the
 * rest. Big chunks first keep the hand-outs few, small ones last keep short the wait for the
 * other thread's last chunk, and pairs give two threads of equal speed equal work, so that they
 * finish together: n = 64, min 8: 16 16 8 8 8 8.
 */
function chunkSize(left: number, min: number, c: number, prev: number): number {
  return Math.min(left, c % 2 === 1 ? prev : Math.max(min, ceil4(left / 4)));
}

/** How many guided chunks n items make. */
export function chunkCount(n: number, min: number): number {
  let c = 0;
  for (let s = 0, size = 0; s < n; c++) {
    size = chunkSize(n - s, min, c, size);
    s += size;
  }
  return c;
}

/** Items [from, to) of guided chunk c of n, into `out`. */
export function chunkRange(n: number, min: number, c: number, out: [number, number]): [number, number] {
  let s = 0,
    size = 0;
  for (let i = 0; i < c; i++) {
    size = chunkSize(n - s, min, i, size);
    s += size;
  }
  out[0] = s;
  out[1] = s + chunkSize(n - s, min, c, size);
  return out;
}

/**
 * The least rows of a chunk that runs through every layer from `from` on (forward, and the
 * backward pass's dA): 8 (a chunk costs ~5 µs of calls and merges), or enough that a layer's GEMM
 * of it has ~minMacs on average.
 */
export function rowChunkMin(
  layers: readonly { fanIn: number; units: number }[],
  minMacs = CHUNK_MIN_MACS,
  from = 0,
): number {
  let macs = 0;
  for (let i = from; i < layers.length; i++) macs += layers[i]!.fanIn * layers[i]!.units;
  return Math.max(8, ceil4((minMacs * (layers.length - from)) / Math.max(1, macs)));
}

/** The least units of a chunk of ∂W (over K inputs and `rows` rows): 8, or enough for ~minMacs. */
export function unitChunkMin(K: number, rows: number, minMacs = CHUNK_MIN_MACS): number {
  return Math.max(8, ceil4(minMacs / Math.max(1, K * rows)));
}

/**
 * Takes the next ticket below `end` from the shared counter (compare-and-swap, so it never passes
 * `end` and the next range starts exactly there), or returns −1 when none is left.
 */
export function claim(ctl: Int32Array, end: number): number {
  for (;;) {
    const c = Atomics.load(ctl, TICKET);
    if (c >= end) return -1;
    if (Atomics.compareExchange(ctl, TICKET, c, c + 1) === c) return c;
  }
}

/**
 * One thread's forward moments over the chunks it ran (layer-stats.ForwardMoments: merged by
 * Chan's formula, live units OR-ed, saturated counts added). Allocated once a network.
 */
export class ForwardTally {
  readonly moments: ForwardMoments[];
  constructor(net: Network) {
    this.moments = net.layers.map((l) => new ForwardMoments(l.act.name, l.units));
  }

  reset(): void {
    for (const m of this.moments) m.clear();
  }

  /** Folds in a chunk's moments, as net.forward returned them (of layers `from` on). */
  add(chunk: readonly ForwardMoments[], from = 0): void {
    for (let i = from; i < chunk.length; i++) this.moments[i]!.add(chunk[i]!);
  }
}

/** A thread's part in a split whose first layer is split by units (network.ownsFirstLayer). */
interface FirstLayerShare {
  /** The units [u0, u1) of the first layer this thread computes, differentiates and updates. */
  units: readonly [number, number];
  /** Waits until both threads have their halves of the first layer; false when abandoned. */
  barrier(): boolean;
}

/**
 * A thread's part of a forward pass of B rows: chunks of rows from the ticket counter, each
 * through every layer, their moments merged in `tally`; returns this thread's rows, or −1 when
 * `abort` answered true.
 */
export function forwardChunks(
  net: Network,
  ctl: Int32Array,
  B: number,
  tally: ForwardTally,
  minMacs = CHUNK_MIN_MACS,
  abort?: () => boolean,
  first?: FirstLayerShare,
): number {
  // the first layer by halves of its units (then a barrier), or with the rest by rows
  const from = first ? 1 : 0;
  const min = rowChunkMin(net.layers, minMacs, from),
    chunks = chunkCount(B, min),
    K = net.inputSize;
  const range: [number, number] = [0, 0];
  tally.reset();
  if (first) {
    net.forwardFirstUnits(net.input, B, first.units[0], first.units[1], tally.moments[0]!);
    if (!first.barrier()) return -1;
  }
  let rows = 0;
  for (let c = claim(ctl, chunks); c >= 0; c = claim(ctl, chunks)) {
    const [r0, r1] = chunkRange(B, min, c, range),
      r = r1 - r0;
    const m = net.forward(net.input.subarray(r0 * K, (r0 + r) * K), r, abort, r0, from);
    if (!m) return -1;
    tally.add(m, from);
    rows += r;
  }
  return rows;
}

/** The least values of an optimiser chunk (~13 µs of the WebAssembly pass here). */
export const UPDATE_CHUNK_MIN = 16384;

/**
 * A thread's part of an optimiser step over every tensor (each layer's W, then b): guided chunks
 * of values from the ticket counter, tensor after tensor (a thread's tickets only grow, so it
 * walks the tensors forward). The sums of this thread's chunks add up per tensor in the
 * updater's sums, as Updater.all writes a whole tensor's.
 */
export function updateChunks(
  up: Updater,
  ctl: Int32Array,
  min = UPDATE_CHUNK_MIN,
  first?: readonly [number, number],
): void {
  up.clearSums();
  const layers = up.layers;
  // the first layer's W by this thread's rows of it, where its units are split (then not dealt)
  const k0 = first ? 1 : 0;
  if (first) {
    const K = layers[0]!.W.length / layers[0]!.b.length;
    if (first[1] > first[0]) up.part(0, 0, first[0] * K, first[1] * K);
  }
  const size = (k: number): number => {
    const l = layers[k >> 1]!;
    return (k & 1) === 0 ? l.W.length : l.b.length;
  };
  let total = 0;
  for (let k = k0; k < 2 * layers.length; k++) total += chunkCount(size(k), min);
  const range: [number, number] = [0, 0];
  let k = k0,
    base = 0,
    count = chunkCount(size(k0), min);
  for (let c = claim(ctl, total); c >= 0; c = claim(ctl, total)) {
    while (c >= base + count) {
      base += count;
      k++;
      count = chunkCount(size(k), min);
    }
    const [from, to] = chunkRange(size(k), min, c - base, range);
    up.part(k >> 1, (k & 1) as 0 | 1, from, to);
  }
}
