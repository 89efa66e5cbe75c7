/**
 * How the batch split (parallel.ts) deals its work out: guided chunks of rows, units or values,
 * each taken from a shared ticket counter by compare-and-swap, so a thread slowed by the
 * machine's other work takes fewer instead of holding the other up. Chunk sizes depend only on
 * shapes, so both threads deal the same chunks. Also here: a thread's part of the forward pass
 * (chunks of rows, their statistics merged) and of the optimiser step (the units whose ∂W it computed).
 */
import { ForwardMoments } from './layer-stats';
import type { Network } from './network';
import type { Updater } from './optimizers';

/** The control block's word (Int32 index) the tickets are counted in; split-protocol.ts lays out the others. */
export const TICKET = 9;

/** How small the split's chunks get: multiply-adds of a GEMM call. */
export interface SplitChunks {
  macs: number;
}
/**
 * Multiply-adds a GEMM call of a chunk should have at least, so calls and merges stay cheap: a
 * chunk of rows runs through every layer, and on W5 (31 layers of 64 units, batch 256) chunks of
 * 64 rows paid a layer's call and its statistics' merge four times a pass where two halves pay
 * it twice (the split step 1.2–1.3× one thread's speed → 1.4–1.5×). W1–W4 measured the same.
 */
export const CHUNK_MIN_MACS = 500_000;
const ceil4 = (x: number): number => 4 * Math.ceil(x / 4);

/**
 * Guided chunks of n items, in pairs of equal size: a pair's chunks are each a quarter of what is
 * left, rounded up to a multiple of 4 (the GEMMs' row block), at least `min`, or each half of
 * what is left where a pair of that size would leave less than `min`; the last takes the rest.
 * Big chunks first keep the hand-outs few, small ones last keep short the wait for the other
 * thread's last chunk, and pairs give two threads of equal speed equal work, so that they finish
 * together: n = 64, min 8: 16 16 8 8 8 8; n = 256, min 124: 128 128 (without the halves, 124 124 8;
 * and with min 184, 184 72: one thread had most of the work).
 */
function chunkSize(left: number, min: number, c: number, prev: number): number {
  if (c % 2 === 1) return Math.min(left, prev);
  const size = Math.max(min, ceil4(left / 4));
  return Math.min(left, left - 2 * size < min ? ceil4(left / 2) : size);
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
