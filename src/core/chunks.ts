/**
 * How the batch split (parallel.ts) deals its work out: guided chunks of rows or units, which
 * one thread takes from the front and the other from the back (an atomic add on a shared word),
 * so a thread slowed by the machine's other work takes fewer instead of holding the other up,
 * and two of equal pace each keep their end, pass after pass. Chunk sizes depend only on shapes,
 * so both threads lay out the same chunks. Also here: a thread's part of the forward pass
 * (chunks of rows, their statistics merged) and of the optimiser step (the units whose ∂W it computed).
 */
import { ForwardMoments } from './layer-stats';
import type { Network } from './network';
import type { Updater } from './optimizers';
import type { BatchLoss } from './losses';
import { lossRows } from './losses';

/** How small the split's chunks get: multiply-adds of a GEMM call. */
export interface SplitChunks {
  macs: number;
}
/**
 * Multiply-adds a GEMM call of a chunk should have at least, so calls and merges stay cheap: a
 * chunk of rows runs through every layer, and on W5 (31 layers of 64 units, batch 256) chunks of
 * 64 rows paid a layer's call and its statistics' merge four times a pass where two halves pay
 * it twice (the split step 1.2–1.3× one thread's speed → 1.4–1.5×). And each chunk's first call
 * waits for the lines of A, dZ or W that the other core wrote (a fixed ~5–10 µs a call on W1's
 * layers of 256): W1 split at 500k dealt its rows 16 at a time and its ∂W 32–64 units; at 2M
 * every pass but the output layer's ∂W goes in two halves (taken from the two ends, so a slowed
 * thread still leaves its half to the other), +5.8 % a split step (500k → 1M → 2M: +2.6 %, +3.2 %,
 * every pair of six faster). W2, W4 and W5 deal the same chunks at either.
 */
export const CHUNK_MIN_MACS = 2_000_000;
const ceil4 = (x: number): number => 4 * Math.ceil(x / 4);

/**
 * Guided chunks of n items, in pairs of equal size: a pair's chunks are each a quarter of what is
 * left, rounded up to a multiple of 4 (the GEMMs' row block), at least `min`, or each half of
 * what is left where a pair of that size would leave less than `min`; the last takes the rest.
 * Big chunks first (each thread takes its end's first) keep the hand-outs few, small ones last
 * (in the middle) keep short the wait for the other thread's last chunk, and pairs give two
 * threads of equal speed equal work, so that they finish together: n = 64, min 8: 16 16 8 8 8 8;
 * n = 256, min 124: 128 128 (without the halves, 124 124 8; and with min 184, 184 72: one thread
 * had most of the work). A pair whose second chunk would have fewer than 4 items is one chunk: W1's
 * output layer (10 units of ∂W, at least 124 a chunk) was dealt 8 and 2, and the thread that took
 * the 2 read every row of A that the other had written for 1/5 of the arithmetic (one chunk of
 * 10: W1 split +2–3 %, W5 +5 %, W2 level, in pairs taking turns).
 */
function chunkSize(left: number, min: number, c: number, prev: number): number {
  if (c % 2 === 1) return Math.min(left, prev);
  const size = Math.max(min, ceil4(left / 4));
  const first = Math.min(left, left - 2 * size < min ? ceil4(left / 2) : size);
  // (a pair whose second chunk would be under one row block is one chunk)
  return left - first < 4 ? left : first;
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

/** The most chunks a deal lays out (guided chunks of up to 2¹⁵ items at least 4 each make fewer). */
const MAX_CHUNKS = 96;

/**
 * Guided chunks of n items laid out for two threads that take them from the two ends: the first
 * of each pair from the front, the second from the back (n = 64, min 8: 16 8 8 | 8 8 16), so that
 * two threads of equal pace meet in the middle, each with one end — the same rows or units step
 * after step and pass after pass, which stay in that thread's cache — while a slowed thread still
 * takes fewer. One per thread, laid out anew for each range dealt (no allocation).
 */
export class Deal {
  /** Chunk p is items [at[p], at[p + 1]). */
  private readonly at = new Int32Array(MAX_CHUNKS + 1);
  private readonly sizes = new Int32Array(MAX_CHUNKS);
  /** How many chunks the last layout made. */
  count = 0;

  /** Lays out n items in guided chunks of at least `min` (chunkSize's sizes); returns this. */
  layout(n: number, min: number): this {
    const sizes = this.sizes;
    let C = 0;
    for (let s = 0, size = 0; s < n; C++) {
      if (C >= MAX_CHUNKS) throw new Error(`more than ${MAX_CHUNKS} chunks of ${n} items`);
      size = chunkSize(n - s, min, C, size);
      sizes[C] = size;
      s += size;
    }
    const h = (C + 1) >> 1;
    this.at[0] = 0;
    for (let p = 0; p < C; p++) this.at[p + 1] = this.at[p]! + sizes[p < h ? 2 * p : 2 * (C - 1 - p) + 1]!;
    this.count = C;
    return this;
  }

  /**
   * The size of guided chunk c of the last layout (chunkSize's c-th); it lies at position c/2
   * where c is even, C − 1 − (c − 1)/2 where odd.
   */
  size(c: number): number {
    return this.sizes[c]!;
  }

  /** Items [from, to) of chunk p, into `out`. */
  range(p: number, out: [number, number]): [number, number] {
    out[0] = this.at[p]!;
    out[1] = this.at[p + 1]!;
    return out;
  }
}

/**
 * Takes a chunk of range `phase`'s deal of `count` chunks from this thread's end (side 0: the
 * front, 1: the back) of the shared tickets, or −1 when none is left. One word a range counts the
 * chunks taken from each end (the front's in its low 16 bits): a chunk is taken while both counts
 * together stay below `count`, so each is taken once.
 */
export function takeChunk(tickets: Int32Array, phase: number, count: number, side: 0 | 1): number {
  const was = Atomics.add(tickets, phase, side === 0 ? 1 : 0x10000);
  const front = was & 0xffff,
    back = was >>> 16;
  if (front + back >= count) return -1;
  return side === 0 ? front : count - 1 - back;
}

/** The shared tickets of a split (one word a range a pass deals), this thread's end, its deal. */
export interface ChunkTaker {
  tickets: Int32Array;
  side: 0 | 1;
  deal: Deal;
}

/** The next chunk of range `phase` of the taker's deal, or −1. */
export function take(t: ChunkTaker, phase: number): number {
  return takeChunk(t.tickets, phase, t.deal.count, t.side);
}

/** A thread's ChunkTaker over `tickets`. */
export function chunkTaker(tickets: Int32Array, side: 0 | 1): ChunkTaker {
  return { tickets, side, deal: new Deal() };
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
 * A thread's part of a forward pass of B rows: chunks of rows from its end of the tickets, each
 * through every layer, their moments merged in `tally`, then (`loss`) the loss's terms and ∂L/∂Y
 * of those rows; returns this thread's rows, or −1 when `abort` answered true.
 */
export function forwardChunks(
  net: Network,
  taker: ChunkTaker,
  B: number,
  tally: ForwardTally,
  minMacs = CHUNK_MIN_MACS,
  abort?: () => boolean,
  first?: FirstLayerShare,
  loss?: BatchLoss,
): number {
  // the first layer by halves of its units (then a barrier), or with the rest by rows
  const from = first ? 1 : 0;
  const deal = taker.deal.layout(B, rowChunkMin(net.layers, minMacs, from)),
    K = net.inputSize;
  const range: [number, number] = [0, 0];
  tally.reset();
  if (first) {
    // (the second layer's W, which the other thread's update wrote half of, is fetched meanwhile)
    const next = net.layers[1];
    const ahead = next && { array: next.W, from: 0, to: next.W.length, write: false };
    net.forwardFirstUnits(net.input, B, first.units[0], first.units[1], tally.moments[0]!, ahead);
    if (!first.barrier()) return -1;
  }
  let rows = 0;
  const out = net.output;
  for (let c = take(taker, 0); c >= 0; c = take(taker, 0)) {
    const [r0, r1] = deal.range(c, range),
      r = r1 - r0;
    const m = net.forward(net.input.subarray(r0 * K, (r0 + r) * K), r, abort, r0, from);
    if (!m) return -1;
    tally.add(m, from);
    if (loss) lossRows(loss, out.A, out.dZ, B, out.units, r0, r1);
    rows += r;
  }
  return rows;
}

/**
 * The units of each layer whose ∂W a thread computed in its last split backward pass (as ranges
 * [u0, u1)), which it then updates (updateOwned). Allocated once a thread.
 */
export class OwnedUnits {
  private readonly ranges: number[][];
  constructor(layers: number) {
    this.ranges = Array.from({ length: layers }, () => []);
  }

  clear(): void {
    for (const r of this.ranges) r.length = 0;
  }

  /** This thread computed units [u0, u1) of layer i's ∂W. */
  add(i: number, u0: number, u1: number): void {
    if (u1 > u0) this.ranges[i]!.push(u0, u1);
  }

  /** Layer i's ranges, flat: u0, u1, u0, u1, … */
  of(i: number): readonly number[] {
    return this.ranges[i]!;
  }
}

/**
 * A thread's part of an optimiser step: the rows of each W and the entries of each b of the units
 * whose ∂W it computed in the backward pass just run, so each core updates from the gradients in
 * its own cache (values dealt anew, half of them computed by the other core, cost the update
 * 1.65× one thread's time in all). The units of both threads partition every layer, so each value
 * is updated once; an element-wise update is the same whoever applies it. The sums of this
 * thread's ranges add up per tensor in the updater's sums, as Updater.all writes a whole tensor's.
 */
export function updateOwned(up: Updater, owned: OwnedUnits): void {
  up.clearSums();
  up.layers.forEach((l, i) => {
    const K = l.W.length / l.b.length,
      r = owned.of(i);
    for (let j = 0; j < r.length; j += 2) {
      up.part(i, 0, r[j]! * K, r[j + 1]! * K);
      up.part(i, 1, r[j]!, r[j + 1]!);
    }
  });
}
